"""Descriptors plugins return from the voice-backend and adapter hooks, and the server interface
``emotts serve`` runs.

An adapter that is a server (the built-in ``http`` and ``wyoming``, or a third party's) sets
:attr:`AdapterSpec.server`. ``emotts serve`` then:

1. builds one :class:`ServeContext` (the runtime, the command line's :class:`ServeOptions`) and
   calls every spec's ``server(context)``, in registration order (built-ins first); a server not
   configured to run this time answers ``None``;
2. checks that every address in the servers' :attr:`Server.endpoints` is free (``--replace``
   stops another emotts server that holds one) and that ``cache.dir`` can be used, before any
   voice loads;
3. loads one synthesizer into :attr:`ServeContext.synthesizer`, shared by every server;
4. starts the servers in the same order (:meth:`Server.start`);
5. runs until SIGTERM or Ctrl+C, or until one server's :meth:`Server.wait` returns or raises,
   then closes every started server, the last started first (:meth:`Server.close`).

A server finds its own address where it likes: the built-ins read ``server.*`` in the
configuration and the command line (:class:`ServeOptions`); a third-party server may read an
environment variable or a file of its own.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable

from .ports import Endpoint


@dataclass(frozen=True, slots=True)
class VoiceBackendSpec:
    """A speech engine a plugin offers."""

    name: str
    """Backend name used in configuration (``piper``, ``kokoro``, …)."""
    factory: Callable[..., Any]
    """Called with the :class:`~emotts_plugin.config.Config` to build the backend."""
    description: str = ""
    """One line for ``emotts voices``."""


@dataclass(frozen=True, slots=True)
class AdapterSpec:
    """A host adapter a plugin offers (a server or protocol bridge)."""

    name: str
    """Adapter name (``http``, ``wyoming``, …), unique among the plugins."""
    factory: Callable[..., Any]
    """Called with the runtime to build the adapter (an ``aiohttp`` application, a speaker, …)."""
    description: str = ""
    """One line for ``emotts plugins``."""
    server: Callable[[ServeContext], Server | None] | None = None
    """For an adapter ``emotts serve`` runs: called with the :class:`ServeContext` before
    anything loads, returns the :class:`Server`, or ``None`` when it is not configured to run
    this time (``--no-http``, no Wyoming URI). ``None`` for adapters that are built on demand
    (``openai``, ``ivr``, ``chatbot``)."""


@dataclass(frozen=True, slots=True)
class ServeOptions:
    """The command line of ``emotts serve``; each option overrides its ``server.*`` key."""

    host: str | None = None
    """``--host``: the HTTP server's interface (``server.http_host``)."""
    port: int | None = None
    """``--port``: the HTTP server's TCP port (``server.http_port``)."""
    wyoming_uri: str | None = None
    """``--wyoming``: where the Wyoming server listens (``server.wyoming_uri``)."""
    http: bool = True
    """False with ``--no-http``: no HTTP server."""


@dataclass(slots=True)
class ServeContext:
    """What one ``emotts serve`` shares among its servers (the only mutable hand-over: it fills
    in as the servers start, see the module docstring)."""

    runtime: Any
    """The :class:`~emotts_plugin.runtime.Runtime` (configuration and plugins) being served;
    ``runtime.config`` holds the configuration files and command-line options."""
    options: ServeOptions = ServeOptions()
    """The command line."""
    synthesizer: Any = None
    """The :class:`~emotts_plugin.synthesizer.Synthesizer` every server renders with; loaded
    before the first :meth:`Server.start`, ``None`` until then."""
    queue: Any = None
    """The render queue the servers share, so that together they use the cores once: the HTTP
    server's, set when it starts; ``None`` without one (a server then makes its own, or renders
    on threads of its own)."""


class Server(abc.ABC):
    """One server of ``emotts serve`` (see the module docstring for the order of the calls)."""

    endpoints: tuple[Endpoint, ...] = ()
    """The addresses it will listen on, checked before anything loads: a taken one stops the
    start with an error naming the endpoint's ``key`` and ``flag`` (for a third-party server,
    say, the environment variable that sets it)."""

    @abc.abstractmethod
    async def start(self, context: ServeContext) -> None:
        """Begin serving with ``context.synthesizer`` and return once listening (a server that
        binds in the background reports a failure through :meth:`wait`).

        :raises OSError: an address cannot be bound.
        """

    async def wait(self) -> None:
        """Return, or raise, when the server stops by itself (its input ended, it failed): that
        ends ``emotts serve``. The default never returns."""
        import asyncio

        await asyncio.get_running_loop().create_future()

    @abc.abstractmethod
    async def close(self) -> None:
        """Stop serving and let go of what :meth:`start` took; called once, for started servers."""
