"""What every voice backend offers, and what the renderer hands it.

A backend turns text pieces into float32 mono audio at its own sample rate and
reports where each piece starts in that audio, so the renderer can shape
emotion over time. Prosody a backend renders *inside* its model is listed in
:attr:`Rendered.native`; the emotion DSP leaves those dimensions alone.

:class:`VoiceBackend` declares everything the synthesizer relies on — methods and
capabilities (``batch_pays``) — so nothing is probed at run time; every backend subclasses it.
What a backend could not say travels as :class:`RenderWarning` to the edges, which print it.
"""

from __future__ import annotations

import abc
import threading
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from emotts_plugin.emotion import EmotionVector
from emotts_plugin.offline import keep_libraries_offline

# every backend imports this module before it imports onnxruntime, which reads its telemetry
# switch once, on import (see emotts_plugin/offline.py)
keep_libraries_offline()

#: espeak-ng (bundled with piper-tts) is one global engine: every backend phonemizes under this lock.
ESPEAK_LOCK = threading.Lock()


@dataclass(frozen=True, slots=True)
class VoiceInfo:
    """One voice a backend can speak with."""

    name: str
    """Name used in markup (``<voice name>``) and configuration."""
    backend: str
    """Backend that renders it (``piper``, ``kokoro``)."""
    languages: tuple[str, ...]
    """BCP-47 tags it speaks, e.g. ``("en-US",)``."""
    sample_rate: int
    """Native output rate in Hz."""
    description: str = ""
    """One line for ``emotts voices``."""
    problem: str = ""
    """Why this voice cannot speak (a corrupt or unreadable file), empty when it can; a request for
    it is refused with this text."""
    gender: str = ""
    """``female``, ``male`` or ``""`` (unknown): what ``<voice gender>`` selects by."""

    def to_dict(self) -> dict[str, Any]:
        """The public JSON shape of a voice (``emotts voices --json``, ``/v1/voices``, the WebUI)."""
        return {
            "name": self.name,
            "backend": self.backend,
            "languages": list(self.languages),
            "sample_rate": self.sample_rate,
            "description": self.description,
            "gender": self.gender or None,
        }


@dataclass(frozen=True, slots=True)
class RenderPiece:
    """A run of text inside one utterance, with the emotion it should carry."""

    text: str
    """Words to speak."""
    targets: EmotionVector = field(default_factory=EmotionVector)
    """Emotion targets of this piece (backends with native prosody may use them)."""
    transition_ms: float = 250.0
    """Glide time from the previous piece's targets into this piece's."""


@dataclass(frozen=True, slots=True)
class RenderWarning:
    """A problem met while rendering (text the voice could not say, a voice replaced by the
    default), carried on the chunks beside the markup's
    :class:`~emotts_plugin.plan.ParseWarning`; ``str()`` gives the message."""

    message: str
    """What was wrong and what was done about it."""

    def to_dict(self) -> dict[str, str]:
        return {"message": self.message}

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True, slots=True)
class Phone:
    """One symbol the voice spoke, and where (what word timings and visemes are made from)."""

    symbol: str
    """IPA symbol as the voice read it; a space is a word boundary, punctuation a pause."""
    start: int
    """First sample."""
    end: int
    """One past the last sample."""
    piece: int
    """Index of the input piece it belongs to."""


@dataclass(frozen=True, slots=True)
class Rendered:
    """A backend's output for one utterance."""

    audio: np.ndarray
    """float32 mono samples in [-1, 1], shape ``(n,)``."""
    sample_rate: int
    """Samples per second."""
    piece_starts: tuple[int, ...]
    """Sample offset where each input piece starts; one per piece, increasing."""
    native: frozenset[str] = frozenset()
    """Emotion dimensions already rendered inside the model."""
    warnings: tuple[RenderWarning, ...] = ()
    """Things skipped (e.g. characters the voice cannot say)."""
    phones: tuple[Phone, ...] = ()
    """Every symbol spoken with its samples, in order; empty when the backend cannot say (words
    are then spread over their piece by letter count, and no visemes are given)."""


class VoiceBackend(abc.ABC):
    """A speech engine: everything the synthesizer relies on. Load once; :meth:`render` is
    called per utterance. A plugin's backend subclasses this (the synthesizer refuses others)."""

    name: str
    """Backend name used in configuration (``piper``, ``kokoro``)."""
    batch_pays: bool = False
    """Whether :meth:`render_batch` beats rendering one by one; the synthesizer then renders a
    whole input in one pass of the model."""

    @abc.abstractmethod
    def voices(self) -> list[VoiceInfo]:
        """Voices this backend can render."""

    @abc.abstractmethod
    def load(self, voice: str) -> object:
        """Prepare ``voice`` so the first render is fast (called once for the default voice)."""

    @abc.abstractmethod
    def render(
        self, voice: str, pieces: Sequence[RenderPiece], *, noise: bool = True, seed: int | None = None
    ) -> Rendered:
        """Render ``pieces`` as one utterance with ``voice``.

        :param noise: sample the model's noise (natural variation); ``False`` is deterministic.
        :param seed: seed for the noise, for repeatable output.
        """

    def render_batch(
        self,
        voice: str,
        utterances: Sequence[Sequence[RenderPiece]],
        *,
        noise: bool = True,
        seeds: Sequence[int | None] | None = None,
    ) -> list[Rendered]:
        """Render several utterances of ``voice``, each as :meth:`render` would with its seed
        (one per utterance); one by one unless a backend does better (see :attr:`batch_pays`)."""
        seeds = [None] * len(utterances) if seeds is None else seeds
        return [self.render(voice, pieces, noise=noise, seed=seed) for pieces, seed in zip(utterances, seeds)]
