"""The segment plan: what the parser hands to the renderer.

Its JSON form (:meth:`Plan.to_dict`) is a public contract documented in the
README under "The plan JSON"; change it only together with that section.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .emotion import EmotionVector


class Emphasis(str, enum.Enum):
    """SSML ``<emphasis level>`` values."""

    STRONG = "strong"
    MODERATE = "moderate"
    REDUCED = "reduced"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class ParseWarning:
    """A repair or an ignored construct, with its place in the input."""

    message: str
    """What was wrong and what was done about it."""
    line: int
    """1-based line in the input."""
    column: int
    """1-based column in the input."""

    def to_dict(self) -> dict[str, Any]:
        return {"message": self.message, "line": self.line, "column": self.column}

    def __str__(self) -> str:
        return f"line {self.line}, column {self.column}: {self.message}"


#: A segment's ``voice`` when its ``<voice>`` asked by language or gender, not by name
#: (``auto:female`` asks for a female voice): the synthesizer picks the nearest installed voice.
AUTO_VOICE = "auto"


def auto_voice_gender(voice: str | None) -> str | None:
    """The gender an :data:`AUTO_VOICE` request asks for (``""``: any); ``None`` for a named voice."""
    if not voice or voice.split(":")[0] != AUTO_VOICE:
        return None
    return voice.partition(":")[2]


@dataclass(frozen=True, slots=True)
class Segment:
    """A run of text spoken with one emotion, prosody, voice and language."""

    text: str
    """What will be spoken (say-as and sub already expanded), whitespace collapsed."""
    lang: str = "en-US"
    """BCP-47 language tag in effect."""
    voice: str | None = None
    """Voice named by ``<voice name>``; ``None`` means the configured default."""
    emotion: tuple[tuple[str, float], ...] = ()
    """Canonical labels with weights that include intensity; empty is neutral."""
    targets: EmotionVector = field(default_factory=EmotionVector)
    """The emotion vector composed with any explicit ``<prosody>``."""
    break_before_ms: int = 0
    """Silence before this segment (only set on the first segment)."""
    break_after_ms: int = 0
    """Silence after this segment (from ``<break>``)."""
    emphasis: Emphasis | None = None
    """``<emphasis>`` level in effect, if any."""
    marks: tuple[str, ...] = ()
    """``<mark>`` names placed at the start of this segment."""
    transition_ms: int | None = None
    """Glide time into this segment asked for by its tag; ``None`` uses the configured default."""
    bleep: bool = False
    """Rendered, then covered by a tone of its length (``<say-as interpret-as="expletive">``)."""

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape of one segment."""
        return {
            "text": self.text,
            "lang": self.lang,
            "voice": self.voice,
            "emotion": {label: round(weight, 4) for label, weight in self.emotion},
            "targets": self.targets.to_dict(ndigits=4),
            "break_before_ms": self.break_before_ms,
            "break_after_ms": self.break_after_ms,
            "emphasis": self.emphasis.value if self.emphasis is not None else None,
            "marks": list(self.marks),
            "bleep": self.bleep,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """Segments in speaking order plus the warnings collected while parsing."""

    segments: tuple[Segment, ...]
    """What to say, in order."""
    warnings: tuple[ParseWarning, ...] = ()
    """Repairs and ignored constructs (lenient mode), in input order."""

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape of the plan (see the README)."""
        return {
            "segments": [segment.to_dict() for segment in self.segments],
            "warnings": [warning.to_dict() for warning in self.warnings],
        }

    @property
    def text(self) -> str:
        """All spoken text, segments joined by spaces."""
        return " ".join(segment.text for segment in self.segments)
