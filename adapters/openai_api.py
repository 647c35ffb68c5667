"""OpenAI-compatible speech: ``POST /v1/audio/speech``, ``GET /v1/audio/voices``, ``GET /v1/audio/models``,
and the model list the SDKs read: ``GET /v1/models``, ``GET /v1/models/{id}``.

Any client of OpenAI's speech API (the official SDKs, chat UIs) can point its base URL at
emotts. The official fields are read as OpenAI documents them:

- ``model``: one of :data:`MODELS` (or a dated ``gpt-4o-mini-tts-…`` snapshot); optional.
- ``input``: text, or markup (SSML, emotion tags, chat cues): emotion tags win over the rest.
- ``voice``: an emotts voice, or one of OpenAI's names (:data:`VOICE_ALIASES`); a string or
  ``{"id": …}``; the configured voice when absent.
- ``instructions``: free text read by :func:`~emotts_plugin.ssml.instructions.read_direction`:
  its emotion becomes the default emotion, its rate ("slowly", "a bit faster") is composed with
  ``speed``. Its volume, pitch and pauses ("quietly", "high-pitched", "laughs") are not applied:
  :class:`~emotts_plugin.options.SpeechOptions` has no field that carries them over the whole
  input. When something was not understood or not applied, header ``X-Emotts-Instructions``
  says what (``understood: slowly; not understood: pirate``) and counts as one warning.
- ``response_format``: ``mp3`` (libsndfile's LAME encoder), ``opus`` (Ogg Opus at 48 kHz,
  libsndfile), ``aac`` (ADTS through PyAV, only when ``av`` is installed; otherwise 400),
  ``flac``, ``wav``, ``pcm`` (raw 24 kHz 16-bit little-endian mono). Everything else is 24 kHz.
- ``speed``: 0.25..4.0, composed into every segment's rate (pauses scale with it), times the
  rate ``instructions`` ask for (the product kept within 0.25..4). The DSP stretches at most
  3×, so speeds under 1/3 render as 1/3 where the emotion adds no slowing.
- ``stream_format``: ``audio`` (default) or ``sse``.

Extra fields ``emotion`` (label, alias, mixture or ``{label: weight}``) and ``intensity``
(0..1) are honoured; ``emotion`` wins over ``instructions``, and ``intensity`` replaces the
intensity read from ``instructions``. Extra field ``stream`` (true or false) says whether ``pcm``
and ``wav`` are sent sentence by sentence (see below). Other unknown fields are ignored, as
clients send extras.

Whole answers: ``mp3``, ``opus``, ``aac``, ``flac``, ``wav`` (unless ``stream: true``) and ``pcm``
with ``stream: false`` are sent whole, with ``Content-Length``, the moment the last sentence is
encoded; every format but ``aac`` is encoded sentence by sentence into a spool as it is rendered,
so memory does not grow with the length of the audio. Their containers carry exact lengths:
libsndfile finishes each header when the spool is complete (WAV's RIFF and data sizes, FLAC's
STREAMINFO sample count, the Ogg Opus end granule, the MP3 Xing/LAME frame count, encoder delay
and padding); ADTS (``aac``) has no length field, only frames of 1024 samples, the first of them
the encoder's priming. Headers ``X-Emotts-Sample-Rate`` and ``X-Emotts-Duration`` (seconds).

Streamed answers: ``pcm`` (by default, or with ``stream: true``) and ``wav`` with ``stream: true``
are sent sentence by sentence as each is rendered; ``wav`` then starts with a header of unknown
length (RIFF and data sizes 0xFFFFFFFF, as live WAV streams do: read it to the end of the body).
With ``stream_format: "sse"`` the same bytes travel base64 in
``{"type": "speech.audio.delta", "audio": …}`` events (``pcm`` and ``wav`` sentence by sentence
unless ``stream: false``; the other formats as pieces of the whole file), then one
``{"type": "speech.audio.done", "usage": …, "warnings": […]}``; ``usage`` counts input words as
``input_tokens`` and delta events as ``output_tokens`` (emotts has no tokens) and adds
``audio_seconds``; ``warnings`` holds the text of every warning.

Word timestamps (extra field ``timestamps: true``, SSE only): after each delta whose sentence
has words comes ``{"type": "speech.audio.timestamps", "timestamps": [{"word", "start_time",
"end_time"}, …]}``, the words of that sentence with their times in seconds from the start of
the audio (for a format sent as pieces of the whole file, one such event after the last delta).
The word objects have the names Kokoro-FastAPI's captioned speech (``/dev/captioned_speech``)
gives its ``timestamps`` list, so code written for that list reads them unchanged; they travel
in events of their own, not beside the audio as Kokoro sends them, so that every
``speech.audio.delta`` stays exactly as OpenAI's (and the audio, deltas and ``done`` are the same
bytes with or without timestamps). The SDKs do not parse the speech event stream (the Python
SDK returns it as bytes), and clients that do pick events by ``type``; still, they are sent only
when asked, because clients written against OpenAI's two event types may treat every event
before ``done`` as audio. Without ``stream_format: "sse"`` the field is checked (true or false)
and ignored: an audio answer is the same bytes with or without it. Sentences, marks and mouth
shapes: the native API's ``timings`` (``POST /v1/synthesize``).

Warnings: ``X-Emotts-Warnings`` counts them (markup repairs, rendering problems, and the
``X-Emotts-Instructions`` note as one) and ``X-Emotts-Warning-Texts`` gives their texts, a JSON
array of ASCII strings, bounded in size (:func:`~.requests.warning_headers`). Headers go out
before a streamed answer is rendered, so there they hold what is known with its first sentence:
every parse warning and the first sentence's rendering problems; the SSE ``done`` event has all.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import importlib.util
import io
import logging
import unicodedata
from typing import Any, Mapping

import numpy as np
import soundfile
from aiohttp import web

from emotts_plugin.audio import StreamEncoder
from emotts_plugin.options import RANGES
from emotts_plugin.ssml.instructions import Direction, read_direction
from emotts_plugin.synthesizer import AudioChunk, Synthesizer
from emotts_plugin.timings import Word

from .api import (
    SpeechRequest,
    open_stream,
    render_encoded,
    send_encoded,
    speech_options,
    wav_stream_header,
    write_chunks,
)
from .requests import (
    METRICS,
    SYNTHESIZER,
    ApiError,
    check_input,
    client_went_away,
    emotion_field,
    error_event,
    event_stream_response,
    optional,
    read_json,
    sse_event,
    text_field,
    warning_headers,
)

_LOGGER = logging.getLogger(__name__)

#: Model names accepted and listed (``tts-1`` and ``tts-1-hd`` take ``instructions`` too); dated
#: snapshots (:data:`SNAPSHOT_PREFIX` and a date) are accepted too.
MODELS = ("emotts", "tts-1", "tts-1-hd", "gpt-4o-mini-tts")
SNAPSHOT_PREFIX = "gpt-4o-mini-tts-"
#: ``created`` of every model object: emotts's models have no release date.
MODEL_CREATED = 0

#: OpenAI's voice names → emotts voices. Only ``joe`` is bundled, so every name maps to it;
#: point a name at another voice here (one not installed falls back to the configured voice).
VOICE_ALIASES: Mapping[str, str] = {
    "alloy": "joe",
    "ash": "joe",
    "ballad": "joe",
    "coral": "joe",
    "echo": "joe",
    "fable": "joe",
    "nova": "joe",
    "onyx": "joe",
    "sage": "joe",
    "shimmer": "joe",
    "verse": "joe",
    "marin": "joe",
    "cedar": "joe",
}

FORMATS = ("mp3", "opus", "aac", "flac", "wav", "pcm")
#: Rate of every format but opus (OpenAI's), and of opus (Ogg Opus is 48 kHz).
OUTPUT_RATE, OPUS_RATE = 24000, 48000
MEDIA_TYPES = {
    "mp3": "audio/mpeg",
    "opus": "audio/ogg; codecs=opus",
    "aac": "audio/aac",
    "flac": "audio/flac",
    "wav": "audio/wav",
    "pcm": f"audio/pcm;rate={OUTPUT_RATE};channels=1;format=s16le",
}
#: Formats that can be sent sentence by sentence (:func:`streams`).
PROGRESSIVE = ("pcm", "wav")
#: Of those, the ones streamed when the request's ``stream`` is absent and it is not SSE: ``wav``
#: is sent whole unless asked, so that its header has exact lengths.
STREAMED_BY_DEFAULT = ("pcm",)
#: Largest piece of a whole file in one SSE delta.
SSE_PIECE_BYTES = 32 * 1024


# -- formats ----------------------------------------------------------------------


def format_problem(fmt: str) -> str | None:
    """Why ``fmt`` cannot be produced here, or ``None`` when it can."""
    problem = format_problem_raw(fmt)
    if problem is None:
        return None
    others = [f for f in FORMATS if f != fmt and format_problem_raw(f) is None]
    usable = ", ".join(others[:-1]) + f" or {others[-1]}" if len(others) > 1 else "".join(others)
    return f"unsupported response_format {fmt!r}: {problem}; use {usable}"


def format_problem_raw(fmt: str) -> str | None:
    if fmt == "mp3" and "MP3" not in soundfile.available_formats():
        return "this libsndfile has no MP3 encoder (libsndfile 1.1 or newer has one)"
    if fmt == "opus" and "OPUS" not in soundfile.available_subtypes("OGG"):
        return "this libsndfile has no Opus encoder"
    if fmt == "aac" and importlib.util.find_spec("av") is None:
        return "no AAC encoder is installed (PyAV: pip install av)"
    return None


class _WholeAacEncoder:
    """An encoder that keeps the audio and encodes it as AAC at the end (:func:`encode_aac` takes
    the whole signal), with :class:`~emotts_plugin.audio.StreamEncoder`'s methods."""

    def __init__(self, file, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        self.frames = 0
        self._file = file
        self._parts: list[np.ndarray] = []

    def write(self, audio: np.ndarray) -> None:
        self._parts.append(audio)
        self.frames += len(audio)

    def close(self) -> None:
        audio = np.concatenate(self._parts) if self._parts else np.zeros(0, np.float32)
        self._file.write(encode_aac(audio, self.sample_rate))
        self._parts = []

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


#: libsndfile (container, subtype) of each ``response_format`` it encodes chunk by chunk.
_STREAM_CODECS = {
    "mp3": ("MP3", "MPEG_LAYER_III"),
    "opus": ("OGG", "OPUS"),
    "flac": ("FLAC", "PCM_16"),
    "wav": ("WAV", "PCM_16"),
    "pcm": ("RAW", "PCM_16"),
}


def open_encoder(file, sample_rate: int, fmt: str) -> StreamEncoder | _WholeAacEncoder:
    """An encoder of ``response_format`` ``fmt`` writing into ``file``: chunk by chunk for every
    format libsndfile encodes, whole at the end for ``aac``."""
    if fmt in _STREAM_CODECS:
        return StreamEncoder(file, sample_rate, *_STREAM_CODECS[fmt])
    if fmt == "aac":
        return _WholeAacEncoder(file, sample_rate)
    raise ValueError(f"unknown response_format {fmt!r}; use one of {', '.join(FORMATS)}")


def encode_pcm(audio: np.ndarray, sample_rate: int) -> bytes:
    """Raw 16-bit little-endian samples."""
    buffer = io.BytesIO()
    soundfile.write(
        buffer,
        np.clip(audio, -1.0, 1.0).astype(np.float32),
        sample_rate,
        format="RAW",
        subtype="PCM_16",
        endian="LITTLE",
    )
    return buffer.getvalue()


def encode_aac(audio: np.ndarray, sample_rate: int) -> bytes:
    """AAC-LC in an ADTS stream, through PyAV (FFmpeg's native AAC encoder)."""
    try:
        import av
    except ImportError as exc:  # checked before rendering; kept for direct callers
        raise ValueError("no AAC encoder is installed (PyAV: pip install av)") from exc
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format="adts") as container:
        stream = container.add_stream("aac", rate=sample_rate, layout="mono")
        samples = np.clip(audio, -1.0, 1.0).astype(np.float32).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate = sample_rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return buffer.getvalue()


# -- fields -----------------------------------------------------------------------


def resolve_voice(synth: Synthesizer, value: Any) -> str | None:
    """An emotts voice for the request's ``voice`` (a name or ``{"id": name}``)."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        value = value.get("id")
    if not isinstance(value, str) or not value:
        raise ApiError(
            400, f"field 'voice' must be a voice name or {{\"id\": name}}, got {value!r}", code="InvalidField"
        )
    ours = {v.name for v in synth.voices()}
    if value in ours:
        return value
    alias = VOICE_ALIASES.get(value.lower())
    if alias is not None:
        return alias if alias in ours else synth.config.voice
    known = ", ".join(sorted(ours) + sorted(VOICE_ALIASES))
    raise ApiError(400, f"unknown voice {value!r}; available voices: {known}", code="UnknownVoiceError")


def known_model(value: Any) -> bool:
    """Whether ``value`` names a model the speech route takes (:data:`MODELS`, or a snapshot)."""
    return isinstance(value, str) and (value in MODELS or value.startswith(SNAPSHOT_PREFIX))


def check_model(value: Any) -> None:
    if value is not None and not known_model(value):
        raise ApiError(400, f"unknown model {value!r}; use one of {', '.join(MODELS)}", code="UnknownModel")


def streams(body: Mapping[str, Any], fmt: str, stream_format: str) -> bool:
    """Whether the answer is sent sentence by sentence: only :data:`PROGRESSIVE` formats can be;
    the extra field ``stream`` decides, and without it ``pcm`` and any SSE answer are streamed
    and a ``wav`` file is sent whole. ``stream`` is ignored for the other formats (always whole),
    as clients send it for any."""
    stream = optional(body, "stream", bool, "true or false")
    if fmt not in PROGRESSIVE:
        return False
    if stream is not None:
        return stream
    return stream_format == "sse" or fmt in STREAMED_BY_DEFAULT


#: Longest ``X-Emotts-Instructions`` header value.
NOTE_CHARS = 200


def instructions_direction(body: Mapping[str, Any], synth: Synthesizer) -> Direction | None:
    """What ``instructions`` ask for, or ``None`` when the request has none."""
    instructions = optional(body, "instructions", str, "a string")
    if not instructions or not instructions.strip():
        return None
    return read_direction(instructions, synth.runtime.space)


def emotion_and_intensity(
    body: Mapping[str, Any], synth: Synthesizer, direction: Direction | None = None
) -> tuple[str | None, float | None]:
    """The default emotion: ``emotion`` if given, else what ``instructions`` names.

    :param direction: the reading of ``instructions`` when the caller has it already.
    """
    emotion = emotion_field(body)
    intensity = body.get("intensity")
    if direction is None:
        direction = instructions_direction(body, synth)
    if emotion is None and direction is not None and direction.emotion:
        weights = direction.emotion
        total = sum(weights.values())
        emotion = " ".join(f"{label}:{weight / total:.4f}" for label, weight in weights.items())
        intensity = intensity if intensity is not None else min(1.0, total)
    return emotion, intensity


def composed_speed(speed: float, direction: Direction | None) -> float:
    """The request's ``speed`` (already checked) times the rate the instructions ask for, kept
    within the range :class:`~emotts_plugin.options.SpeechOptions` allows."""
    if direction is None or direction.rate == 1.0:
        return speed
    low, high = RANGES["speed"]
    return min(high, max(low, speed * direction.rate))


def instructions_note(direction: Direction | None) -> str | None:
    """The ``X-Emotts-Instructions`` header: what of ``instructions`` was not understood or not
    applied (``None`` when all of it was understood and applied). Header-safe ASCII, at most
    :data:`NOTE_CHARS` characters."""
    if direction is None:
        return None
    not_applied = []
    if direction.volume_db:
        not_applied.append(f"volume {direction.volume_db:+g} dB")
    if direction.pitch_st:
        not_applied.append(f"pitch {direction.pitch_st:+g} st")
    if direction.pause_ms:
        not_applied.append(f"pause {direction.pause_ms} ms")
    if not direction.unknown and not direction.empty and not not_applied:
        return None
    parts = [f"understood: {', '.join(direction.understood) or 'nothing'}"]
    if not_applied:
        parts.append(f"not applied: {', '.join(not_applied)}")
    if direction.unknown:
        parts.append(f"not understood: {', '.join(direction.unknown)}")
    return header_text("; ".join(parts), NOTE_CHARS)


def header_text(text: str, limit: int) -> str:
    """``text`` as printable ASCII (accents dropped, other characters as ``?``), cut to ``limit``."""
    plain = "".join(
        ch if " " <= ch <= "~" else "?"
        for ch in unicodedata.normalize("NFKD", text)
        if not unicodedata.combining(ch)
    )
    plain = " ".join(plain.split())
    return plain if len(plain) <= limit else plain[: limit - 3].rstrip() + "..."


# -- handlers ---------------------------------------------------------------------


async def speech(request: web.Request) -> web.StreamResponse:
    body = await read_json(request)
    synth = request.app[SYNTHESIZER]
    text = text_field(body)
    check_input(request, text)
    check_model(body.get("model"))
    voice = resolve_voice(synth, body.get("voice"))
    fmt = optional(body, "response_format", str, "a format name") or "mp3"
    if fmt not in FORMATS:
        raise ApiError(
            400,
            f"unsupported response_format {fmt!r}; use one of {', '.join(FORMATS)}",
            code="UnsupportedFormat",
        )
    problem = format_problem(fmt)
    if problem is not None:
        raise ApiError(400, problem, code="UnsupportedFormat")
    stream_format = optional(body, "stream_format", str, "'audio' or 'sse'") or "audio"
    if stream_format not in ("audio", "sse"):
        raise ApiError(
            400, f"unsupported stream_format {stream_format!r}; use 'audio' or 'sse'", code="InvalidField"
        )
    timestamps = bool(optional(body, "timestamps", bool, "true or false")) and stream_format == "sse"
    direction = instructions_direction(body, synth)
    emotion, intensity = emotion_and_intensity(body, synth, direction)
    options = speech_options(
        voice=voice,
        emotion=emotion,
        intensity=intensity,
        sample_rate=OPUS_RATE if fmt == "opus" else OUTPUT_RATE,
        speed=body.get("speed"),
    )
    options = dataclasses.replace(options, speed=composed_speed(options.speed, direction))
    note = instructions_note(direction)
    notes = {"X-Emotts-Instructions": note} if note is not None else {}
    speech_request = SpeechRequest(text, options)
    if streams(body, fmt, stream_format):
        return await _progressive(request, speech_request, fmt, stream_format, text, notes, timestamps)
    encoded = await render_encoded(request, speech_request, lambda file, rate: open_encoder(file, rate, fmt))
    request.app[METRICS].audio_seconds += encoded.duration_s
    warnings = [*encoded.warnings, *_note_warnings(notes)]
    headers = {
        **warning_headers(warnings),
        **notes,
        "X-Emotts-Sample-Rate": str(encoded.sample_rate),
        "X-Emotts-Duration": f"{encoded.duration_s:.3f}",
    }
    if stream_format == "audio":
        return await send_encoded(request, encoded, {"Content-Type": MEDIA_TYPES[fmt], **headers})
    try:
        response = event_stream_response(headers)
        await response.prepare(request)
        encoded.file.seek(0)
        deltas = 0
        try:
            while piece := await asyncio.to_thread(encoded.file.read, SSE_PIECE_BYTES):
                await response.write(_delta(piece))
                deltas += 1
            if timestamps and encoded.timings.words:
                await response.write(_timestamps(encoded.timings.words))
            await response.write(_done(text, deltas, encoded.duration_s, warnings))
        except ConnectionResetError:
            client_went_away(request)
            return response
    finally:
        encoded.close()
    await response.write_eof()
    return response


def _note_warnings(notes: Mapping[str, str]) -> list[str]:
    """The texts of the notes (headers that count as a warning each) for ``X-Emotts-Warning-Texts``."""
    return [f"instructions: {note}" for name, note in notes.items() if name == "X-Emotts-Instructions"]


def _delta(data: bytes) -> bytes:
    return sse_event({"type": "speech.audio.delta", "audio": base64.b64encode(data).decode("ascii")})


def _timestamps(words: tuple[Word, ...]) -> bytes:
    """The ``speech.audio.timestamps`` event of ``words`` (Kokoro-FastAPI's word objects)."""
    timestamps = [
        {"word": word.text, "start_time": round(word.start_s, 3), "end_time": round(word.end_s, 3)}
        for word in words
    ]
    return sse_event({"type": "speech.audio.timestamps", "timestamps": timestamps})


def _done(text: str, deltas: int, audio_seconds: float, warnings: list) -> bytes:
    words = len(text.split())
    usage = {
        "input_tokens": words,
        "output_tokens": deltas,
        "total_tokens": words + deltas,
        "audio_seconds": round(audio_seconds, 3),
    }
    return sse_event({"type": "speech.audio.done", "usage": usage, "warnings": [str(w) for w in warnings]})


async def _progressive(
    request: web.Request,
    speech_request: SpeechRequest,
    fmt: str,
    stream_format: str,
    text: str,
    notes: Mapping[str, str],
    timestamps: bool = False,
) -> web.StreamResponse:
    """``pcm`` or ``wav``, written sentence by sentence as each is rendered; ``notes`` are
    headers that each count as one warning; ``timestamps``: each SSE delta is followed by its
    sentence's word timestamps. The warning headers hold what is known before the first byte:
    the warnings of ``head`` (every parse warning comes with the first chunk)."""
    chunks, head = await open_stream(request, speech_request)
    async with contextlib.aclosing(chunks):
        known = [w for c in head for w in c.warnings]
        rate = head[0].sample_rate
        headers = {
            **warning_headers([*known, *_note_warnings(notes)]),
            **notes,
            "X-Emotts-Sample-Rate": str(rate),
        }
        if stream_format == "audio":
            response = web.StreamResponse(headers={"Content-Type": MEDIA_TYPES[fmt], **headers})
            await response.prepare(request)
            if fmt == "wav":
                await response.write(wav_stream_header(rate))
            ok = await write_chunks(
                request, response, head, chunks, lambda chunk: encode_pcm(chunk.audio, chunk.sample_rate)
            )
        else:
            response = event_stream_response(headers)
            await response.prepare(request)
            ok = await _sse_chunks(
                request, response, head, chunks, fmt, rate, text, _note_warnings(notes), timestamps
            )
    if ok:
        await response.write_eof()
    return response


async def _sse_chunks(
    request,
    response,
    head,
    chunks,
    fmt: str,
    rate: int,
    text: str,
    noted: list[str],
    timestamps: bool = False,
) -> bool:
    deltas = 0
    seconds = 0.0
    warnings: list = []

    def to_delta(chunk: AudioChunk) -> bytes:
        nonlocal deltas, seconds
        deltas += 1
        seconds += chunk.duration_s
        warnings.extend(chunk.warnings)
        delta = _delta(encode_pcm(chunk.audio, chunk.sample_rate))
        return delta + _timestamps(chunk.words) if timestamps and chunk.words else delta

    try:
        if fmt == "wav":
            await response.write(_delta(wav_stream_header(rate)))
            deltas += 1
    except ConnectionResetError:
        client_went_away(request)
        return False
    ok = await write_chunks(request, response, head, chunks, to_delta, error_event=error_event)
    if not ok:
        return False
    try:
        await response.write(_done(text, deltas, seconds, [*warnings, *noted]))
    except ConnectionResetError:
        client_went_away(request)
        return False
    return True


async def voices(request: web.Request) -> web.Response:
    synth = request.app[SYNTHESIZER]
    ours = [{"id": v.name, "name": v.name} for v in synth.voices()]
    names = {v.name for v in synth.voices()}
    aliases = [
        {"id": alias, "name": f"{alias} ({target if target in names else synth.config.voice})"}
        for alias, target in VOICE_ALIASES.items()
    ]
    return web.json_response({"voices": ours + aliases})


def model_object(name: str) -> dict[str, Any]:
    """A model as OpenAI's ``GET /v1/models`` lists it."""
    return {"id": name, "object": "model", "created": MODEL_CREATED, "owned_by": "emotts"}


async def models(request: web.Request) -> web.Response:
    """``GET /v1/audio/models``: the list chat UIs read (``models``) and OpenAI's (``data``)."""
    return web.json_response(
        {
            "models": [{"id": name, "name": name} for name in MODELS],
            "object": "list",
            "data": [model_object(name) for name in MODELS],
        }
    )


async def list_models(request: web.Request) -> web.Response:
    """``GET /v1/models``, as the SDKs' ``client.models.list()`` reads it."""
    return web.json_response({"object": "list", "data": [model_object(name) for name in MODELS]})


async def retrieve_model(request: web.Request) -> web.Response:
    """``GET /v1/models/{id}``: the model object of an id the speech route takes, else ``404``."""
    name = request.match_info["model"]
    if not known_model(name):
        raise ApiError(
            404,
            f"the model {name!r} does not exist; models: {', '.join(MODELS)} "
            f"(and {SNAPSHOT_PREFIX}YYYY-MM-DD snapshots)",
            code="model_not_found",
        )
    return web.json_response(model_object(name))


def add_routes(app: web.Application) -> None:
    """Mount the OpenAI-compatible speech routes and the model list."""
    app.router.add_post("/v1/audio/speech", speech)
    app.router.add_get("/v1/audio/voices", voices)
    app.router.add_get("/v1/audio/models", models)
    app.router.add_get("/v1/models", list_models)
    app.router.add_get("/v1/models/{model:.+}", retrieve_model)
