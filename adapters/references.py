"""Reference recordings over HTTP: upload one, get its analysis and an id to speak in its manner.

Routes (errors in the shape of :mod:`.http`):

- ``POST /v1/references``: a recording (``multipart/form-data`` with a file field, or the raw
  bytes with an ``audio/*`` content type and an optional ``?name=``) → ``201``
  ``{"id", "analysis"}``; a file that cannot be analysed is a ``400`` whose ``code`` is
  ``ReferenceAudioError`` and whose ``reason`` says why (``unreadable``, ``empty``,
  ``sample_rate``, ``too_short``, ``too_long``, ``silent``, ``clipped``, ``no_speech``).
- ``GET /v1/references``: the stored references, newest last.
- ``GET /v1/references/{id}``: one reference's analysis.
- ``DELETE /v1/references/{id}``: forget it.

``POST /v1/synthesize`` and the WebUI take ``reference`` (an id) and ``reference_weight``.
The store keeps analyses only (never the audio), in memory, at most :data:`MAX_REFERENCES`;
the least recently used is dropped first. Analysis runs on the render threads.

An upload is admitted before its body is read: a declared ``Content-Length`` over
:data:`MAX_UPLOAD_BYTES` is a ``413`` at once, and at most :data:`MAX_UPLOADS` uploads are read
and analysed at a time (analyses run one at a time anyway); one more is a ``503`` with
``Retry-After``, so uploads hold at most that many bodies in memory.
"""

from __future__ import annotations

import asyncio
import collections
import time
import uuid
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from emotts_plugin.errors import ReferenceAudioError
from emotts_plugin.reference import Analysis, analyze

from .requests import SYNTHESIZER, ApiError, render

#: References kept at once.
MAX_REFERENCES = 64
#: Largest upload (30 s of 48 kHz stereo float WAV is 11.5 MB; a minute of it fits).
MAX_UPLOAD_BYTES = 24 * 1024 * 1024
#: What a multipart form may add around the file (boundaries, part headers, small fields).
MULTIPART_SLACK_BYTES = 64 * 1024
#: Uploads read and analysed at once; each may hold :data:`MAX_UPLOAD_BYTES` until it is analysed.
MAX_UPLOADS = 2
#: ``Retry-After`` (seconds) of an upload refused because :data:`MAX_UPLOADS` are under way.
UPLOAD_RETRY_S = 2


class ReferenceStore:
    """Analyses by id, bounded (least recently used dropped first)."""

    def __init__(self, limit: int = MAX_REFERENCES) -> None:
        self.limit = limit
        self._items: collections.OrderedDict[str, tuple[Analysis, float]] = collections.OrderedDict()

    def add(self, analysis: Analysis) -> str:
        ref_id = uuid.uuid4().hex[:16]
        self._items[ref_id] = (analysis, time.time())
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
        return ref_id

    def get(self, ref_id: str) -> Analysis:
        """The analysis stored as ``ref_id``; :class:`ReferenceAudioError` (``unknown_reference``) when there
        is none."""
        if ref_id not in self._items:
            raise ReferenceAudioError(
                f"no reference {ref_id!r}: upload it with POST /v1/references "
                f"(at most {self.limit} are kept)",
                reason="unknown_reference",
                source=ref_id,
            )
        self._items.move_to_end(ref_id)
        return self._items[ref_id][0]

    def delete(self, ref_id: str) -> bool:
        return self._items.pop(ref_id, None) is not None

    def listing(self) -> list[dict[str, Any]]:
        return [
            {"id": ref_id, "source": analysis.source, "nearest": dict(analysis.nearest), "created": created}
            for ref_id, (analysis, created) in self._items.items()
        ]


REFERENCES = web.AppKey("references", ReferenceStore)
UPLOADS = web.AppKey("reference_uploads", asyncio.Semaphore)


def reference_error(exc: ReferenceAudioError) -> ApiError:
    status = 404 if exc.reason == "unknown_reference" else 400
    return ApiError(status, str(exc), code="ReferenceAudioError", extra={"reason": exc.reason})


def lookup(app: web.Application, ref_id: Any) -> Analysis:
    """The analysis a request's ``reference`` field names, or the API error saying why not."""
    if not isinstance(ref_id, str) or not ref_id:
        raise ApiError(
            400,
            f"field 'reference' must be the id POST /v1/references returned, got {ref_id!r}",
            code="InvalidField",
        )
    store = app.get(REFERENCES)
    if store is None:
        raise ApiError(
            400,
            "this server does not keep references (the references routes are not mounted)",
            code="InvalidField",
        )
    try:
        return store.get(ref_id)
    except ReferenceAudioError as exc:
        raise reference_error(exc) from None


async def _read_limited(stream, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        chunk = await stream.read_chunk(65536) if hasattr(stream, "read_chunk") else await stream.read(65536)
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)


def _too_large(limit: int) -> ApiError:
    return ApiError(
        413,
        f"the recording is over {limit // (1024 * 1024)} MB; a reference holds 2-30 s of speech",
        code="PayloadTooLarge",
    )


def _admit(request: web.Request) -> asyncio.Semaphore:
    """The place this upload is read and analysed in, checked before any of its body is read.

    :raises ApiError: 413 when the declared ``Content-Length`` is over :data:`MAX_UPLOAD_BYTES`;
        503 (``Retry-After``) when :data:`MAX_UPLOADS` uploads are under way.
    """
    declared = request.content_length
    slack = MULTIPART_SLACK_BYTES if request.content_type.startswith("multipart/") else 0
    if declared is not None and declared > MAX_UPLOAD_BYTES + slack:
        raise _too_large(MAX_UPLOAD_BYTES)
    uploads = request.app[UPLOADS]
    if uploads.locked():
        raise ApiError(
            503,
            f"{MAX_UPLOADS} reference uploads are being read or analysed; retry shortly",
            type_="server_busy",
            code="UploadsBusy",
            headers={"Retry-After": str(UPLOAD_RETRY_S)},
        )
    return uploads


async def _upload(request: web.Request) -> tuple[bytes, str]:
    """The uploaded file's bytes and name; a 400 for a multipart body that breaks its format."""
    try:
        return await _read_upload(request)
    except (HttpProcessingError, ValueError) as exc:
        raise ApiError(
            400, f"the upload is not well-formed multipart/form-data: {exc}", code="MalformedUpload"
        ) from None


async def _read_upload(request: web.Request) -> tuple[bytes, str]:
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                raise ApiError(
                    400,
                    "the form has no file: send the recording as a file field (e.g. 'file')",
                    code="MissingField",
                )
            if part.filename is not None or part.name == "file":
                return await _read_limited(part, MAX_UPLOAD_BYTES), part.filename or "upload"
    if request.content_type.startswith("audio/") or request.content_type == "application/octet-stream":
        return await _read_limited(request.content, MAX_UPLOAD_BYTES), request.query.get("name", "upload")
    raise ApiError(
        415,
        "send the recording as multipart/form-data or with an audio/* content type, "
        f"not {request.content_type!r}",
        code="UnsupportedMediaType",
    )


async def upload_reference(request: web.Request) -> web.Response:
    async with _admit(request):  # taken at once: _admit saw a free place and nothing awaited since
        data, name = await _upload(request)
        space = request.app[SYNTHESIZER].runtime.space
        try:
            analysis = await render(request, analyze, data, space, source=name)
        except ReferenceAudioError as exc:
            raise reference_error(exc) from None
    ref_id = request.app[REFERENCES].add(analysis)
    return web.json_response({"id": ref_id, "analysis": analysis.to_dict()}, status=201)


async def list_references(request: web.Request) -> web.Response:
    return web.json_response({"references": request.app[REFERENCES].listing()})


async def get_reference(request: web.Request) -> web.Response:
    ref_id = request.match_info["id"]
    return web.json_response({"id": ref_id, "analysis": lookup(request.app, ref_id).to_dict()})


async def delete_reference(request: web.Request) -> web.Response:
    ref_id = request.match_info["id"]
    if not request.app[REFERENCES].delete(ref_id):
        raise ApiError(404, f"no reference {ref_id!r}", code="ReferenceAudioError")
    return web.json_response({"id": ref_id, "deleted": True})


def add_routes(app: web.Application) -> None:
    app[REFERENCES] = ReferenceStore()
    app[UPLOADS] = asyncio.Semaphore(MAX_UPLOADS)
    app.router.add_post("/v1/references", upload_reference)
    app.router.add_get("/v1/references", list_references)
    app.router.add_get("/v1/references/{id}", get_reference)
    app.router.add_delete("/v1/references/{id}", delete_reference)
