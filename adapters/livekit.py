"""LiveKit Agents plugin: :class:`EmottsTTS`, a ``livekit.agents.tts.TTS`` that speaks with emotion.

Install with ``pip install 'emotts[livekit]'`` and give it to an ``AgentSession``::

    session = AgentSession(llm=..., stt=..., tts=EmottsTTS(emotion="gentle", intensity=0.5),
                           use_tts_aligned_transcript=True)

How it maps onto LiveKit's TTS interface:

- :meth:`EmottsTTS.stream` is LiveKit's ``SynthesizeStream``: the agent's LLM node pushes the
  reply's text deltas (``push_text``), then ``end_input``; each sentence is rendered as soon as
  the deltas complete it, while the model is still writing the rest (the capability
  ``streaming=True``). :meth:`EmottsTTS.synthesize` is the ``ChunkedStream`` of a whole text.
- Both run on one :class:`~emotts_plugin.adapters.agents.AgentVoice` (in process, or on a remote
  ``emotts serve`` given by ``url=``): markup, chat-model text and stage directions in the reply
  (``<emotion name="happy">``, ``[sad]``, ``(sighs)``, emoji) reach the renderer unchanged.
- Word timings go with the audio as LiveKit ``TimedString``\\s (capability
  ``aligned_transcript=True``), in seconds from the start of the reply's audio: with
  ``use_tts_aligned_transcript=True`` the agent's transcript is the words as spoken, word by word
  in step with playout, and without the markup the model wrote.
- ``emotion``, ``intensity``, ``voice`` (and every other field of
  :class:`~emotts_plugin.options.SpeechOptions`) are set at construction and changed at run time
  with :meth:`EmottsTTS.update_options`, as LiveKit's TTS plugins do; a stream keeps the options
  it started with. :attr:`EmottsTTS.markup` tells the model the markup (``llm_instructions()``).
- Interruption: the agent session closes the stream (``aclose()``); rendering stops after the
  sentence in the voice model (it cannot be cut inside one), nothing after it is rendered.
- Errors are LiveKit's: bad input (hostile markup such as ``<!DOCTYPE>``) is an
  ``APIStatusError`` with status 400 and ``retryable=False``, so the base class does not retry
  it; a remote server that cannot be reached or fails is an ``APIConnectionError``, which it
  retries (``conn_options.max_retry``) while no audio has been sent; anything else is a
  non-retryable ``APIError``. ``body`` holds the emotts error's class name and message.
- A reply with nothing to say aloud (``"(laughs)"``) is a short silence, not an error (LiveKit
  treats text without audio as a failure to retry).
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import weakref
from typing import TYPE_CHECKING, Any, AsyncIterable, Iterable

from emotts_plugin import errors
from emotts_plugin.errors import MissingExtraError
from emotts_plugin.options import SpeechOptions, with_changes
from emotts_plugin.timings import word_tokens

from .agents import AgentVoice, Spoken

try:
    from livekit.agents import APIConnectionError, APIConnectOptions, APIError, APIStatusError, tts
    from livekit.agents.types import DEFAULT_API_CONNECT_OPTIONS, TimedString
    from livekit.agents.utils import shortuuid
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingExtraError(
        "the LiveKit plugin needs livekit-agents: pip install 'emotts[livekit]'", extra="livekit"
    ) from exc

if TYPE_CHECKING:  # pragma: no cover
    from livekit.agents.voice.agent_session import SpeechSteeringOptions

    from emotts_plugin.synthesizer import Synthesizer

_LOGGER = logging.getLogger(__name__)

__all__ = ["EmottsTTS", "api_error", "timed_words"]

#: Output rate of a remote voice when ``sample_rate`` is not given (the server resamples to it).
REMOTE_SAMPLE_RATE = 24000
#: Audio sent for a reply that has nothing to say aloud, seconds.
SILENT_REPLY_S = 0.2


class EmottsTTS(tts.TTS):
    """Emotional speech for a LiveKit agent, rendered in process or by a remote ``emotts serve``.

    :param synthesizer: renders in process; built from the configuration when neither it nor
        ``url`` is given (about a second).
    :param url: base URL of a remote ``emotts serve`` (``http://host:7860``) to render on instead.
    :param options: how every reply is spoken (:class:`~emotts_plugin.options.SpeechOptions`);
        ``changes`` change its fields: ``emotion="happy"`` (a label, alias or mixture),
        ``intensity=0.6``, ``voice="joe"``, ``sample_rate=24000`` (the rate of the frames: the
        voice's own in process, :data:`REMOTE_SAMPLE_RATE` remote, when not given), ``seed``, ….
    :raises ValueError: for an unknown emotion or voice or a bad option (checked now).
    """

    class Markup(tts.TTS.Markup):
        """The markup emotts reads, for the model's instructions."""

        def llm_instructions(self, *, speech_steering: SpeechSteeringOptions | None = None) -> str:
            """emotts's system prompt (:func:`~emotts_plugin.adapters.chatbot.system_prompt`):
            ``<emotion>`` tags, breaks, emphasis, prosody and stage directions, with the labels of
            this voice's emotion space. ``speech_steering`` is not used."""
            from .chatbot import system_prompt

            synthesizer = self._tts._voice.synthesizer
            return system_prompt(synthesizer.runtime.space if synthesizer is not None else None)

    def __init__(
        self,
        synthesizer: "Synthesizer | None" = None,
        *,
        url: str | None = None,
        options: SpeechOptions | None = None,
        **changes: Any,
    ) -> None:
        call = with_changes(options, changes)
        if url is not None and not call.sample_rate:
            call = dataclasses.replace(call, sample_rate=REMOTE_SAMPLE_RATE)
        voice = AgentVoice(synthesizer, url=url, options=call)
        if not call.sample_rate:  # fixed from now on: LiveKit's TTS has one rate
            voice = AgentVoice(
                voice.synthesizer, options=dataclasses.replace(call, sample_rate=voice.sample_rate)
            )
        _check_voice(voice)
        self._voice = voice
        super().__init__(
            capabilities=tts.TTSCapabilities(streaming=True, aligned_transcript=True),
            sample_rate=voice.sample_rate,
            num_channels=1,
        )
        self._streams: weakref.WeakSet[EmottsStream] = weakref.WeakSet()
        self._prewarmed = False

    @property
    def options(self) -> SpeechOptions:
        """How replies are spoken now (streams keep the options they started with)."""
        return self._voice.options

    @property
    def model(self) -> str:
        """The voice replies are spoken in."""
        if self._voice.options.voice:
            return self._voice.options.voice
        if self._voice.synthesizer is not None:
            return self._voice.synthesizer.config.voice
        return "default"

    @property
    def provider(self) -> str:
        return "emotts"

    def prewarm(self) -> None:
        """In process, render a word once in a worker thread, so that the first reply does not pay
        the voice model's start-up (LiveKit calls this when the agent starts). Remote: nothing."""
        synthesizer = self._voice.synthesizer
        if synthesizer is None or self._prewarmed:
            return
        self._prewarmed = True
        options = self._voice.options
        threading.Thread(
            target=_warm, args=(synthesizer, options), name="emotts-prewarm", daemon=True
        ).start()

    def update_options(self, options: SpeechOptions | None = None, **changes: Any) -> None:
        """Change how later replies are spoken (``emotion=``, ``intensity=``, ``voice=``, …);
        ``options`` replaces them all. ``sample_rate`` cannot change.

        :raises ValueError: for an unknown emotion or voice, a bad option or a new sample rate
            (the options stay as they were).
        """
        call = with_changes(options or self._voice.options, changes)
        if call.sample_rate is None:
            call = dataclasses.replace(call, sample_rate=self.sample_rate)
        if call.sample_rate != self.sample_rate:
            raise errors.ConfigError(
                f"sample_rate is fixed at {self.sample_rate} for this TTS, got {call.sample_rate!r}; "
                "make another EmottsTTS for another rate",
                key="sample_rate",
            )
        voice = AgentVoice(self._voice.synthesizer, url=self._voice.url, options=call)
        _check_voice(voice)
        self._voice = voice

    def synthesize(
        self, text: str, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS
    ) -> "EmottsChunkedStream":
        """The speech of a whole ``text`` (markup allowed), sentence by sentence."""
        return EmottsChunkedStream(tts=self, input_text=text, conn_options=conn_options)

    def stream(self, *, conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS) -> "EmottsStream":
        """A stream for one reply: ``push_text`` its deltas, then ``end_input``."""
        stream = EmottsStream(tts=self, conn_options=conn_options)
        self._streams.add(stream)
        return stream

    async def aclose(self) -> None:
        """Close the streams still open."""
        for stream in list(self._streams):
            await stream.aclose()
        self._streams.clear()


class EmottsChunkedStream(tts.ChunkedStream):
    """The speech of one whole text (:meth:`EmottsTTS.synthesize`)."""

    def __init__(self, *, tts: EmottsTTS, input_text: str, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, input_text=input_text, conn_options=conn_options)
        self._voice = tts._voice

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=shortuuid(),
            sample_rate=self._tts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
        )
        await _speak(self._voice, [self._input_text], output_emitter, self._input_text)


class EmottsStream(tts.SynthesizeStream):
    """One reply whose text arrives in deltas (:meth:`EmottsTTS.stream`).

    The reply ends at ``end_input`` or at the first ``flush`` after some text (LiveKit keeps one
    segment per stream: text pushed after a flush is dropped by the base class).
    """

    def __init__(self, *, tts: EmottsTTS, conn_options: APIConnectOptions) -> None:
        super().__init__(tts=tts, conn_options=conn_options)
        self._voice = tts._voice

    async def _run(self, output_emitter: tts.AudioEmitter) -> None:
        output_emitter.initialize(
            request_id=shortuuid(),
            sample_rate=self._tts.sample_rate,
            num_channels=1,
            mime_type="audio/pcm",
            stream=True,
        )
        output_emitter.start_segment(segment_id=shortuuid())
        source = self._input_ch  # a retry replays the input into a fresh channel
        received: list[str] = []

        async def deltas():
            async for item in source:
                if isinstance(item, self._FlushSentinel):
                    if received:
                        return
                    continue
                self._mark_started()  # the first text reached the renderer: LiveKit's ttfb counts from here
                received.append(item)
                yield item

        await _speak(self._voice, deltas(), output_emitter, received)
        output_emitter.end_segment()


async def _speak(
    voice: AgentVoice,
    deltas: AsyncIterable[str] | Iterable[str],
    output_emitter: tts.AudioEmitter,
    text: str | list[str],
) -> None:
    """Render the reply of ``deltas`` into ``output_emitter``: each sentence's words, then its
    audio. ``text`` is what was sent (read at the end): with words but no audio, a short silence.

    :raises APIError: LiveKit's error for whatever the renderer raised (see the module's doc).
    """
    spoken_s = 0.0
    try:
        async with contextlib.aclosing(voice.speak(deltas)) as reply:
            async for spoken in reply:
                if spoken.warnings:
                    _LOGGER.debug("sentence %r: %s", spoken.text, "; ".join(spoken.warnings))
                output_emitter.push_timed_transcript(timed_words(spoken))
                output_emitter.push(spoken.pcm)
                output_emitter.flush()  # the whole sentence now, not when the next one is ready
                spoken_s += spoken.duration_s
    except APIError:
        raise
    except Exception as exc:
        raise api_error(exc) from exc
    sent = text if isinstance(text, str) else "".join(text)
    if spoken_s == 0.0 and sent.strip():
        _LOGGER.debug("nothing to say aloud in %r: a short silence", sent[:200])
        output_emitter.push(b"\0\0" * round(SILENT_REPLY_S * voice.options.sample_rate))


def timed_words(spoken: Spoken) -> list[TimedString]:
    """The words of ``spoken`` as LiveKit ``TimedString``\\s, seconds from the start of the reply.

    Each carries its text as written in the sentence, punctuation included, and a trailing space,
    so that joined they read as the sentence; where the sentence's words and the timed words
    do not pair up one to one, the timed words' own text is used.
    """
    tokens = spoken.text.split()
    texts: list[str] = []
    pending = ""
    for token in tokens:
        if word_tokens(token):
            texts.append(pending + token)
            pending = ""
        elif texts:
            texts[-1] += f" {token}"
        else:
            pending += f"{token} "
    if len(texts) != len(spoken.words):
        texts = [word.text for word in spoken.words]
    return [
        TimedString(f"{text} ", start_time=word.start_s, end_time=word.end_s)
        for text, word in zip(texts, spoken.words)
    ]


def api_error(exc: Exception) -> APIError:
    """LiveKit's error for an exception of the renderer.

    Bad input (a ``ValueError``: :mod:`emotts_plugin.errors`) → ``APIStatusError`` 400, not
    retryable; a remote server unreachable or failing (``ConnectionError``) →
    ``APIConnectionError``, retryable; anything else → ``APIError``, not retryable.
    """
    body = {"type": type(exc).__name__, "message": str(exc)}
    if isinstance(exc, ValueError):
        return APIStatusError(str(exc), status_code=400, body=body, retryable=False)
    if isinstance(exc, ConnectionError):
        return APIConnectionError("emotts server failed")  # the cause is named by its __str__
    return APIError(f"emotts failed: {type(exc).__name__}: {exc}", body=body, retryable=False)


def _warm(synthesizer: "Synthesizer", options: SpeechOptions) -> None:
    try:
        synthesizer.synthesize("Ready.", options)
    except Exception:  # a warm-up only: the first reply reports what is wrong
        _LOGGER.debug("prewarm failed", exc_info=True)


def _check_voice(voice: AgentVoice) -> None:
    """An in-process voice's ``options.voice`` must be one of its synthesizer's voices."""
    name = voice.options.voice
    if name is None or voice.synthesizer is None:
        return
    known = sorted(info.name for info in voice.synthesizer.voices())
    if name not in known:
        raise errors.UnknownVoiceError(
            f"unknown voice {name!r}; available voices: {', '.join(known)}", voice=name
        )
