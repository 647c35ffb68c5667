"""Vendors' and the W3C's own published SSML and EmotionML examples (``tests/data/vendor_ssml.yaml``,
each with its source; pages listed in ``tests/data/VENDOR_SOURCES.md``) read as their authors
meant: valid documents pass strict mode, and the plan holds the words, pauses, marks, languages,
voices and emotions each example is about. At least 95 % pass; every failure is a known gap named
in the README's coverage table (:data:`emotts_plugin.ssml.coverage.KNOWN_GAPS`)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from emotts_plugin.errors import EmottsError
from emotts_plugin.plan import Plan
from emotts_plugin.ssml.coverage import KNOWN_GAPS
from emotts_plugin.ssml.normalize import speak_english
from emotts_plugin.ssml.sentences import split_sentences

ITEMS = yaml.safe_load((Path(__file__).parent / "data" / "vendor_ssml.yaml").read_text(encoding="utf-8"))
DIRECTIONS = {
    "rate": ("rate", {"slower": -1, "faster": 1}),
    "pitch": ("pitch_st", {"lower": -1, "higher": 1}),
    "volume": ("volume_db", {"softer": -1, "louder": 1}),
}


def words_of(text: str) -> list[str]:
    return re.findall(r"\w+(?:'\w+)?", text.lower())


CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


def in_order(wanted: list[str], heard: list[str]) -> list[str]:
    """The phrases of ``wanted`` not heard in order (Chinese and Japanese, written without spaces,
    are looked for as written, in the spoken text without spaces)."""
    if any(CJK.search(str(phrase)) for phrase in wanted):
        spoken, position, missing = "".join(heard), 0, []
        for phrase in wanted:
            found = spoken.find("".join(words_of(str(phrase))), position)
            if found < 0:
                missing.append(str(phrase))
            else:
                position = found + 1
        return missing
    position, missing = 0, []
    for phrase in wanted:
        parts = words_of(str(phrase))
        for index in range(position, len(heard) - len(parts) + 1):
            if heard[index : index + len(parts)] == parts:
                position = index + len(parts)
                break
        else:
            missing.append(str(phrase))
    return missing


def collapsed(values: list) -> list:
    return [value for i, value in enumerate(values) if i == 0 or values[i - 1] != value]


def problems(runtime, item: dict) -> list[str]:
    """What of ``item``'s meaning the plan misses (empty: it comes out as its author meant)."""
    try:
        plan: Plan = runtime.parse(item["markup"], mode="strict" if item.get("valid", True) else "lenient")
    except EmottsError as exc:
        if item.get("valid", True):
            return [f"strict mode refused a valid document: {exc}"]
        return []  # an invalid sample refused: as meant
    if not item.get("valid", True):
        return []
    expect, found = item["expect"], []
    spoken = " ".join(s.text for s in plan.segments if not s.bleep)  # a bleeped word is not heard
    heard = words_of(spoken)
    if missing := in_order(expect.get("words", []), heard):
        found.append(f"not heard in order: {missing} in {spoken!r}")
    for absent in expect.get("absent", []):
        if re.search(rf"(?<!\w){re.escape(str(absent).lower())}(?!\w)", spoken.lower()):
            found.append(f"{absent!r} is spoken")
    segments = plan.segments
    if "emotions" in expect:
        wanted = [str(e).split("->")[-1] for e in expect["emotions"]]
        labels = [max(s.emotion, key=lambda e: e[1])[0] if s.emotion else "neutral" for s in segments]
        if "neutral" not in wanted:  # the example is about its emotions, not the text around them
            labels = [label for label in labels if label != "neutral"]
        labels = collapsed(labels)
        if labels != wanted:
            found.append(f"emotions {labels} for {expect['emotions']}")
    if "breaks_ms" in expect:
        pauses = [ms for s in segments for ms in (s.break_before_ms, s.break_after_ms) if ms]
        wanted = [int(ms) for ms in expect["breaks_ms"]]
        if len(pauses) != len(wanted) or any(abs(a - b) > max(20, 0.1 * b) for a, b in zip(pauses, wanted)):
            found.append(f"pauses {pauses} for {wanted}")
    if "marks" in expect and [m for s in segments for m in s.marks] != expect["marks"]:
        found.append(f"marks {[m for s in segments for m in s.marks]} for {expect['marks']}")
    if "langs" in expect:
        langs = collapsed([s.lang for s in segments])
        if [lang for lang in expect["langs"] if lang.lower() not in [x.lower() for x in langs]]:
            found.append(f"languages {langs} for {expect['langs']}")
    if "voices" in expect:
        voices = collapsed([s.voice for s in segments if s.voice])
        if [v for v in expect["voices"] if v not in voices]:
            found.append(f"voices {voices} for {expect['voices']}")
    sentences = [words_of(piece) for s in segments for piece in split_sentences(s.text)]
    for text in expect.get("separate", []):  # whole sentences of the plan, not glued to another's
        wanted = words_of(speak_english(text))
        runs = (
            sum(sentences[i:j], []) for i in range(len(sentences)) for j in range(i + 1, len(sentences) + 1)
        )
        if wanted not in runs:
            found.append(f"{text!r} is not a sentence of its own")
    for word in expect.get("bleeped", []):
        if not any(s.bleep and word.lower() in s.text.lower() for s in segments):
            found.append(f"{word!r} is not bleeped")
    for key, (field, signs) in DIRECTIONS.items():
        if key in expect:
            values = [getattr(s.targets, field) for s in segments]
            neutral = 1.0 if field == "rate" else 0.0
            if not any((value - neutral) * signs[expect[key]] > 0 for value in values):
                found.append(f"{key} is not {expect[key]}")
    return found


def test_the_set_is_large_and_from_every_vendor():
    dialects = [item["dialect"] for item in ITEMS]
    assert len(ITEMS) >= 120
    assert {"azure", "google", "polly", "alexa", "w3c", "espeak", "emotionml"} <= set(dialects)
    assert all(item["source"].startswith("http") for item in ITEMS)


def test_at_least_95_percent_come_out_as_meant_and_every_failure_is_a_known_gap(runtime):
    failures = {item["id"]: problems(runtime, item) for item in ITEMS}
    failures = {key: value for key, value in failures.items() if value}
    rate = 1 - len(failures) / len(ITEMS)
    print(f"{len(ITEMS) - len(failures)} of {len(ITEMS)} as meant ({rate:.1%})")
    unknown = {key: value for key, value in failures.items() if key not in KNOWN_GAPS}
    assert not unknown, "failures that are no known gap:\n" + "\n".join(
        f"{k}: {v}" for k, v in unknown.items()
    )
    assert rate >= 0.95
    fixed = sorted(set(KNOWN_GAPS) - set(failures))
    assert not fixed, f"known gaps that now pass (remove them from KNOWN_GAPS): {fixed}"


@pytest.mark.parametrize("item", [i for i in ITEMS if i["id"] not in KNOWN_GAPS], ids=lambda i: i["id"])
def test_an_example_comes_out_as_meant(runtime, item):
    assert problems(runtime, item) == []
