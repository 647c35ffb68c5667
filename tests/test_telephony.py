"""Telephone encodings and prompt rendering, checked against sox and Asterisk's own prompts.

The reference is Debian's ``asterisk-core-sounds-en-wav`` (8 kHz 16-bit PCM mono WAV with a
44-byte header); tests that need it or ``sox`` skip, naming the Debian package, when it is missing.
"""

from __future__ import annotations

import dataclasses
import subprocess

import numpy as np
import pytest
import soundfile

from emotts_plugin import Synthesizer, load_config
from emotts_plugin.adapters import telephony
from emotts_plugin.adapters.telephony import Prompt, TelephoneFormat
from emotts_plugin.models.measure import level_db

from conftest import ASTERISK_SOUNDS, needs_sox
from conftest import needs_asterisk_sounds as needs_asterisk

ASTERISK_PROMPTS = sorted(
    p for p in ASTERISK_SOUNDS.glob("*.wav") if "beep" not in p.name and "tone" not in p.name
)

NEUTRAL = "Thank you for calling. Please hold while we connect you."

# format, extension, sample rate, bytes per sample, content type
FORMATS = [
    ("sln", "sln", 8000, 2, "audio/pcm;rate=8000;channels=1;format=s16le"),
    ("sln16", "sln16", 16000, 2, "audio/pcm;rate=16000;channels=1;format=s16le"),
    ("ulaw", "ulaw", 8000, 1, "audio/basic"),
    ("alaw", "alaw", 8000, 1, "audio/x-alaw-basic"),
    ("wav", "wav", 8000, 2, "audio/wav"),
    ("wav16", "wav16", 16000, 2, "audio/wav"),
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
        match=r"unknown telephone format 'gsm'; use one of sln, sln16, ulaw, alaw, wav, wav16, wav-ulaw, "
        r"wav-alaw$",
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


# -- one take in every format ---------------------------------------------------------------


def decoded(data: bytes, fmt: TelephoneFormat) -> np.ndarray:
    """Float samples of ``fmt`` bytes, read by libsndfile (raw formats with their layout)."""
    import io

    if fmt.container == "WAV":
        return soundfile.read(io.BytesIO(data), dtype="float32")[0]
    subtype = {1: "ULAW" if "ulaw" in fmt.value else "ALAW", 2: "PCM_16"}[fmt.bytes_per_sample]
    return soundfile.read(
        io.BytesIO(data),
        dtype="float32",
        format="RAW",
        subtype=subtype,
        samplerate=fmt.sample_rate,
        channels=1,
        endian="LITTLE",
    )[0]


def test_every_format_holds_the_same_take(synth):
    """One render, encoded in every format: the same length to the sample at each rate (twice as
    many at 16 kHz), the PCM data identical, the G.711 data within its companding error."""
    prompt = Prompt("Thank you for calling Northwind Energy.", emotion="calm")
    files = telephony.render_formats(synth, prompt, list(TelephoneFormat))
    audio = {fmt: decoded(data, fmt) for fmt, data in files.items()}
    narrow = len(audio[TelephoneFormat.SLN])
    lengths = {fmt.value: len(samples) for fmt, samples in audio.items()}
    print(f"samples per format: {lengths}")
    assert lengths == {fmt.value: narrow * fmt.sample_rate // 8000 for fmt in TelephoneFormat}
    assert files[TelephoneFormat.WAV][44:] == files[TelephoneFormat.SLN]
    assert files[TelephoneFormat.WAV16][44:] == files[TelephoneFormat.SLN16]
    pcm = audio[TelephoneFormat.SLN]
    for fmt in (
        TelephoneFormat.ULAW,
        TelephoneFormat.ALAW,
        TelephoneFormat.WAV_ULAW,
        TelephoneFormat.WAV_ALAW,
    ):
        error = audio[fmt] - pcm
        snr_db = 10 * np.log10(np.sum(pcm**2) / np.sum(error**2))
        assert snr_db > 30.0, f"{fmt.value}: {snr_db:.1f} dB"  # G.711 gives about 38 dB on speech
    # the 16 kHz take is the 8 kHz one: band-limited to 4 kHz and decimated, it matches it
    from scipy.signal import resample_poly

    down = resample_poly(audio[TelephoneFormat.SLN16].astype(np.float64), 1, 2)[:narrow]
    assert np.corrcoef(down, pcm)[0, 1] > 0.99


def test_the_seed_does_not_depend_on_the_format(synth):
    prompt = Prompt("Please hold.", emotion="sad", intensity=0.4)
    take = telephony.take_key(synth, prompt)
    keys = {fmt: telephony.prompt_key(synth, prompt, fmt) for fmt in TelephoneFormat}
    assert len(set(keys.values())) == len(TelephoneFormat)  # one content address (ETag) per format
    assert {key[:32] for key in keys.values()} == {take[:32]}
    assert {telephony.seed_for(key) for key in keys.values()} == {telephony.seed_for(take)}
    # rendered one format at a time (as GET /v1/ivr/prompt does), the take is still the same
    ulaw = telephony.render_prompt(synth, prompt, "ulaw", key=keys[TelephoneFormat.ULAW])
    alaw = telephony.render_prompt(synth, prompt, "alaw", key=keys[TelephoneFormat.ALAW])
    assert len(ulaw) == len(alaw)
    both = telephony.render_formats(synth, prompt, ["ulaw", "alaw"])
    assert (both[TelephoneFormat.ULAW], both[TelephoneFormat.ALAW]) == (ulaw, alaw)


@pytest.mark.parametrize("length", [1, 2, 441, 22049, 22050, 22051, 48_317])
def test_prepare_take_lengths_agree_to_the_sample(length):
    rng = np.random.default_rng(length)
    audio = (0.1 * rng.standard_normal(length)).astype(np.float32)
    takes = telephony.prepare_take(audio, 22050, [16000, 8000])
    assert len(takes[8000]) == -(-length * 8000 // 22050)  # ceil
    assert len(takes[16000]) == 2 * len(takes[8000])


def test_prepare_take_refuses_a_rate_that_is_not_telephone():
    with pytest.raises(ValueError, match="multiples of 8000 Hz, got 11025"):
        telephony.prepare_take(np.zeros(100, np.float32), 22050, [11025])


def test_raw_pcm_is_not_labelled_big_endian():
    """RFC 2586's audio/L16 is big-endian (network order); Asterisk's .sln is little-endian, so it
    is served under a type that says so, and its bytes stay as Asterisk reads them."""
    for fmt in (TelephoneFormat.SLN, TelephoneFormat.SLN16):
        assert not fmt.content_type.lower().startswith("audio/l16")
        assert fmt.content_type.endswith(";format=s16le")
    data = telephony.encode(np.array([0.5, -0.25], np.float32), 8000, "sln")
    assert data == (16384).to_bytes(2, "little", signed=True) + (-8192).to_bytes(2, "little", signed=True)
