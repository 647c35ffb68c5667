"""Hostile Wyoming clients meet the limits: event size, nesting, idle and slow clients, connection count.

A real server on a loopback port, with small limits so the timeouts pass quickly; the ``wyoming``
package's client where it can say the case, raw sockets for malformed bytes. After every hostile
case a normal ``synthesize`` on a new connection must still be answered with audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time

import pytest
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import Event, async_read_event
from wyoming.info import Describe
from wyoming.tts import Synthesize, SynthesizeStart, SynthesizeVoice

from emotts_plugin.adapters.wyoming import MAX_HEADER_BYTES
from emotts_plugin.config import load_config
from emotts_plugin.synthesizer import Synthesizer

from test_wyoming import serving_tcp

TIMEOUT = 30.0
MAX_BODY_BYTES = 300_000
IDLE_TIMEOUT_S = 1.0
READ_TIMEOUT_S = 0.5
MAX_CONNECTIONS = 3


@pytest.fixture(scope="module")
def synth():
    config = load_config([])
    limits = dataclasses.replace(
        config.limits,
        max_body_bytes=MAX_BODY_BYTES,
        idle_timeout_s=IDLE_TIMEOUT_S,
        read_timeout_s=READ_TIMEOUT_S,
        max_connections=MAX_CONNECTIONS,
    )
    return Synthesizer(dataclasses.replace(config, noise=False, limits=limits))


@pytest.fixture(scope="module")
def port(synth):
    """A Wyoming server on a free loopback port, in a background event loop."""
    with serving_tcp(synth) as free:
        yield free


@pytest.fixture(autouse=True)
def no_tracebacks(caplog):
    """Hostile input is logged as the error it is answered with (one line, as Home Assistant's users
    read the log), never with a traceback."""
    with caplog.at_level(logging.DEBUG):
        yield
    records = caplog.get_records("call")
    loud = [r for r in records if r.exc_info or r.levelno > logging.ERROR]
    assert not loud, [r.getMessage() for r in loud]


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def _answer(reader: asyncio.StreamReader) -> tuple[list[Event], float]:
    """Every event the server sends until it closes, and the seconds that took."""
    start = time.monotonic()
    events = []
    while (event := await async_read_event(reader)) is not None:
        events.append(event)
    return events, time.monotonic() - start


async def _raw(port: int, raw: bytes) -> tuple[list[Event], float]:
    """Send ``raw`` (without closing our side), then read the answer up to the server's close."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        return await _answer(reader)
    finally:
        writer.close()


def _error(events: list[Event]) -> Error:
    assert [event.type for event in events] == ["error"], events
    return Error.from_event(events[0])


def assert_serves(port: int) -> None:
    """A normal ``synthesize`` on a new connection gets audio-start, audio-chunks, audio-stop."""

    async def speak():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(
                Synthesize(text="Still here.", voice=SynthesizeVoice(name="joe")).event()
            )
            types = []
            while not types or types[-1] not in ("audio-stop", "error"):
                event = await client.read_event()
                assert event is not None, f"closed after {types}"
                types.append(event.type)
            return types

    types = run(speak())
    assert types[0] == "audio-start" and types[-1] == "audio-stop", types
    assert types.count("audio-chunk") >= 5


# -- event size ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("data_length", "payload_length"),
    [(0, 64 << 20), (64 << 20, 0), (MAX_BODY_BYTES // 2, MAX_BODY_BYTES // 2)],
    ids=["payload-64MiB", "data-64MiB", "together-over"],
)
def test_oversized_event_is_refused_from_its_header(port, data_length, payload_length):
    header = {
        "type": "audio-chunk",
        "data": {"rate": 16000, "width": 2, "channels": 1},
        "data_length": data_length,
        "payload_length": payload_length,
    }
    # Only the header is sent: the answer and the close come without the server waiting for the body.
    events, seconds = run(_raw(port, json.dumps(header).encode() + b"\n"))
    error = _error(events)
    assert error.code == "EventTooLarge"  # not ReadTimeout: it did not wait for the declared bytes
    assert "limits.max_body_bytes" in error.text and f"{MAX_BODY_BYTES:,}" in error.text
    assert seconds < READ_TIMEOUT_S
    assert_serves(port)


def test_event_just_under_the_limit_is_read_and_the_connection_goes_on(port):
    payload = bytes(MAX_BODY_BYTES - 1000)
    header = {
        "type": "audio-chunk",
        "data": {"rate": 16000, "width": 2, "channels": 1},
        "payload_length": len(payload),
    }

    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            json.dumps(header).encode() + b"\n" + payload + json.dumps({"type": "describe"}).encode() + b"\n"
        )
        await writer.drain()
        event = await async_read_event(reader)
        writer.close()
        return event

    assert run(go()).type == "info"
    assert_serves(port)


def test_header_line_over_the_line_limit_is_refused(port):
    events, _ = run(_raw(port, b'{"type": "describe", "data": {"text": "' + b"a" * (MAX_HEADER_BYTES + 10)))
    error = _error(events)
    assert error.code == "EventTooLarge" and f"{MAX_HEADER_BYTES:,}" in error.text
    assert_serves(port)


# -- hostile JSON -------------------------------------------------------------


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("raw", "code", "words"),
    [
        # 100 000 deep in the event data: within max_body_bytes, so it reaches json.loads
        (
            b'{"type": "synthesize", "data_length": 200000}\n' + _nested(100_000),
            "WyomingRequestError",
            "event data is nested too deeply",
        ),
        # as deep as the header line allows
        (
            b'{"type": "describe", "data": {"x": ' + _nested(30_000) + b"}}\n",
            "WyomingRequestError",
            "event header is nested too deeply",
        ),
        # 100 000 deep in the header: longer than a header line may be
        (b'{"type": "describe", "data": {"x": ' + _nested(100_000) + b"}}\n", "EventTooLarge", "bytes"),
        (
            b'{"type": "synthesize", "data_length": 9}\n{"text": 1',
            "WyomingRequestError",
            "event data is not JSON",
        ),
        (b'{"type": "synthesize", "data_length": 6}\n[1, 2]', "WyomingRequestError", "must be a JSON object"),
        (b'{"type": "synthesize", "data_length": -5}\n', "WyomingRequestError", "bad data_length"),
        (b'{"type": "synthesize", "payload_length": "lots"}\n', "WyomingRequestError", "bad payload_length"),
    ],
    ids=[
        "data-100k-deep",
        "header-30k-deep",
        "header-100k-deep",
        "data-not-json",
        "data-not-object",
        "negative-length",
        "length-not-int",
    ],
)
def test_hostile_json_is_an_error_then_the_close(port, raw, code, words):
    events, _ = run(_raw(port, raw))
    error = _error(events)
    assert error.code == code and words in error.text, error
    assert_serves(port)


# -- timeouts -----------------------------------------------------------------


def test_silent_connection_is_closed_after_the_idle_timeout(port):
    events, seconds = run(_raw(port, b""))
    assert events == []  # nothing was asked, nothing to answer: just the close
    assert IDLE_TIMEOUT_S * 0.9 <= seconds < IDLE_TIMEOUT_S + 3
    assert_serves(port)


def test_idle_timer_counts_from_the_last_event(port):
    async def go():
        start = time.monotonic()
        async with AsyncTcpClient("127.0.0.1", port) as client:
            for _ in range(4):  # 4 x 0.4 s: longer than the idle timeout in all, never that long silent
                await client.write_event(Describe().event())
                assert (await client.read_event()).type == "info"
                await asyncio.sleep(IDLE_TIMEOUT_S * 0.4)
            served = time.monotonic() - start
            assert await client.read_event() is None  # then silence: the server hangs up
            return served, time.monotonic() - start - served

    served, silent = run(go())
    assert served > IDLE_TIMEOUT_S
    assert silent < IDLE_TIMEOUT_S + 3
    assert_serves(port)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "descr',
        b'{"type": "synthesize", "data_length": 40}\n{"text": "half',
        b'{"type": "audio-chunk", "payload_length": 1000}\n' + bytes(10),
    ],
    ids=["header-cut", "data-cut", "payload-cut"],
)
def test_event_that_stalls_midway_is_an_error_then_the_close(port, raw):
    events, seconds = run(_raw(port, raw))
    error = _error(events)
    assert error.code == "ReadTimeout" and "limits.read_timeout_s" in error.text
    assert seconds < READ_TIMEOUT_S + 3
    assert_serves(port)


def test_trickling_event_is_refused_at_the_read_timeout(port):
    """One byte at a time, each well inside the timeouts: the event as a whole is bounded."""
    raw = json.dumps(Synthesize(text="Hello there.").event().to_dict()).encode() + b"\n"

    async def go():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        start = time.monotonic()
        answer = asyncio.create_task(_answer(reader))
        with contextlib.suppress(ConnectionError):
            for byte in raw:
                if answer.done():
                    break
                writer.write(bytes([byte]))
                await writer.drain()
                await asyncio.sleep(0.05)
        events, _ = await answer
        writer.close()
        return events, time.monotonic() - start

    events, seconds = run(go())
    assert _error(events).code == "ReadTimeout"
    assert seconds < len(raw) * 0.05  # refused before the last byte would have come
    assert_serves(port)


# -- connection count ---------------------------------------------------------


def test_connection_over_the_limit_is_refused_and_the_others_go_on(port):
    async def describe(client):
        await client.write_event(Describe().event())
        event = await client.read_event()
        assert event is not None and event.type == "info"

    async def go():
        async with contextlib.AsyncExitStack() as stack:
            clients = [
                await stack.enter_async_context(AsyncTcpClient("127.0.0.1", port))
                for _ in range(MAX_CONNECTIONS)
            ]
            for client in clients:  # each is being served: all of them count
                await describe(client)
            refused, _ = await _raw(port, json.dumps({"type": "describe"}).encode() + b"\n")
            for client in clients:  # the refusal did not touch them
                await describe(client)
            await clients[0].disconnect()
            for _ in range(40):  # once the server has seen that close, the slot is free again
                later, _ = await _raw(port, b"")
                if not later:  # not refused: served, then closed at the idle timeout
                    break
            return refused, later

    refused, later = run(go())
    error = _error(refused)
    assert error.code == "TooManyConnections" and "limits.max_connections" in error.text
    assert later == []
    assert_serves(port)


# -- errors end the request ---------------------------------------------------


@pytest.mark.parametrize(
    "event",
    [
        Synthesize(text="Hello.", voice=SynthesizeVoice(name="nobody")).event(),
        Synthesize(text="Hello.", voice=SynthesizeVoice(name="joe", speaker="grumpy-ish")).event(),
        SynthesizeStart(voice=SynthesizeVoice(name="nobody")).event(),
    ],
    ids=["unknown-voice", "unknown-speaker", "stream-unknown-voice"],
)
def test_error_answer_is_followed_by_the_close(port, event):
    """A client waiting for audio (Home Assistant) sees ``error`` and then the end, not a hang."""

    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(event)
            first = await client.read_event()
            start = time.monotonic()
            after = await client.read_event()
            return first, after, time.monotonic() - start

    first, after, seconds = run(go())
    assert first is not None and Error.is_type(first.type)
    assert Error.from_event(first).code == "WyomingRequestError"
    assert after is None and seconds < IDLE_TIMEOUT_S  # closed at once, not by the idle timeout
    assert_serves(port)
