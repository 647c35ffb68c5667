"""Subtitles of a render: the words of :class:`~emotts_plugin.timings.Timings` as WebVTT or SRT cues.

**What a cue shows.** The words as they are *spoken* (:attr:`Word.text
<emotts_plugin.timings.Word.text>`: "Doctor", "three"), with the punctuation the rendered sentence
kept around each word ("Hello, Doctor Smith-Jones!"). Captions follow the audio, so a viewer reads
what they hear. The input text's own characters (:attr:`Word.source
<emotts_plugin.timings.Word.source>`) were the alternative, and they are not good enough for this:
a word that normalisation made gets the whole stretch of source between the words found around
it, so several spoken words can share one span ("555-1234" for seven digits), and a span can hold
markup or entities (``WWW</sub>…``, ``&amp;``) or the comma of the word before. The rendered
sentence's text (:attr:`Sentence.text <emotts_plugin.timings.Sentence.text>`) splits into the same
tokens as its words, edge punctuation included, so each word takes its token whole; where they do not
agree (hand-made timings, no sentences), the bare word is shown. A token with no letter or digit
("—", "…") is shown with the word before it.

**How words become cues**, in order:

- a cue never holds words of two sentences: :attr:`Timings.sentences
  <emotts_plugin.timings.Timings.sentences>` bound them, and so does a word that ends with
  sentence-final punctuation (``.``, ``!``, ``?``, ``…``, ``。``, ``！``, ``？``);
- a cue holds as many words as fit in ``max_lines`` lines of at most ``max_chars`` characters, and
  lasts at most ``max_s`` seconds (first word's start to last word's end);
- a sentence too long for one cue is cut into as few cues as those limits allow, as even in length
  as can be, and cut after clause punctuation (``,`` ``;`` ``:``) where that is not much less even,
  so that no cue is left with a word or two and clauses stay together;
- the lines of a cue are balanced: the shortest width that still needs no more lines;
- a word longer than ``max_chars`` is cut into pieces of ``max_chars`` characters, its time shared
  among them by length (a URL or a long compound cannot otherwise be shown);
- a cue starts at its first word's start and ends at its last word's end; a cue shorter than
  ``min_s`` (0.7 s) is held up to ``min_s``, but never past the start of the next cue nor past
  the end of the output (:attr:`Timings.duration_s <emotts_plugin.timings.Timings.duration_s>`).

Cues are therefore in order and never overlap. The two formats are written here rather than with a
library: each is a few lines of text per cue, and the tests read the output back with the
``webvtt-py`` and ``srt`` parsers.
"""

from __future__ import annotations

import bisect
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .timings import Timings, Word

#: Subtitle file extensions :func:`write` knows, with the format each asks for.
EXTENSIONS: dict[str, str] = {".vtt": "WebVTT", ".srt": "SRT"}
#: Punctuation that ends a sentence at the end of a shown word.
_SENTENCE_END = re.compile(r"[.!?…。！？][\"'”’»)\]]*$")
#: Punctuation that ends a clause at the end of a shown word.
_CLAUSE_END = re.compile(r"[,;:、，；：][\"'”’»)\]]*$")
_TOKEN = re.compile(r"\S+")
_EDGE_PUNCT = re.compile(r"^[^\w]+|[^\w]+$")


@dataclass(frozen=True, slots=True)
class Cue:
    """One subtitle: lines of text shown from ``start_s`` to ``end_s``."""

    start_s: float
    """When it appears, seconds from the start of the output."""
    end_s: float
    """When it goes, seconds from the start of the output."""
    lines: tuple[str, ...]
    """Its lines, top first; none empty."""

    @property
    def text(self) -> str:
        """The lines joined with newlines."""
        return "\n".join(self.lines)


@dataclass(frozen=True, slots=True)
class _Shown:
    """A word (or a piece of a long one) as a cue shows it."""

    text: str
    """What the cue shows of it."""
    start_s: float
    """When it starts, seconds from the start of the output."""
    end_s: float
    """When it ends, seconds from the start of the output."""
    clause_end: bool
    """Whether clause punctuation ends it: a good place to end a cue."""


def cues(
    timings: Timings,
    *,
    max_chars: int = 42,
    max_lines: int = 2,
    max_s: float = 6.0,
    min_s: float = 0.7,
) -> list[Cue]:
    """The subtitle cues of ``timings``' words (the rules are in the module's docstring).

    :param max_chars: most characters in a line.
    :param max_lines: most lines in a cue.
    :param max_s: longest a cue lasts, seconds (a single word that lasts longer is one cue).
    :param min_s: shortest a cue is shown where the next cue and the output's end leave room,
        seconds.
    :returns: cues in order, none overlapping the next; empty when there are no words.
    :raises ValueError: a limit out of range, or words out of order or ending before they start.
    """
    if max_chars < 1:
        raise ValueError(f"max_chars must be at least 1, got {max_chars!r}")
    if max_lines < 1:
        raise ValueError(f"max_lines must be at least 1, got {max_lines!r}")
    if not max_s > 0:
        raise ValueError(f"max_s must be above 0, got {max_s!r}")
    if not min_s >= 0:
        raise ValueError(f"min_s must be 0 or more, got {min_s!r}")
    _check_words(timings.words)
    made: list[tuple[float, float, tuple[str, ...]]] = []
    for sentence in _sentences(timings):
        for words in _split_at_sentence_ends(sentence):
            pieces = [piece for word, shown in words for piece in _pieces(word, shown, max_chars)]
            for cue_words in _fill(pieces, max_chars, max_lines, max_s):
                lines = _wrap([piece.text for piece in cue_words], max_chars)
                end = max(piece.end_s for piece in cue_words)
                made.append((cue_words[0].start_s, end, tuple(lines)))
    result = []
    for index, (start, end, lines) in enumerate(made):
        if index + 1 < len(made):
            limit = made[index + 1][0]  # words are in order: never before ``start``
        else:  # the end of the output, where it is known
            limit = max(timings.duration_s, end) if timings.duration_s > 0 else float("inf")
        held = max(end, min(start + min_s, limit))
        result.append(Cue(start, min(held, limit), lines))
    return result


def _check_words(words: Sequence[Word]) -> None:
    for before, word in zip((None, *words), words):
        if word.end_s < word.start_s:
            raise ValueError(
                f"word {word.text!r} ends ({word.end_s!r} s) before it starts ({word.start_s!r} s)"
            )
        if before is not None and word.start_s < before.start_s:
            raise ValueError(
                f"word {word.text!r} starts ({word.start_s!r} s) before the word ahead of it, "
                f"{before.text!r} ({before.start_s!r} s): words must be in order"
            )


def _sentences(timings: Timings) -> list[list[tuple[Word, str]]]:
    """The words of each sentence with the text each shows (its token of the sentence's text)."""
    if not timings.words:
        return []
    starts = [sentence.start_s for sentence in timings.sentences[1:]]
    grouped: list[list[Word]] = [[] for _ in range(len(starts) + 1)]
    for word in timings.words:
        # a word belongs to the last sentence that starts at or before it (1 µs for rounding)
        grouped[bisect.bisect_right(starts, word.start_s + 1e-6)].append(word)
    texts = [sentence.text for sentence in timings.sentences] or [""]
    result = []
    for words, text in zip(grouped, texts):
        if not words:
            continue
        tokens = _shown_tokens(text)
        if [_EDGE_PUNCT.sub("", token) for token in tokens] == [word.text for word in words]:
            result.append(list(zip(words, tokens)))
        else:
            result.append([(word, word.text) for word in words])
    return result


def _shown_tokens(text: str) -> list[str]:
    """The tokens of a sentence's text that hold a word, each with its edge punctuation; a token of
    punctuation alone ("—", "…") joins the word before it (the word after it, at the start)."""
    tokens: list[str] = []
    leading = ""
    for token in _TOKEN.findall(text):
        if _EDGE_PUNCT.sub("", token):
            tokens.append(f"{leading} {token}" if leading else token)
            leading = ""
        elif tokens:
            tokens[-1] = f"{tokens[-1]} {token}"
        else:
            leading = f"{leading} {token}".strip()
    return tokens


def _split_at_sentence_ends(words: list[tuple[Word, str]]) -> list[list[tuple[Word, str]]]:
    parts: list[list[tuple[Word, str]]] = [[]]
    for word, shown in words:
        parts[-1].append((word, shown))
        if _SENTENCE_END.search(shown):
            parts.append([])
    return [part for part in parts if part]


def _pieces(word: Word, shown: str, max_chars: int) -> list[_Shown]:
    """``shown`` as one piece, or cut into pieces of ``max_chars`` that share the word's time."""
    clause_end = bool(_CLAUSE_END.search(shown))
    if len(shown) <= max_chars:
        return [_Shown(shown, word.start_s, word.end_s, clause_end)]
    cuts = list(range(0, len(shown), max_chars)) + [len(shown)]
    span = word.end_s - word.start_s
    edges = [word.start_s + span * cut / len(shown) for cut in cuts]
    edges[-1] = word.end_s
    return [
        _Shown(shown[a:b], start, end, clause_end and b == len(shown))
        for a, b, start, end in zip(cuts[:-1], cuts[1:], edges[:-1], edges[1:])
    ]


def _lines_needed(texts: Sequence[str], width: int) -> int:
    """Lines that greedy wrapping of ``texts`` at ``width`` characters takes (each text fits)."""
    lines, used = 0, 0
    for text in texts:
        if lines and used + 1 + len(text) <= width:
            used += 1 + len(text)
        else:
            lines, used = lines + 1, len(text)
    return lines


def _wrap(texts: Sequence[str], max_chars: int) -> list[str]:
    """``texts`` in as few lines of ``max_chars`` as greedy wrapping takes, made as even as can be:
    wrapped at the narrowest width that needs no more lines."""
    lines_at_most = _lines_needed(texts, max_chars)
    width = max(len(text) for text in texts)
    while _lines_needed(texts, width) > lines_at_most:
        width += 1
    lines: list[list[str]] = []
    for text in texts:
        if lines and len(" ".join([*lines[-1], text])) <= width:
            lines[-1].append(text)
        else:
            lines.append([text])
    return [" ".join(line) for line in lines]


def _fill(pieces: list[_Shown], max_chars: int, max_lines: int, max_s: float) -> list[list[_Shown]]:
    """Split one sentence's pieces into as few cues as fit the limits; among the ways to do that,
    the one with the most even cues, cut after clause punctuation where it can be.

    Evenness is the sum of the squared lengths of the cues; a cut that is not after a clause costs
    as much as moving a quarter of a cue's capacity from one cue to the next.
    """
    not_at_clause = (max_chars * max_lines) ** 2 / 8
    n = len(pieces)
    # best[j]: (cues, cost, start of the last cue) of the best split of pieces[:j]
    best: list[tuple[int, float, int] | None] = [None] * (n + 1)
    best[0] = (0, 0.0, 0)
    for i in range(n):
        if best[i] is None:
            continue
        cues_before, cost_before, _ = best[i]
        latest_end = pieces[i].end_s
        for j in range(i + 1, n + 1):
            texts = [piece.text for piece in pieces[i:j]]
            latest_end = max(latest_end, pieces[j - 1].end_s)
            if j > i + 1 and (
                _lines_needed(texts, max_chars) > max_lines or latest_end - pieces[i].start_s > max_s
            ):
                break  # a longer cue fits no better
            cost = cost_before + len(" ".join(texts)) ** 2
            if j < n and not pieces[j - 1].clause_end:
                cost += not_at_clause
            found = (cues_before + 1, cost, i)
            if best[j] is None or found[:2] < best[j][:2]:
                best[j] = found
    out: list[list[_Shown]] = []
    j = n
    while j > 0:
        i = best[j][2]
        out.append(pieces[i:j])
        j = i
    return out[::-1]


# --------------------------------------------------------------------------
# Formats
# --------------------------------------------------------------------------


def _timestamp(seconds: float, separator: str) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _vtt_text(line: str) -> str:
    """A line of WebVTT cue text: ``&``, ``<`` and ``>`` as character references (so ``-->``
    cannot end up in it)."""
    return line.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_webvtt(cues: Sequence[Cue]) -> str:
    """A WebVTT file holding ``cues``, numbered from 1 (``WEBVTT`` alone when there are none)."""
    blocks = ["WEBVTT\n"]
    for number, cue in enumerate(cues, 1):
        text = "\n".join(_vtt_text(line) for line in cue.lines)
        blocks.append(f"{number}\n{_timestamp(cue.start_s, '.')} --> {_timestamp(cue.end_s, '.')}\n{text}\n")
    return "\n".join(blocks)


def to_srt(cues: Sequence[Cue]) -> str:
    """An SRT (SubRip) file holding ``cues``, numbered from 1 (empty when there are none)."""
    blocks = [
        f"{number}\n{_timestamp(cue.start_s, ',')} --> {_timestamp(cue.end_s, ',')}\n{cue.text}\n"
        for number, cue in enumerate(cues, 1)
    ]
    return "\n".join(blocks)


_WRITERS: dict[str, Callable[[Sequence[Cue]], str]] = {".vtt": to_webvtt, ".srt": to_srt}


def subtitle_format(path: str | os.PathLike[str]) -> str:
    """The subtitle format ``path``'s extension asks for (``"WebVTT"`` or ``"SRT"``).

    :raises ValueError: any other extension, naming ``path`` and the extensions known.
    """
    suffix = Path(path).suffix.lower()
    if suffix not in EXTENSIONS:
        allowed = ", ".join(EXTENSIONS)
        raise ValueError(
            f"cannot write subtitles to {os.fspath(path)!r}: the extension must be one of {allowed}"
        )
    return EXTENSIONS[suffix]


def write(path: str | os.PathLike[str], timings: Timings) -> list[Cue]:
    """Write the :func:`cues` of ``timings`` to ``path`` (UTF-8) as WebVTT (``.vtt``) or SRT
    (``.srt``), as its extension asks; the cues written.

    :raises ValueError: another extension (:func:`subtitle_format`).
    """
    subtitle_format(path)
    made = cues(timings)
    text = _WRITERS[Path(path).suffix.lower()](made)
    with open(path, "w", encoding="utf-8", newline="\n") as handle:
        handle.write(text)
    return made
