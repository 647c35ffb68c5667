"""Measure speech the way the tests, the calibration and reference analysis need.

Everything here is a stateless function over a float mono numpy array with its
sample rate passed explicitly. Pitch and intensity come from Praat (through
``praat-parselmouth``), which agrees with pYIN on the bundled voices where
WORLD's own trackers make octave errors (docs/design.md §3.3).

Conventions:

* F0 tracks use ``0.0`` for unvoiced frames (Praat's and WORLD's convention),
  so ``f0 > 0`` is the voicing mask.
* Semitones are relative to 100 Hz: ``st = 12 * log2(f0 / 100)``.
* Levels are Praat intensities in dB (re 2·10⁻⁵, so a full-scale sine reads
  about 91 dB); only differences between two measurements carry meaning.

Praat keeps global state (its interpreter, its random numbers), so one thread at a time may
call it: :data:`PRAAT_LOCK` lives here, beside the calls it guards, and every function that
calls Praat (here and in :mod:`~emotts_plugin.models.dsp`) takes it inside, around its Praat
calls only. None of them calls another such function while holding it, so a plain lock does.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import parselmouth

_LOGGER = logging.getLogger(__name__)

#: Praat keeps global state: one Praat call at a time, whatever the thread (voice inference and
#: the rest of the DSP still overlap). Taken inside the functions that call Praat, never by callers.
PRAAT_LOCK = threading.Lock()

ST_REFERENCE_HZ = 100.0
"""Frequency that reads 0 semitones."""

_MAX_BRIDGED_FRAMES = 2
"""Unvoiced frames :func:`max_f0_step_st` looks across."""
_INTENSITY_MIN_PITCH = 100.0
"""Praat's default for To Intensity: a 32 ms effective window."""


def as_signal(audio: np.ndarray, sample_rate: float) -> np.ndarray:
    """Check ``audio`` and return it as a float64 array of shape ``(n,)``.

    :raises ValueError: ``audio`` is not 1-D, empty, not floating point or holds
        NaN/inf, or ``sample_rate`` is not a positive number.
    """
    if not np.isfinite(sample_rate) or sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number, got {sample_rate!r}")
    array = np.asarray(audio)
    if array.ndim != 1:
        raise ValueError(f"audio must be mono with shape (n,), got shape {array.shape}")
    if array.size == 0:
        raise ValueError("audio is empty (shape (0,))")
    if not np.issubdtype(array.dtype, np.floating):
        raise ValueError(f"audio must hold floats in [-1, 1], got dtype {array.dtype}")
    array = array.astype(np.float64)
    if not np.all(np.isfinite(array)):
        bad = int(np.flatnonzero(~np.isfinite(array))[0])
        raise ValueError(f"audio holds a non-finite value {array[bad]!r} at sample {bad}")
    return array


def hz_to_st(hz: np.ndarray) -> np.ndarray:
    """Semitones re 100 Hz of positive frequencies ``hz`` (any shape)."""
    return 12.0 * np.log2(np.asarray(hz, dtype=np.float64) / ST_REFERENCE_HZ)


def _sound(audio: np.ndarray, sample_rate: float) -> parselmouth.Sound:
    """A Praat sound of ``audio`` (checked by :func:`as_signal`); call it holding :data:`PRAAT_LOCK`."""
    import parselmouth  # here, not at the top: a rendering that measures nothing never loads Praat

    return parselmouth.Sound(as_signal(audio, sample_rate), sampling_frequency=float(sample_rate))


def f0_track(
    audio: np.ndarray,
    sample_rate: float,
    *,
    time_step: float = 0.01,
    floor: float = 60.0,
    ceiling: float = 500.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Praat autocorrelation pitch (``To Pitch (ac)``) of ``audio``.

    :returns: ``(times, f0_hz)``, both shape ``(frames,)``: frame centres in
        seconds and F0 in Hz, ``0.0`` where unvoiced. Both are empty when the
        audio is shorter than Praat's analysis window (three periods of ``floor``).
    :raises ValueError: bad audio, or ``0 < floor < ceiling`` and ``time_step > 0`` do not hold.
    """
    if not (time_step > 0):
        raise ValueError(f"time_step must be positive, got {time_step!r}")
    if not (0 < floor < ceiling):
        raise ValueError(f"need 0 < floor < ceiling, got floor={floor!r}, ceiling={ceiling!r}")
    with PRAAT_LOCK:
        sound = _sound(audio, sample_rate)
        if sound.duration < 3.0 / floor:
            _LOGGER.debug(
                "%.3f s of audio is under three periods of %s Hz: no pitch frames", sound.duration, floor
            )
            return np.zeros(0), np.zeros(0)
        pitch = sound.to_pitch_ac(time_step=time_step, pitch_floor=floor, pitch_ceiling=ceiling)
        frequency = pitch.selected_array["frequency"]
        return np.asarray(pitch.xs(), dtype=np.float64), np.asarray(frequency, dtype=np.float64)


@dataclass(frozen=True, slots=True)
class F0Stats:
    """Summary of an utterance's F0, in semitones re 100 Hz."""

    median_st: float
    """Median F0 over voiced frames (NaN when nothing is voiced)."""
    range_st: float
    """Robust spread: 90th minus 10th percentile of voiced F0 (NaN when nothing is voiced)."""
    std_st: float
    """Standard deviation of voiced F0 (NaN when nothing is voiced)."""
    voiced_fraction: float
    """Voiced frames over all frames inside the speech span (:func:`speech_span`)."""
    n_voiced: int
    """Number of voiced 10 ms frames."""


def f0_stats(audio: np.ndarray, sample_rate: float) -> F0Stats:
    """F0 level, spread and voicing of ``audio`` (shape ``(n,)``) from :func:`f0_track` (60–500 Hz)."""
    times, f0 = f0_track(audio, sample_rate)
    start, end = speech_span(audio, sample_rate)
    inside = (times >= start) & (times <= end)
    voiced = f0 > 0
    fraction = float(np.count_nonzero(voiced & inside) / max(1, np.count_nonzero(inside)))
    if not np.any(voiced):
        return F0Stats(float("nan"), float("nan"), float("nan"), fraction, 0)
    st = hz_to_st(f0[voiced])
    p10, p50, p90 = np.percentile(st, [10.0, 50.0, 90.0])
    return F0Stats(float(p50), float(p90 - p10), float(np.std(st)), fraction, int(st.size))


def intensity_track(
    audio: np.ndarray, sample_rate: float, *, time_step: float = 0.01
) -> tuple[np.ndarray, np.ndarray]:
    """Praat intensity (``To Intensity``, minimum pitch 100 Hz, mean subtracted) of ``audio``.

    :returns: ``(times, db)``, both shape ``(frames,)``: frame centres in seconds and levels in
        dB. Both are empty when the audio is shorter than Praat's 64 ms analysis window.
    :raises ValueError: bad audio or ``time_step <= 0``.
    """
    if not (time_step > 0):
        raise ValueError(f"time_step must be positive, got {time_step!r}")
    with PRAAT_LOCK:
        sound = _sound(audio, sample_rate)
        if sound.duration < 6.4 / _INTENSITY_MIN_PITCH:
            return np.zeros(0), np.zeros(0)
        intensity = sound.to_intensity(
            minimum_pitch=_INTENSITY_MIN_PITCH, time_step=time_step, subtract_mean=True
        )
        return np.asarray(intensity.xs(), dtype=np.float64), np.asarray(intensity.values[0], dtype=np.float64)


def _intensity(audio: np.ndarray, sample_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """Praat intensity at 10 ms: ``(times, db)``, each shape ``(frames,)``; ``ValueError`` under 64 ms."""
    times, db = intensity_track(audio, sample_rate)
    if times.size == 0:
        seconds = np.asarray(audio).size / float(sample_rate)
        raise ValueError(f"audio too short for an intensity analysis: {seconds:.3f} s (need 0.064 s)")
    return times, db


def harmonicity_track(
    audio: np.ndarray, sample_rate: float, *, time_step: float = 0.01, floor: float = 75.0
) -> np.ndarray:
    """Praat harmonics-to-noise ratio (``To Harmonicity (cc)``) of ``audio``, in dB.

    :returns: shape ``(frames,)``, one value every ``time_step`` seconds; unvoiced frames read
        -200 dB (Praat's convention).
    """
    with PRAAT_LOCK:
        harmonicity = _sound(audio, sample_rate).to_harmonicity_cc(time_step=time_step, minimum_pitch=floor)
        return np.asarray(harmonicity.values[0], dtype=np.float64)


def jitter_local(
    audio: np.ndarray, sample_rate: float, *, floor: float = 60.0, ceiling: float = 500.0
) -> float:
    """Praat's local jitter of the glottal periods of ``audio`` (a share, not a percentage).

    Periods come from ``To PointProcess (periodic, cc)`` between ``floor`` and ``ceiling`` Hz;
    NaN when there are too few of them.
    """
    from parselmouth.praat import call

    with PRAAT_LOCK:
        points = call(_sound(audio, sample_rate), "To PointProcess (periodic, cc)", floor, ceiling)
        return float(call(points, "Get jitter (local)", 0.0, 0.0, 0.0001, 0.02, 1.3))


def speech_span(audio: np.ndarray, sample_rate: float, *, threshold_db: float = -35.0) -> tuple[float, float]:
    """Where speech starts and ends, leading and trailing silence trimmed.

    A 10 ms intensity frame counts as speech when it is within ``threshold_db``
    (negative) of the loudest frame; the span runs from the first such frame's
    start to the last one's end, in seconds.

    :raises ValueError: bad audio, audio under 64 ms, or ``threshold_db >= 0``.
    """
    if not (threshold_db < 0):
        raise ValueError(f"threshold_db must be negative (relative to the peak), got {threshold_db!r}")
    times, db = _intensity(audio, sample_rate)
    loud = np.flatnonzero(db >= db.max() + threshold_db)
    duration = len(audio) / float(sample_rate)
    return max(0.0, float(times[loud[0]]) - 0.005), min(duration, float(times[loud[-1]]) + 0.005)


def speech_duration(audio: np.ndarray, sample_rate: float) -> float:
    """Seconds from the start to the end of :func:`speech_span`."""
    start, end = speech_span(audio, sample_rate)
    return end - start


def level_db(audio: np.ndarray, sample_rate: float) -> float:
    """Energy-averaged Praat intensity in dB over the speech span of ``audio`` (shape ``(n,)``)."""
    start, end = speech_span(audio, sample_rate)
    times, db = _intensity(audio, sample_rate)
    inside = db[(times >= start) & (times <= end)]
    return float(10.0 * np.log10(np.mean(10.0 ** (inside / 10.0))))


def max_f0_step_st(audio: np.ndarray, sample_rate: float, t0: float, t1: float) -> float:
    """Largest F0 jump in semitones between consecutive voiced 10 ms frames in ``[t0, t1]``.

    Frames count as consecutive across a gap of at most two unvoiced frames:
    a sudden jump in F0 makes Praat's tracker drop a frame or two, and the
    jump must still show.

    :returns: the jump, or NaN when no two such frames lie in the window
        (so a comparison in a test fails instead of passing vacuously).
    :raises ValueError: bad audio or ``t1 <= t0``.
    """
    if not (t1 > t0):
        raise ValueError(f"need t0 < t1, got t0={t0!r}, t1={t1!r}")
    times, f0 = f0_track(audio, sample_rate)
    frames = np.flatnonzero((f0 > 0) & (times >= t0) & (times <= t1))
    close = np.diff(frames) <= _MAX_BRIDGED_FRAMES + 1
    if not np.any(close):
        return float("nan")
    steps = np.abs(np.diff(hz_to_st(f0[frames])))
    return float(steps[close].max())


def click_score(audio: np.ndarray, *, percentile: float = 99.9) -> tuple[float, float]:
    """How a joined signal's sharpest sample step compares with its ordinary ones.

    :param audio: shape ``(n,)``, ``n >= 2``.
    :returns: ``(max |Δx|, percentile of |Δx|)`` over the whole signal; a click
        shows as a maximum far above the percentile.
    :raises ValueError: bad audio or ``percentile`` outside ``[0, 100]``.
    """
    if not (0.0 <= percentile <= 100.0):
        raise ValueError(f"percentile must be in [0, 100], got {percentile!r}")
    signal = as_signal(audio, 1.0)
    if signal.size < 2:
        raise ValueError(f"need at least 2 samples, got {signal.size}")
    steps = np.abs(np.diff(signal))
    return float(steps.max()), float(np.percentile(steps, percentile))


def _mel_filterbank(sample_rate: float, n_fft: int, n_mels: int, f_max: float) -> np.ndarray:
    """Triangular mel filters, shape ``(n_mels, n_fft // 2 + 1)``."""

    def to_mel(hz: np.ndarray) -> np.ndarray:
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    edges_mel = np.linspace(to_mel(np.array(0.0)), to_mel(np.array(f_max)), n_mels + 2)
    edges_hz = 700.0 * (10.0 ** (edges_mel / 2595.0) - 1.0)
    bins_hz = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    lower, centre, upper = edges_hz[:-2, None], edges_hz[1:-1, None], edges_hz[2:, None]
    rising = (bins_hz - lower) / (centre - lower)
    falling = (upper - bins_hz) / (upper - centre)
    return np.maximum(0.0, np.minimum(rising, falling))


def log_mel(audio: np.ndarray, sample_rate: float, *, n_mels: int = 40) -> np.ndarray:
    """Log-mel spectrogram in dB, 25 ms Hann frames every 10 ms: shape ``(frames, n_mels)``.

    Values more than 80 dB below the loudest cell are raised to that floor, so
    digital silence does not dominate comparisons.
    """
    signal = as_signal(audio, sample_rate)
    win = max(16, int(round(0.025 * sample_rate)))
    hop = max(1, int(round(0.010 * sample_rate)))
    n_fft = 1 << (win - 1).bit_length()
    signal = np.pad(signal, (0, max(0, win - signal.size)))
    n_frames = 1 + (signal.size - win) // hop
    frames = np.lib.stride_tricks.sliding_window_view(signal, win)[::hop][:n_frames] * np.hanning(win)
    power = np.abs(np.fft.rfft(frames, n_fft)) ** 2
    mel = power @ _mel_filterbank(sample_rate, n_fft, n_mels, min(8000.0, sample_rate / 2.0)).T
    db = 10.0 * np.log10(mel + 1e-20)
    return np.maximum(db, db.max() - 80.0)


def _dtw_mean_cost(cost: np.ndarray) -> float:
    """Mean local cost along the cheapest monotonic path through ``cost`` (shape ``(n, m)``).

    Anti-diagonals are filled one at a time, each with vectorised numpy.
    """
    n, m = cost.shape
    total = np.full((n + 1, m + 1), np.inf)
    steps = np.zeros((n + 1, m + 1))
    total[0, 0] = 0.0
    for diagonal in range(2, n + m + 1):
        i = np.arange(max(1, diagonal - m), min(n, diagonal - 1) + 1)
        j = diagonal - i
        options = np.stack([total[i - 1, j - 1], total[i - 1, j], total[i, j - 1]])
        choice = np.argmin(options, axis=0)
        previous_steps = np.stack([steps[i - 1, j - 1], steps[i - 1, j], steps[i, j - 1]])
        total[i, j] = cost[i - 1, j - 1] + options[choice, np.arange(i.size)]
        steps[i, j] = previous_steps[choice, np.arange(i.size)] + 1.0
    return float(total[n, m] / steps[n, m])


def spectral_distance(a: np.ndarray, b: np.ndarray, sample_rate: float) -> float:
    """Level-independent log-mel distance between two renderings, DTW-aligned.

    Each signal's log-mel spectrogram (40 bands, dB) is taken relative to its
    own loudest cell, so a plain gain change (or added silence) does not count;
    frames are aligned by dynamic time
    warping and the result is the mean, along the path, of the RMS difference
    across bands, in dB. Identical audio gives 0; two takes of one sentence by
    one voice sit far below two different sentences.

    :param a: shape ``(n,)``.
    :param b: shape ``(m,)``, same ``sample_rate``.
    """
    mel_a, mel_b = log_mel(a, sample_rate), log_mel(b, sample_rate)
    mel_a = mel_a - mel_a.max()
    mel_b = mel_b - mel_b.max()
    squared = (mel_a**2).sum(1)[:, None] + (mel_b**2).sum(1)[None, :] - 2.0 * mel_a @ mel_b.T
    cost = np.sqrt(np.maximum(squared, 0.0) / mel_a.shape[1])
    return _dtw_mean_cost(cost)
