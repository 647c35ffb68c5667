"""The render queue every adapter shares: a bounded queue in front of a pool of render threads.

Synthesis never runs on an event loop. The HTTP routes, the IVR calls and the Wyoming server
hand their renders to one :class:`RenderQueue`: it admits a bounded number of them
(:class:`QueueFull` beyond that), orders them so a short request is not
queued behind paragraphs (:func:`handicap_s`), keeps express threads for short requests, and
runs the long ones at a lower priority (:func:`lower_thread_priority`).

Rendering allocates and frees large buffers (model activations, PSOLA and spectral frames).
glibc keeps freed heap pages for reuse, and with several render threads its arenas fragment:
a long-running server's resident size creeps up although nothing leaks (measured: one
synthesizer on 8 threads, 320 renders, 1.31 → 1.56 GB; with a trim after each render it
stayed at 0.6–0.7 GB). :func:`trim` asks glibc to hand free pages back; the pool's
:class:`Trimmer` does so at most once per interval, from the render thread that finishes a job
when one is due, so its cost (~50 ms with a busy heap) stays a small share of the work.
Elsewhere than glibc both are no-ops.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import ctypes.util
import dataclasses
import functools
import heapq
import itertools
import operator
import os
import sys
import threading
import time
from typing import Any, AsyncIterator, Callable, Iterable, Iterator, TypeVar

from .errors import QueueFull

T = TypeVar("T")


#: How much later than FIFO each character of a request's input lets its jobs run: roughly the
#: shortest request first, so a one-line reply is not queued behind paragraphs.
CHAR_HANDICAP_S = 0.01
#: How much later than FIFO each sentence a request has had lets its next one run.
SENTENCE_HANDICAP_S = 0.3
#: The most a job can be held back.
MAX_HANDICAP_S = 5.0
#: Requests up to this many characters may also run on the express threads.
EXPRESS_CHARS = 100
#: How many nice levels below the process the worker threads run (Linux), so that express
#: threads, the event loop and the encoders get the cores first.
WORKER_NICE = 10

#: An iterator's end, as a render job returns it.
_DONE = object()


def handicap_s(size_chars: int, sentences_done: int) -> float:
    """How long after its queueing a job of a request of ``size_chars`` characters, which has had
    ``sentences_done`` sentences already, counts as due (see :class:`RenderQueue`)."""
    return min(MAX_HANDICAP_S, size_chars * CHAR_HANDICAP_S + sentences_done * SENTENCE_HANDICAP_S)


@dataclasses.dataclass(order=True)
class _Job:
    """A waiting render, ordered by deadline, then by arrival."""

    deadline: float
    number: int
    future: concurrent.futures.Future = dataclasses.field(compare=False)
    fn: Callable[[], Any] = dataclasses.field(compare=False)
    taken: bool = dataclasses.field(default=False, compare=False)
    express: bool = dataclasses.field(default=False, compare=False)


def lower_thread_priority(increment: int) -> bool:
    """Run the calling thread ``increment`` nice levels below its current priority. Only on
    Linux, where each thread has its own nice value (elsewhere the call would lower the whole
    process); ``False`` where nothing changed."""
    if increment <= 0 or not sys.platform.startswith("linux"):
        return False
    thread = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, thread, os.getpriority(os.PRIO_PROCESS, thread) + increment)
    except OSError:  # a sandbox that forbids it: run at the process's priority
        return False
    return True


# -- giving memory back ----------------------------------------------------------------------


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


# -- the queue ------------------------------------------------------------------------------


class _PriorityPool:
    """Worker threads taking the job with the earliest deadline first (FIFO among equals), at
    ``worker_nice`` below the process's priority, and express threads taking only the express
    jobs, at the process's priority; freed memory goes back to the system every few seconds
    (:class:`Trimmer`)."""

    def __init__(self, workers: int, express_workers: int = 0, worker_nice: int = 0) -> None:
        self.trimmer = Trimmer()
        self.worker_nice = worker_nice
        self.jobs_done = 0
        self._express_idle = 0  # express threads waiting for a job
        self._jobs: list[_Job] = []  # every waiting job
        self._express: list[_Job] = []  # the express ones again
        self._ready = threading.Condition()
        self._count = itertools.count()
        self._closed = False
        self._threads = [
            threading.Thread(target=self._work, args=(False,), name=f"emotts-render-{i}", daemon=True)
            for i in range(workers)
        ] + [
            threading.Thread(target=self._work, args=(True,), name=f"emotts-express-{i}", daemon=True)
            for i in range(express_workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(
        self, deadline: float, fn: Callable[[], T], *, express: bool = False
    ) -> concurrent.futures.Future:
        job = _Job(deadline, next(self._count), concurrent.futures.Future(), fn, express=express)
        with self._ready:
            if self._closed:
                raise RuntimeError("the render queue is closed")
            heapq.heappush(self._jobs, job)
            if express:
                heapq.heappush(self._express, job)
            self._ready.notify_all()
        return job.future

    def _next(self, express_only: bool) -> _Job | None:
        """The next job this kind of thread may take (under the lock). An express job sits in both
        heaps: the first thread to pop it marks it taken, and the other heap skips it. A worker
        leaves express jobs to idle express threads, which render them at a higher priority."""
        heap = self._express if express_only else self._jobs
        passed: list[_Job] = []
        found = None
        while heap:
            job = heapq.heappop(heap)
            if job.taken:
                continue
            if not express_only and job.express and len(passed) < self._express_idle:
                passed.append(job)
                continue
            job.taken = True
            found = job
            break
        for job in passed:
            heapq.heappush(heap, job)
        return found

    def _work(self, express_only: bool) -> None:
        if not express_only:
            lower_thread_priority(self.worker_nice)
        while True:
            with self._ready:
                job = self._next(express_only)
                while job is None:
                    if self._closed:
                        return
                    self._express_idle += express_only
                    self._ready.wait()
                    self._express_idle -= express_only
                    job = self._next(express_only)
            if not job.future.set_running_or_notify_cancel():
                continue  # its caller gave up while it waited
            try:
                result, failure = job.fn(), None
            except BaseException as exc:  # noqa: BLE001 - handed to the caller
                result, failure = None, exc
            with self._ready:
                self.jobs_done += 1  # counted before the caller hears of it
            if failure is None:
                job.future.set_result(result)
            else:
                job.future.set_exception(failure)
            self.trimmer.job_done()

    def shutdown(self) -> None:
        with self._ready:
            self._closed = True
            for job in self._jobs:
                job.future.cancel()
            self._jobs.clear()
            self._express.clear()
            self._ready.notify_all()


class RenderQueue:
    """A bounded queue of renders in front of a pool of render threads.

    Jobs run in the order of a deadline: the time they were queued plus a handicap
    (:func:`handicap_s`) of :data:`CHAR_HANDICAP_S` per character of their request's input and
    :data:`SENTENCE_HANDICAP_S` for each sentence it has already had, at most
    :data:`MAX_HANDICAP_S`. A one-line reply overtakes paragraphs and the later sentences of a
    long input, and nothing starves: a job is overtaken only by jobs queued less than its
    handicap after it. A render already running is not interrupted, so a short request would
    still wait for a sentence of a paragraph to finish; ``express_workers`` extra threads take
    only the jobs of requests up to :data:`EXPRESS_CHARS` characters, so such a request starts at
    once even while every worker is busy. With ``worker_nice`` the workers run that many nice
    levels below the process (Linux), so a short request's render gets a core before a paragraph's
    or a long input's, which use what is left (sharing the cores equally, a one-line reply under
    load took ~1.7× its idle time to render).

    :param workers: threads rendering at once.
    :param depth: renders allowed to wait beyond those running.
    :param express_workers: threads for short requests only.
    :param worker_nice: nice levels below the process for the workers (0: the same priority).
    """

    def __init__(self, workers: int, depth: int, express_workers: int = 0, worker_nice: int = 0) -> None:
        if workers < 1 or depth < 0 or express_workers < 0 or worker_nice < 0:
            raise ValueError(
                f"need workers >= 1, depth >= 0, express_workers >= 0 and worker_nice >= 0, got "
                f"workers={workers!r}, depth={depth!r}, express_workers={express_workers!r}, "
                f"worker_nice={worker_nice!r}"
            )
        self.workers = workers
        self.depth = depth
        self.express_workers = express_workers
        self._pool = _PriorityPool(workers, express_workers, worker_nice)
        self._admitted = 0

    @property
    def load(self) -> int:
        """Renders running or waiting."""
        return self._admitted

    @property
    def jobs_done(self) -> int:
        """Jobs the render threads have finished."""
        return self._pool.jobs_done

    @contextlib.contextmanager
    def reserve(self) -> Iterator[None]:
        """Hold one place for several renders in a row (a stream); :class:`QueueFull` when full."""
        if self._admitted >= self.workers + self.depth:
            raise QueueFull(f"the server is busy: {self._admitted} renders running or waiting; retry shortly")
        self._admitted += 1
        try:
            yield
        finally:
            self._admitted -= 1

    async def call(
        self, size_chars: int, sentences_done: int, fn: Callable[..., T], *args: Any, **kwargs: Any
    ) -> T:
        """Run ``fn(*args, **kwargs)`` on a render thread, as a job of a request of ``size_chars``
        characters (0: unknown) that has had ``sentences_done`` sentences already (see the class);
        call it in a place taken with :meth:`reserve`, or for work that waits rather than fails."""
        deadline = time.monotonic() + handicap_s(size_chars, sentences_done)
        express = 0 < size_chars <= EXPRESS_CHARS
        job = functools.partial(fn, *args, **kwargs)
        return await asyncio.wrap_future(self._pool.submit(deadline, job, express=express))

    async def steps(
        self,
        size_chars: int,
        fn: Callable[..., Iterable[T]],
        *args: Any,
        timeout_s: float | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[T]:
        """The items of ``fn(*args, **kwargs)``, a blocking iterable, each taken in a job (see
        :meth:`call`; item k waits behind newer and shorter requests' first items). The first job
        also makes the iterable, and an iterator that tells how many items it has left
        (``operator.length_hint``, as :class:`~emotts_plugin.synthesizer.Chunks` does) is not asked
        once more only to find its end: a one-sentence reply is one job. ``timeout_s`` bounds the
        whole (:class:`asyncio.TimeoutError`)."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout_s is None else loop.time() + timeout_s

        def left() -> float | None:
            return None if deadline is None else max(0.0, deadline - loop.time())

        def first() -> tuple[Iterator[T], Any]:
            iterator = iter(fn(*args, **kwargs))
            return iterator, next(iterator, _DONE)

        iterator, item = await asyncio.wait_for(self.call(size_chars, 0, first), left())
        try:
            for index in itertools.count(1):
                if item is _DONE:
                    return
                yield item
                if operator.length_hint(iterator, -1) == 0:
                    return
                item = await asyncio.wait_for(self.call(size_chars, index, next, iterator, _DONE), left())
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except ValueError:  # still running on a render thread after a timeout; it ends on its own
                    pass

    async def run(self, fn: Callable[..., T], *args: Any, size_chars: int = 0, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a render thread; :class:`QueueFull` when the queue is full.
        ``size_chars``: the input's length, for the order of the queue."""
        with self.reserve():
            return await self.call(size_chars, 0, fn, *args, **kwargs)

    def close(self) -> None:
        self._pool.shutdown()


def default_workers() -> int:
    """Render threads for this machine: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def threads_per_worker(workers: int) -> int:
    """onnxruntime threads for each of ``workers`` render threads, so together they use the cores once."""
    return max(1, (os.cpu_count() or 1) // workers)
