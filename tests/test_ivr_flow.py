"""``emotts ivr render``: flow files, prompt files read back by sox, formats side by side,
skipping, interruption.

Prompts are short and rendered by the real ``joe`` voice (noise on: each prompt's take key seeds
it, so the same prompt renders the same bytes, and the same take in every format).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from emotts_plugin import Synthesizer, cli, load_config
from emotts_plugin.adapters import telephony
from emotts_plugin.adapters.ivr_flow import (
    MANIFEST_NAME,
    Flow,
    FlowPrompt,
    load_flow,
    parse_flow,
    parse_formats,
    read_manifest,
    render_flow,
)
from emotts_plugin.adapters.telephony import Prompt, TelephoneFormat
from emotts_plugin.errors import ConfigError, FlowError

from conftest import ASTERISK_SOUNDS, needs_asterisk_sounds, needs_sox

ROOT = Path(__file__).resolve().parents[1]
EMOTTS = str(Path(sys.executable).with_name("emotts"))
EXAMPLE = ROOT / "examples" / "ivr" / "customer-service.yaml"
ASTERISK_PROMPT = ASTERISK_SOUNDS / "vm-goodbye.wav"

SMALL_FLOW = """\
defaults:
  emotion: calm
  intensity: 0.5
prompts:
  - id: hello
    text: Hello there.
  - id: menu
    ssml: <speak>Press <say-as interpret-as="digits">1</say-as>.</speak>
    emotion: neutral
  - id: bye
    text: Goodbye!
    emotion: cheerful
"""

# format, soxi encoding, sox raw decoding options (None: a WAV file)
FORMATS = [
    ("wav", "Signed Integer PCM", None),
    ("wav16", "Signed Integer PCM", None),
    ("wav-ulaw", "u-law", None),
    ("wav-alaw", "A-law", None),
    ("sln", None, ["-e", "signed-integer", "-b", "16", "-r", "8000"]),
    ("sln16", None, ["-e", "signed-integer", "-b", "16", "-r", "16000"]),
    ("ulaw", None, ["-e", "u-law", "-b", "8", "-r", "8000"]),
    ("alaw", None, ["-e", "a-law", "-b", "8", "-r", "8000"]),
]
#: The formats Asterisk keeps side by side in one folder (one file name each).
ASTERISK_FORMATS = ("sln", "sln16", "ulaw", "alaw", "wav", "wav16")
RAW_OPTIONS = {name: raw for name, _, raw in FORMATS}


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), threads=2))


@pytest.fixture
def calls(synth, monkeypatch) -> list[str]:
    """Texts the synthesizer is asked to render, in order."""
    seen: list[str] = []
    real = synth.synthesize

    def counting(text, options=None, **changes):
        seen.append(text)
        return real(text, options, **changes)

    monkeypatch.setattr(synth, "synthesize", counting)
    return seen


def write_flow(folder: Path, text: str, name: str = "flow.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def manifest(out: Path) -> dict:
    return json.loads((out / MANIFEST_NAME).read_text(encoding="utf-8"))


def snapshot(out: Path) -> dict[str, tuple[int, bytes]]:
    return {p.name: (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(out.iterdir())}


def riff_fields(data: bytes) -> dict:
    """The fields of a canonical 44-byte WAV header."""
    (
        riff,
        riff_size,
        wave,
        fmt_id,
        fmt_size,
        tag,
        channels,
        rate,
        byte_rate,
        align,
        bits,
        data_id,
        data_size,
    ) = struct.unpack("<4sI4s4sIHHIIHH4sI", data[:44])
    return {
        "riff": riff, "riff_size_ok": riff_size == len(data) - 8, "wave": wave,
        "fmt": fmt_id, "fmt_size": fmt_size, "tag": tag, "channels": channels, "rate": rate,
        "byte_rate": byte_rate, "align": align, "bits": bits,
        "data": data_id, "data_size_ok": data_size == len(data) - 44,
    }  # fmt: skip


def sox_samples(path: Path, raw: list[str] | None) -> int:
    """Samples in ``path`` as sox decodes it (a raw file with ``raw`` options, else by its header)."""
    args = ["sox", *(["-t", "raw", *raw, "-L", "-c", "1"] if raw else []), str(path), "-n", "stat"]
    done = subprocess.run(args, capture_output=True, text=True, check=True)
    line = next(row for row in done.stderr.splitlines() if row.startswith("Samples read:"))
    return int(line.split()[-1])


def soxi(path: Path, flag: str) -> str:
    return subprocess.run(
        ["soxi", flag, str(path)], capture_output=True, text=True, check=True
    ).stdout.strip()


# -- reading flows ----------------------------------------------------------------------


def test_flow_file_is_read_with_defaults_and_lines(tmp_path):
    flow = load_flow(write_flow(tmp_path, SMALL_FLOW))
    assert [p.id for p in flow.prompts] == ["hello", "menu", "bye"]
    hello, menu, bye = flow.prompts
    assert hello.prompt == Prompt("Hello there.", emotion="calm", intensity=0.5)
    assert (menu.markup, menu.prompt.emotion, menu.prompt.intensity) == (True, "neutral", 0.5)
    assert bye.prompt.emotion == "cheerful"
    assert [(p.index, p.line, p.text_line) for p in flow.prompts] == [(1, 5, 6), (2, 7, 8), (3, 10, 11)]
    assert bye.fields() == {"text": "Goodbye!", "emotion": "cheerful", "intensity": 0.5, "voice": None}
    assert flow.path == str(tmp_path / "flow.yaml") and flow.warnings == ()


def test_example_flow_is_valid(synth):
    flow = load_flow(EXAMPLE, synthesizer=synth)
    ids = [p.id for p in flow.prompts]
    assert {"greeting", "main-menu", "hold", "apology", "outage", "goodbye"} <= set(ids)
    assert flow.warnings == ()


P = "prompts:\n  - "  # a flow's first prompt starts on line 2
# name, flow text, what the message says, line
BAD_FLOWS = [
    ("empty", "", "the file is empty; a flow is a mapping with a 'prompts' list", None),
    ("not a mapping", "- id: a\n", "a flow is a mapping with a 'prompts' list, got a list", 1),
    ("yaml syntax", "prompts:\n  - id: a\n   text: [\n", "not valid YAML", 3),
    ("no prompts", "defaults:\n  emotion: calm\n", "no 'prompts' list", 1),
    ("prompts not a list", "prompts: hello\n", "'prompts' must be a list of prompts, got 'hello'", 1),
    ("prompts empty", "prompts: []\n", "'prompts' is empty", 1),
    (
        "top-level key",
        "prompt:\n  - id: a\n",
        (
            "top level: unknown key 'prompt' (value a list); allowed keys: defaults, prompts; "
            "did you mean 'prompts'?"
        ),
        1,
    ),
    (
        "prompt not a mapping",
        P + "Hello\n",
        "prompt #1: a prompt is a mapping with 'id' and 'text' or 'ssml', got 'Hello'",
        2,
    ),
    ("missing id", P + "text: Hi.\n", "prompt #1: missing 'id'", 2),
    (
        "numeric id",
        P + "id: 7\n    text: Hi.\n",
        "prompt #1: 'id' must be a string, got 7 (quote it: id: \"7\")",
        2,
    ),
    (
        "id with a slash",
        P + "id: menus/main\n    text: Hi.\n",
        "id 'menus/main' is not a usable file name",
        2,
    ),
    (
        "id climbing out",
        P + "id: ../../etc/x\n    text: Hi.\n",
        "id '../../etc/x' is not a usable file name",
        2,
    ),
    ("hidden id", P + "id: .hidden\n    text: Hi.\n", "id '.hidden' is not a usable file name", 2),
    ("reserved id", P + "id: Manifest\n    text: Hi.\n", "id 'Manifest' is reserved", 2),
    ("long id", P + f"id: {'a' * 101}\n    text: Hi.\n", "at most 100 characters", 2),
    (
        "duplicate id",
        P + "id: menu\n    text: A.\n  - id: Menu\n    text: B.\n",
        "prompt #2: duplicate id 'Menu': prompt #1 on line 2 has it (ids name files, so case does not count)",
        4,
    ),
    (
        "text and ssml",
        P + "id: a\n    text: Hi.\n    ssml: <speak>Hi.</speak>\n",
        "prompt #1 ('a'): give 'text' or 'ssml', not both",
        4,
    ),
    (
        "no text",
        P + "id: a\n    emotion: calm\n",
        "prompt #1 ('a'): missing 'text' or 'ssml' (what to say)",
        2,
    ),
    ("empty text", P + "id: a\n    text: '  '\n", "prompt #1 ('a'): 'text' is empty", 3),
    ("text not a string", P + "id: a\n    text: [Hi]\n", "'text' must be a string, got a list", 3),
    (
        "unknown key",
        P + "id: a\n    text: Hi.\n    emotoin: calm\n",
        (
            "prompt #1 ('a'): unknown key 'emotoin' (value 'calm'); "
            "allowed keys: id, text, ssml, emotion, intensity, voice; did you mean 'emotion'?"
        ),
        4,
    ),
    ("key twice", P + "id: a\n    text: Hi.\n    text: Ho.\n", "'text' is given twice (first on line 3)", 4),
    (
        "intensity too high",
        P + "id: a\n    text: Hi.\n    intensity: 1.5\n",
        "'intensity' must be a number within 0..1, got 1.5",
        4,
    ),
    ("intensity percent", P + "id: a\n    text: Hi.\n    intensity: 50%\n", "got '50%'", 4),
    ("intensity bool", P + "id: a\n    text: Hi.\n    intensity: yes\n", "got True", 4),
    (
        "empty emotion",
        P + "id: a\n    text: Hi.\n    emotion: ''\n",
        "'emotion' must be a non-empty string, got ''",
        4,
    ),
    (
        "defaults not a mapping",
        "defaults: calm\n" + P + "id: a\n    text: Hi.\n",
        "'defaults' must be a mapping of emotion, intensity, voice",
        1,
    ),
    (
        "defaults key",
        "defaults:\n  mood: calm\n" + P + "id: a\n    text: Hi.\n",
        "defaults: unknown key 'mood'",
        2,
    ),
]
# Problems only a synthesizer can see: names and markup.
BAD_NAMES = [
    (
        "unknown emotion",
        P + "id: a\n    text: Hi.\n    emotion: zesty\n",
        "prompt #1 ('a'): 'emotion': unknown emotion 'zesty'",
        4,
    ),
    (
        "unknown voice",
        P + "id: a\n    text: Hi.\n    voice: bob\n",
        "unknown voice 'bob'; available voices: ",
        4,
    ),
    (
        "unknown default emotion",
        "defaults:\n  emotion: zesty\n" + P + "id: a\n    text: Hi.\n",
        "defaults: 'emotion': unknown emotion 'zesty'",
        2,
    ),
    (
        "ssml tag mismatch",
        P
        + 'id: a\n    ssml: |\n      <speak>\n        <emotion name="sad">Oh no.</emotoin>\n      </speak>\n',
        "prompt #1 ('a'): ssml line 2, column ",
        5,
    ),
    (
        "ssml unknown emotion",
        P + 'id: a\n    ssml: <emotion name="zesty">Hi.</emotion>\n',
        "ssml line 1, column 1: unknown emotion 'zesty'",
        3,
    ),
    (
        "ssml unknown voice",
        P + 'id: a\n    ssml: <voice name="bob">Hi.</voice>\n',
        "ssml: voice 'bob' is not available (voices: ",
        3,
    ),
    (
        "ssml doctype",
        P + "id: a\n    ssml: '<!DOCTYPE x><speak>Hi.</speak>'\n",
        "<!DOCTYPE> declarations are not accepted",
        3,
    ),
    ("ssml without words", P + "id: a\n    ssml: <speak><break time='1s'/></speak>\n", "nothing to say", 3),
]


@pytest.mark.parametrize(("name", "text", "message", "line"), BAD_FLOWS, ids=[case[0] for case in BAD_FLOWS])
def test_bad_flow_is_reported_with_file_and_line(tmp_path, name, text, message, line):
    path = write_flow(tmp_path, text)
    with pytest.raises(FlowError) as caught:
        load_flow(path)
    assert len(caught.value.problems) == 1, caught.value
    problem = caught.value.problems[0]
    assert message in str(caught.value)
    assert problem.line == line
    assert str(caught.value).startswith(f"{path}:{line}: " if line else f"{path}: ")
    assert isinstance(caught.value, (ConfigError, ValueError))


@pytest.mark.parametrize(("name", "text", "message", "line"), BAD_NAMES, ids=[case[0] for case in BAD_NAMES])
def test_bad_names_and_markup_are_reported_with_a_synthesizer(synth, tmp_path, name, text, message, line):
    path = write_flow(tmp_path, text)
    load_flow(path)  # well formed: only a synthesizer knows the names and reads the markup
    with pytest.raises(FlowError) as caught:
        load_flow(path, synthesizer=synth)
    assert len(caught.value.problems) == 1, caught.value
    assert message in str(caught.value)
    assert caught.value.problems[0].line == line


def test_every_problem_is_reported_at_once(synth):
    text = (
        P + "id: a\n    text: Hi.\n    emotion: zesty\n"
        "  - id: a/b\n    text: Ho.\n  - text: Hum.\n    colour: red\n"
    )
    with pytest.raises(FlowError) as caught:
        parse_flow(text, path="calls.yaml", synthesizer=synth)
    error = caught.value
    assert [(p.index, p.line) for p in error.problems] == [(1, 4), (2, 5), (3, 7), (3, 8)]
    assert str(error).splitlines()[0] == "4 problems in calls.yaml:"
    assert "  calls.yaml:8: prompt #3: unknown key 'colour'" in str(error)


def test_lenient_text_repairs_are_warnings_with_their_line(synth):
    flow = parse_flow(P + "id: a\n    text: Fish & chips.\n", path="f.yaml", synthesizer=synth)
    assert flow.warnings == ("f.yaml:3: prompt #1 ('a'): text line 1, column 6: bare '&' read as text",)


# -- rendering --------------------------------------------------------------------------


@needs_sox
@pytest.mark.parametrize(("name", "encoding", "raw"), FORMATS, ids=[case[0] for case in FORMATS])
def test_prompt_files_read_back_by_sox(synth, tmp_path, name, encoding, raw):
    fmt = TelephoneFormat(name)
    flow = parse_flow(P + "id: hello\n    text: Hello there.\n")
    report = render_flow(synth, flow, tmp_path, fmt)
    assert report.rendered == ("hello",)
    path = tmp_path / f"hello.{fmt.extension}"
    data = path.read_bytes()
    entry = manifest(tmp_path)["prompts"]["hello"]["files"][name]
    assert (entry["file"], entry["sample_rate"], entry["size"]) == (path.name, fmt.sample_rate, len(data))
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()
    samples = sox_samples(path, raw)
    assert samples == entry["samples"] == round(entry["duration_s"] * fmt.sample_rate)
    assert 0.4 < entry["duration_s"] < 3.0
    if encoding:
        assert (soxi(path, "-r"), soxi(path, "-c"), soxi(path, "-e")) == (str(fmt.sample_rate), "1", encoding)
        assert int(soxi(path, "-s")) == samples
    else:
        assert len(data) == samples * fmt.bytes_per_sample
    assert report.seconds == pytest.approx(entry["duration_s"])


@needs_asterisk_sounds
def test_wav_prompt_has_the_header_of_asterisk_prompts(synth, tmp_path):
    render_flow(synth, parse_flow(P + "id: hello\n    text: Hello there.\n"), tmp_path, "wav")
    ours = riff_fields((tmp_path / "hello.wav").read_bytes())
    theirs = riff_fields(ASTERISK_PROMPT.read_bytes())
    assert ours == theirs
    assert ours == {
        "riff": b"RIFF", "riff_size_ok": True, "wave": b"WAVE", "fmt": b"fmt ", "fmt_size": 16, "tag": 1,
        "channels": 1, "rate": 8000, "byte_rate": 16000, "align": 2, "bits": 16,
        "data": b"data", "data_size_ok": True,
    }  # fmt: skip


def test_manifest_records_each_prompt(synth, tmp_path):
    flow = load_flow(write_flow(tmp_path, SMALL_FLOW))
    out = tmp_path / "sounds"
    report = render_flow(synth, flow, out, "sln")
    data = manifest(out)
    assert (data["manifest_version"], data["formats"], data["flow"]) == (2, ["sln"], flow.path)
    assert list(data["prompts"]) == ["hello", "menu", "bye"]
    menu = data["prompts"]["menu"]
    take = telephony.take_key(synth, flow.prompts[1].prompt)
    assert menu["take"] == take and list(menu["files"]) == ["sln"]
    sln = menu["files"]["sln"]
    assert sln["key"] == telephony.prompt_key(synth, flow.prompts[1].prompt, "sln")
    assert (sln["file"], sln["take"], sln["sample_rate"]) == ("menu.sln", take, 8000)
    assert menu["ssml"] == '<speak>Press <say-as interpret-as="digits">1</say-as>.</speak>'
    assert "text" not in menu and (menu["emotion"], menu["intensity"], menu["voice"]) == (
        "neutral",
        0.5,
        None,
    )
    assert sorted(p.name for p in out.iterdir()) == ["bye.sln", "hello.sln", MANIFEST_NAME, "menu.sln"]
    durations = [e["files"]["sln"]["duration_s"] for e in data["prompts"].values()]
    assert report.seconds == pytest.approx(sum(durations))
    entries, warnings = read_manifest(out)
    assert warnings == [] and entries["bye"].prompt == Prompt("Goodbye!", emotion="cheerful", intensity=0.5)
    assert entries["menu"].file_of(TelephoneFormat.SLN).duration_s == sln["duration_s"]


def test_unchanged_flow_renders_nothing(synth, tmp_path, calls):
    flow_path = write_flow(tmp_path, SMALL_FLOW)
    out = tmp_path / "out"
    first = render_flow(synth, load_flow(flow_path), out)
    assert first.rendered == ("hello", "menu", "bye") and len(calls) == 3
    before = snapshot(out)
    started = time.monotonic()
    again = render_flow(synth, load_flow(flow_path), out)
    print(f"render 3 prompts {first.elapsed_s:.2f} s, skip them {time.monotonic() - started:.3f} s")
    assert len(calls) == 3
    assert (again.rendered, again.skipped) == ((), ("hello", "menu", "bye"))
    assert snapshot(out) == before  # not even the manifest is rewritten
    assert again.summary().startswith("rendered 0, unchanged 3, pruned 0: ")


def test_changing_one_prompt_renders_one_file(synth, tmp_path, calls):
    out = tmp_path / "out"
    render_flow(synth, parse_flow(SMALL_FLOW), out)
    before = snapshot(out)
    report = render_flow(synth, parse_flow(SMALL_FLOW.replace("Goodbye!", "Goodbye, and thanks!")), out)
    assert report.rendered == ("bye",) and report.skipped == ("hello", "menu")
    assert calls[3:] == ["Goodbye, and thanks!"]
    after = snapshot(out)
    assert [name for name in after if after[name] != before[name]] == ["bye.wav", MANIFEST_NAME]
    assert manifest(out)["prompts"]["bye"]["text"] == "Goodbye, and thanks!"
    # a new emotion of a prompt is a new key too
    report = render_flow(synth, parse_flow(SMALL_FLOW.replace("emotion: cheerful", "emotion: sad")), out)
    assert report.rendered == ("bye",)


def test_alias_of_the_same_emotion_only_updates_the_manifest(synth, tmp_path, calls):
    out = tmp_path / "out"
    render_flow(synth, parse_flow(SMALL_FLOW), out)
    report = render_flow(synth, parse_flow(SMALL_FLOW.replace("emotion: cheerful", "emotion: happy")), out)
    assert report.rendered == () and len(calls) == 3
    assert manifest(out)["prompts"]["bye"]["emotion"] == "happy"


def test_tampered_or_deleted_file_renders_again(synth, tmp_path, calls):
    out = tmp_path / "out"
    render_flow(synth, parse_flow(SMALL_FLOW), out)
    original = (out / "hello.wav").read_bytes()
    (out / "hello.wav").write_bytes(original[:100] + bytes([original[100] ^ 1]) + original[101:])  # same size
    (out / "menu.wav").unlink()
    report = render_flow(synth, parse_flow(SMALL_FLOW), out)
    assert report.rendered == ("hello", "menu") and report.skipped == ("bye",)
    assert (out / "hello.wav").read_bytes() == original  # the key seeds the voice: same bytes again


def test_force_renders_every_prompt(synth, tmp_path, calls):
    out = tmp_path / "out"
    render_flow(synth, parse_flow(SMALL_FLOW), out)
    report = render_flow(synth, parse_flow(SMALL_FLOW), out, force=True)
    assert report.rendered == ("hello", "menu", "bye") and len(calls) == 6


def test_prompts_left_out_of_the_flow_are_kept_then_pruned(synth, tmp_path):
    out = tmp_path / "out"
    render_flow(synth, parse_flow(SMALL_FLOW), out)
    shorter = parse_flow(SMALL_FLOW.split("  - id: menu")[0])
    kept = render_flow(synth, shorter, out)
    assert (kept.rendered, kept.orphaned, kept.pruned) == ((), ("menu", "bye"), ())
    assert (out / "bye.wav").exists() and list(manifest(out)["prompts"]) == ["hello", "menu", "bye"]
    pruned = render_flow(synth, shorter, out, prune=True)
    assert (pruned.orphaned, pruned.pruned) == ((), ("menu", "bye"))
    assert sorted(p.name for p in out.iterdir()) == ["hello.wav", MANIFEST_NAME]
    assert list(manifest(out)["prompts"]) == ["hello"]
    assert pruned.summary().startswith("rendered 0, unchanged 1, pruned 2: ")


@needs_sox
def test_every_asterisk_format_side_by_side_read_back_by_sox(synth, tmp_path):
    """All of Asterisk's formats in one folder, from one render each prompt: soxi and sox read every
    file, the 8 kHz ones hold the same number of samples and the 16 kHz ones twice as many."""
    out = tmp_path / "sounds"
    report = render_flow(synth, parse_flow(SMALL_FLOW), out, ASTERISK_FORMATS)
    assert report.formats == tuple(TelephoneFormat(name) for name in ASTERISK_FORMATS)
    data = manifest(out)
    assert data["formats"] == list(ASTERISK_FORMATS)
    for prompt_id in ("hello", "menu", "bye"):
        files = data["prompts"][prompt_id]["files"]
        assert list(files) == list(ASTERISK_FORMATS)
        counted = {}
        for name, record in files.items():
            fmt = TelephoneFormat(name)
            path = out / record["file"]
            assert path.name == f"{prompt_id}.{fmt.extension}"
            counted[name] = sox_samples(path, RAW_OPTIONS[name])
            if fmt.container == "WAV":
                assert (soxi(path, "-r"), soxi(path, "-e")) == (str(fmt.sample_rate), "Signed Integer PCM")
                assert int(soxi(path, "-s")) == counted[name]
            assert counted[name] == record["samples"]
            assert record["take"] == data["prompts"][prompt_id]["take"]
        narrow = counted["sln"]
        print(f"{prompt_id}: samples {counted}")
        assert {counted[name] for name in ("sln", "ulaw", "alaw", "wav")} == {narrow}
        assert counted["sln16"] == counted["wav16"] == 2 * narrow
        assert len({record["duration_s"] for record in files.values()}) == 1
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MANIFEST_NAME]
        + [f"{i}.{TelephoneFormat(n).extension}" for i in ("hello", "menu", "bye") for n in ASTERISK_FORMATS]
    )


def test_another_format_joins_the_folder_with_the_same_take(synth, tmp_path, calls):
    """A-law rendered into a µ-law folder: the µ-law files stay as they were, and the A-law ones
    hold the same take (the same length to the sample, the same audio within G.711's error)."""
    out = tmp_path / "out"
    flow = parse_flow(SMALL_FLOW)
    render_flow(synth, flow, out, "ulaw")
    before = snapshot(out)
    report = render_flow(synth, flow, out, "alaw")
    assert report.rendered == ("hello", "menu", "bye") and len(calls) == 6
    after = snapshot(out)
    assert {name: after[name] for name in before if name != MANIFEST_NAME} == {
        name: state for name, state in before.items() if name != MANIFEST_NAME
    }
    data = manifest(out)
    assert data["formats"] == ["ulaw", "alaw"]
    for prompt_id, entry in data["prompts"].items():
        ulaw, alaw = entry["files"]["ulaw"], entry["files"]["alaw"]
        assert ulaw["samples"] == alaw["samples"] and ulaw["take"] == alaw["take"] == entry["take"]
        mu = soundfile.read(out / ulaw["file"], format="RAW", subtype="ULAW", samplerate=8000, channels=1)[0]
        a = soundfile.read(out / alaw["file"], format="RAW", subtype="ALAW", samplerate=8000, channels=1)[0]
        assert np.corrcoef(mu, a)[0, 1] > 0.99, prompt_id
    # both formats current: nothing renders; one run may name both
    again = render_flow(synth, flow, out, ["alaw", "ulaw"])
    assert (again.rendered, again.skipped) == ((), ("hello", "menu", "bye")) and len(calls) == 6
    assert snapshot(out) == after


def test_each_prompt_is_rendered_once_for_all_its_formats(synth, tmp_path, calls):
    out = tmp_path / "out"
    report = render_flow(synth, parse_flow(SMALL_FLOW), out, ["ulaw", "alaw", "sln16"])
    assert report.rendered == ("hello", "menu", "bye") and len(calls) == 3
    assert report.summary().startswith("rendered 3, unchanged 0, pruned 0: ")
    assert " s of ulaw, alaw, sln16 audio in " in report.summary()
    (out / "menu.alaw").unlink()
    report = render_flow(synth, parse_flow(SMALL_FLOW), out, ["ulaw", "alaw", "sln16"])
    assert (report.rendered, len(calls)) == (("menu",), 4)


def test_files_of_formats_not_rendered_are_kept_and_flagged_when_stale(synth, tmp_path):
    out = tmp_path / "out"
    render_flow(synth, parse_flow(SMALL_FLOW), out, ["ulaw", "alaw"])
    alaw_before = (out / "bye.alaw").read_bytes()
    changed = parse_flow(SMALL_FLOW.replace("Goodbye!", "Goodbye, and thanks!"))
    report = render_flow(synth, changed, out, "ulaw")
    assert report.rendered == ("bye",) and report.stale == ("bye.alaw",)
    assert (out / "bye.alaw").read_bytes() == alaw_before  # never deleted nor rewritten
    entry = manifest(out)["prompts"]["bye"]
    assert entry["files"]["alaw"]["take"] != entry["take"] == entry["files"]["ulaw"]["take"]
    report = render_flow(synth, changed, out, "alaw")
    assert report.rendered == ("bye",) and report.stale == ()


def test_formats_with_one_file_name_replace_each_other(synth, tmp_path):
    """wav and wav-ulaw are both <id>.wav: they cannot share a run, and one replaces the other."""
    with pytest.raises(ValueError, match="formats wav and wav-ulaw both write <id>.wav"):
        parse_formats(["wav", "ulaw", "wav-ulaw"])
    assert parse_formats("ulaw") == (TelephoneFormat.ULAW,)
    assert parse_formats(["alaw", "ulaw", "alaw"]) == (TelephoneFormat.ALAW, TelephoneFormat.ULAW)
    out = tmp_path / "out"
    flow = parse_flow(P + "id: hello\n    text: Hello there.\n")
    render_flow(synth, flow, out, ["wav", "alaw"])
    render_flow(synth, flow, out, "wav-ulaw")
    assert list(manifest(out)["prompts"]["hello"]["files"]) == ["alaw", "wav-ulaw"]
    assert soundfile.info(out / "hello.wav").subtype == "ULAW"
    assert sorted(p.name for p in out.iterdir()) == ["hello.alaw", "hello.wav", MANIFEST_NAME]


def test_prune_deletes_only_the_formats_it_renders(synth, tmp_path):
    out = tmp_path / "out"
    render_flow(synth, parse_flow(SMALL_FLOW), out, ["ulaw", "alaw"])
    shorter = parse_flow(SMALL_FLOW.split("  - id: menu")[0])
    report = render_flow(synth, shorter, out, "ulaw", prune=True)
    assert (report.pruned, report.orphaned) == (("menu", "bye"), ("menu", "bye"))
    names = sorted(p.name for p in out.iterdir())
    assert names == ["bye.alaw", "hello.alaw", "hello.ulaw", MANIFEST_NAME, "menu.alaw"]
    assert list(manifest(out)["prompts"]["bye"]["files"]) == ["alaw"]
    report = render_flow(synth, shorter, out, "alaw", prune=True)
    assert (report.pruned, report.orphaned) == (("menu", "bye"), ())
    assert sorted(p.name for p in out.iterdir()) == ["hello.alaw", "hello.ulaw", MANIFEST_NAME]


def test_a_manifest_of_the_first_version_is_replaced(synth, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / MANIFEST_NAME).write_text(json.dumps({"manifest_version": 1, "format": "wav", "prompts": {}}))
    report = render_flow(synth, parse_flow(P + "id: hello\n    text: Hello there.\n"), out)
    assert report.rendered == ("hello",)
    assert (
        "manifest version 1 was written by an older emotts; every prompt renders again" in report.warnings[0]
    )
    assert manifest(out)["manifest_version"] == 2


def test_flow_with_a_bad_prompt_writes_nothing(synth, tmp_path, calls):
    flow = Flow(
        prompts=(
            FlowPrompt(id="fine", prompt=Prompt("Hello.")),
            FlowPrompt(id="broken", prompt=Prompt("Hi.", emotion="zesty")),
            FlowPrompt(id="../escape", prompt=Prompt("Hi.")),
        )
    )
    out = tmp_path / "out"
    with pytest.raises(FlowError) as caught:
        render_flow(synth, flow, out)
    assert "2 problems in <flow>" in str(caught.value)
    assert "'../escape' is not a usable file name" in str(caught.value)
    assert not out.exists() and calls == []


def test_unusable_manifest_is_ignored_with_a_warning(synth, tmp_path, calls):
    out = tmp_path / "out"
    render_flow(synth, parse_flow(SMALL_FLOW), out)
    data = manifest(out)
    data["prompts"]["menu"]["files"]["wav"]["size"] = "big"
    data["prompts"]["../../x"] = data["prompts"]["bye"]
    (out / MANIFEST_NAME).write_text(json.dumps(data))
    report = render_flow(synth, parse_flow(SMALL_FLOW), out)
    assert report.rendered == ("menu",)
    assert any("ignoring the entry 'menu'" in w for w in report.warnings)
    assert any("ignoring the entry '../../x'" in w for w in report.warnings)
    (out / MANIFEST_NAME).write_text("{not json")
    report = render_flow(synth, parse_flow(SMALL_FLOW), out)
    assert report.rendered == ("hello", "menu", "bye") and report.warnings[0].startswith(
        f"ignoring {out / MANIFEST_NAME}"
    )


def test_two_renders_never_share_a_folder(synth, tmp_path):
    import fcntl

    handle = os.open(tmp_path, os.O_RDONLY)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        with pytest.raises(ConfigError, match="being written by another emotts ivr render"):
            render_flow(synth, parse_flow(SMALL_FLOW), tmp_path)
    finally:
        os.close(handle)


# -- the command line -------------------------------------------------------------------


KILL_FLOW = "prompts:\n" + "".join(
    f"  - id: p{i}\n"
    f"    text: This is prompt number {i}. Please listen carefully, as our options have changed.\n"
    for i in range(1, 7)
)


def complete_wav(path: Path) -> bool:
    data = path.read_bytes()
    fields = riff_fields(data)
    return (
        fields["riff_size_ok"] and fields["data_size_ok"] and sox_samples(path, None) == (len(data) - 44) // 2
    )


@needs_sox
def test_killed_render_leaves_no_partial_file_and_resumes(tmp_path):
    flow = write_flow(tmp_path, KILL_FLOW)
    out = tmp_path / "out"
    command = [EMOTTS, "ivr", "render", str(flow), "--out", str(out), "--format", "wav", "--quiet"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not (out.is_dir() and any(out.glob("p*.wav"))):
        assert process.poll() is None, process.stderr.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    process.stderr.close()

    entries = manifest(out)["prompts"] if (out / MANIFEST_NAME).exists() else {}
    files = sorted(out.glob("p*.wav"))
    current = set()
    for path in files:
        entry = entries.get(path.stem)
        data = path.read_bytes()
        if entry is not None:  # recorded: exactly what the manifest says
            record = entry["files"]["wav"]
            assert (len(data), hashlib.sha256(data).hexdigest()) == (record["size"], record["sha256"])
            current.add(path.stem)
        else:  # killed between the file's rename and the manifest's: still a whole file
            assert complete_wav(path), path
    assert 1 <= len(files) < 6, "the render was not interrupted half-way"

    (out / ".emotts-left-behind.part").write_bytes(b"RIFF")  # as a kill during a write leaves
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = done.stderr.strip().splitlines()[-1]
    assert summary.startswith(f"rendered {6 - len(current)}, unchanged {len(current)}, pruned 0: "), summary
    assert not list(out.glob("*.part"))
    final = manifest(out)["prompts"]
    assert sorted(final) == [f"p{i}" for i in range(1, 7)]
    for prompt_id, entry in final.items():
        record = entry["files"]["wav"]
        assert hashlib.sha256((out / record["file"]).read_bytes()).hexdigest() == record["sha256"]


@needs_sox
def test_example_flow_end_to_end(tmp_path):
    out = tmp_path / "sounds"
    command = [EMOTTS, "ivr", "render", str(EXAMPLE), "--out", str(out), "--format", "wav-ulaw"]
    started = time.monotonic()
    first = subprocess.run(command, capture_output=True, text=True, timeout=180)
    first_s = time.monotonic() - started
    assert first.returncode == 0, first.stderr
    assert "rendering" in first.stderr  # the progress bar
    data = manifest(out)
    assert (
        first.stderr.strip()
        .splitlines()[-1]
        .startswith(f"rendered {len(data['prompts'])}, unchanged 0, pruned 0: ")
    )
    for entry in data["prompts"].values():
        record = entry["files"]["wav-ulaw"]
        path = out / record["file"]
        assert soxi(path, "-e") == "u-law" and soxi(path, "-r") == "8000"
        assert int(soxi(path, "-s")) == record["samples"] == round(record["duration_s"] * 8000)
    started = time.monotonic()
    again = subprocess.run([*command, "--quiet"], capture_output=True, text=True, timeout=60)
    print(
        f"example flow: render {first_s:.1f} s, "
        f"unchanged re-run {time.monotonic() - started:.1f} s (both with start-up)"
    )
    assert again.returncode == 0
    assert again.stderr.strip().startswith(f"rendered 0, unchanged {len(data['prompts'])}, pruned 0: ")
    assert "rendering" not in again.stderr


@pytest.mark.parametrize(
    ("flow", "message"),
    [
        (P + "id: a\n    txt: Hi.\n", "flow.yaml:3: prompt #1 ('a'): unknown key 'txt'"),
        (
            P + "id: a\n    text: Hi.\n    emotion: zesty\n",
            "flow.yaml:4: prompt #1 ('a'): 'emotion': unknown emotion 'zesty'",
        ),
        (P + "id: manifest\n    text: Hi.\n  - id: b\n", "2 problems in "),
    ],
)
def test_cli_bad_flow_exits_two(tmp_path, capsys, flow, message):
    path = write_flow(tmp_path, flow)
    assert cli.main(["ivr", "render", str(path), "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err
    assert not (tmp_path / "out").exists()


def test_cli_unknown_format_is_a_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as caught:
        cli.main(
            [
                "ivr",
                "render",
                str(write_flow(tmp_path, SMALL_FLOW)),
                "--out",
                str(tmp_path),
                "--format",
                "gsm",
            ]
        )
    assert caught.value.code == 2
    assert "invalid choice: 'gsm'" in capsys.readouterr().err


def test_cli_missing_flow_file(tmp_path, capsys):
    assert cli.main(["ivr", "render", str(tmp_path / "nope.yaml"), "--out", str(tmp_path)]) == 2
    assert "error: cannot read flow file" in capsys.readouterr().err


def test_cli_renders_several_formats_side_by_side(tmp_path, capsys):
    flow = write_flow(tmp_path, SMALL_FLOW)
    out = tmp_path / "out"
    (out).mkdir()
    (out / "hello.sln").write_bytes(b"\0\0" * 800)  # a file of another format, not in the manifest
    argv = ["ivr", "render", str(flow), "--out", str(out), "--format", "ulaw", "--format", "alaw", "-q"]
    assert cli.main(argv) == 0
    summary = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        summary.startswith("rendered 3, unchanged 0, pruned 0: ") and " s of ulaw, alaw audio in " in summary
    )
    assert (out / "hello.sln").read_bytes() == b"\0\0" * 800  # never deleted
    assert sorted(p.name for p in out.glob("*.?law")) == [
        f"{i}.{ext}" for i in ("bye", "hello", "menu") for ext in ("alaw", "ulaw")
    ]
    # the prompt changes, one format is rendered: the other is named as stale
    write_flow(tmp_path, SMALL_FLOW.replace("Goodbye!", "Bye now!"))
    assert cli.main(["ivr", "render", str(flow), "--out", str(out), "--format", "ulaw", "-q"]) == 0
    err = capsys.readouterr().err
    assert "warning: these files hold an earlier version of their prompt" in err and "bye.alaw" in err


def test_cli_formats_sharing_a_file_name_exit_two(tmp_path, capsys):
    flow = write_flow(tmp_path, SMALL_FLOW)
    argv = [
        "ivr",
        "render",
        str(flow),
        "--out",
        str(tmp_path / "out"),
        "--format",
        "wav",
        "--format",
        "wav-alaw",
    ]
    assert cli.main(argv) == 2
    assert "error: formats wav and wav-alaw both write <id>.wav" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
