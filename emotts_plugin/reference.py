"""Reference recordings: how someone speaks, measured into the emotion space.

A reference is a few seconds of speech by anyone. :func:`load_reference` reads and
checks it (WAV, FLAC, OGG or MP3; mono or stereo; 8–48 kHz; 2–30 s of sound once
leading and trailing silence are trimmed). :func:`measure` takes Praat measurements
of its manner — F0 level, range, slope and phrase-final movement, syllable rate,
pause ratio, loudness dynamics, spectral tilt, harmonics-to-noise ratio and jitter.
:func:`analyze` turns them into a point of the emotion space by comparing them with
the norms of neutral read speech in the speaker's pitch register (so a high voice is
not heard as excited, nor a low one as sad) and names the nearest labels.

Norms and the measured-to-vector gains live in ``models/reference.yaml``, fitted by
``benchmarks/reference.py --write``: the low register's norms are the neutral readings
of the two male voices we ship (recordings of real readers), the high register's the
Allison prompts of ``asterisk-core-sounds-en-wav``; the gains invert how far the
engine's own rendering moves each measurement per unit of the vector, so a vector
read from a reference renders back to the same measured deltas.

Timbre is never measured, so it is never copied: only the manner crosses over.
A recording's absolute level depends on the microphone, so ``volume_db`` is
inferred from vocal effort (the spectral tilt) rather than measured; the
phrase-final ``contour`` is measured and reported, but taken into the vector from
the nearest labels, because range and rate move the measured sentence ends more
than the contour itself does.
"""

from __future__ import annotations

import dataclasses
import io
import math
import os
from dataclasses import dataclass, field
from importlib import resources
from typing import Any, Mapping

import numpy as np
import soundfile
import yaml

from .emotion import FACTOR_DIMS, EmotionSpace, EmotionVector
from .errors import ReferenceAudioError
from .models.measure import f0_track, harmonicity_track, intensity_track, jitter_local, speech_span
from .plan import Plan

#: Bounds of what is accepted.
MIN_RATE, MAX_RATE = 8000, 48000
MIN_SPEECH_S, MAX_SPEECH_S = 2.0, 30.0
#: A file longer than this is refused before it is decoded (silence is trimmed from at most this much).
MAX_FILE_S = 60.0
#: Peak under this (−60 dBFS) is silence.
SILENCE_PEAK = 1e-3
#: Share of samples at full scale above which a recording is clipped throughout.
CLIPPED_SHARE = 0.05
#: Median F0 above which a speaker is in the high register.
REGISTER_SPLIT_HZ = 160.0
#: Voiced share (of the register norm's) under which speech is taken as whispered.
WHISPER_VOICING = 0.45
#: How many labels :func:`analyze` names.
NEAREST = 3

_F0_FLOOR, _F0_CEILING = 60.0, 500.0
_STEP = 0.01
_PAUSE_MIN_S = 0.15
_SENTENCE_GAP_S = 0.3
_LOUD_DB = 25.0
_SYLLABLE_PROMINENCE_DB = 2.0


# -- loading ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReferenceAudio:
    """A checked reference recording: mono float32, silence trimmed."""

    audio: np.ndarray
    """Shape ``(n,)``, float32 in [-1, 1]."""
    sample_rate: int
    """Its rate in Hz (the file's own)."""
    source: str
    """File name or upload name."""
    channels: int
    """Channels in the file (mixed down to mono)."""
    trimmed_s: tuple[float, float]
    """Seconds trimmed from the start and the end."""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def _fail(reason: str, source: str, message: str) -> ReferenceAudioError:
    return ReferenceAudioError(f"{source}: {message}", reason=reason, source=source)


def load_reference(data: str | os.PathLike[str] | bytes, *, source: str | None = None) -> ReferenceAudio:
    """Read and check a reference recording (a path, or the bytes of an upload).

    :raises ReferenceAudioError: with ``reason`` saying what is wrong — ``unreadable``
        (not audio libsndfile reads: WAV, FLAC, OGG, MP3), ``empty``, ``sample_rate``
        (outside 8–48 kHz), ``too_long``, ``too_short``, ``silent``, ``clipped``
        (clipped throughout), ``no_speech`` (sound without voiced speech).
    """
    if isinstance(data, (bytes, bytearray)):
        source = source or "upload"
        if not data:
            raise _fail("empty", source, "the file is empty (0 bytes)")
        opener: Any = io.BytesIO(bytes(data))
    else:
        source = source or os.fspath(data)
        try:
            size = os.path.getsize(data)
        except OSError as exc:
            raise _fail("unreadable", source, f"cannot read the file: {exc.strerror}") from None
        if size == 0:
            raise _fail("empty", source, "the file is empty (0 bytes)")
        opener = data
    try:
        with soundfile.SoundFile(opener) as handle:
            rate, channels, frames = handle.samplerate, handle.channels, handle.frames
            if not MIN_RATE <= rate <= MAX_RATE:
                raise _fail(
                    "sample_rate",
                    source,
                    f"sample rate {rate} Hz is outside {MIN_RATE}–{MAX_RATE} Hz; resample it first",
                )
            if frames > MAX_FILE_S * rate:
                raise _fail(
                    "too_long",
                    source,
                    f"{frames / rate:.1f} s long; a reference holds {MIN_SPEECH_S:g}–{MAX_SPEECH_S:g} s "
                    "of speech (cut a few sentences out)",
                )
            audio = handle.read(dtype="float32", always_2d=True)
    except soundfile.LibsndfileError as exc:
        raise _fail(
            "unreadable", source, f"not audio that can be read (WAV, FLAC, OGG or MP3): {exc.error_string}"
        ) from None
    except (RuntimeError, TypeError) as exc:
        raise _fail(
            "unreadable", source, f"not audio that can be read (WAV, FLAC, OGG or MP3): {exc}"
        ) from None
    mono = audio.mean(axis=1).astype(np.float32) if channels > 1 else audio[:, 0]
    if mono.size == 0:
        raise _fail("empty", source, "the file holds no samples")
    peak = float(np.max(np.abs(mono)))
    if peak < SILENCE_PEAK:
        raise _fail(
            "silent", source, f"the recording is silent (peak {20 * math.log10(max(peak, 1e-12)):.0f} dBFS)"
        )
    clipped = float(np.mean(np.abs(mono) >= 0.999))
    if clipped > CLIPPED_SHARE:
        raise _fail("clipped", source, f"{clipped:.0%} of the samples are at full scale: clipped throughout")
    if mono.size / rate < MIN_SPEECH_S:
        raise _fail(
            "too_short",
            source,
            f"{mono.size / rate:.2f} s long; a reference needs {MIN_SPEECH_S:g}–{MAX_SPEECH_S:g} s of speech",
        )
    start, end = speech_span(mono, rate)
    trimmed = mono[int(start * rate) : int(math.ceil(end * rate))]
    seconds = trimmed.size / rate
    if seconds < MIN_SPEECH_S:
        raise _fail(
            "too_short",
            source,
            f"{seconds:.2f} s of sound once silence is trimmed; "
            f"a reference needs {MIN_SPEECH_S:g}–{MAX_SPEECH_S:g} s",
        )
    if seconds > MAX_SPEECH_S:
        raise _fail(
            "too_long",
            source,
            f"{seconds:.1f} s of sound; a reference holds {MIN_SPEECH_S:g}–{MAX_SPEECH_S:g} s "
            "(cut a few sentences out)",
        )
    return ReferenceAudio(trimmed, int(rate), source, int(channels), (start, mono.size / rate - end))


# -- measuring --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Measurements:
    """What Praat measures of a recording's manner (absolute values, not deltas)."""

    duration_s: float
    """Length analysed (silence at the edges trimmed)."""
    f0_median_hz: float
    """Median F0 of voiced frames."""
    f0_range_st: float
    """90th minus 10th percentile of voiced F0, in semitones."""
    f0_slope_st_per_s: float
    """Linear trend of F0 over the recording (declination), semitones per second."""
    final_movement_st: float
    """F0 movement over the last 0.45 s of each sentence, averaged (+ rising, − falling)."""
    syllable_rate: float
    """Syllables per second of speaking time (voiced intensity peaks; pauses excluded)."""
    pause_ratio: float
    """Share of the time in pauses of 150 ms or more."""
    loudness_sd_db: float
    """Standard deviation of the intensity over speech (loudness dynamics)."""
    tilt_db_per_octave: float
    """Slope of the long-term spectrum from 250 Hz to 3.8 kHz."""
    hnr_db: float
    """Mean harmonics-to-noise ratio of voiced frames."""
    jitter_percent: float
    """Local jitter of the glottal periods."""
    voiced_fraction: float
    """Share of 10 ms frames that are voiced."""
    final_position_st: float = 0.0
    """Where sentences end relative to their median F0, averaged, in semitones (below 0: falling ends)."""
    tremor_st: float = 0.0
    """RMS of the 4–12 Hz modulation of F0 within voiced stretches, in semitones (shaky voice)."""

    def to_dict(self) -> dict[str, float]:
        return {name: round(float(getattr(self, name)), 4) for name in self.__slots__}


def measure(audio: np.ndarray, sample_rate: int) -> Measurements:
    """Praat measurements of ``audio`` (shape ``(n,)``, trimmed speech).

    :raises ReferenceAudioError: ``no_speech`` when nothing in it is voiced speech.
    """
    signal = np.asarray(audio, dtype=np.float64)
    times, f0 = f0_track(signal, sample_rate, time_step=_STEP, floor=_F0_FLOOR, ceiling=_F0_CEILING)
    voiced = f0 > 0
    itimes, idb = intensity_track(signal, sample_rate, time_step=_STEP)
    loud = idb >= idb.max() - _LOUD_DB
    syllables = _syllables(idb, itimes, times, voiced, loud)
    if np.count_nonzero(voiced) < 20 or len(syllables) < 3 or _modulation_db(idb, loud) < 2.0:
        raise ReferenceAudioError(
            "no voiced speech found (is it speech? noise, music and tones cannot be analysed)",
            reason="no_speech",
        )
    st = 12.0 * np.log2(f0[voiced] / 100.0)
    p10, p50, p90 = np.percentile(st, [10.0, 50.0, 90.0])
    pause_s = _pause_seconds(loud)
    duration = signal.size / sample_rate
    speaking = max(duration - pause_s, 1e-3)
    movement, position = _final_movement(times, f0)
    hnr = harmonicity_track(signal, sample_rate, time_step=_STEP, floor=75.0)
    jitter = jitter_local(signal, sample_rate, floor=_F0_FLOOR, ceiling=_F0_CEILING)
    return Measurements(
        duration_s=duration,
        f0_median_hz=float(100.0 * 2.0 ** (p50 / 12.0)),
        f0_range_st=float(p90 - p10),
        f0_slope_st_per_s=float(np.polyfit(times[voiced], st, 1)[0]),
        final_movement_st=movement,
        final_position_st=position,
        syllable_rate=len(syllables) / speaking,
        pause_ratio=pause_s / duration,
        loudness_sd_db=float(np.std(idb[loud])),
        tilt_db_per_octave=_tilt(signal, sample_rate),
        hnr_db=float(np.mean(hnr[hnr > -100])) if np.any(hnr > -100) else 0.0,
        jitter_percent=float(100.0 * jitter) if math.isfinite(jitter) else 0.0,
        voiced_fraction=float(np.mean(voiced)),
        tremor_st=_tremor(f0),
    )


def _syllables(
    idb: np.ndarray, itimes: np.ndarray, times: np.ndarray, voiced: np.ndarray, loud: np.ndarray
) -> list[int]:
    """Intensity peaks that stand 2 dB over their surroundings, are loud, and fall on voiced frames."""
    from scipy.signal import find_peaks

    peaks, _ = find_peaks(idb, prominence=_SYLLABLE_PROMINENCE_DB)
    at_voice = (
        np.interp(itimes[peaks], times, voiced.astype(np.float64)) > 0.5
        if times.size
        else np.zeros(len(peaks), bool)
    )
    return [int(p) for p, ok in zip(peaks, at_voice) if ok and loud[p]]


def _modulation_db(idb: np.ndarray, loud: np.ndarray) -> float:
    """Spread of intensity over loud frames: speech rises and falls with syllables, steady noise does not."""
    return float(np.std(idb[loud])) if np.any(loud) else 0.0


def _pause_seconds(loud: np.ndarray) -> float:
    run, total = 0, 0
    for is_loud in np.append(loud, True):
        if not is_loud:
            run += 1
            continue
        if run * _STEP >= _PAUSE_MIN_S:
            total += run
        run = 0
    return total * _STEP


def _final_movement(times: np.ndarray, f0: np.ndarray) -> tuple[float, float]:
    """``(movement, position)`` of sentence ends (where voicing stops for 300 ms, and the last one), averaged.

    ``movement``: F0 change over the last 0.45 s, in semitones. ``position``: where the last
    0.1 s sits relative to the sentence's median F0, in semitones.
    """
    voiced_times = times[f0 > 0]
    st = 12.0 * np.log2(f0[f0 > 0] / 100.0)
    breaks = np.flatnonzero(np.diff(voiced_times) >= _SENTENCE_GAP_S)
    starts = np.concatenate([[0], breaks + 1])
    stops = np.concatenate([breaks + 1, [voiced_times.size]])
    movements, positions = [], []
    for lo, hi in zip(starts, stops):
        times_s, st_s = voiced_times[lo:hi], st[lo:hi]
        if times_s.size < 10:
            continue
        end = times_s[-1]
        last = st_s[times_s > end - 0.1]
        first = st_s[(times_s > end - 0.5) & (times_s <= end - 0.35)]
        positions.append(float(np.mean(last) - np.median(st_s)))
        if first.size:
            movements.append(float(np.mean(last) - np.mean(first)))
    return (float(np.mean(movements)) if movements else 0.0, float(np.mean(positions)) if positions else 0.0)


def _tremor(f0: np.ndarray) -> float:
    """RMS in semitones of F0 movement faster than 4 Hz inside voiced runs of 0.2 s or more."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, [4.0, 12.0], btype="bandpass", fs=1.0 / _STEP, output="sos")
    voiced = np.append(f0 > 0, False)
    pieces, start = [], None
    for i, is_voiced in enumerate(voiced):
        if is_voiced and start is None:
            start = i
        elif not is_voiced and start is not None:
            if i - start >= 20:
                run = 12.0 * np.log2(f0[start:i] / 100.0)
                pieces.append(sosfiltfilt(sos, run - run.mean(), padlen=min(15, i - start - 1))[3:-3])
            start = None
    if not pieces:
        return 0.0
    return float(np.sqrt(np.mean(np.concatenate(pieces) ** 2)))


def _tilt(signal: np.ndarray, sample_rate: int) -> float:
    from scipy.signal import welch

    freqs, power = welch(signal, sample_rate, nperseg=int(sample_rate * 0.032))
    band = (freqs >= 250.0) & (freqs <= 3800.0)
    return float(np.polyfit(np.log2(freqs[band]), 10.0 * np.log10(power[band] + 1e-20), 1)[0])


# -- into the emotion space -------------------------------------------------------------

#: (measurement, emotion dimension, how the delta is taken) for each measured dimension.
_DELTAS = (
    ("f0_median_hz", "pitch_st", "st"),
    ("f0_range_st", "range", "log"),
    ("syllable_rate", "rate", "log"),
    ("pause_ratio", "pause", "log"),
    ("tilt_db_per_octave", "tilt_db", "linear"),
    ("hnr_db", "breathiness", "linear"),
    ("tremor_st", "jitter", "linear"),
)
#: Dimensions a recording's measurements cannot give back reliably: the engine's own phrase-final
#: movement is swamped in the measured final movement by range, rate and pitch (a +4 st contour
#: alone moves it +2.5 st; a preset's range moves it more), so the vector takes them from the
#: nearest labels, and the distance to labels leaves them out.
_FROM_LABELS = ("contour",)
#: Added to the pause ratio before its log (recordings without pauses).
_PAUSE_FLOOR = 0.02
#: Bounds of the vector read from a recording.
_BOUNDS = {
    "pitch_st": (-8.0, 8.0),
    "range": (0.4, 2.5),
    "rate": (0.6, 1.6),
    "pause": (0.5, 2.0),
    "tilt_db": (-8.0, 8.0),
    "breathiness": (0.0, 1.0),
    "jitter": (0.0, 1.0),
    "volume_db": (-12.0, 12.0),
}
#: Weight of each dimension in the distance to labels: how far apart (in the vector's log
#: coordinates) two readings must be to count as one unit; reliable measurements weigh more.
_DISTANCE_SCALE = {
    "pitch_st": 0.7,
    "range": 0.15,
    "rate": 0.1,
    "pause": 1.5,
    "tilt_db": 3.0,
    "breathiness": 0.1,
    "contour": math.inf,
    "jitter": 0.6,
    "volume_db": math.inf,
}
#: Whispered speech has no F0 to read: its pitch, range, loudness and voice quality are those of a whisper.
_WHISPER = {
    "pitch_st": 0.0,
    "range": 0.8,
    "volume_db": -12.0,
    "tilt_db": -2.0,
    "breathiness": 1.0,
    "jitter": 0.0,
}


@dataclass(frozen=True, slots=True)
class Norms:
    """What :func:`analyze` compares a recording with: neutral read speech per register, and the engine's
    gains."""

    registers: Mapping[str, Mapping[str, float]]
    """``low`` / ``high`` → measurement name → its neutral value."""
    gains: Mapping[str, float]
    """Emotion dimension → measured delta per unit of the dimension (log units for factors)."""
    volume_per_tilt: float
    """dB of ``volume_db`` inferred per dB/octave of ``tilt_db`` (vocal effort)."""

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Norms":
        return cls(
            registers={
                name: {k: float(v) for k, v in values.items()} for name, values in data["registers"].items()
            },
            gains={k: float(v) for k, v in data["gains"].items()},
            volume_per_tilt=float(data["volume_per_tilt"]),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "registers": {
                name: {k: round(v, 4) for k, v in values.items()} for name, values in self.registers.items()
            },
            "gains": {k: round(v, 4) for k, v in self.gains.items()},
            "volume_per_tilt": round(self.volume_per_tilt, 4),
        }


def load_norms() -> Norms:
    """The norms shipped in ``models/reference.yaml``."""
    text = resources.files("emotts_plugin.models").joinpath("reference.yaml").read_text(encoding="utf-8")
    return Norms.from_dict(yaml.safe_load(text))


def measured_deltas(measurements: Measurements, norm: Mapping[str, float]) -> dict[str, float]:
    """Emotion dimension → how far ``measurements`` are from ``norm`` (semitones, log ratios or plain
    differences)."""
    deltas = {}
    for name, dim, kind in _DELTAS:
        value, reference = getattr(measurements, name), norm[name]
        if kind == "st":
            deltas[dim] = 12.0 * math.log2(value / reference)
        elif kind == "log":
            floor = _PAUSE_FLOOR if dim == "pause" else 0.0
            deltas[dim] = math.log((value + floor) / (reference + floor))
        else:
            deltas[dim] = value - reference
    return deltas


def register_of(measurements: Measurements) -> str:
    """``high`` when the median F0 is over :data:`REGISTER_SPLIT_HZ`, else ``low``."""
    return "high" if measurements.f0_median_hz > REGISTER_SPLIT_HZ else "low"


@dataclass(frozen=True, slots=True)
class Analysis:
    """A recording's manner as a point of the emotion space."""

    vector: EmotionVector
    """The point: prosody deltas from a neutral reading."""
    nearest: Mapping[str, float]
    """The nearest labels with weights summing to 1, nearest first."""
    measurements: Measurements
    """What was measured."""
    register: str
    """``low`` or ``high``: whose norms it was compared with."""
    whispered: bool = False
    """Too little voicing for F0 to be read: taken as whispered speech."""
    source: str = ""
    """The file or upload it came from."""
    extra: Mapping[str, Any] = field(default_factory=dict)
    """Trimming and file facts."""

    def to_dict(self) -> dict[str, Any]:
        """The ``emotts analyze --json`` shape: ``{"vector", "nearest", "measurements", …}``."""
        return {
            "vector": self.vector.to_dict(ndigits=4),
            "nearest": {label: round(weight, 4) for label, weight in self.nearest.items()},
            "measurements": self.measurements.to_dict(),
            "register": self.register,
            "whispered": self.whispered,
            "source": self.source,
            **self.extra,
        }


def _clip(dim: str, value: float) -> float:
    low, high = _BOUNDS[dim]
    return float(min(high, max(low, value)))


def to_vector(measurements: Measurements, norms: Norms) -> tuple[EmotionVector, str, bool]:
    """``(vector, register, whispered)`` of a recording's measurements."""
    register = register_of(measurements)
    norm = norms.registers[register]
    whispered = measurements.voiced_fraction < WHISPER_VOICING * norm["voiced_fraction"]
    deltas = measured_deltas(measurements, norm)
    values: dict[str, float] = {}
    for dim, delta in deltas.items():
        command = delta / norms.gains[dim]
        values[dim] = math.exp(command) if dim in FACTOR_DIMS else command
    values = {dim: _clip(dim, value) for dim, value in values.items()}
    values["volume_db"] = _clip("volume_db", norms.volume_per_tilt * values["tilt_db"])
    if whispered:
        values.update(_WHISPER)
    return EmotionVector.from_dict(values), register, whispered


def _with_label_dims(
    vector: EmotionVector, nearest: Mapping[str, float], space: EmotionSpace
) -> EmotionVector:
    """``vector`` with the dimensions measurements cannot give (:data:`_FROM_LABELS`) mixed from
    ``nearest``."""
    implied = {
        dim: sum(weight * getattr(space.preset(label).vector, dim) for label, weight in nearest.items())
        for dim in _FROM_LABELS
    }
    return dataclasses.replace(vector, **implied)


def nearest_labels(vector: EmotionVector, space: EmotionSpace, *, count: int = NEAREST) -> dict[str, float]:
    """The ``count`` labels nearest ``vector`` (weighted distance), with softmax weights summing to 1."""
    dims = EmotionVector.dims()
    coords = dict(zip(dims, vector.to_log()))
    distances = {}
    for label in space.labels:
        anchor = dict(zip(dims, space.preset(label).vector.to_log()))
        distances[label] = math.sqrt(
            sum(
                ((coords[d] - anchor[d]) / _DISTANCE_SCALE[d]) ** 2
                for d in dims
                if math.isfinite(_DISTANCE_SCALE[d])
            )
        )
    ranked = sorted(distances, key=distances.get)[:count]
    scores = [math.exp(-0.5 * distances[label] ** 2) for label in ranked]
    if sum(scores) == 0.0:  # far from every label: weight by inverse distance
        scores = [1.0 / max(distances[label], 1e-9) for label in ranked]
    total = sum(scores)
    return {label: score / total for label, score in zip(ranked, scores)}


def analyze(
    reference: ReferenceAudio | str | os.PathLike[str] | bytes,
    space: EmotionSpace,
    *,
    norms: Norms | None = None,
    source: str | None = None,
) -> Analysis:
    """Measure a reference recording (a :class:`ReferenceAudio`, a path or bytes) into the emotion space.

    :raises ReferenceAudioError: the recording cannot be analysed (see :func:`load_reference`).
    """
    if not isinstance(reference, ReferenceAudio):
        reference = load_reference(reference, source=source)
    try:
        measurements = measure(reference.audio, reference.sample_rate)
    except ReferenceAudioError as exc:
        raise ReferenceAudioError(
            f"{reference.source}: {exc}", reason=exc.reason, source=reference.source
        ) from None
    vector, register, whispered = to_vector(measurements, norms or load_norms())
    nearest = nearest_labels(vector, space)
    return Analysis(
        vector=_with_label_dims(vector, nearest, space),
        nearest=nearest,
        measurements=measurements,
        register=register,
        whispered=whispered,
        source=reference.source,
        extra={
            "sample_rate": reference.sample_rate,
            "channels": reference.channels,
            "trimmed_s": [round(t, 3) for t in reference.trimmed_s],
        },
    )


# -- transfer ---------------------------------------------------------------------------


def check_weight(weight: Any) -> float:
    """A reference weight as a float in 0..1; ``ValueError`` naming the value otherwise."""
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0.0 <= float(weight) <= 1.0:
        raise ValueError(f"reference weight must be a number within 0..1, got {weight!r}")
    return float(weight)


def blend(plan: Plan, space: EmotionSpace, reference: EmotionVector, weight: float = 1.0) -> Plan:
    """``plan`` with every segment's emotion moved ``weight`` of the way to ``reference``.

    Blending happens in the vector's log coordinates (like mixing labels): at weight 0 the plan
    is unchanged, at 1 every segment speaks in the reference's manner. Explicit ``<prosody>``
    still composes on top.
    """
    weight = check_weight(weight)
    if weight == 0.0:
        return plan
    target = np.array(reference.to_log())
    segments = []
    for segment in plan.segments:
        emotion = np.array(space.vector(dict(segment.emotion)).to_log())
        moved = np.array(segment.targets.to_log()) + weight * (target - emotion)
        segments.append(dataclasses.replace(segment, targets=EmotionVector.from_log(moved)))
    return dataclasses.replace(plan, segments=tuple(segments))
