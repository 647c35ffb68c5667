"""From a segment plan to utterances, and from targets to control curves over time.

An *utterance* is what a voice backend renders in one pass: the pieces of text
between two seams. Seams are sentence ends (by the rules of
:mod:`emotts_plugin.ssml.sentences`), ``<break>``s and changes of voice or language;
segments that share a sentence are pieces of one utterance, so an emotion change inside a
sentence is shaped over time instead of spliced.

Control curves are the emotion targets sampled every :data:`FRAME_S` seconds
over the rendered audio. At each piece boundary they glide over the piece's
transition time (a raised-cosine centred on the boundary), so F0 level, range
and loudness never step. Calibration (per voice) maps the targets a listener
should get onto the commands the DSP needs; :func:`controls` turns the commands into the
DSP's :class:`~emotts_plugin.models.dsp.Controls` (the one place emotion dimensions become
DSP controls).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from importlib import resources
from typing import Collection, Iterator, Mapping, Sequence

import numpy as np

from .config import load_shipped_yaml
from .emotion import FACTOR_DIMS, NEUTRAL, EmotionVector
from .models.dsp import Controls
from .plan import Emphasis, Plan
from .ssml.sentences import ends_sentence, split_sentences

FRAME_S = 0.01
#: Silence between sentences with no explicit break, before the pause factor.
SENTENCE_GAP_MS = 200.0
#: Window before the end of a sentence over which its contour movement builds up.
CONTOUR_WINDOW_S = 0.45
#: Quiet stretches inside an utterance at least this long are pauses (scaled by `pause`).
MIN_PAUSE_S = 0.12
#: Glide time into and out of an emphasised piece (short: emphasis is local).
EMPHASIS_TRANSITION_MS = 60.0
#: Bounds of the local time-stretch handed to the DSP (PSOLA holds at most 3× its input).
MIN_STRETCH, MAX_STRETCH = 0.25, 3.0

#: Prosody added to an emphasised piece, by level.
EMPHASIS_DELTAS: Mapping[Emphasis, EmotionVector] = {
    Emphasis.STRONG: EmotionVector(pitch_st=2.0, range=1.25, rate=0.88, volume_db=3.0),
    Emphasis.MODERATE: EmotionVector(pitch_st=1.0, range=1.12, rate=0.94, volume_db=1.5),
    Emphasis.REDUCED: EmotionVector(pitch_st=-1.0, range=0.9, rate=1.05, volume_db=-2.0),
    Emphasis.NONE: EmotionVector(),
}


@dataclass(frozen=True, slots=True)
class Piece:
    """Part of an utterance spoken with one set of targets."""

    text: str
    """Words to speak."""
    targets: EmotionVector
    """Segment targets with emphasis applied (what the listener should get)."""
    transition_ms: float
    """Glide time into this piece."""
    segment: int
    """Index of the plan segment it comes from."""
    marks: tuple[str, ...] = ()
    """Marks at the start of this piece."""
    bleep: bool = False
    """Covered by a tone of its length once rendered (an expletive)."""


@dataclass(frozen=True, slots=True)
class Utterance:
    """Pieces rendered in one backend pass, then the silence after them."""

    voice: str
    """Voice name."""
    lang: str
    """Language tag."""
    pieces: tuple[Piece, ...]
    """In speaking order."""
    silence_before_ms: float = 0.0
    """Silence before (only for a break that nothing precedes)."""
    silence_after_ms: float = 0.0
    """Silence after: an explicit break, or the sentence gap."""
    ends_sentence: bool = True
    """Whether the last piece closes a sentence (contour applies)."""


#: Characters per second of the fastest neutral reading measured on the bundled voice (21.5 for a
#: plain sentence, 25 at ``excited``'s rate); with some margin, so an estimate from it is a floor.
FAST_CHARS_PER_S = 30.0


@dataclass(frozen=True, slots=True)
class AudioBudget:
    """What a plan will cost in audio, known before any rendering."""

    break_s: float
    """Silence its breaks ask for."""
    speech_s: float
    """A floor on its speech: every character at :data:`FAST_CHARS_PER_S` times its rate."""

    @property
    def total_s(self) -> float:
        """A floor on the audio the plan produces."""
        return self.break_s + self.speech_s


def audio_budget(plan: Plan) -> AudioBudget:
    """The :class:`AudioBudget` of ``plan``: exact breaks, and speech that cannot be shorter."""
    break_ms = sum(segment.break_before_ms + segment.break_after_ms for segment in plan.segments)
    speech_s = sum(
        len(segment.text) / (FAST_CHARS_PER_S * max(segment.targets.rate, 0.25)) for segment in plan.segments
    )
    return AudioBudget(break_ms / 1000.0, speech_s)


def utterances(plan: Plan, *, default_voice: str, transition_ms: float) -> Iterator[Utterance]:
    """Group the plan's segments into utterances (lazily, for streaming)."""
    pieces: list[Piece] = []
    voice = lang = None
    silence_before = float(plan.segments[0].break_before_ms) if plan.segments else 0.0

    def close(after_ms: float | None, ends: bool) -> Utterance:
        nonlocal pieces, silence_before
        last = pieces[-1].targets
        gap = after_ms if after_ms is not None else SENTENCE_GAP_MS * last.pause
        utt = Utterance(voice, lang, tuple(pieces), silence_before, gap, ends)
        pieces, silence_before = [], 0.0
        return utt

    for index, segment in enumerate(plan.segments):
        seg_voice = segment.voice or default_voice
        if pieces and (seg_voice != voice or segment.lang != lang):
            yield close(None, ends_sentence(pieces[-1].text))
        voice, lang = seg_voice, segment.lang
        targets = segment.targets
        if segment.emphasis is not None:
            targets = targets.compose(EMPHASIS_DELTAS[segment.emphasis])
        glide = float(segment.transition_ms if segment.transition_ms is not None else transition_ms)
        sentences = [sentence.rstrip() for sentence in split_sentences(segment.text)]
        for number, sentence in enumerate(sentences):
            marks = segment.marks if number == 0 else ()
            previous = pieces[-1] if pieces else None
            piece_glide = glide
            if previous is not None and (segment.emphasis or plan.segments[previous.segment].emphasis):
                piece_glide = min(glide, EMPHASIS_TRANSITION_MS)
            pieces.append(Piece(sentence, targets, piece_glide, index, marks, segment.bleep))
            last_sentence = number == len(sentences) - 1
            if not last_sentence:
                yield close(None, True)
        if segment.break_after_ms:
            yield close(float(segment.break_after_ms), ends_sentence(pieces[-1].text))
        elif index + 1 < len(plan.segments) and ends_sentence(segment.text, plan.segments[index + 1].text):
            yield close(None, True)
    if pieces:
        yield close(0.0, ends_sentence(pieces[-1].text))


# --------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Calibration:
    """Per-voice factors from requested targets to DSP commands.

    PSOLA, WORLD and the limiter do not deliver exactly what they are told
    (docs/design.md §3.4); these factors, fitted by ``benchmarks/calibrate.py``, make the
    *measured* result land on the requested targets. Raising and lowering are
    fitted separately because the processing is not symmetric.
    """

    pitch_up: float = 1.0
    """Commanded semitones per requested semitone, for raised pitch."""
    pitch_down: float = 1.0
    """Commanded semitones per requested semitone, for lowered pitch."""
    range_up: float = 1.0
    """Exponent on a requested range factor above 1."""
    range_down: float = 1.0
    """Exponent on a requested range factor below 1."""
    rate: float = 1.0
    """Exponent on the requested rate factor."""
    volume_up: float = 1.0
    """Commanded dB per requested dB, for louder (the limiter takes some)."""
    volume_down: float = 1.0
    """Commanded dB per requested dB, for quieter."""

    @classmethod
    def from_dict(cls, data: Mapping[str, float], *, where: str) -> "Calibration":
        allowed = [f.name for f in dataclasses.fields(cls)]
        for key in data:
            if key not in allowed:
                raise ValueError(f"{where}: unknown calibration key {key!r}; allowed: {', '.join(allowed)}")
        return cls(**{key: float(value) for key, value in data.items()})

    def to_dict(self) -> dict[str, float]:
        return {f.name: round(getattr(self, f.name), 4) for f in dataclasses.fields(self)}

    def command(self, targets: EmotionVector) -> EmotionVector:
        """The DSP command that makes the listener get ``targets``."""
        return dataclasses.replace(
            targets,
            pitch_st=targets.pitch_st * (self.pitch_up if targets.pitch_st > 0 else self.pitch_down),
            range=targets.range ** (self.range_up if targets.range > 1 else self.range_down),
            rate=targets.rate**self.rate,
            volume_db=targets.volume_db * (self.volume_up if targets.volume_db > 0 else self.volume_down),
        )


def load_calibrations() -> dict[str, Calibration]:
    """Calibrations shipped in ``models/calibration.yaml`` (key ``default`` for unlisted voices)."""
    text = resources.files("emotts_plugin.models").joinpath("calibration.yaml").read_text(encoding="utf-8")
    data = load_shipped_yaml(text) or {}
    return {
        voice: Calibration.from_dict(values or {}, where=f"calibration.yaml: {voice}")
        for voice, values in data.items()
    }


# --------------------------------------------------------------------------
# Control curves
# --------------------------------------------------------------------------


def _glide(curve: np.ndarray, start: int, width: int, before: float, after: float) -> None:
    """Raised-cosine change from ``before`` to ``after`` centred on frame ``start``."""
    n = len(curve)
    if width <= 1:
        curve[start:] = after
        return
    lo = max(0, start - width // 2)
    hi = min(n, lo + width)
    ramp = 0.5 - 0.5 * np.cos(np.pi * (np.arange(lo, hi) - (start - width / 2)) / width)
    curve[lo:hi] = before + (after - before) * np.clip(ramp, 0.0, 1.0)
    curve[hi:] = after


def target_curves(
    commands: Sequence[EmotionVector],
    piece_starts_s: Sequence[float],
    transitions_ms: Sequence[float],
    duration_s: float,
    *,
    frame_s: float = FRAME_S,
) -> dict[str, np.ndarray]:
    """Each dimension as a curve over the utterance, gliding at piece boundaries.

    Factor dimensions glide in the log domain and are returned as factors.

    :param commands: one command vector per piece.
    :param piece_starts_s: start time of each piece in the rendered audio.
    :param transitions_ms: glide time into each piece (the first is unused).
    :param duration_s: length of the rendered audio.
    """
    n = n_frames(duration_s, frame_s)
    dims = EmotionVector.dims()
    logs = [cmd.to_log() for cmd in commands]
    curves = {}
    for d, dim in enumerate(dims):
        curve = np.full(n, logs[0][d], dtype=np.float64)
        for k in range(1, len(commands)):
            if logs[k][d] == logs[k - 1][d]:
                continue
            start = int(round(piece_starts_s[k] / frame_s))
            width = int(round(transitions_ms[k] / 1000.0 / frame_s))
            _glide(curve, min(start, n - 1), width, logs[k - 1][d], logs[k][d])
        curves[dim] = np.exp(curve) if dim in FACTOR_DIMS else curve
    return curves


def controls(
    commands: Sequence[EmotionVector],
    piece_starts_s: Sequence[float],
    transitions_ms: Sequence[float],
    levels_db: np.ndarray,
    *,
    ends_sentence: bool,
    native: Collection[str] = frozenset(),
    frame_s: float = FRAME_S,
) -> Controls:
    """The DSP's controls over one utterance's voice audio.

    Emotion dimensions become controls here: ``pitch_st`` with the phrase-final ``contour``
    (when the utterance ends a sentence), ``1 / rate`` as the time-stretch (``pause`` in quiet
    stretches), clipped to [:data:`MIN_STRETCH`, :data:`MAX_STRETCH`], ``volume_db`` as the gain.

    :param commands: one command vector per piece (:meth:`Calibration.command`).
    :param piece_starts_s: start time of each piece in the voice audio.
    :param transitions_ms: glide time into each piece (the first is unused).
    :param levels_db: :func:`frame_levels_db` of the voice audio, shape ``(n_frames,)``.
    :param ends_sentence: apply the phrase-final contour.
    :param native: dimensions the voice model rendered itself: held neutral.
    """
    neutral = {dim: getattr(NEUTRAL, dim) for dim in native}
    commands = [dataclasses.replace(command, **neutral) for command in commands]
    duration_s = len(levels_db) * frame_s
    curves = target_curves(commands, piece_starts_s, transitions_ms, duration_s, frame_s=frame_s)
    pitch = curves["pitch_st"]
    if ends_sentence:
        pitch = pitch + contour_curve(curves["contour"], speech_end_s(levels_db, frame_s), frame_s)
    stretch = 1.0 / curves["rate"]
    pauses = pause_mask(levels_db, frame_s)
    stretch[pauses] = curves["pause"][pauses]
    return Controls(
        frame_s=frame_s,
        pitch_st=pitch,
        range=curves["range"],
        duration=np.clip(stretch, MIN_STRETCH, MAX_STRETCH),
        gain_db=curves["volume_db"],
        tilt_db=curves["tilt_db"],
        breathiness=curves["breathiness"],
        jitter=curves["jitter"],
    )


def n_frames(duration_s: float, frame_s: float = FRAME_S) -> int:
    """Frames covering ``duration_s`` (at least one)."""
    return max(1, int(math.ceil(duration_s / frame_s - 1e-9)))


def frame_levels_db(audio: np.ndarray, sample_rate: int, frame_s: float = FRAME_S) -> np.ndarray:
    """RMS level of each frame in dB relative to the loudest frame, shape ``(n_frames,)``."""
    n = n_frames(len(audio) / sample_rate, frame_s)
    edges = np.minimum((np.arange(n + 1) * frame_s * sample_rate).astype(np.int64), len(audio))
    energy = np.add.reduceat(np.concatenate([audio.astype(np.float64) ** 2, [0.0]]), edges[:-1])
    counts = np.maximum(np.diff(edges), 1)
    rms = np.sqrt(energy / counts + 1e-12)
    rms[np.diff(edges) == 0] = 1e-6
    return 20.0 * np.log10(rms / rms.max())


def speech_end_s(levels_db: np.ndarray, frame_s: float = FRAME_S, threshold_db: float = -40.0) -> float:
    """Time of the last frame above ``threshold_db``."""
    loud = np.nonzero(levels_db > threshold_db)[0]
    return float((loud[-1] + 1) * frame_s) if len(loud) else 0.0


def contour_curve(
    contour: np.ndarray, end_s: float, frame_s: float = FRAME_S, window_s: float = CONTOUR_WINDOW_S
) -> np.ndarray:
    """Phrase-final pitch movement: grows (quadratically) over the window before ``end_s``."""
    n = len(contour)
    times = (np.arange(n) + 0.5) * frame_s
    progress = np.clip((times - (end_s - window_s)) / window_s, 0.0, 1.0)
    return contour * progress**2


def pause_mask(
    levels_db: np.ndarray, frame_s: float = FRAME_S, threshold_db: float = -45.0, min_s: float = MIN_PAUSE_S
) -> np.ndarray:
    """True for frames in quiet stretches of at least ``min_s`` between sounds."""
    quiet = levels_db < threshold_db
    mask = np.zeros_like(quiet)
    loud = np.nonzero(~quiet)[0]
    if len(loud) == 0:
        return mask
    first, last = loud[0], loud[-1]
    run_start = None
    for i in range(first, last + 1):
        if quiet[i] and run_start is None:
            run_start = i
        elif not quiet[i] and run_start is not None:
            if (i - run_start) * frame_s >= min_s:
                mask[run_start:i] = True
            run_start = None
    return mask
