"""The plugin system: hookspecs, docs, third-party plugins end to end."""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pluggy
import pytest

from emotts_plugin import Runtime, hookimpl, hookspecs, load_config
from emotts_plugin.errors import PluginError, PresetError
from emotts_plugin.plugins import DEFAULT_PLUGINS, get_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
EMOTTS = str(Path(sys.executable).with_name("emotts"))

THIRD_PARTY = textwrap.dedent(
    '''
    """A third-party plugin: a "sarcastic" preset and a <sarcasm> tag."""
    from emotts_plugin import hookimpl

    @hookimpl
    def emotts_register_presets():
        return [{
            "name": "sarcastic",
            "description": "Dry and drawn out.",
            "vector": {"pitch_st": -1.0, "range": 1.4, "rate": 0.85, "contour": -2.0},
            "aliases": ["ironic", "deadpan"],
        }]

    def sarcasm(ctx, element):
        level = float(element.get("level", "1"))
        ctx.set_emotion({"sarcastic": level})

    @hookimpl
    def emotts_register_tag_handlers():
        return {"sarcasm": sarcasm}
    '''
)
MARKUP = 'Oh <sarcasm level="0.5">great</sarcasm>, <emotion name="deadpan">another meeting</emotion>.'


def _hook_names():
    return sorted(name for name in dir(hookspecs) if name.startswith("emotts_"))


def test_every_hook_is_documented_with_its_signature():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pm = get_plugin_manager(autoload=False)
    names = sorted(name for name in dir(pm.hook) if name.startswith("emotts_"))
    assert names == _hook_names() and len(names) >= 7
    for name in names:
        spec = getattr(hookspecs, name)
        signature = f"{name}{inspect.signature(spec)}"
        assert f"#### `{signature}`" in readme, f"README lacks a section for {signature}"


def test_manifest_lists_every_hook():
    from emotts_plugin.config import read_manifest

    assert sorted(read_manifest()["manifest"]["hooks"]) == _hook_names()


def test_builtins_are_plugins():
    pm = get_plugin_manager(autoload=False)
    assert [name for name, _ in pm.list_name_plugin()] == list(DEFAULT_PLUGINS)


def test_misspelled_hook_fails_loudly():
    class Typo:
        @hookimpl
        def emotts_register_preset(self):  # missing "s"
            return []

    with pytest.raises(PluginError, match="emotts_register_preset"):
        get_plugin_manager([Typo()], autoload=False)


def test_registered_plugin_adds_preset_and_tag(tmp_path, monkeypatch):
    (tmp_path / "sarcasm_plugin.py").write_text(THIRD_PARTY)
    monkeypatch.syspath_prepend(str(tmp_path))
    runtime = Runtime(load_config([]), plugins=["sarcasm_plugin"])
    plan = runtime.parse(MARKUP, mode="strict")
    assert [(s.text, dict(s.emotion)) for s in plan.segments] == [
        ("Oh", {}),
        ("great", {"sarcastic": 0.5}),
        (",", {}),
        ("another meeting", {"sarcastic": 1.0}),
        (".", {}),
    ]
    assert plan.segments[1].targets.rate == pytest.approx(0.85**0.5)


def test_duplicate_alias_from_plugin_names_both(tmp_path):
    class Clash:
        @hookimpl
        def emotts_register_presets(self):
            return [{"name": "jolly", "vector": {}, "aliases": ["cheerful"]}]

    with pytest.raises(PresetError, match="'cheerful' already belongs to 'happy'"):
        Runtime(load_config([]), plugins=[Clash()])


def _install_dist(site: Path) -> None:
    """A real installed distribution (dist-info with an entry point) on a path entry."""
    (site / "sarcasm_plugin.py").write_text(THIRD_PARTY)
    info = site / "emotts_sarcasm-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: emotts-sarcasm\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[emotts]\nsarcasm = sarcasm_plugin\n")


def _run_parse(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("EMOTTS_")}
    environ.update(PYTHONPATH=str(site), **env)
    return subprocess.run(
        [EMOTTS, "parse", *args, "-"], input=MARKUP, capture_output=True, text=True, env=environ, timeout=60
    )


def test_entry_point_plugin_end_to_end_through_cli(tmp_path):
    _install_dist(tmp_path)
    done = _run_parse(tmp_path, "--json", "--strict")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert [s["emotion"] for s in plan["segments"]] == [{}, {"sarcastic": 0.5}, {}, {"sarcastic": 1.0}, {}]
    assert plan["segments"][3]["targets"]["contour"] == -2.0
    listing = subprocess.run(
        [EMOTTS, "emotions"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)}
    )
    assert "sarcastic: Dry and drawn out." in listing.stdout


def test_autoload_switch_disables_entry_points(tmp_path):
    _install_dist(tmp_path)
    done = _run_parse(tmp_path, "--json", EMOTTS_DISABLE_PLUGIN_AUTOLOAD="1")
    assert done.returncode == 0
    plan = json.loads(done.stdout)
    assert all(s["emotion"] == {} for s in plan["segments"])
    assert "unknown element <sarcasm>" in done.stderr
    strict = _run_parse(tmp_path, "--strict", EMOTTS_DISABLE_PLUGIN_AUTOLOAD="1")
    assert strict.returncode == 2
    assert re.match(r"error: line 1, column 4: unknown element <sarcasm>", strict.stderr)


def test_plugin_named_by_environment(tmp_path):
    (tmp_path / "sarcasm_plugin.py").write_text(THIRD_PARTY)
    done = _run_parse(tmp_path, "--json", EMOTTS_PLUGINS="sarcasm_plugin", EMOTTS_DISABLE_PLUGIN_AUTOLOAD="1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["segments"][1]["emotion"] == {"sarcastic": 0.5}


def test_preprocess_and_transform_hooks_chain():
    import dataclasses

    class Shout:
        @hookimpl
        def emotts_preprocess_text(self, text):
            return text.replace("hello", "HELLO")

    class Exclaim:
        @hookimpl
        def emotts_preprocess_text(self, text, config):
            return text + "!"

        @hookimpl
        def emotts_transform_plan(self, plan):
            return dataclasses.replace(plan, segments=plan.segments[:1])

    runtime = Runtime(load_config([]), plugins=[Shout(), Exclaim()])
    plan = runtime.parse('hello <break/> world')
    assert [s.text for s in plan.segments] == ["HELLO"]
    assert runtime.parse("hello").text == "HELLO!"


def test_postprocess_audio_wrapper_wraps_the_core_result():
    class Core:
        @hookimpl(trylast=True)
        def emotts_postprocess_audio(self, audio):
            return audio

    class Halve:
        @hookimpl(wrapper=True)
        def emotts_postprocess_audio(self, audio, sample_rate):
            result = yield
            assert sample_rate == 16000
            return result * 0.5

    pm = get_plugin_manager([Core(), Halve()], autoload=False)
    out = pm.hook.emotts_postprocess_audio(audio=np.ones(4, np.float32), sample_rate=16000, config=None)
    assert np.allclose(out, 0.5)


def test_broken_plugin_module_is_a_clear_error():
    with pytest.raises(PluginError, match="cannot import plugin module 'no_such_plugin_xyz'"):
        get_plugin_manager(["no_such_plugin_xyz"], autoload=False)
