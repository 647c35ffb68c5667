"""Sentence ends scored on a hand-labelled set (``tests/data/sentence_ends.yaml``: abbreviations,
initials, decimals, ellipses, quotes, inline lists, URLs): precision and recall of at least 0.98,
and the planner, the chatbot's assembler and Wyoming streaming cut every item alike."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from emotts_plugin.planner import utterances
from emotts_plugin.ssml.sentences import SentenceAssembler, split_sentences

ITEMS = yaml.safe_load((Path(__file__).parent / "data" / "sentence_ends.yaml").read_text(encoding="utf-8"))


def gold_ends(item: dict) -> set[int]:
    """Offsets where the labelled sentences end (past the whitespace after them), the last excepted."""
    text, ends, position = item["text"], set(), 0
    for sentence in item["sentences"][:-1]:
        position = text.index(sentence, position) + len(sentence)
        while position < len(text) and text[position].isspace():
            position += 1
        ends.add(position)
    return ends


def cut_ends(pieces: list[str]) -> set[int]:
    ends, position = set(), 0
    for piece in pieces[:-1]:
        position += len(piece)
        ends.add(position)
    return ends


def streamed(text: str, step: int) -> list[str]:
    assembler = SentenceAssembler()
    fragments = [f for i in range(0, len(text), step) for f in assembler.feed_fragments(text[i : i + step])]
    return [fragment.source for fragment in fragments + assembler.flush_fragments()]


def test_sentence_ends_are_found_with_precision_and_recall_of_0_98():
    found = labelled = right = 0
    for item in ITEMS:
        gold, cut = gold_ends(item), cut_ends(split_sentences(item["text"]))
        found, labelled, right = found + len(cut), labelled + len(gold), right + len(gold & cut)
    precision, recall = right / found, right / labelled
    print(f"sentence ends: precision {precision:.3f}, recall {recall:.3f} ({labelled} labelled)")
    assert len(ITEMS) >= 120 and labelled >= 80
    assert precision >= 0.98 and recall >= 0.98


@pytest.mark.parametrize("item", ITEMS, ids=[item["id"] for item in ITEMS])
def test_the_planner_and_streaming_cut_alike(runtime, item):
    text = item["text"]
    expected = split_sentences(text)
    assert streamed(text, len(text) or 1) == expected  # the chatbot's and Wyoming's assembler
    assert streamed(text, 3) == expected  # however the reply arrives
    plan = runtime.parse(text, mode="lenient")
    utts = list(utterances(plan, default_voice="joe", transition_ms=250))
    # one utterance per sentence that has words to speak ("[Applause.]" alone has none)
    assert len(utts) == len(
        [piece for piece in expected if runtime.parse(piece, mode="lenient").text.strip()]
    )
