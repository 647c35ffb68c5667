"""Descriptors plugins return from the voice-backend and adapter hooks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable


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
    """Adapter name (``http``, ``wyoming``, …)."""
    factory: Callable[..., Any]
    """Called with the runtime to build the adapter."""
    description: str = ""
    """One line for ``emotts plugins``."""
