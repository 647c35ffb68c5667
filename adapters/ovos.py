"""OpenVoiceOS text-to-speech plugin: :class:`EmottsOVOSTTS`.

``ovos-plugin-manager`` finds it by its entry point (group ``opm.tts``, name
``ovos-tts-plugin-emotts``); ``mycroft.conf`` selects it::

    "tts": {
        "module": "ovos-tts-plugin-emotts",
        "ovos-tts-plugin-emotts": {"voice": "joe", "emotion": "calm", "intensity": 0.6}
    }

It is a :class:`~ovos_plugin_manager.templates.tts.StreamingTTS`, so both ways ovos-audio speaks
work:

- **one WAV per sentence** (the default): :meth:`EmottsOVOSTTS.preprocess_sentence` cuts the
  utterance into self-contained sentences with the chatbot's
  :class:`~emotts_plugin.ssml.sentences.SentenceAssembler` (an ``<emotion>`` or ``[sad]`` cue
  open across sentences is re-opened in each), each is rendered by :meth:`~EmottsOVOSTTS.get_tts`
  and queued for playback while the next one renders. ``get_tts`` returns a mouth track made
  from the word timings (see :func:`mouth_track`) as its "phonemes", which the template turns
  into the visemes ovos-audio sends to the enclosure.
- **streamed** (``"enable_streaming": true``): :meth:`~EmottsOVOSTTS.stream_tts` yields a WAV
  header and then each sentence's 16-bit PCM as soon as it is rendered; the sentences (cut as
  above) go to the voice one at a time, the next as soon as the last was handed on, so that a
  stop is obeyed before anything more starts.

Markup: the template's ``validate_ssml`` keeps only tags whose text contains a name from
``ssml_tags`` (a regular-expression filter that also mangles a plain ``<`` in text); this plugin
hands the utterance on untouched instead, because emotts reads markup itself with its hardened
parser (leniently: unknown tags are read for their text). ``ssml_tags`` still names every tag
emotts understands, for hosts that look at it.

Options come from the plugin's block of ``mycroft.conf`` (:data:`OPTION_KEYS`; other keys, such
as the ones ovos-plugin-manager copies in from the ``tts`` section, are left to the template):
``voice`` (an emotts voice; ``default`` or absent: the configured one), ``emotion``,
``intensity``, ``transition_ms``, ``speed``, ``seed``, ``sample_rate``, ``url`` (render on a
remote ``emotts serve``), ``emotts_config`` (an emotts YAML configuration file for in-process
rendering). Under it all is one :class:`~emotts_plugin.adapters.agents.AgentVoice`.

Stopping: :meth:`~EmottsOVOSTTS.stop_rendering` (called by ``stop()``, and by the
``mycroft.stop`` / ``ovos.stop`` / ``mycroft.audio.speech.stop`` / ``ovos.audio.stop`` messages
once ovos-audio has called ``init`` with its bus) ends every render in flight: a stream writes
and plays nothing more (the sentence in the voice model finishes and is dropped; no listening is
triggered), and an utterance being spoken one sentence at a time queues nothing more (the
sentence rendering at the stop is not queued either). ovos-audio's own stop handling only clears
its playback queue, which a stream never enters. A direct ``get_tts`` call renders its whole text.

Errors: bad input raises the library's ``ValueError`` subclasses (a
:class:`~emotts_plugin.errors.MarkupError` for hostile markup, a
:class:`~emotts_plugin.errors.LimitError` for a request over a limit) out of ``execute``/``get_tts``,
before anything is cached or queued; ovos-audio catches exceptions of ``execute``, logs them and
speaks the utterance with its fallback TTS. A remote server that cannot be reached or fails
raises the template's :class:`~ovos_plugin_manager.templates.tts.RemoteTTSException`
(:class:`~ovos_plugin_manager.templates.tts.RemoteTTSTimeoutException` on a timeout). A bad
option (an unknown emotion, an intensity out of range) raises when the plugin is made, which
``OVOSTTSFactory.create`` logs and re-raises.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import hashlib
import json
import logging
import re
import struct
import threading
from typing import TYPE_CHECKING, Any, AsyncIterator, Awaitable, Iterator, TypeVar

import numpy as np
import soundfile

from emotts_plugin import errors
from emotts_plugin.options import SpeechOptions

try:
    from ovos_bus_client.message import Message
    from ovos_plugin_manager.templates.tts import (
        TTS,
        RemoteTTSException,
        RemoteTTSTimeoutException,
        StreamingTTS,
        StreamingTTSCallbacks,
    )
    from ovos_utils import classproperty
except ImportError as exc:  # pragma: no cover - depends on the environment
    raise errors.MissingExtraError(
        "the OpenVoiceOS plugin needs ovos-plugin-manager: pip install 'emotts[ovos]'", extra="ovos"
    ) from exc

from .agents import AgentVoice, Spoken

if TYPE_CHECKING:  # pragma: no cover
    from emotts_plugin.synthesizer import Synthesizer
    from emotts_plugin.timings import Word

_LOGGER = logging.getLogger(__name__)

__all__ = ["EmottsOVOSTTS", "OPTION_KEYS", "STOP_TOPICS", "mouth_track", "voice_configs"]

T = TypeVar("T")

#: Keys of the plugin's configuration block that become :class:`SpeechOptions` fields.
OPTION_KEYS = ("emotion", "intensity", "transition_ms", "speed", "seed", "sample_rate")
#: Messagebus topics that stop every render in flight (legacy and OVOS spec names).
STOP_TOPICS = ("mycroft.stop", "ovos.stop", "mycroft.audio.speech.stop", "ovos.audio.stop")
#: Rate of a remote render when the configuration names none (the server resamples to it).
REMOTE_SAMPLE_RATE = 22050
#: The template's name for "the configured voice".
DEFAULT_VOICE = "default"


class EmottsOVOSTTS(StreamingTTS):
    """emotts as an OpenVoiceOS TTS plugin (entry point ``ovos-tts-plugin-emotts``).

    :param config: the plugin's block of ``mycroft.conf`` (what ``OVOSTTSFactory`` passes).
    :param synthesizer: an in-process synthesizer to render with (embedding, tests); when
        ``None``, one shared by every plugin of this process with the same ``emotts_config``.
    :raises ValueError: a bad option (:class:`~emotts_plugin.errors.ConfigError`,
        :class:`~emotts_plugin.errors.UnknownEmotionError`, an unknown voice).
    """

    def __init__(self, config: dict | None = None, *, synthesizer: "Synthesizer | None" = None, **kwargs):
        # stop() runs from the template's __del__, even when this constructor fails half-way
        self._made = False
        self._renders: set[_Render] = set()
        self._renders_lock = threading.Lock()
        self._stops = 0
        """How many times rendering was stopped: a render compares it with its start."""
        config = dict(config or {})
        url = config.get("url") or None
        options = _options(config, remote=bool(url))
        if url is None and synthesizer is None:
            synthesizer = _shared_synthesizer(config.get("emotts_config"))
        self.voice_engine = AgentVoice(synthesizer, url=url, options=options)
        """What renders: the :class:`AgentVoice` every call goes through."""
        if synthesizer is not None and options.voice is not None:
            _check_voice(synthesizer, options.voice)
        kwargs.setdefault("audio_ext", "wav")
        kwargs.setdefault("ssml_tags", _tag_names(synthesizer))
        super().__init__(config=config, **kwargs)
        self.callbacks: StreamingTTSCallbacks | None = None
        self._made = True

    # -- what the template asks ----------------------------------------------------

    @classproperty
    def available_languages(cls) -> set[str]:
        """Languages of the voices an in-process render with the default configuration offers."""
        return {lang for voice in _shared_synthesizer(None).voices() for lang in voice.languages}

    def preprocess_sentence(self, sentence: str) -> list[str]:
        """The utterance as self-contained sentences (markup open across a cut is re-opened), or
        whole when ``sentence_tokenize`` is false."""
        if not self.config.get("sentence_tokenize", True):
            return [sentence]
        return [fragment.markup for fragment in self._fragments(sentence) if fragment.speakable]

    def validate_ssml(self, utterance: str) -> str:
        """The utterance unchanged: emotts reads its markup itself (see the module docstring)."""
        return utterance

    def get_tts(self, sentence: str, wav_file: str, lang: str | None = None, voice: str | None = None):
        """Render ``sentence`` into ``wav_file`` (16-bit mono WAV).

        :param lang: the session's language: another installed voice speaking it is used when the
            configured one does not (in process); ``None`` keeps the configured voice.
        :param voice: an emotts voice; ``None`` or ``default``: the configured one.
        :returns: ``(wav_file, phonemes)``: ``phonemes`` is the word-timed mouth track
            (:func:`mouth_track`), ``None`` when nothing was spoken.
        :raises ValueError: bad input (nothing is written).
        :raises RemoteTTSException: a remote server that cannot be reached or fails.
        """
        spoken = _run(self._collect(sentence, lang, voice))
        rate = self.voice_engine.sample_rate if not spoken else spoken[0].sample_rate
        pcm = b"".join(item.pcm for item in spoken)
        soundfile.write(wav_file, np.frombuffer(pcm, dtype="<i2"), rate, subtype="PCM_16", format="WAV")
        words = [word for item in spoken for word in item.words]
        duration = len(pcm) / 2 / rate
        return wav_file, (mouth_track(words, duration) if words else None)

    async def stream_tts(
        self, sentence: str, lang: str | None = None, voice: str | None = None
    ) -> AsyncIterator[bytes]:
        """A WAV header (sizes unknown), then each sentence's 16-bit PCM as it is rendered; ends
        early, after the sentence in the voice model, when rendering is stopped.

        :raises ValueError: bad input. :raises RemoteTTSException: a failing remote server.
        """
        with self._rendering() as render:
            yield streaming_wav_header(self.voice_engine.sample_rate)
            async with contextlib.aclosing(self._spoken(sentence, lang, voice, render)) as spoken:
                async for item in spoken:
                    yield item.pcm

    async def generate_audio(
        self, sentence, wav_file, play_streaming=True, listen=False, message=None, plugin_kwargs=None
    ):
        """Stream ``sentence`` into ``wav_file`` (a complete WAV once done) and, with
        ``play_streaming``, to the player as it comes; a stop ends both and triggers no listening."""
        stops = self._stops
        if play_streaming:
            self.callbacks.stream_start(message)
        try:
            with open(wav_file, "wb") as out:
                stream = self.stream_tts(sentence, **(plugin_kwargs or {}))
                async with contextlib.aclosing(stream) as chunks:
                    async for chunk in chunks:
                        if self._stops != stops:
                            break
                        out.write(chunk)
                        if play_streaming:
                            self.callbacks.stream_chunk(chunk)
            finish_wav(wav_file)
        finally:
            if play_streaming:
                self.callbacks.stream_stop(listen and self._stops == stops, message)
        return wav_file

    def init(self, bus=None, playback=None, callbacks=None):
        """Attach to ovos-audio: its bus (stop messages stop rendering) and playback thread.

        The template's streaming player (``StreamingTTSCallbacks``, which needs ffplay, paplay or
        aplay) is made only when ``enable_streaming`` is set and ``callbacks`` is not given.
        """
        TTS.init(self, bus, playback)
        self.callbacks = callbacks
        if callbacks is None and self.config.get("enable_streaming"):
            self.callbacks = StreamingTTSCallbacks(self.bus, tts_config=self.config)
        for topic in STOP_TOPICS:
            self.bus.on(topic, self._on_stop_message)

    def _execute(self, sentence, ident, listen, preprocess=True, **kwargs):
        """Speak one utterance: streamed, or sentence by sentence into the playback queue, stopping
        between sentences when rendering is stopped."""
        if self.config.get("enable_streaming"):
            super()._execute(sentence, ident, listen, preprocess=preprocess, **kwargs)
            return
        stops = self._stops
        ctxt = self._get_ctxt(kwargs)
        if preprocess:
            sentence = self._replace_phonetic_spellings(sentence, ctxt.lang)
            chunks = self.preprocess_sentence(sentence)
        else:
            chunks = [sentence]
        self.add_metric({"metric_type": "tts.preprocessed", "n_chunks": len(chunks)})
        message = kwargs.get("message") or Message("speak", context={"session": {"session_id": ident}})
        for index, chunk in enumerate(chunks):
            if self._stops != stops:
                _LOGGER.info("stopped: %d of %d sentences not spoken", len(chunks) - index, len(chunks))
                return
            audio_file, phonemes = self.synth(chunk, ctxt)
            if self._stops != stops:  # stopped while this one rendered: it is not played either
                _LOGGER.info("stopped: %d of %d sentences not spoken", len(chunks) - index, len(chunks))
                return
            visemes = self._get_visemes(phonemes, chunk, ctxt)
            message.data["utterance"] = chunk
            last = index == len(chunks) - 1
            TTS.queue.put((str(audio_file), visemes, listen and last, ctxt.tts_id, message))
            self.add_metric({"metric_type": "tts.queued"})

    def _get_ctxt(self, kwargs=None):
        """The template's context, with the speaking style in its voice id, so that the sentence
        cache (keyed by plugin, voice and language) keeps a happy and a sad rendering apart."""
        ctxt = super()._get_ctxt(kwargs)
        ctxt.voice = f"{ctxt.voice}~{self._style_id}"
        return ctxt

    @functools.cached_property
    def _style_id(self) -> str:
        options = self.voice_engine.options
        style = {name: getattr(options, name) for name in OPTION_KEYS}
        style.update(url=self.voice_engine.url, emotts_config=self.config.get("emotts_config"))
        return hashlib.sha256(json.dumps(style, sort_keys=True).encode()).hexdigest()[:12]

    # -- stopping ------------------------------------------------------------------

    @contextlib.contextmanager
    def _rendering(self) -> Iterator["_Render"]:
        """A stream in flight, known to :meth:`stop_rendering` while the block runs."""
        render = _Render(asyncio.get_running_loop())
        with self._renders_lock:
            self._renders.add(render)
        try:
            yield render
        finally:
            with self._renders_lock:
                self._renders.discard(render)

    def stop_rendering(self) -> None:
        """End every render in flight (see the module docstring); playback is not touched."""
        with self._renders_lock:
            self._stops += 1
            renders = list(self._renders)
        for render in renders:
            render.stop()

    def stop(self) -> None:
        """The template's stop (ends its playback thread), after stopping every render."""
        self.stop_rendering()
        if self._made:  # a plugin whose options were refused has no playback to stop
            super().stop()

    def _on_stop_message(self, message=None) -> None:
        _LOGGER.debug("stop message %s: stopping renders", getattr(message, "msg_type", None))
        self.stop_rendering()

    # -- rendering -----------------------------------------------------------------

    def _fragments(self, text: str):
        from emotts_plugin.ssml.sentences import SentenceAssembler

        synthesizer = self.voice_engine.synthesizer
        assembler = SentenceAssembler(space=synthesizer.runtime.space if synthesizer else None)
        return [*assembler.feed_fragments(text), *assembler.flush_fragments()]

    def _changes(self, lang: str | None, voice: str | None) -> dict[str, Any]:
        """Per-call option changes for the template's ``lang`` and ``voice``."""
        if voice in (None, "", DEFAULT_VOICE):
            voice = self.voice_engine.options.voice
        synthesizer = self.voice_engine.synthesizer
        if synthesizer is not None and lang:
            voice = _voice_for_language(synthesizer, voice or synthesizer.config.voice, lang)
        return {} if voice is None else {"voice": voice}

    async def _collect(self, text: str, lang: str | None, voice: str | None) -> list[Spoken]:
        async with contextlib.aclosing(self._spoken(text, lang, voice, None)) as spoken:
            return [item async for item in spoken]

    async def _spoken(
        self, text: str, lang: str | None, voice: str | None, render: "_Render | None"
    ) -> AsyncIterator[Spoken]:
        """The sentences of ``text``.

        With ``render``, the text goes to the voice a sentence at a time and ends early when
        ``render`` is stopped: its flag, set at once from any thread, is checked before each
        sentence is asked for and before each is handed on, so nothing starts after a stop even
        while this event loop is busy (writing to the player); the sentence in progress is
        abandoned as soon as the loop learns of the stop.
        """
        changes = self._changes(lang, voice)
        if render is None:
            pieces = [text]
        else:
            pieces = [fragment.markup for fragment in self._fragments(text) if fragment.speakable]
        try:
            for piece in pieces:
                if render is not None and render.requested.is_set():
                    return
                async with contextlib.aclosing(self.voice_engine.say(piece, **changes)) as spoken:
                    items = spoken if render is None else _until_stopped(spoken, render)
                    async for item in items:
                        if render is not None and render.requested.is_set():
                            return
                        for warning in item.warnings:
                            _LOGGER.info("%s", warning)
                        yield item
        except errors.RemoteError as exc:
            if isinstance(exc.__cause__, TimeoutError):
                raise RemoteTTSTimeoutException(str(exc)) from exc
            raise RemoteTTSException(str(exc)) from exc


# --------------------------------------------------------------------------
# Stopping a render
# --------------------------------------------------------------------------


class _Render:
    """A stream in flight, and how :meth:`EmottsOVOSTTS.stop_rendering` reaches it from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.requested = threading.Event()
        """Set at once by :meth:`stop`: checked before anything more is rendered or handed on."""
        self.stopped = asyncio.Event()
        """Set in the render's loop: wakes a render waiting for its sentence."""

    def stop(self) -> None:
        self.requested.set()
        with contextlib.suppress(RuntimeError):  # its loop has closed: nothing left to stop
            self.loop.call_soon_threadsafe(self.stopped.set)


async def _until_stopped(spoken: AsyncIterator[Spoken], render: _Render) -> AsyncIterator[Spoken]:
    """The items of ``spoken`` until ``render`` is stopped; then the step in progress is cancelled,
    which closes ``spoken`` (the sentence in the voice model finishes, nothing after it starts)."""
    stopped = asyncio.ensure_future(render.stopped.wait())
    try:
        while True:
            step = asyncio.ensure_future(anext(spoken))
            await asyncio.wait({step, stopped}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                step.cancel()
                await asyncio.gather(step, return_exceptions=True)
                return
            try:
                item = step.result()
            except StopAsyncIteration:
                return
            if render.requested.is_set():
                return
            yield item
    finally:
        stopped.cancel()


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def _options(config: dict, *, remote: bool) -> SpeechOptions:
    """The :class:`SpeechOptions` of a plugin configuration block.

    :raises ConfigError: a bad value, naming the key.
    """
    values = {name: config[name] for name in OPTION_KEYS if config.get(name) is not None}
    voice = config.get("voice")
    if voice not in (None, "", DEFAULT_VOICE):
        values["voice"] = voice
    if remote:
        values.setdefault("sample_rate", REMOTE_SAMPLE_RATE)
    return SpeechOptions.from_dict(values)


_SYNTHESIZERS: dict[str | None, "Synthesizer"] = {}
_SYNTHESIZERS_LOCK = threading.Lock()


def _shared_synthesizer(config_file: str | None) -> "Synthesizer":
    """One in-process synthesizer per emotts configuration file (``None``: the default one), shared
    by every plugin of the process: ovos-audio makes a new plugin at each configuration change,
    and voices load once."""
    with _SYNTHESIZERS_LOCK:
        synthesizer = _SYNTHESIZERS.get(config_file)
        if synthesizer is None:
            from emotts_plugin.config import load_config
            from emotts_plugin.synthesizer import Synthesizer

            synthesizer = Synthesizer(load_config([config_file] if config_file else None))
            _SYNTHESIZERS[config_file] = synthesizer
        return synthesizer


def _tag_names(synthesizer: "Synthesizer | None") -> list[str]:
    """Every tag emotts reads: the synthesizer's tag table, or the built-in one when remote."""
    if synthesizer is not None:
        names = synthesizer.runtime.tags
    else:
        from emotts_plugin.ssml.tags import BUILTIN_TAGS as names
    return sorted(name for name in names if name != "emotts-root")


def _check_voice(synthesizer: "Synthesizer", voice: str) -> None:
    """:raises UnknownVoiceError: ``voice`` is none of the synthesizer's (the message lists them)."""
    known = sorted(info.name for info in synthesizer.voices())
    if voice not in known:
        raise errors.UnknownVoiceError(
            f"unknown voice {voice!r}; available voices: {', '.join(known)}", voice=voice
        )


def _speaks(info, lang: str) -> bool:
    primary = lang.split("-")[0].lower()
    return any(tag.lower() == lang.lower() or tag.split("-")[0].lower() == primary for tag in info.languages)


def _voice_for_language(synthesizer: "Synthesizer", voice: str, lang: str) -> str:
    """``voice`` when it speaks ``lang``, else the installed voice nearest to it that does.

    :raises UnknownVoiceError: no installed voice speaks ``lang``.
    """
    from emotts_plugin.synthesizer import choose_voice

    voices = {info.name: info for info in synthesizer.voices()}
    info = voices.get(voice)
    if info is None or _speaks(info, lang):
        return voice  # an unknown voice is refused by the render, naming the voices
    chosen, _ = choose_voice(voices.values(), lang, info.gender, voice)
    if not _speaks(voices[chosen], lang):
        raise errors.UnknownVoiceError(
            f"no installed voice speaks {lang!r} (voice {voice!r} speaks {', '.join(info.languages)})",
            voice=voice,
        )
    return chosen


def _run(awaitable: Awaitable[T]) -> T:
    """Run ``awaitable`` to its end from synchronous code (in a worker thread when this thread
    already runs an event loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(awaitable)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, awaitable).result()


# --------------------------------------------------------------------------
# WAV framing for a stream
# --------------------------------------------------------------------------

_UNKNOWN_SIZE = 0xFFFFFFFF


def streaming_wav_header(sample_rate: int) -> bytes:
    """A 44-byte header of a 16-bit mono WAV whose length is not known yet (sizes ``0xFFFFFFFF``,
    as players reading a pipe expect)."""
    return b"".join(
        (
            b"RIFF",
            struct.pack("<I", _UNKNOWN_SIZE),
            b"WAVEfmt ",
            struct.pack("<IHHIIHH", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16),
            b"data",
            struct.pack("<I", _UNKNOWN_SIZE),
        )
    )


def finish_wav(path: str) -> None:
    """Rewrite a streamed WAV (:func:`streaming_wav_header` then 16-bit PCM) as a complete one."""
    with open(path, "rb") as stream:
        data = stream.read()
    if len(data) < 44:
        return
    (sample_rate,) = struct.unpack_from("<I", data, 24)
    pcm = data[44 : 44 + (len(data) - 44) // 2 * 2]
    soundfile.write(path, np.frombuffer(pcm, dtype="<i2"), sample_rate, subtype="PCM_16", format="WAV")


# --------------------------------------------------------------------------
# Mouth track
# --------------------------------------------------------------------------

#: Letter groups → the ARPAbet-like names whose mouth shapes the template's ``VISIMES`` table knows.
_DIGRAPHS = {"th": "th", "sh": "sh", "ch": "ch", "ng": "ng", "ph": "f", "ee": "iy", "oo": "uw", "ou": "aw"}
_LETTERS = {
    **dict(a="aa", e="eh", i="ih", o="ao", u="uw", y="y", w="w", r="r", h="hh", j="jh"),
    **dict(b="b", p="p", m="m", f="f", v="v", s="s", z="z", t="t", d="d", n="n", l="l", g="g"),
    **dict(c="k", k="k", q="k", x="k"),
}
_SILENCE = "pau"
_DIGRAPH = re.compile("|".join(_DIGRAPHS))


def _shapes(word: str) -> list[str]:
    """The mouth shapes of a word, one per letter or letter group (other letters open the mouth)."""
    out, text, i = [], word.lower(), 0
    while i < len(text):
        pair = _DIGRAPH.match(text, i)
        if pair:
            out.append(_DIGRAPHS[pair.group()])
            i = pair.end()
            continue
        char = text[i]
        if char in _LETTERS:
            out.append(_LETTERS[char])
        elif char.isalpha():
            out.append("ah")
        i += 1
    return out or ["ah"]


def mouth_track(words: "list[Word]", duration_s: float) -> str:
    """The template's phoneme string (``name:end_time`` pairs, times cumulative from the start of
    the audio) for a rendering whose word timings are ``words``.

    Each word's letters are spread evenly over the time it is heard, so the mouth moves exactly
    while each word is heard and rests (``pau``) between words and at the ends; the bridge hands
    out words, not phones, so shapes come from spelling.
    """
    pairs: list[tuple[str, float]] = []
    at = 0.0
    for word in sorted(words, key=lambda w: w.start_s):
        start, end = max(word.start_s, at), max(word.end_s, at)
        if start > at + 1e-3:
            pairs.append((_SILENCE, start))
        shapes = _shapes(word.text)
        step = (end - start) / len(shapes)
        pairs.extend((shape, start + step * (n + 1)) for n, shape in enumerate(shapes))
        at = end
    if duration_s > at + 1e-3:
        pairs.append((_SILENCE, duration_s))
    return " ".join(f"{name}:{end:.3f}" for name, end in pairs)


# --------------------------------------------------------------------------
# Voice listing (ovos-plugin-manager's ``opm.tts.config``)
# --------------------------------------------------------------------------


def voice_configs(synthesizer: "Synthesizer | None" = None) -> dict[str, list[dict[str, Any]]]:
    """Language → the configurations ovos-plugin-manager offers (what a ``opm.tts.config`` entry
    point holds): each installed voice, plainly and once per emotion preset.

    :param synthesizer: whose voices and presets; the shared default one when ``None``.
    """
    synthesizer = synthesizer or _shared_synthesizer(None)
    labels = [label for label in synthesizer.runtime.space.labels if label != "neutral"]
    configs: dict[str, list[dict[str, Any]]] = {}
    for info in synthesizer.voices():
        meta = {"gender": info.gender, "offline": True}
        for lang in info.languages:
            entries = configs.setdefault(lang, [])
            entries.append({"voice": info.name, "meta": {**meta, "display_name": info.name, "priority": 40}})
            entries.extend(
                {
                    "voice": info.name,
                    "emotion": label,
                    "meta": {**meta, "display_name": f"{info.name} ({label})", "priority": 45},
                }
                for label in labels
            )
    return configs


def __getattr__(name: str) -> Any:
    """``EmottsOVOSTTSConfig``, made on first use (it lists the installed voices), so that an
    ``opm.tts.config`` entry point may name it without slowing every plugin scan down."""
    if name == "EmottsOVOSTTSConfig":
        return voice_configs()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
