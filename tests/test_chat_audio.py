"""The reply that paused after "Dr." and "p.m." is spoken in one breath (measured in the audio)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from emotts_plugin import Synthesizer, load_config

from evaluation import longest_inner_silence_s

REPLY = "Dr. Smith will call you at 3 p.m. tomorrow."
WRITTEN_OUT = "Doctor Smith will call you at three PM tomorrow."


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    config = load_config([])
    return Synthesizer(dataclasses.replace(config, noise=False, threads=1))


def render(synth: Synthesizer, text: str) -> tuple[np.ndarray, int]:
    chunks = list(synth.stream(text))
    return np.concatenate([chunk.audio for chunk in chunks]), chunks[0].sample_rate


def test_the_plan_holds_the_words_said(runtime):
    assert runtime.parse(REPLY).text == WRITTEN_OUT


def test_no_pause_after_the_abbreviations_and_the_length_of_the_written_out_form(synth):
    audio, rate = render(synth, REPLY)
    written, _ = render(synth, WRITTEN_OUT)
    assert len(synth.plan(REPLY)[0].segments) == 1
    # one utterance: no sentence pause after "Dr." or "p.m." (they were 0.46 s and 0.66 s)
    assert longest_inner_silence_s(audio, rate) < 0.15
    assert abs(len(audio) - len(written)) / len(written) <= 0.10
