"""Chatbot adapter: sentence assembly from streamed deltas, speaking, the system prompt, the example.

The assembler is pure text (golden table and properties); the speaker runs on the
real bundled voice with noise off.
"""

from __future__ import annotations

import asyncio
import dataclasses
import subprocess
import sys
import time
from pathlib import Path

import pytest
import soundfile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from emotts_plugin import Runtime, hookimpl, load_config
from emotts_plugin.adapters.chatbot import ChatbotSpeaker, system_prompt
from emotts_plugin.errors import UnknownEmotionError
from emotts_plugin.models.measure import f0_stats
from emotts_plugin.ssml.scan import TOKEN
from emotts_plugin.ssml.sentences import SentenceAssembler, _tag_end
from emotts_plugin.synthesizer import Synthesizer

ROOT = Path(__file__).resolve().parents[1]


def assemble(deltas, **options):
    assembler = SentenceAssembler(**options)
    out = []
    for delta in deltas:
        out.extend(assembler.feed(delta))
    return out + assembler.flush()


def chop(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


CLAUSE = "we walk along the quiet river, "  # 31 characters
LONG_CLAUSES = CLAUSE * 9 + "and rest."
LONG_WORDS = "word " * 100

# (case, deltas as a model might send them, fragments expected)
GOLDEN = [
    ("plain", ["Hello there. How", " are you?", " Fine!"], ["Hello there. ", "How are you? ", "Fine!"]),
    (
        "tag-split-mid-name",
        ["<emo", 'tion name="happy">Great', ". Really", " great.</emo", "tion> Bye."],
        ['<emotion name="happy">Great. </emotion>', '<emotion name="happy">Really great.</emotion> ', "Bye."],
    ),
    (
        "tag-split-mid-attribute",
        ['Well. <emotion name="hap', 'py" intens', 'ity="0.6">Nice', ". Yes.</emotion>"],
        [
            "Well. ",
            '<emotion name="happy" intensity="0.6">Nice. </emotion>',
            '<emotion name="happy" intensity="0.6">Yes.</emotion>',
        ],
    ),
    ("entity-split", ["Tom &am", "p; Jerry. Next"], ["Tom &amp; Jerry. ", "Next"]),
    ("bare-ampersand", ["AT&", "T rocks", ". Yes"], ["AT&T rocks. ", "Yes"]),
    (
        "cue-split-and-carried",
        ["[hap", "py] Yay! It", " works. [ca", "lm] Slow", " down."],
        ["[happy] Yay! ", "[happy] It works. ", "[calm] Slow down."],
    ),
    ("bracket-not-an-emotion", ["[Note", "] this. Ok"], ["[Note] this. ", "Ok"]),
    (
        "abbreviations",
        ["Dr. Smith said e.g. this. Mr", ". Brown agreed."],
        ["Dr. Smith said e.g. this. ", "Mr. Brown agreed."],
    ),
    (
        "dotted-abbreviations",
        ["He lives in the U.S. now. It is 5 p.", "m. Time to go."],
        ["He lives in the U.S. now. ", "It is 5 p.m. ", "Time to go."],
    ),
    ("decimal-split", ["It costs 3", ".", "5 dollars. Ok"], ["It costs 3.5 dollars. ", "Ok"]),
    ("initials", ["Ask J. R. Smith. Ok"], ["Ask J. R. Smith. ", "Ok"]),
    (
        "list-numbers",
        ["Steps:\n1", ". Open the app.\n2. Click it."],
        ["Steps:\n", "1. Open the app.\n", "2. Click it."],
    ),
    (
        "carried-emotion-scope",
        ['<emotion name="sad">One. Two. Three.</emotion> Four.'],
        [
            '<emotion name="sad">One. </emotion>',
            '<emotion name="sad">Two. </emotion>',
            '<emotion name="sad">Three.</emotion> ',
            "Four.",
        ],
    ),
    (
        "cue-and-element-carried",
        ['[calm] <emotion name="happy">Hi. There', ".</emotion> Now."],
        [
            '[calm] <emotion name="happy">Hi. </emotion>',
            '[calm] <emotion name="happy">There.</emotion> ',
            "[calm] Now.",
        ],
    ),
    (
        "mismatched-close-ends-inner",
        ['<speak><emotion name="sad">One. Two.</speak> Three.'],
        [
            '<speak><emotion name="sad">One. </emotion></speak>',
            '<speak><emotion name="sad">Two.</speak> ',
            "Three.",
        ],
    ),
    ("cjk-punctuation", ["你好。我很", "好！谢谢"], ["你好。", "我很好！", "谢谢"]),
    ("cjk-closing-quote", ["「走吧。」他说"], ["「走吧。」", "他说"]),
    ("newlines", ["First line\nSecond", " line\n\nThird"], ["First line\n", "Second line\n\n", "Third"]),
    (
        "speak-newlines-are-layout",
        ["<speak>\nHello\nworld.\n\nBye", "\nnow</speak>"],
        ["<speak>\nHello\nworld.\n\n</speak>", "<speak>Bye\nnow</speak>"],
    ),
    (
        "break-and-trailing-cue",
        ['Hi.<break time="1s"/> Bye. [laughs]'],
        ['Hi.<break time="1s"/> ', "Bye. ", "[laughs]"],
    ),
    ("mark-starts-next", ['Hi. <mark name="m"/>Bye.'], ["Hi. ", '<mark name="m"/>Bye.']),
    (
        "tag-right-after-stop",
        ['Hi.<emotion name="sad">Bye.</emotion>'],
        ["Hi.", '<emotion name="sad">Bye.</emotion>'],
    ),
    ("closing-quote", ['"Wow!" ', "Yes."], ['"Wow!" ', "Yes."]),
    ("comment-split", ["Hi <!-- no", "te. here --> there. X"], ["Hi <!-- note. here --> there. ", "X"]),
    ("bare-less-than", ["a < b. Fine"], ["a < b. ", "Fine"]),
    (
        "unquoted-attribute-passed-on",
        ["Hi <emotion name=happy>there. Yo", "u ok?"],
        ["Hi <emotion name=happy>there. </emotion>", "<emotion name=happy>You ok?</emotion>"],
    ),
    ("broken-tag-is-text", ['<emotion name="happy>Hi. There.'], ['<emotion name="happy>Hi. ', "There."]),
    ("terminator-runs", ["Wait... what?! Ok"], ["Wait... what?! ", "Ok"]),  # "..." + lowercase goes on
    ("terminator-runs-capital", ["Wait... What?! Ok"], ["Wait... ", "What?! ", "Ok"]),
    ("long-run-cut-at-clause", chop(LONG_CLAUSES, 7), [CLAUSE * 7, CLAUSE * 2 + "and rest."]),
    ("long-run-cut-at-space", chop(LONG_WORDS, 5), ["word " * 81, "word " * 19]),
    ("whitespace-only", ["  \n "], []),
]


@pytest.mark.parametrize(("case", "deltas", "expected"), GOLDEN, ids=[case for case, _, _ in GOLDEN])
def test_assembler_golden(case, deltas, expected):
    assert assemble(deltas) == expected
    assert assemble(["".join(deltas)]) == expected
    assert assemble(list("".join(deltas))) == expected


def test_sentence_is_handed_out_when_the_next_one_starts():
    assembler = SentenceAssembler()
    assert assembler.feed("Hello there.") == []
    assert assembler.feed(" ") == []  # more whitespace or a closing tag may still belong to it
    assert assembler.feed("How") == ["Hello there. "]
    assert assembler.feed(" are you?") == []
    assert assembler.flush() == ["How are you?"]
    # flush makes it ready for the next reply
    assert assembler.feed("Again. X") == ["Again. "]


def test_plugin_preset_is_an_emotion_cue(runtime):
    sarcastic = Runtime(load_config([]), plugins=[_SarcasmPlugin()])
    with_plugin = SentenceAssembler(space=sarcastic.space)
    without = SentenceAssembler(space=runtime.space)
    text = "[sarcastic] Great. Just great."
    assert with_plugin.feed(text) + with_plugin.flush() == ["[sarcastic] Great. ", "[sarcastic] Just great."]
    # without the preset, "sarcastic" is still a stage direction (a manner: drawn out, disdainful)
    assert without.feed(text) + without.flush() == ["[sarcastic] Great. ", "[sarcastic] Just great."]
    assert dict(runtime.parse("[sarcastic] Great.").segments[0].emotion) == {"disgusted": 0.35}


def test_assembler_rejects_bad_input():
    with pytest.raises(ValueError, match="max_chars"):
        SentenceAssembler(max_chars=0)
    with pytest.raises(TypeError, match="bytes"):
        SentenceAssembler().feed(b"hi")


# --------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------

PIECES = [
    '<emotion name="happy">',
    '<emotion name="sad" intensity="0.4">',
    "<emotion name=calm>",
    "</emotion>",
    "<speak>",
    "</speak>",
    '<break time="300ms"/>',
    '<break time="1s">',
    "<emphasis>",
    "</emphasis>",
    '<prosody rate="90%">',
    "</prosody>",
    "<s>",
    "</s>",
    '<mark name="m"/>',
    "<!-- aside. -->",
    "[happy]",
    "[calm]",
    "[laughs]",
    "(sighs)",
    "&amp;",
    "&lt;",
    "&#233;",
    "Dr.",
    "U.S.",
    "e.g.",
    "3.5",
    "1.",
    "...",
    "…",
    "。",
    "！",
    "？",
    ", ",
    "\n",
    "\n\n",
    '"',
    "'",
    ")",
]
ALPHABET = "abcXY 01.!?,;:\n<>/=\"'&;#[]()。！é"
TEXT = st.lists(st.one_of(st.text(alphabet=ALPHABET, max_size=10), st.sampled_from(PIECES)), max_size=25).map(
    "".join
)


@st.composite
def split_text(draw):
    text = draw(TEXT)
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return text, [text[a:b] for a, b in zip(bounds, bounds[1:])]


def fragments_of(deltas, max_chars=200):
    assembler = SentenceAssembler(max_chars=max_chars)
    out = []
    for delta in deltas:
        out.extend(assembler.feed_fragments(delta))
    return out + assembler.flush_fragments()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(split_text(), st.sampled_from([5, 30, 200]))
def test_no_character_is_lost_and_splits_do_not_matter(case, max_chars):
    text, deltas = case
    fragments = fragments_of(deltas, max_chars)
    expected = "" if text.isspace() else text
    assert "".join(f.source for f in fragments) == expected
    for fragment in fragments:
        assert fragment.markup == fragment.reopened + fragment.source + fragment.closing
    assert all(f.speakable for f in fragments[:-1])
    assert fragments == fragments_of([text], max_chars)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(TEXT)
def test_fragments_parse_leniently(runtime, text):
    for fragment in fragments_of(chop(text, 3)):
        runtime.parse(fragment.markup, mode="lenient")  # never raises


TAGGISH = st.text(alphabet="<>/=\"' \naz:_-.1", max_size=24).map(lambda s: "<" + s)


@settings(max_examples=500, deadline=None)
@given(TAGGISH, st.text(alphabet="<>/=\"' az", max_size=6))
def test_tag_reader_agrees_with_the_lenient_scanner(text, more):
    match = TOKEN.match(text)
    got = _tag_end(text, 0, len(text))
    if match and match.group("tag"):
        assert isinstance(got, tuple) and got[0] == match.end()
    elif got == -1:  # no tag, whatever follows
        extended = TOKEN.match(text + more)
        assert not (extended and extended.group("tag"))
    elif got is None:  # not yet a tag
        assert not (match and match.group("tag"))
    else:
        pytest.fail(f"read a tag the scanner does not: {got}")


# --------------------------------------------------------------------------
# The system prompt
# --------------------------------------------------------------------------


class _SarcasmPlugin:
    @hookimpl
    def emotts_register_presets(self):
        return [
            {
                "name": "sarcastic",
                "description": "Dry and drawn out; low, slow.",
                "vector": {"pitch_st": -1.0, "rate": 0.85},
            }
        ]


def _example(prompt: str) -> str:
    return prompt.split("Example reply:\n", 1)[1].strip()


def test_system_prompt_lists_every_label_and_the_markup(runtime):
    prompt = system_prompt(runtime.space)
    for label in runtime.space.labels:
        assert f"- {label}:" in prompt
    for needle in (
        '<emotion name="',
        "intensity=",
        "low",
        "60%",
        ":0.6",
        '<break time="300ms"/>',
        "<emphasis>",
        "<prosody",
        "balanced",
    ):
        assert needle in prompt
    plan = runtime.parse(_example(prompt), mode="strict")
    assert {label for segment in plan.segments for label, _ in segment.emotion} >= {
        "empathetic",
        "happy",
        "calm",
    }
    assert system_prompt() == prompt  # the default is the built-in presets


def test_system_prompt_brackets_style(runtime):
    prompt = system_prompt(runtime.space, style="brackets")
    assert "[happy]" in prompt and "<emotion" not in prompt
    plan = runtime.parse(_example(prompt), mode="lenient")
    assert [dict(s.emotion) for s in plan.segments] == [{"empathetic": 1.0}, {"happy": 1.0}, {"calm": 1.0}]
    with pytest.raises(ValueError, match="style"):
        system_prompt(style="markdown")


def test_every_cue_the_prompt_teaches_is_understood_and_no_warning(runtime):
    """The prompt teaches exactly what the chat stage reads: each sound, manner and strength
    cue it offers parses with no warning and is never spoken."""
    from emotts_plugin.adapters.chatbot import PROMPT_MANNERS, PROMPT_SOUNDS

    prompt = system_prompt(runtime.space, style="brackets")
    cues = [f"({sound})" for sound in PROMPT_SOUNDS] + [f"[{manner}]" for manner in PROMPT_MANNERS]
    assert all(cue in prompt for cue in cues + ["😊", "😢", "😌", '"very"', '"slightly"', '"a bit"'])
    cues += ["[very happy]", "[slightly sad]", "[a bit calm]", "😊", "😢", "😌"]
    for cue in cues:
        plan = runtime.parse(f"{cue} Hello there.", mode="lenient")
        assert plan.text == "Hello there." and not plan.warnings, cue
    assert dict(runtime.parse("[very happy] Hi.").segments[0].emotion) == {"happy": 1.0}
    assert dict(runtime.parse("[slightly sad] Hi.").segments[0].emotion) == {"sad": 0.4}
    assert runtime.parse("[slowly] Hi.").segments[0].targets.rate < 1
    assert dict(runtime.parse("Good news! 😊").segments[0].emotion) == {"happy": 0.6}


def test_system_prompt_offers_plugin_presets():
    space = Runtime(load_config([]), plugins=[_SarcasmPlugin()]).space
    assert "- sarcastic: Dry and drawn out" in system_prompt(space)
    assert "sarcastic" not in system_prompt()


# --------------------------------------------------------------------------
# Speaking, on the real voice
# --------------------------------------------------------------------------

REPLY = (
    '<emotion name="happy">What wonderful news, I am so happy for you!</emotion> '
    "[sad] I am so sorry to hear that your old dog passed away. "
    '<emotion name="calm">Let us take it one step at a time.</emotion>'
)


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    synth = Synthesizer(dataclasses.replace(load_config([]), noise=False))
    synth.synthesize("Ready.")  # the first render of a process is slow; timings are about later ones
    return synth


def test_speak_renders_each_sentence_with_its_emotion(synth):
    speaker = ChatbotSpeaker(synth)
    fragments = assemble(chop(REPLY, 3), space=synth.runtime.space)
    assert len(fragments) == 3
    emotions = [dict(synth.runtime.parse(f).segments[0].emotion) for f in fragments]
    assert emotions == [{"happy": 1.0}, {"sad": 1.0}, {"calm": 1.0}]

    chunks = list(speaker.speak(chop(REPLY, 3)))
    assert [c.text for c in chunks] == [
        "What wonderful news, I am so happy for you!",
        "I am so sorry to hear that your old dog passed away.",
        "Let us take it one step at a time.",
    ]
    happy, sad = (f0_stats(c.audio, c.sample_rate).median_st for c in chunks[:2])
    assert happy > sad + 2.0
    assert not any("[sad]" in str(w) for w in chunks[1].warnings)  # a documented cue is no warning
    for before, after in zip(chunks, chunks[1:]):
        assert after.start_s == pytest.approx(before.start_s + before.duration_s)
    assert all(span.start_s >= chunks[2].start_s for span in chunks[2].spans)


def test_warnings_point_into_the_whole_reply(synth):
    reply = "Hi &there. [sad] I am\nso sorry. <emotion name=calm>Really. Truly &x.</emotion>"
    chunks = list(ChatbotSpeaker(synth).speak(chop(reply, 4)))
    assert len(chunks) == 5
    # each repair reported once, where it is in the reply; none for the re-opened markup
    assert [w for c in chunks for w in c.warnings] == list(synth.runtime.parse(reply).warnings)


def test_speak_skips_wordless_tail_and_checks_emotion(synth):
    chunks = list(ChatbotSpeaker(synth, emotion="gentle", seed=3).speak(["Thanks. ", "[laughs]"]))
    assert [c.text for c in chunks] == ["Thanks."]
    with pytest.raises(UnknownEmotionError):
        ChatbotSpeaker(synth, emotion="grumpyish")


class _SlowCPU:
    """The real synthesizer on a slow machine: each sentence blocks its thread a while first."""

    BLOCK_S = 0.5

    def __init__(self, synth):
        self.synth = synth
        self.runtime = synth.runtime

    def stream(self, text, options=None, **changes):
        time.sleep(self.BLOCK_S)
        yield from self.synth.stream(text, options, **changes)


def test_aspeak_starts_before_the_reply_ends_and_never_blocks_the_loop(synth):
    deltas = [
        "Hello",
        " there",
        ".",
        " How",
        " are",
        " you",
        " today",
        "?",
        " I",
        " hope",
        " all",
        " is",
        " well",
        ".",
    ]
    sent: list[float] = []
    received: list[float] = []
    beats: list[float] = []

    async def llm():
        for delta in deltas:
            sent.append(time.perf_counter())
            yield delta
            await asyncio.sleep(0.25)

    async def heartbeat():
        while True:
            beats.append(time.perf_counter())
            await asyncio.sleep(0.01)

    async def timed():
        chunks = []
        async for chunk in ChatbotSpeaker(_SlowCPU(synth)).aspeak(llm()):
            received.append(time.perf_counter())
            chunks.append(chunk)
        return chunks

    async def run():
        beat = asyncio.create_task(heartbeat())
        try:
            return await timed()
        finally:
            beat.cancel()

    chunks = asyncio.run(run())
    assert [c.text for c in chunks] == ["Hello there.", "How are you today?", "I hope all is well."]
    assert received[0] < sent[-1]  # the first sentence is heard while the reply still streams
    gaps = [b - a for a, b in zip(beats, beats[1:]) if a < received[-1]]
    print(
        f"first audio {received[0] - sent[0]:.2f} s, last delta {sent[-1] - sent[0]:.2f} s, "
        f"longest loop gap {max(gaps):.3f} s"
    )
    assert max(gaps) < _SlowCPU.BLOCK_S / 2  # rendering never held the loop


def test_aspeak_takes_a_plain_iterable_and_passes_errors_on(synth):
    async def collect(deltas):
        return [chunk async for chunk in ChatbotSpeaker(synth).aspeak(deltas)]

    assert [c.text for c in asyncio.run(collect(iter(["Yes. ", "No."])))] == ["Yes.", "No."]

    async def broken():
        yield "Fine. "
        yield "Then"
        raise ConnectionError("model went away")

    got = []

    async def consume():
        async for chunk in ChatbotSpeaker(synth).aspeak(broken()):
            got.append(chunk)

    with pytest.raises(ConnectionError, match="went away"):
        asyncio.run(consume())
    assert [c.text for c in got] == ["Fine."]


# --------------------------------------------------------------------------
# The example script
# --------------------------------------------------------------------------

SCRIPT = ROOT / "examples" / "chatbot_stream.py"


def test_example_script_speaks_a_streamed_reply(tmp_path):
    out = tmp_path / "reply.wav"
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--reply",
            "[happy] Hello there! How are you?",
            "--delay",
            "0.01",
            "--output",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "sentence 1: audio ready" in result.stdout and "sentence 2: audio ready" in result.stdout
    info = soundfile.info(out)
    assert info.samplerate == 22050 and info.duration > 1.0


def test_example_script_prints_the_system_prompt():
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--print-system-prompt", "--style", "brackets"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "[happy]" in result.stdout and "- whispering:" in result.stdout
