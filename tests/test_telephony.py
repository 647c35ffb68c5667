"""Telephone encodings and prompt rendering, checked against sox and Asterisk's own prompts.

The reference is Debian's ``asterisk-core-sounds-en-wav`` (8 kHz 16-bit PCM mono WAV with a
44-byte header); tests that need it or ``sox`` skip when they are missing.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile

from emotts_plugin import Synthesizer, load_config
from emotts_plugin.adapters import telephony
from emotts_plugin.adapters.telephony import Prompt, TelephoneFormat
from emotts_plugin.models.measure import level_db

ASTERISK_SOUNDS = Path("/usr/share/asterisk/sounds/en_US_f_Allison")
ASTERISK_PROMPTS = sorted(
    p for p in ASTERISK_SOUNDS.glob("*.wav") if "beep" not in p.name and "tone" not in p.name
)
needs_asterisk = pytest.mark.skipif(
    len(ASTERISK_PROMPTS) < 20, reason="asterisk-core-sounds-en-wav is not installed"
)
needs_sox = pytest.mark.skipif(shutil.which("sox") is None, reason="sox is not installed")

NEUTRAL = "Thank you for calling. Please hold while we connect you."

# format, extension, sample rate, bytes per sample, content type
FORMATS = [
    ("sln", "sln", 8000, 2, "audio/L16;rate=8000;channels=1"),
    ("sln16", "sln16", 16000, 2, "audio/L16;rate=16000;channels=1"),
    ("ulaw", "ulaw", 8000, 1, "audio/basic"),
    ("alaw", "alaw", 8000, 1, "audio/x-alaw-basic"),
    ("wav", "wav", 8000, 2, "audio/wav"),
    ("wav-ulaw", "wav", 8000, 1, "audio/wav"),
    ("wav-alaw", "wav", 8000, 1, "audio/wav"),
]


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(dataclasses.replace(load_config([]), threads=2))


@pytest.fixture(scope="module")
def neutral_sln(synth) -> bytes:
    return telephony.render_prompt(synth, Prompt(NEUTRAL), TelephoneFormat.SLN)


def int16(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2")


@pytest.mark.parametrize(("name", "extension", "rate", "width", "content_type"), FORMATS)
def test_format_table(name, extension, rate, width, content_type):
    fmt = TelephoneFormat.parse(name)
    assert (fmt.extension, fmt.sample_rate, fmt.bytes_per_sample, fmt.content_type) == (
        extension,
        rate,
        width,
        content_type,
    )


def test_unknown_format_names_the_allowed_ones():
    with pytest.raises(
        ValueError,
        match=r"unknown telephone format 'gsm'; use one of sln, sln16, ulaw, alaw, wav, wav-ulaw, wav-alaw",
    ):
        TelephoneFormat.parse("gsm")


def test_encode_refuses_audio_at_another_rate():
    with pytest.raises(ValueError, match="sln audio must be 8000 Hz, got 22050 Hz"):
        telephony.encode(np.zeros(2205, np.float32), 22050, "sln")


@needs_asterisk
def test_sln_is_the_data_chunk_of_an_asterisk_prompt():
    """Asterisk's ``.sln`` is the sample data of its 16-bit WAV prompts: little-endian int16, no header."""
    reference = ASTERISK_SOUNDS / "vm-goodbye.wav"
    raw = reference.read_bytes()
    audio, rate = soundfile.read(reference, dtype="float32")
    assert telephony.encode(audio, rate, "sln") == raw[44:]
    assert np.array_equal(int16(raw[44:]), soundfile.read(reference, dtype="int16")[0])


def test_wav_data_chunk_is_the_sln_bytes(synth):
    result = synth.synthesize("Press one.", seed=1)
    prepared = telephony.prepare(result.audio, result.sample_rate, 8000)
    wav = telephony.encode(prepared, 8000, "wav")
    assert wav[36:40] == b"data"
    assert wav[44:] == telephony.encode(prepared, 8000, "sln")


@needs_sox
def test_sln_decodes_with_sox_as_signed_16_bit_little_endian(neutral_sln, tmp_path):
    path = tmp_path / "prompt.sln"
    path.write_bytes(neutral_sln)
    done = subprocess.run(
        [
            "sox",
            "-t",
            "raw",
            "-e",
            "signed-integer",
            "-b",
            "16",
            "-L",
            "-r",
            "8000",
            "-c",
            "1",
            str(path),
            "-t",
            "s16",
            "-L",
            "-",
        ],
        capture_output=True,
        check=True,
    )
    assert done.stdout == neutral_sln


@needs_asterisk
def test_neutral_prompt_sits_at_asterisk_prompt_level(neutral_sln):
    """Praat level within 2 dB of the median of 20 Allison prompts; no sample at full scale."""
    step = len(ASTERISK_PROMPTS) // 20
    levels = []
    for path in ASTERISK_PROMPTS[::step][:20]:
        audio, rate = soundfile.read(path, dtype="float32")
        levels.append(level_db(audio, rate))
    reference = float(np.median(levels))
    samples = int16(neutral_sln)
    ours = level_db(samples.astype(np.float32) / 32768.0, 8000)
    print(f"neutral prompt {ours:.1f} dB, Allison median {reference:.1f} dB (of {len(levels)})")
    assert abs(ours - reference) <= 2.0
    peak = int(np.abs(samples.astype(np.int32)).max())
    assert peak < 32767
    assert peak <= 32768 * 10 ** (telephony.TELEPHONE_CEILING_DB / 20) + 2


def test_emotions_keep_their_level_difference(synth, neutral_sln):
    """The telephone gain is the same for every emotion: a sad prompt stays quieter."""
    sad = telephony.render_prompt(synth, Prompt(NEUTRAL, emotion="sad"), "sln")
    neutral_db = level_db(int16(neutral_sln).astype(np.float32) / 32768.0, 8000)
    sad_db = level_db(int16(sad).astype(np.float32) / 32768.0, 8000)
    assert sad_db < neutral_db - 1.0


def test_same_key_renders_the_same_bytes(synth):
    prompt = Prompt("Your call is important to us.", emotion="calm", intensity=0.5)
    key = telephony.prompt_key(synth, prompt, "ulaw")
    first = telephony.render_prompt(synth, prompt, "ulaw", key=key)
    assert telephony.render_prompt(synth, prompt, "ulaw") == first


def test_prompt_key_follows_what_is_heard(synth):
    base = Prompt("Goodbye.", emotion="happy", intensity=0.7)
    key = telephony.prompt_key(synth, base, "wav")
    assert len(key) == 64
    assert telephony.prompt_key(synth, base, "wav") == key
    assert (
        telephony.prompt_key(synth, dataclasses.replace(base, emotion="cheerful"), "wav") == key
    )  # an alias of happy
    assert telephony.prompt_key(synth, dataclasses.replace(base, text="See you."), "wav") != key
    assert telephony.prompt_key(synth, dataclasses.replace(base, intensity=0.6), "wav") != key
    assert telephony.prompt_key(synth, dataclasses.replace(base, emotion="sad"), "wav") != key
    assert telephony.prompt_key(synth, base, "wav-ulaw") != key
    assert telephony.seed_for(key) == telephony.seed_for(key) >= 0


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        (Prompt("Hi.", emotion="zesty"), "zesty"),
        (Prompt("Hi.", voice="nobody"), "unknown voice 'nobody'"),
        (Prompt("<speak> </speak>"), "nothing to say"),
    ],
)
def test_prompt_key_refuses_bad_prompts(synth, prompt, message):
    with pytest.raises(ValueError, match=message):
        telephony.prompt_key(synth, prompt, "wav")
