"""What every HTTP handler reads from its request, and the one shape its errors leave in.

Shared by the route modules (:mod:`.api`, :mod:`.openai_api`, :mod:`.webui`, :mod:`.ivr`,
:mod:`.references`) and the server (:mod:`.http`):

- the application's typed state: :data:`CONFIG`, :data:`SYNTHESIZER`, :data:`QUEUE`, :data:`METRICS`;
- :class:`ApiError`, answered as ``{"error": {"message", "type", "code"}}``, and :func:`error_for`,
  the error any exception raised while serving becomes (a ``500`` never shows its text);
- the body: :func:`read_json` (bounded, strict JSON object) and :func:`check_input` (``413`` for
  input over ``limits.max_input_bytes``, before any parsing);
- the field readers (:func:`check_fields`, :func:`text_field`, :func:`optional`,
  :func:`emotion_field`, :func:`mode_field`), each a ``400`` naming the field and the value
  (ranges of speech options are checked by :class:`~emotts_plugin.options.SpeechOptions`);
- clients that go away: :func:`client_gone`, :func:`client_went_away`;
- what an answer's warnings say: :func:`warning_headers` (``X-Emotts-Warnings``, the count, and
  ``X-Emotts-Warning-Texts``, their texts as bounded ASCII JSON);
- event streams (``text/event-stream``): :func:`event_stream_response`, :func:`sse_event` and
  :func:`error_event`, the error shape as an event for failures after the answer started;
- renders through the application's queue, bounded by ``limits.request_timeout_s``:
  :func:`render`, :func:`render_iter`, :func:`app_render_iter`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, AsyncIterator, Callable, Iterable, Mapping, TypeVar

from aiohttp import web

from emotts_plugin.config import Config
from emotts_plugin.errors import LimitError, MissingExtraError, QueueFull
from emotts_plugin.render_queue import RenderQueue
from emotts_plugin.synthesizer import Synthesizer

from .metrics import Metrics

_LOGGER = logging.getLogger(__name__)

T = TypeVar("T")

#: The configuration the application was made with.
CONFIG = web.AppKey("config", Config)
#: The one synthesizer every route renders with (loaded at start-up).
SYNTHESIZER = web.AppKey("synthesizer", Synthesizer)
#: The render queue every route's renders go through.
QUEUE = web.AppKey("queue", RenderQueue)
#: The counters ``GET /metrics`` answers with.
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


class BodyAbandoned(asyncio.TimeoutError):
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
    if isinstance(exc, BodyAbandoned):
        return ApiError(408, str(exc), type_="timeout", code="RequestTimeout")
    if isinstance(exc, asyncio.TimeoutError):
        return ApiError(
            504, "the request took longer than limits.request_timeout_s", type_="timeout", code="Timeout"
        )
    _LOGGER.error("internal error (%s)", code, exc_info=exc)
    return ApiError(500, INTERNAL_ERROR_MESSAGE, type_="server_error", code=code)


def client_gone(request: web.BaseRequest) -> bool:
    """Whether the request's connection is closed (the client went away, or it was cut)."""
    transport = request.transport
    return transport is None or transport.is_closing()


#: Set on a request whose client went away while its answer was streamed (:func:`client_went_away`).
CLIENT_WENT_AWAY = web.RequestKey("emotts_client_went_away", bool)


def client_went_away(request: web.Request) -> None:
    """Note that the client of a started (streamed) answer went away: the server's error middleware
    (:func:`~emotts_plugin.adapters.http.error_middleware`) then counts the request in
    ``emotts_client_disconnects_total``, not under its status. Call it where a write to the client
    fails with ``ConnectionResetError``."""
    _LOGGER.debug("client went away during the answer to %s %s", request.method, request.path)
    request[CLIENT_WENT_AWAY] = True


def check_input(request: web.Request, text: str) -> None:
    """413 when ``text`` is over ``limits.max_input_bytes`` (UTF-8), before any parsing."""
    limit = request.app[CONFIG].limits.max_input_bytes
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        message = f"input is {size:,} bytes; the limit is {limit:,} (limits.max_input_bytes)"
        raise ApiError(413, message, code="HostileInputError")


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
            400,
            f"the Content-Type names charset {charset[:40]!r}, which is not a text encoding; "
            "send JSON as UTF-8",
            code="UnsupportedCharset",
        ) from None
    except UnicodeError as exc:
        where = f" at byte {exc.start}" if isinstance(exc, UnicodeDecodeError) else ""
        raise ApiError(
            400, f"request body cannot be decoded as {charset[:40]!r}{where}", code="InvalidJSON"
        ) from None
    try:
        body = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400,
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}",
            code="InvalidJSON",
        ) from None
    except RecursionError:
        message = "request body is not valid JSON here: it nests arrays or objects too deeply"
        raise ApiError(400, message, code="InvalidJSON") from None
    except ValueError as exc:  # NaN or Infinity, an integer of too many digits
        reason = str(exc).split(";")[0]
        raise ApiError(400, f"request body is not valid JSON: {reason}", code="InvalidJSON") from None
    if not isinstance(body, dict):
        raise ApiError(
            400, f"request body must be a JSON object, got {type(body).__name__}", code="InvalidJSON"
        )
    return body


# -- warnings in headers --------------------------------------------------------------------

#: Longest ``X-Emotts-Warning-Texts`` value, in characters (of ASCII JSON).
WARNING_TEXTS_CHARS = 2048
#: Longest text of one warning in it, in characters before escaping (a longer one ends in ``...``).
WARNING_TEXT_CHARS = 240


def warning_headers(warnings: Iterable[object]) -> dict[str, str]:
    """``X-Emotts-Warnings``: how many ``warnings`` there are; and, when there are any,
    ``X-Emotts-Warning-Texts``: their texts (``str()`` of each: ``line 1, column 5: …`` for a
    parse warning) as a JSON array of strings, ASCII only (``\\uXXXX`` escapes), at most
    :data:`WARNING_TEXTS_CHARS` characters. Each text is cut to :data:`WARNING_TEXT_CHARS`
    characters; when they do not all fit, the array keeps the first ones and ends with one more
    string, ``"... N more not shown"``."""
    texts = [str(warning) for warning in warnings]
    headers = {"X-Emotts-Warnings": str(len(texts))}
    if not texts:
        return headers
    pieces = [_json_text(_cut(text, WARNING_TEXT_CHARS)) for text in texts]
    if sum(len(piece) + 1 for piece in pieces) + 1 > WARNING_TEXTS_CHARS:
        room = WARNING_TEXTS_CHARS - 2 - len(_json_text(f"... {len(pieces)} more not shown")) - 1
        kept = 0
        for piece in pieces:
            if len(piece) + 1 > room:
                break
            room -= len(piece) + 1
            kept += 1
        pieces = pieces[:kept] + [_json_text(f"... {len(texts) - kept} more not shown")]
    headers["X-Emotts-Warning-Texts"] = "[" + ",".join(pieces) + "]"
    return headers


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _json_text(text: str) -> str:
    """``text`` as a JSON string of printable ASCII (DEL, which JSON leaves as is, escaped too)."""
    return json.dumps(text, ensure_ascii=True).replace("\x7f", "\\u007f")


# -- event streams ----------------------------------------------------------------------------


def event_stream_response(headers: Mapping[str, str]) -> web.StreamResponse:
    """A not yet prepared ``text/event-stream`` answer with ``headers``."""
    return web.StreamResponse(
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache", **headers}
    )


def sse_event(payload: Mapping[str, Any], name: str | None = None) -> bytes:
    """One server-sent event: ``payload`` as compact JSON on one ``data:`` line, after an
    ``event: name`` line when ``name`` is given."""
    head = f"event: {name}\n" if name else ""
    return f"{head}data: {json.dumps(payload, separators=(',', ':'))}\n\n".encode()


def error_event(error: ApiError, name: str | None = None) -> bytes:
    """``{"type": "error", "error": {"message", "type", "code"}}``: the error shape as an event,
    for a failure after an event stream started (its status cannot change any more)."""
    body = {"message": error.message, "type": error.type, "code": error.code}
    return sse_event({"type": "error", "error": body}, name)


# -- reading fields -------------------------------------------------------------------------


def check_fields(body: Mapping[str, Any], allowed: tuple[str, ...]) -> None:
    """400 naming the first key that is not in ``allowed``."""
    for key in body:
        if key not in allowed:
            raise ApiError(
                400, f"unknown field {key!r}; allowed fields: {', '.join(allowed)}", code="UnknownField"
            )


def text_field(body: Mapping[str, Any], name: str = "input") -> str:
    """A required non-blank string field."""
    value = body.get(name)
    if value is None:
        raise ApiError(
            400, f"missing required field {name!r}: the text or markup to speak", code="MissingField"
        )
    if not isinstance(value, str):
        raise ApiError(
            400, f"field {name!r} must be a string, got {type(value).__name__}", code="InvalidField"
        )
    if not value.strip():
        raise ApiError(400, f"field {name!r} is empty: there is nothing to say", code="InvalidField")
    return value


def optional(body: Mapping[str, Any], name: str, kind: type | tuple[type, ...], what: str) -> Any:
    """An optional field of ``kind`` (``None`` when absent or null); bools are not numbers."""
    value = body.get(name)
    if value is None:
        return None
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        raise ApiError(400, f"field {name!r} must be {what}, got {value!r}", code="InvalidField")
    return value


def emotion_field(body: Mapping[str, Any]) -> str | None:
    """``emotion`` as a label, alias or mixture string; an object ``{label: weight}`` is accepted too."""
    value = body.get("emotion")
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Mapping) and value:
        parts = []
        for label, weight in value.items():
            if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 <= weight <= 1:
                raise ApiError(
                    400,
                    f"emotion weight for {label!r} must be a number 0..1, got {weight!r}",
                    code="InvalidField",
                )
            parts.append(f"{label}:{weight}")
        return " ".join(parts)
    raise ApiError(
        400,
        f"field 'emotion' must be a name, a mixture string or an object of weights, got {value!r}",
        code="InvalidField",
    )


def mode_field(body: Mapping[str, Any]) -> str | None:
    strict = optional(body, "strict", bool, "true or false")
    return "strict" if strict else None


# -- rendering through the queue ----------------------------------------------------


async def render(
    request: web.Request, fn: Callable[..., T], *args: Any, size_chars: int = 0, **kwargs: Any
) -> T:
    """Run a blocking render through the queue, bounded by ``limits.request_timeout_s``;
    ``size_chars`` is the input's length, which orders the queue (see :class:`RenderQueue`)."""
    app = request.app
    job = app[QUEUE].run(fn, *args, size_chars=size_chars, **kwargs)
    return await asyncio.wait_for(job, timeout=app[CONFIG].limits.request_timeout_s)


def render_iter(
    request: web.Request, fn: Callable[..., Iterable[T]], *args: Any, size_chars: int = 0, **kwargs: Any
) -> AsyncIterator[T]:
    """Items of the blocking iterable ``fn(*args, **kwargs)``, each made on a worker thread.

    The stream holds one place in the queue from start to end
    (:class:`~emotts_plugin.render_queue.QueueFull` when there is none), and the whole of it is
    bounded by ``limits.request_timeout_s``. ``size_chars`` is the input's length, which orders
    the queue (see :class:`RenderQueue`). Use it with
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
