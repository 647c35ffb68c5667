"""Markup bytes → text, in the encoding the bytes say they are in.

What decides the encoding, first match wins (XML 1.0 §4.3.3 and Appendix F, RFC 7303 §3):

1. a byte-order mark (UTF-8, UTF-16 LE/BE, UTF-32 LE/BE);
2. a ``charset`` given beside the bytes (an HTTP ``Content-Type``);
3. UTF-16 or UTF-32 without a mark, seen in the first bytes of ``<?xml`` (Appendix F), then the
   XML declaration's ``encoding="…"``, read in whatever the first bytes turned out to be;
4. UTF-8.

A name the other sources give that disagrees with the one used adds a warning. A declaration of
ISO-8859-1 is read as Windows-1252 when its bytes 0x80-0x9F hold characters (``€ Š “ ” œ``),
as web browsers do (WHATWG Encoding Standard, the ``iso-8859-1`` label), with a warning; and
Windows-1252 is the WHATWG's, whose five bytes Python's ``cp1252`` leaves out are C1 controls.

Bytes that do not decode are an error in strict mode naming the byte, its offset, line and
column. In lenient mode they are read another way, with one warning and no letter dropped: as
UTF-8 when the whole input is UTF-8 after all, else each such byte as Windows-1252 (which holds
Latin-1); for UTF-16/32 input, a broken unit becomes U+FFFD.

The text keeps its XML declaration (the parser blanks it); a byte-order mark is removed.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from emotts_plugin.errors import MarkupError

#: Byte-order marks, longest first (a UTF-32 LE mark begins like a UTF-16 LE one).
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le", "UTF-32LE"),
    (codecs.BOM_UTF32_BE, "utf-32-be", "UTF-32BE"),
    (codecs.BOM_UTF8, "utf-8", "UTF-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le", "UTF-16LE"),
    (codecs.BOM_UTF16_BE, "utf-16-be", "UTF-16BE"),
)
#: ``<?xml`` in UTF-16/32 without a byte-order mark: its first four bytes (XML 1.0 Appendix F).
_SNIFFED = (
    (b"<\0\0\0", "utf-32-le", "UTF-32LE"),
    (b"\0\0\0<", "utf-32-be", "UTF-32BE"),
    (b"<\0?\0", "utf-16-le", "UTF-16LE"),
    (b"\0<\0?", "utf-16-be", "UTF-16BE"),
)
#: How much of the input the declaration is looked for in.
_HEAD_BYTES = 1024
_DECLARATION = re.compile(r"\A\s*<\?xml\b[^>]*\?>")
_ENCODING = re.compile(r"""\sencoding\s*=\s*(?:"(?P<dq>[^"]*)"|'(?P<sq>[^']*)')""")
#: XML 1.0 production [81] EncName.
_ENC_NAME = re.compile(r"[A-Za-z][A-Za-z0-9._-]*\Z")
#: Windows-1252 as the WHATWG Encoding Standard defines it: its five holes are the C1 controls.
_WINDOWS_1252 = {
    0x80 + i: (bytes([0x80 + i]).decode("cp1252", "ignore") or chr(0x80 + i)) for i in range(0x20)
}
#: Lone surrogates ``surrogateescape`` leaves for undecodable bytes → the bytes as Windows-1252.
_ESCAPED_AS_1252 = {0xDC00 + byte: bytes([byte]).decode("latin-1") for byte in range(0x80, 0x100)}
_ESCAPED_AS_1252.update({0xDC00 + byte: char for byte, char in _WINDOWS_1252.items()})
_ESCAPED = re.compile("[\udc80-\udcff]")
_HINT = 'declare the encoding (encoding="…" in the XML declaration or charset=…)'


@dataclass(frozen=True, slots=True)
class _Choice:
    """An encoding and what named it."""

    codec: str
    """Python's codec name, endianness resolved (``utf-16-le``, never ``utf-16``)."""
    label: str
    """The name shown to people (as the source wrote it)."""
    source: str
    """``"bom"``, ``"charset"``, ``"sniffed"``, ``"declaration"`` or ``"default"``."""


def decode_markup(
    data: bytes, *, charset: str | None = None, strict: bool = False, where: str = "input"
) -> tuple[str, list[str]]:
    """Decode markup bytes in the encoding they declare.

    :param data: the markup (or plain text) as it came from a file, a pipe or a request body.
    :param charset: the encoding given beside the bytes (``Content-Type: …; charset=…``); a
        byte-order mark still wins over it.
    :param strict: bytes that do not decode are a :class:`MarkupError` (else repaired with a warning).
    :param where: what the bytes are, for messages (``"standard input"``, a file name, ``"request body"``).
    :returns: the text (XML declaration kept, byte-order mark removed) and the warnings, each a
        sentence; those about a place start with ``line L, column C:``.
    :raises MarkupError: an encoding name that is not a text encoding Python knows (either mode),
        or, in strict mode, bytes that are not valid in the encoding used.
    """
    warnings: list[str] = []
    start, used = _from_bom(data)
    if used is not None and charset is not None and _conflicts(charset, used.codec):
        warnings.append(
            f"the charset {charset[:40]!r} given with {where} is not what its byte-order mark says, "
            f"{used.label}; read as {used.label}"
        )
    if used is None and charset is not None:
        used = _Choice(_codec(charset, f"the charset {charset!r} given with {where}"), charset, "charset")
        if _family(used.codec) in {"utf-16", "utf-32"}:
            used = _unmarked(data, used)
    if used is None:
        used = _sniff(data)
    declared, line, column = _declared_encoding(data[start:], used.codec if used else "latin-1")
    if declared is not None:
        named = f"the XML declaration of {where} names encoding {declared!r}"
        if used is None:
            codec = _codec(declared, named, line, column)
            used = _Choice(codec, declared, "declaration")
            if _family(codec) in {"utf-16", "utf-32"}:
                # the declaration was just read as ASCII: the bytes cannot be UTF-16/32
                warnings.append(
                    f"line {line}, column {column}: {named}, but it is written in single bytes; read as UTF-8"
                )
                used = _Choice("utf-8", "UTF-8", "default")
        elif _conflicts(declared, used.codec):
            what = {
                "bom": "its byte-order mark",
                "charset": "the charset given with it",
                "sniffed": "its first bytes (no byte-order mark)",
            }[used.source]
            warnings.append(
                f"line {line}, column {column}: {named}, but {what} says {used.label}; read as {used.label}"
            )
    if used is None:
        used = _Choice("utf-8", "UTF-8", "default")
    body = data[start:]
    try:
        if used.codec == "cp1252":  # Python's leaves five bytes undefined; the WHATWG's does not
            text = body.decode("latin-1").translate(_WINDOWS_1252)
        else:
            text = body.decode(used.codec)
    except UnicodeDecodeError as exc:
        if strict:
            raise _undecodable(body, exc, used, where) from None
        text, warning = _repair(body, exc, used, where)
        warnings.append(warning)
    else:
        if _family(used.codec) == "latin-1" and re.search("[\x80-\x9f]", text):
            count = len(re.findall("[\x80-\x9f]", text))
            text = text.translate(_WINDOWS_1252)
            warnings.append(
                f"{where} is declared {used.label}, where bytes 0x80-0x9F are control characters; "
                f"its {count} such byte{'s' if count != 1 else ''} read as Windows-1252, as web "
                "browsers do (€, “, ”, œ …)"
            )
    return text, warnings


def _from_bom(data: bytes) -> tuple[int, _Choice | None]:
    for bom, codec, label in _BOMS:
        if data.startswith(bom):
            return len(bom), _Choice(codec, label, "bom")
    return 0, None


def _sniff(data: bytes) -> _Choice | None:
    for prefix, codec, label in _SNIFFED:
        if data.startswith(prefix):
            return _Choice(codec, label, "sniffed")
    return None


def _unmarked(data: bytes, given: _Choice) -> _Choice:
    """UTF-16/32 named by a charset, without a byte-order mark: the endianness the first
    character shows (an ASCII character has its zero bytes first in big-endian), else big-endian
    (RFC 2781 §4.3)."""
    family = _family(given.codec)
    if given.codec != family:  # utf-16-le and the like name their endianness
        return given
    unit = 2 if family == "utf-16" else 4
    head = data[:unit]
    little = len(head) == unit and head[0] != 0 and not any(head[1:])
    return _Choice(f"{family}-{'le' if little else 'be'}", given.label, given.source)


def _declared_encoding(data: bytes, codec: str) -> tuple[str | None, int, int]:
    """The ``encoding`` of the XML declaration at the start of ``data`` (read in ``codec``), and
    the line and column of its value; ``None`` when there is no declaration or it names none."""
    unit = 4 if _family(codec) == "utf-32" else 2 if _family(codec) == "utf-16" else 1
    if unit == 1:
        codec = "latin-1"  # the declaration is ASCII in every encoding that keeps ASCII
    head = data[: _HEAD_BYTES * unit].decode(codec, "replace")
    declaration = _DECLARATION.match(head)
    if declaration is None:
        return None, 1, 1
    found = _ENCODING.search(declaration.group())
    if found is None:
        return None, 1, 1
    group = "dq" if found.group("dq") is not None else "sq"
    before = head[: declaration.start() + found.start(group)]
    return found.group(group), before.count("\n") + 1, len(before) - before.rfind("\n")


def _codec(name: str, named: str, line: int | None = None, column: int | None = None) -> str:
    """Python's codec for an encoding name, or a :class:`MarkupError` saying who named it."""
    problem = None
    if not _ENC_NAME.match(name):
        problem = "which is not an encoding name"
    else:
        try:
            codec = codecs.lookup(name).name
            b"\0\0\0\0".decode(codec)  # bytes-to-bytes codecs (base64, zlib) are no text encodings
        except UnicodeDecodeError:
            pass
        except LookupError:
            problem = "which is not a text encoding Python knows"
    if problem is not None:
        raise MarkupError(
            f"{named[:200]}, {problem} (for example UTF-8, UTF-16, ISO-8859-1 or windows-1252)",
            line=line,
            column=column,
        )
    return codec


def _family(codec: str) -> str:
    """The encoding a codec name reads as, endianness and byte-order mark aside."""
    name = codecs.lookup(codec).name
    for family in ("utf-8", "utf-16", "utf-32"):
        if name.startswith(family):
            return family
    return "latin-1" if name in {"iso8859-1", "latin-1"} else name


def _conflicts(declared: str, codec: str) -> bool:
    try:
        return _family(declared) != _family(codec)
    except (LookupError, ValueError):
        return True


def _position(body: bytes, offset: int, codec: str) -> tuple[int, int]:
    """1-based line and column (in characters) of byte ``offset``, whose bytes before decode."""
    before = body[:offset].decode(codec, "replace")
    return before.count("\n") + 1, len(before) - before.rfind("\n")


def _undecodable(body: bytes, exc: UnicodeDecodeError, used: _Choice, where: str) -> MarkupError:
    line, column = _position(body, exc.start, used.codec)
    hint = {
        "default": _HINT,
        "declaration": f'the XML declaration says encoding="{used.label}": correct it or save the text '
        f"as {used.label}",
        "charset": f"the charset {used.label!r} given with it is not the encoding it is in",
    }.get(used.source, "the text is damaged")
    return MarkupError(
        f"byte 0x{body[exc.start]:02X} (offset {exc.start}) of {where} is not valid {used.label}; {hint}",
        line=line,
        column=column,
    )


def _repair(body: bytes, exc: UnicodeDecodeError, used: _Choice, where: str) -> tuple[str, str]:
    """Lenient reading of bytes that are not valid in ``used``: the text and its one warning."""
    line, column = _position(body, exc.start, used.codec)
    found = f"line {line}, column {column}: {where} is not valid {used.label} (byte 0x{body[exc.start]:02X})"
    if used.source == "default":
        found += " and declares no encoding"
    if _family(used.codec) in {"utf-16", "utf-32"}:
        text = body.decode(used.codec, "replace")
        return text, f"{found}; each broken character read as U+FFFD"
    if used.codec != "utf-8":
        try:
            return body.decode("utf-8"), f"{found}; it is valid UTF-8, so read as UTF-8"
        except UnicodeDecodeError:
            pass
    try:
        text = body.decode(used.codec, "surrogateescape")
    except UnicodeDecodeError:  # a broken multi-byte sequence that takes an ASCII byte with it
        text = body.decode(used.codec, "replace")
        return text, f"{found}; each broken character read as U+FFFD"
    count = len(_ESCAPED.findall(text))
    text = text.translate(_ESCAPED_AS_1252)
    bytes_ = f"its {count} such bytes" if count != 1 else "that byte"
    return text, f"{found}; {bytes_} read as Windows-1252 (Latin-1)"
