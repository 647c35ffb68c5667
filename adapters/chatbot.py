"""Chatbot adapter: speak an LLM reply sentence by sentence while it is still streaming.

A chat model sends its reply as small text deltas. :class:`SentenceAssembler`
collects them and hands out each sentence as soon as it is complete, as a
self-contained markup fragment; :class:`ChatbotSpeaker` renders those fragments
with a :class:`~emotts_plugin.synthesizer.Synthesizer` (lenient markup) and
yields the audio, so the first sentence is heard while the model is still
writing the rest. :func:`system_prompt` writes the instructions that teach a
model the markup.

How the assembler cuts (pure text, no audio):

- never inside an unfinished tag (``<emotion name="hap`` … ``py">``), comment,
  entity (``&amp`` …), bracket cue (``[hap`` … ``py]``) or stage direction;
- a sentence ends at ``.`` ``!`` ``?`` ``…`` (and closing quotes or brackets and
  closing tags right after them) followed by whitespace, another tag, an
  emotion cue or the end of the reply; at ``。！？`` whatever follows; at a
  newline (inside ``<speak>`` only at a blank line, since there newlines are
  layout); abbreviations (``e.g.``, ``Dr.``, ``U.S.`` before a lowercase word),
  initials, decimals and list numbers (``1.`` at the start of a line) do not end
  sentences;
- a run longer than ``max_chars`` (200) is cut at the next clause mark
  (``,;:`` then whitespace), one twice that long at the next space, one of 2.5
  times anywhere outside markup (text with no spaces at all);
- the whitespace, closing tags and ``<break>`` after a sentence end belong to
  that sentence, so a fragment is handed out once the first character of the
  next sentence (or the end of the reply) has arrived: decisions depend only on
  the text, never on how it was split into deltas;
- elements still open at a cut are closed at the end of the fragment and
  re-opened (raw, with their attributes) at the start of the next; an emotion
  cue such as ``[calm]`` is repeated likewise until the next cue or the end of
  its enclosing element. Malformed markup is passed on as it is: the lenient
  parser repairs it. No character of the reply is lost.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import functools
import logging
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, AsyncIterable, AsyncIterator, Callable, Iterable, Iterator

from emotts_plugin.emotion import EmotionSpace, load_builtin_presets
from emotts_plugin.errors import HostileInputError, MarkupError
from emotts_plugin.ssml.scan import PAUSE_CUES

if TYPE_CHECKING:
    from emotts_plugin.synthesizer import AudioChunk, Synthesizer

_LOGGER = logging.getLogger(__name__)

__all__ = ["ChatbotSpeaker", "Fragment", "SentenceAssembler", "system_prompt"]

#: Characters that end a sentence when whitespace (or the end) follows.
TERMINATORS = frozenset(".!?…。！？")
#: Sentence ends that need no whitespace after them (CJK writing has none).
CJK_TERMINATORS = frozenset("。！？")
#: Closing quotes and brackets that stay with the sentence they end.
CLOSERS = frozenset("\"'”’)]»」』）】〕〉》")
#: Clause marks where an over-long run may be cut.
CLAUSE_MARKS = frozenset(",;:，；：、")
CJK_CLAUSE_MARKS = frozenset("，；：、")
#: Elements that hold no text even when written without ``/>``.
VOID_ELEMENTS = frozenset({"break", "mark", "silence"})
#: Empty elements that stay with the sentence before them.
TRAILING_EMPTY = frozenset({"break", "silence"})
#: Longest markup token (tag, comment, CDATA, processing instruction) waited for.
MAX_MARKUP_CHARS = 1024

#: Abbreviations that never end a sentence (titles and Latin shorthands).
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt vs e.g i.e cf fig figs approx gen col capt lt sgt rev hon ca al".split()
)
#: Abbreviations that end a sentence only when a capitalised word follows.
SOFT_ABBREVIATIONS = frozenset(
    "etc inc ltd co corp no nos vol pp p.m a.m u.s u.k u.n jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
_LIST_NUMBER = re.compile(r"(?:\A|\n)[ \t]*\d{1,3}\Z")
_WORD_BEFORE = re.compile(r"[A-Za-z.]*\Z")
_DOTTED = re.compile(r"(?:[a-z]\.)+[a-z]")


# --------------------------------------------------------------------------
# Units: what the assembler reads at one position of the reply
# --------------------------------------------------------------------------


class _Kind(enum.Enum):
    TEXT = "text"  # one character of text
    OPEN = "open"  # an opening tag
    CLOSE = "close"  # a closing tag
    EMPTY = "empty"  # a self-closing tag
    CUE = "cue"  # a bracket cue naming an emotion
    OPAQUE = "opaque"  # entity, comment, CDATA, processing instruction, pause cue


@dataclass(frozen=True, slots=True)
class _Unit:
    kind: _Kind
    end: int
    name: str = ""  # tag name, or the cue's word
    count: int = 0  # characters of text it stands for
    words: bool = False  # whether it holds something a voice says


_WAIT = None  # a unit, or a decision, that needs text not yet received


def _local(name: str) -> str:
    return name.rsplit(":", 1)[-1].lower()


def _name_start(ch: str) -> bool:
    return ("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == "_"


def _name_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_.-"


def _read_name(buf: str, j: int, limit: int) -> int | None:
    """End of an XML-ish name at ``j`` (``-1`` if none can be there, ``None`` if cut off)."""
    if j >= limit:
        return None
    if not _name_start(buf[j]):
        return -1
    j += 1
    while j < limit and _name_char(buf[j]):
        j += 1
    if j < limit and buf[j] == ":":
        j += 1
        if j >= limit:
            return None
        if not _name_start(buf[j]):
            return -1
        while j < limit and _name_char(buf[j]):
            j += 1
    return None if j >= limit else j


def _tag_end(buf: str, i: int, limit: int) -> tuple[int, bool, bool, str] | int | None:
    """Read a tag at ``buf[i] == '<'`` with the grammar of the lenient scanner's ``TOKEN``.

    :return: ``(end, closing, selfclosing, name)`` for a whole tag; ``-1`` when the
        text cannot be a tag; ``None`` when ``limit`` comes first.
    """
    j = i + 1
    if j >= limit:
        return None
    closing = buf[j] == "/"
    if closing:
        j += 1
    name_end = _read_name(buf, j, limit)
    if name_end is None or name_end < 0:
        return name_end
    name = buf[j:name_end]
    j = name_end
    while True:
        spaced = j < limit and buf[j].isspace()
        while j < limit and buf[j].isspace():
            j += 1
        if j >= limit:
            return None
        ch = buf[j]
        if ch == ">":
            return j + 1, closing, False, name
        if ch == "/":
            if j + 1 >= limit:
                return None
            return (j + 2, closing, True, name) if buf[j + 1] == ">" else -1
        if not spaced or not _name_start(ch):
            return -1
        attr_end = _read_name(buf, j, limit)
        if attr_end is None or attr_end < 0:
            return attr_end
        j = attr_end
        while j < limit and buf[j].isspace():
            j += 1
        if j >= limit:
            return None
        if buf[j] != "=":
            return -1
        j += 1
        while j < limit and buf[j].isspace():
            j += 1
        if j >= limit:
            return None
        quote = buf[j]
        if quote in "\"'":
            j += 1
            while j < limit and buf[j] != quote:
                if buf[j] == "<":
                    return -1
                j += 1
            if j >= limit:
                return None
            j += 1
        else:
            start = j
            while j < limit and not buf[j].isspace() and buf[j] not in "\"'<>=/`":
                j += 1
            if j == start:
                return -1
            if j >= limit:
                return None


# --------------------------------------------------------------------------
# The assembler
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fragment:
    """One sentence (or clause of a long run) ready to speak."""

    markup: str
    """Self-contained markup: ``reopened + source + closing``."""
    source: str
    """The characters of the reply this fragment consumed, verbatim."""
    reopened: str = ""
    """Tags and emotion cues still open from earlier fragments, re-opened at the start."""
    closing: str = ""
    """Closing tags for the elements still open at the end."""
    speakable: bool = True
    """Whether the source holds any letter or digit (a trailing ``[laughs]`` or emoji does not)."""


@dataclass(slots=True)
class _Open:
    name: str
    raw: str
    cue: str | None = None


@dataclass(slots=True)
class _Scope:
    """What is open at a point of the reply."""

    cue: str | None = None  # emotion cue at the top level
    elements: list[_Open] = field(default_factory=list)

    def copy(self) -> "_Scope":
        return _Scope(self.cue, [dataclasses.replace(element) for element in self.elements])

    def reopen(self, *, innermost_cue: bool = True) -> str:
        """Markup that opens this scope again (the innermost cue left out when a new one follows)."""
        cues = [self.cue, *(element.cue for element in self.elements)]
        if not innermost_cue:
            cues[-1] = None
        parts = [cues[0] or ""]
        for element, cue in zip(self.elements, cues[1:]):
            parts.append(element.raw)
            parts.append(cue or "")
        return "".join(parts)

    def closing(self) -> str:
        return "".join(f"</{element.name}>" for element in reversed(self.elements))

    def in_speak(self) -> bool:
        return any(_local(element.name) == "speak" for element in self.elements)


class SentenceAssembler:
    """Turn a streamed reply into complete, self-contained sentence fragments.

    ``feed(delta)`` returns the fragments that the text so far completes;
    ``flush()`` returns the rest at the end of the reply and makes the
    assembler ready for the next one. The fragments do not depend on how the
    reply was split into deltas.

    :param space: emotion space that tells emotion cues (``[calm]``) from other
        bracketed text; the built-in presets when ``None``.
    :param is_emotion: instead of ``space``, a predicate on a cue's word.
    :param max_chars: length after which a run without sentence end is cut
        at a clause mark (twice that: at a space).
    """

    def __init__(
        self,
        *,
        space: EmotionSpace | None = None,
        is_emotion: Callable[[str], bool] | None = None,
        max_chars: int = 200,
    ) -> None:
        if max_chars < 1:
            raise ValueError(f"max_chars must be >= 1, got {max_chars!r}")
        if is_emotion is None:
            is_emotion = (space or _builtin_space()).knows
        self._is_emotion = is_emotion
        self.max_chars = max_chars
        self._reset()

    def _reset(self) -> None:
        self._buf = ""  # text of the pending fragment and what follows it
        self._pos = 0  # everything before it is read into the pending fragment
        self._scope = _Scope()
        self._start = _Scope()  # what was open where the pending fragment starts
        self._leading = True  # nothing but whitespace read into the pending fragment yet
        self._new_cue = False  # the pending fragment starts with an emotion cue
        self._count = 0  # characters of text in the pending fragment
        self._words = False  # whether the pending fragment has a letter or digit

    # -- public --------------------------------------------------------------

    def feed(self, delta: str) -> list[str]:
        """Add a delta of the reply; the markup of each fragment it completes."""
        return [fragment.markup for fragment in self.feed_fragments(delta)]

    def flush(self) -> list[str]:
        """End of the reply: the markup of the remaining fragments."""
        return [fragment.markup for fragment in self.flush_fragments()]

    def feed_fragments(self, delta: str) -> list[Fragment]:
        """Like :meth:`feed`, as :class:`Fragment` objects."""
        if not isinstance(delta, str):
            raise TypeError(f"a delta must be str, got {type(delta).__name__}")
        self._buf += delta
        return self._scan(final=False)

    def flush_fragments(self) -> list[Fragment]:
        """Like :meth:`flush`, as :class:`Fragment` objects.

        The last fragment may hold no words (a trailing stage direction, emoji
        or empty element): it is returned so no character is lost, with
        ``speakable`` false. A reply of whitespace alone gives nothing.
        """
        fragments = self._scan(final=True)
        if self._buf and not self._buf.isspace():
            fragments.append(self._cut(len(self._buf)))
        self._reset()
        return fragments

    # -- scanning ------------------------------------------------------------

    def _scan(self, *, final: bool) -> list[Fragment]:
        fragments = []
        while self._pos < len(self._buf):
            step = self._step(self._pos, final)
            if step is _WAIT:
                break
            action, value = step
            if action == "cut":
                self._apply_until(value, final)
                fragments.append(self._cut(value))
            elif action == "skip":
                self._apply_until(value, final)
            else:
                self._apply(value)
                self._pos = value.end
        return fragments

    def _cut(self, end: int) -> Fragment:
        source = self._buf[:end]
        reopened = self._start.reopen(innermost_cue=not self._new_cue)
        closing = self._scope.closing()
        fragment = Fragment(
            markup=reopened + source + closing,
            source=source,
            reopened=reopened,
            closing=closing,
            speakable=self._words,
        )
        self._buf = self._buf[end:]
        self._pos = 0
        self._start = self._scope.copy()
        self._leading = True
        self._new_cue = False
        self._count = 0
        self._words = False
        return fragment

    def _apply_until(self, end: int, final: bool) -> None:
        while self._pos < end:
            unit = self._unit(self._pos, final)
            assert unit is not None and unit.end <= end, "decided ranges hold whole units"
            self._apply(unit)
            self._pos = unit.end

    def _apply(self, unit: _Unit) -> None:
        if self._leading and not (unit.kind is _Kind.TEXT and self._buf[self._pos].isspace()):
            self._leading = False
            self._new_cue = unit.kind is _Kind.CUE
        self._count += unit.count
        self._words = self._words or unit.words
        scope = self._scope
        if unit.kind is _Kind.OPEN:
            if _local(unit.name) not in VOID_ELEMENTS:
                scope.elements.append(_Open(unit.name, self._buf[self._pos : unit.end]))
        elif unit.kind is _Kind.CLOSE:
            names = [element.name for element in scope.elements]
            if unit.name in names:
                # like the lenient scanner: a close also ends what was opened inside
                del scope.elements[len(names) - 1 - names[::-1].index(unit.name) :]
        elif unit.kind is _Kind.CUE:
            raw = self._buf[self._pos : unit.end]
            if scope.elements:
                scope.elements[-1].cue = raw
            else:
                scope.cue = raw

    def _step(self, i: int, final: bool):
        """What to do at ``i``: ``("unit", unit)``, ``("skip", end)``, ``("cut", end)`` or wait."""
        buf = self._buf
        unit = self._unit(i, final)
        if unit is _WAIT:
            return _WAIT
        if self._words and self._count >= 2.5 * self.max_chars:
            return self._wait_or_cut(self._absorb(i, final))  # no space for a long while: cut here
        if unit.kind is not _Kind.TEXT or not self._words:
            return "unit", unit
        ch = buf[i]
        if ch in TERMINATORS:
            j = i
            while j < len(buf) and buf[j] in TERMINATORS:
                j += 1
            if j == len(buf) and not final:
                return _WAIT
            end = self._sentence_end(i, j, final)
            if end is _WAIT:
                return _WAIT
            return ("cut", end) if end >= 0 else ("skip", j)
        if ch == "\n":
            end = self._newline_end(i, final)
            if end is _WAIT:
                return _WAIT
            if end >= 0:
                return "cut", end
        elif ch in CLAUSE_MARKS and self._count >= self.max_chars:
            end = self._clause_end(i, final)
            if end is _WAIT:
                return _WAIT
            if end >= 0:
                return "cut", end
        elif ch.isspace() and self._count >= 2 * self.max_chars:
            return self._wait_or_cut(self._absorb(i, final))
        return "unit", unit

    @staticmethod
    def _wait_or_cut(end: int | None):
        return _WAIT if end is _WAIT else ("cut", end)

    def _sentence_end(self, i: int, j: int, final: bool) -> int | None:
        """After the terminators ``buf[i:j]``: where the sentence ends, ``-1`` if it does not."""
        buf = self._buf
        k = self._skip_closers(j, final)
        if k is _WAIT:
            return _WAIT
        if k == len(buf):
            return k if final else _WAIT
        nxt = buf[k]
        if not (nxt.isspace() or any(ch in CJK_TERMINATORS for ch in buf[i:j])):
            unit = self._unit(k, final)
            if unit is _WAIT:
                return _WAIT
            if unit.kind not in (_Kind.OPEN, _Kind.EMPTY, _Kind.CUE):
                return -1
        if buf[i:j] == ".":
            ends = self._period_ends(i, k, final)
            if ends is _WAIT:
                return _WAIT
            if not ends:
                return -1
        return self._absorb(k, final)

    def _period_ends(self, i: int, k: int, final: bool) -> bool | None:
        """Whether a single ``.`` at ``i`` ends the sentence (abbreviations, initials, list numbers)."""
        before = self._buf[:i]
        if _LIST_NUMBER.search(before):
            return False
        word = _WORD_BEFORE.search(before).group().lstrip(".").lower()
        if not word:
            return True
        if word in ABBREVIATIONS or (len(word) == 1 and before[-1].isupper()):
            return False
        if word in SOFT_ABBREVIATIONS or _DOTTED.fullmatch(word):
            m = k
            while m < len(self._buf) and self._buf[m].isspace():
                m += 1
            if m == len(self._buf):
                return True if final else _WAIT
            nxt = self._buf[m]
            return not (nxt.islower() or nxt.isdigit())
        return True

    def _newline_end(self, i: int, final: bool) -> int | None:
        """Where a sentence broken by the newline at ``i`` ends, ``-1`` if the newline is layout."""
        buf = self._buf
        if self._scope.in_speak():
            m = i + 1
            while m < len(buf) and buf[m].isspace() and buf[m] != "\n":
                m += 1
            if m == len(buf):
                if not final:
                    return _WAIT
            elif buf[m] != "\n":
                return -1
        return self._absorb(i, final)

    def _clause_end(self, i: int, final: bool) -> int | None:
        k = self._skip_closers(i + 1, final)
        if k is _WAIT:
            return _WAIT
        if k == len(self._buf):
            return k if final else _WAIT
        if self._buf[k].isspace() or self._buf[i] in CJK_CLAUSE_MARKS:
            return self._absorb(k, final)
        return -1

    def _skip_closers(self, k: int, final: bool) -> int | None:
        """Past closing quotes, brackets and closing tags from ``k``."""
        buf = self._buf
        while k < len(buf):
            if buf[k] in CLOSERS:
                k += 1
            elif buf[k] == "<":
                unit = self._unit(k, final)
                if unit is _WAIT:
                    return _WAIT
                if unit.kind is not _Kind.CLOSE:
                    return k
                k = unit.end
            else:
                return k
        return k

    def _absorb(self, k: int, final: bool) -> int | None:
        """Past the whitespace, closing tags and breaks that end a sentence at ``k``."""
        buf = self._buf
        while True:
            if k == len(buf):
                return k if final else _WAIT
            if buf[k].isspace():
                k += 1
                continue
            if buf[k] != "<":
                return k
            unit = self._unit(k, final)
            if unit is _WAIT:
                return _WAIT
            trailing = unit.kind is _Kind.EMPTY or (unit.kind is _Kind.OPEN and _local(unit.name) in VOID_ELEMENTS)
            if unit.kind is _Kind.CLOSE or (trailing and _local(unit.name) in TRAILING_EMPTY):
                k = unit.end
            else:
                return k

    # -- units ---------------------------------------------------------------

    def _unit(self, i: int, final: bool) -> _Unit | None:
        """The unit at ``i``; ``None`` when it may still grow (never once ``final``)."""
        ch = self._buf[i]
        if ch == "<":
            unit = self._markup(i, final)
        elif ch == "&":
            unit = self._entity(i, final)
        elif ch == "[":
            unit = self._bracket(i, final)
        elif ch == "(":
            unit = self._paren(i, final)
        else:
            return _Unit(_Kind.TEXT, i + 1, count=1, words=ch.isalnum())
        if unit is _WAIT and final:
            unit = "text"
        if unit == "text":
            return _Unit(_Kind.TEXT, i + 1, count=1)
        return unit

    def _markup(self, i: int, final: bool):
        buf = self._buf
        limit = min(len(buf), i + MAX_MARKUP_CHARS)
        capped = limit < len(buf)
        for opener, closer in (("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>")):
            head = buf[i : i + len(opener)]
            if head == opener:
                end = buf.find(closer, i + len(opener), limit)
                if end >= 0:
                    inner = buf[i + len(opener) : end] if opener == "<![CDATA[" else ""
                    return _Unit(
                        _Kind.OPAQUE,
                        end + len(closer),
                        count=len(inner),
                        words=any(c.isalnum() for c in inner),
                    )
                return "text" if capped else _WAIT
            if len(head) < len(opener) and opener.startswith(head) and len(head) > 1:
                return _WAIT  # "<!" or "<![CD" at the end of what arrived
        tag = _tag_end(buf, i, limit)
        if tag is None:
            return "text" if capped else _WAIT
        if tag == -1:
            return "text"
        end, closing, selfclosing, name = tag
        kind = _Kind.CLOSE if closing else (_Kind.EMPTY if selfclosing else _Kind.OPEN)
        return _Unit(kind, end, name=name)

    def _entity(self, i: int, final: bool):
        buf = self._buf
        j = i + 1
        if j < len(buf) and buf[j] == "#":
            j += 1
            if j < len(buf) and buf[j] in "xX":
                j += 1
                digits, most = "0123456789abcdefABCDEF", 7
            else:
                digits, most = "0123456789", 8
            start = j
            while j < len(buf) and j - start < most and buf[j] in digits:
                j += 1
            if j < len(buf) and j == start:
                return "text"
        elif j < len(buf):
            if not _name_start(buf[j]):
                return "text"
            while j < len(buf) and _name_char(buf[j]):
                j += 1
        if j >= len(buf):
            return _WAIT
        return _Unit(_Kind.OPAQUE, j + 1, count=1) if buf[j] == ";" else "text"

    def _bracket(self, i: int, final: bool):
        buf = self._buf
        j = i + 1
        while j < len(buf) and j - i - 1 <= 40:
            ch = buf[j]
            if ch == "]":
                word = buf[i + 1 : j]
                if not word:
                    return "text"
                key = word.strip().lower()
                if key in PAUSE_CUES:
                    return _Unit(_Kind.OPAQUE, j + 1)
                if self._is_emotion(word.strip()):
                    return _Unit(_Kind.CUE, j + 1, name=word.strip())
                return "text"
            if ch in "[<>&\n":
                return "text"
            j += 1
        return _WAIT if j - i - 1 <= 40 else "text"

    def _paren(self, i: int, final: bool):
        buf = self._buf
        j = i + 1
        if j < len(buf) and not (("a" <= buf[j] <= "z") or ("A" <= buf[j] <= "Z")):
            return "text"
        while j < len(buf) and j - i - 1 <= 21:
            ch = buf[j]
            if ch == ")":
                if buf[i + 1 : j].strip().lower() in PAUSE_CUES:
                    return _Unit(_Kind.OPAQUE, j + 1)
                return "text"
            if not (("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch == " "):
                return "text"
            j += 1
        return _WAIT if j - i - 1 <= 21 else "text"


@functools.cache
def _builtin_space() -> EmotionSpace:
    """The built-in presets, read once (only looked up, never changed)."""
    return EmotionSpace(load_builtin_presets())


# --------------------------------------------------------------------------
# Speaking
# --------------------------------------------------------------------------


class _End:
    """Marks the end of a queue."""


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BaseException


class _Renderer:
    """Renders one reply's fragments in order, with times running over the whole reply."""

    def __init__(self, speaker: "ChatbotSpeaker") -> None:
        self.speaker = speaker
        self.offset_s = 0.0
        self.index = 0
        self.pending_warnings: list[str] = []
        self.line = 1  # where the next fragment's source starts in the reply
        self.column = 1

    def chunks(self, fragment: Fragment) -> Iterator["AudioChunk"]:
        line, column = self.line, self.column
        newlines = fragment.source.count("\n")
        self.line += newlines
        if newlines:
            self.column = len(fragment.source) - fragment.source.rfind("\n")
        else:
            self.column = column + len(fragment.source)
        if not fragment.speakable:
            _LOGGER.debug("fragment %r has no words; not rendered", fragment.source)
            return
        yield from self._render(fragment, line, column)

    def _render(self, fragment: Fragment, line: int, column: int) -> Iterator["AudioChunk"]:
        speaker = self.speaker
        seed = None if speaker.seed is None else speaker.seed + 1009 * self.index
        self.index += 1
        base = self.offset_s
        try:
            for chunk in speaker.synthesizer.stream(
                fragment.markup,
                mode="lenient",
                voice=speaker.voice,
                emotion=speaker.emotion,
                intensity=speaker.intensity,
                transition_ms=speaker.transition_ms,
                seed=seed,
                sample_rate=speaker.sample_rate,
            ):
                chunk = dataclasses.replace(
                    chunk,
                    start_s=base + chunk.start_s,
                    marks=tuple(dataclasses.replace(m, time_s=base + m.time_s) for m in chunk.marks),
                    spans=tuple(
                        dataclasses.replace(s, start_s=base + s.start_s, end_s=base + s.end_s) for s in chunk.spans
                    ),
                    warnings=(*self.pending_warnings, *_reply_warnings(chunk.warnings, fragment, line, column)),
                )
                self.pending_warnings = []
                self.offset_s = chunk.start_s + chunk.duration_s
                yield chunk
        except HostileInputError:
            raise
        except MarkupError as exc:
            # lenient reading only fails when a fragment has nothing to say
            _LOGGER.warning("fragment %r not spoken: %s", fragment.source, exc)
            self.pending_warnings.append(f"{fragment.source.strip()!r} not spoken: {exc}")


_POSITION = re.compile(r"line (\d+), column (\d+): ")


def _reply_warnings(warnings: Iterable[str], fragment: Fragment, line: int, column: int) -> list[str]:
    """Warnings with positions in the whole reply; those about re-opened markup are left out.

    ``line`` and ``column`` are where the fragment's source starts in the reply.
    Re-opened tags and cues repeat markup whose warnings came with an earlier sentence.
    """
    markup = fragment.markup
    line_starts = [0] + [i + 1 for i, ch in enumerate(markup) if ch == "\n"]
    out = []
    for warning in warnings:
        match = _POSITION.match(warning)
        if match is None:
            out.append(warning)
            continue
        number, col = int(match[1]), int(match[2])
        offset = (line_starts[number - 1] if number <= len(line_starts) else len(markup)) + col - 1
        inside = offset - len(fragment.reopened)
        if not 0 <= inside <= len(fragment.source):
            continue
        before = fragment.source[:inside]
        newlines = before.count("\n")
        at_line = line + newlines
        at_column = (inside - before.rfind("\n")) if newlines else column + inside
        out.append(f"line {at_line}, column {at_column}: {warning[match.end():]}")
    return out


class ChatbotSpeaker:
    """Speak a streamed LLM reply sentence by sentence.

    :param synthesizer: the :class:`~emotts_plugin.synthesizer.Synthesizer` that renders.
    :param voice: voice for text whose markup names none (the synthesizer's default when ``None``).
    :param emotion: emotion (label, alias or mixture) of text outside emotion markup.
    :param intensity: intensity 0..1 of ``emotion``.
    :param transition_ms: glide time at emotion changes inside a sentence.
    :param seed: makes the voice's natural variation repeatable (one seed per sentence derived from it).
    :param sample_rate: output rate (the default voice's own when ``None``).
    :param max_chars: see :class:`SentenceAssembler`.
    :raises ValueError: for an unknown ``emotion``.
    """

    def __init__(
        self,
        synthesizer: "Synthesizer",
        *,
        voice: str | None = None,
        emotion: str | None = None,
        intensity: float | None = None,
        transition_ms: float | None = None,
        seed: int | None = None,
        sample_rate: int | None = None,
        max_chars: int = 200,
    ) -> None:
        self.synthesizer = synthesizer
        if emotion is not None:
            synthesizer.runtime.space.parse_mixture(emotion)  # unknown emotion: an error now, not mid-reply
        self.voice = voice
        self.emotion = emotion
        self.intensity = intensity
        self.transition_ms = transition_ms
        self.seed = seed
        self.sample_rate = sample_rate
        self.max_chars = max_chars
        self.prefetch = 2
        """Chunks rendered ahead of the consumer in :meth:`aspeak`."""

    def assembler(self) -> SentenceAssembler:
        """A fresh assembler that knows the synthesizer's emotion labels."""
        return SentenceAssembler(space=self.synthesizer.runtime.space, max_chars=self.max_chars)

    def speak(self, deltas: Iterable[str]) -> Iterator["AudioChunk"]:
        """Render each sentence as soon as the deltas complete it.

        Chunks carry the synthesizer's warnings (lenient repairs) and times
        (``start_s``, marks, spans) from the start of the reply; spans index the
        segments of their own sentence's plan.
        """
        assembler = self.assembler()
        renderer = _Renderer(self)
        for delta in deltas:
            for fragment in assembler.feed_fragments(delta):
                yield from renderer.chunks(fragment)
        for fragment in assembler.flush_fragments():
            yield from renderer.chunks(fragment)

    async def aspeak(self, deltas: AsyncIterable[str] | Iterable[str]) -> AsyncIterator["AudioChunk"]:
        """Like :meth:`speak` for an event loop: deltas are read while earlier sentences render.

        Rendering (and reading a plain iterable, which may block) runs in worker
        threads, so the loop is never blocked; :attr:`prefetch` chunks are
        rendered ahead of the consumer, so the next sentence is being made while
        this one plays.
        """
        fragments: asyncio.Queue = asyncio.Queue()
        chunks: asyncio.Queue = asyncio.Queue(maxsize=self.prefetch)

        async def read() -> None:
            assembler = self.assembler()
            try:
                async for delta in _deltas(deltas):
                    for fragment in assembler.feed_fragments(delta):
                        fragments.put_nowait(fragment)
                for fragment in assembler.flush_fragments():
                    fragments.put_nowait(fragment)
            except Exception as exc:  # handed to the consumer, in order
                fragments.put_nowait(_Failure(exc))
            else:
                fragments.put_nowait(_End)

        async def render() -> None:
            renderer = _Renderer(self)
            try:
                while (item := await fragments.get()) is not _End:
                    if isinstance(item, _Failure):
                        await chunks.put(item)
                        return
                    pieces = renderer.chunks(item)
                    while (chunk := await asyncio.to_thread(next, pieces, _End)) is not _End:
                        await chunks.put(chunk)
            except Exception as exc:
                await chunks.put(_Failure(exc))
            else:
                await chunks.put(_End)

        tasks = [asyncio.create_task(read()), asyncio.create_task(render())]
        try:
            while (item := await chunks.get()) is not _End:
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _deltas(deltas: AsyncIterable[str] | Iterable[str]) -> AsyncIterator[str]:
    """The deltas of an async iterable, or of a plain one read in a worker thread."""
    if hasattr(deltas, "__aiter__"):
        async for delta in deltas:
            yield delta
        return
    iterator = iter(deltas)
    while (delta := await asyncio.to_thread(next, iterator, _End)) is not _End:
        yield delta


# --------------------------------------------------------------------------
# The system prompt
# --------------------------------------------------------------------------

#: Labels the prompt's examples prefer, when the space has them.
_EXAMPLE_LABELS = (
    ("empathetic", "gentle", "calm", "sad"),
    ("happy", "excited", "surprised"),
    ("calm", "gentle", "serious"),
)


def _example_labels(labels: tuple[str, ...]) -> list[str]:
    others = [label for label in labels if label != "neutral"] or ["neutral"]
    chosen: list[str] = []
    for preferred in _EXAMPLE_LABELS:
        pick = next((label for label in preferred if label in others and label not in chosen), None)
        if pick is None:
            pick = next((label for label in others if label not in chosen), others[0])
        chosen.append(pick)
    return chosen


def _summary(description: str) -> str:
    return description.split(";")[0].strip().rstrip(".")


def system_prompt(space: EmotionSpace | None = None, *, style: str = "ssml") -> str:
    """Instructions that teach a chat model the markup emotts speaks.

    Made from the live label list, so presets added by plugins are offered too.

    :param space: the emotion space (e.g. ``Runtime().space`` or
        ``synthesizer.runtime.space``); the built-in presets when ``None``.
    :param style: ``"ssml"`` for ``<emotion>`` tags with breaks, emphasis and
        prosody; ``"brackets"`` for the simpler ``[happy]`` cues.
    :raises ValueError: for another ``style``.
    """
    if style not in ("ssml", "brackets"):
        raise ValueError(f"style must be 'ssml' or 'brackets', got {style!r}")
    space = space or _builtin_space()
    labels = space.labels
    listing = "\n".join(
        f"- {label}" + (f": {_summary(space.preset(label).description)}" if space.preset(label).description else "")
        for label in labels
    )
    sorry, glad, steady = _example_labels(labels)
    pauses = ", ".join(f"({cue})" for cue in ("pause", "short pause", "long pause", "sighs", "laughs"))
    intro = (
        "Your reply is spoken aloud by an expressive text-to-speech voice. Write natural spoken "
        "sentences, and mark how they should sound with the markup below. Use no other markup: "
        "no Markdown, no lists, no code blocks, no emoji, no other tags."
    )
    if style == "brackets":
        body = f"""Emotion: put an emotion cue in square brackets before the words it colours, for example [{glad}]. \
The emotion lasts until the next cue; [neutral] returns to the plain voice.
Emotions (use only these names):
{listing}

Pauses: {pauses} or [pause] become short silences.

Rules:
- Put a cue only where the feeling changes, at the start of a sentence or clause; most replies need one or two.
- Write each cue as one lowercase name in square brackets, with nothing else inside.
- Never explain the cues or mention them; they are not read aloud.

Example reply:
[{sorry}] I'm sorry the parcel was late. [{glad}] Good news: a replacement ships today! [{steady}] Let's check \
the address together."""
    else:
        body = f"""Emotion: wrap a sentence or clause in <emotion name="LABEL">…</emotion>.
Emotions (use only these names):
{listing}

Intensity: add intensity="0.6" (a number from 0 to 1), intensity="60%" or intensity="low", "medium" or "high"; \
without it the emotion is at full strength. Mixtures: name="{glad}:0.6 {sorry}:0.3" blends emotions with weights.
Pauses: <break time="300ms"/> or <break time="1s"/>.
Emphasis: <emphasis>word</emphasis>, or <emphasis level="strong">word</emphasis>.
Fine control: <prosody rate="90%" pitch="+2st" volume="+3dB">…</prosody> (rate as a percentage, pitch in \
semitones, volume in dB).
Stage directions {pauses} become short silences.

Rules:
- Keep tags balanced: close every <emotion>, <emphasis> and <prosody> you open, in the reverse order, \
and put attribute values in double quotes.
- One emotion per sentence or clause; do not nest <emotion> tags. Text outside them keeps the default delivery.
- Use emotion where it helps the listener; most sentences need none or a gentle intensity.
- Never explain the markup or mention it; it is not read aloud.

Example reply:
<emotion name="{sorry}" intensity="0.6">I'm sorry the parcel was late.</emotion> <emotion name="{glad}">Good news: \
a replacement ships today!</emotion> <break time="300ms"/> <emotion name="{steady}" intensity="low">Let's check the \
address <emphasis>together</emphasis>.</emotion>"""
    return f"{intro}\n\n{body}\n"
