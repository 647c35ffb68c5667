"""The native HTTP API through aiohttp's test client, on the real voice with noise off.

Audio is judged by decoding it (rate, duration, level), never byte for byte. Streaming is
checked with a gate: the render of every sentence after the first waits until the client
has received audio, so a server that buffered the whole answer would fail.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import struct
import threading

import aiohttp
import numpy as np
import pytest
import pytest_asyncio
import soundfile
from aiohttp import web

from emotts_plugin import Runtime, load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.requests import QUEUE
from emotts_plugin.plugins import get_plugin_manager
from emotts_plugin.synthesizer import Synthesizer

from conftest import gate_after_first_chunk

HELLO = "Hello there."
THREE = "The first sentence is short. The second one takes a little longer to say. And this is the last."
TWO = "We looked everywhere for the keys. In the end they were in the car."


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))


@pytest_asyncio.fixture
async def client(aiohttp_client, synth):
    return await aiohttp_client(create_app(synth.config, synthesizer=synth))


def small_limits(synth, **limits):
    config = dataclasses.replace(synth.config, limits=dataclasses.replace(synth.config.limits, **limits))
    return create_app(config, synthesizer=synth)


def decode(data: bytes, fmt: str = "wav", sample_rate: int | None = None) -> tuple[np.ndarray, int]:
    """Decode any served format into float samples and their rate."""
    if fmt in ("pcm16", "ulaw", "alaw"):
        subtype = {"pcm16": "PCM_16", "ulaw": "ULAW", "alaw": "ALAW"}[fmt]
        audio, rate = soundfile.read(
            io.BytesIO(data),
            format="RAW",
            subtype=subtype,
            samplerate=sample_rate,
            channels=1,
            endian="LITTLE",
        )
    else:
        audio, rate = soundfile.read(io.BytesIO(data))
    return audio.astype(np.float32), rate


def rms_db(audio: np.ndarray) -> float:
    return 20 * np.log10(np.sqrt(np.mean(audio**2)) + 1e-12)


async def synthesize(client, **body):
    response = await client.post("/v1/synthesize", json=body)
    assert response.status == 200, await response.text()
    return response, await response.read()


async def error_of(response, status: int) -> dict:
    assert response.status == status, await response.text()
    assert response.content_type == "application/json"
    body = await response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code"}
    return body["error"]


# -- /v1/synthesize -----------------------------------------------------------------------


@pytest.mark.asyncio
async def test_synthesize_defaults_to_wav_at_the_voice_rate(client):
    response, data = await synthesize(client, input=HELLO)
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["X-Emotts-Warnings"] == "0"
    audio, rate = decode(data)
    assert rate == 22050 == int(response.headers["X-Emotts-Sample-Rate"])
    duration = len(audio) / rate
    assert 0.4 < duration < 3.0
    assert duration == pytest.approx(float(response.headers["X-Emotts-Duration"]), abs=0.002)
    assert rms_db(audio) > -35


@pytest.mark.parametrize(
    ("fmt", "sample_rate", "media_type", "rate"),
    [
        ("wav", 16000, "audio/wav", 16000),
        ("flac", None, "audio/flac", 22050),
        ("ogg", 24000, "audio/ogg", 24000),
        ("pcm16", None, "audio/pcm;rate=22050;channels=1;format=s16le", 22050),
        ("ulaw", None, "audio/basic", 8000),
        ("alaw", None, "audio/x-alaw-basic", 8000),
        ("ulaw", 16000, "audio/PCMU;rate=16000", 16000),
    ],
)
@pytest.mark.asyncio
async def test_every_format_decodes_to_the_same_speech(client, fmt, sample_rate, media_type, rate):
    body = {"input": HELLO, "format": fmt} | ({"sample_rate": sample_rate} if sample_rate else {})
    response, data = await synthesize(client, **body)
    assert response.headers["Content-Type"] == media_type
    audio, got_rate = decode(data, fmt, rate)
    assert got_rate == rate
    reference = float(response.headers["X-Emotts-Duration"])
    assert len(audio) / rate == pytest.approx(reference, abs=0.01)
    assert 0.4 < reference < 3.0
    assert rms_db(audio) > -35


@pytest.mark.asyncio
async def test_emotion_and_intensity_change_the_speech(client):
    _, neutral = await synthesize(client, input=TWO)
    _, sad = await synthesize(client, input=TWO, emotion="sad", intensity=1.0)
    _, half = await synthesize(client, input=TWO, emotion={"sad": 0.5})
    lengths = [len(decode(data)[0]) for data in (neutral, sad, half)]
    assert lengths[1] > 1.1 * lengths[0]  # sad is slower with longer pauses
    assert lengths[0] < lengths[2] < lengths[1]
    assert rms_db(decode(sad)[0]) < rms_db(decode(neutral)[0]) - 1.5  # and quieter


@pytest.mark.asyncio
async def test_markup_and_lenient_repairs_are_reported(client):
    response, data = await synthesize(client, input='Tom & Jerry. <emotion name="happy">Yay!</emotion>')
    assert int(response.headers["X-Emotts-Warnings"]) >= 1
    assert len(decode(data)[0]) > 0


# -- streaming ------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_stream_sends_the_first_sentence_before_the_rest_is_rendered(client, synth, monkeypatch):
    _, whole = await synthesize(client, input=THREE, format="pcm16")
    released, seen = gate_after_first_chunk(monkeypatch, synth)
    response = await client.post("/v1/synthesize", json={"input": THREE, "format": "pcm16", "stream": True})
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("audio/pcm;rate=22050")
    assert "Content-Length" not in response.headers
    first = await response.content.readany()
    assert len(first) > 2000
    released.set()
    data = first + await response.read()
    assert seen["released_before_second_render"] is True
    streamed, rate = decode(data, "pcm16", 22050)
    assert len(streamed) == len(decode(whole, "pcm16", 22050)[0])  # noise off: the same samples


def fail_after_first_chunk(monkeypatch, synth) -> None:
    real = synth.render_plan

    def failing(plan, config, **options):
        yield next(real(plan, config, **options))
        raise RuntimeError("the voice crashed")

    monkeypatch.setattr(synth, "render_plan", failing)


@pytest.mark.asyncio
async def test_a_failure_after_the_stream_started_cuts_it(client, synth, monkeypatch):
    fail_after_first_chunk(monkeypatch, synth)
    response = await client.post("/v1/synthesize", json={"input": THREE, "format": "pcm16", "stream": True})
    assert response.status == 200
    with pytest.raises(aiohttp.ClientPayloadError):
        await response.read()  # no final chunk: the client knows the audio is incomplete


@pytest.mark.asyncio
async def test_a_client_that_goes_away_frees_its_place(client, synth, monkeypatch):
    released, seen = gate_after_first_chunk(monkeypatch, synth)
    response = await client.post("/v1/synthesize", json={"input": THREE, "format": "pcm16", "stream": True})
    assert len(await response.content.readany()) > 0
    assert client.app[QUEUE].load == 1
    response.close()
    released.set()
    for _ in range(300):
        if client.app[QUEUE].load == 0:
            break
        await asyncio.sleep(0.01)
    assert client.app[QUEUE].load == 0


@pytest.mark.asyncio
async def test_wav_stream_has_an_open_ended_header(client):
    _, whole = await synthesize(client, input=TWO)
    response = await client.post("/v1/synthesize", json={"input": TWO, "stream": True})
    assert response.status == 200 and response.headers["Content-Type"] == "audio/wav"
    data = await response.read()
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE"
    assert struct.unpack("<I", data[4:8])[0] == 0xFFFFFFFF == struct.unpack("<I", data[40:44])[0]
    streamed, rate = decode(data)
    assert rate == 22050
    assert len(streamed) == len(decode(whole)[0])


@pytest.mark.asyncio
async def test_ulaw_stream_for_telephony(client):
    response = await client.post("/v1/synthesize", json={"input": HELLO, "stream": True, "format": "ulaw"})
    assert response.status == 200 and response.headers["Content-Type"] == "audio/basic"
    audio, _ = decode(await response.read(), "ulaw", 8000)
    assert 0.4 < len(audio) / 8000 < 3.0


@pytest.mark.asyncio
async def test_stream_errors_before_audio_keep_their_status(client):
    response = await client.post(
        "/v1/synthesize", json={"input": "<speak>Hi <emotion>there</speak>", "stream": True, "strict": True}
    )
    error = await error_of(response, 400)
    assert error["code"] == "MarkupError" and "line 1, column" in error["message"]
    response = await client.post("/v1/synthesize", json={"input": HELLO, "stream": True, "format": "flac"})
    error = await error_of(response, 400)
    assert "cannot be streamed" in error["message"]


# -- bad requests ---------------------------------------------------------------------------

BAD_REQUESTS = [
    # (body, code, words in the message)
    (b"{not json", "InvalidJSON", "not valid JSON"),
    (b"[1, 2]", "InvalidJSON", "must be a JSON object"),
    ({}, "MissingField", "'input'"),
    ({"input": 5}, "InvalidField", "must be a string"),
    ({"input": "   "}, "InvalidField", "nothing to say"),
    ({"input": HELLO, "voice": "nobody"}, "UnknownVoiceError", "available voices: "),
    ({"input": HELLO, "emotion": "grumpy"}, "UnknownEmotionError", "unknown emotion 'grumpy'"),
    ({"input": HELLO, "emotion": {"sad": 3}}, "InvalidField", "0..1"),
    ({"input": HELLO, "format": "mp4"}, "UnsupportedFormat", "use one of wav, flac, ogg, pcm16, ulaw, alaw"),
    ({"input": HELLO, "intensity": 2}, "InvalidField", "within 0..1"),
    ({"input": HELLO, "intensity": True}, "InvalidField", "must be a number"),
    ({"input": HELLO, "sample_rate": 100}, "InvalidField", "8000..96000"),
    ({"input": HELLO, "emtion": "sad"}, "UnknownField", "unknown field 'emtion'"),
    ({"input": HELLO, "stream": "yes"}, "InvalidField", "true or false"),
    ({"input": "<speak>\n  <emotion name='sad'>Hi</speak>", "strict": True}, "MarkupError", "line 2, column"),
    ({"input": '<!DOCTYPE x [<!ENTITY a "b">]><speak>&a;</speak>'}, "HostileInputError", "DOCTYPE"),
    ({"input": "🙂 🙂"}, "MarkupError", "nothing to say: the input has no words"),
]


@pytest.mark.parametrize(
    ("body", "code", "words"),
    BAD_REQUESTS,
    ids=[case[1] + "-" + str(i) for i, case in enumerate(BAD_REQUESTS)],
)
@pytest.mark.asyncio
async def test_bad_requests_answer_400_in_one_shape(client, body, code, words):
    if isinstance(body, bytes):
        response = await client.post(
            "/v1/synthesize", data=body, headers={"Content-Type": "application/json"}
        )
    else:
        response = await client.post("/v1/synthesize", json=body)
    error = await error_of(response, 400)
    assert error["code"] == code
    assert error["type"] == "invalid_request_error"
    assert words in error["message"]


@pytest.mark.asyncio
async def test_oversize_body_and_input_are_413(aiohttp_client, synth):
    client = await aiohttp_client(small_limits(synth, max_body_bytes=4096, max_input_bytes=1000))
    response = await client.post("/v1/synthesize", json={"input": "word " * 2000})
    error = await error_of(response, 413)
    assert "limits.max_body_bytes (4,096 bytes)" in error["message"]
    for path in ("/v1/synthesize", "/v1/plan"):
        response = await client.post(path, json={"input": "word " * 300})
        error = await error_of(response, 413)
        assert error["code"] == "HostileInputError"
        assert "input is 1,500 bytes; the limit is 1,000 (limits.max_input_bytes)" in error["message"]
    response, _ = await synthesize(client, input=HELLO)  # and it still serves


@pytest.mark.asyncio
async def test_unknown_routes_and_methods_answer_in_the_error_shape(client):
    assert (await error_of(await client.get("/v1/nothing"), 404))["code"] == "HTTPNotFound"
    assert (await error_of(await client.get("/v1/synthesize"), 405))["code"] == "HTTPMethodNotAllowed"


# -- the queue and the time limit -------------------------------------------------------------


@pytest.mark.asyncio
async def test_full_queue_is_503_with_retry_after_and_the_server_keeps_serving(
    aiohttp_client, synth, monkeypatch
):
    client = await aiohttp_client(create_app(synth.config, synthesizer=synth, workers=1, queue_depth=0))
    gate = threading.Event()
    real_plan = synth.plan

    def slow_plan(*args, **kwargs):
        gate.wait(timeout=20)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(synth, "plan", slow_plan)
    first = asyncio.ensure_future(client.post("/v1/synthesize", json={"input": HELLO}))
    for _ in range(200):
        if client.app[QUEUE].load == 1:
            break
        await asyncio.sleep(0.01)
    assert client.app[QUEUE].load == 1
    busy = await client.post("/v1/synthesize", json={"input": HELLO})
    error = await error_of(busy, 503)
    assert busy.headers["Retry-After"] == "2"
    assert error["code"] == "QueueFull" and error["type"] == "server_busy"
    busy_stream = await client.post("/v1/synthesize", json={"input": HELLO, "stream": True})
    await error_of(busy_stream, 503)
    health = await client.get("/healthz")  # the event loop is free while the worker renders
    assert health.status == 200 and (await health.json())["queue"] == 1
    gate.set()
    response = await first
    assert response.status == 200 and len(decode(await response.read())[0]) > 0
    response, _ = await synthesize(client, input=HELLO)
    assert client.app[QUEUE].load == 0


@pytest.mark.asyncio
async def test_request_over_the_time_limit_is_504(aiohttp_client, synth, monkeypatch):
    client = await aiohttp_client(small_limits(synth, request_timeout_s=0.2))
    real_plan = synth.plan

    def slow_plan(*args, **kwargs):
        threading.Event().wait(0.6)
        return real_plan(*args, **kwargs)

    monkeypatch.setattr(synth, "plan", slow_plan)
    error = await error_of(await client.post("/v1/synthesize", json={"input": HELLO}), 504)
    assert error["code"] == "Timeout" and "request_timeout_s" in error["message"]


# -- plan, voices, emotions, health, metrics --------------------------------------------------


@pytest.mark.asyncio
async def test_plan_is_the_parse_json(client, synth):
    text = 'Tom & Jerry. <emotion name="gentle" intensity="0.6">Let me help.</emotion><break time="300ms"/>'
    response = await client.post("/v1/plan", json={"input": text})
    assert response.status == 200
    plan = await response.json()
    assert plan == synth.runtime.parse(text).to_dict()
    assert plan["segments"][1]["emotion"] == {"gentle": 0.6}
    assert plan["warnings"] and plan["warnings"][0]["line"] == 1
    response = await client.post("/v1/plan", json={"input": "Hi.", "emotion": "sad", "intensity": 0.5})
    assert (await response.json())["segments"][0]["emotion"] == {"sad": 0.5}


@pytest.mark.asyncio
async def test_strict_plan_error_names_line_and_column(client):
    response = await client.post(
        "/v1/plan", json={"input": "<speak>\nHello <emotion name='sad'>there</speak>", "strict": True}
    )
    error = await error_of(response, 400)
    assert error["code"] == "MarkupError"
    assert error["message"].startswith("line 2, column ")


@pytest.mark.asyncio
async def test_voices_and_emotions(client, synth):
    voices = (await (await client.get("/v1/voices")).json())["voices"]
    joe = next(v for v in voices if v["name"] == "joe")
    assert joe == {
        "name": "joe",
        "backend": "piper",
        "languages": ["en-US"],
        "sample_rate": 22050,
        "description": joe["description"],
        "gender": "male",
        "default": True,
    }
    emotions = (await (await client.get("/v1/emotions")).json())["emotions"]
    assert [e["name"] for e in emotions] == list(synth.runtime.space.labels)
    happy = next(e for e in emotions if e["name"] == "happy")
    assert "cheerful" in happy["aliases"] and happy["vector"]["pitch_st"] > 0


@pytest.mark.asyncio
async def test_health_and_metrics_count_requests_errors_and_audio(client):
    health = await client.get("/healthz")
    assert (await health.json())["status"] == "ok"
    _, data = await synthesize(client, input=HELLO)
    seconds = len(decode(data)[0]) / 22050
    await client.post("/v1/synthesize", json={"input": HELLO, "voice": "nobody"})
    text = await (await client.get("/metrics")).text()
    assert 'emotts_requests_total{route="/v1/synthesize",status="200"} 1' in text
    assert 'emotts_requests_total{route="/v1/synthesize",status="400"} 1' in text
    assert 'emotts_errors_total{route="/v1/synthesize"} 1' in text
    audio_line = next(line for line in text.splitlines() if line.startswith("emotts_audio_seconds_total "))
    assert float(audio_line.split()[1]) == pytest.approx(seconds, abs=0.002)
    assert "emotts_request_latency_seconds_count 3" in text


# -- the command and the plugin ------------------------------------------------------------


def test_serve_command_passes_host_port_and_config(monkeypatch):
    from emotts_plugin import cli
    from emotts_plugin.adapters.plugin import HttpServing

    calls = []
    monkeypatch.setattr(cli, "run_servers", lambda servers, context: calls.append((servers, context)))
    assert cli.main(["serve", "--host", "0.0.0.0", "--port", "8123", "--emotion", "calm"]) == 0
    ((servers, context),) = calls
    (server,) = servers  # the HTTP server alone: no Wyoming URI
    assert isinstance(server, HttpServing) and (server.host, server.port) == ("0.0.0.0", 8123)
    assert context.runtime.config.emotion == "calm" and isinstance(context.runtime, Runtime)


def test_adapters_are_registered_as_plugins():
    from importlib import resources

    import yaml

    pm = get_plugin_manager(autoload=False)
    specs = [spec for result in pm.hook.emotts_register_adapters() for spec in result]
    names = ["http", "openai", "ivr", "chatbot", "pipecat", "livekit", "ovos", "wyoming"]
    assert [spec.name for spec in specs] == names
    manifest = yaml.safe_load(resources.files("emotts_plugin").joinpath("plugin.yaml").read_text())[
        "manifest"
    ]
    assert manifest["adapters"] == names
    runtime = Runtime(load_config([]), pm=pm)
    routes = {
        spec.name: {r.resource.canonical for r in spec.factory(runtime).router.routes()} for spec in specs[:3]
    }
    assert isinstance(specs[0].factory(runtime), web.Application)
    assert {"/v1/synthesize", "/v1/audio/speech", "/healthz"} <= routes["http"]
    assert "/v1/audio/speech" in routes["openai"] and "/v1/synthesize" not in routes["openai"]
    assert {"/v1/ivr/prompt", "/v1/ivr/twilio", "/v1/ivr/calls/{call}/say"} <= routes["ivr"] & routes["http"]
    assert "/v1/synthesize" not in routes["ivr"]
