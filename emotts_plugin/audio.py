"""Audio at the edges: resampling, fades, silence, and encoding to bytes.

Between stages audio is float32 mono in [-1, 1] with an explicit sample rate;
bytes are made here, at the edge, by libsndfile (through ``soundfile``).
"""

from __future__ import annotations

import contextlib
import enum
import io
import math
import os
import shutil
import sys
import tempfile
from typing import BinaryIO, Iterator

import numpy as np
import soundfile

#: Length of the raised-cosine fade at every utterance edge.
EDGE_FADE_MS = 4.0


class AudioFormat(str, enum.Enum):
    """Output encodings of ``emotts say`` and the adapters."""

    WAV = "wav"
    FLAC = "flac"
    OGG = "ogg"
    PCM16 = "pcm16"
    ULAW = "ulaw"
    ALAW = "alaw"


# format → (libsndfile container, subtype)
_CODECS = {
    AudioFormat.WAV: ("WAV", "PCM_16"),
    AudioFormat.FLAC: ("FLAC", "PCM_16"),
    AudioFormat.OGG: ("OGG", "VORBIS"),
    AudioFormat.PCM16: ("RAW", "PCM_16"),
    AudioFormat.ULAW: ("RAW", "ULAW"),
    AudioFormat.ALAW: ("RAW", "ALAW"),
}


def check_audio(audio: np.ndarray, sample_rate: int) -> None:
    """Raise ``ValueError`` unless ``audio`` is 1-D float and ``sample_rate`` positive."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
    if audio.ndim != 1:
        raise ValueError(f"audio must be mono with shape (n,), got shape {audio.shape}")


def resample(audio: np.ndarray, sample_rate: int, target_rate: int) -> np.ndarray:
    """Band-limited polyphase resampling, shape ``(n,)`` → ``(≈ n·target/rate,)``."""
    check_audio(audio, sample_rate)
    if target_rate <= 0:
        raise ValueError(f"target sample rate must be positive, got {target_rate!r}")
    if target_rate == sample_rate:
        return audio.astype(np.float32, copy=False)
    from scipy.signal import resample_poly

    g = math.gcd(sample_rate, target_rate)
    out = resample_poly(audio.astype(np.float64), target_rate // g, sample_rate // g)
    return np.clip(out, -1.0, 1.0).astype(np.float32)


def fade_edges(audio: np.ndarray, sample_rate: int, fade_ms: float = EDGE_FADE_MS) -> np.ndarray:
    """Raised-cosine fade-in and fade-out so the audio starts and ends at zero."""
    check_audio(audio, sample_rate)
    n = min(len(audio) // 2, int(sample_rate * fade_ms / 1000.0))
    if n < 1:
        return audio
    out = audio.astype(np.float32, copy=True)
    ramp = (0.5 - 0.5 * np.cos(np.pi * (np.arange(n) + 0.5) / n)).astype(np.float32)
    out[:n] *= ramp
    out[-n:] *= ramp[::-1]
    return out


#: Frequency of the tone that covers a bleeped word (the broadcast convention).
BLEEP_HZ = 1000.0


def bleep(audio: np.ndarray, sample_rate: int, spans_s: list[tuple[float, float]]) -> np.ndarray:
    """``audio`` with each span (seconds) replaced by a tone of its length, at the RMS level of the
    speech outside the spans (a bleep as loud as the voice; -20 dBFS when there is none), with
    edges faded."""
    out = np.array(audio, dtype=np.float32)
    covered = np.zeros(len(out), dtype=bool)
    ranges = []
    for start_s, end_s in spans_s:
        start, end = max(0, int(start_s * sample_rate)), min(len(out), int(end_s * sample_rate))
        if end > start:
            covered[start:end] = True
            ranges.append((start, end))
    speech = out[~covered]
    speech = speech[np.abs(speech) > 1e-4]  # silences do not lower the level
    rms = float(np.sqrt(np.mean(speech**2))) if speech.size else 0.1
    for start, end in ranges:
        times = np.arange(end - start) / sample_rate
        tone = (math.sqrt(2) * rms * np.sin(2 * math.pi * BLEEP_HZ * times)).astype(np.float32)
        out[start:end] = fade_edges(tone, sample_rate)
    return out


def silence(ms: float, sample_rate: int) -> np.ndarray:
    """``ms`` milliseconds of zeros."""
    return np.zeros(max(0, int(round(sample_rate * ms / 1000.0))), dtype=np.float32)


def encode(audio: np.ndarray, sample_rate: int, fmt: AudioFormat | str) -> bytes:
    """Encode float mono audio as ``fmt`` (containers include their header)."""
    check_audio(audio, sample_rate)
    try:
        fmt = AudioFormat(fmt)
    except ValueError:
        allowed = ", ".join(f.value for f in AudioFormat)
        raise ValueError(f"unknown audio format {fmt!r}; use one of {allowed}") from None
    container, subtype = _CODECS[fmt]
    buffer = io.BytesIO()
    data = np.clip(audio, -1.0, 1.0).astype(np.float32)
    if fmt is AudioFormat.OGG and len(data) == 0:
        data = np.zeros(1, np.float32)
    soundfile.write(buffer, data, sample_rate, format=container, subtype=subtype)
    return buffer.getvalue()


#: Containers that cannot hold zero samples (libsndfile writes no valid stream for them).
_NEEDS_A_SAMPLE = ("OGG", "MP3")


class StreamEncoder:
    """Encode float mono audio chunk by chunk into a binary file object, so memory does not grow
    with the length of the output: libsndfile writes each chunk as it comes and completes the
    container's header at :meth:`close` (for WAV it seeks back, so the file must be seekable;
    a ``tempfile.SpooledTemporaryFile`` is).

    :param file: a writable (for WAV also seekable) binary file object, left open.
    :param sample_rate: samples per second of every chunk.
    :param container: libsndfile format (``WAV``, ``FLAC``, ``OGG``, ``MP3``, ``RAW``).
    :param subtype: libsndfile subtype (``PCM_16``, ``VORBIS``, ``OPUS``, ``MPEG_LAYER_III``, ``ULAW``,
        ``ALAW``).
    """

    def __init__(self, file, sample_rate: int, container: str, subtype: str) -> None:
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate!r}")
        self.sample_rate = sample_rate
        self.frames = 0
        self._container = container
        endian = "LITTLE" if container == "RAW" else "FILE"
        self._file = soundfile.SoundFile(
            file,
            mode="w",
            samplerate=sample_rate,
            channels=1,
            format=container,
            subtype=subtype,
            endian=endian,
        )

    @classmethod
    def for_format(cls, file, sample_rate: int, fmt: AudioFormat | str) -> "StreamEncoder":
        """An encoder of one of :class:`AudioFormat` (what :func:`encode` makes, chunk by chunk)."""
        container, subtype = _CODECS[AudioFormat(fmt)]
        return cls(file, sample_rate, container, subtype)

    def write(self, audio: np.ndarray) -> None:
        """Append ``audio``, shape ``(n,)``, float in [-1, 1] (clipped)."""
        check_audio(audio, self.sample_rate)
        if len(audio):
            self._file.write(np.clip(audio, -1.0, 1.0).astype(np.float32, copy=False))
            self.frames += len(audio)

    def close(self) -> None:
        """Finish the stream (headers, last packets); the file object stays open."""
        if self._file.closed:
            return
        if self.frames == 0 and self._container in _NEEDS_A_SAMPLE:
            self._file.write(np.zeros(1, np.float32))
        self._file.close()

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def format_for_path(path: str) -> AudioFormat | None:
    """The format a file name's extension asks for, if any."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    aliases = {
        "wav": "wav",
        "flac": "flac",
        "ogg": "ogg",
        "pcm": "pcm16",
        "raw": "pcm16",
        "ulaw": "ulaw",
        "alaw": "alaw",
        "ul": "ulaw",
        "al": "alaw",
    }
    return AudioFormat(aliases[suffix]) if suffix in aliases else None


@contextlib.contextmanager
def open_output(path: str) -> Iterator[BinaryIO]:
    """A seekable binary file for output that appears at ``path`` only when the block ends without
    an error (a temporary file beside it, then a rename; the usual permissions). ``-`` is standard
    output, through a spool (memory, then an unnamed temporary file) because containers seek back
    to finish their headers."""
    if path == "-":
        with tempfile.SpooledTemporaryFile(max_size=4 * 1024 * 1024) as spool:
            yield spool
            spool.seek(0)
            shutil.copyfileobj(spool, sys.stdout.buffer)
            sys.stdout.flush()
        return
    folder = os.path.dirname(os.path.abspath(path))
    handle, temp = tempfile.mkstemp(dir=folder, prefix=".emotts-", suffix=".part")
    try:
        with os.fdopen(handle, "w+b") as out:
            yield out
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)  # mkstemp makes 0600; give the file the usual permissions
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (no partial files)."""
    with open_output(path) as out:
        out.write(data)
