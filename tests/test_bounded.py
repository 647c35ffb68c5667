"""Requests are bounded before any work: audio and break budgets, extreme prosody, and answers
encoded as they render so memory does not grow with their length.

The hostile cases of the other bounds live beside their adapters' tests:
``test_bounded_http.py`` (framing, slow clients, disconnects), ``test_bounded_wyoming.py``,
``test_bounded_ivr.py`` (calls, Twilio, AudioSocket, reference uploads),
``test_bounded_config.py`` (operator mistakes, ports), ``test_bounded_voices.py`` and
``test_offline.py``. Every hostile case is followed by a normal request that must succeed.
"""

from __future__ import annotations

import dataclasses
import io
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import pytest_asyncio
import soundfile

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.audio import AudioFormat, StreamEncoder, encode
from emotts_plugin.errors import LimitError
from emotts_plugin.synthesizer import Synthesizer

EMOTTS = str(Path(sys.executable).with_name("emotts"))
HELLO = "Hello there."
#: 21 characters that take about four seconds to say (letters spelled, pauses between).
SLOW_TEXT = "I, I, I. A. B. C. Ok."
BREAKS_500 = "<speak>" + "Now. <break time='10s'/>" * 500 + "</speak>"


def with_limits(config, **limits):
    return dataclasses.replace(config, limits=dataclasses.replace(config.limits, **limits))


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))


@pytest.fixture(scope="module")
def tight_synth() -> Synthesizer:
    """Three seconds of audio per request: SLOW_TEXT passes the estimate but overruns."""
    return Synthesizer(
        with_limits(dataclasses.replace(load_config([]), noise=False, threads=2), max_audio_s=3.0)
    )


@pytest_asyncio.fixture
async def client(aiohttp_client, synth):
    return await aiohttp_client(create_app(synth.config, synthesizer=synth))


@pytest_asyncio.fixture
async def tight_client(aiohttp_client, tight_synth):
    return await aiohttp_client(create_app(tight_synth.config, synthesizer=tight_synth))


async def assert_still_serves(client) -> None:
    response = await client.post("/v1/synthesize", json={"input": HELLO})
    assert response.status == 200, await response.text()
    audio, rate = soundfile.read(io.BytesIO(await response.read()))
    assert rate == 22050 and 0.5 < len(audio) / rate < 3.0


# -- budgets: refused before rendering ---------------------------------------------


def test_a_plan_over_the_break_budget_is_refused_before_rendering(synth):
    with pytest.raises(LimitError) as caught:
        synth.plan(BREAKS_500)
    assert caught.value.limit == "limits.max_break_s" and caught.value.value == pytest.approx(5000.0)
    assert "limits.max_break_s" in str(caught.value) and "5,000.0 s of breaks" in str(caught.value)


def test_a_plan_over_the_audio_budget_is_refused_before_rendering(synth):
    text = "This sentence has some words in it. " * 600  # 21 600 characters: at least 12 minutes
    with pytest.raises(LimitError) as caught:
        synth.plan(text)
    assert caught.value.limit == "limits.max_audio_s" and caught.value.value > 600


def test_a_plan_within_budget_passes(synth):
    plan, _ = synth.plan("<speak>Wait for it <break time='10s'/> now.</speak>")
    assert plan.segments[0].break_after_ms == 10_000


@pytest.mark.parametrize(
    "route, body",
    [
        ("/v1/synthesize", {"input": BREAKS_500}),
        ("/v1/synthesize", {"input": BREAKS_500, "stream": True, "format": "pcm16"}),
        ("/v1/audio/speech", {"input": BREAKS_500, "response_format": "mp3"}),
        ("/v1/audio/speech", {"input": BREAKS_500, "response_format": "pcm"}),
        ("/v1/plan", {"input": BREAKS_500}),
    ],
)
@pytest.mark.asyncio
async def test_500_long_breaks_are_refused_with_413_on_every_route(client, route, body):
    response = await client.post(route, json=body)
    assert response.status == 413
    error = (await response.json())["error"]
    assert error["code"] == "LimitError" and "limits.max_break_s" in error["message"]
    await assert_still_serves(client)


@pytest.mark.asyncio
async def test_an_overrun_the_estimate_let_in_is_an_error_not_a_cut(tight_client, tight_synth):
    """The floor estimate admits SLOW_TEXT (under a second); rendering finds four seconds."""
    plan, _ = tight_synth.plan(SLOW_TEXT)  # admitted
    response = await tight_client.post("/v1/synthesize", json={"input": SLOW_TEXT})
    assert response.status == 413
    assert "limits.max_audio_s" in (await response.json())["error"]["message"]
    await assert_still_serves(tight_client)


def test_the_cli_refuses_over_budget_input_with_exit_2(tmp_path):
    out = tmp_path / "long.wav"
    result = subprocess.run(
        [EMOTTS, "say", BREAKS_500, "-o", str(out)], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("error: ") and "limits.max_break_s" in result.stderr
    assert "Traceback" not in result.stderr and not out.exists()
    assert not list(tmp_path.iterdir())  # no partial file left


# -- prosody held within bounds before any DSP ---------------------------------------


@pytest.mark.asyncio
async def test_extreme_prosody_is_a_warning_in_lenient_mode_and_an_error_in_strict(client):
    markup = '<speak><prosody pitch="+100000st">Way up there.</prosody></speak>'
    response = await client.post("/v1/synthesize", json={"input": markup})
    assert response.status == 200 and response.headers["X-Emotts-Warnings"] == "1"
    response = await client.post("/v1/synthesize", json={"input": markup, "strict": True})
    assert response.status == 400
    message = (await response.json())["error"]["message"]
    assert "+100000st" in message and "+24 st" in message and "Praat" not in message
    await assert_still_serves(client)


def test_nested_prosody_is_held_at_the_limit(synth):
    markup = (
        "<speak>" + '<prosody pitch="+20st" volume="+20dB">' * 5 + "High." + "</prosody>" * 5 + "</speak>"
    )
    plan, _ = synth.plan(markup)
    targets = plan.segments[0].targets
    assert targets.pitch_st == 24.0 and targets.volume_db == 24.0
    assert any("held at the limit" in w.message for w in plan.warnings)
    audio = synth.synthesize(markup).audio
    assert np.isfinite(audio).all() and np.abs(audio).max() <= 1.0


# -- whole answers encoded as they render ---------------------------------------------


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_encoding_chunk_by_chunk_decodes_like_encoding_whole(fmt):
    rate = 22050
    audio = (0.4 * np.sin(2 * np.pi * 220 * np.arange(rate) / rate)).astype(np.float32)
    spool = io.BytesIO()
    encoder = StreamEncoder.for_format(spool, rate, fmt)
    for part in np.array_split(audio, 7):
        encoder.write(part)
    encoder.close()
    whole = encode(audio, rate, fmt)
    if fmt is AudioFormat.OGG:  # Vorbis packets differ with the write sizes; compare the sound
        pieces, _ = soundfile.read(io.BytesIO(spool.getvalue()))
        assert len(pieces) == len(audio) and np.corrcoef(pieces, audio)[0, 1] > 0.99
    else:
        assert spool.getvalue() == whole
    assert encoder.duration_s == pytest.approx(1.0)


@pytest.mark.asyncio
async def test_a_whole_wav_answer_has_exact_lengths_in_its_header(client):
    response = await client.post("/v1/synthesize", json={"input": "One sentence here. And a second one."})
    assert response.status == 200
    data = await response.read()
    assert response.content_length == len(data)
    with wave.open(io.BytesIO(data)) as reader:
        frames, rate = reader.getnframes(), reader.getframerate()
    assert frames == (len(data) - 44) // 2
    assert frames / rate == pytest.approx(float(response.headers["X-Emotts-Duration"]), abs=1e-3)


@pytest.mark.parametrize("fmt", ["mp3", "opus", "flac"])
@pytest.mark.asyncio
async def test_openai_whole_answers_decode_to_the_rendered_length(client, fmt):
    response = await client.post(
        "/v1/audio/speech", json={"input": "One sentence here. And a second one.", "response_format": fmt}
    )
    assert response.status == 200
    data = await response.read()
    assert response.content_length == len(data)
    audio, rate = soundfile.read(io.BytesIO(data))
    assert rate == (48000 if fmt == "opus" else 24000) and 1.5 < len(audio) / rate < 5.0
