"""Vendor elements measured in the rendered audio: an expletive's bleep, Polly's soft phonation and
a Google ``<par>`` whose second ``<media>`` begins 2 s in."""

from __future__ import annotations

import dataclasses

import numpy as np
import parselmouth
import pytest

from emotts_plugin import Synthesizer, load_config

from evaluation import longest_inner_silence_s


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=1))


def rendered(synth: Synthesizer, markup: str):
    chunks = list(synth.stream(markup))
    audio = np.concatenate([chunk.audio for chunk in chunks])
    spans = [span for chunk in chunks for span in chunk.spans]
    return audio, chunks[0].sample_rate, spans


def rms_db(audio: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(audio.astype(np.float64) ** 2)) + 1e-12)


def test_an_expletive_is_a_tone_of_its_length_at_the_voice_level(synth):
    audio, rate, spans = rendered(
        synth, '<speak>Well, <say-as interpret-as="expletive">darn</say-as> it all.</speak>'
    )
    plan, _ = synth.plan('<speak>Well, <say-as interpret-as="expletive">darn</say-as> it all.</speak>')
    assert [segment.bleep for segment in plan.segments] == [False, True, False]
    (start, end), speech = (
        next((s.start_s, s.end_s) for s in spans if s.segment == 1),
        [s for s in spans if s.segment != 1],
    )
    tone = audio[int(start * rate) : int(end * rate)]
    assert 0.15 < end - start < 1.0  # the word's length
    spectrum = np.abs(np.fft.rfft(tone * np.hanning(len(tone))))
    assert abs(np.fft.rfftfreq(len(tone), 1 / rate)[spectrum.argmax()] - 1000) < 20
    voice = np.concatenate([audio[int(s.start_s * rate) : int(s.end_s * rate)] for s in speech])
    voice = voice[np.abs(voice) > 1e-4]
    assert abs(rms_db(tone[len(tone) // 10 : -len(tone) // 10]) - rms_db(voice)) < 3.0


def test_soft_phonation_is_quieter_and_breathier(synth):
    text = "The garden lights will switch off at midnight."
    plain, rate, _ = rendered(synth, f"<speak>{text}</speak>")
    soft, _, _ = rendered(synth, f'<speak><amazon:effect phonation="soft">{text}</amazon:effect></speak>')

    def harmonicity(audio: np.ndarray) -> float:
        hnr = parselmouth.Sound(audio.astype(np.float64), rate).to_harmonicity()
        values = hnr.values[hnr.values > -100]
        return float(np.mean(values))

    assert rms_db(plain) - rms_db(soft) > 2.0
    assert harmonicity(soft) < harmonicity(plain) - 1.0


def test_a_media_that_begins_two_seconds_in_waits_two_seconds(synth):
    markup = (
        "<speak><par><media><speak>Question?</speak></media>"
        '<media begin="2.0s"><speak>Answer.</speak></media></par></speak>'
    )
    plan, _ = synth.plan(markup)
    assert [segment.text for segment in plan.segments] == ["Question?", "Answer."]
    audio, rate, _ = rendered(synth, markup)
    assert 1.95 <= longest_inner_silence_s(audio, rate) <= 2.4
