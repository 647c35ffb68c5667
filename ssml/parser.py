"""Markup → :class:`~emotts_plugin.plan.Plan`.

The input is checked (and, in lenient mode, repaired) by :mod:`.scan`, wrapped
in a synthetic root that declares the vendor prefixes chat hosts leave
undeclared (``amazon:``, ``mstts:``, ``google:``, ``emo:``), parsed by a
hardened lxml parser built for this call, then walked once. The walk keeps the
scoped state (emotion, prosody, voice, language, emphasis) on a stack of
frozen :class:`Scope` frames and dispatches each element, by local name, to a
tag handler from the plugin-extensible table.
"""

from __future__ import annotations

import dataclasses
import enum
import html
import logging
import re
from dataclasses import dataclass
from typing import Mapping, Protocol

from lxml import etree

from emotts_plugin.config import Config, MarkupMode
from emotts_plugin.emotion import EmotionSpace, EmotionVector
from emotts_plugin.errors import MarkupError, UnknownEmotionError
from emotts_plugin.plan import Emphasis, ParseWarning, Plan, Segment

from .normalize import speak_english
from .scan import TOKEN, Scanned, scan

_LOGGER = logging.getLogger(__name__)

_ROOT = "emotts-root"
_PREFIXES = {
    "amazon": "urn:emotts:dialect:amazon",
    "mstts": "urn:emotts:dialect:mstts",
    "google": "urn:emotts:dialect:google",
    "emo": "http://www.w3.org/2009/10/emotionml",
    "emotionml": "http://www.w3.org/2009/10/emotionml",
}
_XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
#: Marks a word boundary around generated text. NUL never survives the scan
#: (refused in strict mode, removed in lenient mode), so it cannot come from input.
SOFT_SPACE = "\x00"
#: A space left before a stop where something between was dropped ("note [1] ." → "note.").
_SPACE_BEFORE_STOP = re.compile(r" +(?=[.,!?;:](?:\s|\Z))")
#: Where Polly's auto-breaths breathe: after a clause mark and the space after it.
_CLAUSE_END = re.compile(r"(?<=[,;:])\s+")
_SOFT_BEFORE_PUNCTUATION = re.compile("\x00+(?=[.,!?;:)\\]}\"'»”’])")


class TagAction(enum.Flag):
    """What the walker does around a handled element."""

    CONTENT = 0
    """Walk the element's text and children (the default)."""
    SKIP = enum.auto()
    """Do not walk the content: the handler produced what is spoken."""
    BOUNDARY = enum.auto()
    """End the current segment before and after the element."""


@dataclass(frozen=True, slots=True)
class Scope:
    """State in effect at a point of the markup; each element gets a copy."""

    emotion: tuple[tuple[str, float], ...] = ()
    """Canonical labels and weights (intensity included); empty is neutral."""
    prosody: EmotionVector = EmotionVector()
    """Explicit ``<prosody>`` deltas, composed over the emotion."""
    voice: str | None = None
    """Voice named by the markup."""
    lang: str = "en-US"
    """Language in effect."""
    emphasis: Emphasis | None = None
    """Emphasis level in effect."""
    transition_ms: int | None = None
    """Glide time asked for by the nearest emotion tag."""
    bleep: bool = False
    """Inside ``<say-as interpret-as="expletive">``: covered by a tone."""
    breaths_ms: int = 0
    """Inside Polly's ``<amazon:auto-breaths>``: a pause this long at each clause mark."""


class TagHandler(Protocol):
    """Called at an element's start; the walker restores the scope at its end."""

    def __call__(self, ctx: "ParseContext", element: etree._Element) -> TagAction | None: ...


class ParseContext:
    """What a tag handler may read and do while the markup is walked."""

    def __init__(self, scanned: Scanned, space: EmotionSpace, config: Config, strict: bool) -> None:
        self.space = space
        """The emotion space (presets, aliases, mixing)."""
        self.config = config
        """The configuration in effect."""
        self.strict = strict
        """Whether problems are errors (strict) or warnings (lenient)."""
        self._scanned = scanned
        self._positions: dict[etree._Element, int] = {}
        self._stack: list[Scope] = []
        self._buffer: list[str] = []
        self._buffer_scope: Scope | None = None
        self._segments: list[dict] = []
        self._break_before = 0
        self._marks: list[str] = []
        self._warnings: list[ParseWarning] = list(scanned.warnings)

    # -- scope ------------------------------------------------------------------

    @property
    def scope(self) -> Scope:
        """The scope in effect for the current element."""
        return self._stack[-1]

    def update(self, **changes: object) -> None:
        """Change the current element's scope (restored when the element ends)."""
        self._stack[-1] = dataclasses.replace(self._stack[-1], **changes)

    def set_emotion(
        self, weights: Mapping[str, float], transition_ms: int | None = None, *, enclosing: bool = False
    ) -> None:
        """Make ``weights`` (labels or aliases → weight incl. intensity) the emotion in scope.

        :param enclosing: also for the rest of the enclosing element (an EmotionML ``<emotion>``
            with no text of its own annotates the element it stands in).
        """
        normalised = self.space.normalise_weights(weights)
        changes = {
            "emotion": tuple(normalised.items()),
            "transition_ms": transition_ms if transition_ms is not None else self.scope.transition_ms,
        }
        self.update(**changes)
        if enclosing and len(self._stack) > 1:
            self._stack[-2] = dataclasses.replace(self._stack[-2], **changes)

    # -- output -----------------------------------------------------------------

    def text(self, text: str, *, separate: bool = False) -> None:
        """Add spoken text in the current scope.

        :param separate: keep it a separate word from neighbouring text (for
            generated words such as ``say-as`` expansions), without putting a
            space before following punctuation.
        """
        if not text:
            return
        if self.scope.breaths_ms and not separate:
            first, *rest = _CLAUSE_END.split(text)
            self._append(first)
            for part in rest:
                self.add_break(self.scope.breaths_ms)
                self._append(part)
            return
        self._append(f"{SOFT_SPACE}{text}{SOFT_SPACE}" if separate else text)

    def _append(self, text: str) -> None:
        """Add ``text`` to the pending segment (ending it first when the scope has changed)."""
        if not text:
            return
        scope = self.scope
        if scope != self._buffer_scope:
            if any(not piece.isspace() for piece in self._buffer):
                self.boundary()
            self._buffer_scope = scope
        self._buffer.append(text)

    def boundary(self) -> None:
        """End the current segment (no-op when nothing is pending)."""
        words = _SOFT_BEFORE_PUNCTUATION.sub("", "".join(self._buffer)).replace(SOFT_SPACE, " ").split()
        scope = self._buffer_scope
        self._buffer = []
        if not words or scope is None:
            return
        vector, _ = self.space.vector(dict(scope.emotion)).compose(scope.prosody).clamped()
        self._segments.append(
            {
                "text": _SPACE_BEFORE_STOP.sub("", " ".join(words)),
                "lang": scope.lang,
                "voice": scope.voice,
                "emotion": scope.emotion,
                "targets": vector,
                "break_before_ms": 0 if self._segments else self._break_before,
                "break_after_ms": 0,
                "emphasis": scope.emphasis,
                "marks": tuple(self._marks),
                "transition_ms": scope.transition_ms,
                "bleep": scope.bleep,
            }
        )
        self._marks = []

    def add_break(self, ms: int) -> None:
        """Silence of ``ms`` milliseconds at this point."""
        self.boundary()
        if self._segments and not self._marks:
            self._segments[-1]["break_after_ms"] += ms
        elif not self._segments:
            self._break_before += ms
        else:
            # a mark sits between the previous text and this break: keep order by
            # giving the pause to the text before the mark
            self._segments[-1]["break_after_ms"] += ms

    def add_mark(self, name: str) -> None:
        """A named ``<mark>`` at this point (reported at the start of the next segment)."""
        self.boundary()
        self._marks.append(name)

    # -- problems ---------------------------------------------------------------

    def position(self, element: etree._Element | None) -> tuple[int, int]:
        """1-based (line, column) of an element's start tag in the caller's input."""
        if element is None or element not in self._positions:
            line = element.sourceline if element is not None and element.sourceline else 1
            return line, 1
        return self._scanned.position(self._positions[element])

    def warn(self, message: str, element: etree._Element | None = None) -> None:
        """Record a warning at an element."""
        line, column = self.position(element)
        self._warnings.append(ParseWarning(message, line, column))

    def problem(self, message: str, element: etree._Element | None = None) -> None:
        """A markup problem: an error in strict mode, a warning in lenient mode."""
        if self.strict:
            line, column = self.position(element)
            raise MarkupError(message, line=line, column=column)
        self.warn(message, element)

    def emotion_weights(self, spec: str, element: etree._Element) -> dict[str, float] | None:
        """Read a name or mixture; an unknown name is a :meth:`problem` and gives ``None``."""
        try:
            return self.space.parse_mixture(spec)
        except (UnknownEmotionError, ValueError) as exc:
            self.problem(f"{exc}; spoken neutral" if not self.strict else str(exc), element)
            return None

    # -- walking ----------------------------------------------------------------

    def run(self, root: etree._Element, handlers: Mapping[str, TagHandler], base: Scope) -> Plan:
        elements = [el for el in root.iter() if isinstance(el.tag, str)][1:]
        if len(elements) == len(self._scanned.starts):
            self._positions = dict(zip(elements, self._scanned.starts))
        self._stack.append(base)
        self._walk_content(root, handlers)
        self.boundary()
        self._stack.pop()
        if self._marks:
            if self._segments:
                self._segments[-1]["marks"] += tuple(self._marks)
            else:
                self.warn(f"mark(s) {', '.join(self._marks)} have no text to attach to; dropped")
        for index, seg in enumerate(self._segments):
            if seg["lang"][:2].lower() == "en":  # the words a person would say: "Doctor", "three PM"
                following = self._segments[index + 1]["text"] if index + 1 < len(self._segments) else ""
                seg["spoken"] = speak_english(seg["text"], following=following)
        for seg in self._segments:
            seg["text"] = seg.pop("spoken", seg["text"])
        segments = tuple(
            Segment(**{**seg, "emotion": tuple((k, v) for k, v in seg["emotion"])}) for seg in self._segments
        )
        return Plan(segments=segments, warnings=tuple(self._warnings))

    def _walk_content(self, element: etree._Element, handlers: Mapping[str, TagHandler]) -> None:
        if element.text:
            self.text(element.text)
        for child in element:
            if isinstance(child.tag, str):
                self._walk(child, handlers)
            if child.tail:
                self.text(child.tail)

    def _walk(self, element: etree._Element, handlers: Mapping[str, TagHandler]) -> None:
        name = etree.QName(element).localname
        self._stack.append(self.scope)
        lang = element.get(_XML_LANG)
        if lang:
            self.update(lang=lang)
        handler = handlers.get(name)
        if handler is None:
            self.problem(f"unknown element <{_display_name(element)}> ignored; its text is kept", element)
            action = TagAction.CONTENT
        else:
            action = handler(self, element) or TagAction.CONTENT
        if action & TagAction.BOUNDARY:
            self.boundary()
        if not action & TagAction.SKIP:
            self._walk_content(element, handlers)
        if action & TagAction.BOUNDARY:
            self.boundary()
        self._stack.pop()


def _display_name(element: etree._Element) -> str:
    return (
        element.prefix + ":" + etree.QName(element).localname
        if element.prefix
        else etree.QName(element).localname
    )


def _xml_parser() -> etree.XMLParser:
    """A parser that cannot fetch, expand or grow anything; built per call."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        recover=False,
        remove_comments=True,
        remove_pis=True,
        strip_cdata=True,
        collect_ids=False,
        attribute_defaults=False,
        compact=True,
    )


def _wrap(xml: str) -> tuple[str, int]:
    declarations = " ".join(f'xmlns:{prefix}="{uri}"' for prefix, uri in _PREFIXES.items())
    head = f"<{_ROOT} {declarations}>"
    return f"{head}{xml}</{_ROOT}>", len(head)


def parse(
    text: str,
    *,
    space: EmotionSpace,
    handlers: Mapping[str, TagHandler],
    config: Config | None = None,
    mode: MarkupMode | str | None = None,
) -> Plan:
    """Read markup or plain text into a plan.

    :param text: SSML (any supported dialect), a fragment, or plain text.
    :param space: the emotion space resolving names.
    :param handlers: tag handlers by local element name.
    :param config: defaults (language, base emotion, limits); plugin.yaml defaults when ``None``.
    :param mode: ``"strict"`` or ``"lenient"``; the configured mode when ``None``.
    :raises HostileInputError: input refused before parsing (both modes).
    :raises MarkupError: strict mode only, with ``line`` and ``column``.
    """
    if not isinstance(text, str):
        raise TypeError(f"markup must be str, got {type(text).__name__}")
    config = config or Config()
    strict = MarkupMode(mode or config.markup_mode) is MarkupMode.STRICT
    scanned = scan(
        text,
        strict=strict,
        max_bytes=config.limits.max_input_bytes,
        max_depth=config.limits.max_depth,
        space=space,
    )
    wrapped, head = _wrap(scanned.xml)
    try:
        root = etree.fromstring(wrapped, _xml_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        if line == 1:
            column -= head
        message = exc.msg.split(", line ")[0] if exc.msg else str(exc)
        if strict:
            raise MarkupError(message, line=line, column=max(column, 1)) from None
        # the repaired text still failed: fall back to its words, markup removed
        _LOGGER.warning("lenient repair failed (%s); reading the input as plain text", message)
        scanned.warnings.append(
            ParseWarning(
                f"markup could not be repaired ({message}); read as plain text", line, max(column, 1)
            )
        )
        root = etree.Element(_ROOT)
        root.text = _strip_to_text(scanned.xml)
        scanned.starts = []
    weights = space.parse_mixture(config.emotion)
    base = Scope(
        lang=config.lang,
        emotion=tuple(space.normalise_weights({k: w * config.intensity for k, w in weights.items()}).items()),
    )
    ctx = ParseContext(scanned, space, config, strict)
    return ctx.run(root, handlers, base)


#: Characters an XML document cannot hold (C0 controls but tab and newlines, surrogates, U+FFFE/F).
_NOT_XML_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _strip_to_text(xml: str) -> str:
    """The words of repaired XML that lxml still refused (last-resort fallback; never raises).

    Tags and CDATA markers become spaces, entities are decoded, and characters XML cannot
    hold are dropped, so the result can be an element's text whatever the input was.
    """
    pieces = []
    pos = 0
    for match in TOKEN.finditer(xml):
        if match.group("tag"):
            pieces.append(xml[pos : match.start()] + " ")
            pos = match.end()
    pieces.append(xml[pos:])
    text = html.unescape("".join(pieces).replace("<![CDATA[", " ").replace("]]>", " "))
    return _NOT_XML_TEXT.sub("", text)
