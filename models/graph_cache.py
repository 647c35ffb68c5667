"""Patched voice graphs kept on disk, so a fresh process loads a voice without patching it again.

Patching a Piper voice (:func:`models.piper.patched_model`: alignment output, seedable noise) takes
~0.2 s of a 63 MB voice, a third of what a one-sentence ``emotts say`` costs beyond piper's own CLI.
The patched bytes are written once per voice file to ``<folder>/<key>.onnx``; the key hashes the
source's path, size, modification time and inode with the patch's version, so an edited or replaced
voice file is patched afresh. Files are written to a temporary name and renamed (never rewritten in
place), and the folder keeps the ``keep`` most recently used graphs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

#: Bumped whenever the patch changes what it writes, so older cached graphs are not used.
PATCH_VERSION = 1


def default_folder(cache_dir: str | None) -> Path:
    """Where patched graphs are kept: ``<cache_dir>/voices`` when the render cache has a folder,
    else ``$XDG_CACHE_HOME/emotts/voices`` (``~/.cache/emotts/voices``)."""
    if cache_dir:
        return Path(cache_dir).expanduser() / "voices"
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "emotts" / "voices"


class GraphCache:
    """Patched graphs of voice files in ``folder``, at most ``keep`` of them."""

    def __init__(self, folder: Path, *, keep: int = 8, version: str = "") -> None:
        self.folder = folder
        self.keep = keep
        self._version = f"{PATCH_VERSION}|{version}"

    def _entry(self, source: Path) -> Path:
        stat = source.stat()
        key = f"{self._version}|{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{stat.st_ino}"
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:32]}.onnx"

    def find(self, source: Path) -> Path | None:
        """The cached graph of ``source``, or ``None`` when there is none for its current state."""
        try:
            entry = self._entry(source)
            os.utime(entry)  # most recently used: the last to be pruned
        except OSError:
            return None
        return entry

    def store(self, source: Path, data: bytes) -> Path | None:
        """Keep ``data`` as the graph of ``source``; ``None`` (and a debug line) when the folder
        cannot be written: the cache is a speed-up, never a reason to fail."""
        try:
            entry = self._entry(source)
            self.folder.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.folder, prefix=".", suffix=".part")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                os.replace(temporary, entry)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            _LOGGER.debug("patched graph of %s not cached in %s: %s", source, self.folder, exc)
            return None
        self._prune()
        return entry

    def forget(self, entry: Path) -> None:
        """Remove a cached graph that could not be loaded."""
        entry.unlink(missing_ok=True)

    def _prune(self) -> None:
        try:
            entries = sorted(self.folder.glob("*.onnx"), key=lambda p: p.stat().st_mtime, reverse=True)
            for old in entries[self.keep :]:
                old.unlink(missing_ok=True)
        except OSError as exc:  # another process pruned first
            _LOGGER.debug("pruning %s: %s", self.folder, exc)
