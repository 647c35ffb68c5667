"""One set of sentence rules: the planner's splitter, the chatbot's (and Wyoming's) streaming
assembler and the planner's seams agree on where sentences end."""

from __future__ import annotations

import pytest

from emotts_plugin.planner import utterances
from emotts_plugin.ssml import sentences
from emotts_plugin.ssml.normalize import speak_english
from emotts_plugin.ssml.sentences import SentenceAssembler, ends_sentence, period_ends, split_sentences

# (text, its sentences): the whitespace after a sentence end stays with it
GOLDEN = [
    ("Dr. Smith is here. He left at 3 p.m. today.", ["Dr. Smith is here. ", "He left at 3 p.m. today."]),
    (
        "Mr. and Mrs. Jones live on Elm St. near the park. Ms. Lee does too.",
        ["Mr. and Mrs. Jones live on Elm St. near the park. ", "Ms. Lee does too."],
    ),
    ("We met at 9 a.m. Then we left.", ["We met at 9 a.m. ", "Then we left."]),
    (
        "Bring fruit, e.g. apples, i.e. something sweet. Thanks.",
        ["Bring fruit, e.g. apples, i.e. something sweet. ", "Thanks."],
    ),
    ("Cats vs. dogs is an old debate. Pick one.", ["Cats vs. dogs is an old debate. ", "Pick one."]),
    ("Apples, pears, etc. are fruit. Yes.", ["Apples, pears, etc. are fruit. ", "Yes."]),
    (
        "He works at Acme Inc. in Ohio. She lives at No. 10.",
        ["He works at Acme Inc. in Ohio. ", "She lives at No. 10."],
    ),
    ("The U.S. economy grew. Really?", ["The U.S. economy grew. ", "Really?"]),
    ("J. R. R. Tolkien wrote it. Read it.", ["J. R. R. Tolkien wrote it. ", "Read it."]),
    ("It was 3.5 degrees. Version 2.0 is out!", ["It was 3.5 degrees. ", "Version 2.0 is out!"]),
    ("Wait... what? Oh!", ["Wait... what? ", "Oh!"]),  # a lowercase word after "..." goes on
    ("Well… maybe. Fine.", ["Well… maybe. ", "Fine."]),
    ("Wait... We forgot.", ["Wait... ", "We forgot."]),
    ('He said "Go." and left. Then', ['He said "Go." and left. ', "Then"]),
    ("Meet on Main St. The house is blue.", ["Meet on Main St. ", "The house is blue."]),
    ("Take vitamin C. It helps.", ["Take vitamin C. ", "It helps."]),
    ("It is 72°F. Perfect weather.", ["It is 72°F. ", "Perfect weather."]),
    ("It starts at 3 p.m. Eastern time.", ["It starts at 3 p.m. Eastern time."]),
    ("Do three things: 1. Unplug it. 2. Wait.", ["Do three things: 1. Unplug it. ", "2. Wait."]),
    ('She said "Stop." Then she left.', ['She said "Stop." ', "Then she left."]),
    ("(It was late.) We went home.", ["(It was late.) ", "We went home."]),
    ("1. Open the door. 2. Close it.", ["1. Open the door. ", "2. Close it."]),
    ("今日は晴れです。明日は雨です。", ["今日は晴れです。", "明日は雨です。"]),
    ("No sentence end here", ["No sentence end here"]),
]


def assembled(text: str, step: int | None = None) -> list[str]:
    """The sources of the fragments a streaming assembler hands out for ``text``."""
    assembler = SentenceAssembler()
    deltas = [text] if step is None else [text[i : i + step] for i in range(0, len(text), step)]
    fragments = [fragment for delta in deltas for fragment in assembler.feed_fragments(delta)]
    return [fragment.source for fragment in fragments + assembler.flush_fragments()]


@pytest.mark.parametrize("text, expected", GOLDEN)
def test_split_sentences_golden(text, expected):
    assert split_sentences(text) == expected
    assert "".join(split_sentences(text)) == text


@pytest.mark.parametrize("text, expected", GOLDEN)
def test_the_streaming_assembler_agrees(text, expected):
    assert assembled(text) == expected
    assert assembled(text, step=3) == expected  # however the reply arrives


@pytest.mark.parametrize("text, expected", GOLDEN)
def test_the_planner_agrees(runtime, text, expected):
    plan = runtime.parse(text, mode="lenient")
    utts = list(utterances(plan, default_voice="joe", transition_ms=250))
    # the planner sees the words to be spoken ("Doctor", "three PM"): the same sentences
    spoken = [speak_english(s.rstrip()) for s in expected]
    if text.startswith("1. "):  # a list number at a line's start is not spoken (ssml/chat.py)
        spoken[0] = speak_english(expected[0][3:].rstrip())
    assert [" ".join(piece.text for piece in utt.pieces) for utt in utts] == spoken


def test_every_character_is_kept():
    text = "  Hello there.  How are you?\tFine!  "
    assert "".join(split_sentences(text)) == text
    assert split_sentences("") == [""]


def test_a_stop_before_any_word_ends_nothing():
    assert split_sentences("... and so on. Next") == ["... and so on. ", "Next"]


@pytest.mark.parametrize(
    "before, following, ends",
    [
        ("Hello Dr", "S", False),
        ("Hello Dr", "", True),  # the end of the text ends every sentence
        ("at 3 p.m", "t", False),
        ("at 3 p.m", "Then", True),
        ("at 3 p.m", None, None),  # a stream: wait for the next character
        ("room No", "5", False),
        ("It is late", None, None),  # a stream: nothing after the period yet
        ("It is late", "x", True),
        ("at 3 p.m", "Eastern time", False),
        ("on Main St", "The house", True),
        ("on Main St", "The", True),
        ("The answer is no", "25 people", True),
        ("It is 72°F", "Perfect", True),
        ("", "x", True),
        ("Agent J", "K", False),
    ],
)
def test_period_ends(before, following, ends):
    assert period_ends(before, following) is ends


def test_a_streamed_word_that_may_still_grow_is_waited_for():
    assert period_ends("on Main St", "Th", complete=False) is None
    assert period_ends("on Main St", "The ", complete=False) is True
    assert period_ends("on Main St", "Tho", complete=True) is False


def test_ends_sentence_looks_at_what_follows():
    assert ends_sentence("Yes!") and ends_sentence('He said "no."') and not ends_sentence("Yes")
    assert not ends_sentence("Hello Dr.", "Smith") and ends_sentence("Hello Dr.")
    assert not ends_sentence("at 3 p.m.", "today") and ends_sentence("at 3 p.m.", "Then")


def test_a_segment_ending_in_an_abbreviation_is_no_seam(runtime):
    plan = runtime.parse('Ask <emotion name="happy">Dr.</emotion> Smith now. Thanks.', mode="lenient")
    utts = list(utterances(plan, default_voice="joe", transition_ms=250))
    pieces = [[piece.text for piece in utt.pieces] for utt in utts]
    assert pieces == [["Ask", "Doctor", "Smith now."], ["Thanks."]]


def test_wyoming_streams_with_the_same_assembler():
    from emotts_plugin.adapters import chatbot, wyoming

    assert wyoming.SentenceAssembler is sentences.SentenceAssembler is chatbot.SentenceAssembler
