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
from typing import Callable

from emotts_plugin.errors import HostileInputError
from emotts_plugin.plan import ParseWarning

#: Stage directions read as a pause, in brackets or parentheses.
PAUSE_CUES = {
    "pause": 500,
    "short pause": 250,
    "long pause": 1000,
    "sigh": 500,
    "sighs": 500,
    "breath": 300,
    "breathes": 300,
    "inhales": 300,
    "laugh": 400,
    "laughs": 400,
    "chuckle": 300,
    "chuckles": 300,
    "clears throat": 400,
}

_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY|ELEMENT|ATTLIST|NOTATION)\b", re.IGNORECASE)
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff\ud800-\udfff]")
_XML_DECL = re.compile(r"\A\ufeff?\s*<\?xml\b[^>]*\?>")
_NAME = r"[A-Za-z_][\w.\-]*(?::[A-Za-z_][\w.\-]*)?"
_ATTR = re.compile(
    rf"\s+(?P<name>{_NAME})\s*=\s*(?:\"(?P<dq>[^\"<]*)\"|'(?P<sq>[^'<]*)'|(?P<bare>[^\s\"'<>=/`]+))"
)
TOKEN = re.compile(
    rf"""
    (?P<comment><!--.*?-->)
  | (?P<cdata><!\[CDATA\[.*?\]\]>)
  | (?P<pi><\?.*?\?>)
  | (?P<tag></?(?P<tagname>{_NAME})
      (?P<attrs>(?:\s+{_NAME}\s*=\s*(?:"[^"<]*"|'[^'<]*'|[^\s"'<>=/`]+))*)
      \s*(?P<selfclose>/?)>)
  | (?P<lt><)
  | (?P<amp>&(?:(?P<entity>[A-Za-z_][\w.\-]*)|\#(?P<dec>[0-9]{{1,8}})|\#[xX](?P<hex>[0-9A-Fa-f]{{1,7}}))?;?)
  | (?P<gt>>)
  | (?P<cue>\[(?P<bracket>[^\[\]<>&\n]{{1,40}})\]|\((?P<paren>[A-Za-z][A-Za-z ]{{0,20}})\))
    """,
    re.DOTALL | re.VERBOSE,
)
_PREDEFINED = {"amp", "lt", "gt", "quot", "apos"}


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
    is_emotion: Callable[[str], bool],
) -> Scanned:
    """Check and (in lenient mode) repair ``text`` for the XML stage.

    :param text: the caller's markup or plain text.
    :param strict: report problems as :class:`MarkupError` instead of repairing them.
    :param max_bytes: size limit (UTF-8 bytes).
    :param max_depth: element nesting limit.
    :param is_emotion: whether a bracket cue's word names an emotion.
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
    return _Repairer(text, out, strict, max_depth, is_emotion).run()


class _Repairer:
    """One pass over the input producing XML text, start offsets and warnings."""

    def __init__(
        self, text: str, out: Scanned, strict: bool, max_depth: int, is_emotion: Callable[[str], bool]
    ) -> None:
        self.text = text
        self.out = out
        self.strict = strict
        self.max_depth = max_depth
        self.is_emotion = is_emotion
        self.pieces: list[str] = []
        # open elements: (name, offset, is_cue)
        self.stack: list[tuple[str, int, bool]] = []

    def run(self) -> Scanned:
        text = self.text
        decl = _XML_DECL.match(text)
        pos = 0
        if decl:
            # keep line/column positions: the declaration becomes blank space
            self.pieces.append(re.sub(r"[^\n]", " ", decl.group()))
            pos = decl.end()
        while (match := TOKEN.search(text, pos)) is not None:
            if match.start() > pos:
                self._text(text[pos : match.start()], pos)
            pos = self._token(match)
        if pos < len(text):
            self._text(text[pos:], pos)
        if self.strict:
            self.out.xml = "".join(self.pieces)
            return self.out
        while self.stack:
            name, offset, is_cue = self.stack.pop()
            if not is_cue:
                self.out.warn(f"unclosed <{name}> closed at the end of the input", offset)
            self.pieces.append(f"</{name}>")
        self.out.xml = "".join(self.pieces)
        return self.out

    # -- pieces ---------------------------------------------------------------

    def _text(self, chunk: str, offset: int) -> None:
        if self.strict:
            self.pieces.append(chunk)
            return
        control = _CONTROL.search(chunk)
        if control:
            self.out.warn(f"control character U+{ord(control.group()):04X} removed", offset + control.start())
            chunk = _CONTROL.sub("", chunk)
        self.pieces.append(chunk.replace(">", "&gt;"))

    def _token(self, m: re.Match[str]) -> int:
        """Handle one token; returns the offset where scanning resumes."""
        kind = m.lastgroup if m.lastgroup in {"comment", "cdata", "pi", "lt", "gt"} else None
        start = m.start()
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
            self.stack.append((name, start, False))
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
            value = value.replace("&", "&amp;").replace('"', "&quot;").replace(">", "&gt;")
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
        names = [entry[0] for entry in self.stack]
        if name not in names or all(entry[2] for entry in self.stack if entry[0] == name):
            self.out.warn(f"closing tag </{name}> has no open <{name}>; removed", start)
            return
        while self.stack:
            open_name, offset, is_cue = self.stack.pop()
            self.pieces.append(f"</{open_name}>")
            if open_name == name and not is_cue:
                return
            if not is_cue:
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
        """Repair a bracket cue or stage direction; ``False`` if it is neither."""
        raw = m.group()
        start = m.start()
        word = (m.group("bracket") or m.group("paren") or "").strip()
        key = word.lower()
        if self.strict:
            return False
        if key in PAUSE_CUES:
            self.out.warn(f"stage direction {raw} read as a {PAUSE_CUES[key]} ms pause", start)
            self.out.starts.append(start)
            self.pieces.append(f'<break time="{PAUSE_CUES[key]}ms"/>')
            return True
        if m.group("bracket") is not None and self.is_emotion(word):
            if self.stack and self.stack[-1][2]:
                self.stack.pop()
                self.pieces.append("</emotion>")
            self.out.warn(f'bracket cue {raw} read as <emotion name="{word}">', start)
            self.out.starts.append(start)
            self.stack.append(("emotion", start, True))
            self._check_depth(start)
            safe = word.replace("&", "&amp;").replace('"', "&quot;")
            self.pieces.append(f'<emotion name="{safe}">')
            return True
        return False
