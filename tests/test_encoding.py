"""Markup bytes in the encoding they declare: :func:`decode_markup`, the CLI and HTTP.

Every input is bytes, made here with Python's own encoders. "La vita è bella" is the Italian
phrase of the W3C SSML 1.1 examples (https://www.w3.org/TR/speech-synthesis11/) whose documents
declare ``encoding="ISO-8859-1"``; the curly quotes are Windows-1252's bytes 0x93 and 0x94.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import pytest_asyncio

from emotts_plugin import load_config
from emotts_plugin.errors import MarkupError
from emotts_plugin.ssml.encoding import decode_markup

EMOTTS = str(Path(sys.executable).with_name("emotts"))


def declared(encoding: str, body: str) -> str:
    return f'<?xml version="1.0" encoding="{encoding}"?>\n{body}'


ITALIAN = '<speak version="1.1" xml:lang="it">La vita è bella</speak>'
CAFE = "<speak>Un café au lait, s'il vous plaît.</speak>"
QUOTED = "<speak>She said “hello” – and paid in €.</speak>"

#: (id, bytes, the words the plan must hold): each read without a warning.
GOOD = [
    ("utf8", CAFE.encode("utf-8"), "Un café au lait, s'il vous plaît."),
    ("utf8-bom", codecs.BOM_UTF8 + CAFE.encode("utf-8"), "Un café au lait, s'il vous plaît."),
    ("utf8-declared", declared("UTF-8", ITALIAN).encode("utf-8"), "La vita è bella"),
    ("utf16le-bom", codecs.BOM_UTF16_LE + ITALIAN.encode("utf-16-le"), "La vita è bella"),
    ("utf16be-bom", codecs.BOM_UTF16_BE + ITALIAN.encode("utf-16-be"), "La vita è bella"),
    ("utf16-declared-bom", declared("UTF-16", ITALIAN).encode("utf-16"), "La vita è bella"),
    ("utf16le-declared", declared("UTF-16", ITALIAN).encode("utf-16-le"), "La vita è bella"),
    ("utf16be-declared", declared("UTF-16", ITALIAN).encode("utf-16-be"), "La vita è bella"),
    ("utf32-bom", declared("UTF-32", CAFE).encode("utf-32"), "Un café au lait, s'il vous plaît."),
    ("latin1-declared", declared("ISO-8859-1", ITALIAN).encode("latin-1"), "La vita è bella"),
    ("latin1-alias", declared("latin1", CAFE).encode("latin-1"), "Un café au lait, s'il vous plaît."),
    (
        "cp1252-declared",
        declared("windows-1252", QUOTED).encode("cp1252"),
        "She said “hello” – and paid in €.",
    ),
]


def plan_text(text: str, parse, mode: str) -> str:
    return " ".join(segment.text for segment in parse(text, mode).segments)


@pytest.mark.parametrize(("data", "words"), [case[1:] for case in GOOD], ids=[case[0] for case in GOOD])
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_declared_encodings_are_read(data, words, strict, parse):
    text, warnings = decode_markup(data, strict=strict)
    assert warnings == []
    assert not text.startswith("\ufeff")  # the byte-order mark is gone, the declaration is not
    assert ("<?xml" in text) == (b"<?xml" in data.replace(b"\0", b""))
    assert plan_text(text, parse, "strict" if strict else "lenient") == words


def test_the_issue_input_keeps_its_letters():
    data = b'<?xml version="1.0" encoding="ISO-8859-1"?><speak>caf\xe9 ole</speak>'
    assert decode_markup(data, strict=True) == (data.decode("latin-1"), [])


def test_a_charset_decides_when_nothing_in_the_bytes_does(parse):
    text, warnings = decode_markup(CAFE.encode("latin-1"), charset="ISO-8859-1", strict=True)
    assert (text, warnings) == (CAFE, [])
    # UTF-16 without a byte-order mark: the first character shows the byte order
    for codec in ("utf-16-le", "utf-16-be"):
        assert decode_markup(CAFE.encode(codec), charset="utf-16", strict=True) == (CAFE, [])


def test_a_charset_wins_over_the_declaration_with_a_warning():
    data = declared("ISO-8859-1", CAFE).encode("utf-8")
    text, warnings = decode_markup(data, charset="utf-8", where="request body")
    assert text == declared("ISO-8859-1", CAFE)
    assert warnings == [
        "line 1, column 31: the XML declaration of request body names encoding 'ISO-8859-1', "
        "but the charset given with it says utf-8; read as utf-8"
    ]


def test_a_byte_order_mark_wins_over_the_declaration_with_a_warning(parse):
    data = codecs.BOM_UTF16_LE + declared("UTF-8", ITALIAN).encode("utf-16-le")
    for strict in (False, True):
        text, warnings = decode_markup(data, strict=strict, where="standard input")
        assert plan_text(text, parse, "strict") == "La vita è bella"
        assert warnings == [
            "line 1, column 31: the XML declaration of standard input names encoding 'UTF-8', "
            "but its byte-order mark says UTF-16LE; read as UTF-16LE"
        ]


def test_a_byte_order_mark_wins_over_the_charset_with_a_warning():
    data = codecs.BOM_UTF16_BE + CAFE.encode("utf-16-be")
    text, warnings = decode_markup(data, charset="iso-8859-1", strict=True, where="request body")
    assert text == CAFE
    assert warnings == [
        "the charset 'iso-8859-1' given with request body is not what its byte-order mark says, "
        "UTF-16BE; read as UTF-16BE"
    ]


def test_a_declaration_of_utf16_in_single_bytes_is_read_as_utf8():
    text, warnings = decode_markup(declared("UTF-16", CAFE).encode("utf-8"))
    assert text == declared("UTF-16", CAFE)
    assert len(warnings) == 1 and "written in single bytes; read as UTF-8" in warnings[0]


def test_iso_8859_1_with_windows_1252_bytes_keeps_them_as_characters(parse):
    """Bytes 0x80-0x9F are control characters in ISO-8859-1; text so labelled that holds
    them was written as Windows-1252 (``œ`` 0x9C, quotes 0x93/0x94), as web browsers assume."""
    data = declared("ISO-8859-1", "<speak>Le “cœur” bat.</speak>").encode("cp1252")
    text, warnings = decode_markup(data, strict=True, where="'coeur.ssml'")
    assert plan_text(text, parse, "strict") == "Le “cœur” bat."
    assert len(warnings) == 1
    assert "'coeur.ssml' is declared ISO-8859-1" in warnings[0] and "3 such bytes" in warnings[0]


UNDECLARED = "<speak>\n  Un café, s'il vous plaît.\n</speak>".encode("latin-1")


def test_undeclared_bytes_that_are_not_utf8_are_an_error_in_strict_mode():
    with pytest.raises(MarkupError) as caught:
        decode_markup(UNDECLARED, strict=True, where="standard input")
    assert (caught.value.line, caught.value.column) == (2, 9)
    assert str(caught.value) == (
        "line 2, column 9: byte 0xE9 (offset 16) of standard input is not valid UTF-8; "
        'declare the encoding (encoding="…" in the XML declaration or charset=…)'
    )


def test_undeclared_bytes_that_are_not_utf8_are_read_as_windows_1252_with_one_warning(parse):
    text, warnings = decode_markup(UNDECLARED, where="standard input")
    assert plan_text(text, parse, "lenient") == "Un café, s'il vous plaît."
    assert warnings == [
        "line 2, column 9: standard input is not valid UTF-8 (byte 0xE9) and declares no encoding; "
        "its 2 such bytes read as Windows-1252 (Latin-1)"
    ]


def test_lenient_reading_keeps_utf8_beside_stray_latin1_bytes():
    text, warnings = decode_markup("café and ".encode("utf-8") + "naïve".encode("latin-1"))
    assert text == "café and naïve"
    assert len(warnings) == 1 and "that byte read as Windows-1252" in warnings[0]


def test_a_wrong_declaration_is_an_error_in_strict_mode_naming_it():
    data = declared("UTF-8", CAFE).encode("latin-1")
    with pytest.raises(MarkupError) as caught:
        decode_markup(data, strict=True, where="'cafe.ssml'")
    assert (caught.value.line, caught.value.column) == (2, 14)
    assert "byte 0xE9 (offset 52) of 'cafe.ssml' is not valid UTF-8" in str(caught.value)
    assert 'the XML declaration says encoding="UTF-8"' in str(caught.value)
    text, warnings = decode_markup(data)
    assert text == declared("UTF-8", CAFE) and len(warnings) == 1


def test_a_declaration_of_ascii_over_utf8_is_read_as_utf8_when_lenient():
    data = declared("us-ascii", CAFE).encode("utf-8")
    text, warnings = decode_markup(data)
    assert text == declared("us-ascii", CAFE)
    assert warnings == [
        "line 2, column 14: input is not valid us-ascii (byte 0xC3); it is valid UTF-8, so read as UTF-8"
    ]


def test_broken_utf16_becomes_replacement_characters_when_lenient():
    data = codecs.BOM_UTF16_LE + CAFE.encode("utf-16-le") + b"\x00"
    text, warnings = decode_markup(data)
    assert text == CAFE + "\ufffd" and len(warnings) == 1
    with pytest.raises(MarkupError, match="is not valid UTF-16LE"):
        decode_markup(data, strict=True)


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("klingon", "which is not a text encoding Python knows"),
        ("base64", "which is not a text encoding Python knows"),  # a bytes-to-bytes codec
        ("utf 8", "which is not an encoding name"),
    ],
)
@pytest.mark.parametrize("strict", [False, True], ids=["lenient", "strict"])
def test_an_unknown_declared_encoding_is_an_error(name, problem, strict):
    with pytest.raises(MarkupError) as caught:
        decode_markup(declared(name, CAFE).encode("utf-8"), strict=strict, where="'x.ssml'")
    assert (caught.value.line, caught.value.column) == (1, 31)
    assert f"the XML declaration of 'x.ssml' names encoding {name!r}, {problem}" in str(caught.value)


def test_an_unknown_charset_is_an_error():
    with pytest.raises(MarkupError, match="the charset 'nope' given with request body, which is not"):
        decode_markup(b"<speak>Hi</speak>", charset="nope", where="request body")


@pytest.mark.parametrize("mode", ["lenient", "strict"])
def test_a_declaration_in_decoded_text_does_not_stop_the_parser(parse, mode):
    """lxml refuses a ``str`` that declares an encoding; the scan blanks the declaration first."""
    text = declared("ISO-8859-1", ITALIAN)
    plan = parse(text, mode)
    assert [(s.text, s.lang) for s in plan.segments] == [("La vita è bella", "it")]
    assert plan.warnings == ()


# -- the command line ----------------------------------------------------------------------


def emotts(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess:
    done = subprocess.run([EMOTTS, *args], input=stdin, capture_output=True, timeout=60)
    return subprocess.CompletedProcess(
        done.args, done.returncode, done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    )


def spoken(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr
    return " ".join(segment["text"] for segment in json.loads(done.stdout)["segments"])


@pytest.mark.parametrize(("data", "words"), [case[1:] for case in GOOD], ids=[case[0] for case in GOOD])
def test_cli_reads_standard_input_in_its_encoding(data, words):
    done = emotts("parse", "--json", "--strict", "-", stdin=data)
    assert spoken(done) == words
    assert "warning" not in done.stderr


@pytest.mark.parametrize(("data", "words"), [case[1:] for case in GOOD], ids=[case[0] for case in GOOD])
def test_cli_reads_a_file_in_its_encoding(data, words, tmp_path):
    path = tmp_path / "input.ssml"
    path.write_bytes(data)
    done = emotts("parse", "--json", str(path))
    assert spoken(done) == words
    assert "warning" not in done.stderr


def test_cli_strict_names_the_undecodable_byte_and_exits_2(tmp_path):
    done = emotts("parse", "--strict", "-", stdin=UNDECLARED)
    assert done.returncode == 2
    assert done.stderr == (
        "error: line 2, column 9: byte 0xE9 (offset 16) of standard input is not valid UTF-8; "
        'declare the encoding (encoding="…" in the XML declaration or charset=…)\n'
    )
    path = tmp_path / "cafe.ssml"
    path.write_bytes(UNDECLARED)
    done = emotts("parse", "--strict", str(path))
    assert done.returncode == 2 and f"of {str(path)!r} is not valid UTF-8" in done.stderr


def test_cli_lenient_repairs_with_one_warning_and_keeps_the_letters():
    done = emotts("parse", "--json", "-", stdin=UNDECLARED)
    assert spoken(done) == "Un café, s'il vous plaît."
    assert done.stderr.splitlines() == [
        "warning: line 2, column 9: standard input is not valid UTF-8 (byte 0xE9) and declares no "
        "encoding; its 2 such bytes read as Windows-1252 (Latin-1)"
    ]
    assert "control character" not in done.stderr


def test_cli_unknown_encoding_exits_2():
    done = emotts("parse", "-", stdin=declared("klingon", CAFE).encode("utf-8"))
    assert done.returncode == 2
    assert done.stderr.startswith(
        "error: line 1, column 31: the XML declaration of standard input names encoding 'klingon'"
    )


def test_cli_warns_of_a_byte_order_mark_that_contradicts_the_declaration():
    data = codecs.BOM_UTF16_LE + declared("UTF-8", ITALIAN).encode("utf-16-le")
    done = emotts("parse", "--json", "--strict", "-", stdin=data)
    assert spoken(done) == "La vita è bella"
    assert done.stderr.splitlines() == [
        "warning: line 1, column 31: the XML declaration of standard input names encoding 'UTF-8', "
        "but its byte-order mark says UTF-16LE; read as UTF-16LE"
    ]


@pytest.mark.skipif(sys.getfilesystemencoding() != "utf-8", reason="argv is decoded as UTF-8 only there")
def test_say_text_argument_in_latin1_keeps_its_letters(capsys):
    """``emotts say TEXT``: argument bytes the locale could not decode reach Python as lone
    surrogates; they are decoded as a file's bytes are."""
    from emotts_plugin.cli import _argument_text

    argument = os.fsdecode("Un café.".encode("latin-1"))
    assert _argument_text(argument, strict=False) == "Un café."
    assert "the text argument is not valid UTF-8 (byte 0xE9)" in capsys.readouterr().err
    with pytest.raises(MarkupError, match="byte 0xE9 .* of the text argument is not valid UTF-8"):
        _argument_text(argument, strict=True)
    assert _argument_text("Un café.", strict=True) == "Un café."


# -- HTTP: every route that takes markup takes it in a JSON body ------------------------------


@pytest_asyncio.fixture
async def client(aiohttp_client):
    from emotts_plugin.adapters.http import create_app
    from emotts_plugin.synthesizer import Synthesizer

    synth = Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))
    return await aiohttp_client(create_app(synth.config, synthesizer=synth))


@pytest.mark.asyncio
async def test_http_markup_declaring_latin1_inside_a_latin1_json_body(client):
    """The body is decoded by its ``charset``; the markup's own declaration then names the
    encoding the text was in before, and strict parsing still accepts it."""
    body = json.dumps({"input": declared("ISO-8859-1", ITALIAN), "strict": True}, ensure_ascii=False)
    response = await client.post(
        "/v1/plan",
        data=body.encode("latin-1"),
        headers={"Content-Type": "application/json; charset=ISO-8859-1"},
    )
    assert response.status == 200, await response.text()
    plan = await response.json()
    assert [segment["text"] for segment in plan["segments"]] == ["La vita è bella"]
