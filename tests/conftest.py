"""Shared fixtures: one runtime per session (presets and tags load once)."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from emotts_plugin import Runtime, load_config
from emotts_plugin.offline import keep_libraries_offline

# some tests import piper (and so onnxruntime) directly: keep its telemetry off for the whole run
keep_libraries_offline()

ROOT = Path(__file__).resolve().parents[1]
SHARED_EXAMPLES = ROOT.parent / "shared" / "examples"


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    os.environ.pop("EMOTTS_PLUGINS", None)
    return Runtime(load_config([]), plugins=())


@pytest.fixture
def parse(runtime):
    def _parse(text: str, mode: str = "lenient"):
        return runtime.parse(text, mode=mode)

    return _parse


def gate_after_first_chunk(monkeypatch, synth) -> tuple[threading.Event, dict]:
    """Make every chunk after the first wait until ``released`` is set (or 20 s pass)."""
    released = threading.Event()
    seen: dict = {}
    real = synth.render_plan

    def gated(plan, config, **options):
        chunks = real(plan, config, **options)
        yield next(chunks)
        seen["released_before_second_render"] = released.wait(timeout=20)
        yield from chunks

    monkeypatch.setattr(synth, "render_plan", gated)
    return released, seen
