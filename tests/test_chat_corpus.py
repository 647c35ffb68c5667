"""Chat-model replies as people's chat models write them (``tests/data/chat_replies.yaml``, forms
cited in ``tests/data/SOURCES.md``): the plan holds the words a person would say — no markup
character, URL spelling, reasoning or stage-direction word — and no word of the reply is lost."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from emotts_plugin.plan import Plan

DATA = Path(__file__).parent / "data"
REPLIES = yaml.safe_load((DATA / "chat_replies.yaml").read_text(encoding="utf-8"))
#: Characters of markup that never reach the spoken text, whatever the reply.
MARKUP = re.compile(r"[*#|`<>\[\]_~]|https?:|www\.|\\")


def spoken_text(plan: Plan) -> str:
    """The segments' words as one text (a segment of punctuation alone joins the one before)."""
    return re.sub(r" (?=[.,!?;:])", "", " ".join(segment.text for segment in plan.segments))


def words_of(text: str) -> list[str]:
    return re.findall(r"[a-z0-9']+", text.lower())


def in_order(wanted: list[str], heard: list[str]) -> list[str]:
    """The words of ``wanted`` not found, in order, among ``heard``."""
    position, missing = 0, []
    for word in wanted:
        parts = words_of(str(word))
        for index in range(position, len(heard) - len(parts) + 1):
            if heard[index : index + len(parts)] == parts:
                position = index + len(parts)
                break
        else:
            missing.append(str(word))
    return missing


def labels_in_order(plan: Plan, *, neutral: bool) -> list[str]:
    """The strongest emotion of each segment, repeats in a row collapsed; segments with none
    count as ``neutral`` after the first emotion when ``neutral`` (the reply cues it)."""
    labels: list[str] = []
    for segment in plan.segments:
        label = max(segment.emotion, key=lambda item: item[1])[0] if segment.emotion else "neutral"
        if (label != "neutral" or (neutral and labels)) and (not labels or labels[-1] != label):
            labels.append(label)
    return labels


def test_the_corpus_is_large_and_varied():
    assert len(REPLIES) >= 150
    prefixes = {item["id"].split("-")[0] for item in REPLIES}
    assert {
        "md",
        "list",
        "link",
        "url",
        "code",
        "table",
        "think",
        "cue",
        "dir",
        "emoji",
        "num",
        "abbr",
    } <= prefixes
    assert len({item["id"] for item in REPLIES}) == len(REPLIES)


@pytest.mark.parametrize("item", REPLIES, ids=[item["id"] for item in REPLIES])
def test_a_reply_is_spoken_as_a_person_would_say_it(runtime, item):
    plan = runtime.parse(item["reply"], mode="lenient")
    spoken = spoken_text(plan)
    assert MARKUP.search(spoken) is None, f"markup reached the voice: {spoken!r}"
    for absent in item["absent"]:
        assert str(absent).lower() not in spoken.lower(), f"{absent!r} is spoken: {spoken!r}"
    missing = in_order(item["words"], words_of(spoken))
    assert not missing, f"words lost or out of order: {missing} in {spoken!r}"
    if "spoken" in item:
        assert " ".join(spoken.split()) == " ".join(item["spoken"].split())
    if "emotions" in item:
        assert labels_in_order(plan, neutral="[neutral]" in item["reply"]) == item["emotions"]
    if "pauses" in item:
        pauses = sum(
            1 for segment in plan.segments for ms in (segment.break_before_ms, segment.break_after_ms) if ms
        )
        assert pauses >= item["pauses"]
    documented = [w for w in plan.warnings if "bracket cue" in w.message or "stage direction" in w.message]
    cues = re.findall(r"\[([a-z]+)\]", item["reply"])
    if cues and all(runtime.space.knows(cue) for cue in cues):
        assert not documented, f"documented cues warned about: {documented}"


#: A reply that starts inside reasoning and only closes it: a stream cannot know until the close
#: arrives (README "Chat-model text": send the opening <think>, as chat templates' parsers do).
STREAM_EXCEPTIONS = {"think-orphan-close-01"}


@pytest.mark.parametrize(
    "item", [i for i in REPLIES if i["id"] not in STREAM_EXCEPTIONS], ids=lambda item: item["id"]
)
def test_a_streamed_reply_speaks_the_same_words(runtime, item):
    """The chatbot's and Wyoming's assembler cut the reply into fragments spoken one by one: the
    same words as the whole reply, however it arrives."""
    from emotts_plugin.ssml.sentences import SentenceAssembler

    reply = item["reply"]
    whole = words_of(runtime.parse(reply, mode="lenient").text)
    assembler = SentenceAssembler(space=runtime.space)
    fragments = [f for i in range(0, len(reply), 7) for f in assembler.feed(reply[i : i + 7])]
    fragments += assembler.flush()
    assert [w for f in fragments for w in words_of(runtime.parse(f, mode="lenient").text)] == whole
