"""The native HTTP API: synthesis with emotion, the plan, voices and emotions.

Routes (all JSON in and out except audio; errors in the shape of :mod:`.requests`):

- ``POST /v1/synthesize``: ``input`` (text or markup), ``voice``, ``emotion``, ``intensity``,
  ``transition_ms``, ``format``, ``sample_rate``, ``seed``, ``strict``, ``stream``, ``timings``,
  and ``reference`` (an id from ``POST /v1/references``) with ``reference_weight`` → audio.
- ``POST /v1/plan``: ``input``, ``strict`` (and ``voice``, ``emotion``, ``intensity``) → the
  ``emotts parse --json`` plan.
- ``GET /v1/voices``, ``GET /v1/emotions``.

A whole answer (``stream: false``) is rendered in one place of the queue, encoded sentence by
sentence into a spool (memory up to 4 MiB, then an unnamed temporary file, so memory does not grow
with the audio's length) and sent with its length. A stream (``stream: true``) holds one place for
its whole life and renders sentence by sentence, each on a worker thread, writing each sentence's
audio as soon as it is ready: ``pcm16``, ``ulaw`` and ``alaw`` are sent as is; ``wav`` starts with
a header whose RIFF and data sizes are 0xFFFFFFFF (unknown length, as live WAV streams do),
followed by 16-bit PCM.
Input over ``limits.max_input_bytes`` is ``413``, like a body over ``limits.max_body_bytes``.

Timings (``timings: true``): when each sentence, word, ``<mark>`` and mouth shape is heard
(:class:`~emotts_plugin.timings.Timings`, seconds from the start of the audio), beside the audio.

- A whole answer becomes JSON: ``{"format", "sample_rate", "duration", "warnings", "timings",
  "audio"}``, ``audio`` being the encoded file (any ``format``) in base64 and ``timings``
  :meth:`Timings.to_dict() <emotts_plugin.timings.Timings.to_dict>`. It is spooled and sent
  with its length like the audio alone, ``audio`` last, so that a reader of the stream gets the
  rest first.
- A stream (``stream: true``) becomes an event stream (``text/event-stream``; each event has an
  ``event:`` line naming its ``type`` and one ``data:`` line of JSON): ``audio`` events
  ``{"type": "audio", "audio": base64}`` carry exactly the bytes the plain stream would send, in
  order (a ``wav`` stream's header first, alone); after each sentence's audio, a ``timings`` event
  ``{"type": "timings", "start", "end", "sentences", "words", "marks", "visemes", "viseme_set"}``
  holds that sentence's share (``start`` and ``end`` bound the audio sent so far for it; the
  lists as in ``Timings.to_dict()``); last, ``{"type": "done", "format", "sample_rate",
  "duration", "warnings"}``. A failure after the stream started is an ``error`` event
  (``{"type": "error", "error": {"message", "type", "code"}}``) that ends it.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import json
import logging
import struct
import tempfile
from dataclasses import dataclass
from typing import Any, AsyncIterator, Callable, Iterator, Mapping

from aiohttp import web

from emotts_plugin.audio import AudioFormat, StreamEncoder, encode
from emotts_plugin.errors import ConfigError, MarkupError
from emotts_plugin.models.base import RenderWarning
from emotts_plugin.options import SpeechOptions
from emotts_plugin.plan import ParseWarning, Plan
from emotts_plugin.synthesizer import AudioChunk, Synthesizer, check_spoken
from emotts_plugin.timings import Timings

from .requests import (
    METRICS,
    SYNTHESIZER,
    ApiError,
    check_fields,
    check_input,
    client_went_away,
    emotion_field,
    error_event,
    error_for,
    event_stream_response,
    mode_field,
    optional,
    read_json,
    render,
    render_iter,
    sse_event,
    text_field,
)

_LOGGER = logging.getLogger(__name__)

#: Formats a ``stream: true`` request may ask for: those that can be cut anywhere.
STREAM_FORMATS = (AudioFormat.WAV, AudioFormat.PCM16, AudioFormat.ULAW, AudioFormat.ALAW)
#: Telephone formats default to 8 kHz (their usual rate) unless ``sample_rate`` says otherwise.
TELEPHONE_RATE = 8000

_SYNTHESIZE_FIELDS = (
    "input",
    "voice",
    "emotion",
    "intensity",
    "transition_ms",
    "format",
    "sample_rate",
    "seed",
    "strict",
    "stream",
    "timings",
    "reference",
    "reference_weight",
)
_PLAN_FIELDS = ("input", "strict", "voice", "emotion", "intensity")


@dataclass(frozen=True, slots=True)
class SpeechRequest:
    """What one request asks the synthesizer for: the input and its (checked) options."""

    text: str
    """Plain text or markup."""
    options: SpeechOptions = SpeechOptions()
    """How to speak it (voice, emotion, seed, speed, reference, ...)."""


def speech_options(**fields: Any) -> SpeechOptions:
    """:class:`SpeechOptions` from request fields (``None``: not given); a bad one is a ``400``."""
    try:
        return SpeechOptions.from_dict({name: value for name, value in fields.items() if value is not None})
    except ConfigError as exc:
        raise ApiError(400, str(exc), code="InvalidField") from None


def plan_speech(synth: Synthesizer, speech: SpeechRequest) -> tuple[Plan, Any]:
    """Parse a request into a plan (blocking)."""
    return synth.plan(speech.text, speech.options)


def start_speech(synth: Synthesizer, speech: SpeechRequest) -> Iterator[AudioChunk]:
    """Parse now (errors surface here) and return the lazy sentence-by-sentence render."""
    plan, config = plan_speech(synth, speech)
    return synth.render_plan(plan, config, options=speech.options, source=speech.text)


#: Encoded output kept in memory up to this size, then in an unnamed temporary file.
SPOOL_BYTES = 4 * 1024 * 1024
#: Bytes per write when a spooled answer is sent.
SEND_BLOCK_BYTES = 256 * 1024


@dataclass(slots=True)
class Encoded:
    """A whole answer, encoded as it was rendered: the bytes wait in ``file`` (memory up to
    :data:`SPOOL_BYTES`, then an unnamed temporary file), so memory does not grow with the
    length of the audio. Close it when sent."""

    file: Any
    """A ``tempfile.SpooledTemporaryFile`` holding the encoded bytes."""
    size: int
    """How many bytes."""
    sample_rate: int
    """Samples per second."""
    duration_s: float
    """Seconds of audio."""
    warnings: tuple[ParseWarning | RenderWarning, ...]
    """Parse repairs and rendering problems (counted in ``X-Emotts-Warnings``)."""
    timings: Timings = Timings()
    """When each sentence, word, mark and mouth shape is heard."""

    def close(self) -> None:
        self.file.close()


async def render_encoded(
    request: web.Request, speech: SpeechRequest, open_encoder: Callable[[Any, int], StreamEncoder]
) -> Encoded:
    """Render the whole request one sentence per worker job (so short requests interleave with
    long ones), encoding each sentence into a spool as it comes (``open_encoder(file, rate)``);
    an error when none of it was speech."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    encoder: StreamEncoder | None = None
    said: list[AudioChunk] = []  # each chunk without its audio, for check_spoken and warnings
    try:
        chunks = render_iter(
            request, start_speech, request.app[SYNTHESIZER], speech, size_chars=len(speech.text)
        )
        async with contextlib.aclosing(chunks):
            async for chunk in chunks:
                if encoder is None:
                    encoder = open_encoder(spool, chunk.sample_rate)
                await asyncio.to_thread(encoder.write, chunk.audio)
                said.append(dataclasses.replace(chunk, audio=chunk.audio[:0]))
        check_spoken(said)
        if encoder is None:
            raise MarkupError("nothing to say: the input has no words", line=1, column=1)
        await asyncio.to_thread(encoder.close)
        size = spool.seek(0, io.SEEK_END)  # the encoder may have sought back to finish a header
    except BaseException:
        if encoder is not None:
            with contextlib.suppress(Exception):  # finish libsndfile's stream before its file goes
                encoder.close()
        spool.close()
        raise
    timings = dataclasses.replace(Timings.of_chunks(said), duration_s=encoder.duration_s)
    warnings = tuple(w for c in said for w in c.warnings)
    return Encoded(spool, size, encoder.sample_rate, encoder.duration_s, warnings, timings)


async def send_encoded(
    request: web.Request, encoded: Encoded, headers: Mapping[str, str]
) -> web.StreamResponse:
    """Send a spooled answer with its length, block by block; the spool is closed afterwards."""
    try:
        response = web.StreamResponse(headers=headers)
        response.content_length = encoded.size
        await response.prepare(request)
        encoded.file.seek(0)
        while block := await asyncio.to_thread(encoded.file.read, SEND_BLOCK_BYTES):
            await response.write(block)
        await response.write_eof()
        return response
    finally:
        encoded.close()


async def send_encoded_json(
    request: web.Request, encoded: Encoded, fields: Mapping[str, Any], headers: Mapping[str, str]
) -> web.StreamResponse:
    """Send ``fields`` and the spooled audio as one JSON object, ``{**fields, "audio": base64}``,
    with its length; the base64 is made block by block from the spool (memory does not grow
    with the audio), which is closed afterwards."""
    try:
        head = json.dumps(dict(fields), separators=(",", ":"))[:-1].encode() + b',"audio":"'
        tail = b'"}'
        response = web.StreamResponse(headers={"Content-Type": "application/json", **headers})
        response.content_length = len(head) + 4 * -(-encoded.size // 3) + len(tail)
        await response.prepare(request)
        await response.write(head)
        encoded.file.seek(0)
        block_bytes = SEND_BLOCK_BYTES - SEND_BLOCK_BYTES % 3  # whole base64 quanta until the last
        while block := await asyncio.to_thread(encoded.file.read, block_bytes):
            await response.write(base64.b64encode(block))
        await response.write(tail)
        await response.write_eof()
        return response
    finally:
        encoded.close()


async def open_stream(
    request: web.Request, speech: SpeechRequest
) -> tuple[AsyncIterator[AudioChunk], list[AudioChunk]]:
    """Start a streamed render; return the stream and the chunks up to the first spoken one.

    Errors met before any audio (bad markup, unknown voice, a full queue, input the voice can
    say none of) are raised here, before the response starts, so they keep their status code.
    The caller must ``aclose()`` the stream (use it in ``contextlib.aclosing``).
    """
    chunks = render_iter(request, start_speech, request.app[SYNTHESIZER], speech, size_chars=len(speech.text))
    head: list[AudioChunk] = []
    try:
        async for chunk in chunks:
            head.append(chunk)
            if chunk.spoken:
                break
        else:
            check_spoken(head)
            if not head:
                raise MarkupError("nothing to say: the input has no words", line=1, column=1)
    except BaseException:
        await chunks.aclose()
        raise
    return chunks, head


def wav_stream_header(sample_rate: int) -> bytes:
    """A 16-bit mono WAV header of unknown length (RIFF and data sizes 0xFFFFFFFF)."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, sample_rate, sample_rate * 2, 2, 16)
    return (
        b"RIFF"
        + struct.pack("<I", unknown)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<I", len(fmt))
        + fmt
        + b"data"
        + struct.pack("<I", unknown)
    )


def content_type(fmt: AudioFormat, sample_rate: int) -> str:
    """The media type of ``fmt`` at ``sample_rate``.

    Raw 16-bit PCM is little-endian (as ``emotts say --format pcm16`` writes it), so it is
    labelled ``audio/pcm`` with its rate rather than ``audio/L16``, which RFC 2586 defines as
    big-endian.
    """
    if fmt is AudioFormat.PCM16:
        return f"audio/pcm;rate={sample_rate};channels=1;format=s16le"
    if fmt is AudioFormat.ULAW:
        return "audio/basic" if sample_rate == TELEPHONE_RATE else f"audio/PCMU;rate={sample_rate}"
    if fmt is AudioFormat.ALAW:
        return "audio/x-alaw-basic" if sample_rate == TELEPHONE_RATE else f"audio/PCMA;rate={sample_rate}"
    return {AudioFormat.WAV: "audio/wav", AudioFormat.FLAC: "audio/flac", AudioFormat.OGG: "audio/ogg"}[fmt]


# -- reading fields ---------------------------------------------------------------


def reference_fields(request: web.Request, body: Mapping[str, Any]) -> dict[str, Any]:
    """``reference`` (an id from ``POST /v1/references``) and ``reference_weight`` as
    :class:`SpeechOptions` fields."""
    weight = body.get("reference_weight")
    if body.get("reference") is None:
        if weight is not None:
            raise ApiError(
                400,
                "field 'reference_weight' needs 'reference' (an id from POST /v1/references)",
                code="InvalidField",
            )
        return {}
    from .references import lookup

    return {"reference": lookup(request.app, body["reference"]).vector, "reference_weight": weight}


# -- handlers ---------------------------------------------------------------------


async def synthesize(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    check_fields(body, _SYNTHESIZE_FIELDS)
    text = text_field(body)
    check_input(request, text)
    fmt_name = optional(body, "format", str, "a format name") or AudioFormat.WAV.value
    try:
        fmt = AudioFormat(fmt_name)
    except ValueError:
        allowed = ", ".join(f.value for f in AudioFormat)
        raise ApiError(
            400, f"unsupported format {fmt_name!r}; use one of {allowed}", code="UnsupportedFormat"
        ) from None
    sample_rate = body.get("sample_rate")
    if sample_rate is None and fmt in (AudioFormat.ULAW, AudioFormat.ALAW):
        sample_rate = TELEPHONE_RATE
    options = speech_options(
        **{name: body.get(name) for name in ("voice", "intensity", "transition_ms", "seed")},
        emotion=emotion_field(body),
        mode=mode_field(body),
        sample_rate=sample_rate,
        **reference_fields(request, body),
    )
    speech = SpeechRequest(text, options)
    timings = optional(body, "timings", bool, "true or false")
    if optional(body, "stream", bool, "true or false"):
        if fmt not in STREAM_FORMATS:
            allowed = ", ".join(f.value for f in STREAM_FORMATS)
            raise ApiError(
                400,
                f"format {fmt.value!r} cannot be streamed; with stream: true use one of {allowed}",
                code="UnsupportedFormat",
            )
        if timings:
            return await _event_stream(request, speech, fmt)
        return await _stream(request, speech, fmt)
    encoded = await render_encoded(
        request, speech, lambda file, rate: StreamEncoder.for_format(file, rate, fmt)
    )
    request.app[METRICS].audio_seconds += encoded.duration_s
    headers = {
        "X-Emotts-Warnings": str(len(encoded.warnings)),
        "X-Emotts-Sample-Rate": str(encoded.sample_rate),
        "X-Emotts-Duration": f"{encoded.duration_s:.3f}",
    }
    if timings:
        fields = {
            "format": fmt.value,
            "sample_rate": encoded.sample_rate,
            "duration": round(encoded.duration_s, 3),
            "warnings": [str(warning) for warning in encoded.warnings],
            "timings": encoded.timings.to_dict(),
        }
        return await send_encoded_json(request, encoded, fields, headers)
    return await send_encoded(
        request, encoded, {"Content-Type": content_type(fmt, encoded.sample_rate), **headers}
    )


def _chunk_bytes(chunk: AudioChunk, fmt: AudioFormat) -> bytes:
    return encode(chunk.audio, chunk.sample_rate, AudioFormat.PCM16 if fmt is AudioFormat.WAV else fmt)


async def _stream(request: web.Request, speech: SpeechRequest, fmt: AudioFormat) -> web.StreamResponse:
    chunks, head = await open_stream(request, speech)
    async with contextlib.aclosing(chunks):
        rate = head[0].sample_rate
        response = web.StreamResponse(
            headers={
                "Content-Type": content_type(AudioFormat.WAV if fmt is AudioFormat.WAV else fmt, rate),
                "X-Emotts-Warnings": str(sum(len(c.warnings) for c in head)),
                "X-Emotts-Sample-Rate": str(rate),
            }
        )
        await response.prepare(request)
        if fmt is AudioFormat.WAV:
            await response.write(wav_stream_header(rate))
        ok = await write_chunks(request, response, head, chunks, lambda chunk: _chunk_bytes(chunk, fmt))
    if ok:
        await response.write_eof()
    return response


def chunk_timings(chunk: AudioChunk) -> dict[str, Any]:
    """What one chunk places in time, in the lists of :meth:`Timings.to_dict`, with the ``start``
    and ``end`` of the chunk's audio (seconds from the start of the output)."""
    placed = Timings.of_chunks([chunk]).to_dict()
    del placed["duration"]
    return {"start": round(chunk.start_s, 3), "end": round(chunk.start_s + chunk.duration_s, 3), **placed}


def _native_event(payload: Mapping[str, Any]) -> bytes:
    return sse_event(payload, str(payload["type"]))


async def _event_stream(request: web.Request, speech: SpeechRequest, fmt: AudioFormat) -> web.StreamResponse:
    """``stream`` with ``timings``: the audio of :func:`_stream` in ``audio`` events, each
    sentence's timings after its audio, then ``done`` (see the module's docstring)."""
    chunks, head = await open_stream(request, speech)
    async with contextlib.aclosing(chunks):
        rate = head[0].sample_rate
        response = event_stream_response(
            {
                "X-Emotts-Warnings": str(sum(len(c.warnings) for c in head)),
                "X-Emotts-Sample-Rate": str(rate),
            }
        )
        await response.prepare(request)
        seconds = 0.0
        warnings: list[ParseWarning | RenderWarning] = []

        def audio_event(data: bytes) -> bytes:
            return _native_event({"type": "audio", "audio": base64.b64encode(data).decode("ascii")})

        def to_events(chunk: AudioChunk) -> bytes:
            nonlocal seconds
            seconds += chunk.duration_s
            warnings.extend(chunk.warnings)
            events = audio_event(_chunk_bytes(chunk, fmt))
            if chunk.words or chunk.marks or chunk.visemes:
                events += _native_event({"type": "timings", **chunk_timings(chunk)})
            return events

        try:
            if fmt is AudioFormat.WAV:
                await response.write(audio_event(wav_stream_header(rate)))
            ok = await write_chunks(
                request,
                response,
                head,
                chunks,
                to_events,
                error_event=lambda error: error_event(error, "error"),
            )
            if ok:
                done = {
                    "type": "done",
                    "format": fmt.value,
                    "sample_rate": rate,
                    "duration": round(seconds, 3),
                    "warnings": [str(warning) for warning in warnings],
                }
                await response.write(_native_event(done))
        except ConnectionResetError:
            client_went_away(request)
            return response
    if ok:
        await response.write_eof()
    return response


async def write_chunks(
    request: web.Request, response: web.StreamResponse, head, chunks, to_bytes, error_event=None
) -> bool:
    """Write ``head`` then the rest of ``chunks`` as they come; count their audio.

    A failure after the response started cannot change its status. With ``error_event`` (a
    function of the :class:`ApiError` giving bytes, for event streams) the error is written
    and the stream ends normally; without it the connection is closed without the final
    chunk, so the client sees a cut stream rather than a short but seemingly complete one.
    Returns whether every chunk was written.
    """
    metrics = request.app[METRICS]

    async def all_chunks():
        for chunk in head:
            yield chunk
        async for chunk in chunks:
            yield chunk

    try:
        async for chunk in all_chunks():
            await response.write(to_bytes(chunk))
            metrics.audio_seconds += chunk.duration_s
    except ConnectionResetError:
        client_went_away(request)
        return False
    except Exception as exc:  # noqa: BLE001 - the status is sent; report in the stream or cut it
        error = error_for(exc)
        _LOGGER.warning("stream failed after it started: %s", error.message)
        if error_event is None:
            abort(request)
            return False
        try:
            await response.write(error_event(error))
            await response.write_eof()
        except ConnectionResetError:
            client_went_away(request)
        return False
    return True


def abort(request: web.Request) -> None:
    """Close the connection of a started response without finishing it."""
    if request.transport is not None:
        request.transport.close()


async def plan(request: web.Request) -> web.Response:
    body = await read_json(request)
    check_fields(body, _PLAN_FIELDS)
    text = text_field(body)
    check_input(request, text)
    options = speech_options(
        voice=body.get("voice"),
        emotion=emotion_field(body),
        intensity=body.get("intensity"),
        mode=mode_field(body),
    )
    speech = SpeechRequest(text, options)
    parsed, _ = await render(
        request, plan_speech, request.app[SYNTHESIZER], speech, size_chars=len(speech.text)
    )
    return web.json_response(parsed.to_dict())


async def voices(request: web.Request) -> web.Response:
    synth = request.app[SYNTHESIZER]
    default = synth.config.voice
    rows = [{**v.to_dict(), "default": v.name == default} for v in synth.voices()]
    return web.json_response({"voices": rows})


async def emotions(request: web.Request) -> web.Response:
    space = request.app[SYNTHESIZER].runtime.space
    return web.json_response({"emotions": [space.preset(label).to_dict() for label in space.labels]})


def add_routes(app: web.Application) -> None:
    """Mount the native API."""
    app.router.add_post("/v1/synthesize", synthesize)
    app.router.add_post("/v1/plan", plan)
    app.router.add_get("/v1/voices", voices)
    app.router.add_get("/v1/emotions", emotions)
