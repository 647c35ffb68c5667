"""Golden cases: markup in, exact segment list out.

Each case is a flat tuple ``(id, markup, expected)``; ``expected`` lists one
``(text, emotion, extras)`` per segment, where ``extras`` holds only the
segment fields that differ from their defaults.
"""

from __future__ import annotations

import pytest

from emotts_plugin.plan import Emphasis

W3C = "http://www.w3.org/2001/10/synthesis"

CASES = [
    # --- plain text and fragments -------------------------------------------------
    ("plain", "Hello there. How are you?", [("Hello there. How are you?", {}, {})]),
    (
        "fragment-no-speak",
        'Hi <emotion name="happy">friend</emotion>!',
        [("Hi", {}, {}), ("friend", {"happy": 1.0}, {}), ("!", {}, {})],
    ),
    ("whitespace-collapsed", "<speak>\n   one\n\n   two\t three  </speak>", [("one two three", {}, {})]),
    # --- W3C SSML 1.1 ----------------------------------------------------------------
    (
        "w3c-namespaced",
        f'<speak version="1.1" xmlns="{W3C}" xml:lang="en-GB"><p><s>First.</s><s>Second.</s></p></speak>',
        [("First.", {}, {"lang": "en-GB"}), ("Second.", {}, {"lang": "en-GB"})],
    ),
    (
        "break-time",
        'Wait<break time="1.5s"/>now.',
        [("Wait", {}, {"break_after_ms": 1500}), ("now.", {}, {})],
    ),
    (
        "break-strength-default",
        "A<break/>B<break strength='x-strong'/>",
        [("A", {}, {"break_after_ms": 400}), ("B", {}, {"break_after_ms": 1200})],
    ),
    ("break-first", '<speak><break time="200ms"/>Hello</speak>', [("Hello", {}, {"break_before_ms": 200})]),
    (
        "prosody",
        '<prosody rate="slow" pitch="-2st" volume="+6dB">Slow and low.</prosody>',
        [("Slow and low.", {}, {"targets": {"rate": 0.8, "pitch_st": -2.0, "volume_db": 6.0}})],
    ),
    (
        "prosody-over-emotion",
        '<emotion name="sad"><prosody rate="150%">Quick sad.</prosody></emotion>',
        [("Quick sad.", {"sad": 1.0}, {"targets": {"rate": 1.23, "pitch_st": -2.5, "volume_db": -4.0}})],
    ),
    (
        "emphasis",
        "<emphasis>Really</emphasis> <emphasis level='reduced'>maybe</emphasis>",
        [("Really", {}, {"emphasis": Emphasis.MODERATE}), ("maybe", {}, {"emphasis": Emphasis.REDUCED})],
    ),
    (
        "say-as",
        (
            'Call <say-as interpret-as="telephone">555-0100</say-as>, '
            'room <say-as interpret-as="cardinal">12</say-as>.'
        ),
        [("Call five five five, zero one zero zero, room twelve.", {}, {})],
    ),
    (
        "say-as-characters",
        '<say-as interpret-as="characters">NWS</say-as> said so',
        [("N W S said so", {}, {})],
    ),
    (
        "sub",
        '<sub alias="World Wide Web Consortium">W3C</sub> spec',
        [("World Wide Web Consortium spec", {}, {})],
    ),
    (
        "voice-lang",
        '<voice name="amy"><lang xml:lang="fr-FR">Bonjour</lang> hi</voice>',
        [("Bonjour", {}, {"voice": "amy", "lang": "fr-FR"}), ("hi", {}, {"voice": "amy"})],
    ),
    (
        "marks",
        'One <mark name="a"/>two<mark name="b"/>',
        [("One", {}, {}), ("two", {}, {"marks": ("a", "b")})],
    ),
    ("phoneme", '<phoneme alphabet="ipa" ph="təˈmeɪtoʊ">tomato</phoneme>', [("tomato", {}, {})]),
    ("comment-dropped", "Keep <!-- not spoken --> this", [("Keep this", {}, {})]),
    # --- our emotion tag -----------------------------------------------------------------
    (
        "emotion-intensity",
        '<emotion name="gentle" intensity="0.6">Soft.</emotion>',
        [("Soft.", {"gentle": 0.6}, {})],
    ),
    ("emotion-percent", '<emotion name="sad" intensity="30%">Down.</emotion>', [("Down.", {"sad": 0.3}, {})]),
    (
        "emotion-word",
        '<emotion name="angry" intensity="medium">Hey.</emotion>',
        [("Hey.", {"angry": 0.66}, {})],
    ),
    (
        "emotion-mixture",
        '<emotion name="happy:0.6 surprised:0.3">Oh!</emotion>',
        [("Oh!", {"happy": 0.6, "surprised": 0.3}, {})],
    ),
    (
        "emotion-mixture-normalised",
        '<emotion name="happy:1 sad:1">Hm.</emotion>',
        [("Hm.", {"happy": 0.5, "sad": 0.5}, {})],
    ),
    ("emotion-alias", '<emotion name="cheerful">Yay.</emotion>', [("Yay.", {"happy": 1.0}, {})]),
    (
        "emotion-chinese",
        '<emotion name="温柔" intensity="0.6">你好</emotion>',
        [("你好", {"gentle": 0.6}, {})],
    ),
    (
        "emotion-nested",
        '<emotion name="happy">A <emotion name="sad">B</emotion> C</emotion>',
        [("A", {"happy": 1.0}, {}), ("B", {"sad": 1.0}, {}), ("C", {"happy": 1.0}, {})],
    ),
    ("emotion-neutral", '<emotion name="neutral">Flat.</emotion>', [("Flat.", {}, {})]),
    (
        "emotion-transition",
        '<emotion name="calm" transition="400ms">Slowly.</emotion>',
        [("Slowly.", {"calm": 1.0}, {"transition_ms": 400})],
    ),
    # --- Azure ---------------------------------------------------------------------------
    (
        "azure",
        '<speak xmlns:mstts="https://www.w3.org/2001/mstts">'
        '<mstts:express-as style="cheerful" styledegree="1.5">Hi!</mstts:express-as>'
        '<mstts:express-as style="sad">Bye.</mstts:express-as></speak>',
        [("Hi!", {"happy": 0.75}, {}), ("Bye.", {"sad": 0.5}, {})],
    ),
    (
        "azure-undeclared-prefix",
        '<mstts:express-as style="customerservice" styledegree="2">How can I help?</mstts:express-as>',
        [("How can I help?", {"gentle": 1.0}, {})],
    ),
    (
        "azure-silence",
        'A<mstts:silence type="Sentenceboundary" value="250ms"/>B',
        [("A", {}, {"break_after_ms": 250}), ("B", {}, {})],
    ),
    # --- Alexa ---------------------------------------------------------------------------
    (
        "alexa-emotion",
        '<amazon:emotion name="excited" intensity="medium">Yes!</amazon:emotion>',
        [("Yes!", {"excited": 0.66}, {})],
    ),
    (
        "alexa-disappointed",
        '<amazon:emotion name="disappointed" intensity="low">Oh.</amazon:emotion>',
        [("Oh.", {"sad": 0.33}, {})],
    ),
    (
        "alexa-whisper",
        '<amazon:effect name="whispered">Shh.</amazon:effect>',
        [("Shh.", {"whispering": 1.0}, {})],
    ),
    (
        "alexa-domain",
        '<amazon:domain name="news">Markets rose.</amazon:domain>',
        [("Markets rose.", {"serious": 0.6}, {})],
    ),
    # --- Google --------------------------------------------------------------------------
    (
        "google-style",
        '<google:style name="apologetic">Sorry.</google:style><google:style name="lively">Go!</google:style>',
        [("Sorry.", {"empathetic": 1.0}, {}), ("Go!", {"excited": 1.0}, {})],
    ),
    # --- EmotionML -----------------------------------------------------------------------
    (
        "emotionml-category",
        '<emo:emotion><emo:category name="fear" value="0.7"/>Smoke!</emo:emotion>',
        [("Smoke!", {"afraid": 0.7}, {})],
    ),
    (
        "emotionml-two-categories",
        (
            '<emotion><category name="happiness" value="0.5"/>'
            '<category name="surprise" value="0.5"/>Wow.</emotion>'
        ),
        [("Wow.", {"happy": 0.5, "surprised": 0.5}, {})],
    ),
    (
        "emotionml-pad-neutral",
        (
            '<emotion><dimension name="pleasure" value="0.5"/>'
            '<dimension name="arousal" value="0.5"/>Flat.</emotion>'
        ),
        [("Flat.", {}, {})],
    ),
    # --- chatbot-style malformed (lenient) --------------------------------------------------
    ("lenient-unclosed", '<emotion name="happy">Great news', [("Great news", {"happy": 1.0}, {})]),
    ("lenient-bare-amp-lt", "Tom & Jerry say 3 < 4", [("Tom and Jerry say three < four", {}, {})]),
    (
        "lenient-bracket-cue",
        "Okay. [sad] That is a pity. [happy] But look!",
        [("Okay.", {}, {}), ("That is a pity.", {"sad": 1.0}, {}), ("But look!", {"happy": 1.0}, {})],
    ),
    (
        "lenient-bracket-not-emotion",
        "See note [1] and [citation needed].",  # brackets that are no direction: dropped, with a warning
        [("See note and.", {}, {})],
    ),
    (
        "lenient-stage-direction",
        "Well (sighs) fine.",
        [("Well", {}, {"break_after_ms": 500}), ("fine.", {}, {})],
    ),
    (
        "lenient-mismatched",
        '<emotion name="sad"><prosody rate="slow">so slow</emotion> after',
        [
            ("so slow", {"sad": 1.0}, {"targets": {"rate": 0.656, "pitch_st": -2.5, "volume_db": -4.0}}),
            ("after", {}, {}),
        ],
    ),
    ("lenient-stray-close", "hello</emotion> world", [("hello world", {}, {})]),
    ("lenient-unquoted-attr", "<emotion name=calm>Breathe.</emotion>", [("Breathe.", {"calm": 1.0}, {})]),
    ("lenient-unknown-emotion", '<emotion name="zesty">Hm.</emotion>', [("Hm.", {}, {})]),
    ("lenient-unknown-tag", "This is <b>bold</b> text", [("This is bold text", {}, {})]),
    ("lenient-text-outside-root", "Before <speak>inside</speak> after", [("Before inside after", {}, {})]),
    ("lenient-unknown-entity", "AT&T; rocks", [("AT and T; rocks", {}, {})]),
    (
        "lenient-unrepairable-falls-back-to-text",
        '<speak xmlns:x="">hello <emotion name="happy">there</emotion> friend</speak>',
        [("hello there friend", {}, {})],
    ),
]

_DEFAULTS = {
    "lang": "en-US",
    "voice": None,
    "break_before_ms": 0,
    "break_after_ms": 0,
    "emphasis": None,
    "marks": (),
    "transition_ms": None,
}


@pytest.mark.parametrize("markup, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_golden(parse, runtime, markup, expected):
    plan = parse(markup)
    got = []
    for seg in plan.segments:
        got.append((seg.text, {k: round(v, 4) for k, v in seg.emotion}))
    assert got == [(text, emotion) for text, emotion, _ in expected]
    for seg, (_, emotion, extras) in zip(plan.segments, expected):
        for field, default in _DEFAULTS.items():
            assert getattr(seg, field) == extras.get(field, default), (seg.text, field)
        want_targets = runtime.space.vector(emotion).to_dict()
        want_targets.update(extras.get("targets", {}))
        got_targets = seg.targets.to_dict()
        for dim, value in want_targets.items():
            assert got_targets[dim] == pytest.approx(value, abs=0.01), (seg.text, dim)


def test_lenient_repairs_warn_once_each(parse):
    plan = parse(
        'Sure! <emotion name="excited">Great & fun.</emotion> [calm] Slowly <emotion name="gentle">and on'
    )
    messages = [w.message for w in plan.warnings]
    assert messages == [  # a documented cue ([calm]) is no repair
        "bare '&' read as text",
        "unclosed <emotion> closed at the end of the input",
    ]
    assert [(w.line, w.column) for w in plan.warnings] == [(1, 37), (1, 68)]


@pytest.mark.parametrize(
    "markup, message, line, column",
    [
        ('<speak>\n  <emotion name="zesty">x</emotion></speak>', "unknown emotion 'zesty'", 2, 3),
        ("<speak>\n<p>open</speak>", "Opening and ending tag mismatch", 2, 16),
        ("a & b", "xmlParseEntityRef: no name", 1, 4),
        ('<speak><break time="soon"/></speak>', "break time 'soon'", 1, 8),
        ("<speak><blink>x</blink></speak>", "unknown element <blink>", 1, 8),
        ('<say-as interpret-as="ordinal">many</say-as>', "cannot read 'many'", 1, 1),
        ('<emotion name="happy" intensity="2">x</emotion>', "intensity '2' is outside 0..1", 1, 1),
    ],
)
def test_strict_errors_name_line_and_column(parse, markup, message, line, column):
    from emotts_plugin.errors import MarkupError

    with pytest.raises(MarkupError) as info:
        parse(markup, mode="strict")
    assert message in info.value.message
    assert (info.value.line, info.value.column) == (line, column)


def test_shared_examples_parse_without_errors(parse):
    from conftest import SHARED_EXAMPLES

    if not SHARED_EXAMPLES.is_dir():
        pytest.skip("../shared/examples is not beside this checkout")
    for path in sorted(SHARED_EXAMPLES.glob("0*")):
        plan = parse(path.read_text(encoding="utf-8"))
        assert plan.segments, path.name
