"""Where each sentence, word, mark and mouth shape is heard.

Backends report the phones they spoke with their sample spans
(:class:`~emotts_plugin.models.base.Phone`): Piper and the torch engine from the
model's alignment output, Kokoro from its predicted durations. From those this
module places

- **words**: the word tokens of each piece's text (:func:`word_tokens`: what is
  spoken, after normalisation) matched to the voice's phoneme words. espeak joins
  some words into one phoneme word ("in the" → ``ɪnðə``, "Smith-Jones") and a piece
  may be read as more phoneme words than it has tokens ("OK"), so tokens and
  phoneme words are aligned by their lengths (:func:`place_words`), and a phoneme word
  that holds several tokens is shared among them by letter count;
- **visemes**: each phone mapped to one of the 22 viseme ids of Azure's speech
  service (:data:`VISEMES`; 0 is silence). Azure's set, not Polly's, because its ids
  are numbers an avatar front-end can index directly and it distinguishes more
  mouth shapes (22 against Polly's 17 letters); :data:`POLLY_VISEMES` converts.
  Visemes cover the audio from start to end with no gaps: silence between words
  is viseme 0.

The synthesizer maps these input times through the emotion DSP's time map
(rate, pauses, PSOLA tempo, transitions), so they hold for the audio as heard.
Where a backend reports no phones, words are spread over their piece by letter
count and no visemes are given.

Source offsets (:func:`source_spans`) find each spoken word in the text the caller
sent, in order: a word normalisation made (``3`` → "three", ``Dr.`` → "Doctor")
gets the span of the source text between the words that were found.
"""

from __future__ import annotations

import math
import re
import unicodedata
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .models.base import Phone
    from .plan import Plan

#: A word token: a run of non-space characters with at least one letter or digit.
_TOKEN = re.compile(r"\S+")
_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")


def word_tokens(text: str) -> list[str]:
    """The spoken words of ``text`` in order, edge punctuation removed (``"Hello,"`` → ``Hello``)."""
    words = []
    for match in _TOKEN.finditer(text):
        word = _EDGE_PUNCT.sub("", match.group())
        if word:
            words.append(word)
    return words


# --------------------------------------------------------------------------
# Visemes
# --------------------------------------------------------------------------

#: IPA symbol → Azure viseme id (0 silence … 21 p/b/m), for the symbols espeak writes and the
#: extra ones of Kokoro's vocabulary (its one-letter diphthongs ``A I O W Y`` = eɪ aɪ oʊ aʊ ɔɪ,
#: affricates ``ʦ ʧ ʤ``, Japanese ``ɴ``). Vowels of other languages go to the nearest English shape.
VISEMES: dict[str, int] = {
    **dict.fromkeys("æəʌɐᵊ", 1),
    **dict.fromkeys("ɑa", 2),
    **dict.fromkeys("ɔɒ", 3),
    **dict.fromkeys("ɛeʊœø", 4),
    **dict.fromkeys("ɜɝɚ", 5),
    **dict.fromkeys("jiɪᵻɨ", 6),
    **dict.fromkeys("wuyʏɯ", 7),
    **dict.fromkeys("oO", 8),
    "W": 9,
    "Y": 10,
    "I": 11,
    "A": 4,
    **dict.fromkeys("hçxχɦ", 12),
    **dict.fromkeys("ɹrʁɾ", 13),
    **dict.fromkeys("lɫɬʎ", 14),
    **dict.fromkeys("sz", 15),
    **dict.fromkeys("ʃʒɕʑʦʨʥʧʤ", 16),
    **dict.fromkeys("ð", 17),
    **dict.fromkeys("fvʋ", 18),
    **dict.fromkeys("dtnθɲʔɴ", 19),
    **dict.fromkeys("kgɡŋqɣ", 20),
    **dict.fromkeys("pbmɸβ", 21),
}
#: Two-symbol diphthongs with a mouth shape of their own (aɪ 11, aʊ 9, ɔɪ 10; oʊ 8, eɪ 4).
DIPHTHONGS: dict[str, int] = {"aɪ": 11, "aʊ": 9, "ɔɪ": 10, "oʊ": 8, "eɪ": 4}
#: Azure viseme id → Polly viseme letter (``sil`` for 0), for front-ends built on Polly's set.
POLLY_VISEMES: dict[int, str] = {
    0: "sil",
    1: "@",
    2: "a",
    3: "O",
    4: "E",
    5: "E",
    6: "i",
    7: "u",
    8: "o",
    9: "a",
    10: "O",
    11: "a",
    12: "k",
    13: "r",
    14: "t",
    15: "s",
    16: "S",
    17: "T",
    18: "f",
    19: "t",
    20: "k",
    21: "p",
}
#: Symbols that are not sounds of their own: stress, length and other modifiers.
_MODIFIERS = frozenset("ˈˌːˑʲʰʷ̩̯̃‿")
#: Stress marks: written before the vowel they stress, whose sound starts where they do (a voice
#: gives them samples of their own; measured against a forced aligner, stressed vowels start at
#: the mark, ~40 ms before their own symbol).
_STRESS = frozenset("ˈˌ")


def viseme_of(symbol: str) -> int | None:
    """The viseme id of one phone symbol; ``None`` for a modifier (stress, length) that belongs to
    its neighbour; 0 for a word boundary or punctuation; 1 (open, neutral) for a letter not in
    :data:`VISEMES`."""
    if symbol in _MODIFIERS:
        return None
    if symbol in VISEMES:
        return VISEMES[symbol]
    base = unicodedata.normalize("NFD", symbol)[:1]
    if base in _MODIFIERS or unicodedata.category(base).startswith("M"):
        return None
    if base in VISEMES:
        return VISEMES[base]
    return 1 if unicodedata.category(base).startswith("L") else 0


def visemes(phones: Sequence["Phone"], n_samples: int) -> list[tuple[int, int, int]]:
    """``(viseme id, start sample, end sample)`` covering ``[0, n_samples)`` with no gap or overlap:
    each phone's mouth shape, stress marks joined to the phone after them and other modifiers to
    the phone before, silence (0) elsewhere; runs of one id merged."""
    spans: list[list[int]] = []

    def add(vid: int, start: int, end: int) -> None:
        start, end = max(start, spans[-1][2] if spans else 0), min(end, n_samples)
        if end <= start:
            return
        if spans and spans[-1][2] < start:
            add_raw(0, spans[-1][2], start)
        elif not spans and start > 0:
            add_raw(0, 0, start)
        add_raw(vid, start, end)

    def add_raw(vid: int, start: int, end: int) -> None:
        if spans and spans[-1][0] == vid:
            spans[-1][2] = end
        else:
            spans.append([vid, start, end])

    index = 0
    stress_start: int | None = None  # where a stress mark waiting for its phone started
    while index < len(phones):
        phone = phones[index]
        start = phone.start if stress_start is None else min(stress_start, phone.start)
        pair = phone.symbol + phones[index + 1].symbol if index + 1 < len(phones) else ""
        if pair in DIPHTHONGS:
            add(DIPHTHONGS[pair], start, phones[index + 1].end)
            index, stress_start = index + 2, None
            continue
        vid = viseme_of(phone.symbol)
        if phone.symbol in _STRESS:  # it marks the phone after it, which is heard from here
            stress_start = start
        elif vid is None:
            if spans:  # a length mark or other modifier lengthens the mouth shape before it
                add(spans[-1][0], phone.start, phone.end)
        else:
            add(vid, start, phone.end)
            stress_start = None
        index += 1
    if not spans:
        return [(0, 0, n_samples)] if n_samples > 0 else []
    if spans[-1][2] < n_samples:
        add_raw(0, spans[-1][2], n_samples)
    return [(vid, start, end) for vid, start, end in spans]


# --------------------------------------------------------------------------
# Words
# --------------------------------------------------------------------------


def _is_sound(symbol: str) -> bool:
    """A letter of a phoneme word (not a space, punctuation or a pause)."""
    return bool(symbol) and unicodedata.category(symbol[0])[0] in "LM"


def phone_words(phones: Sequence["Phone"], piece: int) -> list[tuple[int, int, int]]:
    """The phoneme words of one piece: ``(start sample, end sample, sounds)``, split at spaces and
    punctuation."""
    words: list[list[int]] = []
    open_word = False
    for phone in phones:
        if phone.piece != piece:
            continue
        if not _is_sound(phone.symbol):
            open_word = False
            continue
        counted = 0 if phone.symbol in _MODIFIERS else 1
        if open_word:
            words[-1][1] = phone.end
            words[-1][2] += counted
        else:
            words.append([phone.start, phone.end, counted])
            open_word = True
    return [(a, b, max(n, 1)) for a, b, n in words]


#: Most tokens one phoneme word may hold, and phoneme words one token may be read as.
_MAX_GROUP = 4


def _group_cost(letters: float, sounds: float) -> float:
    return abs(math.log((letters + 1.0) / (sounds + 1.0)))


def align_groups(letters: Sequence[int], sounds: Sequence[int]) -> list[tuple[int, int, int, int]]:
    """Align tokens (by letter count) to phoneme words (by sound count), in order.

    :returns: groups ``(first token, token count, first phoneme word, phoneme word count)`` where
        either count is 1; every token and phoneme word is in exactly one group. Needs at least one
        of each.
    """
    n, m = len(letters), len(sounds)
    scale = sum(sounds) / max(sum(letters), 1)
    scaled = [value * scale for value in letters]
    inf = float("inf")
    cost = [[inf] * (m + 1) for _ in range(n + 1)]
    back: list[list[tuple[int, int] | None]] = [[None] * (m + 1) for _ in range(n + 1)]
    cost[0][0] = 0.0
    for i in range(n + 1):
        for j in range(m + 1):
            if cost[i][j] == inf:
                continue
            for k in range(1, _MAX_GROUP + 1):  # k tokens in one phoneme word
                if i + k > n or j + 1 > m:
                    break
                c = cost[i][j] + _group_cost(sum(scaled[i : i + k]), sounds[j]) + 0.35 * (k - 1)
                if c < cost[i + k][j + 1]:
                    cost[i + k][j + 1], back[i + k][j + 1] = c, (k, 1)
            for k in range(2, _MAX_GROUP + 1):  # one token read as k phoneme words
                if i + 1 > n or j + k > m:
                    break
                c = cost[i][j] + _group_cost(scaled[i], sum(sounds[j : j + k])) + 0.35 * (k - 1)
                if c < cost[i + 1][j + k]:
                    cost[i + 1][j + k], back[i + 1][j + k] = c, (1, k)
    if cost[n][m] == inf:
        raise ValueError(f"cannot align {n} words to {m} phoneme words")
    groups = []
    i, j = n, m
    while i or j:
        step = back[i][j]
        assert step is not None
        tokens, words = step
        groups.append((i - tokens, tokens, j - words, words))
        i, j = i - tokens, j - words
    return groups[::-1]


def place_words(
    texts: Sequence[str], phones: Sequence["Phone"], piece_bounds: Sequence[tuple[int, int]]
) -> list[tuple[int, int, int, int]]:
    """Sample spans of every word token of each piece.

    :param texts: each piece's text.
    :param phones: what the backend spoke (may be empty: words are then spread over their
        piece by letter count, as they are over its speech when there are too many to align with
        what the voice said, which happens when it skipped a script it cannot read).
    :param piece_bounds: ``(start, end)`` sample of each piece.
    :returns: ``(piece, word index in the piece, start sample, end sample)`` in speaking order.
    """
    placed: list[tuple[int, int, int, int]] = []
    for piece, text in enumerate(texts):
        tokens = word_tokens(text)
        if not tokens:
            continue
        letters = [max(len(token), 1) for token in tokens]
        found = phone_words(phones, piece) if phones else []
        if not found:
            start, end = piece_bounds[piece]
            found = [(start, end, sum(letters))]
        try:
            groups = align_groups(letters, [n for _, _, n in found])
        except ValueError:  # far more tokens than the voice said (it skipped a script it cannot read)
            groups = [(0, len(tokens), 0, len(found))]
        spans: list[tuple[int, int]] = []
        for first, count, word, words in groups:
            start, end = found[word][0], found[word + words - 1][1]
            if count == 1:
                spans.append((start, end))
                continue
            shares = letters[first : first + count]
            edges = [start + round((end - start) * sum(shares[:k]) / sum(shares)) for k in range(count + 1)]
            spans.extend(zip(edges[:-1], edges[1:]))
        placed.extend((piece, index, a, b) for index, (a, b) in enumerate(spans))
    return placed


# --------------------------------------------------------------------------
# Source offsets
# --------------------------------------------------------------------------

_MARKUP = re.compile(r"<[^<>]*>")
#: How far ahead of the last found word a spoken word is looked for in the source.
_LOOKAHEAD = 400


def _fold(text: str) -> str:
    """``text`` case-folded character by character, its length kept (a character that folds to
    several, like ``ß`` or ``İ``, stays as it is), so offsets in it are offsets in ``text``."""
    return "".join(folded if len(folded := char.casefold()) == 1 else char for char in text)


def source_spans(plan: "Plan", source: str) -> list[list[tuple[int, int] | None]]:
    """For each segment of ``plan``, the ``(start, end)`` character span in ``source`` of each of its
    :func:`word_tokens`.

    Words are looked for in order, outside markup tags; a word normalisation made (not found) gets
    the source text between the words found around it, trimmed of spaces and tags; ``None`` when
    there is none.
    """
    folded = _fold(source)
    hidden = [False] * len(source)
    for match in _MARKUP.finditer(source):
        for index in range(match.start(), match.end()):
            hidden[index] = True
    words = [(seg, word) for seg, segment in enumerate(plan.segments) for word in word_tokens(segment.text)]
    found: list[tuple[int, int] | None] = []
    cursor = 0
    for _, word in words:
        needle = _fold(word)
        at = _find_visible(folded, needle, cursor, hidden)
        if at is None:
            found.append(None)
        else:
            found.append((at, at + len(needle)))
            cursor = at + len(needle)
    # a word not found takes the text between its found neighbours
    result: list[tuple[int, int] | None] = list(found)
    index = 0
    while index < len(found):
        if found[index] is not None:
            index += 1
            continue
        end_run = index
        while end_run < len(found) and found[end_run] is None:
            end_run += 1
        left = found[index - 1][1] if index > 0 and found[index - 1] else 0
        right = found[end_run][0] if end_run < len(found) and found[end_run] else len(source)
        span = _visible_span(source, hidden, left, right)
        for k in range(index, end_run):
            result[k] = span
        index = end_run
    out: list[list[tuple[int, int] | None]] = [[] for _ in plan.segments]
    for (seg, _), span in zip(words, result):
        out[seg].append(span)
    return out


def _find_visible(haystack: str, needle: str, start: int, hidden: list[bool]) -> int | None:
    limit = start + _LOOKAHEAD + len(needle)
    at = haystack.find(needle, start, limit)
    while at != -1:
        before = haystack[at - 1] if at > 0 else " "
        after = haystack[at + len(needle)] if at + len(needle) < len(haystack) else " "
        if (
            not hidden[at]
            and not (before.isalnum() and needle[0].isalnum())
            and not (after.isalnum() and needle[-1].isalnum())
        ):
            return at
        at = haystack.find(needle, at + 1, limit)
    return None


def _visible_span(source: str, hidden: list[bool], left: int, right: int) -> tuple[int, int] | None:
    """The visible text of ``source[left:right]``, without the punctuation around it ("3pm," → "3pm";
    a full stop stays: "Dr.")."""
    visible = [i for i in range(left, right) if not hidden[i] and not source[i].isspace()]
    while len(visible) > 1 and _opening(source[visible[0]]):
        visible.pop(0)
    while len(visible) > 1 and _closing(source[visible[-1]]):
        visible.pop()
    if not visible:
        return None
    return visible[0], visible[-1] + 1


def _opening(char: str) -> bool:
    return unicodedata.category(char) in ("Ps", "Pi", "Po")


def _closing(char: str) -> bool:
    return char != "." and unicodedata.category(char) in ("Pe", "Pf", "Po")


# --------------------------------------------------------------------------
# Timings of a render
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Word:
    """A spoken word and when it is heard."""

    text: str
    """The word as spoken (after normalisation), edge punctuation removed."""
    start_s: float
    """Start, seconds from the start of the output."""
    end_s: float
    """End, seconds from the start of the output."""
    segment: int
    """Index of the plan segment it belongs to."""
    source: tuple[int, int] | None = None
    """``(start, end)`` characters of the input text it came from; ``None`` when not known."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": round(self.start_s, 3),
            "end": round(self.end_s, 3),
            "segment": self.segment,
            "source": list(self.source) if self.source else None,
        }


@dataclass(frozen=True, slots=True)
class Viseme:
    """A mouth shape and when it is held."""

    id: int
    """Azure viseme id, 0 (silence) … 21 (see :data:`VISEMES`)."""
    start_s: float
    """Start, seconds from the start of the output."""
    end_s: float
    """End, seconds from the start of the output."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "polly": POLLY_VISEMES[self.id],
            "start": round(self.start_s, 3),
            "end": round(self.end_s, 3),
        }


@dataclass(frozen=True, slots=True)
class Sentence:
    """A rendered sentence (one utterance) and when its speech is heard."""

    text: str
    """What it says."""
    start_s: float
    """First word's start (the chunk's start when it has no words)."""
    end_s: float
    """Last word's end."""
    source: tuple[int, int] | None = None
    """Characters of the input from its first word to its last."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "start": round(self.start_s, 3),
            "end": round(self.end_s, 3),
            "source": list(self.source) if self.source else None,
        }


@dataclass(frozen=True, slots=True)
class Timings:
    """Everything placed in time for one render (``emotts say --timings``, the API's ``timings``)."""

    sentences: tuple[Sentence, ...] = ()
    """One per utterance that holds words."""
    words: tuple[Word, ...] = ()
    """Every spoken word in order."""
    marks: tuple[Any, ...] = ()
    """Every ``<mark>`` (:class:`~emotts_plugin.synthesizer.Mark`)."""
    visemes: tuple[Viseme, ...] = ()
    """Mouth shapes covering the whole output."""
    duration_s: float = 0.0
    """Length of the output."""

    @classmethod
    def of_chunks(cls, chunks: Iterable[Any]) -> "Timings":
        """Join the timings of rendered chunks (:class:`~emotts_plugin.synthesizer.AudioChunk`)."""
        sentences, words, marks, visemes = [], [], [], []
        end = 0.0
        for chunk in chunks:
            if chunk.words:
                sentences.append(sentence_of(chunk))
            words.extend(chunk.words)
            marks.extend(chunk.marks)
            visemes.extend(chunk.visemes)
            end = chunk.start_s + chunk.duration_s
        return cls(tuple(sentences), tuple(words), tuple(marks), tuple(visemes), end)

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape (README "Timings")."""
        return {
            "duration": round(self.duration_s, 3),
            "sentences": [sentence.to_dict() for sentence in self.sentences],
            "words": [word.to_dict() for word in self.words],
            "marks": [{"name": mark.name, "time": round(mark.time_s, 3)} for mark in self.marks],
            "visemes": [viseme.to_dict() for viseme in self.visemes],
            "viseme_set": "azure",
        }


def sentence_of(chunk: Any) -> Sentence:
    """The :class:`Sentence` a chunk with words holds."""
    first, last = chunk.words[0], chunk.words[-1]
    sources = [word.source for word in chunk.words if word.source]
    source = (sources[0][0], sources[-1][1]) if sources else None
    return Sentence(chunk.text, first.start_s, last.end_s, source)
