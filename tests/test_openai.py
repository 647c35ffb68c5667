"""The OpenAI-compatible speech API through the official ``openai`` SDK.

A real server runs on a free loopback port in a background thread (one voice, noise
off); the SDK is pointed at its base URL, plain and streaming. Audio is judged by
decoding it (rate, duration), never byte for byte. Every ``response_format`` is read by
readers that share no code with the encoder: the container's own length fields parsed here
(WAV through Python's ``wave``, FLAC's STREAMINFO, the Ogg Opus end granule, the MP3 Xing/LAME
tag), and a decoder (sox where it reads the format, else PyAV, else libsndfile's decoder).
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import importlib.util
import io
import json
import shutil
import struct
import subprocess
import threading
import wave

import numpy as np
import openai
import pytest
import soundfile
from aiohttp import web

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.openai_api import FORMATS, MODELS, VOICE_ALIASES
from emotts_plugin.adapters.requests import WARNING_TEXTS_CHARS, warning_headers
from emotts_plugin.plan import ParseWarning
from emotts_plugin.synthesizer import Synthesizer

from conftest import gate_after_first_chunk

HELLO = "Hello there."
TWO = "We looked everywhere for the keys. In the end they were in the car."
THREE = "The first sentence is short. The second one takes a little longer to say. And this is the last."
HAS_AV = importlib.util.find_spec("av") is not None
SOX = shutil.which("sox")


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


# -- every response_format through the SDK, with exact lengths --------------------------------

#: Samples per frame of MPEG audio layer III: MPEG-1, and MPEG-2 / 2.5 (24 kHz is MPEG-2).
MP3_FRAME = {3: 1152, 2: 576, 0: 576}
#: Samples an AAC encoder primes an ADTS stream with (ADTS has no field that says so).
AAC_PRIMING = 1024
#: How far every reader's duration may be from the plan's rendered audio.
TOLERANCE_S = 0.05


def sox_formats() -> frozenset[str]:
    """The file types this sox reads (its optional handlers, mp3 among them, may be absent)."""
    if SOX is None:
        return frozenset()
    text = subprocess.run([SOX, "-h"], capture_output=True, text=True, check=False).stdout
    line = next((line for line in text.splitlines() if line.startswith("AUDIO FILE FORMATS:")), ":")
    return frozenset(line.split(":", 1)[1].split())


def sox_read(data: bytes, fmt: str, tmp_path) -> tuple[int, int]:
    """Samples and rate as sox decodes them (its own decoders: libFLAC, libmad, …)."""
    path = tmp_path / f"speech.{fmt}"
    path.write_bytes(data)
    rate = int(subprocess.run(["soxi", "-r", str(path)], capture_output=True, text=True, check=True).stdout)
    raw = subprocess.run(
        [SOX, str(path), "-t", "raw", "-e", "signed", "-b", "16", "-c", "1", "-"],
        capture_output=True,
        check=True,
    ).stdout
    return len(raw) // 2, rate


def av_read(data: bytes) -> tuple[int, int]:
    """Samples and rate as FFmpeg (PyAV) decodes them."""
    import av

    samples, rate = 0, 0
    with av.open(io.BytesIO(data)) as container:
        for frame in container.decode(audio=0):
            samples, rate = samples + frame.samples, frame.sample_rate
    return samples, rate


def soundfile_read(data: bytes) -> tuple[int, int]:
    with soundfile.SoundFile(io.BytesIO(data)) as sound:
        return len(sound.read(dtype="int16")), sound.samplerate


def flac_streaminfo(data: bytes) -> tuple[int, int]:
    """Total samples and rate written in FLAC's STREAMINFO block (the first after ``fLaC``)."""
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0  # STREAMINFO
    (bits,) = struct.unpack(">Q", data[18:26])  # rate 20 bits, channels 3, depth 5, samples 36
    return bits & (1 << 36) - 1, bits >> 44


def ogg_opus_length(data: bytes) -> tuple[int, bool]:
    """Samples (48 kHz) an Ogg Opus stream says it holds: its last granule position less the
    pre-skip of its ``OpusHead`` (RFC 7845), and whether its last page ends the stream."""
    at, pre_skip, granule, ended = 0, None, -1, False
    while at < len(data):
        assert data[at : at + 4] == b"OggS", at
        flags = data[at + 5]
        (page_granule,) = struct.unpack("<q", data[at + 6 : at + 14])
        segments = data[at + 27 : at + 27 + data[at + 26]]
        body = at + 27 + len(segments)
        if pre_skip is None:
            assert data[body : body + 8] == b"OpusHead"
            (pre_skip,) = struct.unpack("<H", data[body + 10 : body + 12])
        granule = page_granule if page_granule >= 0 else granule
        ended = bool(flags & 0x04)
        at = body + sum(segments)
    return granule - pre_skip, ended


def mp3_lengths(data: bytes) -> tuple[int, int, int, int]:
    """From the Xing/Info and LAME tags of an MP3's first frame: samples in its frames, encoder
    delay, end padding, and the rate (the audio is ``frames - delay - padding`` samples)."""
    at = 0
    if data[:3] == b"ID3":
        at = 10 + (data[6] << 21 | data[7] << 14 | data[8] << 7 | data[9])
    (header,) = struct.unpack(">I", data[at : at + 4])
    assert header >> 21 == 0x7FF  # frame sync
    version, rate_index, mono = header >> 19 & 3, header >> 10 & 3, header >> 6 & 3 == 3
    rate = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}[version][rate_index]
    side = (17 if mono else 32) if version == 3 else (9 if mono else 17)
    tag = at + 4 + side
    assert data[tag : tag + 4] in (b"Xing", b"Info"), data[tag : tag + 4]
    (flags,) = struct.unpack(">I", data[tag + 4 : tag + 8])
    assert flags & 1, "no frame count in the Xing tag"
    (frames,) = struct.unpack(">I", data[tag + 8 : tag + 12])
    lame = tag + 12 + 4 * bool(flags & 2) + 100 * bool(flags & 4) + 4 * bool(flags & 8)
    assert data[lame : lame + 4] == b"LAME", data[lame : lame + 9]
    a, b, c = data[lame + 21 : lame + 24]
    return frames * MP3_FRAME[version], a << 4 | b >> 4, (b & 0x0F) << 8 | c, rate


def readings(data: bytes, fmt: str, tmp_path) -> dict[str, tuple[float, int]]:
    """Seconds and rate of ``data`` by every independent reader there is here for ``fmt``."""
    found: dict[str, tuple[float, int]] = {}

    def note(name: str, samples: int, rate: int) -> None:
        found[name] = (samples / rate, rate)

    if fmt == "pcm":
        note("raw s16le at 24 kHz", len(data) // 2, 24000)
    elif fmt == "wav":
        with wave.open(io.BytesIO(data)) as wav:
            note("wave header", wav.getnframes(), wav.getframerate())
        note("soundfile", *soundfile_read(data))
    elif fmt == "flac":
        note("STREAMINFO", *flac_streaminfo(data))
        note("soundfile (libFLAC)", *soundfile_read(data))
    elif fmt == "opus":
        samples, ended = ogg_opus_length(data)
        assert ended, "the last Ogg page does not end the stream"
        note("Ogg granule less pre-skip", samples, 48000)
        note(*(("PyAV", *av_read(data)) if HAS_AV else ("soundfile (libopus)", *soundfile_read(data))))
    elif fmt == "mp3":
        samples, delay, padding, rate = mp3_lengths(data)
        note("Xing/LAME tag", samples - delay - padding, rate)
        if "mp3" in sox_formats():  # sox 14.4 decodes every frame: the encoder's delay and padding too
            decoded, sox_rate = sox_read(data, fmt, tmp_path)
            assert decoded == samples, "the Xing frame count differs from the frames decoded"
            note("sox (libmad) less LAME delay and padding", decoded - delay - padding, sox_rate)
        note(*(("PyAV", *av_read(data)) if HAS_AV else ("soundfile (mpg123)", *soundfile_read(data))))
    elif fmt == "aac":
        decoded, rate = av_read(data)
        note("PyAV less AAC priming", decoded - AAC_PRIMING, rate)
    if fmt in ("wav", "flac") and SOX is not None:
        note("sox", *sox_read(data, fmt, tmp_path))
    return found


@pytest.fixture(scope="module")
def planned(synth) -> np.ndarray:
    """TWO as the synthesizer renders it in-process at 24 kHz: the plan's audio."""
    return synth.synthesize(TWO, sample_rate=24000).audio


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_response_format_says_its_exact_length(client, planned, fmt, tmp_path):
    if fmt == "aac" and not HAS_AV:
        pytest.skip("no AAC encoder or decoder is installed here (PyAV: pip install av)")
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=TWO, response_format=fmt)
    data, headers = response.content, response.response.headers
    rate = 48000 if fmt == "opus" else 24000
    expected = len(planned) / 24000
    if fmt != "pcm":  # pcm is streamed unless stream: false, so has no length up front
        assert headers["content-length"] == str(len(data))
        assert float(headers["x-emotts-duration"]) == pytest.approx(expected, abs=0.001)
    found = readings(data, fmt, tmp_path)
    assert found
    for reader, (took, got_rate) in found.items():
        assert got_rate == rate, reader
        assert took == pytest.approx(expected, abs=TOLERANCE_S), reader
    if fmt == "wav":
        with wave.open(io.BytesIO(data)) as wav:
            assert wav.getnframes() == len(planned) == (len(data) - 44) // 2
    if fmt in ("wav", "flac", "opus"):  # sample-exact containers: header and decoders agree to the sample
        assert len({round(took * rate) for took, _ in found.values()}) == 1, found


def test_pcm_is_whole_with_its_length_on_request(client, planned):
    response = client.audio.speech.create(
        model="tts-1", voice="alloy", input=TWO, response_format="pcm", extra_body={"stream": False}
    )
    assert response.response.headers["content-length"] == str(2 * len(planned)) == str(len(response.content))
    error = bad_request(client, extra_body={"stream": "yes"})
    assert error.code == "InvalidField" and "'stream'" in error.message


# -- models -----------------------------------------------------------------------------------


def test_sdk_lists_and_retrieves_the_models_the_speech_route_takes(client):
    page = client.models.list()
    assert [model.id for model in page.data] == list(MODELS)
    for model in page.data:
        assert (model.object, model.owned_by, model.created) == ("model", "emotts", 0)
        assert client.models.retrieve(model.id) == model
        assert speak(client, model=model.id, input="Hi.", response_format="pcm")
    snapshot = client.models.retrieve("gpt-4o-mini-tts-2025-03-20")
    assert snapshot.id == "gpt-4o-mini-tts-2025-03-20" and snapshot.object == "model"
    for unknown in ("whisper-1", "tts-2", "a/b"):
        with pytest.raises(openai.NotFoundError) as info:
            client.models.retrieve(unknown)
        assert info.value.status_code == 404
        assert info.value.code == "model_not_found" and info.value.type == "invalid_request_error"
        assert f"the model {unknown!r} does not exist" in info.value.message


# -- warnings' texts --------------------------------------------------------------------------


MARKED = "Hello & there, <bold>café <wé>x</wé></bold>. See you soon."


def warning_texts(headers) -> list[str]:
    value = headers["x-emotts-warning-texts"]
    assert value.isascii() and len(value) <= WARNING_TEXTS_CHARS
    return json.loads(value)


@pytest.mark.parametrize("extra", [{}, {"stream": True}])
def test_warning_texts_come_in_a_json_header(client, extra):
    with client.audio.speech.with_streaming_response.create(
        model="tts-1",
        voice="alloy",
        input=MARKED,
        response_format="wav",
        instructions="like a pirate",
        extra_body=extra,
    ) as response:
        response.read()
        texts = warning_texts(response.headers)
        raw = response.headers["x-emotts-warning-texts"]
    assert int(response.headers["x-emotts-warnings"]) == len(texts) == 4
    assert texts[0] == "line 1, column 7: bare '&' read as text"
    assert texts[1].startswith("line 1, column 16: unknown element <bold> ignored")
    assert "<wé>" in texts[2] and "<w\\u00e9>" in raw  # non-ASCII travels escaped
    assert texts[-1] == "instructions: understood: nothing; not understood: pirate"
    no_warnings = client.audio.speech.create(model="tts-1", voice="alloy", input=HELLO, response_format="pcm")
    assert no_warnings.response.headers["x-emotts-warnings"] == "0"
    assert "x-emotts-warning-texts" not in no_warnings.response.headers


def test_many_warnings_are_cut_with_a_note_and_all_reach_the_sse_done_event(client):
    many = " ".join(f"<tag{n}>word</tag{n}>" for n in range(60)) + "."
    response = client.audio.speech.create(model="tts-1", voice="alloy", input=many, response_format="flac")
    texts = warning_texts(response.response.headers)
    assert response.response.headers["x-emotts-warnings"] == "60"
    shown = texts[:-1]
    assert 10 < len(shown) < 60 and texts[-1] == f"... {60 - len(shown)} more not shown"
    assert all(
        text.endswith(f"unknown element <tag{n}> ignored; its text is kept") for n, text in enumerate(shown)
    )
    *_, done = sse_events(client, input=many, response_format="pcm")
    assert len(done["warnings"]) == 60 and done["warnings"][: len(shown)] == shown


def test_warning_headers_are_bounded_whatever_the_texts():
    assert warning_headers([]) == {"X-Emotts-Warnings": "0"}
    long = [ParseWarning("é\x7f\n" * 1000, 1, 1), "plain"]
    headers = warning_headers(long)
    value = headers["X-Emotts-Warning-Texts"]
    assert value.isascii() and value.isprintable() and len(value) <= WARNING_TEXTS_CHARS
    first, second = json.loads(value)
    assert first.startswith("line 1, column 1: é\x7f\n") and first.endswith("...") and second == "plain"
    headers = warning_headers(["x" * 300] * 100)
    texts = json.loads(headers["X-Emotts-Warning-Texts"])
    assert (
        headers["X-Emotts-Warnings"] == "100"
        and len(headers["X-Emotts-Warning-Texts"]) <= WARNING_TEXTS_CHARS
    )
    assert texts[-1] == f"... {100 - len(texts) + 1} more not shown"


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
    for fmt, extra in (("wav", {"stream": True}), ("wav", {}), ("mp3", {})):
        with client.audio.speech.with_streaming_response.create(
            model="tts-1", voice="echo", input=TWO, response_format=fmt, extra_body=extra
        ) as response:
            data = response.read()
            length = response.headers.get("content-length")
        audio, rate = decode(data, fmt)
        assert rate == 24000 and len(audio) / rate == pytest.approx(
            seconds(speak(client, input=TWO, response_format="pcm")), abs=0.08
        )
        if extra.get("stream"):  # sent sentence by sentence: the header cannot know the length
            assert length is None and data[4:8] == data[40:44] == b"\xff\xff\xff\xff"
        else:
            assert length == str(len(data))


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


def test_sse_wav_has_exact_sizes_only_when_not_streamed(client, planned):
    for extra, exact in (({"stream": False}, True), ({}, False)):
        *deltas, done = sse_events(client, response_format="wav", extra_body=extra)
        data = b"".join(base64.b64decode(e["audio"]) for e in deltas)
        assert done["type"] == "speech.audio.done" and done["warnings"] == []
        with wave.open(io.BytesIO(data)) as wav:
            frames = wav.getnframes()
        assert (frames == len(planned)) is exact and (len(data) - 44) // 2 == len(planned)
        assert (data[4:8] == b"\xff\xff\xff\xff") is not exact


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
