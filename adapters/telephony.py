"""Telephone audio: the encodings IVR platforms play, and prompts rendered for them.

A prompt is rendered by the engine at the voice's rate, then made ready for the
phone network by :func:`prepare`: band-limited polyphase resampling to 8 or
16 kHz, a fixed gain that puts neutral speech at the level of the prompts
Asterisk ships (measured: active speech level ≈ 75.6 dB Praat intensity,
i.e. about −18.5 dBFS, on ``asterisk-core-sounds-en-wav``), and a look-ahead
limiter that keeps every peak at or under −1 dBFS so nothing clips. The gain is
the same for every emotion, so a sad prompt stays quieter and an angry one
louder than a neutral one.

:func:`take_key` is the content address of a prompt's *take* (the audio before it is
encoded): a hash of the parsed plan, the vectors of the emotions it uses, the voice and
its calibration and the versions of the engine and the voice packages. It seeds the
voice's noise, so a prompt is one take in every format: its µ-law and A-law files carry
the same audio, and their lengths agree to the sample (:func:`prepare_take`).
:func:`prompt_key` addresses the take in one format (its first half is the take's). The
same key always renders the same bytes, which is what makes ``emotts ivr render`` skip
unchanged prompts and the HTTP prompt endpoint answer with a strong ``ETag``.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import io
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterable

import numpy as np
import soundfile

from emotts_plugin import audio as audio_utils
from emotts_plugin.cache import package_versions
from emotts_plugin.options import SpeechOptions

if TYPE_CHECKING:  # pragma: no cover
    from emotts_plugin.synthesizer import Synthesizer

#: Gain from the engine's output level to telephone level (neutral joe: 69.1 dB → 75.6 dB).
TELEPHONE_GAIN_DB = 6.5
#: Highest peak after :func:`prepare`, in dBFS.
TELEPHONE_CEILING_DB = -1.0
#: Bumped when :func:`prepare` changes what it makes, so cached prompts are re-rendered
#: (2: the seed comes from the take, the same for every format).
TELEPHONY_REVISION = 2
#: Every telephone rate is a multiple of this one; a take's length is a whole number of its samples.
BASE_RATE = 8000


class TelephoneFormat(str, enum.Enum):
    """Encodings of prompt files and telephony streams."""

    SLN = "sln"
    """8 kHz signed 16-bit little-endian raw (Asterisk ``.sln``)."""
    SLN16 = "sln16"
    """16 kHz signed 16-bit little-endian raw (Asterisk ``.sln16``)."""
    ULAW = "ulaw"
    """8 kHz G.711 µ-law raw (Asterisk ``.ulaw``, Twilio media)."""
    ALAW = "alaw"
    """8 kHz G.711 A-law raw (Asterisk ``.alaw``)."""
    WAV = "wav"
    """8 kHz 16-bit PCM WAV (format tag 1), the layout of Asterisk's own prompts."""
    WAV16 = "wav16"
    """16 kHz 16-bit PCM WAV (Asterisk ``.wav16``, for wideband channels)."""
    WAV_ULAW = "wav-ulaw"
    """8 kHz µ-law WAV (format tag 7), e.g. for FreeSWITCH."""
    WAV_ALAW = "wav-alaw"
    """8 kHz A-law WAV (format tag 6)."""

    @property
    def sample_rate(self) -> int:
        return 16000 if self in (TelephoneFormat.SLN16, TelephoneFormat.WAV16) else 8000

    @property
    def extension(self) -> str:
        """File extension Asterisk and FreeSWITCH recognise (no dot)."""
        return _LAYOUT[self][0]

    @property
    def container(self) -> str:
        """libsndfile container: ``WAV`` (a header), or ``RAW`` (bare samples)."""
        return _LAYOUT[self][1]

    @property
    def content_type(self) -> str:
        """MIME type for HTTP (Twilio ``<Play>``, FreeSWITCH ``http_cache``, Asterisk remote playback).

        ``sln`` and ``sln16`` are little-endian, as Asterisk reads them, so they are labelled
        ``audio/pcm;…;format=s16le`` (as the native API labels its ``pcm16``), not ``audio/L16``,
        which RFC 2586 defines as big-endian.
        """
        return _LAYOUT[self][3]

    @property
    def bytes_per_sample(self) -> int:
        return 2 if _LAYOUT[self][2] == "PCM_16" else 1

    @classmethod
    def parse(cls, value: Any, *, what: str = "format") -> "TelephoneFormat":
        """The format named ``value``; ``ValueError`` naming the allowed ones otherwise."""
        try:
            return cls(value)
        except ValueError:
            allowed = ", ".join(f.value for f in cls)
            raise ValueError(f"unknown telephone {what} {value!r}; use one of {allowed}") from None


# format → (extension, libsndfile container, subtype, content type)
_LAYOUT = {
    TelephoneFormat.SLN: ("sln", "RAW", "PCM_16", "audio/pcm;rate=8000;channels=1;format=s16le"),
    TelephoneFormat.SLN16: ("sln16", "RAW", "PCM_16", "audio/pcm;rate=16000;channels=1;format=s16le"),
    TelephoneFormat.ULAW: ("ulaw", "RAW", "ULAW", "audio/basic"),
    TelephoneFormat.ALAW: ("alaw", "RAW", "ALAW", "audio/x-alaw-basic"),
    TelephoneFormat.WAV: ("wav", "WAV", "PCM_16", "audio/wav"),
    TelephoneFormat.WAV16: ("wav16", "WAV", "PCM_16", "audio/wav"),
    TelephoneFormat.WAV_ULAW: ("wav", "WAV", "ULAW", "audio/wav"),
    TelephoneFormat.WAV_ALAW: ("wav", "WAV", "ALAW", "audio/wav"),
}


def prepare(audio: np.ndarray, sample_rate: int, target_rate: int = 8000) -> np.ndarray:
    """Engine audio (shape ``(n,)``) → float32 ``(m,)`` at ``target_rate``, at telephone level,
    peaks ≤ −1 dBFS.

    :raises ValueError: bad shape or rate.
    """
    from emotts_plugin.models.dsp import limiter

    out = audio_utils.resample(audio, sample_rate, target_rate)
    out = out * np.float32(10.0 ** (TELEPHONE_GAIN_DB / 20.0))
    return limiter(out, target_rate, ceiling_db=TELEPHONE_CEILING_DB)


def prepare_take(audio: np.ndarray, sample_rate: int, rates: Iterable[int]) -> dict[int, np.ndarray]:
    """One take (engine audio, shape ``(n,)``) made ready by :func:`prepare` at each of ``rates``, the lengths
    agreeing to the sample: ``ceil(n · 8000 / sample_rate)`` samples at 8 kHz and twice as many
    at 16 kHz (the resampler's own lengths can differ by one; the last sample is padded or dropped).

    :raises ValueError: a rate that is not a multiple of :data:`BASE_RATE`.
    """
    units = math.ceil(len(audio) * BASE_RATE / sample_rate)
    takes = {}
    for rate in sorted(set(rates)):
        if rate <= 0 or rate % BASE_RATE:
            raise ValueError(f"telephone rates are multiples of {BASE_RATE} Hz, got {rate!r}")
        prepared = prepare(audio, sample_rate, rate)
        size = units * rate // BASE_RATE
        takes[rate] = (
            prepared[:size] if len(prepared) >= size else np.pad(prepared, (0, size - len(prepared)))
        )
    return takes


def encode(audio: np.ndarray, sample_rate: int, fmt: TelephoneFormat | str) -> bytes:
    """Encode audio *already at* ``fmt.sample_rate`` (see :func:`prepare`) as ``fmt`` bytes.

    :raises ValueError: unknown format, or a rate other than the format's.
    """
    fmt = TelephoneFormat.parse(fmt)
    audio_utils.check_audio(audio, sample_rate)
    if sample_rate != fmt.sample_rate:
        raise ValueError(
            f"{fmt.value} audio must be {fmt.sample_rate} Hz, got {sample_rate} Hz; call prepare() first"
        )
    _, container, subtype, _ = _LAYOUT[fmt]
    buffer = io.BytesIO()
    soundfile.write(
        buffer, np.clip(audio, -1.0, 1.0).astype(np.float32), sample_rate, format=container, subtype=subtype
    )
    return buffer.getvalue()


def to_telephone(audio: np.ndarray, sample_rate: int, fmt: TelephoneFormat | str) -> bytes:
    """:func:`prepare` then :func:`encode`: engine audio to the bytes of ``fmt``."""
    fmt = TelephoneFormat.parse(fmt)
    return encode(prepare(audio, sample_rate, fmt.sample_rate), fmt.sample_rate, fmt)


@dataclass(frozen=True, slots=True)
class Prompt:
    """One thing to say on a call or into a prompt file."""

    text: str
    """Plain text or markup (SSML, vendor dialects, chat cues)."""
    emotion: str | None = None
    """Emotion (label, alias or mixture) of text outside emotion tags; the configured default when
    ``None``."""
    intensity: float | None = None
    """Intensity 0..1 of ``emotion``."""
    voice: str | None = None
    """Voice for text whose markup names none; the configured default when ``None``."""
    mode: str | None = None
    """``strict`` or ``lenient`` markup reading; the configured one when ``None``."""

    def options(self) -> SpeechOptions:
        """The options to speak it with (:meth:`Synthesizer.plan` / :meth:`Synthesizer.stream`).

        :raises ConfigError: for a bad value (an intensity outside 0..1, an unknown mode).
        """
        return SpeechOptions(voice=self.voice, emotion=self.emotion, intensity=self.intensity, mode=self.mode)


def take_key(synthesizer: "Synthesizer", prompt: Prompt) -> str:
    """Content address (hex SHA-256) of ``prompt``'s take by ``synthesizer``: what is heard, before
    it is encoded in any format. It seeds the voice's noise (:func:`seed_for`).

    :raises ValueError: what :meth:`Synthesizer.plan` raises for bad input.
    """
    plan, config = synthesizer.plan(prompt.text, prompt.options())
    space = synthesizer.runtime.space
    labels = sorted({label for segment in plan.segments for label, _ in segment.emotion})
    voices = sorted({segment.voice or config.voice for segment in plan.segments})
    payload = {
        "revision": TELEPHONY_REVISION,
        "plan": plan.to_dict(),
        "vectors": {label: dataclasses.asdict(space.preset(label).vector) for label in labels},
        "voices": {voice: dataclasses.asdict(synthesizer.calibration(voice)) for voice in voices},
        "config": {"voice": config.voice, "transition_ms": config.transition_ms, "noise": config.noise},
        "packages": package_versions(),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode("utf-8")).hexdigest()


def prompt_key(
    synthesizer: "Synthesizer", prompt: Prompt, fmt: TelephoneFormat | str, *, take: str | None = None
) -> str:
    """Content address (64 hex digits) of ``prompt`` rendered as ``fmt`` by ``synthesizer``: the
    first 32 digits are those of its :func:`take_key` (the same in every format, so
    :func:`seed_for` gives every format the same take), the last 32 name the take in ``fmt``.

    :param take: :func:`take_key` of the prompt, when already computed.
    :raises ValueError: what :meth:`Synthesizer.plan` raises for bad input; an unknown format.
    """
    fmt = TelephoneFormat.parse(fmt)
    take = take or take_key(synthesizer, prompt)
    encoded = hashlib.sha256(f"{take}:{fmt.value}:{TELEPHONY_REVISION}".encode("ascii")).hexdigest()
    return take[:32] + encoded[:32]


def seed_for(key: str) -> int:
    """The voice-noise seed of a take or prompt key (same take, same audio, in every format)."""
    return int(key[:8], 16) & 0x7FFFFFFF


def render_formats(
    synthesizer: "Synthesizer",
    prompt: Prompt,
    formats: Iterable[TelephoneFormat | str],
    *,
    take: str | None = None,
) -> dict[TelephoneFormat, bytes]:
    """``prompt`` rendered once and encoded in each of ``formats``: the same take in every one, the
    lengths equal to the sample at equal rates (and in proportion at 8 and 16 kHz).

    :param take: :func:`take_key` of the prompt, when already computed.
    :raises ValueError: bad input (empty text, unknown emotion or voice, strict markup errors),
        an unknown format.
    """
    wanted = list(dict.fromkeys(TelephoneFormat.parse(fmt) for fmt in formats))
    take = take or take_key(synthesizer, prompt)
    return _render(synthesizer, prompt, wanted, seed_for(take))


def render_prompt(
    synthesizer: "Synthesizer", prompt: Prompt, fmt: TelephoneFormat | str, *, key: str | None = None
) -> bytes:
    """The bytes of ``prompt`` as ``fmt``; repeatable: the same key gives the same bytes, and the
    same take as every other format of the prompt (what :func:`render_formats` makes).

    :param key: :func:`prompt_key` of this prompt and format (or its :func:`take_key`), when already
        computed.
    :raises ValueError: bad input (empty text, unknown emotion or voice, strict markup errors).
    """
    fmt = TelephoneFormat.parse(fmt)
    key = key or take_key(synthesizer, prompt)
    return _render(synthesizer, prompt, [fmt], seed_for(key))[fmt]


def _render(
    synthesizer: "Synthesizer", prompt: Prompt, formats: list[TelephoneFormat], seed: int
) -> dict[TelephoneFormat, bytes]:
    result = synthesizer.synthesize(prompt.text, prompt.options(), seed=seed)
    takes = prepare_take(result.audio, result.sample_rate, {fmt.sample_rate for fmt in formats})
    return {fmt: encode(takes[fmt.sample_rate], fmt.sample_rate, fmt) for fmt in formats}
