"""Built-in voice backends and the core audio post-processing, registered as a plugin."""

from __future__ import annotations

import logging

from emotts_plugin.hookspecs import hookimpl
from emotts_plugin.registry import VoiceBackendSpec

_LOGGER = logging.getLogger(__name__)


def _piper(config):
    from .piper import PiperBackend

    return PiperBackend(config.voices_dir, threads=config.threads, device=config.device)


@hookimpl
def emotts_register_voice_backends():
    return [VoiceBackendSpec("piper", _piper, "Piper VITS voices on onnxruntime (bundled: joe)")]


@hookimpl(trylast=True)
def emotts_postprocess_audio(audio):
    """The core result: the shaped audio as rendered (plugins wrap this)."""
    return audio
