"""Configuration layers: plugin.yaml defaults, user files, flags; unknown keys named."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from emotts_plugin import Config, ConfigError, load_config
from emotts_plugin.config import MarkupMode, read_manifest

EMOTTS = str(Path(sys.executable).with_name("emotts"))


def test_defaults_come_from_plugin_yaml():
    config = load_config([])
    defaults = read_manifest()["defaults"]
    assert config.to_dict() == {**defaults, "limits": {**defaults["limits"], "request_timeout_s": 120.0}}
    assert config.voice == "joe" and config.transition_ms == 250 and config.markup_mode is MarkupMode.LENIENT
    assert config.server.http_port == 7860


def test_manifest_names_the_package():
    manifest = read_manifest()["manifest"]
    assert manifest["name"] == "emotts"
    assert manifest["entry_points"]["console_scripts"]["emotts"] == "emotts_plugin.cli:main"
    from importlib.metadata import version

    assert manifest["version"] == version("emotts")


def test_user_file_then_overrides(tmp_path):
    user = tmp_path / "me.yaml"
    user.write_text("emotion: calm\nintensity: 0.5\nlimits:\n  max_depth: 10\n")
    config = load_config([user], {"intensity": 0.8, "lang": None})
    assert (config.emotion, config.intensity, config.limits.max_depth, config.lang) == (
        "calm",
        0.8,
        10,
        "en-US",
    )
    assert config.limits.max_input_bytes == 1_000_000


def test_env_config_file(tmp_path, monkeypatch):
    user = tmp_path / "env.yaml"
    user.write_text("transition_ms: 400\n")
    monkeypatch.setenv("EMOTTS_CONFIG", str(user))
    assert load_config().transition_ms == 400


@pytest.mark.parametrize(
    "text, key, fragment",
    [
        (
            "emotoin: happy\n",
            "emotoin",
            "unknown configuration key 'emotoin' (value 'happy'); allowed here: voice, emotion",
        ),
        (
            "limits:\n  max_dept: 3\n",
            "limits.max_dept",
            "unknown configuration key 'limits.max_dept' (value 3)",
        ),
        ("intensity: 2\n", "intensity", "intensity must be within 0..1, got 2.0"),
        ("transition_ms: fast\n", "transition_ms", "transition_ms must be int, got 'fast'"),
        ("markup_mode: sloppy\n", "markup_mode", "markup_mode must be one of lenient, strict, got 'sloppy'"),
        ("server: 7\n", "server", "server must be a mapping, got 7"),
    ],
)
def test_bad_user_config_names_the_key(tmp_path, text, key, fragment):
    user = tmp_path / "bad.yaml"
    user.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config([user])
    assert fragment in str(info.value)
    assert info.value.key == key


def test_unreadable_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config([tmp_path / "missing.yaml"])
    bad = tmp_path / "list.yaml"
    bad.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config([bad])


def test_config_from_dict_round_trip():
    config = load_config([])
    assert Config.from_dict(config.to_dict()) == config


def test_cli_flag_overrides_file(tmp_path):
    user = tmp_path / "me.yaml"
    user.write_text("emotion: sad\n")
    done = subprocess.run(
        [EMOTTS, "parse", "--config", str(user), "--emotion", "happy", "--intensity", "0.5", "--json", "-"],
        input="Hello.",
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert '"emotion": {\n        "happy": 0.5\n      }' in done.stdout


def test_cli_reports_bad_config_and_exits_2(tmp_path):
    user = tmp_path / "bad.yaml"
    user.write_text("colour: blue\n")
    done = subprocess.run(
        [EMOTTS, "parse", "--config", str(user), "-"], input="x", capture_output=True, text=True
    )
    assert done.returncode == 2
    assert done.stderr.startswith("error: unknown configuration key 'colour'")
