"""Wyoming protocol server: emotts as a text-to-speech service for Home Assistant.

``emotts serve --wyoming tcp://0.0.0.0:10200`` answers ``describe`` with one TTS program
whose voices carry one *speaker* per emotion preset, so Home Assistant picks the
emotion as the speaker. ``synthesize`` renders one text (plain, SSML or emotion
markup, always read leniently); ``synthesize-start`` / ``synthesize-chunk`` /
``synthesize-stop`` stream text deltas and get one ``audio-start`` / ``audio-chunk`` /
``audio-stop`` cycle per complete sentence, then ``synthesize-stopped``.

Audio is 16-bit mono PCM; rendering runs on a render queue's threads (the HTTP server's
when both run in one process) so the event loop never blocks. Errors go back as Wyoming
``error`` events whose ``code`` is the exception class name; the connection stays open.
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
from emotts_plugin.errors import WyomingRequestError

from .chatbot import SentenceAssembler

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
            description=getattr(info, "description", None) or info.name,
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


MAX_HEADER_BYTES = 1 << 20
MAX_BODY_BYTES = 64 << 20


async def read_event(reader: asyncio.StreamReader) -> Event | None:
    """The next event, ``None`` at end of input.

    Unlike the package's reader, malformed input raises :class:`WyomingRequestError`
    (so the client can be told) instead of looking like a clean end of input.
    """
    try:
        line = await reader.readline()
    except (ValueError, asyncio.LimitOverrunError) as exc:  # line longer than the stream limit
        raise WyomingRequestError(f"event header too long: {exc}") from exc
    if not line:
        return None
    if len(line) > MAX_HEADER_BYTES:
        raise WyomingRequestError("event header too long")
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise WyomingRequestError(f"event header is not JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise WyomingRequestError("event header must be a JSON object with a string 'type'")
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise WyomingRequestError("event 'data' must be a JSON object")
    sizes = []
    for key in ("data_length", "payload_length"):
        size = header.get(key) or 0
        if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= MAX_BODY_BYTES:
            raise WyomingRequestError(f"bad {key}: {size!r}")
        sizes.append(size)
    if sizes[0]:
        try:
            extra = json.loads(await reader.readexactly(sizes[0]))
        except ValueError as exc:
            raise WyomingRequestError(f"event data is not JSON: {exc}") from exc
        if not isinstance(extra, dict):
            raise WyomingRequestError("event data must be a JSON object")
        data = {**data, **extra}
    payload = await reader.readexactly(sizes[1]) if sizes[1] else None
    return Event(type=header["type"], data=data, payload=payload)


class EmottsEventHandler(AsyncEventHandler):
    """One client connection."""

    def __init__(self, synthesizer, queue, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        super().__init__(reader, writer)
        self.synthesizer = synthesizer
        self.queue = queue
        self._assembler: SentenceAssembler | None = None
        self._stream_voice: tuple[str, str | None] | None = None

    # -- loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Like the base class, but a malformed event closes this client with an ``error``."""
        self._is_running = True
        try:
            while self._is_running:
                try:
                    event = await read_event(self.reader)
                except WyomingRequestError as exc:  # garbage from the wire: say so, then hang up
                    _LOGGER.debug("unreadable event: %s", exc)
                    await self._send_error(exc)
                    break
                if event is None:
                    break
                if not await self.handle_event(event):
                    break
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            _LOGGER.debug("client went away: %s", exc)
        finally:
            await self.disconnect()
            self.writer.close()

    async def handle_event(self, event: Event) -> bool:
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
        except Exception as exc:  # noqa: BLE001 - every failure goes back as an error event
            _LOGGER.debug("request failed: %s", exc)
            await self._send_error(exc)
        return True

    async def _send_error(self, exc: BaseException) -> None:
        try:
            await self.write_event(Error(text=str(exc) or type(exc).__name__, code=type(exc).__name__).event())
        except (ConnectionError, RuntimeError):
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
                raise WyomingRequestError(f"unknown speaker (emotion) {speaker!r}; available: {labels}") from exc
        return name, speaker or None

    def _rate(self, voice: str) -> int:
        for info in self.synthesizer.voices():
            if info.name == voice:
                return int(info.sample_rate)
        return int(self.synthesizer.voices()[0].sample_rate)

    async def _speak(self, text: str, voice: str, speaker: str | None, rate: int) -> None:
        """One ``audio-start`` / ``audio-chunk``s / ``audio-stop`` cycle for ``text``."""
        started = False
        stream = partial(
            self.synthesizer.stream, text, voice=voice, emotion=speaker, mode="lenient", sample_rate=rate
        )
        steps = self.queue.steps(len(text), stream)
        async with contextlib.aclosing(steps):
            async for chunk in steps:
                if not started:
                    await self.write_event(AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS).event())
                    started = True
                pcm = encode(chunk.audio, chunk.sample_rate, AudioFormat.PCM16)
                step = SAMPLES_PER_CHUNK * SAMPLE_WIDTH
                for offset in range(0, len(pcm), step):
                    await self.write_event(
                        WyAudioChunk(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS, audio=pcm[offset : offset + step]).event()
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


def handler_factory(synthesizer, queue) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], EmottsEventHandler]:
    """What :meth:`wyoming.server.AsyncServer.run` calls for each client."""
    return partial(EmottsEventHandler, synthesizer, queue)


async def run_wyoming(uri: str, synthesizer, queue=None) -> None:
    """Serve ``synthesizer`` on ``uri`` (``tcp://host:port``, ``unix://path``, ``stdio://``) until cancelled.

    Renders run on ``queue`` (an :class:`~emotts_plugin.adapters.http.RenderQueue`; the HTTP
    server's when both run in one process, so together they use the cores once) or on a queue of
    its own with one thread per core. Announcements wait their turn; none is refused.
    """
    from .http import WORKER_NICE, RenderQueue, default_workers

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


def serve(config, uri: str, *, runtime=None, http: bool = True, host: str | None = None, port: int | None = None) -> None:
    """Run the Wyoming server on ``uri``, beside the HTTP server unless ``http`` is false."""
    from emotts_plugin.runtime import Runtime
    from emotts_plugin.synthesizer import Synthesizer

    import dataclasses

    from .http import default_workers, threads_per_worker

    runtime = runtime or Runtime(config)
    if runtime.config.threads is None:  # HTTP workers and Wyoming render at once: a share of the cores each
        runtime = Runtime(dataclasses.replace(runtime.config, threads=threads_per_worker(default_workers())), pm=runtime.pm)
    synthesizer = Synthesizer(runtime=runtime)

    async def main() -> None:
        runner = queue = None
        if http:
            from aiohttp import web

            from .http import QUEUE, create_app

            app = create_app(config, synthesizer=synthesizer)  # one model, one cache, one render queue
            queue = app[QUEUE]
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(
                runner,
                host or config.server.http_host,
                port if port is not None else config.server.http_port,
            )
            await site.start()
        try:
            await run_wyoming(uri, synthesizer, queue)
        finally:
            if runner is not None:
                await runner.cleanup()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
