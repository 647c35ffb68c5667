"""IVR over the wire: prompt files by URL, AudioSocket calls (Asterisk) and Twilio Media Streams.

The clients here speak the documented wire formats byte by byte: AudioSocket's
3-byte header (type, big-endian length) with 320-byte signed-linear frames, and
Twilio's JSON events with base64 µ-law media. Asterisk itself is not packaged
for Debian, so the AudioSocket peer is this test client; what it checks
(frame sizes, 20 ms pacing, barge-in, hang-up, malformed frames) is what
Asterisk's ``AudioSocket()`` application depends on.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import struct
import subprocess
import time
import uuid

import numpy as np
import pytest
import pytest_asyncio
from aiohttp import WSMsgType

from emotts_plugin import load_config
from emotts_plugin.adapters import telephony
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.ivr import AUDIOSOCKET, CALLS, FRAME_MS
from emotts_plugin.synthesizer import Synthesizer

from conftest import needs_sox
from evaluation import transcribe, word_error_rate

pytestmark = pytest.mark.asyncio

SLN_FRAME = 320  # 20 ms of 8 kHz 16-bit mono
ULAW_FRAME = 160
SHORT = "Thank you for calling."
LONG = "Your call is important to us. Please stay on the line and an agent will be with you shortly."


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    config = load_config([])
    config = dataclasses.replace(
        config, noise=False, threads=1, server=dataclasses.replace(config.server, audiosocket="127.0.0.1:0")
    )
    return Synthesizer(config)


@pytest_asyncio.fixture
async def client(aiohttp_client, synth):
    return await aiohttp_client(create_app(synth.config, synthesizer=synth))


def audiosocket_port(client) -> int:
    return client.server.app[AUDIOSOCKET].sockets[0].getsockname()[1]


def frame(kind: int, payload: bytes = b"") -> bytes:
    return struct.pack(">BH", kind, len(payload)) + payload


class Phone:
    """A test AudioSocket peer: what Asterisk's ``AudioSocket(uuid, host:port)`` does on the wire."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, call_id: str) -> None:
        self.reader, self.writer, self.call_id = reader, writer, call_id
        self.frames: list[tuple[float, int, bytes]] = []

    @classmethod
    async def dial(cls, port: int, call_id: str | None = None) -> "Phone":
        call_id = call_id or str(uuid.uuid4())
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(frame(0x01, uuid.UUID(call_id).bytes))
        await writer.drain()
        return cls(reader, writer, call_id)

    async def read(self, timeout: float = 10.0) -> tuple[int, bytes] | None:
        """The next frame from the server, or ``None`` when it closed the connection."""
        try:
            kind, length = struct.unpack(">BH", await asyncio.wait_for(self.reader.readexactly(3), timeout))
            payload = await asyncio.wait_for(self.reader.readexactly(length), timeout) if length else b""
        except (asyncio.IncompleteReadError, ConnectionError):
            return None
        self.frames.append((time.perf_counter(), kind, payload))
        return kind, payload

    async def read_audio_until_quiet(
        self, quiet_s: float = 0.6, timeout: float = 30.0
    ) -> list[tuple[float, bytes]]:
        """Audio frames until none has come for ``quiet_s`` (the prompt is over)."""
        got = []
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            try:
                item = await self.read(timeout=quiet_s if got else 10.0)
            except asyncio.TimeoutError:
                break
            if item is None:
                break
            if item[0] == 0x10:
                got.append((self.frames[-1][0], item[1]))
        return got

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


async def say(client, call_id: str, text: str, **fields) -> dict:
    response = await client.post(f"/v1/ivr/calls/{call_id}/say", json={"text": text, **fields})
    assert response.status == 202, await response.text()
    return await response.json()


async def status(client, call_id: str) -> dict:
    response = await client.get(f"/v1/ivr/calls/{call_id}")
    assert response.status == 200, await response.text()
    return await response.json()


def pcm(frames) -> np.ndarray:
    return np.frombuffer(b"".join(payload for _, payload in frames), dtype="<i2").astype(np.float32) / 32768.0


# -- prompt files by URL ----------------------------------------------------------------


@needs_sox
async def test_prompt_file_has_content_type_etag_and_reads_in_sox(client, tmp_path):
    response = await client.get("/v1/ivr/prompt.wav", params={"text": SHORT, "emotion": "calm"})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"] == "audio/wav"
    assert response.headers["ETag"].startswith('"') and len(response.headers["ETag"]) == 42
    assert "max-age" in response.headers["Cache-Control"]
    path = tmp_path / "prompt.wav"
    path.write_bytes(await response.read())
    info = subprocess.run(["soxi", str(path)], capture_output=True, text=True, check=True).stdout
    assert (
        "Sample Rate    : 8000" in info
        and "Channels       : 1" in info
        and "16-bit Signed Integer PCM" in info
    )

    again = await client.get("/v1/ivr/prompt.wav", params={"text": SHORT, "emotion": "calm"})
    assert again.headers["ETag"] == response.headers["ETag"]
    assert await again.read() == path.read_bytes()  # the key seeds the voice: same prompt, same bytes
    other = await client.get("/v1/ivr/prompt.wav", params={"text": SHORT, "emotion": "sad"})
    assert other.headers["ETag"] != response.headers["ETag"]


async def test_if_none_match_answers_304_without_rendering(client, synth, monkeypatch):
    first = await client.get("/v1/ivr/prompt", params={"text": SHORT, "format": "ulaw"})
    assert first.status == 200 and first.headers["Content-Type"] == "audio/basic"
    body = await first.read()
    assert len(body) % 160 == 0 or len(body) > 8000  # raw µ-law: one byte per 8 kHz sample
    renders = []
    monkeypatch.setattr(synth, "synthesize", lambda *a, **k: renders.append(a))
    cached = await client.get(
        "/v1/ivr/prompt",
        params={"text": SHORT, "format": "ulaw"},
        headers={"If-None-Match": first.headers["ETag"]},
    )
    assert cached.status == 304 and cached.headers["ETag"] == first.headers["ETag"]
    assert renders == []


@pytest.mark.parametrize(
    "url, params, status, words",
    [
        ("/v1/ivr/prompt", {"text": SHORT, "format": "mp3"}, 400, "unknown telephone format 'mp3'"),
        ("/v1/ivr/prompt.mp3", {"text": SHORT}, 400, "file extension 'mp3'"),
        ("/v1/ivr/prompt.wav", {"text": SHORT, "format": "ulaw"}, 400, "does not match"),
        ("/v1/ivr/prompt", {"text": SHORT, "emotion": "furiousish"}, 400, "furiousish"),
        ("/v1/ivr/prompt", {"text": SHORT, "intensity": "loud"}, 400, "intensity"),
        ("/v1/ivr/prompt", {"format": "wav"}, 400, "'text' must be a non-empty string"),
        ("/v1/ivr/prompt", {"text": SHORT, "colour": "blue"}, 400, "unknown parameter(s) colour"),
        ("/v1/ivr/prompt", {"text": SHORT, "voice": "nobody"}, 400, "nobody"),
    ],
)
async def test_prompt_file_bad_requests_say_what_is_wrong(client, url, params, status, words):
    response = await client.get(url, params=params)
    assert response.status == status
    body = await response.json()
    assert words in body["error"]["message"]


@pytest.mark.parametrize(
    "ext, content_type, rate, width",
    [
        ("sln", "audio/pcm;rate=8000;channels=1;format=s16le", 8000, 2),  # little-endian: not audio/L16
        ("sln16", "audio/pcm;rate=16000;channels=1;format=s16le", 16000, 2),
        ("alaw", "audio/x-alaw-basic", 8000, 1),
    ],
)
async def test_prompt_file_raw_formats_by_extension(client, ext, content_type, rate, width):
    response = await client.get(f"/v1/ivr/prompt.{ext}", params={"text": SHORT})
    assert response.status == 200 and response.headers["Content-Type"] == content_type
    seconds = len(await response.read()) / width / rate
    assert 0.8 < seconds < 3.0


# -- AudioSocket ------------------------------------------------------------------------


async def test_audiosocket_plays_a_queued_prompt_in_paced_slin_frames(client, synth):
    call_id = str(uuid.uuid4())
    queued = await say(client, call_id, LONG, emotion="calm", mark="hold")
    assert queued == {"call": call_id, "mark": "hold", "connected": False, "queued": 1}
    phone = await Phone.dial(audiosocket_port(client), call_id)

    async def caller_audio():  # Asterisk sends the caller's audio all along
        silence = frame(0x10, bytes(SLN_FRAME))
        while True:
            await phone.send(silence)
            await asyncio.sleep(FRAME_MS / 1000)

    talker = asyncio.create_task(caller_audio())
    try:
        frames = await phone.read_audio_until_quiet()
    finally:
        talker.cancel()
    assert len(frames) > 100
    assert {len(payload) for _, payload in frames} == {SLN_FRAME}
    times = np.array([t for t, _ in frames])
    gaps = np.diff(times) * 1000.0
    span_per_frame = (times[-1] - times[0]) * 1000.0 / (len(frames) - 1)
    assert abs(span_per_frame - FRAME_MS) < 1.0, f"mean frame interval {span_per_frame:.2f} ms"
    assert abs(np.median(gaps) - FRAME_MS) < 2.0, f"median interval {np.median(gaps):.2f} ms"
    assert np.percentile(gaps, 95) < 45.0

    audio = pcm(frames)
    assert np.abs(audio).max() < 0.95  # telephone level, never clipped
    # what crossed the wire is the prompt rendered for the phone (sentence by sentence: edges differ slightly)
    whole = synth.synthesize(LONG, emotion="calm")
    offline = telephony.prepare(whole.audio, whole.sample_rate, 8000)
    assert abs(len(audio) - len(offline)) <= 2 * SLN_FRAME // 2
    n = min(len(audio), len(offline))
    assert np.corrcoef(audio[:n], offline[:n])[0, 1] > 0.98
    heard = transcribe(audio, 8000)
    assert word_error_rate(LONG, heard) <= 0.5, heard
    state = await status(client, call_id)
    assert state["played"] == ["hold"] and state["connected"] and state["transport"] == "audiosocket"
    assert state["frames_sent"] == len(frames)
    phone.close()


async def test_dtmf_barges_in_and_the_call_goes_on(client):
    phone = await Phone.dial(audiosocket_port(client))
    await say(client, phone.call_id, LONG, mark="long")
    for _ in range(15):
        kind, _ = await phone.read()
        assert kind == 0x10
    await phone.send(frame(0x03, b"5"))
    pressed = time.perf_counter()
    after = await phone.read_audio_until_quiet(quiet_s=0.4)
    late = [t for t, _ in after if t - pressed > 0.1]
    assert late == [], f"{len(after)} frames after the digit, the last {after[-1][0] - pressed:.3f} s later"
    state = await status(client, phone.call_id)
    assert state["interrupted"] == ["long"] and state["dtmf"] == "5" and state["played"] == []

    await say(client, phone.call_id, SHORT, mark="next")
    more = await phone.read_audio_until_quiet()
    assert len(more) > 30
    assert (await status(client, phone.call_id))["played"] == ["next"]
    phone.close()


async def test_hangup_mid_prompt_ends_the_call_and_the_server_serves_the_next(client):
    port = audiosocket_port(client)
    phone = await Phone.dial(port)
    await say(client, phone.call_id, LONG)
    for _ in range(5):
        await phone.read()
    await phone.send(frame(0x00))
    while (item := await phone.read()) is not None:  # the server closes its side
        assert item[0] == 0x10
    state = await status(client, phone.call_id)
    assert state["ended"] and not state["connected"] and state["played"] == []

    abrupt = await Phone.dial(port)  # a caller whose line just drops
    await say(client, abrupt.call_id, LONG)
    await abrupt.read()
    abrupt.writer.transport.abort()
    await asyncio.sleep(0.2)
    assert (await status(client, abrupt.call_id))["ended"]

    fresh = await Phone.dial(port)
    await say(client, fresh.call_id, SHORT)
    assert len(await fresh.read_audio_until_quiet()) > 30
    fresh.close()


@pytest.mark.parametrize(
    "bad",
    [
        frame(0x42, b"xx"),  # a type the protocol does not define
        frame(0x03, b"Z"),  # DTMF that is no digit
        frame(0x03, b"12"),  # DTMF of two bytes
        frame(0x10, bytes(321)),  # half a sample
        frame(0x01, uuid.uuid4().bytes),  # a second UUID
    ],
    ids=["unknown-type", "bad-digit", "long-dtmf", "odd-audio", "second-uuid"],
)
async def test_malformed_frame_drops_that_call_only(client, bad):
    port = audiosocket_port(client)
    good = await Phone.dial(port)
    await say(client, good.call_id, LONG)
    await good.read()

    broken = await Phone.dial(port)
    await broken.send(bad)
    item = await broken.read()
    assert item is not None and item[0] == 0xFF  # an error frame, then the connection closes
    assert await broken.read() is None
    assert (await status(client, broken.call_id))["ended"]

    started = len(good.frames)
    for _ in range(20):
        kind, _ = await good.read()
        assert kind == 0x10
    assert len(good.frames) - started == 20
    good.close()


async def test_connections_that_do_not_start_with_a_uuid_are_closed(client):
    port = audiosocket_port(client)
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame(0x10, bytes(SLN_FRAME)))
    await writer.drain()
    assert (await reader.read(3))[:1] == b"\xff"
    assert await reader.read() == b""
    writer.close()

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(frame(0x01, b"short"))
    await writer.drain()
    assert (await reader.read(3))[:1] == b"\xff"
    writer.close()

    call_id = str(uuid.uuid4())
    first = await Phone.dial(port, call_id)
    await asyncio.sleep(0.1)
    second = await Phone.dial(port, call_id)  # the same call twice
    assert (await second.read())[0] == 0xFF
    assert (await status(client, call_id))["transport"] == "audiosocket"
    first.close()


async def test_delete_hangs_up_a_connected_call(client):
    phone = await Phone.dial(audiosocket_port(client))
    await say(client, phone.call_id, LONG)
    await phone.read()
    response = await client.delete(f"/v1/ivr/calls/{phone.call_id}")
    assert response.status == 200
    kinds = []
    while (item := await phone.read()) is not None:
        kinds.append(item[0])
    assert kinds[-1] == 0x00  # the hang-up frame, then the close


@pytest.mark.parametrize(
    "path, body, status_code, words",
    [
        ("/v1/ivr/calls/a%20b/say", {"text": SHORT}, 400, "call id"),
        ("/v1/ivr/calls/c1/say", {"text": ""}, 400, "'text' must be a non-empty string"),
        ("/v1/ivr/calls/c1/say", {"text": SHORT, "emotion": "nope"}, 400, "nope"),
        ("/v1/ivr/calls/c1/say", {"text": SHORT, "barge_in": "yes"}, 400, "barge_in"),
        ("/v1/ivr/calls/c1/say", {"text": SHORT, "loudness": 3}, 400, "unknown field(s) loudness"),
        ("/v1/ivr/calls/c1/say", {"text": "<speak><emotion name='calm'>x</speak>", "mark": 5}, 400, "'mark'"),
    ],
)
async def test_say_refuses_bad_requests(client, path, body, status_code, words):
    response = await client.post(path, json=body)
    assert response.status == status_code
    assert words in (await response.json())["error"]["message"]


async def test_a_call_queue_is_bounded_and_unknown_calls_are_404(client):
    call_id = "queue-test"
    for _ in range(32):
        await say(client, call_id, SHORT)
    response = await client.post(f"/v1/ivr/calls/{call_id}/say", json={"text": SHORT})
    assert response.status == 429 and "32 prompts waiting" in (await response.json())["error"]["message"]
    assert (await client.get("/v1/ivr/calls/never-seen")).status == 404
    assert (await client.delete(f"/v1/ivr/calls/{call_id}")).status == 200
    assert client.server.app[CALLS].get(call_id) is None


# -- Twilio Media Streams ---------------------------------------------------------------


def twilio_start(call_sid: str, stream_sid: str, **parameters) -> dict:
    return {
        "event": "start",
        "sequenceNumber": "1",
        "streamSid": stream_sid,
        "start": {
            "accountSid": "AC00000000000000000000000000000000",
            "streamSid": stream_sid,
            "callSid": call_sid,
            "tracks": ["inbound"],
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": parameters,
        },
    }


async def twilio_read(ws, quiet_s: float = 0.6) -> list[tuple[float, dict]]:
    """Messages from the server until none has come for ``quiet_s``."""
    got = []
    while True:
        try:
            msg = await ws.receive(timeout=quiet_s if got else 10.0)
        except asyncio.TimeoutError:
            return got
        if msg.type != WSMsgType.TEXT:
            got.append(
                (time.perf_counter(), {"closed": msg.type.name, "code": ws.close_code, "reason": msg.extra})
            )
            return got
        got.append((time.perf_counter(), json.loads(msg.data)))


async def test_twilio_greeting_media_frames_and_mark(client):
    ws = await client.ws_connect("/v1/ivr/twilio")
    await ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
    await ws.send_json(twilio_start("CA-greeting", "MZ-greeting", text=SHORT, emotion="cheerful"))
    messages = await twilio_read(ws)
    media = [(t, m) for t, m in messages if m.get("event") == "media"]
    assert messages[-1][1] == {"event": "mark", "streamSid": "MZ-greeting", "mark": {"name": "greeting"}}
    assert all(m["streamSid"] == "MZ-greeting" for _, m in media)
    payloads = [base64.b64decode(m["media"]["payload"]) for _, m in media]
    assert {len(p) for p in payloads} == {ULAW_FRAME}
    times = np.array([t for t, _ in media])
    assert abs((times[-1] - times[0]) * 1000.0 / (len(media) - 1) - FRAME_MS) < 1.5

    import io

    import soundfile

    ulaw = b"".join(payloads)
    audio, rate = soundfile.read(
        io.BytesIO(ulaw), format="RAW", subtype="ULAW", samplerate=8000, channels=1, dtype="float32"
    )
    assert word_error_rate(SHORT, transcribe(audio, rate)) <= 0.5

    await ws.send_json(
        {"event": "mark", "sequenceNumber": "9", "streamSid": "MZ-greeting", "mark": {"name": "greeting"}}
    )
    await ws.send_json(
        {
            "event": "stop",
            "sequenceNumber": "10",
            "streamSid": "MZ-greeting",
            "stop": {"callSid": "CA-greeting"},
        }
    )
    await ws.receive(timeout=5)
    state = await status(client, "CA-greeting")
    assert state["acknowledged"] == ["greeting"] and state["played"] == ["greeting"] and state["ended"]


async def test_twilio_dtmf_barges_in_with_clear(client):
    ws = await client.ws_connect("/v1/ivr/twilio")
    await ws.send_json(twilio_start("CA-barge", "MZ-barge"))
    await say(client, "CA-barge", LONG, mark="menu")
    for _ in range(10):
        msg = json.loads((await ws.receive(timeout=10)).data)
        assert msg["event"] == "media"
        await ws.send_json(
            {
                "event": "media",
                "streamSid": "MZ-barge",
                "media": {
                    "track": "inbound",
                    "chunk": "1",
                    "timestamp": "20",
                    "payload": base64.b64encode(b"\xff" * 160).decode(),
                },
            }
        )
    await ws.send_json(
        {
            "event": "dtmf",
            "streamSid": "MZ-barge",
            "sequenceNumber": "5",
            "dtmf": {"track": "inbound_track", "digit": "1"},
        }
    )
    messages = [m for _, m in await twilio_read(ws, quiet_s=0.4)]
    events = [m["event"] for m in messages]
    assert events[-2:] == ["clear", "mark"] and messages[-1]["mark"]["name"] == "menu"
    assert events.count("media") <= 5
    state = await status(client, "CA-barge")
    assert state["interrupted"] == ["menu"] and state["dtmf"] == "1"
    await ws.close()


@pytest.mark.parametrize(
    "messages, reason",
    [
        (["not json"], "not JSON"),
        ([{"no": "event"}], "'event' string"),
        ([{"event": "media", "media": {"payload": "AAAA"}}], "before 'start'"),
        (["START", {"event": "media", "streamSid": "MZ-x", "media": {"payload": "%%%"}}], "not base64"),
        (["START", {"event": "dtmf", "dtmf": {"digit": "x"}}], "digit"),
        (
            [
                {
                    **twilio_start("CA-x", "MZ-x"),
                    "start": {
                        **twilio_start("CA-x", "MZ-x")["start"],
                        "mediaFormat": {"encoding": "audio/x-l16", "sampleRate": 16000},
                    },
                }
            ],
            "audio/x-mulaw",
        ),
        (["BINARY"], "text messages"),
    ],
    ids=["not-json", "no-event", "media-first", "bad-base64", "bad-digit", "wrong-codec", "binary"],
)
async def test_twilio_malformed_messages_drop_that_stream_only(client, messages, reason):
    good = await client.ws_connect("/v1/ivr/twilio")
    await good.send_json(twilio_start("CA-good", "MZ-good"))
    await say(client, "CA-good", LONG)
    assert json.loads((await good.receive(timeout=10)).data)["event"] == "media"

    bad = await client.ws_connect("/v1/ivr/twilio")
    for message in messages:
        if message == "START":
            await bad.send_json(twilio_start(f"CA-bad-{uuid.uuid4().hex[:6]}", "MZ-x"))
        elif message == "BINARY":
            await bad.send_bytes(b"\x00\x01")
        elif isinstance(message, str):
            await bad.send_str(message)
        else:
            await bad.send_json(message)
    closing = await bad.receive(timeout=10)
    assert closing.type == WSMsgType.CLOSE and bad.close_code == 1008
    assert reason in closing.extra

    for _ in range(10):
        assert json.loads((await good.receive(timeout=10)).data)["event"] == "media"
    await good.close()
