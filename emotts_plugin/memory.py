"""Giving memory the process has freed back to the system.

Rendering allocates and frees large buffers (model activations, PSOLA and spectral frames).
glibc keeps freed heap pages for reuse, and with several render threads its arenas fragment:
a long-running server's resident size creeps up although nothing leaks (measured: one
synthesizer on 8 threads, 320 renders, 1.31 → 1.56 GB; with a trim after each render it
stayed at 0.6–0.7 GB). :func:`trim` asks glibc to hand free pages back; a
:class:`Trimmer` does so at most once per interval, from the render thread that finishes a job
when one is due, so its cost (~50 ms with a busy heap) stays a small share of the work.
Elsewhere than glibc both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading
import time

#: Seconds between trims under steady load.
TRIM_INTERVAL_S = 5.0


def _malloc_trim():
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        function = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return function


_MALLOC_TRIM = _malloc_trim()


def trim() -> bool:
    """Return freed heap memory to the system; ``False`` where the C library cannot."""
    if _MALLOC_TRIM is None:
        return False
    _MALLOC_TRIM(0)
    return True


class Trimmer:
    """Calls :func:`trim` from :meth:`job_done` at most once every ``interval_s`` seconds."""

    def __init__(self, interval_s: float = TRIM_INTERVAL_S) -> None:
        self.interval_s = interval_s
        self.trims = 0
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def job_done(self) -> None:
        now = time.monotonic()
        with self._lock:
            if now - self._last < self.interval_s:
                return
            self._last = now
        if trim():
            self.trims += 1
