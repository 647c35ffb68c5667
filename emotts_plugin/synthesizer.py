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
from .cache import Entry, RenderCache, content_key
from .config import Config, Limits, MarkupMode, load_config
from .errors import ConfigError, LimitError, MarkupError, UnknownVoiceError, VoiceFileError
from .plan import Plan
from .planner import (
    FRAME_S,
    Calibration,
    Utterance,
    audio_budget,
    contour_curve,
    frame_levels_db,
    load_calibrations,
    pause_mask,
    speech_end_s,
    target_curves,
    utterances,
)
from .runtime import Runtime

if TYPE_CHECKING:  # pragma: no cover
    from .emotion import EmotionVector
    from .models.base import VoiceInfo
    from .reference import Analysis

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")
U = TypeVar("U")

#: Bounds of the local time-stretch handed to the DSP (PSOLA holds at most 3× its input).
MIN_STRETCH, MAX_STRETCH = 0.25, 3.0


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
class _Utterance:
    """One rendered utterance before it becomes a chunk (times relative to its start)."""

    audio: np.ndarray
    sample_rate: int
    marks: list[tuple[str, float]]
    spans: list[tuple[int, float, float]]
    warnings: tuple[str, ...]
    spoken: bool


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
    warnings: tuple[str, ...] = ()
    """Problems met while rendering this chunk (parse warnings come with the first)."""
    spoken: bool = True
    """False when the voice could say none of the chunk's text (the chunk is silence)."""
    spans: tuple[Span, ...] = ()
    """Where each segment of the plan is heard in this chunk (times from the start of the output)."""

    @property
    def duration_s(self) -> float:
        return len(self.audio) / self.sample_rate


def check_budget(plan: Plan, limits: Limits) -> None:
    """Refuse a plan whose breaks or audio would exceed ``limits.max_break_s`` or
    ``limits.max_audio_s`` (:class:`LimitError`), before anything is rendered."""
    budget = audio_budget(plan)
    if budget.break_s > limits.max_break_s:
        raise LimitError(
            f"the input asks for {budget.break_s:,.1f} s of breaks; at most {limits.max_break_s:g} s are allowed "
            "(limits.max_break_s)",
            limit="limits.max_break_s", value=budget.break_s, allowed=limits.max_break_s,
        )
    if budget.total_s > limits.max_audio_s:
        raise LimitError(
            f"the input would make at least {budget.total_s:,.0f} s of audio ({budget.speech_s:,.0f} s of speech, "
            f"{budget.break_s:,.1f} s of breaks); at most {limits.max_audio_s:g} s are allowed (limits.max_audio_s)",
            limit="limits.max_audio_s", value=budget.total_s, allowed=limits.max_audio_s,
        )


def _over_audio_limit(seconds: float, limits: Limits) -> LimitError:
    return LimitError(
        f"the input made more than {limits.max_audio_s:g} s of audio; rendering stopped (limits.max_audio_s)",
        limit="limits.max_audio_s", value=seconds, allowed=limits.max_audio_s,
    )


def check_spoken(chunks: Iterable[AudioChunk]) -> None:
    """Raise :class:`MarkupError` when no chunk held anything the voice could say."""
    chunks = list(chunks)
    if chunks and not any(chunk.spoken for chunk in chunks):
        reasons = "; ".join(w for chunk in chunks for w in chunk.warnings)
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
    warnings: tuple[str, ...] = ()
    """Parse repairs and rendering problems."""
    spans: tuple[Span, ...] = ()
    """Where each segment of the plan is heard."""
    plan: Plan | None = None
    """The plan that was rendered."""

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

    def _check_voice(self, name: str) -> None:
        if name in self._voices:
            return
        if name in self._unusable:
            raise VoiceFileError(self._unusable[name].problem, voice=name)
        if name not in self._voices:
            known = ", ".join(sorted(self._voices)) or "none"
            raise UnknownVoiceError(f"unknown voice {name!r}; available voices: {known}", voice=name)

    def _backend(self, name: str):
        return self._voices[name][0]

    def calibration(self, voice: str) -> Calibration:
        """Calibration used for ``voice``."""
        return self.calibrations.get(voice) or self.calibrations.get("default") or Calibration()

    # -- rendering ----------------------------------------------------------------

    def _call_config(self, voice, emotion, intensity, transition_ms) -> Config:
        changes = {
            key: value
            for key, value in {"voice": voice, "emotion": emotion, "intensity": intensity, "transition_ms": transition_ms}.items()
            if value is not None
        }
        if not changes:
            return self.config
        try:
            config = dataclasses.replace(self.config, **changes)
            config.validate()
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from exc
        if emotion is not None:
            self.runtime.space.parse_mixture(emotion)  # unknown emotion: clear error now
        return config

    def stream(
        self,
        text: str,
        *,
        voice: str | None = None,
        emotion: str | None = None,
        intensity: float | None = None,
        transition_ms: float | None = None,
        mode: MarkupMode | str | None = None,
        seed: int | None = None,
        sample_rate: int | None = None,
        reference: "EmotionVector | Analysis | None" = None,
        reference_weight: float = 1.0,
    ) -> Chunks[AudioChunk]:
        """Render ``text`` (plain text or any supported markup) sentence by sentence: the input is
        parsed at the call (its errors raise here), each sentence rendered as its chunk is taken.

        :param voice: default voice for text whose markup names none.
        :param emotion: emotion (label, alias or mixture) of text outside emotion tags.
        :param intensity: intensity 0..1 of ``emotion``.
        :param transition_ms: glide time at emotion changes (0 switches glides off).
        :param mode: ``strict`` or ``lenient`` markup reading.
        :param seed: seed for the voice's noise; without one, each sentence's content seeds it, so the
            same sentence is said the same way (and comes from the cache the second time).
        :param sample_rate: output rate; the default voice's own rate when ``None``
            (utterances in other voices are resampled to it).
        :param reference: the manner of a reference recording (:func:`emotts_plugin.reference.analyze`,
            or its vector), blended into every segment's emotion.
        :param reference_weight: 0..1, how far towards the reference (1: its manner alone).
        :raises ValueError: for empty input, unknown voice or emotion, bad markup (strict).
        """
        plan, config = self.plan(
            text, voice=voice, emotion=emotion, intensity=intensity, transition_ms=transition_ms, mode=mode,
            reference=reference, reference_weight=reference_weight,
        )
        return self.render_plan(plan, config, mode=mode, seed=seed, sample_rate=sample_rate)

    def plan(
        self,
        text: str,
        *,
        voice: str | None = None,
        emotion: str | None = None,
        intensity: float | None = None,
        transition_ms: float | None = None,
        mode: MarkupMode | str | None = None,
        reference: "EmotionVector | Analysis | None" = None,
        reference_weight: float = 1.0,
    ) -> tuple[Plan, Config]:
        """Parse ``text`` with per-call options; the plan and the configuration it was made with."""
        if not isinstance(text, str):
            raise TypeError(f"text must be str, got {type(text).__name__}")
        config = self._call_config(voice, emotion, intensity, transition_ms)
        self._check_voice(config.voice)
        plan = self.runtime.parse(text, mode=mode, config=config)
        if not plan.segments:
            raise MarkupError("nothing to say: the input has no words", line=1, column=1)
        if reference is not None:
            from .reference import blend

            plan = blend(plan, self.runtime.space, getattr(reference, "vector", reference), reference_weight)
        check_budget(plan, config.limits)
        return plan, config

    def render_plan(
        self,
        plan: Plan,
        config: Config,
        *,
        mode: MarkupMode | str | None = None,
        seed: int | None = None,
        sample_rate: int | None = None,
        batch: bool = False,
    ) -> Chunks[AudioChunk]:
        """Render a plan from :meth:`plan` utterance by utterance (see :meth:`stream`).

        :param batch: first render every utterance not in the cache in one pass of the voice
            model, where its backend does that faster (the torch engine on CUDA); the first
            chunk then comes when all are rendered.
        """
        items = utterances(plan, default_voice=config.voice, transition_ms=config.transition_ms)
        items = [self._usable_voice(utt, config, mode) for utt in items]
        return Chunks(self._render_items(plan, config, items, seed, sample_rate, batch), len(items))

    def _render_items(
        self, plan: Plan, config: Config, items: list, seed: int | None, sample_rate: int | None, batch: bool
    ) -> Iterator[AudioChunk]:
        pending_warnings = [str(w) for w in plan.warnings]
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
                text=" ".join(piece.text for piece in utt.pieces),
                marks=tuple(Mark(name, offset_s + t) for name, t in rendered.marks),
                warnings=tuple(pending_warnings + voice_warning + list(rendered.warnings)),
                spoken=rendered.spoken,
                spans=tuple(Span(seg, offset_s + start, offset_s + end) for seg, start, end in rendered.spans),
            )
            pending_warnings = []
            offset_s += chunk.duration_s
            if offset_s > config.limits.max_audio_s:
                # the floor estimate let it in (a slow voice, long silences): an error, not a cut
                raise _over_audio_limit(offset_s, config.limits)
            yield chunk

    def synthesize(
        self,
        text: str,
        *,
        mode: MarkupMode | str | None = None,
        seed: int | None = None,
        sample_rate: int | None = None,
        **options: Any,
    ) -> Synthesis:
        """Render ``text`` whole; takes the same options as :meth:`stream`."""
        plan, config = self.plan(text, mode=mode, **options)
        chunks = list(self.render_plan(plan, config, mode=mode, seed=seed, sample_rate=sample_rate, batch=True))
        check_spoken(chunks)
        audio = np.concatenate([chunk.audio for chunk in chunks]) if chunks else np.zeros(0, np.float32)
        return Synthesis(
            audio=audio,
            sample_rate=chunks[0].sample_rate,
            marks=tuple(mark for chunk in chunks for mark in chunk.marks),
            warnings=tuple(w for chunk in chunks for w in chunk.warnings),
            spans=tuple(span for chunk in chunks for span in chunk.spans),
            plan=plan,
        )

    def _usable_voice(self, utt: Utterance, config: Config, mode) -> tuple[Utterance, list[str]]:
        if utt.voice in self._voices:
            return utt, []
        known = ", ".join(sorted(self._voices))
        broken = self._unusable.get(utt.voice)
        message = broken.problem if broken else f"voice {utt.voice!r} is not available (voices: {known})"
        if MarkupMode(mode or config.markup_mode) is MarkupMode.STRICT:
            if broken:
                raise VoiceFileError(message, voice=utt.voice)
            raise UnknownVoiceError(message, voice=utt.voice)
        return dataclasses.replace(utt, voice=config.voice), [f"{message}; spoken with {config.voice!r}"]

    def _cache_key(self, utt: Utterance, seed: int | None) -> tuple[str, int | None]:
        """The cache key of ``utt`` and the seed it renders with: without a seed the utterance's
        content seeds the voice's noise."""
        base = content_key({
            "utterance": utt,
            "calibration": self.calibration(utt.voice),
            "voice": self._voices[utt.voice][1],
            "noise": self.config.noise,
            "plugins": sorted(name for name, _ in self.runtime.pm.list_name_plugin()),
        })
        if seed is None and self.config.noise:
            seed = int(base[:8], 16) & 0x7FFFFFFF
        return content_key({"utterance": base, "seed": seed}), seed

    def _pieces(self, utt: Utterance):
        from .models.base import RenderPiece

        return [RenderPiece(p.text, p.targets, p.transition_ms) for p in utt.pieces]

    def _render_voices_at_once(self, utts: list[Utterance], seeds: list[int | None]) -> dict[int, Any]:
        """The voice model's output for each utterance not in the cache whose backend renders
        batches and says they pay (``batch_pays``: the torch engine on CUDA; on a CPU a batch of 4
        took 1.8× as long as one by one), one pass per voice; ``{index: Rendered}``."""
        if len(utts) < 2 or not any(getattr(self._backend(utt.voice), "batch_pays", False) for utt in utts):
            return {}
        groups: dict[str, list[int]] = {}
        keyed = [self._cache_key(utt, seed) for utt, seed in zip(utts, seeds)]
        for index, utt in enumerate(utts):
            if getattr(self._backend(utt.voice), "batch_pays", False) and not (self.cache.enabled and keyed[index][0] in self.cache):
                groups.setdefault(utt.voice, []).append(index)
        voiced: dict[int, Any] = {}
        for voice, indices in groups.items():
            if len(indices) < 2:
                continue
            out = self._backend(voice).render_batch(
                voice, [self._pieces(utts[i]) for i in indices], noise=self.config.noise, seeds=[keyed[i][1] for i in indices]
            )
            voiced.update(zip(indices, out))
        return voiced

    def _render_cached(self, utt: Utterance, *, seed: int | None, voiced: Any = None) -> _Utterance:
        """:meth:`_render` through the cache (``voiced``: the voice model's output, when a batch made it)."""
        key, seed = self._cache_key(utt, seed)
        if not self.cache.enabled:
            return self._render(utt, seed=seed, voiced=voiced)
        entry = self.cache.get(key)
        if entry is not None:
            return _Utterance(entry.audio, entry.sample_rate, list(entry.marks), list(entry.spans), entry.warnings, entry.spoken)
        rendered = self._render(utt, seed=seed, voiced=voiced)
        rendered.audio.setflags(write=False)  # shared with the cache from now on
        self.cache.put(key, Entry(rendered.audio, rendered.sample_rate, tuple(rendered.marks), tuple(rendered.spans),
                                  tuple(rendered.warnings), rendered.spoken))
        return rendered

    def _render(self, utt: Utterance, *, seed: int | None, voiced: Any = None) -> _Utterance:
        """One utterance: backend (unless ``voiced`` holds its output) → control curves → DSP → fades and silences."""
        from .models.dsp import Controls, shape

        if voiced is None:
            voiced = self._backend(utt.voice).render(utt.voice, self._pieces(utt), noise=self.config.noise, seed=seed)
        rendered = voiced
        rate = rendered.sample_rate
        voice_audio = rendered.audio
        marks: list[tuple[str, float]] = []
        before = audio_utils.silence(utt.silence_before_ms, rate)
        after = audio_utils.silence(utt.silence_after_ms, rate)
        if len(voice_audio) == 0:
            return _Utterance(np.concatenate([before, after]), rate, marks, [], rendered.warnings, False)
        calibration = self.calibration(utt.voice)
        commands = []
        for piece in utt.pieces:
            command = calibration.command(piece.targets.clamped()[0])
            neutral = {dim: (1.0 if dim in {"range", "rate", "pause"} else 0.0) for dim in rendered.native}
            commands.append(dataclasses.replace(command, **neutral))
        duration_s = len(voice_audio) / rate
        starts_s = [start / rate for start in rendered.piece_starts]
        curves = target_curves(commands, starts_s, [p.transition_ms for p in utt.pieces], duration_s)
        levels = frame_levels_db(voice_audio, rate)
        pitch = curves["pitch_st"]
        if utt.ends_sentence:
            pitch = pitch + contour_curve(curves["contour"], speech_end_s(levels))
        stretch = 1.0 / curves["rate"]
        pauses = pause_mask(levels)
        stretch[pauses] = curves["pause"][pauses]
        stretch = np.clip(stretch, MIN_STRETCH, MAX_STRETCH)
        controls = Controls(
            frame_s=FRAME_S,
            pitch_st=pitch,
            range=curves["range"],
            duration=stretch,
            gain_db=curves["volume_db"],
            tilt_db=curves["tilt_db"],
            breathiness=curves["breathiness"],
            jitter=curves["jitter"],
        )
        shaped = shape(voice_audio, rate, controls, seed=seed or 0)
        frame_times = np.arange(len(shaped.time_map)) * FRAME_S
        lead = len(before) / rate
        out_starts = [lead + float(np.interp(start, frame_times, shaped.time_map)) for start in starts_s]
        out_ends = out_starts[1:] + [lead + len(shaped.audio) / rate]
        spans = [(piece.segment, start, end) for piece, start, end in zip(utt.pieces, out_starts, out_ends)]
        for piece, start in zip(utt.pieces, out_starts):
            marks.extend((name, start) for name in piece.marks)
        processed = self.runtime.pm.hook.emotts_postprocess_audio(audio=shaped.audio, sample_rate=rate, config=self.config)
        voiced = audio_utils.fade_edges(np.asarray(processed, dtype=np.float32), rate)
        return _Utterance(np.concatenate([before, voiced, after]), rate, marks, spans, rendered.warnings, True)
