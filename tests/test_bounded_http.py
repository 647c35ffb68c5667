"""Hostile HTTP clients against the real server: every mistake is a 4xx in the JSON error shape,
a client that leaves is counted (not an error), and slow or idle connections are closed.

Framing and timing cases talk raw bytes over TCP to :class:`HttpServer` (the server ``emotts
serve`` runs), with ``limits.read_timeout_s`` and ``limits.idle_timeout_s`` made short; body cases
use aiohttp's test client. After every hostile case a normal ``POST /v1/plan`` must still succeed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import time

import aiohttp
import pytest
import pytest_asyncio
from aiohttp import web

from emotts_plugin import load_config
from emotts_plugin.adapters.http import HttpServer, create_app
from emotts_plugin.adapters.requests import INTERNAL_ERROR_MESSAGE, client_went_away
from emotts_plugin.synthesizer import Synthesizer

READ_TIMEOUT_S = 0.5
IDLE_TIMEOUT_S = 1.0
#: Scheduling slack allowed on top of a timeout (two cores shared by other test runs).
MARGIN_S = 1.0
PLAN = b'{"input": "Hello there."}'
JSON_ROUTES = ["/v1/plan", "/v1/synthesize", "/v1/audio/speech", "/v1/webui/render", "/v1/ivr/calls/c1/say"]


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))


def bounded_app(synth: Synthesizer, **limits) -> web.Application:
    limits = {"read_timeout_s": READ_TIMEOUT_S, "idle_timeout_s": IDLE_TIMEOUT_S} | limits
    config = dataclasses.replace(synth.config, limits=dataclasses.replace(synth.config.limits, **limits))
    return create_app(config, synthesizer=synth)


@pytest_asyncio.fixture
async def client(aiohttp_client, synth):
    return await aiohttp_client(bounded_app(synth))


@pytest_asyncio.fixture
async def server(synth):
    """The app served as ``emotts serve`` serves it, with a slow route and a WebSocket echo."""
    app = bounded_app(synth)

    async def sleep(request: web.Request) -> web.Response:
        await asyncio.sleep(float(request.query["s"]))
        return web.json_response({"slept": True})

    async def echo(request: web.Request) -> web.WebSocketResponse:
        websocket = web.WebSocketResponse()
        await websocket.prepare(request)
        async for message in websocket:
            await websocket.send_str(message.data)
        return websocket

    app.router.add_get("/test/sleep", sleep)
    app.router.add_get("/test/echo", echo)
    async with HttpServer(app, "127.0.0.1", 0) as running:
        yield running


# -- helpers ----------------------------------------------------------------------------------


@dataclasses.dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict:
        """The ``error`` object of a JSON error reply, checked for its shape."""
        assert self.headers.get("content-type", "").startswith("application/json"), self
        payload = json.loads(self.body)
        assert set(payload) == {"error"} and {"message", "type", "code"} <= set(payload["error"]), payload
        return payload["error"]


async def read_reply(reader: asyncio.StreamReader, timeout: float = 5.0) -> Reply:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await asyncio.wait_for(reader.readexactly(int(headers.get("content-length", 0))), timeout)
    return Reply(status, headers, body)


async def closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server closes the connection within ``seconds`` (what it sends is skipped)."""
    try:
        async with asyncio.timeout(seconds):
            while await reader.read(65536):
                pass
    except TimeoutError:
        return False
    except ConnectionError:
        pass
    return True


async def exchange(port: int, data: bytes) -> tuple[Reply, bool]:
    """Send ``data`` on a new connection; the reply, and whether the server closed the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        reply = await read_reply(reader)
        return reply, await closed_within(reader, 2.0)
    finally:
        writer.close()


def post(path: str, body: bytes, *headers: bytes) -> bytes:
    head = b"POST %s HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n" % path.encode()
    return head + b"".join(h + b"\r\n" for h in headers) + b"Content-Length: %d\r\n\r\n" % len(body) + body


async def assert_serves(port: int) -> None:
    """A normal request on a fresh connection succeeds."""
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"http://127.0.0.1:{port}/v1/plan", json={"input": "Hello there."}
        ) as response:
            assert response.status == 200, await response.text()
            assert (await response.json())["segments"]


async def metrics_text(port: int) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/metrics") as response:
            return await response.text()


def warnings_logged(caplog) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.WARNING]


# -- JSON bodies --------------------------------------------------------------------------------


@pytest.mark.parametrize("route", JSON_ROUTES)
@pytest.mark.asyncio
async def test_deeply_nested_json_is_a_400_on_every_json_route(client, route, caplog):
    body = b'{"input": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    response = await client.post(route, data=body, headers={"Content-Type": "application/json"})
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == "InvalidJSON" and "deeply" in error["message"]
    assert not warnings_logged(caplog)
    assert (await client.post("/v1/plan", json={"input": "Hello there."})).status == 200


@pytest.mark.parametrize(
    ("content_type", "body", "code", "named"),
    [
        ("application/json; charset=bogus", PLAN, "UnsupportedCharset", "'bogus'"),
        (
            "application/json; charset=base64",
            PLAN,
            "UnsupportedCharset",
            "'base64'",
        ),  # a codec, not a text encoding
        ("application/json", b'{"input": "caf\xe9"}', "InvalidJSON", "'utf-8' at byte 14"),
        (
            "application/json; charset=utf-16",
            b'{"input": "odds"}',
            "InvalidJSON",
            "'utf-16' at byte 16",
        ),  # odd length
        ("application/json", b'{"input": "hi", "intensity": NaN}', "InvalidJSON", "NaN is not a JSON number"),
        ("application/json", b'{"input": "hi", "intensity": -Infinity}', "InvalidJSON", "-Infinity"),
        (
            "application/json",
            b'{"input": "hi", "intensity": ' + b"9" * 10_000 + b"}",
            "InvalidJSON",
            "digits",
        ),
        ("application/json", b'{"input": "hi"', "InvalidJSON", "line 1, column 15"),
        ("application/json", b'["input", "hi"]', "InvalidJSON", "must be a JSON object, got list"),
    ],
)
@pytest.mark.asyncio
async def test_bodies_that_are_not_json_objects_are_400_naming_the_problem(
    client, content_type, body, code, named, caplog
):
    response = await client.post("/v1/plan", data=body, headers={"Content-Type": content_type})
    assert response.status == 400, await response.text()
    error = (await response.json())["error"]
    assert error["code"] == code and named in error["message"], error
    assert not warnings_logged(caplog)
    assert (await client.post("/v1/plan", json={"input": "Hello there."})).status == 200


@pytest.mark.parametrize(
    "headers", [{"Content-Type": "text/plain"}, {}, {"Content-Type": "application/json; charset=utf-16"}]
)
@pytest.mark.asyncio
async def test_any_content_type_with_a_json_body_is_read(client, headers):
    charset = "utf-16" if "utf-16" in headers.get("Content-Type", "") else "utf-8"
    response = await client.post("/v1/plan", data=PLAN.decode().encode(charset), headers=headers)
    assert response.status == 200, await response.text()
    assert (await response.json())["segments"][0]["text"] == "Hello there."


@pytest.mark.asyncio
async def test_a_body_that_breaks_its_content_encoding_is_a_400(server, caplog):
    reply, closed = await exchange(
        server.port, post("/v1/plan", b"this is not gzip" * 4, b"Content-Encoding: gzip")
    )
    assert reply.status == 400 and reply.error()["code"] == "MalformedBody"
    assert "gzip" in reply.error()["message"]
    assert closed
    assert not warnings_logged(caplog)
    await assert_serves(server.port)


@pytest.mark.asyncio
async def test_a_declared_body_over_the_limit_is_413_before_it_is_sent(synth, aiohttp_client):
    client = await aiohttp_client(bounded_app(synth, max_body_bytes=1000))
    reader, writer = await asyncio.open_connection(client.server.host, client.server.port)
    writer.write(b"POST /v1/plan HTTP/1.1\r\nHost: test\r\nContent-Length: 50000000\r\n\r\n")
    started = time.monotonic()
    reply = await read_reply(reader, timeout=READ_TIMEOUT_S)  # not a byte of the body was sent
    writer.close()
    assert time.monotonic() - started < READ_TIMEOUT_S
    assert reply.status == 413 and "limits.max_body_bytes (1,000 bytes)" in reply.error()["message"]
    assert (await client.post("/v1/plan", json={"input": "Hello there."})).status == 200


# -- errors of the server -------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_500_shows_no_exception_text_and_logs_the_traceback(synth, aiohttp_client, caplog):
    app = bounded_app(synth)

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("praat script: To Manipulation... 0.01 75 600")

    app.router.add_get("/test/broken", broken)
    client = await aiohttp_client(app)
    response = await client.get("/test/broken")
    assert response.status == 500
    error = (await response.json())["error"]
    assert error == {"message": INTERNAL_ERROR_MESSAGE, "type": "server_error", "code": "RuntimeError"}
    logged = [r for r in caplog.records if r.levelno >= logging.ERROR and r.exc_info]
    assert logged and "praat script" in str(logged[0].exc_info[1])
    assert (
        'emotts_requests_total{route="/test/broken",status="500"} 1'
        in await (await client.get("/metrics")).text()
    )
    assert (await client.post("/v1/plan", json={"input": "Hello there."})).status == 200


# -- clients that go away -------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["close", "reset"])
@pytest.mark.asyncio
async def test_a_client_that_leaves_mid_body_is_counted_not_an_error(server, how, caplog):
    caplog.set_level(logging.DEBUG, logger="emotts_plugin.adapters.http")
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"POST /v1/plan HTTP/1.1\r\nHost: test\r\nContent-Length: 200\r\n\r\n")
    writer.write(b'{"input": "Hel')
    await writer.drain()
    await asyncio.sleep(0.1)
    if how == "reset":  # RST instead of FIN
        writer.get_extra_info("socket").setsockopt(
            socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
        )
    writer.close()
    line = 'emotts_client_disconnects_total{route="/v1/plan"} 1'
    for _ in range(50):
        text = await metrics_text(server.port)
        if line in text:
            break
        await asyncio.sleep(0.05)
    assert line in text
    assert not re.search(r'status="5\d\d"', text) and "emotts_errors_total{" not in text
    assert not warnings_logged(caplog)
    assert any("client went away" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    await assert_serves(server.port)


@pytest.mark.asyncio
async def test_a_handler_cancelled_by_a_disconnect_is_counted_and_stays_cancelled(synth, caplog):
    app = bounded_app(synth)
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def waits(request: web.Request) -> web.Response:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return web.Response(text="late")

    app.router.add_get("/test/waits", waits)
    runner = web.AppRunner(app, handler_cancellation=True)  # aiohttp cancels a handler whose client left
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /test/waits HTTP/1.1\r\nHost: test\r\n\r\n")
        await asyncio.wait_for(started.wait(), 5)
        writer.close()
        await asyncio.wait_for(cancelled.wait(), 5)
        text = await metrics_text(port)
        assert 'emotts_client_disconnects_total{route="/test/waits"} 1' in text
        assert 'route="/test/waits",status' not in text  # no status: nothing was answered
        assert not warnings_logged(caplog)
        await assert_serves(port)
    finally:
        await runner.cleanup()


@pytest.mark.asyncio
async def test_a_client_that_leaves_a_stream_is_counted_once_as_a_disconnect(synth, caplog):
    app = bounded_app(synth)
    gone = asyncio.Event()

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        await response.prepare(request)
        try:
            for _ in range(1000):
                await response.write(b"x" * 65536)
                await asyncio.sleep(0.01)
        except ConnectionResetError:
            client_went_away(request)
            gone.set()
        return response

    app.router.add_get("/test/stream", stream)
    async with HttpServer(app, "127.0.0.1", 0) as server:  # a handler is not cancelled when its client leaves
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /test/stream HTTP/1.1\r\nHost: test\r\n\r\n")
        await reader.readuntil(b"\r\n\r\n")
        writer.close()
        await asyncio.wait_for(gone.wait(), 10)
        text = await metrics_text(server.port)
        assert 'emotts_client_disconnects_total{route="/test/stream"} 1' in text
        assert 'route="/test/stream",status' not in text
        assert not warnings_logged(caplog)
        await assert_serves(server.port)


# -- aiohttp's own answers to malformed requests ----------------------------------------------------


POST_HEAD = b"POST /v1/plan HTTP/1.1\r\nHost: test\r\n"
CHUNKED_HEAD = POST_HEAD + b"Transfer-Encoding: chunked\r\n\r\n"
MALFORMED = [
    pytest.param(b"GARBAGE\r\n\r\n", 400, "BadHttpMethod", id="bad-request-line"),
    pytest.param(
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40, 400, "BadHttpMethod", id="tls-hello"
    ),
    pytest.param(
        b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n",
        431,
        "HeaderTooLong",
        id="header-too-long",
    ),
    pytest.param(
        b"GET /" + b"a" * 20_000 + b" HTTP/1.1\r\nHost: test\r\n\r\n",
        431,
        "HeaderTooLong",
        id="target-too-long",
    ),
    pytest.param(
        b"GET /healthz HTTP/1.1\r\nHost: test\r\n"
        + b"".join(b"X-%d: 1\r\n" % i for i in range(300))
        + b"\r\n",
        431,
        "TooManyHeaders",
        id="too-many-headers",
    ),
    pytest.param(
        POST_HEAD + b"Content-Length: abc\r\n\r\n", 400, "InvalidContentLength", id="content-length-abc"
    ),
    pytest.param(
        POST_HEAD + b"Content-Length: -5\r\n\r\n", 400, "InvalidContentLength", id="content-length-negative"
    ),
    pytest.param(
        POST_HEAD + b"Content-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
        400,
        "InvalidContentLength",
        id="content-length-twice",
    ),
    pytest.param(
        POST_HEAD + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        400,
        "ConflictingLength",
        id="length-and-chunked",
    ),
    pytest.param(
        CHUNKED_HEAD + b"zz\r\nhello\r\n0\r\n\r\n", 400, "InvalidChunkedEncoding", id="chunk-size-zz"
    ),
    pytest.param(
        CHUNKED_HEAD + b'5\r\n{"inp\r\nQQ\r\n', 400, "InvalidChunkedEncoding", id="chunk-size-after-data"
    ),
    pytest.param(
        post("/v1/plan", PLAN, b"Content-Encoding: br"), 415, "UnsupportedContentEncoding", id="encoding-br"
    ),
    pytest.param(b"GET /healthz HTTP/1.1\r\n\r\n", 400, "BadHttpMessage", id="no-host"),
]


@pytest.mark.parametrize(("request_bytes", "status", "code"), MALFORMED)
@pytest.mark.asyncio
async def test_malformed_requests_get_a_json_error_and_a_closed_connection(
    server, request_bytes, status, code, caplog
):
    reply, closed = await exchange(server.port, request_bytes)
    assert reply.status == status
    error = reply.error()
    assert error["code"] == code and error["message"]
    assert closed
    assert not warnings_logged(caplog)  # aiohttp logged each of these as an error with a traceback
    await assert_serves(server.port)


# -- slow and idle connections ---------------------------------------------------------------------


async def slowloris(port: int, data: bytes, interval_s: float, give_up_s: float) -> tuple[float, bytes]:
    """Send ``data`` a byte every ``interval_s``; how long until the server closes, and what it sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    started = time.monotonic()
    received = bytearray()

    async def read() -> None:
        try:
            while chunk := await reader.read(65536):
                received.extend(chunk)
        except ConnectionError:
            pass

    reading = asyncio.create_task(read())
    try:
        for byte in data:
            if reading.done() or time.monotonic() - started > give_up_s:
                break
            try:
                writer.write(bytes([byte]))
                await writer.drain()
            except ConnectionError:
                break
            await asyncio.sleep(interval_s)
        await asyncio.wait_for(reading, max(0.1, give_up_s - (time.monotonic() - started)))
        return time.monotonic() - started, bytes(received)
    except TimeoutError:
        return float("inf"), bytes(received)
    finally:
        reading.cancel()
        writer.close()


@pytest.mark.asyncio
async def test_fifty_slowloris_heads_are_closed_after_the_read_timeout(server):
    head = b"POST /v1/plan HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\nX-Pad: " + b"a" * 400
    results = await asyncio.gather(*(slowloris(server.port, head, 0.05, 10.0) for _ in range(50)))
    times = sorted(t for t, _ in results)
    assert all(READ_TIMEOUT_S - 0.05 <= t <= READ_TIMEOUT_S + MARGIN_S for t in times), times
    assert all(sent == b"" for _, sent in results)  # no request was made of them
    await assert_serves(server.port)


async def slow_body(port: int, head: bytes, body: bytes, interval_s: float) -> tuple[float, bytes]:
    """Send ``head`` at once, then ``body`` a byte every ``interval_s``; how long from the head until
    the server closes, and what it sent."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(head)
    await writer.drain()
    started = time.monotonic()
    received = bytearray()
    try:
        for byte in body:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(65536), interval_s)
            except TimeoutError:
                continue
            if not chunk:
                break
            received.extend(chunk)
        received.extend(await asyncio.wait_for(reader.read(), 2))
    except ConnectionError:
        pass
    finally:
        writer.close()
    return time.monotonic() - started, bytes(received)


@pytest.mark.asyncio
async def test_slow_bodies_get_408_after_the_read_timeout(server):
    head = (
        b"POST /v1/plan HTTP/1.1\r\nHost: test\r\n"
        b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n"
    )
    body = b'{"input": "' + b"a" * 387 + b'"}'  # a byte every 0.05 s: 20 s for the whole
    results = await asyncio.gather(*(slow_body(server.port, head, body, 0.05) for _ in range(20)))
    for seconds, received in results:
        assert READ_TIMEOUT_S - 0.05 <= seconds <= READ_TIMEOUT_S + MARGIN_S, seconds
        assert received.startswith(b"HTTP/1.1 408 "), received[:100]
        error = json.loads(received[received.index(b"\r\n\r\n") + 4 :])["error"]
        assert error["code"] == "RequestTimeout" and "limits.read_timeout_s" in error["message"]
    assert 'emotts_requests_total{route="/v1/plan",status="408"} 20' in await metrics_text(server.port)
    await assert_serves(server.port)


@pytest.mark.asyncio
async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        assert (await read_reply(reader)).status == 200
        answered = time.monotonic()
        assert not await closed_within(reader, IDLE_TIMEOUT_S - 0.2)  # kept alive meanwhile ...
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")  # ... and usable
        assert (await read_reply(reader)).status == 200
        answered = time.monotonic()
        assert await closed_within(reader, IDLE_TIMEOUT_S + MARGIN_S)
        assert time.monotonic() - answered >= IDLE_TIMEOUT_S - 0.05
    finally:
        writer.close()
    silent_reader, silent_writer = await asyncio.open_connection(
        "127.0.0.1", server.port
    )  # never sends a byte
    opened = time.monotonic()
    assert await closed_within(silent_reader, IDLE_TIMEOUT_S + MARGIN_S)
    assert time.monotonic() - opened >= IDLE_TIMEOUT_S - 0.05
    silent_writer.close()
    await assert_serves(server.port)


@pytest.mark.asyncio
async def test_slow_answers_heads_sent_in_pieces_and_quiet_websockets_are_not_cut(server):
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        # the handler takes three read timeouts: only the client's sending is timed
        writer.write(b"GET /test/sleep?s=%.2f HTTP/1.1\r\nHost: test\r\n\r\n" % (3 * READ_TIMEOUT_S))
        assert (await read_reply(reader)).status == 200
        # a request in pieces, the whole within the read timeout, on the same connection
        request = post("/v1/plan", PLAN)
        for piece in (request[:20], request[20:60], request[60:]):
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(READ_TIMEOUT_S / 5)
        reply = await read_reply(reader)
        assert reply.status == 200 and json.loads(reply.body)["segments"]
    finally:
        writer.close()
    # a WebSocket (Twilio's media streams) silent for longer than both timeouts stays open
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(
            f"http://127.0.0.1:{server.port}/test/echo", autoping=False
        ) as websocket:
            await websocket.send_str("first")
            assert (await websocket.receive_str(timeout=5)) == "first"
            await asyncio.sleep(IDLE_TIMEOUT_S + READ_TIMEOUT_S)
            await websocket.send_str("second")
            assert (await websocket.receive_str(timeout=5)) == "second"


def test_serve_answers_in_json_and_closes_slow_clients_until_sigterm():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    script = f"""
import dataclasses
from emotts_plugin import load_config
from emotts_plugin.adapters.http import serve
config = load_config([])
limits = dataclasses.replace(config.limits, read_timeout_s={READ_TIMEOUT_S}, idle_timeout_s={IDLE_TIMEOUT_S})
serve(dataclasses.replace(config, noise=False, threads=1, limits=limits), host="127.0.0.1", port={port})
"""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    process = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        assert f"http://127.0.0.1:{port}" in process.stdout.readline()

        async def drive() -> None:
            reply, closed = await exchange(port, b"GARBAGE\r\n\r\n")
            assert reply.status == 400 and reply.error()["code"] == "BadHttpMethod" and closed
            head = b"GET /healthz HTTP/1.1\r\nHost: test\r\nX-Pad: " + b"a" * 200
            seconds, sent = await slowloris(port, head, 0.05, 10.0)
            assert READ_TIMEOUT_S - 0.05 <= seconds <= READ_TIMEOUT_S + MARGIN_S and sent == b""
            await assert_serves(port)

        asyncio.run(drive())
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = process.stderr.read()
    assert "Traceback" not in stderr, stderr
