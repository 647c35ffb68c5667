"""Wyoming protocol server: emotts as a text-to-speech service for Home Assistant.

``emotts serve --wyoming tcp://0.0.0.0:10200`` answers ``describe`` with one TTS program
whose voices carry one *speaker* per emotion preset, so Home Assistant picks the
emotion as the speaker. ``synthesize`` renders one text (plain, SSML or emotion
markup, always read leniently); ``synthesize-start`` / ``synthesize-chunk`` /
``synthesize-stop`` stream text deltas and get one ``audio-start`` / ``audio-chunk`` /
``audio-stop`` cycle per complete sentence, then ``synthesize-stopped``.

Audio is 16-bit mono PCM; rendering runs on a render queue's threads (the HTTP server's
when both run in one process) so the event loop never blocks. Errors go back as Wyoming
``error`` events whose ``code`` is the exception class name (or the limit's, see
:class:`~emotts_plugin.errors.WyomingRequestError`), and the server then closes the connection, as
a client waiting for audio would otherwise wait on.

Every connection is bounded by ``limits``: ``max_body_bytes`` per event (refused from its
header, before its bytes are read), ``read_timeout_s`` for an event's bytes once it has begun,
``idle_timeout_s`` of silence between events, and ``max_connections`` open at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from functools import partial
from typing import Any, Callable

from wyoming.audio import AudioChunk as WyAudioChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeStopped

from emotts_plugin import __version__
from emotts_plugin.audio import AudioFormat, encode
from emotts_plugin.config import Limits
from emotts_plugin.errors import WyomingRequestError
from emotts_plugin.options import SpeechOptions
from emotts_plugin.render_queue import WORKER_NICE, RenderQueue, default_workers
from emotts_plugin.ssml.sentences import SentenceAssembler

_LOGGER = logging.getLogger(__name__)

#: Where the attribution points: the project has no public home yet, so none is claimed.
URL = ""
SAMPLES_PER_CHUNK = 1024
SAMPLE_WIDTH = 2
CHANNELS = 1


def build_info(synthesizer) -> Info:
    """The ``info`` answer: one TTS program, its voices, one speaker per emotion label."""
    attribution = Attribution(name="emotts", url=URL)
    labels = list(synthesizer.runtime.space.labels)
    voices = [
        TtsVoice(
            name=info.name,
            description=info.description or info.name,
            attribution=attribution,
            installed=True,
            version=__version__,
            languages=list(info.languages),
            speakers=[TtsVoiceSpeaker(name=label) for label in labels],
        )
        for info in synthesizer.voices()
    ]
    program = TtsProgram(
        name="emotts",
        description="Offline emotional text-to-speech (speaker = emotion)",
        attribution=attribution,
        installed=True,
        version=__version__,
        voices=voices,
        supports_synthesize_streaming=True,
    )
    return Info(tts=[program])


#: Longest event header line: the line limit of the stream readers ``asyncio.start_server`` makes
#: (a longer line cannot be read at all). The whole event is bounded by ``limits.max_body_bytes``.
MAX_HEADER_BYTES = 1 << 16
#: Seconds at most (and at most ``limits.read_timeout_s``) that input is still read and dropped
#: after an ``error``, before the close: a socket closed with unread input is reset, and a reset
#: can make the client lose the ``error`` it has not read yet.
LINGER_S = 2.0


async def read_event(reader: asyncio.StreamReader, limits: Limits) -> Event | None:
    """The next event; ``None`` at end of input, or when nothing arrives for ``limits.idle_timeout_s``.

    Unlike the package's reader, malformed input raises :class:`WyomingRequestError` (so the
    client can be told) instead of looking like a clean end of input. An event larger than
    ``limits.max_body_bytes`` (header line, data and payload together) is refused from its header,
    before its data or payload is read; one whose rest does not arrive within
    ``limits.read_timeout_s`` of its first byte is refused too (:class:`WyomingRequestError` with the
    limit's ``code``).
    """
    try:
        async with asyncio.timeout(limits.idle_timeout_s):
            first = await reader.read(1)
    except TimeoutError:
        _LOGGER.debug("closing a connection silent for %g s (limits.idle_timeout_s)", limits.idle_timeout_s)
        return None
    if not first:
        return None
    try:
        async with asyncio.timeout(limits.read_timeout_s):
            return await _read_rest(first, reader, limits)
    except TimeoutError:
        raise WyomingRequestError(
            f"the event did not arrive whole within {limits.read_timeout_s:g} s (limits.read_timeout_s)",
            code="ReadTimeout",
        ) from None


async def _read_rest(first: bytes, reader: asyncio.StreamReader, limits: Limits) -> Event:
    """The event whose first byte is ``first``: the rest of its header line, its data, its payload."""
    try:
        line = first + await reader.readline()
    except ValueError as exc:  # longer than the stream's line limit; asyncio has dropped what it read
        raise WyomingRequestError(
            f"event header is over {MAX_HEADER_BYTES:,} bytes", code="EventTooLarge"
        ) from exc
    header = _json_object(line, "event header")
    if not isinstance(header.get("type"), str):
        raise WyomingRequestError("event header must be a JSON object with a string 'type'")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise WyomingRequestError("event 'data' must be a JSON object")
    data_length, payload_length = (_length(header, key) for key in ("data_length", "payload_length"))
    size = len(line) + data_length + payload_length
    if size > limits.max_body_bytes:
        raise WyomingRequestError(
            f"event of {size:,} bytes (header {len(line):,}, data {data_length:,}, "
            f"payload {payload_length:,}) "
            f"is over limits.max_body_bytes ({limits.max_body_bytes:,} bytes)",
            code="EventTooLarge",
        )
    if data_length:
        data = {**data, **_json_object(await reader.readexactly(data_length), "event data")}
    payload = await reader.readexactly(payload_length) if payload_length else None
    return Event(type=header["type"], data=data, payload=payload)


def _json_object(raw: bytes, what: str) -> dict:
    try:
        value = json.loads(raw)
    except RecursionError:
        raise WyomingRequestError(f"{what} is nested too deeply") from None
    except ValueError as exc:
        raise WyomingRequestError(f"{what} is not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise WyomingRequestError(f"{what} must be a JSON object")
    return value


def _length(header: dict, key: str) -> int:
    size = header.get(key) or 0
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise WyomingRequestError(f"bad {key}: {str(size)[:40]!r}")
    return size


class EmottsEventHandler(AsyncEventHandler):
    """One client connection; ``connected`` holds every open one of its server, against
    ``limits.max_connections``."""

    def __init__(
        self,
        synthesizer,
        queue,
        connected: set[EmottsEventHandler],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(reader, writer)
        self.synthesizer = synthesizer
        self.queue = queue
        self.limits: Limits = synthesizer.config.limits
        self.connected = connected
        self._assembler: SentenceAssembler | None = None
        self._stream_voice: tuple[str, str | None] | None = None

    # -- loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Like the base class, but bounded: a client over ``limits.max_connections`` or one that
        sends a malformed or oversized event gets an ``error`` and is closed; so is one whose request
        fails (:meth:`handle_event`)."""
        self._is_running = True
        try:
            if len(self.connected) >= self.limits.max_connections:
                _LOGGER.debug(
                    "refusing a connection: %d are open (limits.max_connections)", len(self.connected)
                )
                await self._send_error(
                    WyomingRequestError(
                        f"{len(self.connected)} connections are open; limits.max_connections is "
                        f"{self.limits.max_connections}",
                        code="TooManyConnections",
                    )
                )
                await self._linger()
                return
            self.connected.add(self)
            while self._is_running:
                try:
                    event = await read_event(self.reader, self.limits)
                except WyomingRequestError as exc:  # garbage from the wire: say so, then hang up
                    _LOGGER.debug("unreadable event: %s", exc)
                    await self._send_error(exc)
                    await self._linger()
                    break
                if event is None:
                    break
                if not await self.handle_event(event):
                    await self._linger()
                    break
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            _LOGGER.debug("client went away: %s", exc)
        finally:
            self.connected.discard(self)
            await self.disconnect()
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
        """Answer ``event``; false (close the connection) after answering it with an ``error``, so a
        client waiting for audio sees the end instead of waiting on."""
        try:
            if Describe.is_type(event.type):
                await self.write_event(build_info(self.synthesizer).event())
            elif SynthesizeStart.is_type(event.type):
                await self._start_stream(SynthesizeStart.from_event(event))
            elif SynthesizeChunk.is_type(event.type):
                await self._stream_chunk(SynthesizeChunk.from_event(event))
            elif SynthesizeStop.is_type(event.type):
                await self._stop_stream()
            elif Synthesize.is_type(event.type):
                if self._assembler is None:  # inside a stream it is the compatibility copy
                    synth = Synthesize.from_event(event)
                    voice, speaker = self._voice(synth.voice)
                    await self._speak(synth.text, voice, speaker, self._rate(voice))
            else:
                _LOGGER.debug("ignoring event %s", event.type)
        except (ConnectionError, RuntimeError) as exc:
            if self.writer.is_closing():
                _LOGGER.debug("client went away: %s", exc)
                return False
            await self._send_error(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - every failure goes back as an error event
            _LOGGER.debug("request failed: %s", exc)
            await self._send_error(exc)
            return False
        return True

    async def _send_error(self, exc: BaseException) -> None:
        """Tell the client, unless it has gone or does not read within ``limits.read_timeout_s``."""
        code = exc.code if isinstance(exc, WyomingRequestError) else type(exc).__name__
        error = Error(text=str(exc) or type(exc).__name__, code=code).event()
        try:
            async with asyncio.timeout(self.limits.read_timeout_s):
                await self.write_event(error)
        except (ConnectionError, RuntimeError, TimeoutError):
            pass

    async def _linger(self) -> None:
        """Before closing after an ``error``: end our side, then drop what the client still sends
        until it closes too or :data:`LINGER_S` pass, so the close is not a reset."""
        if self.writer.is_closing():
            return
        try:
            if self.writer.can_write_eof():
                self.writer.write_eof()
            async with asyncio.timeout(min(LINGER_S, self.limits.read_timeout_s)):
                while await self.reader.read(1 << 16):
                    pass
        except (ConnectionError, RuntimeError, TimeoutError):
            pass

    # -- requests -----------------------------------------------------------

    def _voice(self, voice) -> tuple[str, str | None]:
        synth = self.synthesizer
        name = (voice.name if voice is not None else None) or synth.config.voice
        known = {info.name for info in synth.voices()}
        if name not in known:
            raise WyomingRequestError(f"unknown voice {name!r}; available voices: {', '.join(sorted(known))}")
        speaker = voice.speaker if voice is not None else None
        if speaker:
            try:
                synth.runtime.space.parse_mixture(speaker)
            except Exception as exc:
                labels = ", ".join(synth.runtime.space.labels)
                raise WyomingRequestError(
                    f"unknown speaker (emotion) {speaker!r}; available: {labels}"
                ) from exc
        return name, speaker or None

    def _rate(self, voice: str) -> int:
        for info in self.synthesizer.voices():
            if info.name == voice:
                return int(info.sample_rate)
        return int(self.synthesizer.voices()[0].sample_rate)

    async def _speak(self, text: str, voice: str, speaker: str | None, rate: int) -> None:
        """One ``audio-start`` / ``audio-chunk``s / ``audio-stop`` cycle for ``text``."""
        started = False
        options = SpeechOptions(voice=voice, emotion=speaker, mode="lenient", sample_rate=rate)
        stream = partial(self.synthesizer.stream, text, options)
        steps = self.queue.steps(len(text), stream)
        async with contextlib.aclosing(steps):
            async for chunk in steps:
                if not started:
                    await self.write_event(
                        AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS).event()
                    )
                    started = True
                pcm = encode(chunk.audio, chunk.sample_rate, AudioFormat.PCM16)
                step = SAMPLES_PER_CHUNK * SAMPLE_WIDTH
                for offset in range(0, len(pcm), step):
                    await self.write_event(
                        WyAudioChunk(
                            rate=rate,
                            width=SAMPLE_WIDTH,
                            channels=CHANNELS,
                            audio=pcm[offset : offset + step],
                        ).event()
                    )
        if not started:
            await self.write_event(AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS).event())
        await self.write_event(AudioStop().event())

    async def _start_stream(self, start: SynthesizeStart) -> None:
        self._assembler = None
        voice, speaker = self._voice(start.voice)
        self._stream_voice = (voice, speaker)
        self._assembler = SentenceAssembler(space=self.synthesizer.runtime.space)

    async def _stream_chunk(self, chunk: SynthesizeChunk) -> None:
        if self._assembler is None:
            raise WyomingRequestError("synthesize-chunk outside synthesize-start / synthesize-stop")
        for fragment in self._assembler.feed_fragments(chunk.text):
            await self._speak_fragment(fragment)

    async def _stop_stream(self) -> None:
        if self._assembler is None:
            raise WyomingRequestError("synthesize-stop without synthesize-start")
        try:
            for fragment in self._assembler.flush_fragments():
                await self._speak_fragment(fragment)
        finally:
            self._assembler = None
        await self.write_event(SynthesizeStopped().event())

    async def _speak_fragment(self, fragment) -> None:
        if not fragment.speakable:
            return
        assert self._stream_voice is not None
        voice, speaker = self._stream_voice
        # One sample format for the whole stream: the stream voice's rate.
        await self._speak(fragment.markup, voice, speaker, self._rate(voice))


def handler_factory(
    synthesizer, queue
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], EmottsEventHandler]:
    """What :meth:`wyoming.server.AsyncServer.run` calls for each client: handlers that share one
    set of open connections, so at most ``limits.max_connections`` are served at once."""
    connected: set[EmottsEventHandler] = set()
    return partial(EmottsEventHandler, synthesizer, queue, connected)


async def run_wyoming(uri: str, synthesizer, queue=None) -> None:
    """Serve ``synthesizer`` on ``uri`` (``tcp://host:port``, ``unix://path``, ``stdio://``) until cancelled.

    Renders run on ``queue`` (a :class:`~emotts_plugin.render_queue.RenderQueue`; the HTTP
    server's when both run in one process, so together they use the cores once) or on a queue of
    its own with one thread per core. Announcements wait their turn; none is refused.
    """
    own = queue is None
    if own:
        queue = RenderQueue(default_workers(), 0, default_workers(), WORKER_NICE)
    server = AsyncServer.from_uri(uri)
    _LOGGER.info("Wyoming server on %s", uri)
    try:
        await server.run(handler_factory(synthesizer, queue))
    finally:
        if own:
            queue.close()


def wyoming_server(runtime) -> Callable[[str], Any]:
    """Adapter factory: a coroutine function ``serve(uri)`` running the Wyoming server on ``runtime``."""

    async def serve(uri: str) -> None:
        from emotts_plugin.synthesizer import Synthesizer

        synthesizer = await asyncio.to_thread(Synthesizer, runtime=runtime)
        await run_wyoming(uri, synthesizer)

    return serve
