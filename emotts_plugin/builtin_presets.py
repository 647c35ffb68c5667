"""The shipped emotion presets (``presets/*.yaml``), registered as a plugin."""

from __future__ import annotations

from .emotion import load_builtin_presets
from .hookspecs import hookimpl


@hookimpl
def emotts_register_presets():
    return load_builtin_presets()
