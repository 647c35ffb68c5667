"""The HTTP server: one aiohttp application that hosts the API adapters and the WebUI.

``create_app(config)`` builds the application; the synthesizer is loaded once
in ``cleanup_ctx`` and shared. Synthesis never runs on the event loop: every
render goes through the application's :class:`~emotts_plugin.render_queue.RenderQueue`,
a bounded queue in front of a small thread pool; when it is full the request gets ``503``
with ``Retry-After``. What a handler reads from its request (the application's typed state,
the JSON body, checked fields) and the helpers that run its renders through the queue
(``render``, ``render_iter``) are in :mod:`.requests`, which the route modules share; the
``/metrics`` counters are in :mod:`.metrics`. This module mounts the route modules by name
(:data:`ROUTE_MODULES`) and none of them imports it.
Errors cross the wire in one shape: ``{"error": {"message", "type", "code"}}``
(:class:`~.requests.ApiError`), aiohttp's own answers to malformed requests included
(:class:`BoundedRequestHandler`). A ``500`` never shows the exception's text (it goes to the
log). A client that goes away is no error: it is logged at debug level and counted in
``emotts_client_disconnects_total``.

Reading is bounded in time: a request's head and body must arrive within
``limits.read_timeout_s`` of its first byte (a slower body gets ``408``, a slower head a closed
connection), and a keep-alive connection silent for ``limits.idle_timeout_s`` is closed.
:class:`HttpServer` serves an application that way; :func:`serve` runs one until interrupted.

Route groups register themselves with ``add_routes(app)`` functions listed in
:data:`ROUTE_MODULES`.

Browsers on other origins may call the API when ``server.cors_origins`` allows theirs (CORS, off
by default): :func:`cors_middleware` answers preflights, :func:`add_cors_headers` marks every
answer to an allowed origin (see :class:`Cors`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import importlib
import logging
import re
import signal
import time
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Awaitable, Callable, Iterable, Sequence, TypeVar

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
from emotts_plugin.render_queue import WORKER_NICE, RenderQueue, default_workers, threads_per_worker
from emotts_plugin.runtime import Runtime
from emotts_plugin.synthesizer import Synthesizer

from .metrics import Metrics
from .requests import (
    CLIENT_WENT_AWAY,
    CONFIG,
    INTERNAL_ERROR_MESSAGE,
    METRICS,
    QUEUE,
    SYNTHESIZER,
    ApiError,
    BodyAbandoned,
    client_gone,
    error_for,
)

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


#: The status logged (never sent) for a request whose client went away: nginx's "client closed request".
CLIENT_CLOSED_REQUEST = 499
#: What a request's read fails with when its client has gone: the connection dropped (reads and
#: writes), or the body was cut short.
DISCONNECT_ERRORS = (ConnectionError, web.RequestPayloadError, ClientPayloadError)


def _watch_body(request: web.Request, deadline: float) -> None:
    """Fail the reads of the request's body with :class:`BodyAbandoned` (a ``408``) if it is not
    whole at ``deadline`` (event-loop time)."""
    body = request.content
    if body.is_eof():
        return
    limit = request.app[CONFIG].limits.read_timeout_s

    def expired() -> None:
        if not body.is_eof():
            _LOGGER.debug("request body from %s not received within %ss", request.remote, limit)
            body.set_exception(
                BodyAbandoned(
                    f"the request body did not arrive within limits.read_timeout_s ({limit:g} s) "
                    "of the request's start"
                )
            )

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
async def error_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
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
            request.content.set_exception(BodyAbandoned("the request body is malformed"))
            cause = exc.__cause__
            detail = cause.message if isinstance(cause, HttpProcessingError) else str(exc)
            response = ApiError(
                400, f"the request body could not be read: {detail}", code="MalformedBody"
            ).response()
        else:
            response = error_for(exc).response()
        if isinstance(exc, (BodyAbandoned, web.RequestPayloadError)):
            # the rest of the body is not read: the connection cannot carry another request
            response.force_close()
    finally:
        if isinstance(protocol, BoundedRequestHandler):
            protocol.request_done()
    if request.get(CLIENT_WENT_AWAY):
        metrics.client_disconnect(route)
    else:
        metrics.observe(route, response.status, time.perf_counter() - started)
    return response


# -- CORS -------------------------------------------------------------------------------------


#: Methods the routes use, allowed to cross origins.
CORS_METHODS = ("GET", "HEAD", "POST", "DELETE", "OPTIONS")
#: Request headers always allowed (the SDKs send more: a preflight's own list is allowed too).
CORS_HEADERS = ("Authorization", "Content-Type", "Accept", "OpenAI-Organization", "OpenAI-Project")
#: Response headers always exposed to scripts; every ``X-Emotts-*`` header of an answer is too.
CORS_EXPOSED = ("Retry-After",)
#: How long a browser may keep a preflight's answer, in seconds.
CORS_MAX_AGE_S = 600
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True, slots=True)
class Cors:
    """Which browser origins may call the API, from ``server.cors_origins``.

    An allowed origin gets ``Access-Control-Allow-Origin`` (its own origin, or ``*`` when any
    origin is allowed) on every answer, with ``Access-Control-Expose-Headers`` naming the
    answer's ``X-Emotts-*`` headers; a preflight (``OPTIONS`` with
    ``Access-Control-Request-Method``) from it is answered ``204`` with the allowed methods and
    headers. Any other origin gets no CORS header (and ``403`` for its preflight). Credentials
    (cookies) are never allowed: none is needed, API keys travel in ``Authorization``.
    """

    origins: frozenset[str]
    """Allowed origins, lower-cased, without a trailing ``/``."""
    any_origin: bool = False
    """``*``: every origin is allowed."""

    @classmethod
    def from_setting(cls, value: str | None) -> "Cors | None":
        """The policy of ``server.cors_origins`` (comma-separated origins or ``*``); ``None`` when
        it allows none."""
        names = [part.strip() for part in (value or "").split(",") if part.strip()]
        if not names:
            return None
        return cls(frozenset(_origin_key(name) for name in names if name != "*"), "*" in names)

    def allow_origin(self, origin: str | None) -> str | None:
        """The ``Access-Control-Allow-Origin`` for a request from ``origin``; ``None``: not allowed."""
        if origin is None:
            return None
        if self.any_origin:
            return "*"
        return origin if _origin_key(origin) in self.origins else None


def _origin_key(origin: str) -> str:
    return origin.strip().rstrip("/").lower()


#: The application's CORS policy (absent when ``server.cors_origins`` allows no origin).
CORS = web.AppKey("cors", Cors)


@web.middleware
async def cors_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Answer CORS preflights (``OPTIONS`` with ``Origin`` and ``Access-Control-Request-Method``)
    before any route: ``204`` with the CORS headers for an allowed origin, ``403`` without them
    for another. Other requests pass on; :func:`add_cors_headers` marks their answers."""
    origin = request.headers.get("Origin")
    wanted = request.headers.get("Access-Control-Request-Method")
    if request.method != "OPTIONS" or origin is None or wanted is None:
        return await handler(request)
    allowed = request.app[CORS].allow_origin(origin)
    if allowed is None:
        message = f"origin {origin[:100]!r} is not allowed (server.cors_origins)"
        response = ApiError(403, message, code="CorsOriginNotAllowed").response()
        response.headers["Vary"] = "Origin"
        return response
    asked = [h.strip() for h in request.headers.get("Access-Control-Request-Headers", "").split(",")]
    extra = [h for h in asked if h and _TOKEN.match(h) and h.lower() not in {c.lower() for c in CORS_HEADERS}]
    return web.Response(
        status=204,
        headers={
            "Access-Control-Allow-Origin": allowed,
            "Access-Control-Allow-Methods": ", ".join(CORS_METHODS),
            "Access-Control-Allow-Headers": ", ".join([*CORS_HEADERS, *extra]),
            "Access-Control-Max-Age": str(CORS_MAX_AGE_S),
            "Vary": "Origin",
        },
    )


async def add_cors_headers(request: web.BaseRequest, response: web.StreamResponse) -> None:
    """``on_response_prepare``: the CORS headers of an answer to an allowed origin, set before its
    head is sent (so streamed answers get them too); ``Vary: Origin`` on every answer."""
    if "Access-Control-Allow-Origin" in response.headers:  # a preflight's answer
        return
    varies = {
        name.strip().lower() for value in response.headers.getall("Vary", ()) for name in value.split(",")
    }
    if "origin" not in varies:
        response.headers.add("Vary", "Origin")
    allowed = request.app[CORS].allow_origin(request.headers.get("Origin"))
    if allowed is None:
        return
    exposed = [*CORS_EXPOSED, *(name for name in response.headers if name.lower().startswith("x-emotts-"))]
    response.headers["Access-Control-Allow-Origin"] = allowed
    response.headers["Access-Control-Expose-Headers"] = ", ".join(dict.fromkeys(exposed))


async def healthz(request: web.Request) -> web.Response:
    synth = request.app[SYNTHESIZER]
    return web.json_response(
        {"status": "ok", "voices": [v.name for v in synth.voices()], "queue": request.app[QUEUE].load}
    )


async def metrics(request: web.Request) -> web.Response:
    synth = request.app.get(SYNTHESIZER)
    cache = synth.cache.stats() if synth is not None else None
    return web.Response(
        text=request.app[METRICS].render(request.app[QUEUE], cache),
        content_type="text/plain",
        charset="utf-8",
    )


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
        return ApiError(
            400, f"the request's Content-Length is not valid: {detail}", code="InvalidContentLength"
        )
    if isinstance(exc, TransferEncodingError) or "chunk" in lowered or "transfer-encoding" in lowered:
        message = f"the request's chunked transfer encoding is malformed: {detail}"
        return ApiError(400, message, code="InvalidChunkedEncoding")
    if isinstance(exc, BadHttpMethod):
        return ApiError(
            400, f"the request line does not start with an HTTP method: {detail}", code="BadHttpMethod"
        )
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
        _LOGGER.debug(
            "closing a connection: no whole request head in %ss (limits.read_timeout_s)", self.read_timeout_s
        )
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None
        super().connection_lost(exc)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
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
                manager,
                loop=loop,
                keepalive_timeout=limits.idle_timeout_s,
                read_timeout_s=limits.read_timeout_s,
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
    cors = Cors.from_setting(config.server.cors_origins)
    app = web.Application(
        middlewares=[cors_middleware, error_middleware] if cors is not None else [error_middleware],
        client_max_size=config.limits.max_body_bytes,
        # every server of this app (HttpServer, a plain AppRunner, the test client) closes idle connections
        handler_args={"keepalive_timeout": config.limits.idle_timeout_s},
    )
    app[CONFIG] = config
    app[METRICS] = Metrics()
    if cors is not None:
        app[CORS] = cors
        app.on_response_prepare.append(add_cors_headers)
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
    with contextlib.suppress(
        NotImplementedError, RuntimeError
    ):  # Windows, or not the main thread: Ctrl+C still works
        loop.add_signal_handler(signal.SIGTERM, stopped.set)
    async with HttpServer(app, host, port) as server:
        print(f"emotts: serving HTTP on http://{host}:{server.port} (Ctrl+C to stop)", flush=True)
        await stopped.wait()
