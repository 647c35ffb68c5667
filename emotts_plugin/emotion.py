"""The emotion space: prosody-delta vectors, presets (labels), intensity and mixing.

A point in the space is an :class:`EmotionVector` of deltas relative to a
voice's neutral reading. Additive dimensions (semitones, dB, 0..1 amounts)
scale and mix linearly; factor dimensions (``range``, ``rate``, ``pause``)
scale and mix in the log domain, so intensity 0.5 of a ×2 rate is ×√2.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import re
import unicodedata
from dataclasses import dataclass
from importlib import resources
from typing import Any, Iterable, Mapping

import yaml

from .config import load_shipped_yaml
from .errors import PresetError, UnknownEmotionError

#: Dimensions whose values are multiplicative factors (neutral = 1).
FACTOR_DIMS = frozenset({"range", "rate", "pause"})

#: The range each dimension may take once everything (emotion, ``<prosody>``, references, speed)
#: is composed: two octaves of pitch, a quarter to four times the rate, silence to +24 dB. Beyond
#: these the signal stages give noise or nothing (a +100 000 st request reached Praat as an error).
TARGET_BOUNDS: dict[str, tuple[float, float]] = {
    "pitch_st": (-24.0, 24.0),
    "range": (0.1, 4.0),
    "rate": (0.25, 4.0),
    "volume_db": (-60.0, 24.0),
    "tilt_db": (-24.0, 24.0),
    "breathiness": (0.0, 1.0),
    "contour": (-24.0, 24.0),
    "pause": (0.1, 10.0),
    "jitter": (0.0, 1.0),
}

#: Order of the IndexTTS2 emotion vector.
INDEXTTS2_ORDER = ("happy", "angry", "sad", "afraid", "disgusted", "melancholic", "surprised", "calm")

#: Order of PAD coordinates.
PAD_DIMS = ("pleasure", "arousal", "dominance")


@functools.cache
def _dims(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in dataclasses.fields(cls))


@dataclass(frozen=True, slots=True)
class EmotionVector:
    """Prosody deltas relative to the voice's neutral reading."""

    pitch_st: float = 0.0
    """Shift of the F0 level, in semitones."""
    range: float = 1.0
    """Factor on F0 excursions around the mean (log domain)."""
    rate: float = 1.0
    """Speaking-rate factor (> 1 is faster)."""
    volume_db: float = 0.0
    """Loudness change in dB."""
    tilt_db: float = 0.0
    """Spectral tilt change in dB/octave (+ brighter, − darker)."""
    breathiness: float = 0.0
    """Aperiodic energy mixed into voiced speech, 0..1 (1 = whisper)."""
    contour: float = 0.0
    """Phrase-final pitch movement in semitones (+ rising, − falling)."""
    pause: float = 1.0
    """Factor on pause lengths between phrases."""
    jitter: float = 0.0
    """Pitch irregularity / tremor, 0..1."""

    @classmethod
    def dims(cls) -> tuple[str, ...]:
        """Dimension names in their canonical order."""
        return _dims(cls)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, where: str = "vector") -> "EmotionVector":
        """Build from a mapping; missing dimensions stay neutral, unknown ones are an error."""
        allowed = cls.dims()
        values: dict[str, float] = {}
        for key, value in data.items():
            if key not in allowed:
                raise PresetError(
                    f"{where}: unknown dimension {key!r} (value {value!r}); allowed: {', '.join(allowed)}",
                    preset=where,
                )
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise PresetError(f"{where}: dimension {key!r} must be a number, got {value!r}", preset=where)
            if key in FACTOR_DIMS and value <= 0:
                raise PresetError(f"{where}: factor {key!r} must be > 0, got {value!r}", preset=where)
            values[key] = float(value)
        return cls(**values)

    def to_dict(self, ndigits: int | None = None) -> dict[str, float]:
        """Mapping of dimension → value, optionally rounded."""
        out = {}
        for name in self.dims():
            value = getattr(self, name)
            out[name] = round(value, ndigits) + 0.0 if ndigits is not None else value
        return out

    def to_log(self) -> tuple[float, ...]:
        """Coordinates in which scaling and mixing are linear (factors as logs)."""
        return tuple(
            math.log(getattr(self, name)) if name in FACTOR_DIMS else getattr(self, name)
            for name in self.dims()
        )

    @classmethod
    def from_log(cls, coords: Iterable[float]) -> "EmotionVector":
        """Inverse of :meth:`to_log`."""
        values = {
            name: (math.exp(c) if name in FACTOR_DIMS else c)
            for name, c in zip(cls.dims(), coords, strict=True)
        }
        return cls(**values)

    def scaled(self, intensity: float) -> "EmotionVector":
        """The point ``intensity`` of the way from neutral to this one."""
        return EmotionVector.from_log(c * intensity for c in self.to_log())

    def clamped(self) -> tuple["EmotionVector", tuple[str, ...]]:
        """This vector with every dimension brought within :data:`TARGET_BOUNDS`, and the names
        of the dimensions that had to be moved (non-finite values become neutral)."""
        values: dict[str, float] = {}
        moved: list[str] = []
        for name in self.dims():
            low, high = TARGET_BOUNDS[name]
            value = getattr(self, name)
            bounded = min(high, max(low, value)) if math.isfinite(value) else getattr(NEUTRAL, name)
            if bounded != value:
                moved.append(name)
            values[name] = bounded
        return (EmotionVector(**values), tuple(moved)) if moved else (self, ())

    def compose(self, other: "EmotionVector") -> "EmotionVector":
        """Apply ``other``'s deltas on top of this vector (adds offsets, multiplies factors)."""
        return EmotionVector.from_log(a + b for a, b in zip(self.to_log(), other.to_log(), strict=True))


NEUTRAL = EmotionVector()


@dataclass(frozen=True, slots=True)
class Preset:
    """An emotion label: an anchor point of the space with its names."""

    name: str
    """Canonical label, lowercase."""
    vector: EmotionVector
    """The point at intensity 1.0."""
    aliases: tuple[str, ...] = ()
    """Other names that mean this label (vendor styles, other languages)."""
    description: str = ""
    """One line for people choosing a preset."""
    pad: tuple[float, float, float] = (0.0, 0.0, 0.0)
    """Pleasure, arousal, dominance in [-1, 1]; used to name PAD points."""
    indextts2: tuple[float, ...] = (0.0,) * 8
    """IndexTTS2 emotion vector in :data:`INDEXTTS2_ORDER`."""

    _KEYS = ("name", "description", "vector", "pad", "indextts2", "aliases")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, source: str = "preset") -> "Preset":
        """Build from the YAML shape; unknown or missing keys are a :class:`PresetError`."""
        if not isinstance(data, Mapping):
            raise PresetError(f"{source}: a preset must be a mapping, got {data!r}", preset=source)
        for key in data:
            if key not in cls._KEYS:
                raise PresetError(
                    f"{source}: unknown key {key!r} (value {data[key]!r}); allowed: {', '.join(cls._KEYS)}",
                    preset=source,
                )
        for key in ("name", "vector"):
            if key not in data:
                raise PresetError(f"{source}: missing required key {key!r}", preset=source)
        name = normalise_name(str(data["name"]))
        pad = data.get("pad", {})
        if not isinstance(pad, Mapping) or set(pad) - set(PAD_DIMS):
            raise PresetError(
                f"{source}: pad must map {', '.join(PAD_DIMS)} to numbers, got {pad!r}", preset=source
            )
        index = tuple(float(v) for v in data.get("indextts2", (0.0,) * 8))
        if len(index) != len(INDEXTTS2_ORDER):
            raise PresetError(f"{source}: indextts2 needs 8 values, got {len(index)}", preset=source)
        aliases = data.get("aliases", [])
        if not isinstance(aliases, list):
            raise PresetError(f"{source}: aliases must be a list, got {aliases!r}", preset=source)
        return cls(
            name=name,
            vector=EmotionVector.from_dict(data["vector"], where=f"{source}: vector"),
            aliases=tuple(normalise_name(str(a)) for a in aliases),
            description=str(data.get("description", "")),
            pad=tuple(float(pad.get(d, 0.0)) for d in PAD_DIMS),
            indextts2=index,
        )

    def to_dict(self) -> dict[str, Any]:
        """The YAML shape of this preset."""
        return {
            "name": self.name,
            "description": self.description,
            "vector": self.vector.to_dict(),
            "pad": dict(zip(PAD_DIMS, self.pad)),
            "indextts2": list(self.indextts2),
            "aliases": list(self.aliases),
        }


def normalise_name(name: str) -> str:
    """Lookup form of an emotion name: NFKC, lowercase, trimmed."""
    return unicodedata.normalize("NFKC", name).strip().lower()


_INTENSITY_WORDS = {"low": 0.33, "medium": 0.66, "high": 1.0, "x-low": 0.2, "x-high": 1.0}
_MIX_ITEM = re.compile(r"^(?P<name>[^:=\s]+)\s*(?:[:=]\s*(?P<weight>\S+))?$")


def parse_intensity(value: str | float) -> float:
    """Read an intensity: a number 0..1, a percentage, or ``low|medium|high``."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        number = float(value)
    else:
        text = str(value).strip().lower()
        if text in _INTENSITY_WORDS:
            return _INTENSITY_WORDS[text]
        try:
            number = float(text[:-1]) / 100.0 if text.endswith("%") else float(text)
        except ValueError:
            raise ValueError(
                f"intensity {value!r} is not a number 0..1, a percentage or one of low, medium, high"
            ) from None
    if not 0.0 <= number <= 1.0 or math.isnan(number):
        raise ValueError(f"intensity {value!r} is outside 0..1 (0%..100%)")
    return number


class EmotionSpace:
    """All known presets, name lookup, and the mapping of weights to vectors."""

    def __init__(self, presets: Iterable[Preset]) -> None:
        self._presets: dict[str, Preset] = {}
        self._names: dict[str, str] = {}
        for preset in presets:
            self.add(preset)
        if "neutral" not in self._presets:
            self.add(Preset(name="neutral", vector=NEUTRAL, description="The voice's own reading."))

    def add(self, preset: Preset) -> None:
        """Register a preset; a name or alias already taken by another label is an error."""
        if preset.name in self._presets:
            raise PresetError(f"preset {preset.name!r} is defined twice", preset=preset.name)
        for name in (preset.name, *preset.aliases):
            owner = self._names.get(name)
            if owner is not None and owner != preset.name:
                raise PresetError(
                    f"preset {preset.name!r}: name {name!r} already belongs to {owner!r}", preset=preset.name
                )
        self._presets[preset.name] = preset
        for name in (preset.name, *preset.aliases):
            self._names[name] = preset.name

    @property
    def labels(self) -> tuple[str, ...]:
        """Canonical labels, in registration order."""
        return tuple(self._presets)

    def preset(self, label: str) -> Preset:
        """The preset of a name or alias."""
        return self._presets[self.resolve(label)]

    def resolve(self, name: str) -> str:
        """Canonical label for a name or alias; :class:`UnknownEmotionError` if none."""
        key = normalise_name(name)
        label = (
            self._names.get(key)
            or self._names.get(key.replace("_", "-"))
            or self._names.get(key.replace("-", "_"))
        )
        if label is None:
            raise UnknownEmotionError(
                f"unknown emotion {name!r}; known labels: {', '.join(sorted(self._presets))} "
                "(aliases: see `emotts emotions`)",
                name=name,
            )
        return label

    def knows(self, name: str) -> bool:
        """Whether ``name`` is a label or an alias."""
        try:
            self.resolve(name)
        except UnknownEmotionError:
            return False
        return True

    def parse_mixture(self, spec: str) -> dict[str, float]:
        """Read ``"happy"`` or ``"happy:0.6 surprised:0.3"`` into {label: weight}."""
        weights: dict[str, float] = {}
        items = [item for item in re.split(r"[\s,;]+", spec.strip()) if item]
        if not items:
            raise UnknownEmotionError("empty emotion name", name=spec)
        for item in items:
            match = _MIX_ITEM.match(item)
            if match is None:
                raise UnknownEmotionError(f"cannot read emotion {item!r} in {spec!r}", name=item)
            label = self.resolve(match["name"])
            weight = parse_intensity(match["weight"]) if match["weight"] is not None else 1.0
            weights[label] = weights.get(label, 0.0) + weight
        return weights

    def normalise_weights(self, weights: Mapping[str, float]) -> dict[str, float]:
        """Canonical weights: summed per label, normalised when they exceed 1, neutral dropped."""
        merged: dict[str, float] = {}
        for name, weight in weights.items():
            if weight < 0:
                raise ValueError(f"emotion weight for {name!r} must be >= 0, got {weight!r}")
            label = self.resolve(name)
            merged[label] = merged.get(label, 0.0) + float(weight)
        total = sum(merged.values())
        if total > 1.0:
            merged = {label: weight / total for label, weight in merged.items()}
        return {label: weight for label, weight in merged.items() if label != "neutral" and weight > 0}

    def vector(self, weights: Mapping[str, float]) -> EmotionVector:
        """The point for a weighted mixture of labels (weights already include intensity)."""
        coords = [0.0] * len(EmotionVector.dims())
        for label, weight in self.normalise_weights(weights).items():
            for i, c in enumerate(self._presets[label].vector.to_log()):
                coords[i] += weight * c
        return EmotionVector.from_log(coords)

    def from_pad(self, pleasure: float, arousal: float, dominance: float) -> dict[str, float]:
        """Weights of the labels nearest to a PAD point (each coordinate in [-1, 1]).

        The two nearest non-neutral anchors share the weight in inverse proportion
        to their distance; the total is the point's distance from the origin
        relative to the nearest anchor's, capped at 1 (the origin is neutral).
        """
        point = (pleasure, arousal, dominance)
        for name, value in zip(PAD_DIMS, point):
            if not -1.0 <= value <= 1.0:
                raise ValueError(f"PAD {name} must be within -1..1, got {value!r}")
        norm = math.dist(point, (0.0, 0.0, 0.0))
        if norm < 1e-6:
            return {}
        ranked = sorted(
            (math.dist(point, p.pad), p.name)
            for p in self._presets.values()
            if p.name != "neutral" and any(p.pad)
        )[:2]
        if not ranked:
            return {}
        inverse = [(1.0 / max(d, 1e-6), name) for d, name in ranked]
        total_inverse = sum(w for w, _ in inverse)
        nearest = self._presets[ranked[0][1]]
        scale = min(1.0, norm / max(math.dist(nearest.pad, (0.0, 0.0, 0.0)), 1e-6))
        return {name: round(scale * w / total_inverse, 6) for w, name in inverse}


def load_builtin_presets() -> list[Preset]:
    """The presets shipped in ``presets/*.yaml``, in file-name order (neutral first)."""
    folder = resources.files("emotts_plugin.presets")
    presets = []
    for entry in sorted(folder.iterdir(), key=lambda e: (e.name != "neutral.yaml", e.name)):
        if entry.name.endswith(".yaml"):
            data = load_shipped_yaml(entry.read_text(encoding="utf-8"))
            presets.append(Preset.from_dict(data, source=entry.name))
    return presets


def load_preset_text(text: str, *, source: str) -> Preset:
    """Parse one preset YAML document."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PresetError(f"{source}: not valid YAML: {exc}", preset=source) from exc
    return Preset.from_dict(data, source=source)
