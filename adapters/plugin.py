"""The built-in adapters, registered through the same hook a third party implements.

Each factory takes a :class:`~emotts_plugin.runtime.Runtime`. ``http`` builds the whole
server (native API, OpenAI-compatible speech, WebUI) and ``openai`` the OpenAI-compatible
speech routes alone, ``ivr`` the telephony routes alone, each an ``aiohttp.web.Application`` (aiohttp is imported only then);
``chatbot`` builds a speaker for LLM replies that arrive as a stream; ``wyoming`` a
coroutine function ``serve(uri)`` running the Wyoming server for Home Assistant.
"""

from __future__ import annotations

from emotts_plugin.hookspecs import hookimpl
from emotts_plugin.registry import AdapterSpec


def http_app(runtime):
    """The full HTTP application on ``runtime`` (its configuration and plugins)."""
    from .http import create_app

    return create_app(runtime.config, runtime=runtime)


def openai_app(runtime):
    """Only the OpenAI-compatible speech routes (plus ``/healthz`` and ``/metrics``)."""
    from .http import create_app

    return create_app(runtime.config, runtime=runtime, routes=("emotts_plugin.adapters.openai_api",))


def ivr_app(runtime):
    """Only the IVR routes: prompt files by URL, call queues, Twilio Media Streams, and AudioSocket when configured."""
    from .http import create_app

    return create_app(runtime.config, runtime=runtime, routes=("emotts_plugin.adapters.ivr",))


def chatbot_speaker(runtime):
    """A :class:`~emotts_plugin.adapters.chatbot.ChatbotSpeaker` on ``runtime``: speaks LLM replies as they stream."""
    from emotts_plugin.synthesizer import Synthesizer

    from .chatbot import ChatbotSpeaker

    return ChatbotSpeaker(Synthesizer(runtime=runtime))


def wyoming_server(runtime):
    """A coroutine function ``serve(uri)`` running the Wyoming server (Home Assistant) on ``runtime``."""
    from .wyoming import wyoming_server as factory

    return factory(runtime)


@hookimpl
def emotts_register_adapters():
    return [
        AdapterSpec("http", http_app, "HTTP server: native API, OpenAI-compatible speech and WebUI (emotts serve)"),
        AdapterSpec("openai", openai_app, "OpenAI-compatible POST /v1/audio/speech alone"),
        AdapterSpec("ivr", ivr_app, "IVR: telephone prompt files by URL, Asterisk AudioSocket and Twilio Media Streams calls"),
        AdapterSpec("chatbot", chatbot_speaker, "Speaks an LLM reply sentence by sentence while it streams"),
        AdapterSpec("wyoming", wyoming_server, "Wyoming protocol server for Home Assistant (emotts serve --wyoming URI)"),
    ]
