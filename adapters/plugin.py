"""The built-in adapters, registered through the same hook a third party implements.

Each factory takes a :class:`~emotts_plugin.runtime.Runtime`. ``http`` builds the whole
server (native API, OpenAI-compatible speech, WebUI) and ``openai`` the OpenAI-compatible
speech routes alone, ``ivr`` the telephony routes alone, each an ``aiohttp.web.Application``
(aiohttp is imported only then); ``chatbot`` builds a speaker for LLM replies that arrive as a
stream; ``pipecat``, ``livekit`` and ``ovos`` the TTS of those voice-agent frameworks (each
needs its extra); ``wyoming`` a coroutine function ``serve(uri)`` running the Wyoming server for
Home Assistant.

``http`` and ``wyoming`` are also the servers of ``emotts serve`` (:class:`HttpServing`,
:class:`WyomingServing`; see :mod:`emotts_plugin.registry` for how it runs them).
"""

from __future__ import annotations

import asyncio
import sys

from emotts_plugin.config import split_host_port, split_wyoming_uri
from emotts_plugin.hookspecs import hookimpl
from emotts_plugin.ports import Endpoint
from emotts_plugin.registry import AdapterSpec, ServeContext, Server


def http_app(runtime):
    """The full HTTP application on ``runtime`` (its configuration and plugins)."""
    from .http import create_app

    return create_app(runtime.config, runtime=runtime)


def openai_app(runtime):
    """Only the OpenAI-compatible speech routes (plus ``/healthz`` and ``/metrics``)."""
    from .http import create_app

    return create_app(runtime.config, runtime=runtime, routes=("emotts_plugin.adapters.openai_api",))


def ivr_app(runtime):
    """Only the IVR routes: prompt files by URL, call queues, Twilio Media Streams, and
    AudioSocket when configured."""
    from .http import create_app

    return create_app(runtime.config, runtime=runtime, routes=("emotts_plugin.adapters.ivr",))


def chatbot_speaker(runtime):
    """A :class:`~emotts_plugin.adapters.chatbot.ChatbotSpeaker` on ``runtime``: speaks LLM
    replies as they stream."""
    from emotts_plugin.synthesizer import Synthesizer

    from .chatbot import ChatbotSpeaker

    return ChatbotSpeaker(Synthesizer(runtime=runtime))


def _in_process(runtime):
    from emotts_plugin.synthesizer import Synthesizer

    return Synthesizer(runtime=runtime)


def pipecat_service(runtime, **options):
    """A Pipecat ``TTSService`` (:class:`~emotts_plugin.adapters.pipecat.EmottsTTSService`) rendering
    on ``runtime``; needs the ``pipecat`` extra."""
    from .pipecat import EmottsTTSService

    return EmottsTTSService(_in_process(runtime), **options)


def livekit_tts(runtime, **options):
    """A LiveKit Agents ``tts.TTS`` (:class:`~emotts_plugin.adapters.livekit.EmottsTTS`) rendering on
    ``runtime``; needs the ``livekit`` extra."""
    from .livekit import EmottsTTS

    return EmottsTTS(_in_process(runtime), **options)


def ovos_tts(runtime, config=None):
    """An OpenVoiceOS TTS plugin (:class:`~emotts_plugin.adapters.ovos.EmottsOVOSTTS`) rendering on
    ``runtime``; needs the ``ovos`` extra (OVOS itself finds it by the ``opm.tts`` entry point)."""
    from .ovos import EmottsOVOSTTS

    return EmottsOVOSTTS(config, synthesizer=_in_process(runtime))


def wyoming_server(runtime):
    """A coroutine function ``serve(uri)`` running the Wyoming server (Home Assistant) on ``runtime``."""
    from .wyoming import wyoming_server as factory

    return factory(runtime)


class HttpServing(Server):
    """The HTTP application (:func:`http_app`) under ``emotts serve``, on ``--host``/``--port``
    or ``server.http_host``/``server.http_port``; with ``server.audiosocket`` set, the AudioSocket
    server it starts is checked too. Its render queue becomes the one every server shares."""

    def __init__(self, context: ServeContext) -> None:
        config = context.runtime.config
        options = context.options
        self.host = options.host or config.server.http_host
        self.port = options.port if options.port is not None else config.server.http_port
        endpoints = [Endpoint("HTTP", "server.http_port", "--port", host=self.host, port=self.port)]
        if config.server.audiosocket is not None:
            host, port = split_host_port(config.server.audiosocket, key="server.audiosocket")
            endpoints.append(
                Endpoint("AudioSocket", "server.audiosocket", "--audiosocket", host=host, port=port)
            )
        self.endpoints = tuple(endpoints)
        self._server = None

    async def start(self, context: ServeContext) -> None:
        from .http import HttpServer, create_app
        from .requests import QUEUE

        # the configuration as given (the synthesizer's may hold a thread count set for serving)
        app = create_app(context.runtime.config, synthesizer=context.synthesizer)
        context.queue = app[QUEUE]
        self._server = HttpServer(app, self.host, self.port)
        await self._server.start()
        where = f"http://{self.host}:{self._server.port}"
        print(f"emotts: serving HTTP on {where} (Ctrl+C to stop)", file=sys.stderr, flush=True)

    async def close(self) -> None:
        if self._server is not None:
            await self._server.close()


class WyomingServing(Server):
    """The Wyoming server (Home Assistant) under ``emotts serve``, on ``--wyoming`` or
    ``server.wyoming_uri`` (``tcp://``, ``unix://`` or ``stdio://``), rendering on the shared
    render queue. It stops ``emotts serve`` when it ends (SIGTERM, or standard input closed)."""

    def __init__(self, uri: str, *, key: str) -> None:
        scheme, host, port, path = split_wyoming_uri(uri, key=key)
        self.uri = uri
        self.endpoints = (
            ()
            if scheme == "stdio"
            else (Endpoint("Wyoming", "server.wyoming_uri", "--wyoming", host=host, port=port, path=path),)
        )
        self._task: asyncio.Task | None = None

    async def start(self, context: ServeContext) -> None:
        from .wyoming import run_wyoming

        self._task = asyncio.create_task(run_wyoming(self.uri, context.synthesizer, context.queue))
        print(f"emotts: serving Wyoming on {self.uri}", file=sys.stderr, flush=True)

    async def wait(self) -> None:
        assert self._task is not None
        await asyncio.shield(self._task)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # its end, failure included, was reported through wait()
            await asyncio.gather(self._task, return_exceptions=True)


def serve_http(context: ServeContext) -> Server | None:
    """The HTTP server, unless ``--no-http``."""
    return HttpServing(context) if context.options.http else None


def serve_wyoming(context: ServeContext) -> Server | None:
    """The Wyoming server when ``--wyoming`` or ``server.wyoming_uri`` names where."""
    if context.options.wyoming_uri:
        return WyomingServing(context.options.wyoming_uri, key="--wyoming")
    if context.runtime.config.server.wyoming_uri:
        return WyomingServing(context.runtime.config.server.wyoming_uri, key="server.wyoming_uri")
    return None


@hookimpl
def emotts_register_adapters():
    return [
        AdapterSpec(
            "http",
            http_app,
            "HTTP server: native API, OpenAI-compatible speech and WebUI (emotts serve)",
            server=serve_http,
        ),
        AdapterSpec("openai", openai_app, "OpenAI-compatible POST /v1/audio/speech alone"),
        AdapterSpec(
            "ivr",
            ivr_app,
            "IVR: telephone prompt files by URL, Asterisk AudioSocket and Twilio Media Streams calls",
        ),
        AdapterSpec("chatbot", chatbot_speaker, "Speaks an LLM reply sentence by sentence while it streams"),
        AdapterSpec(
            "pipecat", pipecat_service, "Pipecat TTSService for voice-agent pipelines (emotts[pipecat])"
        ),
        AdapterSpec(
            "livekit",
            livekit_tts,
            "LiveKit Agents tts.TTS with streaming and aligned words (emotts[livekit])",
        ),
        AdapterSpec(
            "ovos", ovos_tts, "OpenVoiceOS TTS plugin, also found by its opm.tts entry point (emotts[ovos])"
        ),
        AdapterSpec(
            "wyoming",
            wyoming_server,
            "Wyoming protocol server for Home Assistant (emotts serve --wyoming URI)",
            server=serve_wyoming,
        ),
    ]
