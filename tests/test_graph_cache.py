"""Patched voice graphs kept on disk: the same audio as patching, refreshed when the voice changes,
never a reason to fail."""

from __future__ import annotations

import logging
import os
import shutil

import numpy as np
import pytest

from emotts_plugin.models.base import RenderPiece
from emotts_plugin.models.graph_cache import GraphCache, default_folder
from emotts_plugin.models.piper import PiperBackend, bundled_voices, patch_version

JOE = bundled_voices()[0]
PIECES = [RenderPiece("The front door is open.")]


@pytest.fixture
def voices(tmp_path):
    """A folder holding a copy of the bundled voice as ``copy``."""
    folder = tmp_path / "voices"
    folder.mkdir()
    shutil.copy(JOE.model, folder / "copy.onnx")
    shutil.copy(JOE.config, folder / "copy.onnx.json")
    return folder


def _render(backend: PiperBackend) -> np.ndarray:
    return backend.render("copy", PIECES, noise=False).audio


def test_a_cached_graph_renders_the_same_audio_as_patching_afresh(voices, tmp_path):
    cache = GraphCache(tmp_path / "graphs", version=patch_version())
    first = _render(PiperBackend(voices, graph_cache=cache))
    stored = list((tmp_path / "graphs").glob("*.onnx"))
    assert len(stored) == 1
    assert cache.find(voices / "copy.onnx") == stored[0]
    again = _render(PiperBackend(voices, graph_cache=cache))  # loaded from the cached file
    uncached = _render(PiperBackend(voices))
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(first, uncached)


def test_a_changed_voice_file_is_patched_again(voices, tmp_path):
    cache = GraphCache(tmp_path / "graphs")
    model = voices / "copy.onnx"
    cache.store(model, b"old graph")
    before = cache.find(model)
    os.utime(model, ns=(1, 1))  # the voice replaced by another file of the same size
    assert cache.find(model) is None
    assert before is not None and before.exists()


def test_a_damaged_cached_graph_is_replaced_with_a_warning(voices, tmp_path, caplog):
    cache = GraphCache(tmp_path / "graphs")
    cache.store(voices / "copy.onnx", b"not a model")
    with caplog.at_level(logging.WARNING, logger="emotts_plugin.models.piper"):
        audio = _render(PiperBackend(voices, graph_cache=cache))
    assert audio.size > 0
    assert "unusable" in caplog.text and "patching again" in caplog.text
    entry = cache.find(voices / "copy.onnx")
    assert entry is not None and entry.stat().st_size > 1_000_000  # the real graph now


def test_an_unwritable_cache_folder_still_loads_the_voice(voices, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    cache = GraphCache(blocker / "graphs")
    assert cache.store(voices / "copy.onnx", b"x") is None
    assert _render(PiperBackend(voices, graph_cache=cache)).size > 0


def test_the_folder_keeps_only_the_most_recently_used_graphs(tmp_path):
    cache = GraphCache(tmp_path / "graphs", keep=2)
    sources = []
    for number in range(3):
        source = tmp_path / f"voice{number}.onnx"
        source.write_bytes(b"v" * (number + 1))
        sources.append(source)
        entry = cache.store(source, b"graph")
        os.utime(entry, (1000 + number, 1000 + number))
    assert cache.find(sources[0]) is None
    assert cache.find(sources[1]) is not None and cache.find(sources[2]) is not None
    assert not list((tmp_path / "graphs").glob(".*.part"))


def test_the_default_folder_follows_the_render_cache_then_xdg(tmp_path, monkeypatch):
    assert default_folder(str(tmp_path)) == tmp_path / "voices"
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_folder(None) == tmp_path / "xdg" / "emotts" / "voices"
