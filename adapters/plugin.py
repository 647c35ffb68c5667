"""The built-in adapters, registered through the same hook a third party implements.

``http`` is the whole server (native API, OpenAI-compatible speech, WebUI); ``openai`` is
the OpenAI-compatible speech routes alone. Each factory takes a
:class:`~emotts_plugin.runtime.Runtime` and returns an ``aiohttp.web.Application``;
aiohttp is imported only when one is built.
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


@hookimpl
def emotts_register_adapters():
    return [
        AdapterSpec("http", http_app, "HTTP server: native API, OpenAI-compatible speech and WebUI (emotts serve)"),
        AdapterSpec("openai", openai_app, "OpenAI-compatible POST /v1/audio/speech alone"),
    ]
