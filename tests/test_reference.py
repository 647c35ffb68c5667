"""Reference recordings: loading and refusing files, the round trip, transfer across voices,
real human speech.

Everything renders with the real voices (noise off, so every number here repeats);
the Kokoro voices come from the ``kokoro`` and ``ja`` extras that CI installs.
"""

from __future__ import annotations

import dataclasses
import glob
import io
import json
import math
import statistics
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from emotts_plugin import load_config
from emotts_plugin.errors import ReferenceAudioError
from emotts_plugin.reference import (
    ReferenceAudio,
    analyze,
    blend,
    load_norms,
    load_reference,
    measure,
    measured_deltas,
)
from emotts_plugin.synthesizer import Synthesizer

from conftest import needs_asterisk_sounds

# Not the text benchmarks/reference.py fits the gains on.
ENGLISH = (
    "The package was left at the front door this morning. Please check the porch when you get home tonight."
)
JAPANESE = "お電話ありがとうございます。ただいま電話が大変混み合っております。このままお待ちください。"
ALLISON = sorted(glob.glob("/usr/share/asterisk/sounds/en_US_f_Allison/*.wav"))
#: The engine's tolerances (tests/test_engine.py): F0 level ±1 st, range ±25 %, duration ±10 %.
PITCH_TOL_ST, RANGE_TOL, RATE_TOL = 1.0, 0.25, 0.10
TRANSFER_REFERENCES = ("sad", "calm", "serious", "happy", "angry", "excited", "afraid")


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), noise=False))


@pytest.fixture(scope="module")
def renders(synth):
    """(voice, text, emotion) → rendered Synthesis, made once per module."""
    cache = {}

    def render(voice: str, text: str, emotion: str = "neutral"):
        key = (voice, text, emotion)
        if key not in cache:
            cache[key] = synth.synthesize(text, voice=voice, emotion=emotion)
        return cache[key]

    return render


def as_reference(result, source: str = "render") -> ReferenceAudio:
    return ReferenceAudio(result.audio, result.sample_rate, source, 1, (0.0, 0.0))


def wav_bytes(audio: np.ndarray, rate: int, **options) -> bytes:
    buffer = io.BytesIO()
    soundfile.write(buffer, audio, rate, format=options.pop("format", "WAV"), **options)
    return buffer.getvalue()


# -- files ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech(renders):
    result = renders("joe", ENGLISH)
    return result.audio, result.sample_rate


@pytest.mark.parametrize(
    "fmt, subtype, ext",
    [
        ("WAV", "PCM_16", "wav"),
        ("FLAC", "PCM_16", "flac"),
        ("OGG", "VORBIS", "ogg"),
        ("MP3", "MPEG_LAYER_III", "mp3"),
    ],
)
def test_accepts_wav_flac_ogg_and_mp3(tmp_path, speech, synth, fmt, subtype, ext):
    audio, rate = speech
    path = tmp_path / f"ref.{ext}"
    soundfile.write(path, audio, rate, format=fmt, subtype=subtype)
    result = analyze(str(path), synth.runtime.space)
    assert result.source == str(path) and result.measurements.duration_s > 4.0
    assert "neutral" in list(result.nearest)[:2]


def test_stereo_is_mixed_down_and_silence_trimmed(tmp_path, speech, synth):
    audio, rate = speech
    padded = np.concatenate([np.zeros(rate), audio, np.zeros(2 * rate)]).astype(np.float32)
    path = tmp_path / "stereo.wav"
    soundfile.write(path, np.stack([padded, 0.5 * padded], axis=1), rate)
    ref = load_reference(str(path))
    assert ref.channels == 2 and ref.audio.ndim == 1
    # the render's own edge silence is trimmed too
    assert 1.0 <= ref.trimmed_s[0] < 1.25 and 2.0 <= ref.trimmed_s[1] < 2.4
    assert len(audio) / rate - 0.5 < ref.duration_s <= len(audio) / rate


def bad_files(tmp_path, speech):
    audio, rate = speech
    rng = np.random.default_rng(7)
    files = {
        "empty": b"",
        "short": wav_bytes(audio[int(0.5 * rate) : int(0.8 * rate)], rate),
        "noise": wav_bytes((0.2 * rng.standard_normal(4 * 16000)).astype(np.float32), 16000),
        "text": "RIFF? no: these are the minutes of Tuesday's meeting.\n".encode() * 20,
        "long": wav_bytes(
            np.tile(audio, int(600 * rate / len(audio)) + 1)[: 600 * 8000].astype(np.float32), 8000
        ),
        "rate": wav_bytes(np.zeros(192000 * 3, np.float32), 192000),
        "silent": wav_bytes(np.zeros(rate * 3, np.float32), rate),
        "clipped": wav_bytes(
            np.sign(np.sin(2 * np.pi * 150 * np.arange(rate * 3) / rate)).astype(np.float32),
            rate,
            subtype="PCM_16",
        ),
    }
    return files


@pytest.mark.parametrize(
    "name, reason, words",
    [
        ("empty", "empty", "empty (0 bytes)"),
        ("short", "too_short", "0.30 s long"),
        ("noise", "no_speech", "no voiced speech"),
        ("text", "unreadable", "not audio that can be read"),
        ("long", "too_long", "600.0 s long"),
        ("rate", "sample_rate", "192000 Hz is outside 8000–48000 Hz"),
        ("silent", "silent", "silent"),
        ("clipped", "clipped", "clipped throughout"),
    ],
)
def test_bad_files_each_get_their_own_error(tmp_path, speech, synth, name, reason, words):
    path = tmp_path / f"{name}.wav"
    path.write_bytes(bad_files(tmp_path, speech)[name])
    with pytest.raises(ReferenceAudioError) as caught:
        analyze(str(path), synth.runtime.space)
    assert caught.value.reason == reason
    assert words in str(caught.value) and str(path) in str(caught.value)


# -- round trip -------------------------------------------------------------------------


@pytest.mark.parametrize("voice", ["joe", "jm_kumo"])
def test_round_trip_names_its_own_label(synth, renders, voice):
    labels = synth.runtime.space.labels
    named = {}
    for label in labels:
        named[label] = list(
            analyze(as_reference(renders(voice, ENGLISH, label)), synth.runtime.space).nearest
        )
    hits = [label for label in labels if label in named[label][:2]]
    misses = {label: named[label][:2] for label in labels if label not in hits}
    print(f"{voice}: {len(hits)}/{len(labels)} in the top two; misses {misses}")
    assert len(hits) >= math.ceil(0.8 * len(labels)), misses


# -- transfer ---------------------------------------------------------------------------


def transfer_checks(synth, renders, source_voice, source_text, target_voice, target_text, *, rate: bool):
    """Per reference: the reference's measured deltas vs the transferred output's (against the
    target's neutral)."""
    norms = load_norms()
    neutral = measure(
        renders(target_voice, target_text).audio, renders(target_voice, target_text).sample_rate
    )
    own = {name: getattr(neutral, name) for name in norms.registers["low"]}
    rows = []
    for emotion in TRANSFER_REFERENCES:
        analysis = analyze(as_reference(renders(source_voice, source_text, emotion)), synth.runtime.space)
        wanted = measured_deltas(analysis.measurements, norms.registers[analysis.register])
        out = synth.synthesize(target_text, voice=target_voice, reference=analysis)
        got = measured_deltas(measure(out.audio, out.sample_rate), own)
        row = {
            "emotion": emotion,
            "pitch": (
                wanted["pitch_st"],
                got["pitch_st"],
                abs(wanted["pitch_st"] - got["pitch_st"]) <= PITCH_TOL_ST,
            ),
            "range": (
                math.exp(wanted["range"]),
                math.exp(got["range"]),
                abs(got["range"] - wanted["range"]) <= math.log(1 + RANGE_TOL),
            ),
        }
        if rate:
            row["rate"] = (
                math.exp(wanted["rate"]),
                math.exp(got["rate"]),
                abs(got["rate"] - wanted["rate"]) <= math.log(1 + RATE_TOL),
            )
        rows.append(row)
    checks = [row[key][2] for row in rows for key in row if key != "emotion"]
    table = "; ".join(
        f"{row['emotion']}: "
        + ", ".join(
            f"{k} {row[k][0]:+.2f}/{row[k][1]:+.2f}{'' if row[k][2] else '!'}" for k in row if k != "emotion"
        )
        for row in rows
    )
    return checks, table


@pytest.mark.parametrize(
    "source, target",
    [
        (("joe", ENGLISH), ("jm_kumo", ENGLISH)),  # male to male, same words
        (("joe", ENGLISH), ("jf_nezumi", JAPANESE)),  # male to female, across languages
        (("jf_nezumi", JAPANESE), ("joe", ENGLISH)),  # female to male
    ],
    ids=["joe-to-jm_kumo", "joe-to-jf_nezumi", "jf_nezumi-to-joe"],
)
def test_transfer_reproduces_the_references_deltas(synth, renders, source, target):
    same_language = source[1] == target[1]
    checks, table = transfer_checks(synth, renders, *source, *target, rate=same_language)
    print(f"{source[0]} → {target[0]} (reference/output): {table}")
    assert sum(checks) >= math.ceil(0.8 * len(checks)), table


def test_blend_weight_moves_segments_part_of_the_way(synth):
    space = synth.runtime.space
    plan, _ = synth.plan("Hello there. <emotion name='happy'>Good news!</emotion>")
    reference = space.preset("sad").vector
    assert blend(plan, space, reference, 0.0) == plan
    whole = blend(plan, space, reference, 1.0)
    half = blend(plan, space, reference, 0.5)
    for before, mid, after in zip(plan.segments, half.segments, whole.segments):
        assert after.targets.pitch_st == pytest.approx(reference.pitch_st)
        assert mid.targets.pitch_st == pytest.approx((before.targets.pitch_st + after.targets.pitch_st) / 2)
        assert math.log(mid.targets.rate) == pytest.approx(
            (math.log(before.targets.rate) + math.log(after.targets.rate)) / 2
        )
    with pytest.raises(ValueError, match="reference weight must be a number within 0..1"):
        blend(plan, space, reference, 1.5)


def test_explicit_prosody_still_composes_on_a_reference(synth):
    space = synth.runtime.space
    plan, _ = synth.plan('<prosody pitch="+2st">Higher.</prosody> Plain.')
    moved = blend(plan, space, space.preset("calm").vector, 1.0)
    assert moved.segments[0].targets.pitch_st - moved.segments[1].targets.pitch_st == pytest.approx(2.0)


# -- real human speech ------------------------------------------------------------------


@needs_asterisk_sounds
def test_asterisk_prompts_are_analysed_and_stable(synth):
    results = []
    for path in ALLISON:
        try:
            results.append(analyze(path, synth.runtime.space))
        except ReferenceAudioError as exc:
            assert exc.reason == "too_short", f"{path}: {exc}"  # many prompts are one or two words
        if len(results) == 20:
            break
    assert len(results) == 20, f"only {len(results)} Allison prompts of 2 s or more"
    assert {r.register for r in results} == {"high"} and all(r.extra["sample_rate"] == 8000 for r in results)
    pitch = [r.vector.pitch_st for r in results]
    rate = [math.log(r.vector.rate) for r in results]
    ranges = [math.log(r.vector.range) for r in results]
    tops = [next(iter(r.nearest)) for r in results]
    common = max(set(tops), key=tops.count)
    summary = (
        f"pitch {statistics.mean(pitch):+.2f}±{statistics.stdev(pitch):.2f} st, "
        f"rate ×{math.exp(statistics.mean(rate)):.2f} (sd {statistics.stdev(rate):.3f} log), "
        f"range ×{math.exp(statistics.mean(ranges)):.2f} (sd {statistics.stdev(ranges):.3f} log), "
        f"nearest {common} in {tops.count(common)}/20"
    )
    print(f"Allison, 20 prompts: {summary}")
    assert statistics.stdev(pitch) < 1.0, summary  # one speaker, one manner: the same point, give or take
    assert statistics.stdev(rate) < 0.2 and statistics.stdev(ranges) < 0.25, summary
    assert tops.count(common) >= 12, summary


# -- command line -----------------------------------------------------------------------


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "emotts_plugin.cli", *args], capture_output=True, text=True, timeout=300
    )


def test_cli_analyze_json_and_say_with_reference(tmp_path, renders):
    sad = renders("joe", ENGLISH, "sad")
    ref = tmp_path / "sad.wav"
    soundfile.write(ref, sad.audio, sad.sample_rate)
    done = run_cli("analyze", str(ref), "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert set(data["vector"]) == {
        "pitch_st",
        "range",
        "rate",
        "volume_db",
        "tilt_db",
        "breathiness",
        "contour",
        "pause",
        "jitter",
    }
    assert abs(sum(data["nearest"].values()) - 1.0) < 1e-3 and {"sad", "melancholic", "gentle", "calm"} & set(
        list(data["nearest"])[:2]
    )
    assert {
        "f0_median_hz",
        "f0_range_st",
        "syllable_rate",
        "pause_ratio",
        "loudness_sd_db",
        "tilt_db_per_octave",
        "hnr_db",
        "jitter_percent",
        "f0_slope_st_per_s",
        "final_movement_st",
    } <= set(data["measurements"])

    out = tmp_path / "out.wav"
    plain = tmp_path / "plain.wav"
    said = run_cli("say", "Thank you for waiting.", "-o", str(out), "--reference", str(ref), "--seed", "1")
    assert said.returncode == 0, said.stderr
    assert "reference" in said.stderr
    assert run_cli("say", "Thank you for waiting.", "-o", str(plain), "--seed", "1").returncode == 0
    a, rate = soundfile.read(out, dtype="float32")
    b, _ = soundfile.read(plain, dtype="float32")
    from emotts_plugin.models.measure import f0_stats

    assert (
        f0_stats(a, rate).median_st < f0_stats(b, rate).median_st - 0.8
    )  # spoken in the sad reference's lower manner

    bad = tmp_path / "notes.wav"
    bad.write_text("not audio")
    failed = run_cli("analyze", str(bad))
    assert failed.returncode == 2 and "not audio that can be read" in failed.stderr
    weight = run_cli("say", "Hi.", "-o", str(out), "--reference", str(ref), "--reference-weight", "2")
    assert weight.returncode == 2 and "reference weight must be a number within 0..1" in weight.stderr
