"""Pre-parse scan: hostile-input checks, lenient repair, and tag positions.

Before lxml sees a byte, :func:`scan` walks the input once with a small
tokenizer. It refuses what must never reach an XML parser (DOCTYPE and entity
declarations, oversize input, nesting beyond the limit, control characters in
strict mode) and records the offset of every start tag, so errors and warnings
can name a line and column in the caller's text.

In lenient mode the same walk also *repairs* what chat models write: bare
``&`` and ``<``, unknown entities, unquoted attributes, unclosed and
mismatched tags, bracket cues such as ``[happy]`` and stage directions such as
``(sighs)``. Each repair adds one warning; no character of text is dropped.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

from emotts_plugin.emotion import EmotionSpace
from emotts_plugin.errors import HostileInputError
from emotts_plugin.plan import ParseWarning

from . import chat

_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b", re.IGNORECASE)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_XML_DECL = re.compile(r"\A\ufeff?\s*<\?xml\b[^>]*\?>")
_NAME = r"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?"
_ATTR = re.compile(
    rf"\s+(?P<name>{_NAME})\s*=\s*(?:\"(?P<dq>[^\"<]*)\"|'(?P<sq>[^'<]*)'|(?P<bare>[^\s\"'<>=/`]+))"
)
_TOKEN_BODY = rf"""
    (?P<comment><!--.*?-->)
  | (?P<cdata><!\[CDATA\[.*?\]\]>)
  | (?P<pi><\?.*?\?>)
  | (?P<tag></?(?P<tagname>{_NAME})
      (?P<attrs>(?:\s+{_NAME}\s*=\s*(?:"[^"<]*"|'[^'<]*'|[^\s"'<>=/`]+))*)
      \s*(?P<selfclose>/?)>)
  | (?P<lt><)
  | (?P<amp>&(?:(?P<entity>[A-Za-z_][\w.\-]*)|\#(?P<dec>[0-9]{{1,8}})|\#[xX](?P<hex>[0-9A-Fa-f]{{1,7}}))?;?)
  | (?P<gt>>)
"""
_CUE = r"""
  | (?P<cue>\[(?P<bracket>[^\[\]<>&\n]{1,60})\]|\((?P<paren>[A-Za-z][A-Za-z' -]{0,40})\))
"""
#: Markup tokens (strict mode, and the parser's last-resort text fallback).
TOKEN = re.compile(_TOKEN_BODY + _CUE, re.DOTALL | re.VERBOSE)
#: Lenient mode: the chat stage's tokens (:mod:`.chat`) around the markup tokens; reasoning blocks
#: and code fences are tried before tags, so a tag inside them is not read as markup.
LENIENT_TOKEN = re.compile(
    chat.FIRST
    + "(?:(?:"
    + chat.BEFORE_TAGS
    + ") | "
    + _TOKEN_BODY.replace("(?P<lt><)", chat.AFTER_TAGS + "  | (?P<lt><)")
    + _CUE
    + ")",
    re.DOTALL | re.VERBOSE | re.MULTILINE,
)
_PREDEFINED = {"amp", "lt", "gt", "quot", "apos"}
#: Kinds of open element on the repairer's stack.
TAG, CUE, CHAT = "tag", "cue", "chat"


@dataclass(slots=True)
class Scanned:
    """What :func:`scan` hands to the XML stage."""

    xml: str
    """Text ready for a strict XML parser (repaired in lenient mode)."""
    starts: list[int] = field(default_factory=list)
    """Offset in the *original* input of each start tag of ``xml``, in document order."""
    warnings: list[ParseWarning] = field(default_factory=list)
    """One warning per repair."""
    line_starts: list[int] = field(default_factory=list)
    """Offsets at which lines of the original input begin."""

    def position(self, offset: int) -> tuple[int, int]:
        """1-based (line, column) of an offset in the original input."""
        line = bisect.bisect_right(self.line_starts, offset)
        return line, offset - self.line_starts[line - 1] + 1

    def warn(self, message: str, offset: int) -> None:
        line, column = self.position(offset)
        self.warnings.append(ParseWarning(message, line, column))


def check_size(text: str, max_bytes: int) -> None:
    """Refuse input larger than ``max_bytes`` UTF-8 bytes, before any other work."""
    if len(text) > max_bytes or (
        len(text) * 4 > max_bytes and len(text.encode("utf-8", "surrogatepass")) > max_bytes
    ):
        size = len(text.encode("utf-8", "surrogatepass"))
        raise HostileInputError(
            f"input is {size:,} bytes; the limit is {max_bytes:,} (limits.max_input_bytes)", line=1, column=1
        )


def _line_starts(text: str) -> list[int]:
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


def scan(
    text: str,
    *,
    strict: bool,
    max_bytes: int,
    max_depth: int,
    space: EmotionSpace,
) -> Scanned:
    """Check and (in lenient mode) repair ``text`` for the XML stage.

    :param text: the caller's markup or plain text.
    :param strict: report problems as :class:`MarkupError` instead of repairing them.
    :param max_bytes: size limit (UTF-8 bytes).
    :param max_depth: element nesting limit.
    :param space: the emotion space (cue and stage-direction words are read in it).
    :raises HostileInputError: for input refused in either mode.
    :raises MarkupError: in strict mode, for control characters.
    """
    check_size(text, max_bytes)
    out = Scanned(xml="", line_starts=_line_starts(text))
    declaration = _DECLARATION.search(text)
    if declaration:
        line, column = out.position(declaration.start())
        kind = declaration.group(1).upper()
        raise HostileInputError(
            f"<!{kind}> declarations are not accepted (they allow entity expansion and external references)",
            line=line,
            column=column,
        )
    control = _CONTROL.search(text)
    if control and strict:
        line, column = out.position(control.start())
        raise HostileInputError(
            f"control character U+{ord(control.group()):04X} is not allowed in markup",
            line=line,
            column=column,
        )
    return _Repairer(text, out, strict, max_depth, space).run()


class _Repairer:
    """One pass over the input producing XML text, start offsets and warnings."""

    def __init__(self, text: str, out: Scanned, strict: bool, max_depth: int, space: EmotionSpace) -> None:
        self.text = text
        self.out = out
        self.strict = strict
        self.max_depth = max_depth
        self.space = space
        self.pieces: list[str] = []
        # open elements: (name, offset, kind) — kind is TAG (the input's), CUE (ends at the next cue
        # or its enclosing element) or CHAT (the chat stage's, closed by it)
        self.stack: list[tuple[str, int, str]] = []
        self._last = ""  # the last character of text written
        self.chat = None if strict else chat.ChatStage(self)

    def warn(self, message: str, offset: int) -> None:
        """A warning at ``offset`` of the input."""
        self.out.warn(message, offset)

    def is_emotion(self, word: str) -> bool:
        """Whether ``word`` names an emotion (a label or alias) of the space."""
        return self.space.knows(word)

    def run(self) -> Scanned:
        text = self.text
        decl = _XML_DECL.match(text)
        pos = 0
        if decl:
            # keep line/column positions: the declaration becomes blank space
            self.pieces.append(re.sub(r"[^\n]", " ", decl.group()))
            pos = decl.end()
        pattern = TOKEN if self.strict else LENIENT_TOKEN
        while (match := pattern.search(text, pos)) is not None:
            if match.start() > pos:
                self._text(text[pos : match.start()], pos)
            if self.chat is not None:
                self.chat.before(match.start())
            pos = self._token(match)
        if pos < len(text):
            self._text(text[pos:], pos)
        if self.strict:
            self.out.xml = "".join(self.pieces)
            return self.out
        self.chat.before(len(text))
        while self.stack:
            name, offset, kind = self.stack.pop()
            if kind == TAG:
                self.out.warn(f"unclosed <{name}> closed at the end of the input", offset)
            self.pieces.append(f"</{name}>")
        self.out.xml = "".join(self.pieces)
        return self.out

    # -- pieces ---------------------------------------------------------------

    def _text(self, chunk: str, offset: int) -> None:
        if self.strict:
            self.pieces.append(chunk)
            return
        self.chat.before(offset)
        for at, inserts in self.chat.text_inserts(chunk, offset):
            self._text(chunk[: at - offset], offset)
            for insert in inserts:
                insert()
            chunk, offset = chunk[at - offset :], at
        control = _CONTROL.search(chunk)
        if control:
            self.out.warn(f"control character U+{ord(control.group()):04X} removed", offset + control.start())
            chunk = _CONTROL.sub("", chunk)
        self._write(chunk.replace(">", "&gt;"))

    # -- what the chat stage writes -------------------------------------------------

    def _write(self, text: str) -> None:
        self.pieces.append(text)
        stripped = text.rstrip()
        if stripped:
            self._last = stripped[-1]

    def add_text(self, text: str, offset: int) -> None:
        """Write generated or passed-on ``text`` (escaped for XML) at ``offset`` of the input."""
        del offset  # text carries no position
        self._write(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))

    def element(self, piece: str, offset: int) -> None:
        """Write an empty element (``<break time="300ms"/>``) standing for the input at ``offset``."""
        self.out.starts.append(offset)
        self.pieces.append(piece)

    def open_element(self, name: str, piece: str, offset: int, kind: str = CHAT) -> None:
        """Open an element (``piece`` is its start tag) that the chat stage closes."""
        self.out.starts.append(offset)
        self.stack.append((name, offset, kind))
        self._check_depth(offset)
        self.pieces.append(piece)

    def close_element(self, name: str) -> bool:
        """Close the chat element ``name`` if it is open on top (above cues only); whether it was."""
        above = 0
        for entry in reversed(self.stack):
            if entry[0] == name and entry[2] == CHAT:
                break
            if entry[2] != CUE:
                return False
            above += 1
        else:
            return False
        for _ in range(above + 1):
            self.pieces.append(f"</{self.stack.pop()[0]}>")
        return True

    def open_cue(self, weights: dict[str, float], prosody: str | None, offset: int) -> None:
        """An emotion (and prosody) lasting until the next cue or the end of the enclosing element."""
        while self.stack and self.stack[-1][2] == CUE:
            self.pieces.append(f"</{self.stack.pop()[0]}>")
        if weights:
            name = " ".join(
                f"{label}:{weight:g}" if weight != 1.0 else label for label, weight in weights.items()
            )
            self.open_element("emotion", f'<emotion name="{_quote(name)}">', offset, CUE)
        if prosody:
            self.open_element("prosody", f"<prosody {prosody}>", offset, CUE)

    def spoken_before(self) -> bool:
        """Whether any text has been written."""
        return bool(self._last)

    def last_spoken(self) -> str:
        """The last character of text written ('' before any)."""
        return self._last

    def in_markup(self) -> bool:
        """Whether an element of the input (not a cue or the chat stage's) is open."""
        return any(kind == TAG for _, _, kind in self.stack)

    def _token(self, m: re.Match[str]) -> int:
        """Handle one token; returns the offset where scanning resumes."""
        kind = m.lastgroup if m.lastgroup in {"comment", "cdata", "pi", "lt", "gt"} else None
        start = m.start()
        if self.chat is not None and m.lastgroup in chat.GROUPS:
            return self.chat.token(m)
        if m.group("tag"):
            self._tag(m)
        elif m.group("amp"):
            self._amp(m)
        elif m.group("cue"):
            if not self._cue(m):
                # not a cue: its opening bracket is text, and what is inside is scanned on
                self._text(m.group()[0], m.start())
                return m.start() + 1
        elif kind in {"comment", "pi"}:
            if self.strict:
                self.pieces.append(m.group())
            # comments and processing instructions carry no words: dropped
        elif kind == "cdata":
            if self.strict:
                self.pieces.append(m.group())
            else:
                self._text(m.group()[9:-3], start + 9)
        elif kind == "lt":
            if self.strict:
                self.pieces.append("<")
            else:
                self.out.warn("bare '<' read as text", start)
                self.pieces.append("&lt;")
        elif kind == "gt":
            self.pieces.append(">" if self.strict else "&gt;")
        return m.end()

    def _tag(self, m: re.Match[str]) -> None:
        raw = m.group()
        name = m.group("tagname")
        start = m.start()
        closing = raw.startswith("</")
        if closing:
            self._close(name, start, raw)
            return
        attrs = m.group("attrs") or ""
        if not self.strict:
            attrs = self._repair_attrs(name, attrs, start)
        self.out.starts.append(start)
        selfclose = bool(m.group("selfclose"))
        if not selfclose:
            self.stack.append((name, start, TAG))
            self._check_depth(start)
        self.pieces.append(f"<{name}{attrs}{'/' if selfclose else ''}>" if not self.strict else raw)

    def _repair_attrs(self, name: str, attrs: str, offset: int) -> str:
        seen: set[str] = set()
        parts = []
        for attr in _ATTR.finditer(attrs):
            key = attr.group("name")
            if key in seen:
                self.out.warn(f"duplicate attribute {key!r} on <{name}> dropped", offset)
                continue
            seen.add(key)
            value = attr.group("dq") if attr.group("dq") is not None else attr.group("sq")
            if value is None:
                value = attr.group("bare")
                self.out.warn(f"unquoted attribute value {key}={value} on <{name}> quoted", offset)
            value = _quote(value)
            parts.append(f' {key}="{value}"')
        return "".join(parts)

    def _check_depth(self, offset: int) -> None:
        if len(self.stack) > self.max_depth:
            line, column = self.out.position(offset)
            raise HostileInputError(
                f"elements nested deeper than {self.max_depth} levels (limits.max_depth)",
                line=line,
                column=column,
            )

    def _close(self, name: str, start: int, raw: str) -> None:
        if self.strict:
            if self.stack and self.stack[-1][0] == name:
                self.stack.pop()
            self.pieces.append(raw)
            return
        # cue emotions end where their enclosing element ends
        if not any(entry[0] == name and entry[2] == TAG for entry in self.stack):
            self.out.warn(f"closing tag </{name}> has no open <{name}>; removed", start)
            return
        while self.stack:
            open_name, offset, kind = self.stack.pop()
            self.pieces.append(f"</{open_name}>")
            if open_name == name and kind == TAG:
                return
            if kind == TAG:
                self.out.warn(f"<{open_name}> was not closed before </{name}>; closed there", offset)

    def _amp(self, m: re.Match[str]) -> None:
        raw = m.group()
        start = m.start()
        if self.strict:
            self.pieces.append(raw)
            return
        if raw.endswith(";"):
            entity = m.group("entity")
            if entity in _PREDEFINED:
                self.pieces.append(raw)
                return
            code = m.group("dec") or m.group("hex")
            if code is not None:
                value = int(code, 10 if m.group("dec") else 16)
                if 0 < value <= 0x10FFFF and not _CONTROL.match(chr(value)):
                    self.pieces.append(raw)
                    return
                self.out.warn(f"character reference {raw} names no usable character; read as text", start)
            else:
                self.out.warn(f"unknown entity {raw} read as text", start)
        else:
            self.out.warn("bare '&' read as text", start)
        self.pieces.append("&amp;" + raw[1:])

    def _cue(self, m: re.Match[str]) -> bool:
        """A bracket cue or stage direction (lenient mode); ``False`` if it is neither."""
        if self.strict:
            return False
        bracket = m.group("bracket")
        words = bracket if bracket is not None else m.group("paren")
        return self.chat.direction(m.group(), words, m.start(), bracket=bracket is not None)


def _quote(value: str) -> str:
    """``value`` ready for a double-quoted XML attribute."""
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")
