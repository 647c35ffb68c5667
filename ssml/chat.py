"""What chat models write, read as a person would say it: the scanner's chat stage (lenient mode).

The lenient scanner (:mod:`.scan`) walks the input once with one token pattern; the patterns here
are the part of it for chat-model output, and :class:`ChatStage` turns each into markup or drops
it, keeping the caller's offsets for warnings. Decisions, each documented in the README:

- **Reasoning** ``<think>…</think>`` (also ``<thinking>``, ``<reasoning>``, and a reply that starts
  inside one and only closes it) is never spoken.
- **Emphasis** ``**x**``, ``__x__``, ``*x*``, ``_x_`` becomes ``<emphasis>``; a marker with no
  partner is dropped; ``~~x~~`` keeps its words; ``snake_case`` and ``2 * 3`` are left alone.
- **Structure**: a heading is its own phrase (a pause before and after), a list item starts
  with a short pause (its bullet or number is not spoken), a quote's ``>`` and a rule ``---`` are
  not spoken, a blank line after words with no sentence end is a pause.
- **Links** speak their text (``[text](url)``); images are not spoken; bare URLs and e-mail
  addresses are passed to the text stage whole (:mod:`.normalize` says them short).
- **Code**: inline code is read plainly (backticks dropped, ``_`` as a space); a fenced block is
  not read line by line: one sentence says there is a code example in the
  written reply.
- **Tables** are read row by row, each row a phrase of its cells; the separator row is dropped.
- **Stage directions** ``[whispers]``, ``[very happy]``, ``(sighs)``, ``*laughs*``, ``[in a
  calm voice]`` are read with :func:`.instructions.read_direction`: an emotion (with its degree:
  "very", "slightly") becomes that emotion until the next cue, speed, loudness and pitch words
  become ``<prosody>``, a non-verbal sound becomes a pause. A bracket that means nothing to it is
  dropped with a warning; parentheses that do not read fully as a direction are ordinary text.
- **Emoji** that carry a feeling colour the sentence they close (or open, at the start of a
  paragraph) like a cue of that emotion; every other emoji is dropped, never spelled.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from typing import Callable, Protocol

from emotts_plugin.emotion import EmotionSpace

from .instructions import DIRECTION_WORDS, SOUNDS, Direction, direction_kind, read_direction
from .sentences import EMOJI, EMOJI_CHARS, EMOJI_PATTERN, split_sentences

#: Where a token can start: at a line start, or at one of these characters (a quick test before the
#: alternatives are tried keeps the scan of long plain text fast).
FIRST = r"(?=^|[<&>\[(*_~`|!\n0-9\#hw" + EMOJI_CHARS + "])"
#: Token alternatives tried before markup tags (``re.VERBOSE``; ``#`` is escaped).
BEFORE_TAGS = r"""
    (?P<think><(?P<think_tag>think|thinking|reasoning)>.*?(?:</(?P=think_tag)>|\Z))
  | (?P<think_tail>\A(?:(?!<think>).){0,200000}?</think>)
  | (?P<autolink><(?P<autolink_url>(?:https?://|mailto:)[^\s<>]{1,2000})>)
  | (?P<fence>^[ \t]{0,3}(?P<fence_mark>```|~~~)[ \t]*(?P<fence_lang>[\w+\#.-]{0,30})[^\n]*
        (?:\n.*?(?:\n[ \t]{0,3}(?P=fence_mark)[ \t]*(?=\n|\Z)|\Z)|\Z))
"""
#: Token alternatives tried after markup tags and entities, before bracket cues.
AFTER_TAGS = (
    r"""
    (?P<table>(?:^[ \t]{0,3}\|[^\n]*\|[ \t]*(?:\n|\Z))+
      | ^[^\n|]*\|[^\n]*\n[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)+\|?[ \t]*(?:\n|\Z)
        (?:^[^\n]*\|[^\n]*(?:\n|\Z))*)
  | (?P<rule>^[ \t]{0,3}(?:(?:\*[ \t]*){3,}|(?:-[ \t]*){3,}|(?:_[ \t]*){3,}|(?:=[ \t]*){3,})(?=\n|\Z))
  | (?P<heading>^[ \t]{0,3}\#{1,6}[ \t]+)
  | (?P<bullet>^[ \t]*(?:[-*+•][ \t]+|\d{1,3}[.)][ \t]+|[0-9\#*]\uFE0F?\u20E3[ \t]*)(?:\[[ xX]\][ \t]+)?)
  | (?P<keycap>[0-9\#*]\uFE0F?\u20E3)
  | (?P<pipe>(?<=[ \t])\|(?=[ \t]))
  | (?P<quote>^[ \t]{0,3}>[ \t]?)
  | (?P<paragraph>\n[ \t]*\n\s*)
  | (?P<image>!\[[^\]\n]{0,200}\]\([^)\s]{1,2000}\))
  | (?P<link>\[(?P<link_text>[^\[\]\n]{1,200})\]
      \((?P<link_url>[^)\s]{0,2000}[/.:\#][^)\s]{0,2000})(?:[ \t]+"[^"\n]*")?\))
  | (?P<url>(?<![\w@/.])(?:https?://|www\.)[^\s<>"'\[\]()]*[^\s<>"'\[\]().,;:!?*_])
  | (?P<code>`{1,2}(?P<code_text>[^`\n]{1,500})`{1,2})
  | (?P<marker>\*{1,3}|(?<![\w])_{1,3}|_{1,3}(?![\w])|~~)
  | (?P<emoji>"""
    + EMOJI_PATTERN
    + """)
"""
)
#: The groups handled here.
GROUPS = frozenset(
    "think think_tail autolink fence table rule heading bullet keycap pipe quote paragraph image link url "
    "code marker emoji".split()
)

#: Emoji that carry a feeling → (label, intensity of one; two or more give 1.0).
FEELING_EMOJI: dict[str, tuple[str, float]] = {
    **dict.fromkeys("😊🙂😀😃😄😁😆😺☺😸", ("happy", 0.6)),
    **dict.fromkeys("😂🤣😹", ("happy", 0.9)),
    **dict.fromkeys("🤩🥳🎉🎊🙌🔥", ("excited", 0.6)),
    **dict.fromkeys("🥰😍😘❤💕💖💗🤗", ("gentle", 0.6)),
    **dict.fromkeys("😢😭😞😔☹🙁😿💔🥺", ("sad", 0.6)),
    **dict.fromkeys("😡😠🤬👿💢", ("angry", 0.6)),
    **dict.fromkeys("😱😨😰😧😟😬", ("afraid", 0.6)),
    **dict.fromkeys("😌😇🧘🕊", ("calm", 0.6)),
    **dict.fromkeys("😮😲🤯😯😳", ("surprised", 0.6)),
    **dict.fromkeys("🤢🤮😒🙄", ("disgusted", 0.5)),
}
#: What is said in place of a fenced code block.
CODE_SENTENCE = "There is a code example in the written reply."
#: Operators in inline code, said as words (longest first).
CODE_OPERATORS = (
    ("<=", " less than or equal to "),
    (">=", " greater than or equal to "),
    ("==", " equals "),
    ("!=", " is not equal to "),
    ("->", " to "),
    ("=>", " to "),
    ("<", " less than "),
    (">", " greater than "),
    ("_", " "),
)
#: Longest emphasis looked for: a marker whose partner is further away is dropped.
MAX_EMPHASIS_CHARS = 1000
#: Pauses (ms) the structure of a reply adds.
HEADING_PAUSE_MS = 400
ITEM_PAUSE_MS = 250
PARAGRAPH_PAUSE_MS = 300
RULE_PAUSE_MS = 400
CODE_PAUSE_MS = 300
#: Emphasis delimiters that pair with themselves.
_PAIRED = frozenset({"*", "**", "***", "_", "__", "___", "~~"})
_SENTENCE_END = frozenset(".!?…。！？:;")
_CELL_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")
_TABLE_SEPARATOR = re.compile(r"^[\s|:-]*-[\s|:-]*$")
_INLINE_MARKS = re.compile(r"\*{1,3}|(?<!\w)_{1,3}|_{1,3}(?!\w)|~~|`")


@dataclass(slots=True)
class _Emphasis:
    """An open markdown emphasis: its delimiter and the offset where its partner closes it."""

    mark: str
    closes_at: int
    element: bool


class Scanner(Protocol):
    """What the chat stage needs of the lenient scanner it is part of (:mod:`.scan`)."""

    text: str
    space: EmotionSpace

    def warn(self, message: str, offset: int) -> None: ...
    def is_emotion(self, word: str) -> bool: ...
    def add_text(self, text: str, offset: int) -> None: ...
    def element(self, piece: str, offset: int) -> None: ...
    def open_element(self, name: str, piece: str, offset: int) -> None: ...
    def close_element(self, name: str) -> bool: ...
    def open_cue(self, weights: dict[str, float], prosody: str | None, offset: int) -> None: ...
    def spoken_before(self) -> bool: ...
    def last_spoken(self) -> str: ...
    def in_markup(self) -> bool: ...


class ChatStage:
    """The chat-model part of one lenient scan; writes into the scanner's pieces and stack."""

    def __init__(self, scanner: Scanner) -> None:
        self.scanner = scanner
        self.text = scanner.text
        self._emphasis: list[_Emphasis] = []
        self._closing: dict[int, str] = {}  # offset of a partner delimiter → its mark
        self._closers: dict[str, list[int]] = {}  # mark → offsets where it could close
        #: what to write at offsets of the text, before the text there
        self.inserts: dict[int, list[Callable[[], None]]] = {}
        if EMOJI.search(self.text):
            self._colour_sentences()

    # -- entry points ---------------------------------------------------------------------------

    def token(self, m: re.Match[str]) -> int | None:
        """Handle a chat token; the offset where scanning resumes, or ``None`` to read it as text."""
        kind = m.lastgroup
        group = next(name for name in GROUPS if m.group(name) is not None) if kind not in GROUPS else kind
        return getattr(self, f"_{group}")(m)

    def direction(self, raw: str, words: str, start: int, *, bracket: bool) -> bool:
        """A stage direction ``raw`` (its ``words`` inside brackets, parentheses or asterisks).

        :return: whether it was taken as a direction (otherwise the caller reads it as text).
        """
        scanner = self.scanner
        stripped = words.strip()
        if bracket and scanner.is_emotion(stripped):  # a documented cue: [happy]
            scanner.open_cue({stripped: 1.0}, None, start)
            return True
        if direction_kind(words, scanner.space, bracket=bracket) == "text":
            return False
        if stripped.lower() in SOUNDS:
            scanner.element(f'<break time="{SOUNDS[stripped.lower()]}ms"/>', start)
            return True
        direction = read_direction(words, scanner.space) if DIRECTION_WORDS.fullmatch(words) else None
        if direction is None or direction.empty:
            scanner.warn(f"stage direction {raw} means nothing to emotts; dropped", start)
            return True
        if direction.unknown:
            scanner.warn(
                f"stage direction {raw}: {', '.join(direction.unknown)} not understood; "
                f"read as {', '.join(direction.understood)}",
                start,
            )
        self._apply(direction, start)
        return True

    def text_inserts(self, chunk: str, offset: int) -> list[tuple[int, list[Callable[[], None]]]]:
        """The inserts that fall inside ``chunk`` (at ``offset``), removed from the pending ones."""
        if not self.inserts:
            return []
        end = offset + len(chunk)
        found = sorted(
            ((at, writes) for at, writes in self.inserts.items() if offset < at < end),
            key=lambda item: item[0],
        )
        for at, _ in found:
            del self.inserts[at]
        return found

    def before(self, offset: int) -> None:
        """Write the inserts due before a token at ``offset``."""
        for at in sorted(at for at in self.inserts if at <= offset):
            for write in self.inserts.pop(at):
                write()

    # -- tokens ---------------------------------------------------------------------------------

    def _think(self, m: re.Match[str]) -> int:
        return m.end()

    _think_tail = _think

    def _fence(self, m: re.Match[str]) -> int:
        self.scanner.element(f'<break time="{CODE_PAUSE_MS}ms"/>', m.start())
        self.scanner.add_text(CODE_SENTENCE, m.start())
        self.scanner.element(f'<break time="{CODE_PAUSE_MS}ms"/>', m.start())
        return m.end()

    def _table(self, m: re.Match[str]) -> int:
        offset = m.start()
        for line in m.group().splitlines(keepends=True):
            if not _TABLE_SEPARATOR.match(line):
                cells = [_INLINE_MARKS.sub("", cell).strip() for cell in line.strip().strip("|").split("|")]
                cells = [_CELL_LINK.sub(r"\1", cell) for cell in cells]
                phrase = ", ".join(cell for cell in cells if cell)
                if phrase:
                    self.scanner.add_text(phrase + ("" if phrase[-1] in _SENTENCE_END else "."), offset)
                    self.scanner.element(f'<break time="{ITEM_PAUSE_MS}ms"/>', offset)
            offset += len(line)
        return m.end()

    def _rule(self, m: re.Match[str]) -> int:
        self.scanner.element(f'<break time="{RULE_PAUSE_MS}ms"/>', m.start())
        return m.end()

    def _heading(self, m: re.Match[str]) -> int:
        if m.start() > 0:
            self.scanner.element(f'<break time="{ITEM_PAUSE_MS}ms"/>', m.start())
        end = self.text.find("\n", m.end())
        end = len(self.text) if end == -1 else end
        pause = f'<break time="{HEADING_PAUSE_MS}ms"/>'
        self.inserts.setdefault(end, []).append(lambda: self.scanner.element(pause, end))
        return m.end()

    def _bullet(self, m: re.Match[str]) -> int:
        if self.scanner.spoken_before():
            self.scanner.element(f'<break time="{ITEM_PAUSE_MS}ms"/>', m.start())
        return m.end()

    def _quote(self, m: re.Match[str]) -> int:
        return m.end()

    def _paragraph(self, m: re.Match[str]) -> int:
        self.scanner.add_text("\n\n", m.start())
        last = self.scanner.last_spoken()
        if last and last not in _SENTENCE_END and not self.scanner.in_markup():
            self.scanner.element(f'<break time="{PARAGRAPH_PAUSE_MS}ms"/>', m.start())
        return m.end()

    def _image(self, m: re.Match[str]) -> int:
        return m.end()

    def _link(self, m: re.Match[str]) -> int:
        self.scanner.add_text(_INLINE_MARKS.sub("", m.group("link_text")), m.start())
        return m.end()

    def _url(self, m: re.Match[str]) -> int:
        self.scanner.add_text(m.group(), m.start())
        return m.end()

    def _code(self, m: re.Match[str]) -> int:
        code = m.group("code_text")
        for operator, words in CODE_OPERATORS:
            code = code.replace(operator, words)
        self.scanner.add_text(" ".join(code.split()), m.start())
        return m.end()

    def _autolink(self, m: re.Match[str]) -> int:
        self.scanner.add_text(m.group("autolink_url").removeprefix("mailto:"), m.start())
        return m.end()

    def _keycap(self, m: re.Match[str]) -> int:
        self.scanner.add_text(m.group()[0] if m.group()[0].isdigit() else "", m.start())
        return m.end()

    def _pipe(self, m: re.Match[str]) -> int:
        self.scanner.add_text(",", m.start())  # "Serves: 4 | Time: 20 min": a pause, not a word
        return m.end()

    def _emoji(self, m: re.Match[str]) -> int:
        return m.end()  # a feeling already coloured its sentence; nothing is spelled

    def _marker(self, m: re.Match[str]) -> int:
        mark, start = m.group(), m.start()
        text = self.text
        if self._closing.get(start) == mark:
            return self._close_emphasis(m)
        after = text[m.end()] if m.end() < len(text) else " "
        if (
            mark == "*"
            and _TIMES.search(text, max(0, start - 8), start)
            and _DIGIT_AFTER.match(text, m.end())
        ):
            self.scanner.add_text(" times ", start)  # 2 * 3
            return m.end()
        if not after.isspace() and mark in _PAIRED:
            close = self._partner(mark, m.end())
            if close is not None:
                inner = text[m.end() : close]
                if mark == "*" and self.direction(f"*{inner}*", inner, start, bracket=False):
                    return close + len(mark)
                element = mark != "~~"
                self._closing[close] = mark
                self._emphasis.append(_Emphasis(mark, close, element))
                if element:  # "~~struck~~" keeps its words and no emphasis
                    self.scanner.open_element("emphasis", "<emphasis>", start)
                return m.end()
        return m.end()  # a marker with no partner: dropped

    def _close_emphasis(self, m: re.Match[str]) -> int:
        del self._closing[m.start()]
        while self._emphasis:
            emphasis = self._emphasis.pop()
            if emphasis.element:
                self.scanner.close_element("emphasis")
            if emphasis.closes_at == m.start():
                break
        return m.end()

    def _partner(self, mark: str, start: int) -> int | None:
        """Offset of the delimiter closing ``mark`` opened just before ``start``, in its paragraph
        and within :data:`MAX_EMPHASIS_CHARS`."""
        text = self.text
        window = min(len(text), start + MAX_EMPHASIS_CHARS)  # bounded: a scan stays linear
        limit = text.find("\n\n", start, window)
        limit = window if limit == -1 else limit
        closers = self._closers.get(mark)
        if closers is None:  # every place this mark could close, found once per input
            pattern = re.escape(mark) if mark[0] != "_" else re.escape(mark) + r"(?!\w)"
            closers = [
                found.start()
                for found in re.finditer(rf"(?<=\S){pattern}(?!{re.escape(mark[0])})", text)
                if text[found.start() - 1] != mark[0]
            ]
            self._closers[mark] = closers
        index = bisect.bisect_left(closers, start)
        if index == len(closers) or closers[index] >= limit:
            return None
        at = closers[index]
        if "<" in text[start:at] or "\n" in text[start:at] and mark == "*":
            return None
        return at

    # -- emotions -------------------------------------------------------------------------------

    def _apply(self, direction: Direction, start: int) -> None:
        if direction.pause_ms:
            self.scanner.element(f'<break time="{direction.pause_ms}ms"/>', start)
        prosody = []
        if direction.rate != 1.0:
            prosody.append(f'rate="{round(direction.rate * 100)}%"')
        if direction.volume_db:
            prosody.append(f'volume="{direction.volume_db:+.1f}dB"')
        if direction.pitch_st:
            prosody.append(f'pitch="{direction.pitch_st:+.1f}st"')
        if direction.emotion or prosody:
            self.scanner.open_cue(dict(direction.emotion), " ".join(prosody) or None, start)

    def _colour_sentences(self) -> None:
        """Wrap each phrase (a sentence, or a line of a list) that a feeling emoji qualifies in a
        cue of that feeling: the phrase it ends, or the one before it when nothing but the emoji
        follows that phrase's end on its line."""
        text = self.text
        phrases, offset = [], 0
        for sentence in split_sentences(text):
            for line in sentence.splitlines(keepends=True):
                phrases.append((offset, offset + len(line)))
                offset += len(line)
        labels: dict[int, list[tuple[str, float]]] = {}
        for index, (first, end) in enumerate(phrases):
            for match in EMOJI.finditer(text, first, end):
                feelings = [FEELING_EMOJI[ch] for ch in match.group() if ch in FEELING_EMOJI]
                before = text[phrases[index - 1][0] : match.start()] if index else ""
                lone = not _has_words(text[first : match.start()])
                target = index - 1 if lone and index and "\n" not in before.rstrip(" \t")[-1:] else index
                if feelings:
                    labels.setdefault(target, []).extend(feelings)
        for index, found in labels.items():
            first, end = phrases[index]
            span = text[first:end]
            if "<" in span or "[" in span:
                continue  # the phrase has markup or cues of its own
            names = [name for name, _ in found]
            label = max(set(names), key=names.count)
            weight = 1.0 if names.count(label) > 1 else max(w for name, w in found if name == label)
            opening, closing = first + len(span) - len(span.lstrip()), first + len(span.rstrip())
            piece = f'<emotion name="{label}:{weight:g}">'
            self.inserts.setdefault(opening, []).append(
                lambda piece=piece, at=opening: self.scanner.open_element("emotion", piece, at)
            )
            self.inserts.setdefault(closing, []).insert(0, lambda: self.scanner.close_element("emotion"))


_TIMES = re.compile(r"\d[ \t]*\Z")
_DIGIT_AFTER = re.compile(r"[ \t]*\d")


def _has_words(text: str) -> bool:
    return any(ch.isalnum() for ch in text)
