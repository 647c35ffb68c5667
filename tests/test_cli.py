"""The emotts command line: the plan JSON contract, exit codes, messages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

EMOTTS = str(Path(sys.executable).with_name("emotts"))
ROOT = Path(__file__).resolve().parents[1]
SEGMENT_KEYS = [
    "text",
    "lang",
    "voice",
    "emotion",
    "targets",
    "break_before_ms",
    "break_after_ms",
    "emphasis",
    "marks",
    "bleep",
]
TARGET_KEYS = [
    "pitch_st",
    "range",
    "rate",
    "volume_db",
    "tilt_db",
    "breathiness",
    "contour",
    "pause",
    "jitter",
]


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EMOTTS, *args], input=stdin, capture_output=True, text=True, timeout=60)


def test_parse_json_contract():
    done = run("parse", "--json", str(ROOT / "examples" / "welcome.ssml"))
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert list(plan) == ["segments", "warnings"]
    for segment in plan["segments"]:
        assert list(segment) == SEGMENT_KEYS
        assert list(segment["targets"]) == TARGET_KEYS
    assert [s["emotion"] for s in plan["segments"]] == [{}, {"gentle": 0.6}, {"happy": 0.8}]
    assert plan["segments"][1]["break_after_ms"] == 300
    assert plan["warnings"] == []


def test_lenient_warnings_exit_zero():
    done = run("parse", "--json", "-", stdin="Fish & chips [happy] yes <emotion name='calm'>ok")
    assert done.returncode == 0
    warnings = json.loads(done.stdout)["warnings"]
    assert [w["column"] for w in warnings] == [6, 26]  # "[happy]" is a documented cue, no repair
    assert "warning: line 1, column 6: bare '&' read as text" in done.stderr


def test_strict_error_exit_two_with_position():
    done = run("parse", "--strict", "-", stdin="<speak>\n  <emotion name='happy'>hi</emotoin>\n</speak>")
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.startswith("error: line 2, column ")
    assert "Opening and ending tag mismatch" in done.stderr


def test_refused_input_exit_two():
    done = run("parse", "-", stdin='<!DOCTYPE x [<!ENTITY a "b">]><speak>&a;</speak>')
    assert done.returncode == 2
    assert done.stderr.startswith("error: line 1, column 1: <!DOCTYPE> declarations are not accepted")


def test_unknown_emotion_lenient_vs_strict():
    lenient = run("parse", "--json", "-", stdin='<emotion name="zesty">hm</emotion>')
    assert lenient.returncode == 0
    assert json.loads(lenient.stdout)["segments"][0]["emotion"] == {}
    assert "unknown emotion 'zesty'" in lenient.stderr and "spoken neutral" in lenient.stderr
    strict = run("parse", "--strict", "-", stdin='<emotion name="zesty">hm</emotion>')
    assert strict.returncode == 2 and "error: line 1, column 1: unknown emotion 'zesty'" in strict.stderr


def test_missing_file_is_a_clear_error(tmp_path):
    done = run("parse", str(tmp_path / "nope.ssml"))
    assert done.returncode == 2
    assert "cannot read" in done.stderr and "nope.ssml" in done.stderr


def test_human_readable_plan():
    done = run("parse", str(ROOT / "examples" / "welcome.ssml"))
    assert done.returncode == 0
    lines = done.stdout.splitlines()
    assert lines[1].startswith("  2. [gentle 0.60] [en-US] The living-room lights are on")
    assert lines[1].endswith("(pause after 300 ms)")


def test_emotions_listing():
    done = run("emotions", "--json")
    labels = [p["name"] for p in json.loads(done.stdout)]
    assert len(labels) == 15 and labels[0] == "neutral"
    text = run("emotions").stdout
    assert "gentle:" in text and "温柔" in text


@pytest.mark.parametrize("argv", [["parse"], ["speak"], ["parse", "x", "--intensity", "loud"]])
def test_usage_errors_exit_two(argv):
    assert run(*argv).returncode == 2


def test_plugins_listing():
    done = run("plugins")
    assert "emotts_plugin.ssml.tags: emotts_register_tag_handlers" in done.stdout
    assert "emotts_plugin.builtin_presets: emotts_register_presets" in done.stdout


def test_say_writes_each_format(tmp_path):
    import soundfile

    wav = tmp_path / "hello.wav"
    done = run("say", "Hello from the command line.", "-o", str(wav), "--seed", "1")
    assert done.returncode == 0, done.stderr
    info = soundfile.info(str(wav))
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16") and info.duration > 1.0
    flac = tmp_path / "calm.flac"
    done = run(
        "say",
        "-f",
        str(ROOT / "examples" / "welcome.ssml"),
        "-o",
        str(flac),
        "--sample-rate",
        "16000",
        "--emotion",
        "calm",
    )
    assert done.returncode == 0, done.stderr
    assert soundfile.info(str(flac)).samplerate == 16000
    ulaw = subprocess.run(
        [EMOTTS, "say", "Hi there.", "--format", "ulaw", "--sample-rate", "8000", "-o", "-"],
        capture_output=True,
        timeout=120,
    )
    assert ulaw.returncode == 0
    assert 0.4 * 8000 < len(ulaw.stdout) < 3 * 8000  # one byte per sample, no header


def test_say_errors(tmp_path):
    out = tmp_path / "x.wav"
    unknown = run("say", "Hi", "--voice", "amy", "-o", str(out))
    assert (
        unknown.returncode == 2
        and "unknown voice 'amy'; available voices: " in unknown.stderr
        and "joe" in unknown.stderr
    )
    empty = run("say", "   ", "-o", str(out))
    assert empty.returncode == 2 and "nothing to say" in empty.stderr
    unsayable = run("say", "你好", "-o", str(out))
    assert unsayable.returncode == 2 and "could say none of the input" in unsayable.stderr
    both = run("say", "Hi", "-f", "x.ssml", "-o", str(out))
    assert both.returncode == 2 and "not both" in both.stderr
    assert not out.exists()


def test_voices_listing():
    done = run("voices", "--json")
    assert done.returncode == 0
    voices = {v["name"]: v for v in json.loads(done.stdout)}
    assert voices["joe"]["languages"] == ["en-US"] and voices["joe"]["sample_rate"] == 22050


def test_say_output_has_usual_permissions_and_no_leftovers(tmp_path):
    import os
    import stat

    out = tmp_path / "p.wav"
    assert run("say", "Hello.", "-o", str(out)).returncode == 0
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(out.stat().st_mode) == 0o666 & ~umask
    assert [p.name for p in tmp_path.iterdir()] == ["p.wav"]
