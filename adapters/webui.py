"""The WebUI: a page at ``/`` for tuning emotions by ear and by eye.

Routes:

* ``GET /`` — the page (``static/index.html``);
* ``GET /static/{name}`` — its script and style sheet, read from the installed
  package (no build step, nothing fetched from elsewhere);
* ``GET /v1/webui/options`` — voices, emotion labels with their colours,
  defaults from the configuration and an example text;
* ``POST /v1/webui/render`` — render ``{input, voice, emotion, intensity,
  transition_ms, mode, reference, reference_weight}`` (``reference``: an id
  from ``POST /v1/references``, where the page's file picker uploads) and
  answer the WAV (base64) with everything the page draws: the plan, where each
  segment is heard, the rendered pitch and loudness every 10 ms, and ``timings``
  (:meth:`~emotts_plugin.timings.Timings.to_dict`: where each word is heard,
  shown under the plot and highlighted as it plays).

Rendering and analysis run in the render queue's worker threads, never on
the event loop; bad input is a 400 in the server's error shape, which the page
shows as it is.
"""

from __future__ import annotations

import base64
import colorsys
import hashlib
import json
import logging
from importlib import resources
from typing import Any

import numpy as np
from aiohttp import web

from emotts_plugin import audio as audio_utils
from emotts_plugin.adapters.api import speech_options
from emotts_plugin.adapters.requests import CONFIG, SYNTHESIZER, ApiError, read_json, render
from emotts_plugin.models import measure
from emotts_plugin.options import SpeechOptions
from emotts_plugin.synthesizer import Synthesis, Synthesizer

_LOGGER = logging.getLogger(__name__)

#: Files the page may load from ``/static/``, with their content types.
STATIC_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}

#: What the text area holds when the page opens (``/work/shared/examples/01-chatbot-gentle.ssml``).
EXAMPLE_TEXT = """<speak>
  I'm sorry to hear the delivery was late.
  <emotion name="gentle" intensity="0.6">Let me see what I can do for you.</emotion>
  <break time="300ms"/>
  <emotion name="happy" intensity="0.8">Good news: a replacement ships today!</emotion>
</speak>
"""

#: Colours of the built-in labels; labels added by plugins get one from their name.
EMOTION_COLOURS = {
    "neutral": "#8a8f98",
    "afraid": "#8e44ad",
    "angry": "#d7263d",
    "calm": "#2a9d8f",
    "disgusted": "#6b8e23",
    "empathetic": "#e07a5f",
    "excited": "#f77f00",
    "gentle": "#e78fb3",
    "happy": "#e3a008",
    "melancholic": "#5c6f9e",
    "sad": "#2f6fde",
    "serious": "#3d405b",
    "shouting": "#a4161a",
    "surprised": "#00b4d8",
    "whispering": "#9c89b8",
}

#: Keys a render request may hold.
RENDER_KEYS = (
    "input",
    "voice",
    "emotion",
    "intensity",
    "transition_ms",
    "mode",
    "reference",
    "reference_weight",
)

#: Seconds between pitch and loudness frames.
FRAME_STEP_S = 0.01


def static_folder():
    """The packaged ``static`` folder (a :class:`~importlib.resources.abc.Traversable`)."""
    return resources.files("emotts_plugin.adapters") / "static"


def emotion_colour(label: str) -> str:
    """A CSS colour for ``label``: the built-in one, else a stable colour made from the name."""
    if label in EMOTION_COLOURS:
        return EMOTION_COLOURS[label]
    hue = int.from_bytes(hashlib.sha256(label.encode("utf-8")).digest()[:2], "big") / 65535.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.45, 0.6)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def dominant_emotion(weights: tuple[tuple[str, float], ...] | dict[str, float]) -> str:
    """The label with the largest weight; ``neutral`` for an empty mixture."""
    items = list(weights.items()) if isinstance(weights, dict) else list(weights)
    if not items:
        return "neutral"
    return max(items, key=lambda item: item[1])[0]


# -- handlers ----------------------------------------------------------------------


async def index(request: web.Request) -> web.Response:
    return _static_response("index.html")


async def static_file(request: web.Request) -> web.Response:
    return _static_response(request.match_info["name"])


def _static_response(name: str) -> web.Response:
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    entry = static_folder() / name
    if suffix not in STATIC_TYPES or name.startswith(".") or not entry.is_file():
        raise ApiError(404, f"no static file {name!r}", code="NotFound")
    return web.Response(
        body=entry.read_bytes(),
        content_type=STATIC_TYPES[suffix],
        charset="utf-8" if STATIC_TYPES[suffix].startswith("text/") else None,
        headers={"Cache-Control": "no-cache"},
    )


async def options(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    synth = request.app[SYNTHESIZER]
    space = synth.runtime.space
    emotions = []
    for label in space.labels:
        preset = space.preset(label)
        emotions.append(
            {
                "label": label,
                "colour": emotion_colour(label),
                "description": preset.description,
                "aliases": list(preset.aliases),
            }
        )
    voices = [info.to_dict() for info in synth.voices()]
    return web.json_response(
        {
            "voices": voices,
            "emotions": emotions,
            "defaults": {
                "voice": config.voice,
                "emotion": config.emotion,
                "intensity": config.intensity,
                "transition_ms": config.transition_ms,
                "mode": config.markup_mode.value,
            },
            "example": EXAMPLE_TEXT,
            "limits": {"max_input_bytes": config.limits.max_input_bytes},
        }
    )


async def render_for_page(request: web.Request) -> web.Response:
    body = await read_json(request)
    text, fields = parse_render_request(body)
    if body.get("reference") is not None:
        from .references import lookup

        fields["reference"] = lookup(request.app, body["reference"])
        fields["reference_weight"] = body.get("reference_weight")
    options = speech_options(**fields)
    synth = request.app[SYNTHESIZER]
    body_text = await render(request, _render_json, synth, text, options, size_chars=len(text))
    return web.Response(text=body_text, content_type="application/json")


def parse_render_request(body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """Check a render request's keys and input; the input and its option fields (an empty
    field is not given), for :func:`~emotts_plugin.adapters.api.speech_options`.

    :raises ApiError: 400 naming the key and the value that is wrong.
    """
    for key in body:
        if key not in RENDER_KEYS:
            raise ApiError(
                400,
                f"unknown key {key!r} (value {body[key]!r}); allowed: {', '.join(RENDER_KEYS)}",
                code="UnknownKey",
            )
    text = body.get("input")
    if not isinstance(text, str):
        raise ApiError(
            400, f"input must be a string of text or markup, got {type(text).__name__}", code="InvalidInput"
        )
    if not text.strip():
        raise ApiError(400, "input is empty: type some text or markup to speak", code="EmptyInput")
    fields = {key: body.get(key) for key in ("voice", "emotion", "intensity", "transition_ms", "mode")}
    return text, {key: value for key, value in fields.items() if value != ""}


# -- the render (worker thread) ------------------------------------------------------


def render_and_analyse(synth: Synthesizer, text: str, options: SpeechOptions | None = None) -> dict[str, Any]:
    """Render ``text`` and measure it: the JSON body of ``POST /v1/webui/render``.

    Blocking; runs in a render-queue thread.
    """
    result = synth.synthesize(text, options)
    audio, rate = result.audio, result.sample_rate
    times, f0 = (np.zeros(0), np.zeros(0))
    loud_times, loud_db = (np.zeros(0), np.zeros(0))
    if len(audio):
        times, f0 = measure.f0_track(audio, rate, time_step=FRAME_STEP_S)
        loud_times, loud_db = loudness_track(audio, rate)
    return {
        "audio_wav_base64": base64.b64encode(audio_utils.encode(audio, rate, "wav")).decode("ascii"),
        "sample_rate": rate,
        "duration_s": round(result.duration_s, 4),
        "plan": result.plan.to_dict(),
        "spans": _spans(result),
        "marks": [{"name": mark.name, "time_s": round(mark.time_s, 4)} for mark in result.marks],
        "timings": result.timings.to_dict(),
        "pitch": {
            "times": [round(float(t), 3) for t in times],
            "hz": [round(float(hz), 2) if hz > 0 else None for hz in f0],
        },
        "loudness": {
            "times": [round(float(t), 3) for t in loud_times],
            "db": [round(float(db), 2) for db in loud_db],
        },
        "warnings": [str(warning) for warning in result.warnings],
    }


def _render_json(synth: Synthesizer, text: str, options: SpeechOptions) -> str:
    """:func:`render_and_analyse` serialised, so the event loop only sends it."""
    return json.dumps(render_and_analyse(synth, text, options), separators=(",", ":"))


def _spans(result: Synthesis) -> list[dict[str, Any]]:
    segments = result.plan.segments if result.plan is not None else ()
    spans = []
    for span in result.spans:
        segment = segments[span.segment]
        spans.append(
            {
                "segment": span.segment,
                "start_s": round(span.start_s, 4),
                "end_s": round(span.end_s, 4),
                "emotion": dominant_emotion(segment.emotion),
                "text": segment.text,
            }
        )
    return spans


def loudness_track(audio: np.ndarray, sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Praat intensity of ``audio`` (shape ``(n,)``) every 10 ms: ``(times, db)``, each shape ``(frames,)``.

    Both are empty when the audio is shorter than Praat's 64 ms analysis window.
    Frames of digital silence (Praat reports them far below speech) are raised
    to 0 dB so the plot keeps a usable scale.
    """
    times, db = measure.intensity_track(audio, sample_rate, time_step=FRAME_STEP_S)
    return times, np.where(np.isfinite(db), np.maximum(db, 0.0), 0.0)


def add_routes(app: web.Application) -> None:
    """Register the page, its assets and its two JSON endpoints."""
    app.router.add_get("/", index)
    app.router.add_get(r"/static/{name:[A-Za-z0-9_][A-Za-z0-9_.-]*}", static_file)
    app.router.add_get("/v1/webui/options", options)
    app.router.add_post("/v1/webui/render", render_for_page)
