"""Packaging: one import name, data files installed, public surface pinned."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import zipfile
from pathlib import Path

import emotts_plugin

ROOT = Path(__file__).resolve().parents[1]


def test_exported_members():
    assert emotts_plugin.__all__ == sorted(emotts_plugin.__all__)
    assert emotts_plugin.__all__ == [
        "Config",
        "ConfigError",
        "EmotionSpace",
        "EmotionVector",
        "EmottsError",
        "Emphasis",
        "HostileInputError",
        "MarkupError",
        "ParseWarning",
        "Plan",
        "PluginError",
        "Preset",
        "PresetError",
        "Runtime",
        "Segment",
        "SpeechOptions",
        "Synthesizer",
        "UnknownEmotionError",
        "get_plugin_manager",
        "hookimpl",
        "load_config",
    ]


def test_subpackages_live_under_one_name():
    for name in ("ssml", "models", "adapters", "presets"):
        assert importlib.util.find_spec(f"emotts_plugin.{name}") is not None
        assert importlib.util.find_spec(name) is None, f"top-level {name!r} must not be importable"


def test_wheel_holds_only_emotts_plugin(tmp_path):
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("emotts-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    assert tops == {"emotts_plugin", "emotts-0.1.0.dist-info"}
    for needed in (
        "emotts_plugin/plugin.yaml",
        "emotts_plugin/presets/happy.yaml",
        "emotts_plugin/ssml/parser.py",
    ):
        assert needed in names
    yaml_text = zipfile.ZipFile(wheel).read("emotts_plugin/plugin.yaml").decode()
    assert yaml_text == (ROOT / "plugin.yaml").read_text()
    entry_points = zipfile.ZipFile(wheel).read("emotts-0.1.0.dist-info/entry_points.txt").decode()
    assert "emotts = emotts_plugin.cli:main" in entry_points
