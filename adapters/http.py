"""The HTTP server: one aiohttp application that hosts the API adapters and the WebUI.

``create_app(config)`` builds the application; the synthesizer is loaded once
in ``cleanup_ctx`` and shared. Synthesis never runs on the event loop: every
render goes through :class:`RenderQueue`, a bounded queue in front of a small
thread pool; when it is full the request gets ``503`` with ``Retry-After``.
:func:`render` runs one blocking call through it; :func:`render_iter` pulls a
blocking iterator (a sentence-by-sentence render) one item per call, holding one
place for the whole stream. :func:`check_input` answers ``413`` for input over
``limits.max_input_bytes`` before any parsing.
Errors cross the wire in one shape: ``{"error": {"message", "type", "code"}}``, aiohttp's own
answers to malformed requests included (:class:`BoundedRequestHandler`). A ``500`` never shows
the exception's text (it goes to the log). A client that goes away is no error: it is logged at
debug level and counted in ``emotts_client_disconnects_total``.

Reading is bounded in time: a request's head and body must arrive within
``limits.read_timeout_s`` of its first byte (a slower body gets ``408``, a slower head a closed
connection), and a keep-alive connection silent for ``limits.idle_timeout_s`` is closed.
:class:`HttpServer` serves an application that way; :func:`serve` runs one until interrupted.

Route groups register themselves with ``add_routes(app)`` functions listed in
:data:`ROUTE_MODULES`.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import functools
import heapq
import importlib
import itertools
import json
import logging
import operator
import os
import signal
import sys
import threading
import time
from http import HTTPStatus
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence, TypeVar

from aiohttp import ClientPayloadError, web
from aiohttp.http_exceptions import (
    BadHttpMethod,
    BadStatusLine,
    ContentEncodingError,
    ContentLengthError,
    HttpProcessingError,
    InvalidHeader,
    InvalidURLError,
    LineTooLong,
    TransferEncodingError,
)

from emotts_plugin.config import Config, load_config
from emotts_plugin.errors import EmottsError, LimitError, MissingExtraError
from emotts_plugin.memory import Trimmer
from emotts_plugin.runtime import Runtime
from emotts_plugin.synthesizer import Synthesizer

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

#: Modules whose ``add_routes(app)`` adds routes, in order.
ROUTE_MODULES = (
    "emotts_plugin.adapters.api",
    "emotts_plugin.adapters.openai_api",
    "emotts_plugin.adapters.webui",
    "emotts_plugin.adapters.ivr",
    "emotts_plugin.adapters.references",
)


class QueueFull(EmottsError, RuntimeError):
    """The render queue is full; retry later."""


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


class _PriorityPool:
    """Worker threads taking the job with the earliest deadline first (FIFO among equals), at
    ``worker_nice`` below the process's priority, and express threads taking only the express
    jobs, at the process's priority; freed memory goes back to the system every few seconds
    (:class:`~emotts_plugin.memory.Trimmer`)."""

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
            threading.Thread(target=self._work, args=(False,), name=f"emotts-render-{i}", daemon=True) for i in range(workers)
        ] + [
            threading.Thread(target=self._work, args=(True,), name=f"emotts-express-{i}", daemon=True)
            for i in range(express_workers)
        ]
        for thread in self._threads:
            thread.start()

    def submit(self, deadline: float, fn: Callable[[], T], *, express: bool = False) -> concurrent.futures.Future:
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
                f"workers={workers!r}, depth={depth!r}, express_workers={express_workers!r}, worker_nice={worker_nice!r}"
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

    async def call(self, size_chars: int, sentences_done: int, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run ``fn(*args, **kwargs)`` on a render thread, as a job of a request of ``size_chars``
        characters (0: unknown) that has had ``sentences_done`` sentences already (see the class);
        call it in a place taken with :meth:`reserve`, or for work that waits rather than fails."""
        deadline = time.monotonic() + handicap_s(size_chars, sentences_done)
        express = 0 < size_chars <= EXPRESS_CHARS
        job = functools.partial(fn, *args, **kwargs)
        return await asyncio.wrap_future(self._pool.submit(deadline, job, express=express))

    async def steps(
        self, size_chars: int, fn: Callable[..., Iterable[T]], *args: Any, timeout_s: float | None = None, **kwargs: Any
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


class Metrics:
    """Counters for ``/metrics`` (Prometheus text format)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[str, int], int] = {}
        self.errors: dict[str, int] = {}
        self.client_disconnects: dict[str, int] = {}
        self.audio_seconds = 0.0
        self.latency_sum = 0.0
        self.latency_count = 0
        self.started = time.time()

    def observe(self, route: str, status: int, seconds: float) -> None:
        self.requests[(route, status)] = self.requests.get((route, status), 0) + 1
        if status >= 400:
            self.errors[route] = self.errors.get(route, 0) + 1
        self.latency_sum += seconds
        self.latency_count += 1

    def client_disconnect(self, route: str) -> None:
        """A client went away before its answer: counted apart, neither a status nor an error."""
        self.client_disconnects[route] = self.client_disconnects.get(route, 0) + 1

    def render(self, queue: RenderQueue, cache: dict[str, int] | None = None) -> str:
        lines = [
            "# HELP emotts_requests_total HTTP requests by route and status.",
            "# TYPE emotts_requests_total counter",
        ]
        for (route, status), count in sorted(self.requests.items()):
            lines.append(f'emotts_requests_total{{route="{route}",status="{status}"}} {count}')
        lines += ["# HELP emotts_errors_total HTTP requests answered with an error.", "# TYPE emotts_errors_total counter"]
        for route, count in sorted(self.errors.items()):
            lines.append(f'emotts_errors_total{{route="{route}"}} {count}')
        lines += [
            "# HELP emotts_client_disconnects_total Requests whose client went away before the answer.",
            "# TYPE emotts_client_disconnects_total counter",
        ]
        for route, count in sorted(self.client_disconnects.items()):
            lines.append(f'emotts_client_disconnects_total{{route="{route}"}} {count}')
        lines += [
            "# HELP emotts_audio_seconds_total Seconds of audio rendered.",
            "# TYPE emotts_audio_seconds_total counter",
            f"emotts_audio_seconds_total {self.audio_seconds:.3f}",
            "# HELP emotts_request_latency_seconds Time to answer requests.",
            "# TYPE emotts_request_latency_seconds summary",
            f"emotts_request_latency_seconds_sum {self.latency_sum:.6f}",
            f"emotts_request_latency_seconds_count {self.latency_count}",
            "# HELP emotts_queue_load Renders running or waiting.",
            "# TYPE emotts_queue_load gauge",
            f"emotts_queue_load {queue.load}",
            "# HELP emotts_render_jobs_total Jobs (a sentence, a prompt, an analysis) the render threads finished.",
            "# TYPE emotts_render_jobs_total counter",
            f"emotts_render_jobs_total {queue.jobs_done}",
        ]
        if cache is not None:
            lines += [
                "# HELP emotts_cache_hits_total Rendered sentences answered from the cache, by tier.",
                "# TYPE emotts_cache_hits_total counter",
                f'emotts_cache_hits_total{{tier="memory"}} {cache["hits_memory"]}',
                f'emotts_cache_hits_total{{tier="disk"}} {cache["hits_disk"]}',
                "# HELP emotts_cache_misses_total Rendered sentences not in the cache (rendered).",
                "# TYPE emotts_cache_misses_total counter",
                f"emotts_cache_misses_total {cache['misses']}",
                "# HELP emotts_cache_evictions_total Entries dropped to stay within the bounds, by tier.",
                "# TYPE emotts_cache_evictions_total counter",
                f'emotts_cache_evictions_total{{tier="memory"}} {cache["evictions_memory"]}',
                f'emotts_cache_evictions_total{{tier="disk"}} {cache["evictions_disk"]}',
                "# HELP emotts_cache_bytes Bytes held, by tier.",
                "# TYPE emotts_cache_bytes gauge",
                f'emotts_cache_bytes{{tier="memory"}} {cache["memory_bytes"]}',
                f'emotts_cache_bytes{{tier="disk"}} {cache["disk_bytes"]}',
            ]
        return "\n".join(lines) + "\n"


CONFIG = web.AppKey("config", Config)
SYNTHESIZER = web.AppKey("synthesizer", Synthesizer)
QUEUE = web.AppKey("queue", RenderQueue)
METRICS = web.AppKey("metrics", Metrics)


class ApiError(Exception):
    """An error answered as ``{"error": {"message", "type", "code"}}`` with ``status``."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        code: str | None = None,
        headers: dict | None = None,
        extra: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.code = code
        self.headers = headers or {}
        self.extra = extra or {}

    def response(self) -> web.Response:
        body = {"error": {"message": self.message, "type": self.type, "code": self.code, **self.extra}}
        return web.json_response(body, status=self.status, headers=self.headers)


#: The message of every ``500``: the exception's own text may hold internals (a script, a path),
#: so it goes to the log only.
INTERNAL_ERROR_MESSAGE = "internal error (see the server log)"
#: The status logged (never sent) for a request whose client went away: nginx's "client closed request".
CLIENT_CLOSED_REQUEST = 499
#: What a request's read fails with when its client has gone: the connection dropped (reads and
#: writes), or the body was cut short.
DISCONNECT_ERRORS = (ConnectionError, web.RequestPayloadError, ClientPayloadError)


class _BodyAbandoned(asyncio.TimeoutError):
    """Set on a request's body stream when the server stops waiting for it (it came slower than
    ``limits.read_timeout_s``, or its encoding broke), so every later read raises it. A
    ``TimeoutError`` because aiohttp, draining an unread body after the answer (its lingering
    read), then closes the connection quietly, where any other exception is logged as unhandled."""


def error_for(exc: BaseException) -> ApiError:
    """The JSON error for an exception raised while serving; a ``500`` says only that it is one
    and names the exception's class, and the traceback goes to the log."""
    code = type(exc).__name__
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, QueueFull):
        return ApiError(503, str(exc), type_="server_busy", code=code, headers={"Retry-After": "2"})
    if isinstance(exc, LimitError):
        return ApiError(413, str(exc), type_="invalid_request_error", code=code)
    if isinstance(exc, MissingExtraError):
        return ApiError(400, str(exc), type_="invalid_request_error", code=code)
    if isinstance(exc, (ValueError, TypeError)):
        return ApiError(400, str(exc), type_="invalid_request_error", code=code)
    if isinstance(exc, _BodyAbandoned):
        return ApiError(408, str(exc), type_="timeout", code="RequestTimeout")
    if isinstance(exc, asyncio.TimeoutError):
        return ApiError(504, "the request took longer than limits.request_timeout_s", type_="timeout", code="Timeout")
    _LOGGER.error("internal error (%s)", code, exc_info=exc)
    return ApiError(500, INTERNAL_ERROR_MESSAGE, type_="server_error", code=code)


def client_gone(request: web.BaseRequest) -> bool:
    """Whether the request's connection is closed (the client went away, or it was cut)."""
    transport = request.transport
    return transport is None or transport.is_closing()


#: Set on a request whose client went away while its answer was streamed (:func:`client_went_away`).
_WENT_AWAY = web.RequestKey("emotts_client_went_away", bool)


def client_went_away(request: web.Request) -> None:
    """Note that the client of a started (streamed) answer went away: :func:`error_middleware`
    then counts the request in ``emotts_client_disconnects_total``, not under its status. Call it
    where a write to the client fails with ``ConnectionResetError``."""
    _LOGGER.debug("client went away during the answer to %s %s", request.method, request.path)
    request[_WENT_AWAY] = True


def _watch_body(request: web.Request, deadline: float) -> None:
    """Fail the reads of the request's body with :class:`_BodyAbandoned` (a ``408``) if it is not
    whole at ``deadline`` (event-loop time)."""
    body = request.content
    if body.is_eof():
        return
    limit = request.app[CONFIG].limits.read_timeout_s

    def expired() -> None:
        if not body.is_eof():
            _LOGGER.debug("request body from %s not received within %ss", request.remote, limit)
            body.set_exception(_BodyAbandoned(
                f"the request body did not arrive within limits.read_timeout_s ({limit:g} s) of the request's start"
            ))

    timer = asyncio.get_running_loop().call_at(deadline, expired)
    body.on_eof(timer.cancel)


def _http_exception_error(request: web.Request, exc: web.HTTPException) -> ApiError:
    headers = {k: v for k, v in exc.headers.items() if k.lower() not in {"content-type", "content-length"}}
    message = exc.reason
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        limit = request.app[CONFIG].limits.max_body_bytes
        message = f"request body is larger than limits.max_body_bytes ({limit:,} bytes)"
    type_ = "server_error" if exc.status >= 500 else "invalid_request_error"
    return ApiError(exc.status, message, type_=type_, code=type(exc).__name__, headers=headers)


@web.middleware
async def error_middleware(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
    """Every error leaves as the JSON shape; every answered request is counted, and every request
    whose client went away before its answer is counted apart. The body must arrive within
    ``limits.read_timeout_s`` of the request's first byte (see :class:`BoundedRequestHandler`)."""
    started = time.perf_counter()
    resource = request.match_info.route.resource
    route = resource.canonical if resource is not None else "unmatched"
    metrics = request.app[METRICS]
    protocol = request.protocol
    loop = asyncio.get_running_loop()
    first_byte = protocol.head_received() if isinstance(protocol, BoundedRequestHandler) else loop.time()
    _watch_body(request, first_byte + request.app[CONFIG].limits.read_timeout_s)
    try:
        response = await handler(request)
    except asyncio.CancelledError:
        if client_gone(request):
            metrics.client_disconnect(route)
            _LOGGER.debug("client went away during %s %s (handler cancelled)", request.method, request.path)
        raise
    except ApiError as exc:
        response = exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = _http_exception_error(request, exc).response()
    except Exception as exc:  # noqa: BLE001 - every failure answers in the error shape
        if isinstance(exc, DISCONNECT_ERRORS) and client_gone(request):
            metrics.client_disconnect(route)
            _LOGGER.debug("client went away during %s %s: %r", request.method, request.path, exc)
            return web.Response(status=CLIENT_CLOSED_REQUEST)  # logged in the access log, never sent
        if isinstance(exc, web.RequestPayloadError):  # the client is still there: its body is malformed
            request.content.set_exception(_BodyAbandoned("the request body is malformed"))
            cause = exc.__cause__
            detail = cause.message if isinstance(cause, HttpProcessingError) else str(exc)
            response = ApiError(400, f"the request body could not be read: {detail}", code="MalformedBody").response()
        else:
            response = error_for(exc).response()
        if isinstance(exc, (_BodyAbandoned, web.RequestPayloadError)):
            response.force_close()  # the rest of the body is not read: the connection cannot carry another request
    finally:
        if isinstance(protocol, BoundedRequestHandler):
            protocol.request_done()
    if request.get(_WENT_AWAY):
        metrics.client_disconnect(route)
    else:
        metrics.observe(route, response.status, time.perf_counter() - started)
    return response


async def render(request: web.Request, fn: Callable[..., T], *args: Any, size_chars: int = 0, **kwargs: Any) -> T:
    """Run a blocking render through the queue, bounded by ``limits.request_timeout_s``;
    ``size_chars`` is the input's length, which orders the queue (see :class:`RenderQueue`)."""
    app = request.app
    job = app[QUEUE].run(fn, *args, size_chars=size_chars, **kwargs)
    return await asyncio.wait_for(job, timeout=app[CONFIG].limits.request_timeout_s)


def render_iter(
    request: web.Request, fn: Callable[..., Iterable[T]], *args: Any, size_chars: int = 0, **kwargs: Any
) -> AsyncIterator[T]:
    """Items of the blocking iterable ``fn(*args, **kwargs)``, each made on a worker thread.

    The stream holds one place in the queue from start to end (:class:`QueueFull` when there is
    none), and the whole of it is bounded by ``limits.request_timeout_s``. ``size_chars`` is the
    input's length, which orders the queue (see :class:`RenderQueue`). Use it with
    ``contextlib.aclosing`` so the place is given back when the client goes away.
    """
    return app_render_iter(request.app, fn, *args, size_chars=size_chars, **kwargs)


async def app_render_iter(
    app: web.Application, fn: Callable[..., Iterable[T]], *args: Any, size_chars: int = 0, **kwargs: Any
) -> AsyncIterator[T]:
    """:func:`render_iter` for work that belongs to the application, not to one request (calls)."""
    queue = app[QUEUE]
    with queue.reserve():
        steps = queue.steps(size_chars, fn, *args, timeout_s=app[CONFIG].limits.request_timeout_s, **kwargs)
        async with contextlib.aclosing(steps):
            async for item in steps:
                yield item


async def render_all(
    request: web.Request, fn: Callable[..., Iterable[T]], *args: Any, size_chars: int = 0, **kwargs: Any
) -> list[T]:
    """Every item of :func:`render_iter`: each is its own worker job, so a long input yields between
    sentences and short requests queued meanwhile are not starved."""
    stream = render_iter(request, fn, *args, size_chars=size_chars, **kwargs)
    async with contextlib.aclosing(stream):
        return [item async for item in stream]


def check_input(request: web.Request, text: str) -> None:
    """413 when ``text`` is over ``limits.max_input_bytes`` (UTF-8), before any parsing."""
    limit = request.app[CONFIG].limits.max_input_bytes
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise ApiError(413, f"input is {size:,} bytes; the limit is {limit:,} (limits.max_input_bytes)", code="HostileInputError")


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: web.Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 4xx naming what is wrong: ``413`` for a body over
    ``limits.max_body_bytes`` (before reading it when its length is declared), ``400`` for a
    charset that is not a text encoding, bytes that are not in it, JSON that does not parse or
    nests too deeply, ``NaN`` or ``Infinity``, or a value that is not an object. The body is
    decoded as the ``Content-Type`` charset says, UTF-8 when it says none; the media type itself
    is not checked."""
    limit = request.app[CONFIG].limits.max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    data = await request.read()
    charset = request.charset or "utf-8"
    try:
        text = data.decode(charset)
    except LookupError:
        raise ApiError(
            400, f"the Content-Type names charset {charset[:40]!r}, which is not a text encoding; send JSON as UTF-8",
            code="UnsupportedCharset",
        ) from None
    except UnicodeError as exc:
        where = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
        raise ApiError(400, f"request body cannot be decoded as {charset[:40]!r}{where}", code="InvalidJSON") from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}", code="InvalidJSON") from None
    except RecursionError:
        message = "request body is not valid JSON here: it nests arrays or objects too deeply"
        raise ApiError(400, message, code="InvalidJSON") from None
    except ValueError as exc:  # NaN or Infinity, an integer of too many digits
        reason = str(exc).split(";")[0]
        raise ApiError(400, f"request body is not valid JSON: {reason}", code="InvalidJSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, f"request body must be a JSON object, got {type(body).__name__}", code="InvalidJSON")
    return body


async def healthz(request: web.Request) -> web.Response:
    synth = request.app[SYNTHESIZER]
    return web.json_response({"status": "ok", "voices": [v.name for v in synth.voices()], "queue": request.app[QUEUE].load})


async def metrics(request: web.Request) -> web.Response:
    synth = request.app.get(SYNTHESIZER)
    cache = synth.cache.stats() if synth is not None else None
    return web.Response(text=request.app[METRICS].render(request.app[QUEUE], cache), content_type="text/plain", charset="utf-8")


def default_workers() -> int:
    """Render threads for this machine: one per core, at most four."""
    return max(1, min(4, os.cpu_count() or 1))


def threads_per_worker(workers: int) -> int:
    """onnxruntime threads for each of ``workers`` render threads, so together they use the cores once."""
    return max(1, (os.cpu_count() or 1) // workers)


# -- connections ----------------------------------------------------------------------------


def framing_error(exc: HttpProcessingError) -> ApiError:
    """The JSON error for a request aiohttp could not parse (its request line, its headers, its
    length or chunked framing): a status and a code that name the problem, and aiohttp's
    description without the bytes it echoes."""
    detail = exc.message.split("\n", 1)[0].rstrip(": ")[:200]
    lowered = detail.lower()
    if isinstance(exc, LineTooLong):
        limit = exc.args[1] if len(exc.args) > 1 else "the allowed number of"
        message = f"a line of the request head (the request line or a header) is longer than {limit} bytes"
        return ApiError(431, message, code="HeaderTooLong")
    if "too many headers" in lowered:
        return ApiError(431, "the request has too many header lines", code="TooManyHeaders")
    if isinstance(exc, ContentEncodingError):
        message = f"the request body's Content-Encoding is not supported: {detail}"
        return ApiError(415, message, code="UnsupportedContentEncoding")
    if "content-length" in lowered and "transfer-encoding" in lowered:
        return ApiError(400, f"the request's length is ambiguous: {detail}", code="ConflictingLength")
    if isinstance(exc, ContentLengthError) or "content-length" in lowered:
        return ApiError(400, f"the request's Content-Length is not valid: {detail}", code="InvalidContentLength")
    if isinstance(exc, TransferEncodingError) or "chunk" in lowered or "transfer-encoding" in lowered:
        message = f"the request's chunked transfer encoding is malformed: {detail}"
        return ApiError(400, message, code="InvalidChunkedEncoding")
    if isinstance(exc, BadHttpMethod):
        return ApiError(400, f"the request line does not start with an HTTP method: {detail}", code="BadHttpMethod")
    if isinstance(exc, BadStatusLine):
        return ApiError(400, f"the request line is malformed: {detail}", code="BadRequestLine")
    if isinstance(exc, InvalidURLError):
        return ApiError(400, f"the request's target is not a valid URL: {detail}", code="InvalidURL")
    if isinstance(exc, InvalidHeader):
        return ApiError(400, f"the request has a malformed header: {detail}", code="InvalidHeader")
    return ApiError(400, f"the request is not well-formed HTTP: {detail}", code="BadHttpMessage")


class BoundedRequestHandler(web.RequestHandler):
    """aiohttp's connection handler with a deadline for reading each request, and errors in the
    JSON shape.

    A request's head must be whole within ``read_timeout_s`` of its first byte, or the connection
    is closed (a client sending a header a byte at a time holds nothing for long); the body's
    deadline, from the same first byte, is kept by :func:`error_middleware`, which tells this
    handler when a head has arrived (:meth:`head_received`) and when its request is done
    (:meth:`request_done`). A connection waiting for its next request is closed after
    ``keepalive_timeout`` (aiohttp's own timer; set it to ``limits.idle_timeout_s``).

    aiohttp answers a request it cannot parse (a bad request line, an oversized or malformed
    header, an invalid Content-Length, broken chunked framing) before any application sees it,
    in plain text, through :meth:`handle_error`; here that answer is the JSON error of
    :func:`framing_error`. aiohttp's sites (``web.TCPSite`` on a ``web.AppRunner``) always build
    a plain ``web.RequestHandler`` and take no class, so this one is made by
    :class:`HttpServer`'s own listener, on the ``web.Server`` of an ``AppRunner``. Only public
    names of aiohttp are used, but ``handle_error`` is not in its documentation: were a later
    aiohttp to stop calling it, malformed requests would get aiohttp's plain-text answers again
    (tests/test_bounded_http.py pins the JSON ones).
    """

    def __init__(self, manager: web.Server, *, read_timeout_s: float, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.read_timeout_s = read_timeout_s
        self._head_started = 0.0  # event-loop time of the first byte of the head being read
        self._head_timer: asyncio.TimerHandle | None = None
        self._handling = False  # a request's handler runs: bytes now are its body, not a new head

    def data_received(self, data: bytes) -> None:
        if data and not self._handling and self._head_timer is None:
            loop = asyncio.get_running_loop()
            self._head_started = loop.time()
            self._head_timer = loop.call_later(self.read_timeout_s, self._head_expired)
        super().data_received(data)

    def head_received(self) -> float:
        """A request's head is parsed and its handler starts; returns the event-loop time of the
        request's first byte (now, for a head that came while the previous request ran)."""
        self._handling = True
        if self._head_timer is None:
            return asyncio.get_running_loop().time()
        self._head_timer.cancel()
        self._head_timer = None
        return self._head_started

    def request_done(self) -> None:
        """The request's handler has finished: the next bytes start a new head."""
        self._handling = False

    def _head_expired(self) -> None:
        self._head_timer = None
        _LOGGER.debug("closing a connection: no whole request head in %ss (limits.read_timeout_s)", self.read_timeout_s)
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def handle_error(
        self, request: web.BaseRequest, status: int = 500, exc: BaseException | None = None, message: str | None = None
    ) -> web.StreamResponse:
        """aiohttp's answer to a request it could not parse, or to an exception no middleware
        caught, in the JSON shape; the connection closes after it."""
        if request.writer.output_size > 0:  # an answer has started: aiohttp cuts the connection
            return super().handle_error(request, status, exc, message)
        code = type(exc).__name__ if exc is not None else None
        if isinstance(exc, HttpProcessingError):
            error = framing_error(exc)
            _LOGGER.debug("malformed request from %s: %s", request.remote, exc.message.split("\n", 1)[0])
        elif status == HTTPStatus.INTERNAL_SERVER_ERROR:
            _LOGGER.error("internal error (%s)", code, exc_info=exc)
            error = ApiError(status, INTERNAL_ERROR_MESSAGE, type_="server_error", code=code)
        else:  # a timeout that escaped the handler (504)
            error = ApiError(status, message or "the request took too long", type_="timeout", code=code)
        response = error.response()
        response.force_close()
        return response


class HttpServer:
    """An application served on ``host:port`` through :class:`BoundedRequestHandler`
    connections: read deadlines (``limits.read_timeout_s``), idle keep-alive connections closed
    (``limits.idle_timeout_s``), and framing errors in the JSON shape.

    The application starts (``web.AppRunner.setup``: the voice loads) before the port opens.
    Use it as ``async with HttpServer(app, host, port) as server:`` or call :meth:`start` and
    :meth:`close`; :attr:`port` is the port bound (useful with port 0).
    """

    def __init__(self, app: web.Application, host: str | None, port: int) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None

    @property
    def port(self) -> int:
        if self._listener is None:
            raise RuntimeError("the server is not started")
        return self._listener.sockets[0].getsockname()[1]

    async def start(self) -> None:
        limits = self.app[CONFIG].limits
        runner = web.AppRunner(self.app)
        await runner.setup()
        loop = asyncio.get_running_loop()
        manager = runner.server

        def connection() -> BoundedRequestHandler:
            return BoundedRequestHandler(
                manager, loop=loop, keepalive_timeout=limits.idle_timeout_s, read_timeout_s=limits.read_timeout_s
            )

        try:
            self._listener = await loop.create_server(connection, self.host, self.requested_port)
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner

    async def close(self) -> None:
        """Stop listening, close the connections (a running request gets aiohttp's shutdown
        grace), stop the application."""
        if self._listener is not None:
            self._listener.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._listener is not None:
            await self._listener.wait_closed()
            self._listener = None

    async def __aenter__(self) -> "HttpServer":
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()


def create_app(
    config: Config | None = None,
    *,
    synthesizer: Synthesizer | None = None,
    runtime: Runtime | None = None,
    workers: int | None = None,
    queue_depth: int | None = None,
    express_workers: int | None = None,
    worker_nice: int = WORKER_NICE,
    routes: Sequence[str] = ROUTE_MODULES,
) -> web.Application:
    """The HTTP application.

    :param synthesizer: a loaded synthesizer to share (tests pass one); loaded at start-up when ``None``.
    :param runtime: the runtime (plugins) to build that synthesizer on; a fresh one when ``None``.
    :param workers: render threads (default :func:`default_workers`).
    :param queue_depth: renders allowed to wait (default 8 per worker).
    :param express_workers: extra threads for short requests only, so they can have every core
        (default: as many as ``workers``; see :class:`RenderQueue`).
    :param worker_nice: how far below the process the workers run (see :class:`RenderQueue`).
    :param routes: route modules to mount (default :data:`ROUTE_MODULES`).
    """
    config = config or (synthesizer.config if synthesizer else runtime.config if runtime else load_config())
    app = web.Application(
        middlewares=[error_middleware],
        client_max_size=config.limits.max_body_bytes,
        # every server of this app (HttpServer, a plain AppRunner, the test client) closes idle connections
        handler_args={"keepalive_timeout": config.limits.idle_timeout_s},
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    n_workers = workers or default_workers()
    app[QUEUE] = RenderQueue(
        n_workers,
        queue_depth if queue_depth is not None else 8 * n_workers,
        n_workers if express_workers is None else express_workers,
        worker_nice,
    )
    voice_config = config
    if synthesizer is None and config.threads is None:
        # workers render at once: give each a share of the cores instead of all of them
        voice_config = dataclasses.replace(config, threads=threads_per_worker(n_workers))

    async def lifecycle(app: web.Application):
        if synthesizer is not None:
            app[SYNTHESIZER] = synthesizer
        else:
            loop = asyncio.get_running_loop()
            shared = Runtime(voice_config, pm=runtime.pm) if runtime is not None else None
            build = functools.partial(Synthesizer, voice_config, runtime=shared)
            app[SYNTHESIZER] = await loop.run_in_executor(None, build)
        yield
        app[QUEUE].close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    for name in routes:
        importlib.import_module(name).add_routes(app)
    return app


def serve(
    config: Config,
    *,
    host: str | None = None,
    port: int | None = None,
    runtime: Runtime | None = None,
    plugins: Iterable[str | Any] = (),
) -> None:
    """Run the HTTP server until interrupted (Ctrl+C or SIGTERM); the voice loads once, before
    the port opens. Served through :class:`HttpServer`, so the read and idle timeouts apply.

    :param runtime: the runtime to serve (the command line passes its own); else one is built
        from ``config`` with ``plugins``.
    :raises OSError: the address cannot be bound (a port in use).
    """
    runtime = runtime or Runtime(config, plugins=plugins)
    app = create_app(config, runtime=runtime)
    host = host or config.server.http_host
    port = port if port is not None else config.server.http_port
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve_until_stopped(app, host, port))


async def _serve_until_stopped(app: web.Application, host: str, port: int) -> None:
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows, or not the main thread: Ctrl+C still works
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
    async with HttpServer(app, host, port) as server:
        print(f"emotts: serving HTTP on http://{host}:{server.port} (Ctrl+C to stop)", flush=True)
        await stopped.wait()
