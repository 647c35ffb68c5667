"""Chatbot adapter: speak an LLM reply sentence by sentence while it is still streaming.

A chat model sends its reply as small text deltas. A
:class:`~emotts_plugin.ssml.sentences.SentenceAssembler` collects them and hands out each
sentence as soon as it is complete, as a self-contained markup fragment;
:class:`ChatbotSpeaker` renders those fragments
with a :class:`~emotts_plugin.synthesizer.Synthesizer` (lenient markup) and
yields the audio, so the first sentence is heard while the model is still
writing the rest. :func:`system_prompt` writes the instructions that teach a
model the markup.

How the assembler cuts is told in :mod:`emotts_plugin.ssml.sentences`, whose rules the
planner follows too.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, AsyncIterable, AsyncIterator, Iterable, Iterator

from emotts_plugin.emotion import EmotionSpace, load_builtin_presets
from emotts_plugin.errors import HostileInputError, MarkupError
from emotts_plugin.models.base import RenderWarning
from emotts_plugin.options import SpeechOptions, with_changes
from emotts_plugin.plan import ParseWarning
from emotts_plugin.ssml.sentences import Fragment, SentenceAssembler

if TYPE_CHECKING:
    from emotts_plugin.synthesizer import AudioChunk, Synthesizer

_LOGGER = logging.getLogger(__name__)

__all__ = ["ChatbotSpeaker", "system_prompt"]


@functools.cache
def _builtin_space() -> EmotionSpace:
    """The built-in presets, read once (only looked up, never changed)."""
    return EmotionSpace(load_builtin_presets())


# --------------------------------------------------------------------------
# Speaking
# --------------------------------------------------------------------------


class _End:
    """Marks the end of a queue."""


@dataclass(frozen=True, slots=True)
class _Failure:
    error: BaseException


class _Renderer:
    """Renders one reply's fragments in order, with times running over the whole reply."""

    def __init__(self, speaker: "ChatbotSpeaker") -> None:
        self.speaker = speaker
        self.offset_s = 0.0
        self.index = 0
        self.pending_warnings: list[RenderWarning] = []
        self.line = 1  # where the next fragment's source starts in the reply
        self.column = 1
        self.char = 0

    def chunks(self, fragment: Fragment) -> Iterator["AudioChunk"]:
        line, column, char = self.line, self.column, self.char
        self.char += len(fragment.source)
        newlines = fragment.source.count("\n")
        self.line += newlines
        if newlines:
            self.column = len(fragment.source) - fragment.source.rfind("\n")
        else:
            self.column = column + len(fragment.source)
        if not fragment.speakable:
            _LOGGER.debug("fragment %r has no words; not rendered", fragment.source)
            return
        yield from self._render(fragment, line, column, char)

    def _render(self, fragment: Fragment, line: int, column: int, char: int) -> Iterator["AudioChunk"]:
        speaker = self.speaker
        options = speaker.options
        seed = None if options.seed is None else options.seed + 1009 * self.index
        self.index += 1
        base = self.offset_s
        try:
            for chunk in speaker.synthesizer.stream(fragment.markup, options, mode="lenient", seed=seed):
                chunk = dataclasses.replace(
                    chunk,
                    start_s=base + chunk.start_s,
                    marks=tuple(dataclasses.replace(m, time_s=base + m.time_s) for m in chunk.marks),
                    spans=tuple(
                        dataclasses.replace(s, start_s=base + s.start_s, end_s=base + s.end_s)
                        for s in chunk.spans
                    ),
                    words=tuple(
                        dataclasses.replace(
                            w,
                            start_s=base + w.start_s,
                            end_s=base + w.end_s,
                            source=_in_reply(w.source, fragment, char),
                        )
                        for w in chunk.words
                    ),
                    visemes=tuple(
                        dataclasses.replace(v, start_s=base + v.start_s, end_s=base + v.end_s)
                        for v in chunk.visemes
                    ),
                    warnings=(
                        *self.pending_warnings,
                        *_reply_warnings(chunk.warnings, fragment, line, column),
                    ),
                )
                self.pending_warnings = []
                self.offset_s = chunk.start_s + chunk.duration_s
                yield chunk
        except HostileInputError:
            raise
        except MarkupError as exc:
            # lenient reading only fails when a fragment has nothing to say
            _LOGGER.warning("fragment %r not spoken: %s", fragment.source, exc)
            self.pending_warnings.append(RenderWarning(f"{fragment.source.strip()!r} not spoken: {exc}"))


def _in_reply(span: tuple[int, int] | None, fragment: Fragment, char: int) -> tuple[int, int] | None:
    """A word's span in a fragment's markup as a span in the reply (``char``: where the fragment's
    source starts); ``None`` when it lies in markup the fragment re-opened."""
    if span is None:
        return None
    shift = char - len(fragment.reopened)
    start, end = span[0] + shift, span[1] + shift
    if start < char or end > char + len(fragment.source):
        return None
    return start, end


def _reply_warnings(
    warnings: Iterable[ParseWarning | RenderWarning], fragment: Fragment, line: int, column: int
) -> list[ParseWarning | RenderWarning]:
    """Warnings with positions in the whole reply; those about re-opened markup are left out.

    ``line`` and ``column`` are where the fragment's source starts in the reply.
    Re-opened tags and cues repeat markup whose warnings came with an earlier sentence.
    """
    markup = fragment.markup
    line_starts = [0] + [i + 1 for i, ch in enumerate(markup) if ch == "\n"]
    out = []
    for warning in warnings:
        if not isinstance(warning, ParseWarning):
            out.append(warning)
            continue
        number, col = warning.line, warning.column
        offset = (line_starts[number - 1] if number <= len(line_starts) else len(markup)) + col - 1
        inside = offset - len(fragment.reopened)
        if not 0 <= inside <= len(fragment.source):
            continue
        before = fragment.source[:inside]
        newlines = before.count("\n")
        at_line = line + newlines
        at_column = (inside - before.rfind("\n")) if newlines else column + inside
        out.append(dataclasses.replace(warning, line=at_line, column=at_column))
    return out


class ChatbotSpeaker:
    """Speak a streamed LLM reply sentence by sentence.

    :param synthesizer: the :class:`~emotts_plugin.synthesizer.Synthesizer` that renders.
    :param options: how every sentence is spoken (:class:`~emotts_plugin.options.SpeechOptions`);
        markup is always read leniently, and a ``seed`` makes the voice's natural variation
        repeatable (one seed per sentence derived from it).
    :param max_chars: see :class:`SentenceAssembler`.
    :param changes: fields of ``options`` to change (``emotion="gentle"``), as in ``Synthesizer.stream``.
    :raises ValueError: for an unknown ``emotion`` or a bad option.
    """

    def __init__(
        self,
        synthesizer: "Synthesizer",
        options: SpeechOptions | None = None,
        *,
        max_chars: int = 200,
        **changes: Any,
    ) -> None:
        self.synthesizer = synthesizer
        self.options = with_changes(options, changes)
        """How every sentence is spoken."""
        if self.options.emotion is not None:
            synthesizer.runtime.space.parse_mixture(self.options.emotion)  # unknown emotion: an error now
        self.max_chars = max_chars
        self.prefetch = 2
        """Chunks rendered ahead of the consumer in :meth:`aspeak`."""

    def assembler(self) -> SentenceAssembler:
        """A fresh assembler that knows the synthesizer's emotion labels."""
        return SentenceAssembler(space=self.synthesizer.runtime.space, max_chars=self.max_chars)

    def speak(self, deltas: Iterable[str]) -> Iterator["AudioChunk"]:
        """Render each sentence as soon as the deltas complete it.

        Chunks carry the synthesizer's warnings (lenient repairs) and times
        (``start_s``, marks, spans, words, visemes) from the start of the reply; spans and words
        index the segments of their own sentence's plan; a word's ``source`` is its span in the
        whole reply.
        """
        assembler = self.assembler()
        renderer = _Renderer(self)
        for delta in deltas:
            for fragment in assembler.feed_fragments(delta):
                yield from renderer.chunks(fragment)
        for fragment in assembler.flush_fragments():
            yield from renderer.chunks(fragment)

    async def aspeak(self, deltas: AsyncIterable[str] | Iterable[str]) -> AsyncIterator["AudioChunk"]:
        """Like :meth:`speak` for an event loop: deltas are read while earlier sentences render.

        Rendering (and reading a plain iterable, which may block) runs in worker
        threads, so the loop is never blocked; :attr:`prefetch` chunks are
        rendered ahead of the consumer, so the next sentence is being made while
        this one plays.
        """
        fragments: asyncio.Queue = asyncio.Queue()
        chunks: asyncio.Queue = asyncio.Queue(maxsize=self.prefetch)

        async def read() -> None:
            assembler = self.assembler()
            try:
                async for delta in _deltas(deltas):
                    for fragment in assembler.feed_fragments(delta):
                        fragments.put_nowait(fragment)
                for fragment in assembler.flush_fragments():
                    fragments.put_nowait(fragment)
            except Exception as exc:  # handed to the consumer, in order
                fragments.put_nowait(_Failure(exc))
            else:
                fragments.put_nowait(_End)

        async def render() -> None:
            renderer = _Renderer(self)
            try:
                while (item := await fragments.get()) is not _End:
                    if isinstance(item, _Failure):
                        await chunks.put(item)
                        return
                    pieces = renderer.chunks(item)
                    while (chunk := await asyncio.to_thread(next, pieces, _End)) is not _End:
                        await chunks.put(chunk)
            except Exception as exc:
                await chunks.put(_Failure(exc))
            else:
                await chunks.put(_End)

        tasks = [asyncio.create_task(read()), asyncio.create_task(render())]
        try:
            while (item := await chunks.get()) is not _End:
                if isinstance(item, _Failure):
                    raise item.error
                yield item
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)


async def _deltas(deltas: AsyncIterable[str] | Iterable[str]) -> AsyncIterator[str]:
    """The deltas of an async iterable, or of a plain one read in a worker thread."""
    if hasattr(deltas, "__aiter__"):
        async for delta in deltas:
            yield delta
        return
    iterator = iter(deltas)
    while (delta := await asyncio.to_thread(next, iterator, _End)) is not _End:
        yield delta


# --------------------------------------------------------------------------
# The system prompt
# --------------------------------------------------------------------------

#: Labels the prompt's examples prefer, when the space has them.
_EXAMPLE_LABELS = (
    ("empathetic", "gentle", "calm", "sad"),
    ("happy", "excited", "surprised"),
    ("calm", "gentle", "serious"),
)


def _example_labels(labels: tuple[str, ...]) -> list[str]:
    others = [label for label in labels if label != "neutral"] or ["neutral"]
    chosen: list[str] = []
    for preferred in _EXAMPLE_LABELS:
        pick = next((label for label in preferred if label in others and label not in chosen), None)
        if pick is None:
            pick = next((label for label in others if label not in chosen), others[0])
        chosen.append(pick)
    return chosen


def _summary(description: str) -> str:
    return description.split(";")[0].strip().rstrip(".")


#: Non-verbal sounds the prompt offers (each is a pause: :data:`emotts_plugin.ssml.instructions.SOUNDS`).
PROMPT_SOUNDS = ("pause", "short pause", "long pause", "sighs", "laughs", "clears throat")
#: Manner cues the prompt offers (read by :func:`emotts_plugin.ssml.instructions.read_direction`).
PROMPT_MANNERS = ("slowly", "quickly", "quietly", "loudly", "whispers")


def system_prompt(space: EmotionSpace | None = None, *, style: str = "ssml") -> str:
    """Instructions that teach a chat model the markup emotts speaks.

    Made from the live label list, so presets added by plugins are offered too.

    :param space: the emotion space (e.g. ``Runtime().space`` or
        ``synthesizer.runtime.space``); the built-in presets when ``None``.
    :param style: ``"ssml"`` for ``<emotion>`` tags with breaks, emphasis and
        prosody; ``"brackets"`` for the simpler ``[happy]`` cues.
    :raises ValueError: for another ``style``.
    """
    if style not in ("ssml", "brackets"):
        raise ValueError(f"style must be 'ssml' or 'brackets', got {style!r}")
    space = space or _builtin_space()
    labels = space.labels
    listing = "\n".join(
        f"- {label}"
        + (f": {_summary(space.preset(label).description)}" if space.preset(label).description else "")
        for label in labels
    )
    sorry, glad, steady = _example_labels(labels)
    pauses = ", ".join(f"({cue})" for cue in PROMPT_SOUNDS)
    manners = ", ".join(f"[{manner}]" for manner in PROMPT_MANNERS)
    intro = (
        "Your reply is spoken aloud by an expressive text-to-speech voice. Write natural spoken "
        "sentences, and mark how they should sound with the markup below. Numbers, times, dates, "
        "prices and abbreviations may be written as usual; they are read out in words. Prefer plain "
        "sentences to Markdown: emphasis and list items are spoken as phrases, but code blocks and "
        "links are not read out, so say in words what matters. Reasoning inside <think>…</think> is "
        "never spoken. No other tags."
    )
    if style == "brackets":
        body = f"""Emotion: put an emotion cue in square brackets before the words it colours, \
for example [{glad}]. The emotion lasts until the next cue; [neutral] returns to the plain voice.
Emotions (use only these names):
{listing}

Strength: put "very", "slightly" or "a bit" before the name, as in [very {glad}] or [slightly {sorry}].
Manner: {manners} change speed, loudness or voice until the next cue.
Pauses: {pauses} or [pause] become short silences.
Emoji such as 😊 😢 😌 colour the sentence they end; other emoji are not read out.

Rules:
- Put a cue only where the feeling changes, at the start of a sentence or clause; \
most replies need one or two.
- Write each cue as a name, with at most one strength word, in square brackets.
- Never explain the cues or mention them; they are not read aloud.

Example reply:
[{sorry}] I'm sorry the parcel was late. [{glad}] Good news: a replacement ships today! \
[{steady}] Let's check the address together."""
    else:
        body = f"""Emotion: wrap a sentence or clause in <emotion name="LABEL">…</emotion>.
Emotions (use only these names):
{listing}

Intensity: add intensity="0.6" (a number from 0 to 1), intensity="60%" or intensity="low", \
"medium" or "high"; without it the emotion is at full strength. Mixtures: \
name="{glad}:0.6 {sorry}:0.3" blends emotions with weights.
Pauses: <break time="300ms"/> or <break time="1s"/>.
Emphasis: <emphasis>word</emphasis>, or <emphasis level="strong">word</emphasis>.
Fine control: <prosody rate="90%" pitch="+2st" volume="+3dB">…</prosody> (rate as a percentage, pitch in \
semitones, volume in dB).
Stage directions {pauses} become short silences.

Rules:
- Keep tags balanced: close every <emotion>, <emphasis> and <prosody> you open, in the reverse order, \
and put attribute values in double quotes.
- One emotion per sentence or clause; do not nest <emotion> tags. \
Text outside them keeps the default delivery.
- Use emotion where it helps the listener; most sentences need none or a gentle intensity.
- Never explain the markup or mention it; it is not read aloud.

Example reply:
<emotion name="{sorry}" intensity="0.6">I'm sorry the parcel was late.</emotion> \
<emotion name="{glad}">Good news: a replacement ships today!</emotion> <break time="300ms"/> \
<emotion name="{steady}" intensity="low">Let's check the address <emphasis>together</emphasis>.</emotion>"""
    return f"{intro}\n\n{body}\n"
