"""The emotion DSP: what a voice backend cannot render, done on its output.

The renderer turns emotion targets into per-frame control curves
(:class:`Controls`) over the backend's audio and calls :func:`shape`, which
runs four stages, each skipped when its controls are neutral:

1. **Pitch and time** by Praat PSOLA (Sound + Pitch → ``To Manipulation`` →
   new PitchTier and DurationTier → ``Get resynthesis (overlap-add)``): F0
   level, range around the utterance's median, contour, tremor (``jitter``)
   and local duration; the result is level-matched to the input.
2. **Breathiness** by WORLD aperiodicity: each STFT frame's aperiodic share is
   raised from a modal-voice profile toward 1 (whisper); the aperiodic part is
   noise shaped by WORLD's CheapTrick envelope, computed with Praat's F0
   (WORLD's own trackers make octave errors on the bundled voice).
3. **Spectral tilt** by a first-order high shelf, loudness-neutral.
4. **Gain** as a smooth per-sample envelope, then the peak :func:`limiter`.

Curves are linear between frame centres and held beyond the first and last
centre. Stages 2–4 read the curves through the time map of stage 1, so a glide
lands on the same words after a tempo change. Only ``gain_db`` moves the level.

PSOLA does not deliver exactly what is commanded (it compresses range, docs/design.md
§3.4); this module does what it is told and leaves the correction to calibration.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from emotts_plugin.models.measure import PRAAT_LOCK, as_signal, f0_track, hz_to_st

__all__ = ["FRAME_S", "Controls", "Shaped", "frame_count", "limiter", "shape"]

_LOGGER = logging.getLogger(__name__)

FRAME_S = 0.01
"""Frame period the renderer uses for control curves."""

_PSOLA_FLOOR_HZ = 60.0
_PSOLA_CEILING_HZ = 600.0
_PSOLA_MIN_S = 3.0 / _PSOLA_FLOOR_HZ + 0.005
"""Shorter audio is too short for Praat's pitch analysis; stage 1 is skipped."""
_MAX_DURATION = 3.0
"""Praat's overlap-add holds at most three times the input."""
_OUTLIER_ST = 10.0
"""Pitch frames this far above the median are octave errors or buzz in fricatives:
treated as unvoiced, so PSOLA copies them instead of imposing a false period."""
_CURVE_STEP_S = 0.005
"""Grid the pitch curves are handed to Praat on."""
_LEVEL_BLOCK_S = 0.005
_LEVEL_WINDOW_S = 0.15
_LEVEL_MAX_DB = 6.0
"""PSOLA's level loss is put back in 5 ms blocks, smoothed over 150 ms, at most this much."""

_TREMOR_BAND_HZ = (6.0, 10.0)
_TREMOR_RMS_ST = 1.25
"""RMS tremor in semitones at jitter 1 (jitter 0.4: peaks around ±0.7 st)."""

_BREATH_MIN = 0.02
"""Breathiness below this is left alone (its effect is inaudible)."""
_BREATH_CHUNK_FRAMES = 256
"""STFT frames processed at once (about 3 s at 22 kHz)."""
_MODAL_APERIODICITY_DB = (
    (0.0, -60.0),
    (500.0, -50.0),
    (1000.0, -41.0),
    (2000.0, -24.0),
    (3000.0, -6.0),
    (8000.0, -3.0),
)
"""Aperiodicity (dB, WORLD's amplitude convention) of modal voice by frequency (Hz):
D4C on the bundled ``joe`` voice, averaged over voiced frames."""

_TILT_CORNER_HZ = 1000.0
_SHELF_DB_PER_TILT = 2.0
"""High-shelf gain in dB per dB/octave of tilt (the octaves 1–4 kHz)."""

_ROTATOR_CENTRE_HZ = 300.0
_ROTATOR_BANDWIDTH_HZ = 300.0
_ROTATOR_SECTIONS = 6
"""Phase rotator the limiter runs first (lowers the limiter's RMS loss on speech)."""

_NEUTRAL = {
    "pitch_st": 0.0,
    "range": 1.0,
    "duration": 1.0,
    "gain_db": 0.0,
    "tilt_db": 0.0,
    "breathiness": 0.0,
    "jitter": 0.0,
}
_BOUNDS = {
    "pitch_st": (-math.inf, math.inf, "finite"),
    "range": (0.0, math.inf, ">= 0"),
    "duration": (1e-9, _MAX_DURATION, f"> 0 and <= {_MAX_DURATION}"),
    "gain_db": (-math.inf, math.inf, "finite"),
    "tilt_db": (-math.inf, math.inf, "finite"),
    "breathiness": (0.0, 1.0, "in [0, 1]"),
    "jitter": (0.0, 1.0, "in [0, 1]"),
}


@dataclass(frozen=True, slots=True)
class Controls:
    """Time-varying DSP controls on a uniform frame grid over the INPUT audio.

    Frame ``k`` covers ``[k * frame_s, (k + 1) * frame_s)`` and its value sits at
    the frame centre. Arrays are copied, checked and made read-only.
    """

    frame_s: float
    """Frame period in seconds (the renderer uses 0.01)."""
    pitch_st: np.ndarray
    """``(n,)`` F0 shift in semitones (phrase-final contour already folded in)."""
    range: np.ndarray
    """``(n,)`` factor on F0 excursions around the utterance's median F0, in semitones; 1 = unchanged."""
    duration: np.ndarray
    """``(n,)`` local time-stretch factor, ``0 < d <= 3`` (>1 longer/slower); 1 = unchanged."""
    gain_db: np.ndarray
    """``(n,)`` loudness change in dB."""
    tilt_db: np.ndarray
    """``(n,)`` spectral tilt change in dB/octave (+ brighter, − darker)."""
    breathiness: np.ndarray
    """``(n,)`` 0..1, aperiodic energy in voiced speech (1 = whisper: no periodic component)."""
    jitter: np.ndarray
    """``(n,)`` 0..1 pitch irregularity/tremor (0.4 = clearly audible fearful tremor)."""

    def __post_init__(self) -> None:
        frame_s = self.frame_s
        if not (isinstance(frame_s, (int, float, np.floating)) and math.isfinite(frame_s) and frame_s > 0):
            raise ValueError(f"frame_s must be a positive number of seconds, got {self.frame_s!r}")
        object.__setattr__(self, "frame_s", float(self.frame_s))
        n_frames = None
        for name, (low, high, rule) in _BOUNDS.items():
            curve = np.array(getattr(self, name), dtype=np.float64)
            if curve.ndim != 1 or curve.size == 0:
                raise ValueError(f"{name} must have shape (n,) with n >= 1, got shape {curve.shape}")
            if n_frames is not None and curve.size != n_frames:
                raise ValueError(f"{name} has {curve.size} frames, pitch_st has {n_frames}")
            n_frames = curve.size
            bad = np.flatnonzero(~(np.isfinite(curve) & (curve >= low) & (curve <= high)))
            if bad.size:
                raise ValueError(
                    f"{name} must be {rule}, got {float(curve[bad[0]])!r} at frame {int(bad[0])}"
                )
            curve.flags.writeable = False
            object.__setattr__(self, name, curve)

    @property
    def n_frames(self) -> int:
        """Number of frames ``n``."""
        return int(self.pitch_st.size)

    @classmethod
    def constant(cls, n_frames: int, frame_s: float = FRAME_S, **values: float) -> Controls:
        """Controls that hold one value per dimension; unnamed dimensions are neutral.

        :raises ValueError: an unknown dimension (the message lists the known ones) or a bad value.
        """
        unknown = sorted(set(values) - set(_NEUTRAL))
        if unknown:
            name = unknown[0]
            raise ValueError(
                f"unknown control {name!r} (known: {', '.join(_NEUTRAL)}); value {values[name]!r}"
            )
        if not (isinstance(n_frames, (int, np.integer)) and n_frames >= 1):
            raise ValueError(f"n_frames must be a positive integer, got {n_frames!r}")
        curves = {
            name: np.full(n_frames, float(values.get(name, neutral))) for name, neutral in _NEUTRAL.items()
        }
        return cls(frame_s=frame_s, **curves)

    def is_neutral(self, *names: str) -> bool:
        """Whether every named dimension is neutral over all frames."""
        return all(np.all(getattr(self, name) == _NEUTRAL[name]) for name in names)

    def at(self, name: str, times: np.ndarray) -> np.ndarray:
        """Dimension ``name`` at input ``times`` (seconds, any shape): linear between centres, held
        outside."""
        centres = (np.arange(self.n_frames) + 0.5) * self.frame_s
        return np.interp(times, centres, getattr(self, name))


@dataclass(frozen=True, slots=True)
class Shaped:
    """What :func:`shape` returns."""

    audio: np.ndarray
    """float32 mono, shape ``(m,)``; peak-limited to −1 dBFS unless ``limit=False``."""
    sample_rate: int
    """Samples per second (unchanged from the input)."""
    time_map: np.ndarray
    """``(n + 1,)`` output time in seconds of each input frame boundary ``k * frame_s``
    (monotonic; boundaries past the end of the input extrapolate)."""


def frame_count(n_samples: int, sample_rate: int, frame_s: float = FRAME_S) -> int:
    """Number of control frames that cover ``n_samples`` of audio: ``ceil(duration / frame_s)``."""
    return max(1, math.ceil(n_samples / sample_rate / frame_s - 1e-9))


def shape(
    audio: np.ndarray, sample_rate: int, controls: Controls, *, seed: int = 0, limit: bool = True
) -> Shaped:
    """Apply ``controls`` to ``audio`` (shape ``(n,)``, float, mono).

    ``controls.n_frames`` must be :func:`frame_count` of the audio, give or
    take one. The output keeps the sample rate; its length follows
    ``duration``. Deterministic for a given ``seed`` (tremor and breath noise).
    Audio under 55 ms is too short for PSOLA: pitch, range, jitter and
    duration are then ignored (with a warning). Safe on several threads at once: the Praat
    stages take :data:`~emotts_plugin.models.measure.PRAAT_LOCK` themselves.

    :param limit: run :func:`limiter`; with ``False`` the output may exceed ±1
        and the caller must limit (e.g. after joining pieces).
    :raises ValueError: bad audio, sample rate or frame count, naming the value.
    """
    if not (isinstance(sample_rate, (int, np.integer)) and sample_rate > 0):
        raise ValueError(f"sample_rate must be a positive integer, got {sample_rate!r}")
    signal = as_signal(audio, sample_rate)
    expected = frame_count(signal.size, sample_rate, controls.frame_s)
    if abs(controls.n_frames - expected) > 1:
        raise ValueError(
            f"controls have {controls.n_frames} frames; {signal.size} samples at {sample_rate} Hz "
            f"need {expected} frames of {controls.frame_s} s"
        )
    time_map = np.arange(controls.n_frames + 1) * controls.frame_s
    psola = not controls.is_neutral("pitch_st", "range", "duration", "jitter")
    if psola and signal.size / sample_rate < _PSOLA_MIN_S:
        _LOGGER.warning(
            "audio of %.3f s is too short for PSOLA; pitch and time unchanged", signal.size / sample_rate
        )
        psola = False
    if psola:
        signal, time_map, track = _psola(signal, sample_rate, controls, seed)
    else:
        track = None
    if not controls.is_neutral("breathiness"):
        if track is None:
            track = f0_track(signal, sample_rate, floor=_PSOLA_FLOOR_HZ, ceiling=_PSOLA_CEILING_HZ)
        signal = _breathe(signal, sample_rate, controls, time_map, track, seed)
    if not controls.is_neutral("tilt_db", "gain_db"):
        signal = _tilt_and_gain(signal, sample_rate, controls, time_map)
    out = limiter(signal, sample_rate) if limit else signal.astype(np.float32)
    return Shaped(audio=out, sample_rate=int(sample_rate), time_map=time_map)


def _input_times(output_times: np.ndarray, controls: Controls, time_map: np.ndarray) -> np.ndarray:
    """Input time of each output time, by the (piecewise-linear) inverse of ``time_map``."""
    boundaries = np.arange(controls.n_frames + 1) * controls.frame_s
    slope_end = (boundaries[-1] - boundaries[-2]) / max(time_map[-1] - time_map[-2], 1e-12)
    inside = np.interp(output_times, time_map, boundaries)
    beyond = output_times > time_map[-1]
    inside[beyond] = boundaries[-1] + (output_times[beyond] - time_map[-1]) * slope_end
    return inside


# --- stage 1: PSOLA -----------------------------------------------------------------


def _psola(
    signal: np.ndarray, sample_rate: int, controls: Controls, seed: int
) -> tuple[np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Pitch, range, tremor and duration by Praat overlap-add, level-matched to the input.

    :returns: ``(audio (m,), time_map (n + 1,), (f0 times (f,), f0 Hz (f,)))``,
        the F0 track being the commanded one on the output time axis.
    """
    duration_s = signal.size / sample_rate
    grid = np.arange(-2.0, duration_s / _CURVE_STEP_S + 2.0) * _CURVE_STEP_S
    range_curve = controls.at("range", grid)
    shift_curve = controls.at("pitch_st", grid) + _tremor(grid, controls, seed)
    knot_times, knot_values = _duration_knots(controls)
    start = grid[0] - _CURVE_STEP_S / 2.0
    import parselmouth  # here, not at the top: a neutral rendering never runs Praat
    from parselmouth.praat import run as run_praat

    with PRAAT_LOCK:  # Praat keeps global state (its random numbers too: the script seeds them)
        sound = parselmouth.Sound(signal, sampling_frequency=float(sample_rate))
        pitch = sound.to_pitch_ac(
            time_step=0.01, pitch_floor=_PSOLA_FLOOR_HZ, pitch_ceiling=_PSOLA_CEILING_HZ
        )
        times, f0 = np.asarray(pitch.xs()), np.array(pitch.selected_array["frequency"], dtype=np.float64)
        median_st = float(np.median(hz_to_st(f0[f0 > 0]))) if np.any(f0 > 0) else 0.0
        highest_hz = 100.0 * 2.0 ** ((median_st + _OUTLIER_ST) / 12.0)
        pitch.formula(f"if self > {highest_hz:.6f} then 0 else self fi")
        stretch = not controls.is_neutral("duration")
        script = _psola_script(median_st, duration_s, knot_times, knot_values, stretch=stretch, seed=seed)
        curves = [
            parselmouth.Sound(curve, sampling_frequency=1.0 / _CURVE_STEP_S, start_time=start)
            for curve in (range_curve, shift_curve)
        ]
        (result,) = run_praat([sound, pitch, *curves], script)
        out = np.asarray(result.values[0], dtype=np.float64)
    f0[f0 > highest_hz] = 0.0
    voiced = f0 > 0

    boundaries = np.arange(controls.n_frames + 1) * controls.frame_s
    time_map = _area(knot_times, knot_values, boundaries)
    expected = _area(knot_times, knot_values, np.array([duration_s]))[0]
    if abs(out.size / sample_rate - expected) > 2.0 * controls.frame_s:
        _LOGGER.warning(
            "PSOLA gave %.3f s, the duration tier integrates to %.3f s", out.size / sample_rate, expected
        )
    out = _match_level(out, signal, sample_rate, controls, time_map)

    new_st = median_st + (hz_to_st(f0[voiced]) - median_st) * np.interp(times[voiced], grid, range_curve)
    new_st += np.interp(times[voiced], grid, shift_curve)
    new_f0 = np.zeros_like(f0)
    new_f0[voiced] = 100.0 * 2.0 ** (new_st / 12.0)
    return out, time_map, (np.interp(times, boundaries, time_map), new_f0)


def _match_level(
    out: np.ndarray, reference: np.ndarray, sample_rate: int, controls: Controls, time_map: np.ndarray
) -> np.ndarray:
    """Give ``out`` (shape ``(m,)``) the short-term energy of ``reference`` (shape ``(n,)``) at mapped times.

    PSOLA loses level when it moves pitch (−1.5 dB at −3 st, −0.5 dB at +3 st
    or range ×1.5); a gain smoothed over ~150 ms and limited to ±6 dB puts it
    back, so only ``gain_db`` sets loudness. Silence (40 dB under the loudest
    stretch) is left alone.
    """
    block = max(1, round(_LEVEL_BLOCK_S * sample_rate))
    kernel = np.hanning(round(_LEVEL_WINDOW_S / _LEVEL_BLOCK_S) + 2)[1:-1]
    kernel /= kernel.sum()

    def envelope(x: np.ndarray) -> np.ndarray:
        n_blocks = math.ceil(x.size / block)
        energy = np.mean(np.pad(x, (0, n_blocks * block - x.size)).reshape(n_blocks, block) ** 2, axis=1)
        return np.convolve(energy, kernel, mode="same")

    reference_env, out_env = envelope(reference), envelope(out)
    out_centres = (np.arange(out_env.size) + 0.5) * block / sample_rate
    reference_centres = (np.arange(reference_env.size) + 0.5) * block / sample_rate
    wanted = np.interp(_input_times(out_centres, controls, time_map), reference_centres, reference_env)
    floor = 1e-4 * float(reference_env.max()) + 1e-20
    ratio_db = np.clip(10.0 * np.log10((wanted + floor) / (out_env + floor)), -_LEVEL_MAX_DB, _LEVEL_MAX_DB)
    return out * 10.0 ** (np.interp(np.arange(out.size), out_centres * sample_rate, ratio_db) / 20.0)


def _tremor(grid: np.ndarray, controls: Controls, seed: int) -> np.ndarray:
    """Tremor in semitones on ``grid`` (shape ``(g,)``): 6–10 Hz band-limited noise
    drawn from ``seed``, with a fixed RMS per unit of jitter."""
    if controls.is_neutral("jitter"):
        return np.zeros_like(grid)
    from scipy.signal import butter, sosfiltfilt  # ~0.7 s to import: only where a filter runs

    noise = np.random.default_rng([seed, 1]).standard_normal(grid.size + 200)
    sos = butter(2, _TREMOR_BAND_HZ, btype="bandpass", fs=1.0 / _CURVE_STEP_S, output="sos")
    tremor = sosfiltfilt(sos, noise)[100:-100]
    tremor *= _TREMOR_RMS_ST / max(float(np.sqrt(np.mean(tremor**2))), 1e-12)
    return tremor * controls.at("jitter", grid)


def _duration_knots(controls: Controls) -> tuple[np.ndarray, np.ndarray]:
    """Frame centres where the duration curve bends (plus both ends) and its values there.

    Linear interpolation between these knots reproduces the curve exactly.
    """
    curve = controls.duration
    bends = np.abs(np.diff(curve, 2)) > 1e-9
    keep = np.concatenate([[True], bends, [True]]) if curve.size > 1 else np.array([True])
    index = np.flatnonzero(keep)
    return (index + 0.5) * controls.frame_s, curve[index]


def _area(knot_times: np.ndarray, knot_values: np.ndarray, at: np.ndarray) -> np.ndarray:
    """Integral from 0 of the piecewise-linear curve through the knots (held outside), at times ``at``.

    This is how Praat turns a DurationTier into output time.
    """
    x = np.concatenate([[min(0.0, knot_times[0])], knot_times, [max(knot_times[-1], float(np.max(at)))]])
    y = np.concatenate([[knot_values[0]], knot_values, [knot_values[-1]]])
    cumulative = np.concatenate([[0.0], np.cumsum(np.diff(x) * (y[1:] + y[:-1]) / 2.0)])
    segment = np.clip(np.searchsorted(x, at, side="right") - 1, 0, x.size - 2)
    value_at = np.interp(at, x, y)
    return cumulative[segment] + (at - x[segment]) * (y[segment] + value_at) / 2.0


def _psola_script(
    median_st: float,
    duration_s: float,
    knot_times: np.ndarray,
    knot_values: np.ndarray,
    *,
    stretch: bool,
    seed: int,
) -> str:
    """Praat script run with (speech, its pitch, range curve, shift curve) selected; leaves the result
    selected.

    Overlap-add draws random numbers (for unvoiced stretches it lengthens); Praat's generator is
    seeded from ``seed`` first so the same input renders the same samples.
    """
    lines = [
        f"random_initializeWithSeedUnsafelyButPredictably ({int(seed) % 2**31})",
        'speech = selected("Sound", 1)',
        'pitch = selected("Pitch")',
        'rangeCurve = selected("Sound", 2)',
        'shiftCurve = selected("Sound", 3)',
        f"median = {median_st:.9f}",
        "selectObject: speech, pitch",
        "manipulation = To Manipulation",
        "pitchTier = Extract pitch tier",
        'Formula: "100 * 2 ^ ((median + (12 * log2 (self / 100) - median) * object (rangeCurve, x)'
        ' + object (shiftCurve, x)) / 12)"',
        "selectObject: manipulation, pitchTier",
        "Replace pitch tier",
    ]
    if stretch:
        lines.append(f'durationTier = Create DurationTier: "stretch", 0, {duration_s:.9f}')
        lines += [f"Add point: {t:.9f}, {v:.9f}" for t, v in zip(knot_times, knot_values)]
        lines += ["selectObject: manipulation, durationTier", "Replace duration tier"]
    lines += ["selectObject: manipulation", "Get resynthesis (overlap-add)"]
    return "\n".join(lines) + "\n"


# --- stage 2: breathiness --------------------------------------------------------------


def _breathe(
    signal: np.ndarray,
    sample_rate: int,
    controls: Controls,
    time_map: np.ndarray,
    track: tuple[np.ndarray, np.ndarray],
    seed: int,
) -> np.ndarray:
    """Raise aperiodicity with breathiness, frame by frame in the STFT domain.

    Each bin keeps ``sqrt(1 - w)`` of its (periodic + natural aperiodic) content
    and gets ``sqrt(w)`` of noise with the CheapTrick envelope, ``w`` from
    :func:`_noise_share` — so ``b = 1`` leaves noise only (whisper) and the
    expected energy of each bin is unchanged (level-matched). Frames with
    ``b`` under 0.02 are not touched: the result is the input plus per-frame
    corrections, overlap-added (Hann, 75 % overlap), exact where nothing
    changes. Frames are processed in chunks to bound memory on long audio.
    """
    import pyworld

    n_fft = pyworld.get_cheaptrick_fft_size(sample_rate, 70.0)
    hop = n_fft // 4
    window = np.hanning(n_fft + 1)[:-1]
    overlap = float(np.sum(window[::hop] ** 2))
    n_frames = math.ceil((signal.size + n_fft) / hop) + 1
    padded = np.pad(signal, (n_fft, n_frames * hop - signal.size))
    centres_s = (np.arange(n_frames) * hop - n_fft // 2) / sample_rate
    breath = controls.at("breathiness", _input_times(centres_s, controls, time_map))
    active = np.flatnonzero(breath > _BREATH_MIN)
    if active.size == 0:
        return signal

    frames = np.lib.stride_tricks.sliding_window_view(padded, n_fft)[::hop]
    out_blocks = padded.reshape(-1, hop).copy()
    freqs = np.fft.rfftfreq(n_fft, 1.0 / sample_rate)
    noise_gain = np.sqrt(overlap / np.mean(window**2) / 2.0)
    rng = np.random.default_rng([seed, 2])
    for chunk in np.array_split(active, math.ceil(active.size / _BREATH_CHUNK_FRAMES)):
        spectra = np.fft.rfft(frames[chunk] * window)
        envelope = _envelope(signal, sample_rate, centres_s, chunk, track, n_fft)
        power = np.sum(np.abs(spectra) ** 2, axis=1, keepdims=True)
        envelope *= power / np.maximum(envelope.sum(axis=1, keepdims=True), 1e-30)
        share = _noise_share(freqs, breath[chunk])
        noise = rng.standard_normal((*spectra.shape, 2), dtype=np.float32).view(np.complex64)[..., 0]
        change = spectra * (np.sqrt(1.0 - share) - 1.0) + noise * (np.sqrt(envelope * share) * noise_gain)
        span = np.zeros((chunk[-1] - chunk[0] + 1, n_fft))
        span[chunk - chunk[0]] = np.fft.irfft(change, n_fft) * (window / overlap)
        quarters = span.reshape(span.shape[0], 4, hop)
        for quarter in range(4):
            out_blocks[chunk[0] + quarter : chunk[0] + quarter + span.shape[0]] += quarters[:, quarter]
    return out_blocks.reshape(-1)[n_fft : n_fft + signal.size]


def _envelope(
    signal: np.ndarray,
    sample_rate: int,
    centres_s: np.ndarray,
    active: np.ndarray,
    track: tuple[np.ndarray, np.ndarray],
    n_fft: int,
) -> np.ndarray:
    """CheapTrick power envelope of the ``active`` frames → ``(active.size, n_fft // 2 + 1)``, with
    Praat's F0.

    The envelope moves slowly next to the 75 %-overlap frames, so CheapTrick
    runs on even frames only and an odd frame takes the mean of its neighbours.
    """
    import pyworld

    even = np.unique(np.concatenate([active - active % 2, active + active % 2]))
    times = np.clip(centres_s[np.minimum(even, centres_s.size - 1)], 0.0, signal.size / sample_rate)
    track_times, track_f0 = track
    voiced = track_f0 > 0
    f0 = np.zeros_like(times)
    if np.any(voiced):
        nearest = np.clip(np.searchsorted(track_times, times), 0, track_times.size - 1)
        floor = pyworld.get_cheaptrick_f0_floor(sample_rate, n_fft) * 1.01
        pitch = np.maximum(np.interp(times, track_times[voiced], track_f0[voiced]), floor)
        f0 = np.where(voiced[nearest], pitch, 0.0)
    coarse = pyworld.cheaptrick(np.ascontiguousarray(signal), f0, times, sample_rate, fft_size=n_fft)
    below = np.searchsorted(even, active - active % 2)
    above = np.searchsorted(even, active + active % 2)
    return (coarse[below] + coarse[above]) / 2.0


def _noise_share(freqs: np.ndarray, breath: np.ndarray) -> np.ndarray:
    """Share ``w`` of each bin's power to replace by noise: shape ``(frames, bins)``.

    WORLD's aperiodicity ``ap`` (amplitude) rises linearly from the modal
    profile ``ap0`` to 1 with breathiness; ``w`` is the extra noise power that
    takes the bin's aperiodic share from ``ap0²`` to ``ap²``.
    """
    knots_hz, knots_db = zip(*_MODAL_APERIODICITY_DB)
    modal = 10.0 ** (np.interp(freqs, knots_hz, knots_db) / 20.0)
    target = modal[None, :] + (1.0 - modal[None, :]) * breath[:, None]
    return np.clip((target**2 - modal**2) / (1.0 - modal**2), 0.0, 1.0)


# --- stages 3 and 4: tilt, limiter -------------------------------------------------------


def _tilt_and_gain(
    signal: np.ndarray, sample_rate: int, controls: Controls, time_map: np.ndarray
) -> np.ndarray:
    """Spectral tilt and gain: ``y = g(t) * a(t) * (x + c(t) * highpass(x))``, shape ``(m,)``.

    The tilt is a first-order high shelf: ``c = 10^(2 * tilt / 20) - 1`` gives
    ``2 * tilt`` dB above the 1 kHz corner (the octaves 1–4 kHz at ``tilt``
    dB/octave). ``a`` keeps the utterance's energy for the current tilt, from
    the signal's own energy in and across the two branches, so only the gain
    ``g`` moves the level. All three are computed per frame and interpolated
    linearly per sample on the output time axis: no steps.
    """
    boundaries = np.arange(controls.n_frames + 1) * controls.frame_s
    centres = (
        np.interp((np.arange(controls.n_frames) + 0.5) * controls.frame_s, boundaries, time_map) * sample_rate
    )
    samples = np.arange(signal.size)
    gain = 10.0 ** (controls.gain_db / 20.0)
    if controls.is_neutral("tilt_db"):
        return signal * np.interp(samples, centres, gain)
    from scipy.signal import butter, sosfilt

    sos = butter(1, min(_TILT_CORNER_HZ, 0.45 * sample_rate), btype="highpass", fs=sample_rate, output="sos")
    high = sosfilt(sos, signal)
    shelf = 10.0 ** (_SHELF_DB_PER_TILT * controls.tilt_db / 20.0) - 1.0
    exx, exh, ehh = float(np.sum(signal * signal)), float(np.sum(signal * high)), float(np.sum(high * high))
    keep = np.sqrt(exx / np.maximum(exx + 2.0 * shelf * exh + shelf**2 * ehh, 1e-30)) if exx > 0 else 1.0
    return signal * np.interp(samples, centres, gain * keep) + high * np.interp(
        samples, centres, gain * keep * shelf
    )


def limiter(
    audio: np.ndarray,
    sample_rate: int,
    *,
    ceiling_db: float = -1.0,
    attack_ms: float = 5.0,
    release_ms: float = 80.0,
) -> np.ndarray:
    """Look-ahead peak limiter: ``audio`` (shape ``(n,)``) → float32 ``(n,)`` peaking at or below
    ``ceiling_db``.

    Audio already under the ceiling is returned unchanged. Otherwise a phase
    rotator (all-pass filters around 300 Hz: the magnitude spectrum is
    untouched, low frequencies are delayed by a few ms) first spreads the
    glottal pulses, which lowers speech's peak-to-RMS ratio by up to 3 dB; then
    the needed reduction is found per 1 ms block, ramped in over ``attack_ms``
    before each peak (look-ahead, no latency: the whole signal is at hand),
    released exponentially over ``release_ms``, and interpolated per sample, so
    the gain never steps. A +10 dB rendering of the bundled voice loses at
    most about 1 dB of level to the limiter.

    :raises ValueError: bad audio, ``ceiling_db > 0``, ``attack_ms <= 0`` or ``release_ms < 0``.
    """
    signal = as_signal(audio, sample_rate)
    if not (ceiling_db <= 0):
        raise ValueError(f"ceiling_db must be <= 0, got {ceiling_db!r}")
    if not (attack_ms > 0 and release_ms >= 0):
        raise ValueError(f"need attack_ms > 0 and release_ms >= 0, got {attack_ms!r}, {release_ms!r}")
    ceiling = 10.0 ** (ceiling_db / 20.0)
    if np.max(np.abs(signal)) <= ceiling:
        return signal.astype(np.float32)
    signal = _rotate_phase(signal, sample_rate)
    if np.max(np.abs(signal)) <= ceiling:
        return signal.astype(np.float32)

    block = max(1, round(sample_rate / 1000.0))
    n_blocks = math.ceil(signal.size / block)
    peaks = np.abs(np.pad(signal, (0, n_blocks * block - signal.size))).reshape(n_blocks, block).max(1)
    excess = 20.0 * np.log10(np.maximum(peaks, ceiling) / ceiling)
    excess = np.lib.stride_tricks.sliding_window_view(np.pad(excess, 1), 3).max(1)
    attack = max(1, round(attack_ms * sample_rate / 1000.0 / block))
    ahead = np.lib.stride_tricks.sliding_window_view(np.pad(excess, (0, attack)), attack + 1).max(1)
    held = _release(ahead, math.exp(-block / (release_ms * sample_rate / 1000.0)) if release_ms > 0 else 0.0)
    boxcar = np.full(attack + 1, 1.0 / (attack + 1))
    smoothed = np.convolve(np.pad(held, (attack, 0), mode="edge"), boxcar, mode="valid")
    centres = (np.arange(n_blocks) + 0.5) * block
    gain = 10.0 ** (-np.interp(np.arange(signal.size), centres, smoothed) / 20.0)
    return np.clip(signal * gain, -ceiling, ceiling).astype(np.float32)


def _rotate_phase(signal: np.ndarray, sample_rate: int) -> np.ndarray:
    """Cascade of second-order all-pass sections (shape ``(n,)`` → ``(n,)``)."""
    from scipy.signal import sosfilt

    radius = math.exp(-math.pi * _ROTATOR_BANDWIDTH_HZ / sample_rate)
    a1 = -2.0 * radius * math.cos(2.0 * math.pi * _ROTATOR_CENTRE_HZ / sample_rate)
    a2 = radius**2
    section = [a2, a1, 1.0, 1.0, a1, a2]
    return sosfilt(np.array([section] * _ROTATOR_SECTIONS), signal)


def _release(reduction_db: np.ndarray, decay: float) -> np.ndarray:
    """Peak-hold with exponential release: ``out[i] = max(x[i], out[i - 1] * decay)``."""
    out = reduction_db.copy()
    active = np.flatnonzero(reduction_db > 0)
    if active.size == 0:
        return out
    level = 0.0
    for i in range(int(active[0]), out.size):
        level = max(out[i], level * decay)
        out[i] = level
    return out
