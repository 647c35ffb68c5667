"""``emotts say --timings OUT.json --subtitles OUT.vtt|OUT.srt``: the side files of one render,
checked against the audio written beside them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import soundfile
import srt
import webvtt

EMOTTS = str(Path(sys.executable).with_name("emotts"))
#: No numbers or abbreviations: the spoken words are the written ones.
SAID = "The quick brown fox jumps over the lazy dog. Then it runs away, far into the green hills."
SAID_WORDS = [token.strip(".,") for token in SAID.split()]


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([EMOTTS, *args], capture_output=True, timeout=120, cwd=cwd)


def vtt_s(stamp: str) -> float:
    hours, minutes, seconds = stamp.split(":")
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def test_timings_and_webvtt_beside_a_flac(tmp_path):
    audio, timings, vtt = tmp_path / "x.flac", tmp_path / "x.json", tmp_path / "x.vtt"
    done = run(
        "say", SAID, "--seed", "1", "-o", str(audio), "--timings", str(timings), "--subtitles", str(vtt)
    )
    assert done.returncode == 0, done.stderr
    stderr = done.stderr.decode()
    assert f"wrote {timings} (18 words, 2 sentences, 0 marks, " in stderr
    assert f"wrote {vtt} (" in stderr and " cues, WebVTT)" in stderr
    info = soundfile.info(str(audio))
    duration = info.frames / info.samplerate

    text = timings.read_text(encoding="utf-8")
    assert text.startswith('{\n  "duration": ')  # indent 2
    found = json.loads(text)
    assert found["duration"] == pytest.approx(duration, abs=0.001)
    words = found["words"]
    assert [word["text"] for word in words] == SAID_WORDS
    assert all(0 <= w["start"] < w["end"] <= duration + 0.001 for w in words)
    assert all(a["start"] <= b["start"] for a, b in zip(words, words[1:]))
    assert [s["text"] for s in found["sentences"]] == [
        "The quick brown fox jumps over the lazy dog.",
        "Then it runs away, far into the green hills.",
    ]
    # every source span is the word as written
    assert all(SAID[w["source"][0] : w["source"][1]] == w["text"] for w in words)
    assert found["visemes"][0]["start"] == 0 and found["visemes"][-1]["end"] == pytest.approx(
        duration, abs=0.001
    )

    captions = webvtt.read(str(vtt))
    assert len(captions) >= 2
    shown = [token.strip(".,") for caption in captions for token in caption.text.split()]
    assert shown == SAID_WORDS
    assert vtt_s(captions[0].start) == words[0]["start"]
    assert vtt_s(captions[-1].end) <= duration + 0.001


def test_subtitles_beside_audio_on_stdout(tmp_path):
    subtitles, timings = tmp_path / "x.srt", tmp_path / "t.json"
    done = run(
        "say", "Hi there. Bye now.", "--format", "ulaw", "-o", "-", "--subtitles", str(subtitles),
        "--timings", str(timings),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    duration = len(done.stdout) / 8000  # one byte a sample
    found = json.loads(timings.read_text(encoding="utf-8"))
    assert found["duration"] == pytest.approx(duration, abs=0.001)
    cues = list(srt.parse(subtitles.read_text(encoding="utf-8")))
    assert [cue.content for cue in cues] == ["Hi there.", "Bye now."]
    assert cues[0].start.total_seconds() == found["words"][0]["start"]
    assert cues[1].start.total_seconds() == found["words"][2]["start"]
    assert cues[0].end <= cues[1].start and cues[1].end.total_seconds() <= duration + 0.001


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["--subtitles", "x.txt"],
            "--subtitles: cannot write subtitles to 'x.txt': the extension must be one of .vtt, .srt",
        ),
        (
            ["--subtitles", "subs"],
            "cannot write subtitles to 'subs': the extension must be one of .vtt, .srt",
        ),
        (["--timings", "x.wav"], "-o and --timings name the same file, 'x.wav'"),
        (
            ["--subtitles", "x.wav.srt", "--timings", "x.wav.srt"],
            "--timings and --subtitles name the same file",
        ),
        (["--timings", "missing/x.json"], "cannot write --timings 'missing/x.json': it is in a folder"),
        (["-o", "-", "--timings", "-"], "-o - and --timings - both ask for standard output"),
    ],
)
def test_bad_side_outputs_are_refused_before_rendering(tmp_path, args, words):
    done = run("say", "Hello.", "-o", "x.wav", *args, cwd=tmp_path)
    stderr = done.stderr.decode()
    assert done.returncode == 2 and stderr.startswith("error: ") and words in stderr, stderr
    assert list(tmp_path.iterdir()) == []  # no audio either: nothing was rendered
