"""The reply that paused after "Dr." and "p.m." is spoken in one breath (measured in the audio)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emotts_plugin import Synthesizer, load_config

REPLY = "Dr. Smith will call you at 3 p.m. tomorrow."
WRITTEN_OUT = "Doctor Smith will call you at three PM tomorrow."


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    config = load_config([])
    return Synthesizer(dataclasses.replace(config, noise=False, threads=1))


def render(synth: Synthesizer, text: str) -> tuple[np.ndarray, int]:
    chunks = list(synth.stream(text))
    return np.concatenate([chunk.audio for chunk in chunks]), chunks[0].sample_rate


def longest_inner_silence_s(audio: np.ndarray, rate: int, frame_s: float = 0.01) -> float:
    """The longest run of 10 ms frames 40 dB under the loudest frame, between the first and the
    last frame above that floor."""
    size = int(rate * frame_s)
    frames = audio[: len(audio) // size * size].reshape(-1, size).astype(np.float64)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    voiced = np.flatnonzero(level > level.max() - 40)
    longest = run = 0
    for loud in level[voiced[0] : voiced[-1] + 1] > level.max() - 40:
        run = 0 if loud else run + 1
        longest = max(longest, run)
    return longest * frame_s


def test_the_plan_holds_the_words_said(runtime):
    assert runtime.parse(REPLY).text == WRITTEN_OUT


def test_no_pause_after_the_abbreviations_and_the_length_of_the_written_out_form(synth):
    audio, rate = render(synth, REPLY)
    written, _ = render(synth, WRITTEN_OUT)
    assert len(synth.plan(REPLY)[0].segments) == 1
    # one utterance: no sentence pause after "Dr." or "p.m." (they were 0.46 s and 0.66 s)
    assert longest_inner_silence_s(audio, rate) < 0.15
    assert abs(len(audio) - len(written)) / len(written) <= 0.10
