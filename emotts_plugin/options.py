"""Per-call options: :class:`SpeechOptions`, what one caller may set for one input.

The load-time :class:`~emotts_plugin.config.Config` says how the synthesizer is set up; a
:class:`SpeechOptions` says how one input is spoken, and is passed as one object through every
entry point (``Synthesizer.stream/plan/synthesize``, the HTTP routes, telephony prompts, the
chatbot speaker). ``None`` means "the configuration's value". Variants are made with
:func:`dataclasses.replace`, which checks the new value as the constructor does.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Mapping

from .config import MarkupMode
from .errors import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from .emotion import EmotionVector
    from .reference import Analysis

#: Allowed range of each bounded numeric option (inclusive).
RANGES: dict[str, tuple[float, float]] = {
    "intensity": (0.0, 1.0),
    "transition_ms": (0, 5000),
    "sample_rate": (8000, 96000),
    "speed": (0.25, 4.0),
    "reference_weight": (0.0, 1.0),
}

#: Options that override the load-time configuration field of the same name.
CONFIG_FIELDS = ("voice", "emotion", "intensity", "transition_ms")


@dataclass(frozen=True, slots=True)
class SpeechOptions:
    """How one input is spoken; every field optional (``None``: the configuration's value)."""

    voice: str | None = None
    """Voice for text whose markup names none; the configured voice when ``None``."""
    emotion: str | None = None
    """Emotion (label, alias or ``label:weight`` mixture) of text outside emotion markup;
    the configured emotion when ``None``."""
    intensity: float | None = None
    """Intensity 0..1 of ``emotion``; the configured intensity when ``None``."""
    transition_ms: float | None = None
    """Glide time 0..5000 ms at emotion changes (0 switches glides off); configured when ``None``."""
    mode: MarkupMode | str | None = None
    """``strict`` or ``lenient`` markup reading; the configured mode when ``None``."""
    seed: int | None = None
    """Seed of the voice's noise; when ``None`` each sentence's content seeds it, so the same
    sentence is said the same way (and comes from the cache the second time)."""
    sample_rate: int | None = None
    """Output rate 8000..96000 Hz; the default voice's own rate when ``None`` (utterances in
    other voices are resampled to it)."""
    speed: float = 1.0
    """Speaking-rate factor 0.25..4 composed over every segment (pauses shrink by the same factor)."""
    reference: EmotionVector | Analysis | None = None
    """The manner of a reference recording (:func:`emotts_plugin.reference.analyze`, or its
    vector), blended into every segment's emotion."""
    reference_weight: float = 1.0
    """0..1, how far towards ``reference`` (1: its manner alone)."""

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every field's type and range.

        :raises ConfigError: naming the field (``.key``) and its value.
        """
        for name in ("voice", "emotion"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ConfigError(f"{name} must be a string, got {value!r}", key=name)
        for name in ("seed", "sample_rate"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
                raise ConfigError(f"{name} must be an integer, got {value!r}", key=name)
        for name, (low, high) in RANGES.items():
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ConfigError(f"{name} must be a number, got {value!r}", key=name)
            if math.isnan(value) or not low <= value <= high:
                raise ConfigError(f"{name} must be within {low:g}..{high:g}, got {value!r}", key=name)
        if self.mode is not None:
            try:
                MarkupMode(self.mode)
            except ValueError:
                allowed = ", ".join(m.value for m in MarkupMode)
                raise ConfigError(f"mode must be one of {allowed}, got {self.mode!r}", key="mode") from None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "SpeechOptions":
        """Options from a mapping of field names (JSON, a flow file); values are checked.

        :raises ConfigError: for a key that is no field (naming it, its value and the allowed
            set) or a bad value.
        """
        return with_changes(None, data)

    def config_changes(self) -> dict[str, Any]:
        """The load-time configuration fields these options override (those not ``None``)."""
        values = {name: getattr(self, name) for name in CONFIG_FIELDS}
        return {name: value for name, value in values.items() if value is not None}


def with_changes(options: SpeechOptions | None, changes: Mapping[str, Any]) -> SpeechOptions:
    """``options`` (all defaults when ``None``) with the fields in ``changes`` replaced: how every
    entry point reads ``(options=None, **changes)``.

    :raises ConfigError: for a key that is no field (naming it, its value and the allowed set)
        or a bad value.
    """
    base = SpeechOptions() if options is None else options
    if not changes:
        return base
    allowed = [field.name for field in dataclasses.fields(SpeechOptions)]
    for key, value in changes.items():
        if key not in allowed:
            message = f"unknown option {key!r} (value {value!r}); allowed: {', '.join(allowed)}"
            raise ConfigError(message, key=key)
    return dataclasses.replace(base, **changes)
