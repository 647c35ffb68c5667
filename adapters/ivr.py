"""IVR on the HTTP server: prompt files by URL, and live calls over AudioSocket and Twilio.

Routes (errors in the shape of :mod:`.http`):

- ``GET /v1/ivr/prompt?text=…&emotion=…&intensity=…&voice=…&format=…`` and
  ``GET /v1/ivr/prompt.<ext>?text=…`` (``ext`` one of ``wav``, ``wav16``, ``sln``, ``sln16``,
  ``ulaw``, ``alaw``, for players that go by the URL's extension): one prompt as a telephone file,
  with its content type (:attr:`TelephoneFormat.content_type`: ``sln`` is little-endian, so
  ``audio/pcm;…;format=s16le``, not the big-endian ``audio/L16``), a strong ``ETag`` (the prompt's
  content address) and ``Cache-Control``;
  ``If-None-Match`` with that tag answers ``304`` without rendering. For Twilio ``<Play>``,
  FreeSWITCH's ``http_cache`` and Asterisk's remote ``Playback()``.
- ``POST /v1/ivr/calls/{call}/say``: ``text`` (and ``emotion``, ``intensity``, ``voice``,
  ``mark``, ``barge_in``) queued for a call, before or after it connects → ``202``.
- ``GET /v1/ivr/calls/{call}``: what the call has played, is playing and has queued, and its digits.
- ``DELETE /v1/ivr/calls/{call}``: hang the call up (or forget a call that never connected).
- ``GET /v1/ivr/twilio``: the Twilio Media Streams WebSocket (``<Connect><Stream>``).

The AudioSocket server for Asterisk (``server.audiosocket``, ``emotts serve --audiosocket
HOST:PORT``) runs inside the same application, so ``say`` reaches its calls. A call's id is
the AudioSocket UUID (string form) or Twilio's ``callSid``.

A connected call plays its queue one prompt at a time: each prompt is rendered sentence by
sentence through the render queue (the next sentence renders while the current one plays)
and sent as 20 ms frames on an absolute clock. A DTMF digit stops the prompt being played
(barge-in); the queue then goes on with the next prompt. Frames that break the protocol end
that call only; the servers keep serving the others.

Bounds: a waiting prompt holds its text (its audio is rendered only when it plays), a playing
one also the sentences rendered ahead of the player; all calls' prompts together hold at most
``limits.ivr_queue_mb`` (:class:`PromptBudget`), beyond which ``say`` answers ``429``. A call
that never connects is forgotten, its prompts dropped, after :data:`PENDING_TTL_S`. Twilio
streams and AudioSocket connections are each at most ``limits.max_connections``; a Twilio
message is at most ``limits.max_body_bytes`` and a stream silent for ``limits.idle_timeout_s``
is closed; an AudioSocket frame, once begun, must arrive within ``limits.read_timeout_s``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextlib
import enum
import json
import logging
import re
import struct
import sys
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, AsyncIterator, Awaitable, Callable, Iterator

from aiohttp import WSCloseCode, WSMsgType, web

from emotts_plugin.config import split_host_port
from emotts_plugin.errors import CallError, QueueFull
from emotts_plugin.synthesizer import Synthesizer

from . import telephony
from .requests import CONFIG, SYNTHESIZER, ApiError, app_render_iter, read_json, render
from .telephony import Prompt, TelephoneFormat

_LOGGER = logging.getLogger(__name__)

#: One frame of call audio, in milliseconds.
FRAME_MS = 20
#: Prompts a call may have waiting.
MAX_QUEUED = 32
#: Calls known at once (connected, or waiting with prompts queued).
MAX_CALLS = 1000
#: Entries kept in each of a call's histories (played, interrupted, digits, …).
HISTORY = 100
#: A call that never connects is forgotten, and its prompts dropped, after this many seconds:
#: time for a phone to ring out (Twilio rings for 60 s by default) and its stream to connect.
PENDING_TTL_S = 120.0
#: Bytes a waiting prompt holds beyond its text and mark (its objects and its stop event).
PROMPT_OVERHEAD_BYTES = 1024
#: ``Retry-After`` (seconds) of a prompt refused for the budget.
BUDGET_RETRY_S = 5
#: Seconds an AudioSocket client has to send its UUID frame.
UUID_TIMEOUT_S = 5.0
#: How long a call waits before retrying a render the busy queue refused.
BUSY_RETRY_S = 0.5
#: ``Cache-Control`` of prompt files: their URL and tag name their content.
PROMPT_CACHE_CONTROL = "public, max-age=86400"

_CALL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")
_DTMF_DIGITS = frozenset("0123456789*#ABCD")
_SAY_FIELDS = ("text", "emotion", "intensity", "voice", "mark", "barge_in")
_PROMPT_PARAMS = ("text", "emotion", "intensity", "voice", "format")
_MIB = 1024 * 1024
#: A WebSocket close reason is at most 123 bytes.
_MAX_REASON_BYTES = 123


# -- calls ------------------------------------------------------------------------------


class PromptBudget:
    """Bytes all calls' prompts hold, within ``limits.ivr_queue_mb``.

    A waiting prompt holds its text; a playing one also the sentences rendered ahead of the player.
    A new prompt that does not fit is refused; a prompt already playing never stops for the budget.
    """

    def __init__(self, limit_bytes: int) -> None:
        self.limit = limit_bytes
        self.held = 0
        """Bytes held now."""

    def check(self, size: int, *, freeing: int = 0) -> None:
        """Refuse a prompt of ``size`` bytes that would not fit once ``freeing`` bytes are given back.

        :raises ApiError: 413 for a prompt larger than the whole budget; 429 (``Retry-After``) when
            the prompts held now leave no room for it.
        """
        limit = f"limits.ivr_queue_mb ({self.limit / _MIB:g} MiB)"
        if size > self.limit:
            raise ApiError(
                413,
                f"the prompt needs {size / _MIB:.1f} MiB, more than {limit} allows all calls together",
                code="IvrQueueFull",
            )
        if self.held - freeing + size > self.limit:
            raise ApiError(
                429,
                f"IVR calls' prompts already hold {self.held / _MIB:.1f} MiB of {limit}; "
                "retry when calls have played their prompts or hung up",
                type_="server_busy",
                code="IvrQueueFull",
                headers={"Retry-After": str(BUDGET_RETRY_S)},
            )


def prompt_bytes(prompt: Prompt, mark: str) -> int:
    """Bytes a waiting prompt holds: its text, its mark and :data:`PROMPT_OVERHEAD_BYTES`."""
    return sys.getsizeof(prompt.text) + sys.getsizeof(mark) + PROMPT_OVERHEAD_BYTES


@dataclass(eq=False, slots=True)
class QueuedPrompt:
    """A prompt waiting on (or playing to) a call, and the bytes of the budget it holds."""

    prompt: Prompt
    """What to say."""
    mark: str
    """Name reported when it has been played (a Twilio ``mark``)."""
    budget: PromptBudget
    """The budget its bytes count against."""
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    """Set to stop it (barge-in)."""
    held: int = 0
    """Bytes of :attr:`budget` it holds: its text while it waits, and rendered audio not yet sent while it
    plays."""

    def hold(self, size: int) -> None:
        self.held += size
        self.budget.held += size

    def free(self, size: int | None = None) -> None:
        """Give back ``size`` bytes (all it holds when ``None``): its audio was sent, or it is done."""
        size = self.held if size is None else min(size, self.held)
        self.held -= size
        self.budget.held -= size


class Call:
    """One telephone call: a queue of prompts, the player and what happened so far."""

    def __init__(self, call_id: str, budget: PromptBudget) -> None:
        self.id = call_id
        self.budget = budget
        self.transport: str | None = None
        self.connected = False
        self.ended = False
        self.created = time.monotonic()
        self.ended_at: float | None = None
        self.queue: asyncio.Queue[QueuedPrompt] = asyncio.Queue(maxsize=MAX_QUEUED)
        self.playing: QueuedPrompt | None = None
        self.played: collections.deque[str] = collections.deque(maxlen=HISTORY)
        self.interrupted: collections.deque[str] = collections.deque(maxlen=HISTORY)
        self.failed: collections.deque[dict[str, str]] = collections.deque(maxlen=HISTORY)
        self.acknowledged: collections.deque[str] = collections.deque(maxlen=HISTORY)
        self.digits: collections.deque[str] = collections.deque(maxlen=HISTORY)
        self.frames_sent = 0
        self._count = 0
        self._hangup: Callable[[], Awaitable[None]] | None = None

    def say(self, prompt: Prompt, *, mark: str | None = None, barge_in: bool = False) -> QueuedPrompt:
        """Queue ``prompt``; with ``barge_in`` the prompt playing now and those waiting are dropped first.

        :raises ApiError: 429 when :data:`MAX_QUEUED` prompts are waiting, or when all calls' prompts
            hold ``limits.ivr_queue_mb`` (see :class:`PromptBudget`; nothing is dropped then);
            409 when the call has ended.
        """
        if self.ended:
            raise ApiError(409, f"call {self.id!r} has ended", code="CallEnded")
        if not barge_in and self.queue.full():
            raise ApiError(
                429, f"call {self.id!r} already has {MAX_QUEUED} prompts waiting", code="CallQueueFull"
            )
        mark = mark or f"prompt-{self._count + 1}"
        size = prompt_bytes(prompt, mark)
        waiting = sum(item.held for item in list(self.queue._queue))  # noqa: SLF001 - a snapshot
        self.budget.check(size, freeing=waiting if barge_in else 0)
        if barge_in:
            self.clear()
        self._count += 1
        item = QueuedPrompt(prompt, mark, self.budget)
        item.hold(size)
        self.queue.put_nowait(item)
        return item

    def barge_in(self) -> None:
        """Stop the prompt being played; the queue goes on with the next."""
        if self.playing is not None:
            self.playing.stop.set()

    def clear(self) -> None:
        """Stop the prompt being played and drop every waiting one."""
        while not self.queue.empty():
            item = self.queue.get_nowait()
            item.free()
            self.interrupted.append(item.mark)
        self.barge_in()

    def status(self) -> dict[str, Any]:
        """What ``GET /v1/ivr/calls/{call}`` answers."""
        return {
            "call": self.id,
            "transport": self.transport,
            "connected": self.connected,
            "ended": self.ended,
            "playing": self.playing.mark if self.playing else None,
            "queued": [item.mark for item in list(self.queue._queue)],  # noqa: SLF001 - a snapshot
            "played": list(self.played),
            "interrupted": list(self.interrupted),
            "failed": list(self.failed),
            "acknowledged": list(self.acknowledged),
            "dtmf": "".join(self.digits),
            "frames_sent": self.frames_sent,
        }

    async def hangup(self) -> None:
        """End the call from our side (the transport sends its hang-up)."""
        self.clear()
        if self._hangup is not None:
            await self._hangup()


class Calls:
    """Every call the server knows, by id; bounded, and pending calls expire.

    :param budget: what all calls' prompts may hold together.
    """

    def __init__(self, budget: PromptBudget) -> None:
        self.budget = budget
        self._calls: dict[str, Call] = {}

    def get(self, call_id: str) -> Call | None:
        return self._calls.get(call_id)

    def get_or_create(self, call_id: str) -> Call:
        """The call ``call_id``, created (pending) when it is new.

        :raises ApiError: 400 for an id that is not a call id; 503 when :data:`MAX_CALLS` are known.
        """
        if not _CALL_ID.fullmatch(call_id):
            raise ApiError(
                400,
                f"call id {call_id!r} must be 1-128 letters, digits, '.', '_' or '-'",
                code="InvalidCallId",
            )
        self._expire()
        call = self._calls.get(call_id)
        if call is not None and not call.ended:
            return call
        if len(self._calls) >= MAX_CALLS:
            raise ApiError(
                503,
                f"{MAX_CALLS} calls are open; retry shortly",
                type_="server_busy",
                code="TooManyCalls",
                headers={"Retry-After": "2"},
            )
        call = self._calls[call_id] = Call(call_id, self.budget)
        return call

    def connect(self, call_id: str, transport: str) -> Call:
        """Attach a transport to a call (its queued prompts start playing)."""
        call = self.get_or_create(call_id)
        if call.connected:
            raise CallError(f"call {call_id!r} is already connected over {call.transport}")
        call.connected = True
        call.transport = transport
        return call

    def end(self, call: Call) -> None:
        """The call is over: its queue is dropped, its status kept until it expires."""
        call.clear()
        call.ended = True
        call.ended_at = time.monotonic()
        call.connected = False

    def forget(self, call: Call) -> None:
        self._calls.pop(call.id, None)

    def _expire(self) -> None:
        """Forget calls that have not connected :data:`PENDING_TTL_S` after they were made (their prompts
        are dropped), and ended calls that long after they ended."""
        now = time.monotonic()
        for call_id, call in list(self._calls.items()):
            since = call.ended_at if call.ended_at is not None else call.created
            if not call.connected and now - since > PENDING_TTL_S:
                call.clear()
                del self._calls[call_id]


CALLS = web.AppKey("ivr_calls", Calls)
AUDIOSOCKET = web.AppKey("ivr_audiosocket", asyncio.AbstractServer)
TWILIO_STREAMS = web.AppKey("ivr_twilio_streams", set)


def _telephone_chunks(synth: Synthesizer, prompt: Prompt, fmt: TelephoneFormat) -> Iterator[bytes]:
    """Blocking: ``prompt`` sentence by sentence as ``fmt`` bytes (runs on render threads)."""
    return synth.stream(prompt.text, prompt.options()).map(
        lambda chunk: telephony.encode(
            telephony.prepare(chunk.audio, chunk.sample_rate, fmt.sample_rate), fmt.sample_rate, fmt
        )
    )


async def _prompt_frames(
    app: web.Application, item: QueuedPrompt, fmt: TelephoneFormat
) -> AsyncIterator[bytes]:
    """``item`` as whole 20 ms frames of ``fmt``; the next sentence renders while one is played."""
    frame_bytes = fmt.sample_rate * FRAME_MS // 1000 * fmt.bytes_per_sample
    pad = b"\xff" if fmt is TelephoneFormat.ULAW else b"\xd5" if fmt is TelephoneFormat.ALAW else b"\x00"
    chunks: asyncio.Queue[bytes | BaseException | None] = asyncio.Queue(maxsize=2)

    async def produce() -> None:
        while True:
            try:
                stream = app_render_iter(
                    app,
                    _telephone_chunks,
                    app[SYNTHESIZER],
                    item.prompt,
                    fmt,
                    size_chars=len(item.prompt.text),
                )
                async with contextlib.aclosing(stream):
                    async for data in stream:
                        item.hold(len(data))  # given back once its frames are sent
                        await chunks.put(data)
                await chunks.put(None)
                return
            except QueueFull:
                await asyncio.sleep(BUSY_RETRY_S)  # a call waits for the render queue; it is never dropped
            except Exception as exc:  # noqa: BLE001 - reported to the player
                await chunks.put(exc)
                return

    producer = asyncio.create_task(produce())
    try:
        rest = b""
        while True:
            data = await chunks.get()
            if isinstance(data, BaseException):
                raise data
            if data is None:
                break
            rest += data
            whole = len(rest) - len(rest) % frame_bytes
            for start in range(0, whole, frame_bytes):
                yield rest[start : start + frame_bytes]
            rest = rest[whole:]
            item.free(len(data))
        if rest:
            yield rest + pad * (frame_bytes - len(rest))
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer


class Pacer:
    """Sends at most one frame per ``FRAME_MS`` on an absolute clock (no drift; no bursts after a stall)."""

    def __init__(self) -> None:
        self._next: float | None = None

    async def wait(self) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        if (
            self._next is None or now - self._next > 0.1
        ):  # first frame, or late by more than 5 frames: restart
            self._next = now
        elif self._next > now:
            await asyncio.sleep(self._next - now)
        self._next += FRAME_MS / 1000.0


async def play_call(
    app: web.Application,
    call: Call,
    fmt: TelephoneFormat,
    send: Callable[[bytes], Awaitable[None]],
    *,
    on_prompt_end: Callable[[QueuedPrompt, bool], Awaitable[None]] | None = None,
) -> None:
    """Play ``call``'s queue forever (cancel to stop): each prompt as paced frames through ``send``.

    :param on_prompt_end: called with the prompt and whether it was interrupted.
    """
    pacer = Pacer()
    while True:
        item = await call.queue.get()
        call.playing = item
        interrupted = False
        try:
            frames = _prompt_frames(app, item, fmt)
            async with contextlib.aclosing(frames):
                async for frame in frames:
                    if item.stop.is_set():
                        interrupted = True
                        break
                    await pacer.wait()
                    if item.stop.is_set():
                        interrupted = True
                        break
                    await send(frame)
                    call.frames_sent += 1
        except Exception as exc:  # noqa: BLE001 - one failed prompt never ends the call
            _LOGGER.warning("call %s: prompt %s not spoken: %s", call.id, item.mark, exc)
            call.failed.append({"mark": item.mark, "error": str(exc)})
            call.playing = None
            continue
        finally:
            call.playing = None
            item.free()
        (call.interrupted if interrupted else call.played).append(item.mark)
        if on_prompt_end is not None:
            await on_prompt_end(item, interrupted)


async def _hang_up(app: web.Application, call: Call | None, player: asyncio.Task | None) -> None:
    """A transport's call is over: stop its player and end the call (its status is kept)."""
    if player is not None:
        player.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await player
    if call is not None:
        app[CALLS].end(call)


# -- AudioSocket (Asterisk) -------------------------------------------------------------


class Kind(enum.IntEnum):
    """AudioSocket frame types."""

    HANGUP = 0x00
    UUID = 0x01
    DTMF = 0x03
    AUDIO = 0x10
    ERROR = 0xFF


#: Audio frame types at other rates (0x11-0x18) are accepted and ignored like 8 kHz audio.
_AUDIO_KINDS = frozenset(range(0x10, 0x19))


def audiosocket_frame(kind: int, payload: bytes = b"") -> bytes:
    """One AudioSocket frame: type byte, big-endian payload length, payload."""
    return struct.pack(">BH", kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader, read_timeout_s: float | None = None) -> tuple[int, bytes]:
    """The next frame as ``(type, payload)``; :class:`asyncio.IncompleteReadError` at end of stream.

    The wait for a frame's first byte is not bounded (a call may be quiet); from there the rest
    of the frame must arrive within ``read_timeout_s``.

    :raises CallError: a type the protocol does not define, a payload the type does not allow, or
        a frame slower than ``read_timeout_s``.
    """
    first = await reader.readexactly(1)
    try:
        async with asyncio.timeout(read_timeout_s):
            (length,) = struct.unpack(">H", await reader.readexactly(2))
            payload = await reader.readexactly(length) if length else b""
    except TimeoutError:
        raise CallError(
            f"a frame (type 0x{first[0]:02x}) did not arrive whole within limits.read_timeout_s "
            f"({read_timeout_s:g} s)"
        ) from None
    kind = first[0]
    if kind == Kind.UUID and length != 16:
        raise CallError(f"UUID frame must carry 16 bytes, got {length}")
    if kind == Kind.DTMF and (length != 1 or chr(payload[0]) not in _DTMF_DIGITS):
        raise CallError(f"DTMF frame must carry one digit of 0-9*#A-D, got {payload!r}")
    if kind in _AUDIO_KINDS and length % 2:
        raise CallError(f"audio frame of {length} bytes is not whole 16-bit samples")
    if kind not in _AUDIO_KINDS and kind not in (Kind.HANGUP, Kind.UUID, Kind.DTMF, Kind.ERROR):
        raise CallError(f"unknown AudioSocket frame type 0x{kind:02x}")
    return kind, payload


async def handle_audiosocket(
    app: web.Application, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """One Asterisk call: its UUID frame first, then audio, DTMF, hang-up or error frames."""
    peer = writer.get_extra_info("peername")
    call: Call | None = None
    player: asyncio.Task | None = None
    lock = asyncio.Lock()

    async def send(kind: int, payload: bytes = b"") -> None:
        async with lock:
            writer.write(audiosocket_frame(kind, payload))
            await writer.drain()

    read_timeout_s = app[CONFIG].limits.read_timeout_s
    try:
        kind, payload = await asyncio.wait_for(read_frame(reader, read_timeout_s), timeout=UUID_TIMEOUT_S)
        if kind != Kind.UUID:
            raise CallError(f"the first frame must be the call's UUID (type 0x01), got type 0x{kind:02x}")
        call = app[CALLS].connect(str(uuid.UUID(bytes=payload)), "audiosocket")

        async def hangup() -> None:
            await send(Kind.HANGUP)
            writer.close()

        call._hangup = hangup  # noqa: SLF001 - the transport's side of Call.hangup
        player = asyncio.create_task(
            play_call(app, call, TelephoneFormat.SLN, lambda frame: send(Kind.AUDIO, frame))
        )
        while True:
            kind, payload = await read_frame(reader, read_timeout_s)
            if kind == Kind.DTMF:
                call.digits.append(chr(payload[0]))
                call.barge_in()
            elif kind == Kind.HANGUP:
                return
            elif kind == Kind.ERROR:
                code = payload.hex() or "none"
                _LOGGER.warning("call %s: Asterisk reported error %s", call.id, code)
                return
            elif kind == Kind.UUID:
                raise CallError("a second UUID frame on a call")
            # audio from the caller is not used
    except CallError as exc:
        _LOGGER.debug("AudioSocket %s: dropping the call: %s", call.id if call else peer, exc)
        with contextlib.suppress(ConnectionError, RuntimeError):
            await send(Kind.ERROR)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass  # the caller went away (hang-up mid-prompt)
    except asyncio.TimeoutError:
        _LOGGER.debug("AudioSocket %s: no UUID frame within %.0f s; closing", peer, UUID_TIMEOUT_S)
    except ApiError as exc:
        _LOGGER.warning("AudioSocket %s: %s", peer, exc.message)
    finally:
        await _hang_up(app, call, player)
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def audiosocket_context(address: str) -> Callable[[web.Application], AsyncIterator[None]]:
    """A ``cleanup_ctx`` entry that runs the AudioSocket server on ``HOST:PORT`` beside the HTTP routes."""
    host, port = split_host_port(address, key="server.audiosocket")

    async def context(app: web.Application) -> AsyncIterator[None]:
        tasks: set[asyncio.Task] = set()
        limit = app[CONFIG].limits.max_connections

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            if len(tasks) >= limit:
                _LOGGER.debug(
                    "AudioSocket %s: %d connections are open (limits.max_connections); refused",
                    writer.get_extra_info("peername"),
                    len(tasks),
                )
                with contextlib.suppress(ConnectionError, RuntimeError):
                    writer.write(audiosocket_frame(Kind.ERROR))
                    await writer.drain()
                writer.close()
                with contextlib.suppress(Exception):
                    await writer.wait_closed()
                return
            task = asyncio.current_task()
            tasks.add(task)
            try:
                await handle_audiosocket(app, reader, writer)
            except asyncio.CancelledError:
                pass  # server shutting down; the call was closed on the way out
            finally:
                tasks.discard(task)

        server = await asyncio.start_server(on_connect, host, port)
        app[AUDIOSOCKET] = server
        _LOGGER.info("AudioSocket server on %s", ", ".join(str(s.getsockname()) for s in server.sockets))
        yield
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    return context


# -- Twilio Media Streams ---------------------------------------------------------------


class _TwilioSocket(web.WebSocketResponse):
    """The Twilio stream's WebSocket: messages up to ``max_body_bytes``, silence up to ``idle_timeout_s``
    (:class:`asyncio.TimeoutError` from ``receive``), and a reason in the closes aiohttp makes itself
    (a message too big, a frame that breaks the protocol), which it would send without one."""

    def __init__(self, *, max_body_bytes: int, idle_timeout_s: float) -> None:
        super().__init__(max_msg_size=max_body_bytes + 1, receive_timeout=idle_timeout_s)
        self._reasons = {
            WSCloseCode.MESSAGE_TOO_BIG: f"a message over limits.max_body_bytes ({max_body_bytes:,} bytes)",
            WSCloseCode.PROTOCOL_ERROR: "a frame that breaks the WebSocket protocol",
            WSCloseCode.INVALID_TEXT: "a text message that is not UTF-8",
        }

    async def close(self, *, code: int = WSCloseCode.OK, message: bytes = b"", drain: bool = True) -> bool:
        if not message and code in self._reasons:
            message = _reason(self._reasons[code])
        return await super().close(code=code, message=message, drain=drain)


def _reason(text: str) -> bytes:
    """``text`` as a WebSocket close reason: UTF-8, cut to the 123 bytes a close frame carries."""
    return text.encode("utf-8")[:_MAX_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")


def _twilio_message(raw: str) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CallError(f"message is not JSON: {exc.msg} at column {exc.colno}") from None
    except RecursionError:
        raise CallError("message is JSON nested too deeply") from None
    if not isinstance(message, dict) or not isinstance(message.get("event"), str):
        raise CallError("message must be a JSON object with an 'event' string")
    return message


def _twilio_start(message: dict[str, Any]) -> tuple[str, str, dict[str, Any]]:
    """``(streamSid, callSid, customParameters)`` of a ``start`` message, checked."""
    start = message.get("start")
    if not isinstance(start, dict):
        raise CallError("'start' message has no 'start' object")
    stream_sid = start.get("streamSid") or message.get("streamSid")
    call_sid = start.get("callSid")
    if not isinstance(stream_sid, str) or not isinstance(call_sid, str) or not stream_sid or not call_sid:
        raise CallError("'start' message needs 'streamSid' and 'callSid' strings")
    media_format = start.get("mediaFormat") or {}
    encoding = media_format.get("encoding", "audio/x-mulaw")
    rate = media_format.get("sampleRate", 8000)
    if encoding != "audio/x-mulaw" or rate != 8000:
        raise CallError(f"only audio/x-mulaw at 8000 Hz is spoken, got {encoding!r} at {rate!r}")
    parameters = start.get("customParameters") or {}
    if not isinstance(parameters, dict):
        raise CallError("'customParameters' must be an object")
    return stream_sid, call_sid, parameters


async def twilio_stream(request: web.Request) -> web.WebSocketResponse:
    """A Twilio Media Stream: ``connected``, ``start``, ``media``, ``dtmf``, ``mark``, ``stop`` in; media,
    marks and ``clear`` out.

    ``customParameters`` of ``start`` may carry ``text`` (and ``emotion``, ``intensity``,
    ``voice``): the greeting, queued first. A message that breaks the protocol closes this
    stream with code 1008 (policy violation) and its reason, one over ``limits.max_body_bytes``
    with 1009, a stream silent for ``limits.idle_timeout_s`` with 1008; beyond
    ``limits.max_connections`` streams, or a greeting the prompt budget refuses, with 1013 (try
    again later).
    """
    app = request.app
    limits = app[CONFIG].limits
    ws = _TwilioSocket(max_body_bytes=limits.max_body_bytes, idle_timeout_s=limits.idle_timeout_s)
    await ws.prepare(request)
    streams = app[TWILIO_STREAMS]
    if len(streams) >= limits.max_connections:
        _LOGGER.debug("Twilio stream refused: %d streams are open (limits.max_connections)", len(streams))
        await ws.close(
            code=WSCloseCode.TRY_AGAIN_LATER,
            message=_reason(f"{len(streams)} streams are open (limits.max_connections); try again later"),
        )
        return ws
    streams.add(ws)
    try:
        await _twilio_call(app, ws)
    finally:
        streams.discard(ws)
    return ws


async def _twilio_call(app: web.Application, ws: _TwilioSocket) -> None:
    """Serve one Twilio stream until it stops, breaks the protocol, idles or hangs up."""
    call: Call | None = None
    player: asyncio.Task | None = None
    stream_sid = ""

    async def send_media(frame: bytes) -> None:
        await ws.send_json(
            {
                "event": "media",
                "streamSid": stream_sid,
                "media": {"payload": base64.b64encode(frame).decode("ascii")},
            }
        )

    async def prompt_end(item: QueuedPrompt, interrupted: bool) -> None:
        if interrupted:
            await ws.send_json({"event": "clear", "streamSid": stream_sid})
        await ws.send_json({"event": "mark", "streamSid": stream_sid, "mark": {"name": item.mark}})

    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                if msg.type == WSMsgType.ERROR:
                    _LOGGER.debug(
                        "Twilio stream %s: closed: %s", call.id if call else "(not started)", msg.data
                    )
                    break
                if msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    break
                raise CallError(f"Twilio sends text messages; got a {msg.type.name.lower()} message")
            message = _twilio_message(msg.data)
            event = message["event"]
            if event == "connected":
                continue
            if event == "start":
                if call is not None:
                    raise CallError("a second 'start' on one stream")
                stream_sid, call_sid, parameters = _twilio_start(message)
                call = app[CALLS].connect(call_sid, "twilio")

                async def hangup() -> None:
                    await ws.close(code=1000, message=b"call hung up")

                call._hangup = hangup  # noqa: SLF001 - the transport's side of Call.hangup
                if parameters.get("text"):
                    call.say(
                        await _checked_prompt(app, parameters, where="customParameters"), mark="greeting"
                    )
                player = asyncio.create_task(
                    play_call(app, call, TelephoneFormat.ULAW, send_media, on_prompt_end=prompt_end)
                )
                continue
            if call is None:
                raise CallError(f"'{event}' before 'start'")
            if event == "media":
                payload = (message.get("media") or {}).get("payload")
                if not isinstance(payload, str):
                    raise CallError("'media' message has no 'payload' string")
                try:
                    base64.b64decode(payload, validate=True)
                except (binascii.Error, ValueError):
                    raise CallError("'media' payload is not base64") from None
            elif event == "dtmf":
                digit = (message.get("dtmf") or {}).get("digit")
                if not isinstance(digit, str) or len(digit) != 1 or digit not in _DTMF_DIGITS:
                    raise CallError(f"'dtmf' message has no digit of 0-9*#A-D, got {digit!r}")
                call.digits.append(digit)
                call.barge_in()
            elif event == "mark":
                name = (message.get("mark") or {}).get("name")
                if isinstance(name, str):
                    call.acknowledged.append(name)
            elif event == "clear":
                call.clear()
            elif event == "stop":
                break
            # other events are newer protocol additions; ignored
    except CallError as exc:
        _LOGGER.debug("Twilio stream %s: dropping the call: %s", call.id if call else "(not started)", exc)
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=_reason(str(exc)))
    except ApiError as exc:
        _LOGGER.debug("Twilio stream %s: %s", call.id if call else "(not started)", exc.message)
        busy = exc.status in (429, 503)
        code = WSCloseCode.TRY_AGAIN_LATER if busy else WSCloseCode.POLICY_VIOLATION
        await ws.close(code=code, message=_reason(exc.message))
    except asyncio.TimeoutError:
        idle = app[CONFIG].limits.idle_timeout_s
        _LOGGER.debug(
            "Twilio stream %s: no message for %g s; closing", call.id if call else "(not started)", idle
        )
        reason = _reason(f"no message for {idle:g} s (limits.idle_timeout_s)")
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=reason)
    finally:
        await _hang_up(app, call, player)
        if not ws.closed:
            await ws.close()


# -- HTTP routes ------------------------------------------------------------------------


async def _checked_prompt(app: web.Application, fields: dict[str, Any], *, where: str) -> Prompt:
    """A :class:`Prompt` from request fields, parsed once so bad input is a 400 now, not silence later."""
    text = fields.get("text")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, f"{where}: 'text' must be a non-empty string", code="MissingText")
    limit = app[CONFIG].limits.max_input_bytes
    if len(text.encode("utf-8", "surrogatepass")) > limit:
        raise ApiError(
            413, f"{where}: 'text' is over limits.max_input_bytes ({limit:,} bytes)", code="HostileInputError"
        )
    intensity = fields.get("intensity")
    if intensity is not None:
        try:
            intensity = float(intensity)
        except (TypeError, ValueError):
            raise ApiError(
                400,
                f"{where}: 'intensity' must be a number within 0..1, got {intensity!r}",
                code="InvalidIntensity",
            ) from None
    for name in ("emotion", "voice"):
        if fields.get(name) is not None and not isinstance(fields[name], str):
            raise ApiError(400, f"{where}: {name!r} must be a string", code="InvalidField")
    prompt = Prompt(
        text, emotion=fields.get("emotion") or None, intensity=intensity, voice=fields.get("voice") or None
    )
    await asyncio.to_thread(app[SYNTHESIZER].plan, prompt.text, prompt.options())
    return prompt


def _prompt_format(request: web.Request) -> TelephoneFormat:
    ext = request.match_info.get("ext")
    name = request.query.get("format")
    try:
        from_ext = TelephoneFormat.parse(ext, what="file extension") if ext else None
        from_query = TelephoneFormat.parse(name) if name else None
    except ValueError as exc:
        raise ApiError(400, str(exc), code="InvalidFormat") from None
    if from_ext and from_query and from_ext.extension != from_query.extension:
        raise ApiError(400, f"format={name} does not match the URL's .{ext}", code="InvalidFormat")
    return from_query or from_ext or TelephoneFormat.WAV


async def prompt_file(request: web.Request) -> web.Response:
    """``GET /v1/ivr/prompt[.ext]``: one prompt as a telephone file, with ``ETag`` and caching."""
    unknown = sorted(set(request.query) - set(_PROMPT_PARAMS))
    if unknown:
        raise ApiError(
            400,
            f"unknown parameter(s) {', '.join(unknown)}; allowed: {', '.join(_PROMPT_PARAMS)}",
            code="UnknownParameter",
        )
    fmt = _prompt_format(request)
    prompt = await _checked_prompt(request.app, dict(request.query), where="query")
    synth = request.app[SYNTHESIZER]
    key = await asyncio.to_thread(telephony.prompt_key, synth, prompt, fmt)
    etag = f'"{key[:40]}"'
    headers = {"ETag": etag, "Cache-Control": PROMPT_CACHE_CONTROL}
    if etag in {tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")}:
        return web.Response(status=304, headers=headers)
    data = await render(
        request, telephony.render_prompt, synth, prompt, fmt, key=key, size_chars=len(prompt.text)
    )
    headers["Content-Disposition"] = f'inline; filename="prompt.{fmt.extension}"'
    return web.Response(body=data, headers={**headers, "Content-Type": fmt.content_type})


def _call_id(request: web.Request) -> str:
    return request.match_info["call"]


async def call_say(request: web.Request) -> web.Response:
    """``POST /v1/ivr/calls/{call}/say``: queue a prompt for a call (connected or not yet)."""
    body = await read_json(request)
    unknown = sorted(set(body) - set(_SAY_FIELDS))
    if unknown:
        raise ApiError(
            400,
            f"unknown field(s) {', '.join(unknown)}; allowed: {', '.join(_SAY_FIELDS)}",
            code="UnknownField",
        )
    mark = body.get("mark")
    if mark is not None and (not isinstance(mark, str) or not 0 < len(mark) <= 128):
        raise ApiError(400, "'mark' must be a string of 1-128 characters", code="InvalidField")
    barge_in = body.get("barge_in", False)
    if not isinstance(barge_in, bool):
        raise ApiError(400, f"'barge_in' must be true or false, got {barge_in!r}", code="InvalidField")
    calls = request.app[CALLS]
    call_id = _call_id(request)
    calls.get_or_create(call_id)  # a bad id is refused before any parsing
    prompt = await _checked_prompt(request.app, body, where="body")
    call = calls.get_or_create(call_id)
    item = call.say(prompt, mark=mark, barge_in=barge_in)
    return web.json_response(
        {"call": call.id, "mark": item.mark, "connected": call.connected, "queued": call.queue.qsize()},
        status=202,
    )


async def call_status(request: web.Request) -> web.Response:
    call = request.app[CALLS].get(_call_id(request))
    if call is None:
        raise ApiError(404, f"no call {_call_id(request)!r}", code="UnknownCall")
    return web.json_response(call.status())


async def call_hangup(request: web.Request) -> web.Response:
    calls = request.app[CALLS]
    call = calls.get(_call_id(request))
    if call is None:
        raise ApiError(404, f"no call {_call_id(request)!r}", code="UnknownCall")
    if call.connected:
        await call.hangup()
    else:
        call.clear()
        calls.forget(call)
    return web.json_response({"call": call.id, "hung_up": True})


def add_routes(app: web.Application) -> None:
    app[CALLS] = Calls(PromptBudget(app[CONFIG].limits.ivr_queue_mb * _MIB))
    app[TWILIO_STREAMS] = set()
    app.router.add_get("/v1/ivr/prompt", prompt_file)
    app.router.add_get("/v1/ivr/prompt.{ext}", prompt_file)
    app.router.add_post("/v1/ivr/calls/{call}/say", call_say)
    app.router.add_get("/v1/ivr/calls/{call}", call_status)
    app.router.add_delete("/v1/ivr/calls/{call}", call_hangup)
    app.router.add_get("/v1/ivr/twilio", twilio_stream)
    address = app[CONFIG].server.audiosocket
    if address:
        app.cleanup_ctx.append(audiosocket_context(address))
