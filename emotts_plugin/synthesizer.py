"""Text or markup in, emotional speech out: :class:`Synthesizer`.

``stream()`` is the core: it parses, groups the plan into utterances, and for
each one renders the voice, turns the targets into control curves (gliding at
emotion changes), shapes the audio with the emotion DSP and yields it with the
silence that follows — sentence by sentence, so the first audio leaves before
the rest is rendered and memory stays bounded on long input.
``synthesize()`` is a thin wrapper that joins the chunks.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

import numpy as np

from . import audio as audio_utils
from . import timings
from .cache import RenderCache, RenderedUtterance, content_key
from .config import Config, Limits, MarkupMode, load_config
from .emotion import EmotionVector
from .errors import ConfigError, LimitError, MarkupError, PluginError, UnknownVoiceError, VoiceFileError
from .models.base import RenderPiece, RenderWarning, VoiceBackend
from .options import SpeechOptions, with_changes
from .plan import ParseWarning, Plan, auto_voice_gender
from .planner import (
    FRAME_S,
    Calibration,
    Utterance,
    audio_budget,
    controls,
    frame_levels_db,
    load_calibrations,
    utterances,
)
from .runtime import Runtime

if TYPE_CHECKING:  # pragma: no cover
    from .models.base import Rendered, VoiceInfo

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")


class Chunks(Iterator[T]):
    """The chunks of a render, produced as they are taken, with how many are left known
    (``operator.length_hint``): a caller stepping through them on render threads takes the last
    without one more step only to find the end."""

    def __init__(self, chunks: Iterator[T], count: int, *, source: Any = None) -> None:
        self._chunks = chunks
        self._left = count
        self._source = chunks if source is None else source  # what close() stops

    def __next__(self) -> T:
        chunk = next(self._chunks)
        self._left -= 1
        return chunk

    def __length_hint__(self) -> int:
        return max(0, self._left)

    def close(self) -> None:
        """Stop rendering (the rest is never rendered)."""
        close = getattr(self._source, "close", None)
        if close is not None:
            close()

    def map(self, fn: Callable[[T], U]) -> "Chunks[U]":
        """``fn`` of each chunk as it is taken, still counted; closing it closes this."""
        return Chunks(map(fn, self), self._left, source=self)


@dataclass(frozen=True, slots=True)
class Mark:
    """A ``<mark>`` and when it is reached."""

    name: str
    """The mark's name."""
    time_s: float
    """Seconds from the start of the output."""


@dataclass(frozen=True, slots=True)
class Span:
    """Where a plan segment (or part of it) is heard."""

    segment: int
    """Index of the segment in the plan."""
    start_s: float
    """Start, seconds from the start of the output."""
    end_s: float
    """End, seconds from the start of the output."""


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """One utterance of output with the silence around it."""

    audio: np.ndarray
    """float32 mono samples in [-1, 1]."""
    sample_rate: int
    """Samples per second."""
    start_s: float
    """Where this chunk starts in the whole output."""
    text: str
    """What the chunk says."""
    marks: tuple[Mark, ...] = ()
    """Marks reached in this chunk (times from the start of the output)."""
    warnings: tuple[ParseWarning | RenderWarning, ...] = ()
    """Problems met while rendering this chunk (parse warnings come with the first); the edges
    print them with ``str()``."""
    spoken: bool = True
    """False when the voice could say none of the chunk's text (the chunk is silence)."""
    spans: tuple[Span, ...] = ()
    """Where each segment of the plan is heard in this chunk (times from the start of the output)."""
    words: tuple[timings.Word, ...] = ()
    """Each word spoken in this chunk, when it is heard (times from the start of the output)."""
    visemes: tuple[timings.Viseme, ...] = ()
    """Mouth shapes covering the chunk from its start to its end; empty when the voice gave no phones."""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def check_budget(plan: Plan, limits: Limits) -> None:
    """Refuse a plan whose breaks or audio would exceed ``limits.max_break_s`` or
    ``limits.max_audio_s`` (:class:`LimitError`), before anything is rendered."""
    budget = audio_budget(plan)
    if budget.break_s > limits.max_break_s:
        raise LimitError(
            f"the input asks for {budget.break_s:,.1f} s of breaks; "
            f"at most {limits.max_break_s:g} s are allowed (limits.max_break_s)",
            limit="limits.max_break_s",
            value=budget.break_s,
            allowed=limits.max_break_s,
        )
    if budget.total_s > limits.max_audio_s:
        raise LimitError(
            f"the input would make at least {budget.total_s:,.0f} s of audio "
            f"({budget.speech_s:,.0f} s of speech, {budget.break_s:,.1f} s of breaks); "
            f"at most {limits.max_audio_s:g} s are allowed (limits.max_audio_s)",
            limit="limits.max_audio_s",
            value=budget.total_s,
            allowed=limits.max_audio_s,
        )


def _over_audio_limit(seconds: float, limits: Limits) -> LimitError:
    return LimitError(
        f"the input made more than {limits.max_audio_s:g} s of audio; rendering stopped (limits.max_audio_s)",
        limit="limits.max_audio_s",
        value=seconds,
        allowed=limits.max_audio_s,
    )


def check_spoken(chunks: Iterable[AudioChunk]) -> None:
    """Raise :class:`MarkupError` when no chunk held anything the voice could say."""
    chunks = list(chunks)
    if chunks and not any(chunk.spoken for chunk in chunks):
        reasons = "; ".join(str(w) for chunk in chunks for w in chunk.warnings)
        raise MarkupError(f"the voice could say none of the input ({reasons})", line=1, column=1)


@dataclass(frozen=True, slots=True)
class Synthesis:
    """A whole rendered input."""

    audio: np.ndarray
    """float32 mono samples in [-1, 1]."""
    sample_rate: int
    """Samples per second."""
    marks: tuple[Mark, ...] = ()
    """Every ``<mark>`` with its time."""
    warnings: tuple[ParseWarning | RenderWarning, ...] = ()
    """Parse repairs and rendering problems."""
    spans: tuple[Span, ...] = ()
    """Where each segment of the plan is heard."""
    plan: Plan | None = None
    """The plan that was rendered."""
    timings: timings.Timings = timings.Timings()
    """Sentences, words, marks and visemes placed in time."""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


class Synthesizer:
    """Load voices once, then render any number of inputs.

    ``Synthesizer()`` uses the plugin.yaml defaults (and ``$EMOTTS_CONFIG``).
    Thread-safe: renders may run concurrently from several threads.
    """

    def __init__(
        self,
        config: Config | None = None,
        *,
        runtime: Runtime | None = None,
        plugins: Iterable[str | Any] = (),
    ) -> None:
        self.runtime = runtime or Runtime(config or load_config(), plugins=plugins)
        self.config = self.runtime.config
        self._backends = {}
        self._voices = {}
        self._unusable: dict[str, VoiceInfo] = {}
        """Voices whose files are broken (their backend named them in a warning), never offered."""
        for spec in self.runtime.voice_backends():
            backend = spec.factory(self.config)
            if backend is None:
                continue
            if not isinstance(backend, VoiceBackend):
                raise PluginError(
                    f"voice backend {spec.name!r} is a {type(backend).__name__}, which does not subclass "
                    "emotts_plugin.models.base.VoiceBackend",
                    plugin=spec.name,
                )
            self._backends[spec.name] = backend
            for info in backend.voices():
                if info.problem:
                    self._unusable.setdefault(info.name, info)
                else:
                    self._voices.setdefault(info.name, (backend, info))
        self.calibrations = load_calibrations()
        """Voice name (or ``default``) → :class:`Calibration` in use."""
        self._check_voice(self.config.voice)
        self._backend(self.config.voice).load(self.config.voice)
        cache = self.config.cache
        self.cache = RenderCache(cache.memory_mb * 2**20, cache.dir, cache.disk_mb * 2**20)
        """Rendered utterances (:mod:`emotts_plugin.cache`), shared by every caller of this synthesizer."""

    # -- voices -------------------------------------------------------------------

    def voices(self):
        """Every voice the loaded backends offer (:class:`~emotts_plugin.models.base.VoiceInfo`)."""
        return [info for _, info in self._voices.values()]

    def unusable_voices(self):
        """The voices found but refused (broken files), each with its ``problem``."""
        return list(self._unusable.values())

    def _check_voice(self, name: str) -> None:
        if name in self._voices:
            return
        if name in self._unusable:
            raise VoiceFileError(self._unusable[name].problem, voice=name)
        if name not in self._voices:
            known = ", ".join(sorted(self._voices)) or "none"
            raise UnknownVoiceError(f"unknown voice {name!r}; available voices: {known}", voice=name)

    def _backend(self, name: str) -> VoiceBackend:
        return self._voices[name][0]

    def calibration(self, voice: str) -> Calibration:
        """Calibration used for ``voice``."""
        return self.calibrations.get(voice) or self.calibrations.get("default") or Calibration()

    # -- rendering ----------------------------------------------------------------

    def _call_config(self, options: SpeechOptions) -> Config:
        changes = options.config_changes()
        if not changes:
            return self.config
        try:
            config = dataclasses.replace(self.config, **changes)
            config.validate()
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        if options.emotion is not None:
            self.runtime.space.parse_mixture(options.emotion)  # unknown emotion: clear error now
        return config

    def stream(self, text: str, options: SpeechOptions | None = None, **changes: Any) -> Chunks[AudioChunk]:
        """Render ``text`` (plain text or any supported markup) sentence by sentence: the input is
        parsed at the call (its errors raise here), each sentence rendered as its chunk is taken.

        :param options: how to speak it (:class:`~emotts_plugin.options.SpeechOptions`: voice,
            emotion, intensity, transition, mode, seed, sample rate, speed, reference); the
            configuration's values where ``None``.
        :param changes: fields of ``options`` to change for this call (``emotion="happy"``).
        :raises ValueError: for empty input, unknown voice or emotion, a bad option, bad markup (strict).
        """
        options = with_changes(options, changes)
        plan, config = self.plan(text, options)
        return self.render_plan(plan, config, options=options, source=text)

    def plan(self, text: str, options: SpeechOptions | None = None, **changes: Any) -> tuple[Plan, Config]:
        """Parse ``text`` with per-call options (as :meth:`stream`); the plan and the configuration
        it was made with. ``speed`` and ``reference`` are composed into every segment's targets."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        options = with_changes(options, changes)
        config = self._call_config(options)
        self._check_voice(config.voice)
        plan = self.runtime.parse(text, mode=options.mode, config=config)
        if not plan.segments:
            raise MarkupError("nothing to say: the input has no words", line=1, column=1)
        if options.reference is not None:
            from .reference import blend

            vector = getattr(options.reference, "vector", options.reference)
            plan = blend(plan, self.runtime.space, vector, options.reference_weight)
        if any(auto_voice_gender(segment.voice) is not None for segment in plan.segments):
            plan = self._choose_voices(plan, config.voice)
        if options.speed != 1.0:
            delta = EmotionVector(rate=options.speed, pause=1.0 / options.speed)
            segments = tuple(dataclasses.replace(s, targets=s.targets.compose(delta)) for s in plan.segments)
            plan = dataclasses.replace(plan, segments=segments)
        check_budget(plan, config.limits)
        return plan, config

    def _choose_voices(self, plan: Plan, default: str) -> Plan:
        """Segments whose ``<voice>`` asked by language or gender (voice ``auto[:GENDER]``) get the
        nearest installed voice: one that speaks the language (or its primary subtag), of the
        gender if one does; a warning says what could not be matched."""
        segments, warnings = [], list(plan.warnings)
        for segment in plan.segments:
            gender = auto_voice_gender(segment.voice)
            if gender is None:
                segments.append(segment)
                continue
            name, problem = choose_voice(self.voices(), segment.lang, gender, default)
            if problem:
                warnings.append(ParseWarning(f"<voice> for {segment.text[:30]!r}: {problem}", 1, 1))
            segments.append(dataclasses.replace(segment, voice=name))
        return dataclasses.replace(plan, segments=tuple(segments), warnings=tuple(warnings))

    def render_plan(
        self,
        plan: Plan,
        config: Config,
        *,
        options: SpeechOptions | None = None,
        batch: bool = False,
        source: str | None = None,
    ) -> Chunks[AudioChunk]:
        """Render a plan from :meth:`plan` utterance by utterance (see :meth:`stream`).

        :param options: the options the plan was made with; its ``mode`` (a voice that is not
            available), ``seed`` and ``sample_rate`` are used here.
        :param batch: first render every utterance not in the cache in one pass of the voice
            model, where its backend does that faster (the torch engine on CUDA); the first
            chunk then comes when all are rendered.
        :param source: the text the plan was parsed from; its words' character spans are then given
            (:attr:`~emotts_plugin.timings.Word.source`).
        """
        options = options or SpeechOptions()
        items = utterances(plan, default_voice=config.voice, transition_ms=config.transition_ms)
        items = [self._usable_voice(utt, config, options.mode) for utt in items]
        spans = timings.source_spans(plan, source) if source is not None else None
        chunks = self._render_items(plan, config, items, options.seed, options.sample_rate, batch, spans)
        return Chunks(chunks, len(items))

    def _render_items(
        self,
        plan: Plan,
        config: Config,
        items: list,
        seed: int | None,
        sample_rate: int | None,
        batch: bool,
        source_spans: list[list[tuple[int, int] | None]] | None,
    ) -> Iterator[AudioChunk]:
        pending_warnings: list[ParseWarning | RenderWarning] = list(plan.warnings)
        said: dict[int, int] = {}  # words of each segment placed so far
        out_rate = sample_rate or self._voices[config.voice][1].sample_rate
        offset_s = 0.0
        seeds = [None if seed is None else seed + index for index in range(len(items))]
        voiced = self._render_voices_at_once([utt for utt, _ in items], seeds) if batch else {}
        for index, (utt, voice_warning) in enumerate(items):
            rendered = self._render_cached(utt, seed=seeds[index], voiced=voiced.get(index))
            chunk_audio = rendered.audio
            if rendered.sample_rate != out_rate:
                chunk_audio = audio_utils.resample(chunk_audio, rendered.sample_rate, out_rate)
            chunk = AudioChunk(
                audio=chunk_audio,
                sample_rate=out_rate,
                start_s=offset_s,
                text=_joined(piece.text for piece in utt.pieces),
                marks=tuple(Mark(name, offset_s + t) for name, t in rendered.marks),
                warnings=(*pending_warnings, *voice_warning, *rendered.warnings),
                spoken=rendered.spoken,
                spans=tuple(
                    Span(seg, offset_s + start, offset_s + end) for seg, start, end in rendered.spans
                ),
                words=self._words(utt, rendered, offset_s, said, source_spans),
                visemes=tuple(timings.Viseme(v, offset_s + a, offset_s + b) for v, a, b in rendered.visemes),
            )
            pending_warnings = []
            offset_s += chunk.duration_s
            if offset_s > config.limits.max_audio_s:
                # the floor estimate let it in (a slow voice, long silences): an error, not a cut
                raise _over_audio_limit(offset_s, config.limits)
            yield chunk

    @staticmethod
    def _words(
        utt: Utterance,
        rendered: RenderedUtterance,
        offset_s: float,
        said: dict[int, int],
        source_spans: list[list[tuple[int, int] | None]] | None,
    ) -> tuple[timings.Word, ...]:
        """The chunk's :class:`~emotts_plugin.timings.Word`s; ``said`` counts each segment's words
        placed by earlier chunks (a segment's sentences may fall in several)."""
        first_word: list[int] = []
        tokens: list[list[str]] = []
        for piece in utt.pieces:
            first_word.append(said.get(piece.segment, 0))
            tokens.append(timings.word_tokens(piece.text))
            said[piece.segment] = first_word[-1] + len(tokens[-1])
        words = []
        for piece_index, index, start, end in rendered.words:
            segment = utt.pieces[piece_index].segment
            source = None
            if source_spans is not None:
                spans = source_spans[segment]
                at = first_word[piece_index] + index
                source = spans[at] if at < len(spans) else None
            words.append(
                timings.Word(tokens[piece_index][index], offset_s + start, offset_s + end, segment, source)
            )
        return tuple(words)

    def synthesize(self, text: str, options: SpeechOptions | None = None, **changes: Any) -> Synthesis:
        """Render ``text`` whole; takes the same options as :meth:`stream`."""
        options = with_changes(options, changes)
        plan, config = self.plan(text, options)
        chunks = list(self.render_plan(plan, config, options=options, batch=True, source=text))
        check_spoken(chunks)
        audio = np.concatenate([chunk.audio for chunk in chunks]) if chunks else np.zeros(0, np.float32)
        return Synthesis(
            audio=audio,
            sample_rate=chunks[0].sample_rate,
            marks=tuple(mark for chunk in chunks for mark in chunk.marks),
            warnings=tuple(w for chunk in chunks for w in chunk.warnings),
            spans=tuple(span for chunk in chunks for span in chunk.spans),
            plan=plan,
            timings=timings.Timings.of_chunks(chunks),
        )

    def _usable_voice(self, utt: Utterance, config: Config, mode) -> tuple[Utterance, list[RenderWarning]]:
        if utt.voice in self._voices:
            return utt, []
        known = ", ".join(sorted(self._voices))
        broken = self._unusable.get(utt.voice)
        message = broken.problem if broken else f"voice {utt.voice!r} is not available (voices: {known})"
        if MarkupMode(mode or config.markup_mode) is MarkupMode.STRICT:
            if broken:
                raise VoiceFileError(message, voice=utt.voice)
            raise UnknownVoiceError(message, voice=utt.voice)
        warning = RenderWarning(f"{message}; spoken with {config.voice!r}")
        return dataclasses.replace(utt, voice=config.voice), [warning]

    def _cache_key(self, utt: Utterance, seed: int | None) -> tuple[str, int | None]:
        """The cache key of ``utt`` and the seed it renders with: without a seed the utterance's
        content seeds the voice's noise."""
        base = content_key(
            {
                "utterance": utt,
                "calibration": self.calibration(utt.voice),
                "voice": self._voices[utt.voice][1],
                "noise": self.config.noise,
                "plugins": sorted(name for name, _ in self.runtime.pm.list_name_plugin()),
            }
        )
        if seed is None and self.config.noise:
            seed = int(base[:8], 16) & 0x7FFFFFFF
        return content_key({"utterance": base, "seed": seed}), seed

    def _pieces(self, utt: Utterance) -> list[RenderPiece]:
        return [RenderPiece(p.text, p.targets, p.transition_ms) for p in utt.pieces]

    def _render_voices_at_once(self, utts: list[Utterance], seeds: list[int | None]) -> dict[int, Rendered]:
        """The voice model's output for each utterance not in the cache whose backend's batches
        pay (:attr:`~emotts_plugin.models.base.VoiceBackend.batch_pays`: the torch engine on CUDA;
        on a CPU a batch of 4 took 1.8× as long as one by one), one pass per voice."""
        if len(utts) < 2 or not any(self._backend(utt.voice).batch_pays for utt in utts):
            return {}
        groups: dict[str, list[int]] = {}
        keyed = [self._cache_key(utt, seed) for utt, seed in zip(utts, seeds)]
        for index, utt in enumerate(utts):
            cached = self.cache.enabled and keyed[index][0] in self.cache
            if self._backend(utt.voice).batch_pays and not cached:
                groups.setdefault(utt.voice, []).append(index)
        voiced: dict[int, Rendered] = {}
        for voice, indices in groups.items():
            if len(indices) < 2:
                continue
            out = self._backend(voice).render_batch(
                voice,
                [self._pieces(utts[i]) for i in indices],
                noise=self.config.noise,
                seeds=[keyed[i][1] for i in indices],
            )
            voiced.update(zip(indices, out))
        return voiced

    def _render_cached(
        self, utt: Utterance, *, seed: int | None, voiced: Rendered | None = None
    ) -> RenderedUtterance:
        """:meth:`_render` through the cache (``voiced``: the voice model's output, when a batch made it)."""
        key, seed = self._cache_key(utt, seed)
        if not self.cache.enabled:
            return self._render(utt, seed=seed, voiced=voiced)
        cached = self.cache.get(key)
        if cached is not None:
            return cached
        rendered = self._render(utt, seed=seed, voiced=voiced)
        rendered.audio.setflags(write=False)  # shared with the cache from now on
        self.cache.put(key, rendered)
        return rendered

    def _render(
        self, utt: Utterance, *, seed: int | None, voiced: Rendered | None = None
    ) -> RenderedUtterance:
        """One utterance: backend (unless ``voiced`` holds its output) → control curves → DSP →
        fades and silences."""
        from .models.dsp import shape

        rendered = voiced
        if rendered is None:
            backend = self._backend(utt.voice)
            rendered = backend.render(utt.voice, self._pieces(utt), noise=self.config.noise, seed=seed)
        rate = rendered.sample_rate
        voice_audio = rendered.audio
        before = audio_utils.silence(utt.silence_before_ms, rate)
        after = audio_utils.silence(utt.silence_after_ms, rate)
        if len(voice_audio) == 0:
            silent = np.concatenate([before, after])
            visemes = ((0, 0.0, len(silent) / rate),) if len(silent) else ()
            return RenderedUtterance(silent, rate, (), (), rendered.warnings, False, visemes=visemes)
        calibration = self.calibration(utt.voice)
        starts_s = [start / rate for start in rendered.piece_starts]
        curves = controls(
            [calibration.command(piece.targets.clamped()[0]) for piece in utt.pieces],
            starts_s,
            [piece.transition_ms for piece in utt.pieces],
            frame_levels_db(voice_audio, rate),
            ends_sentence=utt.ends_sentence,
            native=rendered.native,
        )
        shaped = shape(voice_audio, rate, curves, seed=seed or 0)
        frame_times = np.arange(len(shaped.time_map)) * FRAME_S
        lead = len(before) / rate

        def heard(samples: np.ndarray | list[int]) -> np.ndarray:
            """Output seconds (from the utterance's start) of input sample offsets."""
            return lead + np.interp(
                np.asarray(samples, dtype=np.float64) / rate, frame_times, shaped.time_map
            )

        out_starts = [float(t) for t in heard(rendered.piece_starts)]
        out_ends = out_starts[1:] + [lead + len(shaped.audio) / rate]
        spans = tuple(
            (piece.segment, start, end) for piece, start, end in zip(utt.pieces, out_starts, out_ends)
        )
        marks = tuple((name, start) for piece, start in zip(utt.pieces, out_starts) for name in piece.marks)
        processed = self.runtime.pm.hook.emotts_postprocess_audio(
            audio=shaped.audio, sample_rate=rate, config=self.config
        )
        faded = audio_utils.fade_edges(np.asarray(processed, dtype=np.float32), rate)
        audio = np.concatenate([before, faded, after])
        bleeps = [(start, end) for piece, (_, start, end) in zip(utt.pieces, spans) if piece.bleep]
        if bleeps:
            audio = audio_utils.bleep(audio, rate, bleeps)
        words, visemes = self._timings(utt, rendered, heard, len(audio) / rate)
        return RenderedUtterance(audio, rate, marks, spans, rendered.warnings, True, words, visemes)

    @staticmethod
    def _timings(utt: Utterance, rendered: Rendered, heard, total_s: float):
        """Words and visemes of one utterance in output seconds (``heard`` maps input samples)."""
        n = len(rendered.audio)
        bounds = list(zip(rendered.piece_starts, [*rendered.piece_starts[1:], n]))
        placed = timings.place_words([piece.text for piece in utt.pieces], rendered.phones, bounds)
        edges = heard([sample for _, _, a, b in placed for sample in (a, b)]) if placed else []

        def at(t) -> float:  # rounded, never past the end
            return min(round(float(t), 4), total_s)

        words = tuple(
            (piece, index, at(edges[2 * k]), at(edges[2 * k + 1]))
            for k, (piece, index, _, _) in enumerate(placed)
        )
        if not rendered.phones:
            return words, ()
        spans = timings.visemes(rendered.phones, n)
        cuts = [0.0, *(at(t) for t in heard([start for _, start, _ in spans] + [n])), total_s]
        out: list[list] = []
        for vid, start, end in zip([0, *(vid for vid, _, _ in spans), 0], cuts[:-1], cuts[1:]):
            if end <= start:
                continue
            if out and out[-1][0] == vid:
                out[-1][2] = end
            else:
                out.append([vid, start, end])
        visemes = tuple((vid, start, end) for vid, start, end in out)
        return words, visemes


def _joined(texts: Iterable[str]) -> str:
    """Piece texts as one line: a space between them, none before closing punctuation."""
    out = ""
    for text in texts:
        if out and text and not (text[0] in ".,;:!?…)]}\"'" or out[-1].isspace()):
            out += " "
        out += text
    return out


def choose_voice(voices, lang: str, gender: str, default: str) -> tuple[str, str | None]:
    """The installed voice nearest to ``lang`` and ``gender`` (``""``: any) and what did not match.

    A voice speaking ``lang`` exactly beats one speaking its primary subtag (``fr`` for ``fr-CA``);
    among those a voice of the gender wins, then the default voice, then the first by name. With
    no voice for the language, ``default`` is kept.
    """
    usable = [voice for voice in voices if not voice.problem]
    primary = lang.split("-")[0].lower()

    def rank(voice) -> tuple[int, int, int, str]:
        tags = [tag.lower() for tag in voice.languages]
        language = 0 if lang.lower() in tags else 1 if primary in (tag.split("-")[0] for tag in tags) else 2
        return (
            language,
            0 if gender and voice.gender == gender else 1,
            0 if voice.name == default else 1,
            voice.name,
        )

    best = min(usable, key=rank, default=None)
    if best is None or rank(best)[0] == 2:
        return default, f"no installed voice speaks {lang}; {default} is used"
    if gender and best.gender != gender:
        return best.name, f"no {gender} voice speaks {lang}; {best.name} is used"
    return best.name, None
