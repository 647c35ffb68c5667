"""Shared fixtures: one runtime per session (presets and tags load once)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from emotts_plugin import Runtime, load_config

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
