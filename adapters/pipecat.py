"""Pipecat plugin: :class:`EmottsTTSService`, a Pipecat ``TTSService`` that speaks with emotion.

Install with ``pip install 'emotts[pipecat]'`` and put it where a pipeline's TTS goes::

    tts = EmottsTTSService(settings=EmottsTTSService.Settings(emotion="gentle", intensity=0.5))
    pipeline = Pipeline([transport.input(), user_aggregator, llm, tts, transport.output(), ...])

How it maps onto Pipecat's ``TTSService`` (1.14):

- **One reply, one render stream.** Pipecat gives each LLM reply (between
  ``LLMFullResponseStartFrame`` and ``LLMFullResponseEndFrame``) and each ``TTSSpeakFrame`` one
  context id; every piece of text it hands to :meth:`~EmottsTTSService.run_tts` for that id is
  fed, in order, into one :meth:`AgentVoice.speak <emotts_plugin.adapters.agents.AgentVoice.speak>`
  stream, and ``flush_audio`` at the end of the reply ends it. So markup that spans Pipecat's
  sentences (an ``<emotion>`` opened in one sentence and closed three later, a ``[sad]`` cue
  that colours what follows) keeps its meaning, and a tag split across LLM tokens is whole
  again before it is read. Pipecat's text aggregation is set to ``TextAggregationMode.TOKEN``
  (each LLM token handed over as it comes): emotts cuts the reply into sentences itself,
  markup-aware, so Pipecat's sentence aggregation would only add latency (both wait for the
  first character of the next sentence, so it would hold every sentence until the one after it
  is written).
- **Audio arrives in the background**, as in Pipecat's websocket services: ``run_tts`` hands the
  text over and returns; a task per reply renders each sentence as soon as the text completes
  it and appends its ``TTSAudioRawFrame``\\s (at the pipeline's output rate) and word times to
  the reply's audio context. Pipecat pushes ``TTSStartedFrame`` / ``TTSStoppedFrame`` around
  them (``push_start_frame``, ``push_stop_frames``). The context is kept open until the reply
  ends, so a pause in the LLM or a slow render does not split it (Pipecat ends a context that
  gets nothing for ``stop_frame_timeout_s``).
- **Word timestamps** go to ``add_word_timestamps`` in seconds from the start of the reply's
  audio; Pipecat turns them into word ``TTSTextFrame``\\s with presentation times, which the
  assistant context aggregator and RTVI's bot transcript consume. Each word is reported as the
  text the LLM wrote for it (``3`` for "three"), so Pipecat matches it against the reply.
- **Settings**: :class:`EmottsTTSSettings` adds ``emotion`` and ``intensity`` to Pipecat's
  ``voice``. They are given at construction (``settings=EmottsTTSService.Settings(...)``) and
  changed at run time with Pipecat's own ``TTSUpdateSettingsFrame(delta=...)``; a change
  applies from the next reply. A change emotts cannot use (an unknown emotion or voice, an
  intensity outside 0..1) is refused, the old settings stay, and an ``ErrorFrame`` says why.
  Every other :class:`~emotts_plugin.options.SpeechOptions` field is set with ``options=``.
- **Interruption**: on Pipecat's ``InterruptionFrame`` the reply's render task is cancelled
  (``on_audio_context_interrupted``); the sentence in the voice model finishes (it cannot be cut
  inside one) but its audio is dropped, and nothing after it is rendered.
- **Errors** are Pipecat's ``ErrorFrame``\\s, pushed upstream with ``push_error`` and the emotts
  exception as ``exception``; the pipeline keeps running. Bad input in a reply (hostile markup,
  a value over a limit) is ``ErrorCategory.APPLICATION``: the reply's remaining text is not
  spoken, and the service stays usable for the next one. A remote server that cannot be reached
  is ``CONNECTIVITY`` (from :class:`~emotts_plugin.errors.RemoteError`, a ``ConnectionError``).
- At ``StartFrame`` an in-process service loads the resampler in the background (the pipeline's
  24 kHz is not the voices' 22.05 kHz, and the first resampling of a process takes a second).
- A reply with nothing to say aloud (``"*laughs*"``), or one whose error was reported, ends with
  a short silence: Pipecat counts a context without audio as a provider failing, and after a
  few in a row stops giving the service work.

Do not register Pipecat's ``strip_markdown`` text transform with this service: emotts reads
chat-model text itself, and the transform would turn a ``*sighs*`` stage direction into the
spoken word "sighs".
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, AsyncGenerator, AsyncIterator

import numpy as np

from emotts_plugin.errors import MissingExtraError, UnknownVoiceError
from emotts_plugin.options import SpeechOptions, with_changes

from .agents import AgentVoice, Spoken

try:
    from pipecat.frames.frames import CancelFrame, EndFrame, Frame, StartFrame, TTSAudioRawFrame
    from pipecat.services.settings import TTSSettings
    from pipecat.services.tts_service import TextAggregationMode, TTSService
    from pipecat.utils.errors import ErrorCategory
    from pipecat.utils.types import NOT_GIVEN, NotGiven, is_given
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise MissingExtraError(
        "the Pipecat plugin needs pipecat-ai: pip install 'emotts[pipecat]'", extra="pipecat"
    ) from exc

if TYPE_CHECKING:  # pragma: no cover
    from emotts_plugin.synthesizer import Synthesizer

_LOGGER = logging.getLogger(__name__)

__all__ = ["EmottsTTSService", "EmottsTTSSettings", "word_times"]

#: Audio sent for a reply that has nothing to say aloud, seconds.
SILENT_REPLY_S = 0.1
#: How often a reply being spoken tells Pipecat its audio context is still in use, seconds (at
#: most; a third of Pipecat's ``stop_frame_timeout_s`` when that is shorter).
KEEPALIVE_S = 1.0

#: Settings fields that are :class:`SpeechOptions` fields of the same name.
_OPTION_FIELDS = ("voice", "emotion", "intensity")


@dataclass
class EmottsTTSSettings(TTSSettings):
    """Pipecat settings of :class:`EmottsTTSService`: Pipecat's ``voice`` plus emotion.

    Like every Pipecat settings class it is a store (the service's current values) or a delta
    (the fields a ``TTSUpdateSettingsFrame`` changes; the others ``NOT_GIVEN``). ``None`` means
    the emotts configuration's value.
    """

    emotion: str | None | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    """Emotion (label, alias or ``label:weight`` mixture) of text outside emotion markup."""
    intensity: float | None | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    """Intensity 0..1 of ``emotion``."""


def _load_resampler() -> None:
    """Resample once: the first resampling of a process loads scipy's (about a second), which the
    first reply at the pipeline's rate (24 kHz by default; voices speak at 22.05 kHz) would wait for."""
    from emotts_plugin.audio import resample

    resample(np.zeros(64, dtype=np.float32), 16000, 22050)


class _Reply:
    """One reply being spoken: the text Pipecat has handed over for it, and its render task."""

    def __init__(self) -> None:
        self.text = ""
        """Everything handed over so far (word sources index it)."""
        self.closed = asyncio.Event()
        """Set when no more text will come."""
        self.failed = False
        """Set when rendering failed: the rest of the reply is not spoken."""
        self.task: asyncio.Task | None = None
        self._queue: asyncio.Queue[str | None] = asyncio.Queue()

    def feed(self, text: str) -> None:
        if self.closed.is_set() or self.failed:
            return
        self.text += text
        self._queue.put_nowait(text)

    def close(self) -> None:
        if not self.closed.is_set():
            self.closed.set()
            self._queue.put_nowait(None)

    async def deltas(self) -> AsyncIterator[str]:
        while (delta := await self._queue.get()) is not None:
            yield delta


def word_times(spoken: Spoken, reply_text: str) -> list[tuple[str, float]]:
    """``spoken``'s words as Pipecat's ``(word, seconds from the reply's start)`` pairs.

    A word is named by the text of the reply it was read from (``3`` for "three", ``Dr.`` for
    "Doctor"), as Pipecat matches reported words against the text it sent; words read from
    one piece of text ("3" → "three hundred") are reported once, at the first. A word whose
    source is unknown (a remote render) is named as spoken.
    """
    times: list[tuple[str, float]] = []
    last = None
    for word in spoken.words:
        if word.source is None:
            times.append((word.text, word.start_s))
            continue
        if word.source == last:
            continue
        last = word.source
        start, end = word.source
        times.append((reply_text[start:end] or word.text, word.start_s))
    return times


class EmottsTTSService(TTSService):
    """Emotional speech for a Pipecat pipeline, rendered in process or by a remote ``emotts serve``.

    :param synthesizer: renders in process; built from the configuration when neither it nor
        ``url`` is given (about a second).
    :param url: base URL of a remote ``emotts serve`` (``http://host:7860``) to render on instead.
    :param options: how every reply is spoken (speed, transition, seed, …); ``voice``,
        ``emotion`` and ``intensity`` come from ``settings`` where it gives them.
    :param settings: Pipecat settings (:class:`EmottsTTSSettings`: ``voice``, ``emotion``,
        ``intensity``), changed at run time with ``TTSUpdateSettingsFrame``.
    :param kwargs: passed to Pipecat's ``TTSService`` (``sample_rate``, ``text_transforms``, …);
        ``sample_rate`` defaults to the pipeline's output rate, and emotts renders at it.
    :raises ValueError: for an unknown emotion or voice, or a bad option; for a Pipecat text
        aggregation other than ``TOKEN``.
    """

    Settings = EmottsTTSSettings
    _settings: EmottsTTSSettings

    def __init__(
        self,
        synthesizer: "Synthesizer | None" = None,
        *,
        url: str | None = None,
        options: SpeechOptions | None = None,
        settings: EmottsTTSSettings | None = None,
        **kwargs: Any,
    ) -> None:
        sentences = kwargs.pop("aggregate_sentences", None)  # Pipecat's deprecated spelling
        mode = kwargs.pop("text_aggregation_mode", None) or (
            TextAggregationMode.SENTENCE if sentences else TextAggregationMode.TOKEN
        )
        if mode != TextAggregationMode.TOKEN:
            raise ValueError(
                f"text_aggregation_mode {mode!s}: EmottsTTSService cuts sentences itself and takes "
                "Pipecat's text token by token (TextAggregationMode.TOKEN)"
            )
        options = options or SpeechOptions()
        store = EmottsTTSSettings(
            model=None,
            language=None,
            voice=options.voice,
            emotion=options.emotion,
            intensity=options.intensity,
        )
        if settings is not None:
            store.apply_update(settings)
        if kwargs.get("sample_rate") is None and options.sample_rate:
            kwargs["sample_rate"] = options.sample_rate
        self._base_options = options
        self._agent = self._make_agent_voice(AgentVoice(synthesizer, url=url, options=options), store)
        super().__init__(
            text_aggregation_mode=TextAggregationMode.TOKEN,
            push_text_frames=False,
            push_start_frame=True,
            push_stop_frames=True,
            reuse_context_id_within_turn=True,
            settings=store,
            **kwargs,
        )
        self._replies: dict[str, _Reply] = {}
        self._warm_up: asyncio.Task | None = None

    @property
    def agent_voice(self) -> AgentVoice:
        """What renders: the shared bridge, with the current settings as its default options."""
        return self._agent

    def can_generate_metrics(self) -> bool:
        return True

    @property
    def supports_processing_metrics(self) -> bool:
        # run_tts hands the text over and returns; TTFB and TTFA carry the latency
        return False

    # -- settings -----------------------------------------------------------------

    def _make_agent_voice(self, voice: AgentVoice, settings: EmottsTTSSettings) -> AgentVoice:
        """An :class:`AgentVoice` rendering like ``voice`` with ``settings``' options.

        :raises ValueError: an unknown emotion or voice, or a bad value.
        """
        changes = {name: getattr(settings, name) for name in _OPTION_FIELDS}
        options = with_changes(self._base_options, {k: v for k, v in changes.items() if is_given(v)})
        voice = AgentVoice(voice.synthesizer, url=voice.url, options=options)
        if voice.synthesizer is not None and options.voice is not None:
            known = {info.name for info in voice.synthesizer.voices()}
            if options.voice not in known:
                raise UnknownVoiceError(
                    f"unknown voice {options.voice!r}; available voices: {', '.join(sorted(known))}",
                    voice=options.voice,
                )
        return voice

    async def _update_settings(self, delta: TTSSettings) -> dict[str, Any]:
        """Apply a ``TTSUpdateSettingsFrame``; refuse (keeping the old settings) one emotts cannot use."""
        previous = self._settings.copy()
        changed = await super()._update_settings(delta)
        if not changed.keys() & set(_OPTION_FIELDS):
            return changed
        try:
            self._agent = self._make_agent_voice(self._agent, self._settings)
        except ValueError as exc:
            self._settings = previous
            await self.push_error(
                f"emotts refused the settings {delta.given_fields()}: {exc}",
                exception=exc,
                category=ErrorCategory.APPLICATION,
            )
            return {}
        return changed

    # -- speaking -----------------------------------------------------------------

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Hand ``text`` to the reply ``context_id``; its audio arrives through the audio context."""
        reply = self._replies.get(context_id)
        if reply is None:
            reply = self._replies[context_id] = _Reply()
            reply.task = self.create_task(self._speak_reply(context_id, reply, self._agent), "emotts_reply")
        reply.feed(text)
        await self.start_tts_usage_metrics(text)
        yield None

    async def flush_audio(self, context_id: str | None = None) -> None:
        """The reply ``context_id`` has no more text: speak what is left of it."""
        if context_id is not None:
            self._end_reply(context_id)

    async def on_turn_context_completed(self) -> None:
        """The LLM reply (or ``TTSSpeakFrame``) has no more text: speak what is left of it."""
        context_id = self._turn_context_id
        await super().on_turn_context_completed()
        # the base calls flush_audio only while the context's audio context is open
        if context_id is not None:
            self._end_reply(context_id)

    def _end_reply(self, context_id: str) -> None:
        reply = self._replies.get(context_id)
        if reply is not None:
            reply.close()

    async def _speak_reply(self, context_id: str, reply: _Reply, voice: AgentVoice) -> None:
        """Render the reply ``context_id`` into its audio context, sentence by sentence."""
        rate = self.sample_rate
        sent_audio = False
        keepalive = self.create_task(self._keep_open(context_id), "emotts_keepalive")
        try:
            async with contextlib.aclosing(voice.speak(reply.deltas(), sample_rate=rate)) as spoken:
                async for sentence in spoken:
                    for warning in sentence.warnings:
                        _LOGGER.info("reply %s: %s", context_id, warning)
                    sent_audio = await self._append_pcm(context_id, sentence.pcm, rate) or sent_audio
                    times = word_times(sentence, reply.text)
                    if times:
                        await self.add_word_timestamps(times, context_id)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            reply.failed = True
            await self._report_failure(exc, context_id)
            await reply.closed.wait()  # the rest of the reply is not spoken; its context ends with it
        finally:
            await self.cancel_task(keepalive)
            if self._replies.get(context_id) is reply:
                del self._replies[context_id]
        if not self.audio_context_available(context_id):
            return
        if not sent_audio:
            # Pipecat takes a context without audio for a provider failing, and writes off a
            # service after a few; a reply with nothing to say, or one already reported, is not that
            await self._append_pcm(context_id, bytes(2 * round(SILENT_REPLY_S * rate)), rate)
        await self.remove_audio_context(context_id)

    async def _keep_open(self, context_id: str) -> None:
        """Keep the reply's audio context open while the reply is being spoken.

        Pipecat ends an audio context that gets nothing for ``stop_frame_timeout_s`` (3 s), as if
        the provider had gone quiet; a reply is only over when its render task says so (the end of
        the LLM's reply, an interruption, an error), and a sentence may take a while to render
        under load or wait for the LLM's next words.
        """
        period = min(KEEPALIVE_S, self._stop_frame_timeout_s / 3)
        while True:
            await asyncio.sleep(period)
            if self.audio_context_available(context_id):
                self._refresh_audio_context(context_id)

    async def _append_pcm(self, context_id: str, pcm: bytes, rate: int) -> bool:
        """Append ``pcm`` to the audio context in frames of about half a second; whether any was sent."""
        step = max(2, self.chunk_size - self.chunk_size % 2)
        for start in range(0, len(pcm), step):
            frame = TTSAudioRawFrame(pcm[start : start + step], rate, 1, context_id=context_id)
            await self.append_to_audio_context(context_id, frame)
        return bool(pcm)

    async def _report_failure(self, exc: Exception, context_id: str) -> None:
        """Push ``exc`` as Pipecat's ``ErrorFrame``."""
        if isinstance(exc, ConnectionError):
            category = None  # worked out from the exception: CONNECTIVITY
        elif isinstance(exc, ValueError):
            category = ErrorCategory.APPLICATION  # this reply's text; the service is fine
        else:
            category = ErrorCategory.UNKNOWN
        await self.push_error(
            f"emotts could not speak reply {context_id}: {type(exc).__name__}: {exc}",
            exception=exc,
            category=category,
        )

    # -- interruption and lifecycle ---------------------------------------------------

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        """Pipecat dropped the reply's audio context (an ``InterruptionFrame``): stop rendering it."""
        await self._stop_reply(context_id)

    async def _stop_reply(self, context_id: str) -> None:
        reply = self._replies.pop(context_id, None)
        if reply is not None and reply.task is not None:
            await self.cancel_task(reply.task)

    async def start(self, frame: StartFrame) -> None:
        """Start as Pipecat does; in process, load the resampler in the background meanwhile."""
        await super().start(frame)
        if self._agent.synthesizer is not None and self._warm_up is None:
            self._warm_up = self.create_task(asyncio.to_thread(_load_resampler), "emotts_warm_up")

    async def stop(self, frame: EndFrame) -> None:
        """End of the pipeline: speak what was handed over, then stop as Pipecat does."""
        for reply in list(self._replies.values()):
            reply.close()  # Pipecat waits for the audio
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        """The pipeline is cancelled: stop every render."""
        await super().cancel(frame)
        for context_id in list(self._replies):
            await self._stop_reply(context_id)

    async def cleanup(self) -> None:
        """Stop any render still running when the service is torn down."""
        await super().cleanup()
        if self._warm_up is not None and not self._warm_up.done():
            await self.cancel_task(self._warm_up)
        for context_id in list(self._replies):
            await self._stop_reply(context_id)
