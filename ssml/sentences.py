"""Where sentences end: one set of rules for the planner, the chatbot and Wyoming streaming.

A sentence ends at ``.`` ``!`` ``?`` ``…`` (and the closing quotes and brackets right after
them) followed by whitespace or the end of the text, and at ``。！？`` whatever follows. A lone
``.`` does not end one after an abbreviation (``Dr.``, ``Mr.``, ``St.``, ``vs.``, ``e.g.``,
``i.e.``; ``etc.``, ``a.m.``, ``p.m.``, ``U.S.``, ``Inc.``, ``No.`` unless a lowercase word
or a digit follows), after an initial (``J. Smith``) or a list number (``1.`` at the start of a line); a
decimal point (``3.5``) has no space after it, and a stop before any word ends nothing.
:func:`period_ends` holds the rule for the lone ``.``; everything here cuts by these rules:

- :func:`split_sentences` cuts plain text (a segment's words: the planner renders one sentence
  per pass); the whitespace after a sentence end stays with that sentence, so joining the
  pieces gives back the text.
- :func:`ends_sentence` tells whether a piece of text ends its sentence (the planner's seams
  between segments, and where a sentence-final contour goes).
- :class:`SentenceAssembler` cuts a streamed reply (a chat model's deltas, Wyoming's
  ``synthesize-chunk`` events) into self-contained markup fragments, with the rules above plus
  what markup and streaming need.

How the assembler cuts (pure text, no audio):

- never inside an unfinished tag (``<emotion name="hap`` … ``py">``), comment,
  entity (``&amp`` …), bracket cue (``[hap`` … ``py]``) or stage direction;
- a sentence ends at ``.`` ``!`` ``?`` ``…`` (and closing quotes or brackets and
  closing tags right after them) followed by whitespace, another tag, an
  emotion cue or the end of the reply; at ``。！？`` whatever follows; at a
  newline (inside ``<speak>`` only at a blank line, since there newlines are
  layout); abbreviations, initials, decimals and list numbers do not end
  sentences (as above);
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

import dataclasses
import enum
import functools
import re
from dataclasses import dataclass, field
from typing import Callable

from emotts_plugin.emotion import EmotionSpace, load_builtin_presets

from .instructions import direction_kind

#: Characters that end a sentence when whitespace (or the end) follows.
TERMINATORS = frozenset(".!?…。！？")
#: Sentence ends that need no whitespace after them (CJK writing has none).
CJK_TERMINATORS = frozenset("。！？")
#: Closing quotes and brackets that stay with the sentence they end.
CLOSERS = frozenset("\"'”’)]»」』）】〕〉》*_~`")
#: Clause marks where an over-long run may be cut.
CLAUSE_MARKS = frozenset(",;:，；：、")
CJK_CLAUSE_MARKS = frozenset("，；：、")
#: Elements that hold no text even when written without ``/>``.
VOID_ELEMENTS = frozenset({"break", "mark", "silence"})
#: Empty elements that stay with the sentence before them.
TRAILING_EMPTY = frozenset({"break", "silence"})
#: Longest markup token (tag, comment, CDATA, processing instruction) waited for.
MAX_MARKUP_CHARS = 1024
#: Longest stage direction in brackets, and in parentheses or asterisks (as the scanner reads them).
MAX_CUE_CHARS, MAX_PAREN_CHARS = 60, 40
#: Elements holding a chat model's reasoning: never spoken, never cut.
REASONING_ELEMENTS = frozenset({"think", "thinking", "reasoning"})
#: Emoji (and their joiners and modifiers), as the chat stage reads them.
EMOJI_CHARS = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff\u3030\u303d"
EMOJI_PATTERN = f"(?:[{EMOJI_CHARS}][\ufe0f\u200d\U0001f3fb-\U0001f3ff]*)+"
EMOJI = re.compile(EMOJI_PATTERN)

#: Abbreviations that end a sentence only when a word that starts sentences follows (titles,
#: street types and Latin shorthands: "Dr. Smith", "St. Louis", but "on Main St. The house").
ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st mt vs e.g i.e cf fig figs approx gen col capt lt sgt rev hon ca al "
    "rd ave blvd ln hwy apt ste dept".split()
)
#: Abbreviations that end a sentence unless a lowercase word or a digit follows ("etc. and",
#: "No. 5"); after the dotted ones a capitalised word must also start sentences ("the U.S. Army",
#: "a Ph.D. Student" go on), and a time's "a.m."/"p.m." goes on before :data:`TIME_WORDS`.
SOFT_ABBREVIATIONS = frozenset(
    (
        "etc inc ltd co corp no nos vol pp p.m a.m est min max hr hrs sec yr yrs wk oz "
        "lb lbs ft jan feb mar apr jun jul aug sep sept oct nov dec"
    ).split()
)
#: Capitalised words that start sentences: after an abbreviation or an initial they mean the
#: period ended one ("…on Main St. The house…"); other capitalised words are taken for names.
SENTENCE_STARTERS = frozenset(
    (
        "i you he she it we they this that these those there here my your his her its our their the "
        "a an some any each every all no not none but and so or then now also however please thanks "
        "thank if when while after before once let let's don't do does did is are was were will "
        "would can could should may might must what why how where yes yeah okay ok sure "
        "great good see call everyone everything nothing someone today tomorrow tonight yesterday "
        "meanwhile otherwise finally first next just make remember note keep try check in on at for "
        "with as to by from what's it's that's there's i'm you're we're they're he's she's i'll i'd i've "
        "we'll you'll they'll"
    ).split()
)
#: Words after a time's "a.m."/"p.m." that go on with its sentence ("3 p.m. Eastern", "9 a.m. Monday").
TIME_WORDS = frozenset(
    (
        "eastern pacific central mountain atlantic est edt pst pdt cst cdt mst mdt gmt utc bst cet "
        "monday tuesday wednesday thursday friday saturday sunday january february march april may "
        "june july august september october november december"
    ).split()
)
#: A list number: at a line's start, or after a colon or another sentence ("Steps: 1. Mix. 2. Bake."),
#: but not after an abbreviation ("on Nov. 29. Then").
_LIST_NUMBER = re.compile(
    r"(?:(?:\A|\n)[ \t]*\d{1,3}"
    r"|(?:[:;]|[.!?](?<![A-Z][a-z]\.)(?<![A-Z][a-z]{2}\.)(?<![A-Z][a-z]{3}\.))[ \t]+\d{1,2})\Z"
)
#: How much of a sentence before a stop the rules read (its last word, or a list number).
BEFORE_CHARS = 48
_WORD_BEFORE = re.compile(r"[A-Za-z.]*\Z")
#: "no" after these is the answer, not "number" (which follows a noun: "room no. 5").
_ANSWER_NO = re.compile(
    r"\b(?:is|was|are|were|be|been|said|say|says|answered|replied|just|simply|definitely|probably|"
    r"certainly|that's|it's)\s+no\Z",
    re.IGNORECASE,
)
_DOTTED = re.compile(r"(?:[a-z]{1,2}\.)+[a-z]{1,2}")
_NEXT_WORD = re.compile(r"[A-Za-z][A-Za-z']*")
#: Enough of what follows a stop to read the next word.
FOLLOWING_CHARS = 24


# --------------------------------------------------------------------------
# The rules, on plain text
# --------------------------------------------------------------------------

_STOP = re.compile(
    "([" + re.escape("".join(sorted(TERMINATORS))) + "]+)[" + re.escape("".join(sorted(CLOSERS))) + "]*"
)
_FINAL_STOP = re.compile(_STOP.pattern + r"\s*\Z")


def _next_word(following: str, complete: bool) -> str | None:
    """The word ``following`` begins with (lowercase; ``""`` for none); ``None`` while it may grow."""
    word = _NEXT_WORD.match(following)
    if word is None:
        return ""
    if word.end() == len(following) and not complete:
        return None
    return word.group().lower()


def period_ends(before: str, following: str | None, *, complete: bool = True) -> bool | None:
    """Whether a lone ``.`` ends its sentence.

    :param before: the sentence up to the period (only its end is read, and a list number
        counts at its start, after a newline, a colon or another sentence).
    :param following: the text after the period, its closing quotes and brackets and any
        whitespace, as far as known (:data:`FOLLOWING_CHARS` is enough); ``""`` at the end of
        the text (which ends every sentence); ``None`` when nothing has arrived yet (a stream).
    :param complete: whether ``following`` runs to the end of the text (false in a stream, where
        the next word may still grow).
    :returns: the answer, or ``None`` when it depends on text that has not arrived.
    """
    if _LIST_NUMBER.search(before):
        return False
    word = _WORD_BEFORE.search(before).group().lstrip(".").lower()
    if not word:
        return True
    if following == "":
        return True
    if following is None:
        return None
    if word == "no" and _ANSWER_NO.search(before):
        return True  # "The answer is no. 25 people…": the word, not "number"
    hard, soft = word in ABBREVIATIONS or _initial(before, word), word in SOFT_ABBREVIATIONS
    dotted = not soft and _DOTTED.fullmatch(word) is not None
    if not (hard or soft or dotted):
        return True
    if following[0].islower() or following[0].isdigit():
        return False
    if not following[0].isupper():
        return not hard
    if soft and word not in ("a.m", "p.m"):
        return True
    after = _next_word(following, complete)
    if after is None:
        return None
    if word in ("a.m", "p.m"):
        return after not in TIME_WORDS
    return after in SENTENCE_STARTERS


def _initial(before: str, word: str) -> bool:
    """A single capital letter written as a word (``J. Smith``; not ``72°F``)."""
    if len(word) != 1 or not before[-1].isupper():
        return False
    return len(before) == 1 or before[-2].isspace() or before[-2] in ".(\"'"


def stop_ends(
    before: str, terminators: str, closed: bool, following: str | None, *, complete: bool = True
) -> bool | None:
    """Whether ``terminators`` (``.``, ``?!``, ``...``), closed by quotes or brackets when
    ``closed``, end the sentence ``before`` them; ``following`` and ``complete`` as for
    :func:`period_ends`. A lowercase word after an ellipsis or a closed stop continues the
    sentence (``He said "Go." and left``, ``Well... maybe``)."""
    if following == "":
        return True
    if following is None:
        return None
    if following[0].islower() and (closed or (terminators != "." and set(terminators) <= set(".…"))):
        return False
    if terminators == ".":
        return period_ends(before, following, complete=complete)
    return True


def _sentence_end(text: str, start: int, stop: re.Match[str]) -> int | None:
    """Where the sentence that began at ``start`` ends if ``stop`` (terminators and closers)
    ends it: past the whitespace after it; ``None`` when it does not end there."""
    first = max(start, stop.start() - BEFORE_CHARS)
    if not any(ch.isalnum() for ch in text[first : stop.start()]) and not any(
        ch.isalnum() for ch in text[start:first]
    ):
        return None  # no word yet: a leading "..." ends nothing
    end = stop.end()
    while end < len(text) and text[end].isspace():
        end += 1
    terminators = stop.group(1)
    if end == stop.end() < len(text) and not any(ch in CJK_TERMINATORS for ch in terminators):
        return None  # "3.5", "a.b": no space after the stop
    closed = stop.end() > stop.end(1)
    # the text before, as far as the rules read it (a cut is marked so it is no start of the text)
    before = text[first : stop.start()] if first == start else "\x00" + text[first : stop.start()]
    if not stop_ends(before, terminators, closed, text[end : end + FOLLOWING_CHARS]):
        return None
    return end


def split_sentences(text: str) -> list[str]:
    """``text`` cut into sentences; ``"".join(split_sentences(text)) == text``.

    The whitespace after a sentence end belongs to the sentence before it (strip it to speak
    the sentence alone). Text with no sentence end is one piece; ``""`` is ``[""]``.
    """
    parts, start = [], 0
    for stop in _STOP.finditer(text):
        end = _sentence_end(text, start, stop)
        if end is not None and end < len(text):
            parts.append(text[start:end])
            start = end
    parts.append(text[start:])
    return parts


def ends_sentence(text: str, following: str = "") -> bool:
    """Whether ``text`` ends with a sentence end, ``following`` being the text after it (the next
    segment's; ``""`` when nothing follows: the end of a text ends every sentence)."""
    stop = _FINAL_STOP.search(text)
    if stop is None:
        return False
    closed = len(stop.group().rstrip()) > stop.end(1) - stop.start()
    return bool(stop_ends(text[: stop.start()], stop.group(1), closed, following.lstrip()[:FOLLOWING_CHARS]))


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
        # a cue is followed by a space, so it cannot join what follows ("[calm](sighs)" is no link)
        parts = [f"{cues[0]} " if cues[0] else ""]
        for element, cue in zip(self.elements, cues[1:]):
            parts.append(element.raw)
            parts.append(f"{cue} " if cue else "")
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
        self._space = space or _builtin_space()
        self._is_emotion = is_emotion or self._space.knows
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
        if not any(ch in CJK_TERMINATORS for ch in buf[i:j]):
            ends = self._stop_ends(i, j, k, final)
            if ends is _WAIT:
                return _WAIT
            if not ends:
                return -1
        return self._absorb(k, final)

    def _stop_ends(self, i: int, j: int, k: int, final: bool) -> bool | None:
        """Whether the terminators ``buf[i:j]`` end the sentence (:func:`stop_ends`); ``k`` is past
        their closing quotes, brackets and tags."""
        buf = self._buf
        m = k
        while m < len(buf) and buf[m].isspace():
            m += 1
        following = buf[m : m + FOLLOWING_CHARS] if m < len(buf) else ("" if final else None)
        closed = any(ch in CLOSERS for ch in buf[j:k])
        return stop_ends(
            buf[:i], buf[i:j], closed, following, complete=final or m + FOLLOWING_CHARS <= len(buf)
        )

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
            if EMOJI.match(buf, k):  # an emoji after a sentence end belongs to that sentence
                k = EMOJI.match(buf, k).end()
                continue
            if buf[k] != "<":
                return k
            unit = self._unit(k, final)
            if unit is _WAIT:
                return _WAIT
            trailing = unit.kind is _Kind.EMPTY or (
                unit.kind is _Kind.OPEN and _local(unit.name) in VOID_ELEMENTS
            )
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
        elif ch == "*":
            unit = self._star(i, final)
        elif ch in "`~" and (i == 0 or self._buf[i - 1] == "\n"):
            unit = self._fence(i, final)
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
        if name in REASONING_ELEMENTS and not closing and not selfclosing:
            close = buf.find(f"</{name}>", end)
            if close < 0:  # never spoken: wait for its end (at the end of the reply, all of it)
                return _Unit(_Kind.OPAQUE, len(buf)) if final else _WAIT
            return _Unit(_Kind.OPAQUE, close + len(name) + 3)
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

    def _direction(self, i: int, j: int, bracket: bool):
        """The unit of the stage direction ``buf[i:j]`` (its words inside), or ``"text"``."""
        words = self._buf[i + 1 : j - 1]
        if bracket and self._is_emotion(words.strip()):
            return _Unit(_Kind.CUE, j, name=words.strip())
        kind = direction_kind(words, self._space, bracket=bracket)
        if kind == "cue":
            return _Unit(_Kind.CUE, j, name=words.strip())
        return "text" if kind == "text" else _Unit(_Kind.OPAQUE, j)

    def _bracket(self, i: int, final: bool):
        buf = self._buf
        j = i + 1
        while j < len(buf) and j - i - 1 <= MAX_CUE_CHARS:
            ch = buf[j]
            if ch == "]":
                if buf[j - 1] in TERMINATORS:  # "[Applause.]": its stop ends a sentence, as in plain text
                    return "text"
                if j == i + 1 or buf[j + 1 : j + 2] == "(" or (j + 1 == len(buf) and not final):
                    return _WAIT if j + 1 == len(buf) and not final else "text"  # a link's text
                return self._direction(i, j + 1, bracket=True)
            if ch in "[<>&\n":
                return "text"
            j += 1
        return _WAIT if j - i - 1 <= MAX_CUE_CHARS else "text"

    def _paren(self, i: int, final: bool):
        buf = self._buf
        j = i + 1
        if j < len(buf) and not (("a" <= buf[j] <= "z") or ("A" <= buf[j] <= "Z")):
            return "text"
        while j < len(buf) and j - i - 1 <= MAX_PAREN_CHARS:
            ch = buf[j]
            if ch == ")":
                return self._direction(i, j + 1, bracket=False)
            if not (("a" <= ch <= "z") or ("A" <= ch <= "Z") or ch in " '-"):
                return "text"
            j += 1
        return _WAIT if j - i - 1 <= MAX_PAREN_CHARS else "text"

    def _star(self, i: int, final: bool):
        """``*laughs*``: a stage direction between single asterisks, or one character of text."""
        buf = self._buf
        if buf[i + 1 : i + 2] in ("*", " ", "\t", "\n") or (i > 0 and buf[i - 1] == "*"):
            return "text" if i + 1 < len(buf) or final else _WAIT
        j = i + 1
        while j < len(buf) and j - i - 1 <= MAX_PAREN_CHARS:
            ch = buf[j]
            if ch == "*":
                if buf[j + 1 : j + 2] == "*" or buf[j - 1].isspace():
                    return "text"
                return self._direction(i, j + 1, bracket=False)
            if ch in "\n<[":
                return "text"
            j += 1
        return _WAIT if j == len(buf) and not final and j - i - 1 <= MAX_PAREN_CHARS else "text"

    def _fence(self, i: int, final: bool):
        """A fenced code block (```…``` or ~~~…~~~ from a line start): one unit, never cut."""
        buf = self._buf
        mark = buf[i] * 3
        if buf[i : i + 3] != mark:
            return _WAIT if len(buf) - i < 3 and mark.startswith(buf[i:]) and not final else "text"
        close = buf.find("\n" + mark, i + 3)
        while close >= 0:
            end = buf.find("\n", close + 4)
            if end < 0:
                rest = buf[close + 4 :]
                if not rest.strip():
                    return _Unit(_Kind.OPAQUE, len(buf), words=True) if final else _WAIT
            elif not buf[close + 4 : end].strip():
                return _Unit(_Kind.OPAQUE, end, words=True)
            close = buf.find("\n" + mark, close + 4)
        return _Unit(_Kind.OPAQUE, len(buf), words=True) if final else _WAIT


@functools.cache
def _builtin_space() -> EmotionSpace:
    """The built-in presets, read once (only looked up, never changed)."""
    return EmotionSpace(load_builtin_presets())
