"""What the voice-agent framework plugins share: :class:`AgentVoice`.

Pipecat, LiveKit Agents and OpenVoiceOS each have a TTS interface of their own
(``emotts_plugin.adapters.pipecat``, ``.livekit``, ``.ovos``); under each is one
:class:`AgentVoice`, which turns an LLM reply — a stream of text deltas, with our
markup, chat-model text or stage directions in it — into :class:`Spoken` sentences of
16-bit PCM with their word timings, the first while the model is still writing the rest.

It renders in process (a :class:`~emotts_plugin.synthesizer.Synthesizer`, through the
chatbot adapter's :class:`~emotts_plugin.adapters.chatbot.ChatbotSpeaker`) or asks a
remote ``emotts serve`` (``url``): the reply is cut into sentences here, by the same
:class:`~emotts_plugin.ssml.sentences.SentenceAssembler`, and each sentence is one
``POST /v1/synthesize`` with ``stream`` and ``timings``, read as its event stream.

Stopping: closing the iterator of :meth:`AgentVoice.speak` (``aclose()``, or a cancelled
task that was iterating it) stops rendering; the sentence in the voice model finishes
(rendering cannot be interrupted inside one), nothing after it is rendered.

Errors: bad input raises the library's ``ValueError`` subclasses, in process or remote
(a remote error answer is raised as the class it names when that is one of
:mod:`emotts_plugin.errors`); a remote server that cannot be reached or fails raises
:class:`~emotts_plugin.errors.RemoteError`. Each framework module turns these into its
framework's own error type.
"""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, AsyncIterable, AsyncIterator, Iterable

import numpy as np

from emotts_plugin import errors
from emotts_plugin.options import SpeechOptions, with_changes
from emotts_plugin.timings import Viseme, Word

if TYPE_CHECKING:  # pragma: no cover
    from emotts_plugin.synthesizer import AudioChunk, Synthesizer

_LOGGER = logging.getLogger(__name__)

__all__ = ["AgentVoice", "Spoken"]


@dataclass(frozen=True, slots=True)
class Spoken:
    """One rendered sentence of a reply."""

    pcm: bytes
    """16-bit signed little-endian mono samples."""
    sample_rate: int
    """Samples per second."""
    start_s: float
    """Where it starts, seconds from the start of the reply's audio."""
    text: str
    """What it says (as spoken)."""
    words: tuple[Word, ...] = ()
    """Its words, times from the start of the reply's audio."""
    warnings: tuple[str, ...] = ()
    """Repairs and problems met while rendering it."""
    visemes: tuple[Viseme, ...] = ()
    """Mouth shapes covering it (Azure ids), times from the start of the reply's audio."""

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


def pcm16(audio: np.ndarray) -> bytes:
    """float32 samples in [-1, 1] as 16-bit little-endian bytes."""
    return (np.clip(audio, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def _spoken(chunk: "AudioChunk") -> Spoken:
    return Spoken(
        pcm16(chunk.audio),
        chunk.sample_rate,
        chunk.start_s,
        chunk.text,
        chunk.words,
        tuple(str(warning) for warning in chunk.warnings),
        chunk.visemes,
    )


class AgentVoice:
    """Speech for a voice agent, in process or from a remote ``emotts serve``.

    :param synthesizer: renders in process; built from the configuration when neither it nor
        ``url`` is given.
    :param url: base URL of a remote ``emotts serve`` (``http://host:7860``) to render on instead.
    :param options: how every reply is spoken by default (emotion, intensity, voice, speed, …);
        ``sample_rate`` is the rate of the PCM handed out (the voice's own when ``None``).
    :param changes: fields of ``options`` to change (``emotion="gentle"``).
    :raises ValueError: for an unknown emotion or a bad option (checked now, in process).
    """

    def __init__(
        self,
        synthesizer: "Synthesizer | None" = None,
        *,
        url: str | None = None,
        options: SpeechOptions | None = None,
        **changes: Any,
    ) -> None:
        if synthesizer is not None and url is not None:
            raise ValueError("give a synthesizer or a url, not both")
        self.options = with_changes(options, changes)
        """Default options of every reply."""
        self.url = url.rstrip("/") if url else None
        """The remote server, or ``None`` in process."""
        if self.url is None and synthesizer is None:
            from emotts_plugin.synthesizer import Synthesizer

            synthesizer = Synthesizer()
        self.synthesizer = synthesizer
        """The in-process synthesizer (``None`` when remote)."""
        if synthesizer is not None and self.options.emotion is not None:
            synthesizer.runtime.space.parse_mixture(self.options.emotion)
        if self.url is not None:
            _check_remote(self.options)

    @property
    def sample_rate(self) -> int:
        """Rate of the PCM handed out: ``options.sample_rate``, else the default voice's."""
        if self.options.sample_rate:
            return self.options.sample_rate
        if self.synthesizer is None:
            raise ValueError(
                "a remote AgentVoice needs options.sample_rate (the server's voice is not known here)"
            )
        voice = self.synthesizer.config.voice
        return next(info.sample_rate for info in self.synthesizer.voices() if info.name == voice)

    async def speak(
        self, deltas: AsyncIterable[str] | Iterable[str], options: SpeechOptions | None = None, **changes: Any
    ) -> AsyncIterator[Spoken]:
        """The reply whose text arrives as ``deltas``, sentence by sentence as they complete.

        :param options: this reply's options (this voice's when ``None``); ``changes`` change fields.
        """
        call = with_changes(options or self.options, changes)
        if self.url is not None:
            _check_remote(call)
        if not call.sample_rate:
            call = replace(call, sample_rate=self.sample_rate)
        if self.synthesizer is not None:
            from .chatbot import ChatbotSpeaker

            speaker = ChatbotSpeaker(self.synthesizer, call)
            async with contextlib.aclosing(speaker.aspeak(deltas)) as chunks:
                async for chunk in chunks:
                    yield _spoken(chunk)
            return
        async with contextlib.aclosing(self._remote(deltas, call)) as spoken:
            async for item in spoken:
                yield item

    async def say(
        self, text: str, options: SpeechOptions | None = None, **changes: Any
    ) -> AsyncIterator[Spoken]:
        """A whole text, sentence by sentence (:meth:`speak` of one delta)."""
        async with contextlib.aclosing(self.speak([text], options, **changes)) as spoken:
            async for item in spoken:
                yield item

    # -- remote -------------------------------------------------------------------

    async def _remote(
        self, deltas: AsyncIterable[str] | Iterable[str], options: SpeechOptions
    ) -> AsyncIterator[Spoken]:
        import aiohttp

        from emotts_plugin.ssml.sentences import SentenceAssembler

        from .chatbot import _builtin_space, _deltas

        assembler = SentenceAssembler(space=_builtin_space())
        offset = 0.0
        char = 0  # where the next fragment's source starts in the reply
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def sentences(fragments) -> AsyncIterator[Spoken]:
                nonlocal offset, char
                for fragment in fragments:
                    at, char = char, char + len(fragment.source)
                    if not fragment.speakable:
                        continue
                    async for item in self._remote_sentence(session, fragment, at, options, offset):
                        offset = item.start_s + item.duration_s
                        yield item

            async for delta in _deltas(deltas):
                async for item in sentences(assembler.feed_fragments(delta)):
                    yield item
            async for item in sentences(assembler.flush_fragments()):
                yield item

    async def _remote_sentence(
        self, session, fragment, char: int, options: SpeechOptions, offset: float
    ) -> AsyncIterator[Spoken]:
        """One sentence (``fragment``, whose source starts at ``char`` in the reply) rendered remotely."""
        import aiohttp

        body: dict[str, Any] = {"input": fragment.markup, "format": "pcm16", "stream": True, "timings": True}
        for name in _REMOTE_FIELDS:
            value = getattr(options, name)
            if value is not None:
                body[name] = value
        url = f"{self.url}/v1/synthesize"
        try:
            async with session.post(url, json=body) as response:
                if response.status >= 400:
                    raise _remote_error(response.status, await response.text(), url)
                audio = bytearray()
                async for event in _events(response.content):
                    kind = event.get("type")
                    if kind == "audio":
                        audio += base64.b64decode(event["audio"])
                    elif kind == "timings":
                        yield self._remote_spoken(bytes(audio), options, offset, event, fragment, char)
                        offset += len(audio) / 2 / options.sample_rate
                        audio.clear()
                    elif kind == "error":
                        error = event.get("error", {})
                        raise _remote_error(500, json.dumps({"error": error}), url)
                if audio:
                    yield Spoken(bytes(audio), options.sample_rate, offset, "")
        except aiohttp.ClientError as exc:
            raise errors.RemoteError(f"emotts server at {self.url} failed: {exc}", url=url) from exc

    @staticmethod
    def _remote_spoken(
        audio: bytes, options: SpeechOptions, offset: float, event: dict, fragment, char: int
    ) -> Spoken:
        from .chatbot import _in_reply

        start = float(event.get("start", 0.0))
        words = tuple(
            Word(
                w["text"],
                offset + w["start"] - start,
                offset + w["end"] - start,
                int(w.get("segment", 0)),
                _in_reply(tuple(w["source"]) if w.get("source") else None, fragment, char),
            )
            for w in event.get("words", ())
        )
        visemes = tuple(
            Viseme(int(v["id"]), offset + v["start"] - start, offset + v["end"] - start)
            for v in event.get("visemes", ())
        )
        text = " ".join(sentence["text"] for sentence in event.get("sentences", ()))
        return Spoken(audio, options.sample_rate, offset, text, words, visemes=visemes)


#: Options a remote render sends (the fields ``POST /v1/synthesize`` takes).
_REMOTE_FIELDS = ("voice", "emotion", "intensity", "transition_ms", "sample_rate", "seed")


def _check_remote(options: SpeechOptions) -> None:
    """Refuse options the native API cannot carry."""
    if options.speed != 1.0:
        raise errors.ConfigError(f"speed {options.speed!r}: a remote emotts server takes no speed; use 1.0")
    if options.reference is not None:
        raise errors.ConfigError("reference: a remote emotts server takes references by id only")
    if options.mode is not None and str(getattr(options.mode, "value", options.mode)) == "strict":
        raise errors.ConfigError("mode 'strict': LLM replies are read leniently")


async def _events(content) -> AsyncIterator[dict]:
    """The JSON ``data:`` payloads of an event stream."""
    async for raw in content:
        line = raw.decode("utf-8").strip()
        if line.startswith("data:"):
            yield json.loads(line[5:].strip())


def _remote_error(status: int, text: str, url: str) -> Exception:
    """The exception a remote error answer names (one of :mod:`emotts_plugin.errors` taking a
    message alone), else :class:`~emotts_plugin.errors.RemoteError`."""
    try:
        error = json.loads(text)["error"]
        message, kind = str(error.get("message", text)), str(error.get("code") or error.get("type") or "")
    except (ValueError, KeyError, TypeError, AttributeError):
        message, kind = text[:300], ""
    cls = getattr(errors, kind, None)
    if isinstance(cls, type) and issubclass(cls, errors.EmottsError) and issubclass(cls, ValueError):
        with contextlib.suppress(TypeError):  # a class that needs more than a message
            return cls(f"{message} (from {url})")
    if 400 <= status < 500 and status not in (408, 429):  # a timeout or a full queue: try again later
        return ValueError(f"{message} (from {url}, HTTP {status})")
    return errors.RemoteError(f"{message} (from {url}, HTTP {status})", url=url)
