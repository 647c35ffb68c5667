"""Timings over HTTP: the native API's ``timings`` (JSON and event stream) and the OpenAI route's
``timestamps`` SSE events, through aiohttp's test client and the official ``openai`` SDK.

The real bundled voice with noise off, so the same request gives the same samples: the audio
of a request with timings is compared, decoded, with the audio of the same request without.
Renders are few and short.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import threading

import numpy as np
import openai
import pytest
import pytest_asyncio
import soundfile
from aiohttp import web

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.synthesizer import Synthesizer
from emotts_plugin.timings import word_tokens

from conftest import gate_after_first_chunk

#: Two sentences, a word normalisation makes two of ("3pm" → "three PM"), and a mark.
MEETING = 'We meet at 3pm. <mark name="keys"/>Bring the keys.'
TWO = "We meet at noon. Bring the keys."
#: Tolerance of times in the JSON (rounded to the millisecond).
MS = 0.0015


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))


@pytest_asyncio.fixture
async def client(aiohttp_client, synth):
    return await aiohttp_client(create_app(synth.config, synthesizer=synth))


def spoken_words(synth: Synthesizer, text: str) -> list[str]:
    """The words the plan of ``text`` speaks, in order."""
    return [word for segment in synth.runtime.parse(text).segments for word in word_tokens(segment.text)]


def pcm_samples(data: bytes, rate: int) -> np.ndarray:
    audio, _ = soundfile.read(
        io.BytesIO(data), format="RAW", subtype="PCM_16", samplerate=rate, channels=1, endian="LITTLE"
    )
    return audio.astype(np.float32)


def check_words_in_order(words: list[dict], start: float, end: float) -> None:
    """Each word lies in ``[start, end]`` (seconds), with a positive length, after the one before."""
    previous = start
    for word in words:
        assert previous - MS <= word["start"] < word["end"] <= end + MS, (word, start, end)
        previous = word["end"]


async def error_of(response, status: int) -> dict:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "code"}
    return body["error"]


# -- the native API: a whole answer as JSON -------------------------------------------------------


@pytest.mark.asyncio
async def test_timings_answer_is_json_with_the_audio_and_when_each_word_is_heard(client, synth):
    response = await client.post("/v1/synthesize", json={"input": MEETING, "seed": 7, "timings": True})
    assert response.status == 200, await response.text()
    assert response.content_type == "application/json"
    raw = await response.read()
    assert int(response.headers["Content-Length"]) == len(raw)
    body = json.loads(raw)
    assert set(body) == {"audio", "format", "sample_rate", "duration", "timings", "warnings"}
    assert (body["format"], body["sample_rate"], body["warnings"]) == ("wav", 22050, [])

    audio, rate = soundfile.read(io.BytesIO(base64.b64decode(body["audio"])), dtype="float32")
    duration = len(audio) / rate
    assert rate == 22050
    assert duration == pytest.approx(body["duration"], abs=MS)
    assert duration == pytest.approx(float(response.headers["X-Emotts-Duration"]), abs=MS)

    timings = body["timings"]
    assert timings["duration"] == pytest.approx(duration, abs=MS)
    words = timings["words"]
    assert [word["text"] for word in words] == spoken_words(synth, MEETING)
    assert [word["text"] for word in words] == ["We", "meet", "at", "three", "PM", "Bring", "the", "keys"]
    check_words_in_order(words, 0.0, duration)
    for word in words:  # each word points at what the caller wrote
        start, end = word["source"]
        written = MEETING[start:end]
        if word["text"] in ("three", "PM"):
            assert written.rstrip(".") == "3pm"
        else:
            assert written == word["text"]
    assert [sentence["text"] for sentence in timings["sentences"]] == [
        "We meet at three PM.",
        "Bring the keys.",
    ]

    (mark,) = timings["marks"]
    bring = words[5]
    assert mark["name"] == "keys"
    assert words[4]["end"] - MS <= mark["time"] <= bring["start"] + MS  # between "PM" and "Bring"

    visemes = timings["visemes"]  # mouth shapes cover the audio from start to end
    assert visemes[0]["start"] == 0.0 and visemes[-1]["end"] == pytest.approx(duration, abs=0.05)
    assert all(a["end"] == pytest.approx(b["start"], abs=MS) for a, b in zip(visemes, visemes[1:]))
    assert {v["id"] for v in visemes} - {0} and timings["viseme_set"] == "azure"

    # the same request without timings is the same audio
    plain = await client.post("/v1/synthesize", json={"input": MEETING, "seed": 7})
    assert plain.status == 200 and plain.content_type == "audio/wav"
    plain_audio, _ = soundfile.read(io.BytesIO(await plain.read()), dtype="float32")
    np.testing.assert_array_equal(audio, plain_audio)


BAD_TIMINGS = [
    ({"timings": "yes"}, "InvalidField", "field 'timings' must be true or false, got 'yes'"),
    ({"timings": 1}, "InvalidField", "field 'timings' must be true or false, got 1"),
    ({"timings": True, "stream": True, "format": "flac"}, "UnsupportedFormat", "cannot be streamed"),
]


@pytest.mark.parametrize(("extra", "code", "words"), BAD_TIMINGS)
@pytest.mark.asyncio
async def test_a_bad_timings_request_is_400_in_the_error_shape(client, extra, code, words):
    response = await client.post("/v1/synthesize", json={"input": TWO, **extra})
    error = await error_of(response, 400)
    assert error["code"] == code and error["type"] == "invalid_request_error"
    assert words in error["message"]


# -- the native API: a stream of events ------------------------------------------------------------


async def read_events(response) -> list[tuple[str, dict]]:
    """``(event name, data)`` of each event, read as they come."""
    events = []
    name = None
    while line := await response.content.readline():
        line = line.decode().rstrip("\n")
        if line.startswith("event: "):
            name = line[len("event: ") :]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[len("data: ") :])))
            name = None
    return events


@pytest.mark.asyncio
async def test_event_stream_sends_each_sentences_timings_after_its_audio(client, synth, monkeypatch):
    plain = await client.post("/v1/synthesize", json={"input": MEETING, "stream": True})
    assert plain.status == 200
    plain_bytes = await plain.read()

    released, seen = gate_after_first_chunk(monkeypatch, synth)
    response = await client.post("/v1/synthesize", json={"input": MEETING, "stream": True, "timings": True})
    assert response.status == 200 and response.content_type == "text/event-stream"
    rate = int(response.headers["X-Emotts-Sample-Rate"])
    # the first sentence's timings arrive while the second sentence waits to be rendered
    first = []
    while not first or first[-1][1]["type"] != "timings":
        line = (await response.content.readline()).decode()
        if line.startswith("data: "):
            first.append((None, json.loads(line[len("data: ") :])))
    released.set()
    events = first + await read_events(response)
    assert seen["released_before_second_render"] is True
    assert all(name is None or name == data["type"] for name, data in events)
    events = [data for _, data in events]
    assert [e["type"] for e in events] == ["audio", "audio", "timings", "audio", "timings", "done"]

    received = b""
    words = []
    for event in events:
        if event["type"] == "audio":
            received += base64.b64decode(event["audio"])
        elif event["type"] == "timings":
            heard = (len(received) - 44) / 2 / rate  # after the 44-byte header of a live WAV stream
            assert event["end"] == pytest.approx(heard, abs=MS)
            check_words_in_order(event["words"], event["start"], heard)
            assert all(event["start"] - MS <= m["time"] <= heard + MS for m in event["marks"])
            assert event["visemes"][-1]["end"] <= heard + MS
            words += event["words"]
    assert [word["text"] for word in words] == spoken_words(synth, MEETING)
    assert [mark["name"] for event in events if event["type"] == "timings" for mark in event["marks"]] == [
        "keys"
    ]

    # the audio events carry the bytes of the plain stream: header, then the same samples
    assert received[:44] == plain_bytes[:44]
    np.testing.assert_array_equal(pcm_samples(received[44:], rate), pcm_samples(plain_bytes[44:], rate))
    done = events[-1]
    assert done == {
        "type": "done",
        "format": "wav",
        "sample_rate": rate,
        "duration": pytest.approx((len(received) - 44) / 2 / rate, abs=MS),
        "warnings": [],
    }


@pytest.mark.asyncio
async def test_a_failure_mid_stream_ends_the_event_stream_with_an_error_event(client, synth, monkeypatch):
    real = synth.render_plan

    def failing(plan, config, **options):
        yield next(real(plan, config, **options))
        raise RuntimeError("the voice crashed")

    monkeypatch.setattr(synth, "render_plan", failing)
    response = await client.post(
        "/v1/synthesize", json={"input": TWO, "stream": True, "timings": True, "format": "pcm16"}
    )
    assert response.status == 200
    events = await read_events(response)
    assert [name for name, _ in events] == ["audio", "timings", "error"]
    assert events[-1][1] == {
        "type": "error",
        "error": {
            "message": "internal error (see the server log)",
            "type": "server_error",
            "code": "RuntimeError",
        },
    }


# -- the OpenAI-compatible route: timestamps events --------------------------------------------------


@pytest.fixture(scope="module")
def openai_client(synth):
    """The official SDK pointed at a real server on a free loopback port, in a background thread."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(synth.config, synthesizer=synth))
    started = threading.Event()
    state: dict = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        state["port"] = runner.addresses[0][1]
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="emotts-timings-server", daemon=True)
    thread.start()
    assert started.wait(30)
    yield openai.OpenAI(
        base_url=f"http://127.0.0.1:{state['port']}/v1", api_key="sk-unused", max_retries=0, timeout=60
    )
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    loop.close()


def sse_events(client: openai.OpenAI, **extra) -> list[dict]:
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts", voice="alloy", input=TWO, stream_format="sse", **extra
    ) as response:
        assert response.headers["content-type"] == "text/event-stream"
        return [
            json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")
        ]


def test_openai_sse_sends_word_timestamps_after_each_delta(openai_client, synth):
    plain = openai_client.audio.speech.create(model="tts-1", voice="alloy", input=TWO, response_format="pcm")
    events = sse_events(openai_client, response_format="pcm", extra_body={"timestamps": True})
    kinds = [event["type"] for event in events]
    assert kinds == [
        "speech.audio.delta",
        "speech.audio.timestamps",
        "speech.audio.delta",
        "speech.audio.timestamps",
        "speech.audio.done",
    ]
    received = b""
    words = []
    for event in events[:-1]:
        if event["type"] == "speech.audio.delta":
            received += base64.b64decode(event["audio"])
            continue
        heard = len(received) / 2 / 24000
        for word in event["timestamps"]:
            assert set(word) == {"word", "start_time", "end_time"}  # Kokoro-FastAPI's word objects
            assert 0 <= word["start_time"] < word["end_time"] <= heard + MS
        words += event["timestamps"]
    assert [word["word"] for word in words] == spoken_words(synth, TWO)
    starts = [word["start_time"] for word in words]
    assert starts == sorted(starts)
    done = events[-1]
    assert done["usage"]["output_tokens"] == 2  # deltas only
    np.testing.assert_array_equal(pcm_samples(received, 24000), pcm_samples(plain.content, 24000))

    # a whole file in SSE pieces: one timestamps event after the last delta
    events = sse_events(openai_client, response_format="mp3", extra_body={"timestamps": True})
    *deltas, timestamps, done = events
    assert deltas and all(event["type"] == "speech.audio.delta" for event in deltas)
    assert timestamps["type"] == "speech.audio.timestamps" and done["type"] == "speech.audio.done"
    assert [word["word"] for word in timestamps["timestamps"]] == spoken_words(synth, TWO)
    assert timestamps["timestamps"][-1]["end_time"] <= done["usage"]["audio_seconds"] + MS


def test_openai_timestamps_leave_audio_answers_as_they_are_and_are_checked(openai_client):
    plain = openai_client.audio.speech.create(model="tts-1", voice="alloy", input=TWO, response_format="pcm")
    asked = openai_client.audio.speech.create(
        model="tts-1", voice="alloy", input=TWO, response_format="pcm", extra_body={"timestamps": True}
    )
    assert asked.response.headers["content-type"] == plain.response.headers["content-type"]
    np.testing.assert_array_equal(pcm_samples(asked.content, 24000), pcm_samples(plain.content, 24000))
    with pytest.raises(openai.BadRequestError) as info:
        openai_client.audio.speech.create(
            model="tts-1", voice="alloy", input=TWO, stream_format="sse", extra_body={"timestamps": "yes"}
        )
    assert info.value.code == "InvalidField"
    assert "field 'timestamps' must be true or false" in info.value.message
