"""The OpenAI-compatible speech API through the official ``openai`` SDK.

A real server runs on a free loopback port in a background thread (one voice, noise
off); the SDK is pointed at its base URL, plain and streaming. Audio is judged by
decoding it (rate, duration), never byte for byte.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib.util
import io
import json
import threading

import numpy as np
import openai
import pytest
import soundfile
from aiohttp import web

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.openai_api import MODELS, VOICE_ALIASES
from emotts_plugin.synthesizer import Synthesizer

from conftest import gate_after_first_chunk

HELLO = "Hello there."
TWO = "We looked everywhere for the keys. In the end they were in the car."
THREE = "The first sentence is short. The second one takes a little longer to say. And this is the last."
HAS_AV = importlib.util.find_spec("av") is not None


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))


@pytest.fixture(scope="module")
def base_url(synth):
    """A real server on a free loopback port, in a background thread."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(synth.config, synthesizer=synth))
    started = threading.Event()
    state: dict = {}

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        state["port"] = runner.addresses[0][1]
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, name="emotts-test-server", daemon=True)
    thread.start()
    assert started.wait(30)
    yield f"http://127.0.0.1:{state['port']}/v1"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    loop.close()


@pytest.fixture(scope="module")
def client(base_url) -> openai.OpenAI:
    return openai.OpenAI(base_url=base_url, api_key="sk-local-unused", max_retries=0, timeout=60)


def speak(client, **params) -> bytes:
    params = {"model": "tts-1", "voice": "alloy", "input": HELLO} | params
    return client.audio.speech.create(**params).content


def decode(data: bytes, fmt: str) -> tuple[np.ndarray, int]:
    if fmt == "pcm":
        audio, rate = soundfile.read(
            io.BytesIO(data), format="RAW", subtype="PCM_16", samplerate=24000, channels=1, endian="LITTLE"
        )
    else:
        audio, rate = soundfile.read(io.BytesIO(data))
    return audio.astype(np.float32), rate


def seconds(data: bytes, fmt: str = "pcm") -> float:
    audio, rate = decode(data, fmt)
    return len(audio) / rate


def bad_request(client, **params) -> openai.BadRequestError:
    with pytest.raises(openai.BadRequestError) as info:
        speak(client, **params)
    assert info.value.status_code == 400
    return info.value


# -- plain responses ------------------------------------------------------------------------


def test_sdk_default_is_mp3_at_24khz(client):
    response = client.audio.speech.create(model="gpt-4o-mini-tts", voice="coral", input=HELLO)
    assert response.response.headers["content-type"] == "audio/mpeg"
    audio, rate = decode(response.content, "mp3")
    assert rate == 24000
    assert 0.4 < len(audio) / rate < 3.0
    assert np.sqrt(np.mean(audio**2)) > 0.01


@pytest.mark.parametrize(
    ("fmt", "rate", "media_type"),
    [
        ("mp3", 24000, "audio/mpeg"),
        ("opus", 48000, "audio/ogg; codecs=opus"),
        ("flac", 24000, "audio/flac"),
        ("wav", 24000, "audio/wav"),
        ("pcm", 24000, "audio/pcm;rate=24000;channels=1;format=s16le"),
    ],
)
def test_every_format_decodes_to_the_same_speech(client, fmt, rate, media_type):
    reference = seconds(speak(client, response_format="pcm"))
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=HELLO, response_format=fmt)
    assert response.response.headers["content-type"] == media_type
    audio, got_rate = decode(response.content, fmt)
    assert got_rate == rate
    assert len(audio) / rate == pytest.approx(reference, abs=0.08)  # mp3 and opus pad a frame or two


def test_aac_is_a_clear_400_without_an_encoder_or_adts_with_one(client):
    if HAS_AV:
        data = speak(client, response_format="aac")
        assert data[0] == 0xFF and data[1] & 0xF0 == 0xF0  # ADTS sync word
        return
    error = bad_request(client, response_format="aac")
    assert error.code == "UnsupportedFormat"
    assert "unsupported response_format 'aac': no AAC encoder is installed" in error.message
    assert "use mp3, opus, flac, wav or pcm" in error.message


# -- streaming ------------------------------------------------------------------------------


def test_streaming_response_delivers_the_first_sentence_before_the_rest_is_rendered(
    client, synth, monkeypatch
):
    whole = speak(client, input=THREE, response_format="pcm")
    released, seen = gate_after_first_chunk(monkeypatch, synth)
    received = []
    with client.audio.speech.with_streaming_response.create(
        model="tts-1", voice="nova", input=THREE, response_format="pcm"
    ) as response:
        assert response.headers["content-type"].startswith("audio/pcm")
        for piece in response.iter_bytes():
            received.append(piece)
            released.set()  # only now may the second sentence render
    assert seen["released_before_second_render"] is True
    assert len(b"".join(received)) == len(whole)


def test_streamed_wav_and_mp3_decode(client):
    for fmt in ("wav", "mp3"):
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="echo", input=TWO, response_format=fmt
        ) as response:
            data = response.read()
        audio, rate = decode(data, fmt)
        assert rate == 24000 and len(audio) / rate == pytest.approx(
            seconds(speak(client, input=TWO, response_format="pcm")), abs=0.08
        )


def sse_events(client, **params) -> list[dict]:
    params = {"model": "gpt-4o-mini-tts", "voice": "sage", "input": TWO, "stream_format": "sse"} | params
    with client.audio.speech.with_streaming_response.create(**params) as response:
        assert response.headers["content-type"] == "text/event-stream"
        return [
            json.loads(line[len("data: ") :]) for line in response.iter_lines() if line.startswith("data: ")
        ]


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_sse_sends_audio_deltas_then_done(client, fmt):
    events = sse_events(client, response_format=fmt)
    *deltas, done = events
    assert deltas and all(e["type"] == "speech.audio.delta" for e in deltas)
    assert done["type"] == "speech.audio.done"
    assert set(done["usage"]) >= {"input_tokens", "output_tokens", "total_tokens"}
    assert done["usage"]["output_tokens"] == len(deltas)
    data = b"".join(base64.b64decode(e["audio"]) for e in deltas)
    reference = seconds(speak(client, input=TWO, response_format="pcm"))
    assert seconds(data, fmt) == pytest.approx(reference, abs=0.08)
    if fmt == "pcm":
        assert len(deltas) == 2  # one per sentence
        assert done["usage"]["audio_seconds"] == pytest.approx(reference, abs=0.002)


def test_sse_reports_a_failure_after_the_start_as_an_error_event(client, synth, monkeypatch):
    real = synth.render_plan

    def failing(plan, config, **options):
        yield next(real(plan, config, **options))
        raise RuntimeError("the voice crashed")

    monkeypatch.setattr(synth, "render_plan", failing)
    *deltas, last = sse_events(client, response_format="pcm")
    assert [e["type"] for e in deltas] == ["speech.audio.delta"]
    assert last == {
        "type": "error",
        "error": {
            "message": "internal error (see the server log)",
            "type": "server_error",
            "code": "RuntimeError",
        },
    }


# -- voices, models, emotion ------------------------------------------------------------------


@pytest.mark.parametrize("voice", sorted(VOICE_ALIASES))
def test_every_openai_voice_name_is_accepted(client, voice):
    assert seconds(speak(client, voice=voice, input="Hi.", response_format="pcm")) > 0.2


def test_own_voice_names_and_voice_objects_work(client):
    plain = speak(client, voice="joe", response_format="pcm")
    assert len(speak(client, voice={"id": "joe"}, response_format="pcm")) == len(plain)
    assert len(speak(client, voice="alloy", response_format="pcm")) == len(plain)


def test_voice_and_model_lists_for_chat_uis(client):
    voices = client.get("/audio/voices", cast_to=object)["voices"]
    ids = [v["id"] for v in voices]
    assert "joe" in ids and set(VOICE_ALIASES) <= set(ids)
    assert all(set(v) == {"id", "name"} for v in voices)
    models = client.get("/audio/models", cast_to=object)
    assert [m["id"] for m in models["models"]] == list(MODELS)
    assert {"tts-1", "tts-1-hd", "gpt-4o-mini-tts", "emotts"} <= {m["id"] for m in models["data"]}


def test_instructions_extra_fields_and_tags_carry_emotion(client):
    neutral = seconds(speak(client, input=TWO, response_format="pcm"))
    by_instructions = seconds(
        speak(client, input=TWO, response_format="pcm", instructions="Speak very sadly, as if heartbroken.")
    )
    by_field = seconds(
        speak(client, input=TWO, response_format="pcm", extra_body={"emotion": "sad", "intensity": 1.0})
    )
    by_tag = seconds(speak(client, input=f'<emotion name="sad">{TWO}</emotion>', response_format="pcm"))
    by_cue = seconds(speak(client, input=f"[sad] {TWO}", response_format="pcm"))
    for slower in (by_instructions, by_field, by_tag, by_cue):
        assert slower > 1.08 * neutral
    softened = seconds(
        speak(
            client, input=TWO, response_format="pcm", instructions="very sad", extra_body={"intensity": 0.3}
        )
    )
    assert neutral < softened < by_field
    overridden = seconds(
        speak(
            client,
            input=TWO,
            response_format="pcm",
            instructions="very sad",
            extra_body={"emotion": "neutral"},
        )
    )
    assert overridden == pytest.approx(neutral, abs=0.01)
    calm = speak(client, input=TWO, response_format="pcm", instructions="nothing emotional here, read it out")
    assert seconds(calm) == pytest.approx(neutral, abs=0.01)


def test_speed_scales_plain_text_and_ssml(client):
    normal = seconds(speak(client, input=TWO, response_format="pcm"))
    assert seconds(speak(client, input=TWO, response_format="pcm", speed=2.0)) < 0.7 * normal
    assert seconds(speak(client, input=TWO, response_format="pcm", speed=0.5)) > 1.4 * normal
    ssml = f'<speak><emotion name="happy">{TWO}</emotion></speak>'
    assert seconds(speak(client, input=ssml, response_format="pcm", speed=1.5)) < 0.85 * seconds(
        speak(client, input=ssml, response_format="pcm")
    )


# -- instructions: emotion, rate, and what was not understood -----------------------------------


def spoken(client, **params) -> tuple[float, dict]:
    """Seconds of a plain (non-streamed) ``pcm`` answer, and its headers."""
    params = {"model": "gpt-4o-mini-tts", "voice": "alloy", "input": TWO, "response_format": "pcm"} | params
    response = client.audio.speech.create(**params)
    return seconds(response.content), dict(response.response.headers)


def test_speak_slowly_slows_and_needs_no_note(client):
    neutral, _ = spoken(client)
    slow, headers = spoken(client, instructions="Speak slowly.")
    very_slow, _ = spoken(client, instructions="speak very slowly")
    assert slow > 1.15 * neutral
    assert very_slow > 1.05 * slow
    assert "x-emotts-instructions" not in headers and headers["x-emotts-warnings"] == "0"


def test_instruction_rate_composes_with_speed(client):
    composed, _ = spoken(client, instructions="speak slowly", speed=2.0)
    assert composed == pytest.approx(spoken(client, speed=1.6)[0], abs=0.01)
    # kept within 0.25..4 rather than refused
    assert spoken(client, instructions="very fast", speed=4.0)[0] == pytest.approx(
        spoken(client, speed=4.0)[0], abs=0.01
    )
    assert spoken(client, instructions="very slowly", speed=0.25)[0] > 0


def test_unknown_instruction_words_are_named_in_a_header(client):
    neutral, _ = spoken(client)
    took, headers = spoken(client, instructions="Speak like a pirate")
    assert headers["x-emotts-instructions"] == "understood: nothing; not understood: pirate"
    assert headers["x-emotts-warnings"] == "1"
    assert took == pytest.approx(neutral, abs=0.01)
    _, headers = spoken(client, instructions="speak slowly, in a British accent")
    assert headers["x-emotts-instructions"] == "understood: slowly; not understood: British, accent"


@pytest.mark.parametrize(
    ("fmt", "stream_format"),
    [("mp3", "audio"), ("pcm", "audio"), ("wav", "audio"), ("pcm", "sse"), ("mp3", "sse")],
)
def test_the_instructions_header_comes_with_streamed_answers(client, fmt, stream_format):
    with client.audio.speech.with_streaming_response.create(
        model="gpt-4o-mini-tts",
        voice="ash",
        input=HELLO,
        response_format=fmt,
        instructions="like a pirate",
        extra_body={"stream_format": stream_format},
    ) as response:
        response.read()
        assert "pirate" in response.headers["x-emotts-instructions"]
        assert int(response.headers["x-emotts-warnings"]) >= 1


def test_quietly_and_fast_is_faster_and_says_volume_is_not_applied(client):
    neutral, _ = spoken(client)
    fast, _ = spoken(client, instructions="fast")
    took, headers = spoken(client, instructions="quietly and fast")
    assert took < 0.9 * neutral
    assert took == pytest.approx(fast, abs=0.01)  # no slow emotion (gentle) read into "quietly"
    assert headers["x-emotts-instructions"] == "understood: quietly, fast; not applied: volume -6 dB"
    assert headers["x-emotts-warnings"] == "1"


def test_the_instructions_header_is_short_ascii(client):
    words = " ".join(f"café{'x' * n} 海盗{'龍' * n}" for n in range(40))
    _, headers = spoken(client, instructions=words)
    note = headers["x-emotts-instructions"]
    assert note.isascii() and len(note) <= 200 and note.endswith("...")
    assert note.startswith("understood: nothing; not understood: cafe, ??, cafex, ???, cafexx")


# -- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "code", "words"),
    [
        ({"voice": "nobody"}, "UnknownVoiceError", "unknown voice 'nobody'; available voices: "),
        ({"response_format": "ogg"}, "UnsupportedFormat", "use one of mp3, opus, aac, flac, wav, pcm"),
        ({"speed": 5.0}, "InvalidField", "within 0.25..4"),
        ({"input": ""}, "InvalidField", "nothing to say"),
        ({"model": "whisper-1"}, "UnknownModel", "unknown model 'whisper-1'"),
        ({"stream_format": "chunks"}, "InvalidField", "'audio' or 'sse'"),
        ({"extra_body": {"emotion": "grumpy"}}, "UnknownEmotionError", "unknown emotion 'grumpy'"),
        ({"input": "<speak><!DOCTYPE x>Hi</speak>"}, "HostileInputError", "DOCTYPE"),
    ],
)
def test_bad_requests_are_400_with_the_openai_error_shape(client, params, code, words):
    error = bad_request(client, **params)
    assert error.code == code
    assert error.type == "invalid_request_error"
    assert words in error.message
