"""The torch engine: the same Piper weights as onnxruntime, per-phoneme durations, batches."""

from __future__ import annotations

import dataclasses
import sys

import numpy as np
import pytest

from emotts_plugin import load_config
from emotts_plugin.config import CacheConfig
from emotts_plugin.emotion import EmotionVector
from emotts_plugin.errors import ConfigError, MissingExtraError
from emotts_plugin.models.base import RenderPiece
from emotts_plugin.models.measure import spectral_distance

torch = pytest.importorskip("torch")

from emotts_plugin.models.piper import PiperBackend  # noqa: E402
from emotts_plugin.models.torch_vits import TorchPiperBackend, import_torch  # noqa: E402

HOP = 256
SENTENCES = [
    "The quick brown fox jumps over the lazy dog.",
    "Your parcel will arrive on Thursday, between nine and noon.",
    "Hello!",
]


@pytest.fixture(scope="module")
def onnx_engine() -> PiperBackend:
    return PiperBackend()


@pytest.fixture(scope="module")
def torch_engine() -> TorchPiperBackend:
    return TorchPiperBackend()


def piece_lengths(rendered) -> list[int]:
    bounds = list(rendered.piece_starts) + [len(rendered.audio)]
    return [b - a for a, b in zip(bounds[:-1], bounds[1:])]


@pytest.mark.parametrize("text", SENTENCES)
def test_noise_off_the_torch_engine_matches_onnxruntime(onnx_engine, torch_engine, text):
    pieces = [RenderPiece(text)]
    reference = onnx_engine.render("joe", pieces, noise=False)
    ours = torch_engine.render("joe", pieces, noise=False)
    assert abs(len(ours.audio) - len(reference.audio)) <= HOP  # within one frame
    n = min(len(ours.audio), len(reference.audio))
    distance = spectral_distance(ours.audio[:n], reference.audio[:n], 22050)
    # the same model with its noise on differs from itself by far more: the yardstick
    varied = onnx_engine.render("joe", pieces, noise=True, seed=1)
    control = spectral_distance(varied.audio, reference.audio, 22050)
    print(
        f"{text!r}: {len(reference.audio)} vs {len(ours.audio)} samples; "
        f"distance {distance:.4f}, noise-on control {control:.3f}"
    )
    assert distance < 0.01
    assert distance < control / 20


def test_a_slow_piece_lengthens_its_own_words_and_nothing_else(torch_engine):
    texts = ["I said", "never", "to the dog in the yard."]
    plain = torch_engine.render("joe", [RenderPiece(t) for t in texts], noise=False)
    slow = EmotionVector(rate=0.8)
    stressed = torch_engine.render(
        "joe", [RenderPiece(texts[0]), RenderPiece(texts[1], slow), RenderPiece(texts[2])], noise=False
    )
    before, after = piece_lengths(plain), piece_lengths(stressed)
    print(f"samples per piece: plain {before}, middle at rate 0.8 {after}")
    assert abs(after[0] - before[0]) <= HOP and abs(after[2] - before[2]) <= HOP
    assert 1.15 < after[1] / before[1] < 1.35  # ~1/0.8, each phoneme rounded up to whole frames
    assert "rate" in stressed.native


def test_a_slow_utterance_lengthens_its_last_word(torch_engine):
    text = "Please leave the package by the door."
    plain = torch_engine.render("joe", [RenderPiece(text)], noise=False)
    sad = torch_engine.render("joe", [RenderPiece(text, EmotionVector(rate=0.85))], noise=False)
    ratio = len(sad.audio) / len(plain.audio)
    last = torch_engine.render(
        "joe", [RenderPiece("Please leave the package by the"), RenderPiece("door.")], noise=False
    )
    last_sad = torch_engine.render(
        "joe",
        [
            RenderPiece("Please leave the package by the", EmotionVector(rate=0.85)),
            RenderPiece("door.", EmotionVector(rate=0.85)),
        ],
        noise=False,
    )
    word_ratio = piece_lengths(last_sad)[1] / piece_lengths(last)[1]
    print(f"whole utterance ×{ratio:.2f}, last word ×{word_ratio:.2f}")
    assert 1.1 < ratio < 1.35
    assert word_ratio > ratio + 0.1  # phrase-final lengthening on top of the rate


def test_a_batch_renders_what_single_renders_do(torch_engine):
    batch = torch_engine.render_batch(
        "joe", [[RenderPiece(t)] for t in SENTENCES] + [[RenderPiece("…")]], noise=False
    )
    assert len(batch) == len(SENTENCES) + 1
    assert len(batch[-1].audio) == 0  # nothing sayable: silence, in its place
    for text, rendered in zip(SENTENCES, batch):
        single = torch_engine.render("joe", [RenderPiece(text)], noise=False)
        assert len(rendered.audio) == len(single.audio)
        assert np.max(np.abs(rendered.audio - single.audio)) < 1e-3
    # with the noise on, each row keeps its own seed: as alone
    seeded = torch_engine.render_batch(
        "joe", [[RenderPiece(t)] for t in SENTENCES], noise=True, seeds=[1, 2, 3]
    )
    for seed, (text, rendered) in enumerate(zip(SENTENCES, seeded), start=1):
        single = torch_engine.render("joe", [RenderPiece(text)], noise=True, seed=seed)
        assert len(rendered.audio) == len(single.audio)
        assert np.max(np.abs(rendered.audio - single.audio)) < 1e-3


def test_a_seed_repeats_the_noise(torch_engine):
    pieces = [RenderPiece("Seeded speech sounds the same twice.")]
    a = torch_engine.render("joe", pieces, noise=True, seed=7)
    b = torch_engine.render("joe", pieces, noise=True, seed=7)
    c = torch_engine.render("joe", pieces, noise=True, seed=8)
    assert np.array_equal(a.audio, b.audio)
    assert len(a.audio) != len(c.audio) or not np.array_equal(a.audio, c.audio)


def test_the_synthesizer_runs_on_the_torch_engine():
    from emotts_plugin.synthesizer import Synthesizer

    config = dataclasses.replace(
        load_config([]), engine="torch", noise=False, cache=CacheConfig(memory_mb=0, dir=None)
    )
    synth = Synthesizer(config)
    neutral = synth.synthesize("We will call you back tomorrow morning.")
    sad = synth.synthesize("<emotion name='sad'>We will call you back tomorrow morning.</emotion>")
    print(f"neutral {neutral.duration_s:.2f} s, sad {sad.duration_s:.2f} s")
    assert sad.duration_s > neutral.duration_s * 1.05  # the rate, rendered inside the model


def test_cuda_without_a_cuda_device_is_a_config_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a CUDA device")
    with pytest.raises(ConfigError, match="cuda"):
        TorchPiperBackend(device="cuda")


def test_without_torch_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch now fails
    with pytest.raises(MissingExtraError, match=r"emotts\[torch\]"):
        import_torch()
    config = dataclasses.replace(load_config([]), engine="torch")
    from emotts_plugin.synthesizer import Synthesizer

    with pytest.raises(MissingExtraError, match=r"emotts\[torch\]"):
        Synthesizer(config)


def test_a_whole_input_renders_its_sentences_in_one_batch(monkeypatch):
    from emotts_plugin.models.torch_vits import TorchVoice
    from emotts_plugin.synthesizer import Synthesizer

    config = dataclasses.replace(
        load_config([]), engine="torch", noise=False, cache=CacheConfig(memory_mb=16, dir=None)
    )
    synth = Synthesizer(config)
    synth._backend("joe").batch_pays = True  # as on CUDA; on a CPU batches are slower and not used
    passes: list[int] = []
    infer = TorchVoice.infer

    def counted(self, batch, *args, **kwargs):
        passes.append(len(batch))
        return infer(self, batch, *args, **kwargs)

    monkeypatch.setattr(TorchVoice, "infer", counted)
    text = "The first sentence. The second one is longer than the first. And a third!"
    whole = synth.synthesize(text)
    assert passes == [3]  # three utterances, one pass of the model
    streamed = np.concatenate(
        [
            chunk.audio
            for chunk in Synthesizer(
                dataclasses.replace(config, cache=CacheConfig(memory_mb=0, dir=None))
            ).stream(text)
        ]
    )
    assert len(whole.audio) == len(streamed)  # the same speech as sentence by sentence
    passes.clear()
    synth.synthesize(text)
    assert passes == []  # all three from the cache
