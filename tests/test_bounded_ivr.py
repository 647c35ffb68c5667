"""Hostile IVR and reference-upload clients: every one meets a ceiling, and the next normal request is served.

- Prompts queued for calls that never connect count against ``limits.ivr_queue_mb`` (429 past it).
- Twilio Media Streams: a message over ``limits.max_body_bytes`` closes with 1009, nested JSON
  with 1008, streams beyond ``limits.max_connections`` with 1013, a silent stream with 1008.
- AudioSocket: connections beyond ``limits.max_connections`` get an error frame; a frame slower
  than ``limits.read_timeout_s`` drops its call.
- Reference uploads are admitted before their body is read (413 by Content-Length, 503 when busy).

Each app is built with small limits (``dataclasses.replace``) so the ceilings are reached fast.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import json
import time
import uuid

import pytest
import pytest_asyncio
import soundfile
from aiohttp import WSMsgType

from emotts_plugin import load_config
from emotts_plugin.adapters import ivr
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.ivr import AUDIOSOCKET, CALLS, TWILIO_STREAMS, prompt_bytes
from emotts_plugin.adapters.references import MAX_UPLOAD_BYTES, UPLOADS
from emotts_plugin.adapters.telephony import Prompt
from emotts_plugin.synthesizer import Synthesizer

import test_ivr
from test_ivr import frame

pytestmark = pytest.mark.asyncio

SHORT = "Thank you for calling."
LONG = "Your call is important to us. Please stay on the line and an agent will be with you shortly."
#: A prompt that holds 50 kB while it waits but speaks one short sentence.
BIG = "Please hold." + " " * 50_000
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    config = load_config([])
    server = dataclasses.replace(config.server, audiosocket="127.0.0.1:0")
    limits = dataclasses.replace(
        config.limits, max_input_bytes=2 * MIB
    )  # room for a prompt over a 1 MiB budget
    return Synthesizer(dataclasses.replace(config, noise=False, threads=1, server=server, limits=limits))


@pytest.fixture(scope="module")
def wav(synth) -> bytes:
    result = synth.synthesize(
        "I am so sorry for the wait. We will call you back tomorrow morning.", emotion="sad"
    )
    buffer = io.BytesIO()
    soundfile.write(buffer, result.audio, result.sample_rate, format="WAV")
    return buffer.getvalue()


@pytest_asyncio.fixture
async def make_client(aiohttp_client, synth):
    """A test client on an app whose ``limits`` are the defaults with ``**limits`` replaced."""

    async def make(**limits):
        config = dataclasses.replace(synth.config, limits=dataclasses.replace(synth.config.limits, **limits))
        return await aiohttp_client(create_app(config, synthesizer=synth))

    return make


# -- helpers ----------------------------------------------------------------------------


async def say(client, call_id: str, text: str = SHORT, **fields):
    return await client.post(f"/v1/ivr/calls/{call_id}/say", json={"text": text, **fields})


async def normal_prompt_file(client) -> None:
    response = await client.get("/v1/ivr/prompt.ulaw", params={"text": SHORT})
    assert response.status == 200 and len(await response.read()) > 4000


class Phone(test_ivr.Phone):
    """An AudioSocket peer (tests/test_ivr.py's), dialling the test client's AudioSocket server."""

    @classmethod
    async def dial(cls, client, call_id: str | None = None) -> "Phone":
        return await super().dial(client.server.app[AUDIOSOCKET].sockets[0].getsockname()[1], call_id)

    async def audio_frames(self, count: int) -> None:
        for _ in range(count):
            item = await self.read()
            assert item is not None and item[0] == 0x10

    async def audio_until_quiet(self, quiet_s: float = 0.6) -> int:
        frames = 0
        while True:
            try:
                item = await self.read(timeout=quiet_s if frames else 10.0)
            except asyncio.TimeoutError:
                return frames
            if item is None:
                return frames
            frames += item[0] == 0x10

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    def close(self) -> None:
        self.writer.close()


async def normal_call(client) -> None:
    """A call that connects, is given a prompt and hears it."""
    phone = await Phone.dial(client)
    assert (await say(client, phone.call_id)).status == 202
    assert await phone.audio_until_quiet() > 30
    phone.close()


def twilio_start(call_sid: str, **parameters) -> dict:
    return {
        "event": "start",
        "streamSid": f"MZ-{call_sid}",
        "start": {
            "streamSid": f"MZ-{call_sid}",
            "callSid": call_sid,
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            "customParameters": parameters,
        },
    }


async def closed(ws, timeout: float = 10.0):
    """The close a stream ends with (media before it is skipped)."""
    deadline = time.monotonic() + timeout
    while True:
        msg = await ws.receive(timeout=max(0.1, deadline - time.monotonic()))
        if msg.type != WSMsgType.TEXT:
            return msg


async def normal_twilio_call(client) -> None:
    """A Twilio stream whose greeting plays to its end."""
    ws = await client.ws_connect("/v1/ivr/twilio")
    await ws.send_json(twilio_start(f"CA-{uuid.uuid4().hex[:8]}", text=SHORT))
    events = []
    while not events or events[-1] != "mark":
        msg = await ws.receive(timeout=10)
        assert msg.type == WSMsgType.TEXT, (msg, ws.close_code)
        events.append(json.loads(msg.data)["event"])
    assert events.count("media") > 30
    await ws.close()


# -- the IVR prompt budget --------------------------------------------------------------


async def fill_budget(client, calls: list[str]) -> tuple[int, object]:
    """Queue :data:`BIG` prompts round the ``calls`` until one is refused; how many were taken,
    and the refusal."""
    for number in range(1000):
        response = await say(client, calls[number % len(calls)], BIG, mark="m")
        if response.status != 202:
            return number, response
    raise AssertionError("the budget never refused a prompt")


async def test_prompts_for_calls_that_never_connect_stop_at_the_budget(make_client):
    client = await make_client(ivr_queue_mb=1)
    budget = client.server.app[CALLS].budget
    calls = [f"pending-{n}" for n in range(4)]
    accepted, refused = await fill_budget(client, calls)
    assert accepted == MIB // prompt_bytes(
        Prompt(BIG), "m"
    )  # each waiting prompt counts its text and objects
    assert refused.status == 429 and refused.headers["Retry-After"]
    error = (await refused.json())["error"]
    assert error["code"] == "IvrQueueFull" and "limits.ivr_queue_mb (1 MiB)" in error["message"]
    assert budget.held <= MIB
    await normal_prompt_file(client)  # rendering prompt files is not queueing

    ws = await client.ws_connect("/v1/ivr/twilio")  # a greeting the budget cannot take: try again later
    await ws.send_json(twilio_start("CA-greeting", text=BIG))
    closing = await closed(ws)
    assert (
        closing.type == WSMsgType.CLOSE and ws.close_code == 1013 and "limits.ivr_queue_mb" in closing.extra
    )

    barge = await say(client, calls[0], SHORT, barge_in=True)  # drops that call's own waiting prompts first
    assert barge.status == 202
    for call_id in calls:
        assert (await client.delete(f"/v1/ivr/calls/{call_id}")).status == 200
    assert budget.held == 0
    assert (await say(client, "after-hangup", BIG)).status == 202
    assert budget.held == prompt_bytes(Prompt(BIG), "prompt-1")


async def test_a_prompt_larger_than_the_whole_budget_is_413(make_client):
    client = await make_client(ivr_queue_mb=1, max_body_bytes=3 * MIB)
    response = await say(client, "huge", "Hello." + " " * (MIB + 10))
    assert response.status == 413 and "limits.ivr_queue_mb" in (await response.json())["error"]["message"]
    assert (await say(client, "huge", SHORT)).status == 202


async def test_calls_that_never_connect_expire_and_give_their_budget_back(make_client, monkeypatch):
    client = await make_client(ivr_queue_mb=1)
    monkeypatch.setattr(ivr, "PENDING_TTL_S", 0.5)
    _, refused = await fill_budget(client, ["lurker-1", "lurker-2"])
    assert refused.status == 429
    await asyncio.sleep(0.6)
    assert (await say(client, "fresh", BIG)).status == 202
    assert (await client.get("/v1/ivr/calls/lurker-1")).status == 404
    assert client.server.app[CALLS].budget.held == prompt_bytes(Prompt(BIG), "prompt-1")


async def test_played_and_interrupted_prompts_give_their_bytes_back(make_client):
    client = await make_client(ivr_queue_mb=1)
    budget = client.server.app[CALLS].budget
    call_id = str(uuid.uuid4())
    assert (await say(client, call_id, LONG, mark="long")).status == 202
    assert (await say(client, call_id, SHORT, mark="short")).status == 202
    assert budget.held > 0
    phone = await Phone.dial(client, call_id)
    await phone.audio_frames(10)
    await phone.send(frame(0x03, b"1"))  # barge-in: "long" stops, "short" plays
    await phone.audio_until_quiet()
    state = await (await client.get(f"/v1/ivr/calls/{call_id}")).json()
    assert state["interrupted"] == ["long"] and state["played"] == ["short"]
    assert budget.held == 0
    phone.close()
    await normal_call(client)


# -- Twilio Media Streams ---------------------------------------------------------------


@pytest.mark.parametrize(
    "message, code, words",
    [
        ('{"event": "media", "media": {"payload": "' + "A" * 80_000 + '"}}', 1009, "limits.max_body_bytes"),
        ('{"event": ' + "[" * 20_000 + "]" * 20_000 + "}", 1008, "nested too deeply"),
        ("[" * 30_000, 1008, "nested too deeply"),
    ],
    ids=["oversized", "nested", "nested-unclosed"],
)
async def test_twilio_hostile_message_closes_that_stream_only(make_client, message, code, words):
    client = await make_client(max_body_bytes=64 * 1024)
    good = await client.ws_connect("/v1/ivr/twilio")
    await good.send_json(twilio_start("CA-good"))
    assert (await say(client, "CA-good", LONG)).status == 202
    assert json.loads((await good.receive(timeout=10)).data)["event"] == "media"

    bad = await client.ws_connect("/v1/ivr/twilio")
    await bad.send_json(twilio_start("CA-bad"))
    await bad.send_str(message)
    closing = await closed(bad)
    assert closing.type == WSMsgType.CLOSE and bad.close_code == code
    assert words in closing.extra
    assert (await (await client.get("/v1/ivr/calls/CA-bad")).json())["ended"]

    for _ in range(10):
        assert json.loads((await good.receive(timeout=10)).data)["event"] == "media"
    await good.close()
    await normal_twilio_call(client)
    await normal_prompt_file(client)


async def test_twilio_streams_beyond_max_connections_are_told_to_try_again(make_client):
    client = await make_client(max_connections=2)
    first = await client.ws_connect("/v1/ivr/twilio")
    await first.send_json(twilio_start("CA-first"))
    second = await client.ws_connect("/v1/ivr/twilio")
    await second.send_json({"event": "connected"})
    third = await client.ws_connect("/v1/ivr/twilio")
    closing = await closed(third)
    assert (
        closing.type == WSMsgType.CLOSE
        and third.close_code == 1013
        and "limits.max_connections" in closing.extra
    )

    assert (await say(client, "CA-first", SHORT)).status == 202  # the open ones are served
    assert json.loads((await first.receive(timeout=10)).data)["event"] == "media"
    await first.close()
    await second.close()
    streams = client.server.app[TWILIO_STREAMS]
    for _ in range(100):  # the server has seen both go
        if not streams:
            break
        await asyncio.sleep(0.02)
    await normal_twilio_call(client)


async def test_a_silent_twilio_stream_is_closed_and_a_talking_one_is_not(make_client):
    client = await make_client(idle_timeout_s=0.5)
    talking = await client.ws_connect("/v1/ivr/twilio")
    await talking.send_json(twilio_start("CA-talking"))
    silent = await client.ws_connect("/v1/ivr/twilio")
    started = time.monotonic()
    silence = base64.b64encode(b"\xff" * 160).decode()
    media = {"event": "media", "streamSid": "MZ-CA-talking", "media": {"payload": silence}}
    while time.monotonic() - started < 1.5:  # Twilio sends the caller's audio every 20 ms; here every 0.1 s
        await talking.send_json(media)
        await asyncio.sleep(0.1)
    closing = await closed(silent, timeout=5)
    assert (
        closing.type == WSMsgType.CLOSE
        and silent.close_code == 1008
        and "limits.idle_timeout_s" in closing.extra
    )
    assert not talking.closed
    state = await (await client.get("/v1/ivr/calls/CA-talking")).json()
    assert state["connected"] and not state["ended"]
    await talking.close()


# -- AudioSocket ------------------------------------------------------------------------


async def test_audiosocket_connections_beyond_max_connections_are_refused(make_client):
    client = await make_client(max_connections=2)
    talking = await Phone.dial(client)
    assert (await say(client, talking.call_id, LONG)).status == 202
    await talking.audio_frames(5)
    idle = await Phone.dial(client)

    refused = await Phone.dial(client)
    assert (await refused.read())[0] == 0xFF  # an error frame, then the close
    assert await refused.read() is None
    assert (await client.get(f"/v1/ivr/calls/{refused.call_id}")).status == 404  # never became a call

    await talking.audio_frames(20)  # the call in progress goes on
    idle.close()
    for _ in range(50):  # the server sees the hang-up
        if (await (await client.get(f"/v1/ivr/calls/{idle.call_id}")).json())["ended"]:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)  # and closes its side
    await normal_call(client)
    talking.close()


async def test_a_slow_audiosocket_frame_drops_that_call(make_client):
    client = await make_client(read_timeout_s=0.5)
    quiet = await Phone.dial(client)  # sends nothing after its UUID: waiting for a frame is not slow
    slow = await Phone.dial(client)
    await slow.send(frame(0x10, bytes(320))[:100])  # declares 320 bytes, sends 97
    started = time.monotonic()
    assert (await slow.read())[0] == 0xFF
    assert await slow.read() is None
    assert 0.4 < time.monotonic() - started < 5
    assert (await (await client.get(f"/v1/ivr/calls/{slow.call_id}")).json())["ended"]

    await asyncio.sleep(0.3)
    assert (await say(client, quiet.call_id)).status == 202
    assert await quiet.audio_until_quiet() > 30
    quiet.close()
    await normal_call(client)


# -- reference uploads ------------------------------------------------------------------


async def raw_post(
    client, headers: dict[str, str], body: bytes = b""
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A ``POST /v1/references`` sent by hand: its headers and ``body`` (which may be less than declared)."""
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    writer.write(f"POST /v1/references?name=raw.wav HTTP/1.1\r\nHost: test\r\n{head}\r\n".encode() + body)
    await writer.drain()
    return reader, writer


async def raw_response(reader: asyncio.StreamReader, timeout: float = 10.0) -> tuple[int, dict]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
    return int(lines[0].split()[1]), json.loads(body)


async def upload(client, wav: bytes) -> int:
    response = await client.post(
        "/v1/references?name=ok.wav", data=wav, headers={"Content-Type": "audio/wav"}
    )
    return response.status


async def test_an_upload_declared_over_the_cap_is_413_before_its_body_is_read(make_client, wav):
    client = await make_client()
    reader, writer = await raw_post(client, {"Content-Type": "audio/wav", "Content-Length": str(100 * MIB)})
    status, body = await raw_response(reader, timeout=5)  # answered without a byte of the body
    assert status == 413 and body["error"]["code"] == "PayloadTooLarge"
    assert f"{MAX_UPLOAD_BYTES // MIB} MB" in body["error"]["message"]
    writer.close()
    assert await upload(client, wav) == 201


async def test_uploads_beyond_admission_are_503_and_the_next_one_is_served(make_client, wav):
    client = await make_client()
    uploads = client.server.app[UPLOADS]
    headers = {"Content-Type": "audio/wav", "Content-Length": str(len(wav))}
    half = len(wav) // 2
    slow = [await raw_post(client, headers, wav[:half]) for _ in range(2)]  # each holds a place, mid-body
    for _ in range(100):
        if uploads.locked():
            break
        await asyncio.sleep(0.02)
    assert uploads.locked()

    busy = await client.post("/v1/references?name=third.wav", data=wav, headers={"Content-Type": "audio/wav"})
    assert busy.status == 503 and busy.headers["Retry-After"]
    assert (await busy.json())["error"]["code"] == "UploadsBusy"

    reader, writer = slow[0]
    writer.write(wav[half:])  # the first finishes its body and is analysed
    await writer.drain()
    status, body = await raw_response(reader, timeout=30)
    assert status == 201 and body["id"]
    writer.close()
    slow[1][1].transport.abort()  # the second goes away mid-body
    for _ in range(100):
        if not uploads.locked():
            break
        await asyncio.sleep(0.02)
    assert await upload(client, wav) == 201
