"""Hostile input: refused before any parsing work, each with its own message, fast."""

from __future__ import annotations

import time

import pytest

from emotts_plugin.errors import HostileInputError, MarkupError

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
    + "".join(f' <!ENTITY lol{i} "{"&lol{};".format(i - 1 if i > 1 else "") * 10}">\n' for i in range(1, 10))
    + "]>\n<speak>&lol9;</speak>"
)
XXE = '<?xml version="1.0"?>\n<!DOCTYPE speak [<!ENTITY secret SYSTEM "file:///etc/passwd">]>\n<speak>&secret;</speak>'
EXTERNAL_DTD = '<!DOCTYPE speak SYSTEM "http://example.invalid/speak.dtd">\n<speak>hi</speak>'
DEEP = "<emotion name='happy'>" * 10_000 + "deep" + "</emotion>" * 10_000
DEEP_UNCLOSED = "<p>" * 10_000 + "deep"
BIG = "<speak>" + ("word " * 1_100_000) + "</speak>"  # ~5.5 MB
PARAMETER_ENTITY = '<!ENTITY % p SYSTEM "http://example.invalid/x">\n<speak>x</speak>'

# (id, markup, modes refused in, expected message fragment, line, column)
TABLE = [
    (
        "billion-laughs",
        BILLION_LAUGHS,
        ("strict", "lenient"),
        "<!DOCTYPE> declarations are not accepted",
        2,
        1,
    ),
    ("xxe", XXE, ("strict", "lenient"), "<!DOCTYPE> declarations are not accepted", 2, 1),
    ("external-dtd", EXTERNAL_DTD, ("strict", "lenient"), "<!DOCTYPE> declarations are not accepted", 1, 1),
    (
        "entity-declaration",
        PARAMETER_ENTITY,
        ("strict", "lenient"),
        "<!ENTITY> declarations are not accepted",
        1,
        1,
    ),
    (
        "deep-nesting",
        DEEP,
        ("strict", "lenient"),
        "nested deeper than 64 levels",
        1,
        1 + 64 * len("<emotion name='happy'>"),
    ),
    ("deep-unclosed", DEEP_UNCLOSED, ("strict", "lenient"), "nested deeper than 64 levels", 1, 1 + 64 * 3),
    ("5mb-input", BIG, ("strict", "lenient"), "the limit is 1,000,000 (limits.max_input_bytes)", 1, 1),
    ("control-char", "<speak>bell\x07 here</speak>", ("strict",), "control character U+0007", 1, 12),
    ("nul-char", "nul\x00byte", ("strict",), "control character U+0000", 1, 4),
]


@pytest.mark.parametrize(
    "mode, markup, message, line, column",
    [(mode, *row[1:2], *row[3:]) for row in TABLE for mode in row[2]],
    ids=[f"{row[0]}-{mode}" for row in TABLE for mode in row[2]],
)
def test_hostile_input_refused_fast(parse, mode, markup, message, line, column):
    parse("warm up")
    start = time.perf_counter()
    with pytest.raises(HostileInputError) as info:
        parse(markup, mode=mode)
    elapsed = time.perf_counter() - start
    assert message in info.value.message
    assert (info.value.line, info.value.column) == (line, column)
    assert elapsed < 0.1, f"refusal took {elapsed * 1000:.1f} ms"


def test_messages_are_distinct():
    kinds = {row[3] for row in TABLE}
    assert len(kinds) >= 6


def test_lenient_removes_control_characters(parse):
    plan = parse("bell\x07 here")
    assert plan.text == "bell here"
    assert [w.message for w in plan.warnings] == ["control character U+0007 removed"]


def test_audio_is_never_fetched(parse, monkeypatch):
    import socket
    import urllib.request

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(urllib.request, "urlopen", refuse)
    plan = parse('<speak><audio src="http://example.invalid/chime.wav">ding dong</audio></speak>')
    assert plan.text == "ding dong"
    assert "is not fetched" in plan.warnings[0].message


def test_predefined_entities_still_work(parse):
    assert parse("<speak>Tom &amp; Jerry &#65;&#x42;</speak>", mode="strict").text == "Tom and Jerry AB"


def test_undefined_entity_is_an_error_in_strict_mode(parse):
    with pytest.raises(MarkupError, match="Entity 'secret' not defined"):
        parse("<speak>&secret;</speak>", mode="strict")
