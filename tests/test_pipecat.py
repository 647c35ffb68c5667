"""The Pipecat plugin (``emotts_plugin.adapters.pipecat``) in real Pipecat pipelines.

Each test runs ``Pipeline([source, EmottsTTSService, sink])`` under Pipecat's own
``PipelineWorker`` and ``WorkerRunner`` (1.14's names for ``PipelineTask`` / ``PipelineRunner``);
the test plays the LLM, queueing ``LLMFullResponseStartFrame``, ``LLMTextFrame`` deltas and
``LLMFullResponseEndFrame`` as an LLM service pushes them, and the sink records what comes out.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import parselmouth
import pytest

from conftest import extra_installed, extra_skip_reason

if not extra_installed("pipecat"):
    pytest.skip(extra_skip_reason("pipecat"), allow_module_level=True)
import soundfile

from emotts_plugin import load_config
from emotts_plugin.adapters.agents import AgentVoice, Spoken
from emotts_plugin.errors import (
    ConfigError,
    HostileInputError,
    MissingExtraError,
    RemoteError,
    UnknownEmotionError,
    UnknownVoiceError,
)
from emotts_plugin.synthesizer import Synthesizer
from emotts_plugin.timings import Word

from conftest import extra_installed, extra_skip_reason

try:
    from emotts_plugin.adapters.pipecat import EmottsTTSService, word_times
except MissingExtraError:
    if extra_installed("pipecat"):
        raise
    pytest.skip(extra_skip_reason("pipecat"), allow_module_level=True)

from pipecat.frames.frames import (  # noqa: E402 - after the skip above
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    TTSUpdateSettingsFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.services.settings import TTSSettings  # noqa: E402
from pipecat.services.tts_service import TextAggregationMode  # noqa: E402
from pipecat.utils.errors import ErrorCategory  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

#: The pipeline's output rate (not the voice's 22050 Hz: emotts renders at Pipecat's rate).
RATE = 24000
TEXT = "It rained all day. We stayed inside and read."


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    config = load_config([])
    # no noise (repeatable pitch), no cache (every sentence is rendered, so renders can be counted)
    config = dataclasses.replace(config, noise=False, cache=dataclasses.replace(config.cache, memory_mb=0))
    synth = Synthesizer(config)
    synth.synthesize("Ready.")  # the first render of a process is slow
    return synth


# -- a pipeline to run the service in ---------------------------------------------------


class Recorder(FrameProcessor):
    """Passes every frame on and records those going ``direction``, with when they came."""

    def __init__(self, direction: FrameDirection) -> None:
        super().__init__()
        self.direction = direction
        self.frames: list[tuple[float, Frame]] = []

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self.direction:
            self.frames.append((time.monotonic(), frame))
        await self.push_frame(frame, direction)

    def of(self, kind: type) -> list:
        return [frame for _, frame in self.frames if isinstance(frame, kind)]

    def times(self, kind: type) -> list[float]:
        return [at for at, frame in self.frames if isinstance(frame, kind)]

    async def wait_for(self, kind: type, count: int = 1, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.of(kind)) < count:
            assert time.monotonic() < deadline, f"no {count} {kind.__name__} in {timeout} s"
            await asyncio.sleep(0.005)


@dataclass
class Run:
    worker: PipelineWorker
    source: Recorder
    """Records what comes back upstream (errors)."""
    sink: Recorder
    """Records what comes out downstream."""

    async def reply(self, text: str, *, piece: int = 6, end: bool = True) -> None:
        """Queue ``text`` as an LLM reply of ``piece``-character deltas."""
        await self.worker.queue_frame(LLMFullResponseStartFrame())
        await self.deltas(text, piece=piece)
        if end:
            await self.worker.queue_frame(LLMFullResponseEndFrame())

    async def deltas(self, text: str, *, piece: int = 6) -> None:
        for start in range(0, len(text), piece):
            await self.worker.queue_frame(LLMTextFrame(text[start : start + piece]))

    async def replies_done(self, count: int) -> None:
        """Wait until ``count`` replies have ended at the sink (their end follows their audio)."""
        await self.sink.wait_for(LLMFullResponseEndFrame, count)

    def contexts(self) -> list[bytes]:
        """The audio that came out, one item per audio context (reply), in order."""
        audio: dict[str, bytearray] = {}
        for frame in self.sink.of(TTSAudioRawFrame):
            assert (frame.sample_rate, frame.num_channels) == (RATE, 1)
            audio.setdefault(frame.context_id, bytearray()).extend(frame.audio)
        return [bytes(pcm) for pcm in audio.values()]


@contextlib.asynccontextmanager
async def pipeline(tts: EmottsTTSService):
    """``tts`` running in a Pipecat pipeline; ended with an ``EndFrame`` when the block ends."""
    source, sink = Recorder(FrameDirection.UPSTREAM), Recorder(FrameDirection.DOWNSTREAM)
    worker = PipelineWorker(
        Pipeline([source, tts, sink]),
        params=PipelineParams(audio_out_sample_rate=RATE),
        enable_rtvi=False,
        cancel_on_idle_timeout=False,
        idle_timeout_secs=None,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(worker, frame):
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    await asyncio.wait_for(started.wait(), 10)
    try:
        yield Run(worker, source, sink)
    finally:
        await worker.queue_frame(EndFrame())
        await asyncio.wait_for(running, 30)


class SpeakSpy:
    """Records, per :meth:`AgentVoice.speak` call, the deltas it read and the sentences it gave."""

    def __init__(self, monkeypatch) -> None:
        self.deltas: list[list[str]] = []
        self.spoken: list[list[Spoken]] = []
        real = AgentVoice.speak
        spy = self

        async def speak(voice, deltas, options=None, **changes):
            seen: list[str] = []
            said: list[Spoken] = []
            spy.deltas.append(seen)
            spy.spoken.append(said)

            async def read():
                async for delta in deltas:
                    seen.append(delta)
                    yield delta

            async with contextlib.aclosing(real(voice, read(), options, **changes)) as sentences:
                async for sentence in sentences:
                    said.append(sentence)
                    yield sentence

        monkeypatch.setattr(AgentVoice, "speak", speak)


class RenderCounter:
    """Counts the synthesizer's renders: when each started, and how many are running.

    Every render after the first waits inside ``_render`` until :meth:`release`, so a test can
    stop a reply while a render is surely in flight (and none is about to start).
    """

    def __init__(self, monkeypatch, synth: Synthesizer) -> None:
        self.lock = threading.Lock()
        self.starts: list[float] = []
        self.in_flight = 0
        self.released = threading.Event()
        real = synth._render

        def counted(*args, **kwargs):
            with self.lock:
                self.in_flight += 1
                self.starts.append(time.monotonic())
                held = len(self.starts) > 1
            try:
                if held:
                    self.released.wait(timeout=20)
                return real(*args, **kwargs)
            finally:
                with self.lock:
                    self.in_flight -= 1

        monkeypatch.setattr(synth, "_render", counted)

    async def held(self, timeout: float = 10.0) -> None:
        """Wait until the second render is in flight (held)."""
        deadline = time.monotonic() + timeout
        while not (self.in_flight == 1 and len(self.starts) >= 2):
            assert time.monotonic() < deadline, "no second render"
            await asyncio.sleep(0.002)

    def release(self) -> None:
        self.released.set()

    async def idle_within(self, since: float, limit: float = 1.0) -> float:
        """Seconds from ``since`` until no render runs (polled up to ``limit`` past ``since``)."""
        while self.in_flight and time.monotonic() < since + limit:
            await asyncio.sleep(0.005)
        return time.monotonic() - since


def median_f0_st(pcm: bytes, rate: int = RATE) -> float:
    """Median F0 of the voiced frames, semitones re 100 Hz."""
    samples = np.frombuffer(pcm, "<i2").astype(np.float64) / 32768.0
    f0 = parselmouth.Sound(samples, rate).to_pitch().selected_array["frequency"]
    return float(12 * np.log2(np.median(f0[f0 > 0]) / 100.0))


# -- tests ------------------------------------------------------------------------------

REPLY = 'Sure! <emotion name="sad">I heard the news. It must be hard.</emotion> [happy] Call me at 3 pm.'


def test_a_streamed_reply_is_heard_with_its_words(synth, monkeypatch):
    spy = SpeakSpy(monkeypatch)
    tts = EmottsTTSService(synth)
    first, rest = REPLY[:32], REPLY[32:]

    async def main():
        async with pipeline(tts) as run:
            await run.reply(first, end=False)
            # heard while the LLM is still writing: the rest of the reply is sent only then
            await run.sink.wait_for(TTSAudioRawFrame, timeout=10)
            await run.deltas(rest)
            await run.worker.queue_frame(LLMFullResponseEndFrame())
            await run.replies_done(1)
            return run

    run = asyncio.run(main())
    sink = run.sink

    # the markup reached emotts unchanged, delta by delta (tags split across them included)
    (deltas,) = spy.deltas
    assert "".join(deltas) == REPLY and "<emoti" in deltas
    (spoken,) = spy.spoken
    assert [s.text for s in spoken][:2] == ["Sure!", "I heard the news."]

    # audio: what emotts rendered, at the pipeline's rate, between Pipecat's started/stopped frames
    (pcm,) = run.contexts()
    assert pcm == b"".join(s.pcm for s in spoken)
    assert len(pcm) / 2 / RATE > 3.0
    order = [type(frame) for _, frame in sink.frames]
    audio_at = [i for i, kind in enumerate(order) if kind is TTSAudioRawFrame]
    assert order.index(TTSStartedFrame) < audio_at[0] and audio_at[-1] < order.index(TTSStoppedFrame)

    # word timestamps became Pipecat's word frames, timed as emotts timed the words
    expected = [pair for s in spoken for pair in word_times(s, "".join(deltas))]
    words = sink.of(TTSTextFrame)
    assert len(words) == len(expected)
    for frame, (word, _) in zip(words, expected):
        assert word in frame.text
    assert "3" in [word for word, _ in expected]  # named as the LLM wrote it, not "three"
    pts = np.array([frame.pts for frame in words], dtype=np.float64)
    starts = np.array([start for _, start in expected])
    assert np.all(np.diff(pts) > 0)
    assert np.allclose((pts - pts[0]) / 1e9, starts - starts[0], atol=1e-3)


def test_a_pause_in_the_llm_keeps_the_reply_in_one_audio_context(synth):
    # Pipecat ends an audio context that gets nothing for stop_frame_timeout_s
    tts = EmottsTTSService(synth, stop_frame_timeout_s=0.3)

    async def main():
        async with pipeline(tts) as run:
            await run.reply("Let me think. Hmm", end=False)
            await asyncio.sleep(1.2)  # the LLM pauses mid-sentence
            await run.deltas(" well, it is done.")
            await run.worker.queue_frame(LLMFullResponseEndFrame())
            await run.replies_done(1)
            return run

    run = asyncio.run(main())
    assert len(run.sink.of(TTSStartedFrame)) == len(run.sink.of(TTSStoppedFrame)) == 1
    assert len(run.contexts()) == 1
    assert not run.source.of(ErrorFrame)


def test_a_reply_with_nothing_to_say_is_a_short_silence(synth):
    tts = EmottsTTSService(synth)

    async def main():
        async with pipeline(tts) as run:
            for _ in range(3):  # Pipecat writes off a service after 3 contexts without audio
                await run.reply("*laughs*")
            await run.replies_done(3)
            return run

    run = asyncio.run(main())
    for pcm in run.contexts():
        assert 0 < len(pcm) < 0.2 * 2 * RATE and not any(pcm)
    assert not run.source.of(ErrorFrame) and tts.is_usable


def test_default_emotion_intensity_and_settings_frames_move_the_pitch(synth):
    settings = EmottsTTSService.Settings(emotion="happy", intensity=0.9)
    tts = EmottsTTSService(synth, settings=settings)

    async def main():
        async with pipeline(tts) as run:
            await run.reply(TEXT)
            await run.worker.queue_frame(
                TTSUpdateSettingsFrame(delta=EmottsTTSService.Settings(intensity=0.3))
            )
            await run.reply(TEXT)
            change = EmottsTTSService.Settings(emotion="sad", intensity=0.9)
            await run.worker.queue_frame(TTSUpdateSettingsFrame(delta=change))
            await run.reply(TEXT)
            await run.replies_done(3)
            return run

    run = asyncio.run(main())
    happy, mild, sad = (median_f0_st(pcm) for pcm in run.contexts())
    assert happy - sad > 1.5, (happy, mild, sad)
    assert happy - mild > 0.5, (happy, mild, sad)
    assert (tts.agent_voice.options.emotion, tts.agent_voice.options.intensity) == ("sad", 0.9)
    assert not run.source.of(ErrorFrame)


def test_an_emotion_tag_holds_across_sentences(synth, monkeypatch):
    spy = SpeakSpy(monkeypatch)
    settings = EmottsTTSService.Settings(emotion="happy", intensity=0.9)
    tts = EmottsTTSService(synth, settings=settings)

    async def main():
        async with pipeline(tts) as run:
            await run.reply(TEXT, piece=4)
            await run.reply(f'<emotion name="sad" intensity="1">{TEXT}</emotion>', piece=4)
            await run.replies_done(2)
            return run

    run = asyncio.run(main())
    second = []
    for pcm, spoken in zip(run.contexts(), spy.spoken):
        assert [s.text for s in spoken] == ["It rained all day.", "We stayed inside and read."]
        second.append(pcm[len(spoken[0].pcm) :])
    plain, tagged = (median_f0_st(pcm) for pcm in second)
    assert plain - tagged > 1.5, (plain, tagged)


def test_an_interruption_stops_rendering_mid_reply(synth, monkeypatch):
    renders = RenderCounter(monkeypatch, synth)
    tts = EmottsTTSService(synth)
    reply = " ".join(f"{word.capitalize()}." for word in NUMBERS)  # short sentences: quick renders

    async def main():
        async with pipeline(tts) as run:
            await run.reply(reply, piece=12)
            await run.sink.wait_for(TTSAudioRawFrame)
            await renders.held()  # the second sentence is in the voice model
            await run.source.broadcast_interruption()
            await run.sink.wait_for(InterruptionFrame)
            (interrupted,) = run.sink.times(InterruptionFrame)
            renders.release()
            idle_after = await renders.idle_within(interrupted)
            await asyncio.sleep(0.5)
            late_audio = [at for at in run.sink.times(TTSAudioRawFrame) if at > interrupted]
            late_renders = [at for at in renders.starts if at > interrupted]
            rendered = len(renders.starts)
            # the service speaks the next reply
            await run.reply("All right, what now?")
            await run.sink.wait_for(LLMFullResponseEndFrame)
            return run, idle_after, late_audio, late_renders, rendered

    run, idle_after, late_audio, late_renders, rendered = asyncio.run(main())
    assert idle_after < 1.0, f"a render still running {idle_after:.2f} s after the interruption"
    assert late_renders == []
    assert late_audio == []
    assert rendered == 2  # of 8 sentences
    assert len(run.contexts()) == 2 and run.contexts()[1]
    assert not run.source.of(ErrorFrame)


def test_cancelling_the_pipeline_stops_rendering(synth, monkeypatch):
    renders = RenderCounter(monkeypatch, synth)
    tts = EmottsTTSService(synth)
    reply = " ".join(f"{word.capitalize()}." for word in NUMBERS)  # short sentences: quick renders

    async def main():
        async with pipeline(tts) as run:
            await run.reply(reply, piece=12)
            await run.sink.wait_for(TTSAudioRawFrame)
            await renders.held()
            await run.worker.cancel()
            await run.sink.wait_for(CancelFrame)
            (cancelled,) = run.sink.times(CancelFrame)
            renders.release()
            idle_after = await renders.idle_within(cancelled)
            await asyncio.sleep(0.5)
            return idle_after, [at for at in renders.starts if at > cancelled]

    idle_after, late_renders = asyncio.run(main())
    assert idle_after < 1.0, f"a render still running {idle_after:.2f} s after the cancel"
    assert late_renders == []
    assert len(renders.starts) == 2


NUMBERS = ("one", "two", "three", "four", "five", "six", "seven", "eight")


def test_bad_input_and_settings_are_pipecat_errors_and_the_service_goes_on(synth):
    tts = EmottsTTSService(synth, settings=EmottsTTSService.Settings(emotion="calm"))

    async def main():
        async with pipeline(tts) as run:
            await run.reply('<!DOCTYPE x [<!ENTITY a "b">]>Hello &a; there.')
            await run.replies_done(1)
            for delta in (
                EmottsTTSService.Settings(emotion="furious-ish"),
                TTSSettings(voice="nobody"),
                EmottsTTSService.Settings(intensity=3.0),
            ):
                await run.worker.queue_frame(TTSUpdateSettingsFrame(delta=delta))
            await run.worker.queue_frame(TTSSpeakFrame("Still here, and still calm."))
            await run.sink.wait_for(TTSStoppedFrame, 2)
            return run

    run = asyncio.run(main())
    errors = run.source.of(ErrorFrame)
    assert [type(error.exception) for error in errors] == [
        HostileInputError,
        UnknownEmotionError,
        UnknownVoiceError,
        ConfigError,
    ]
    assert all(error.processor is tts and error.category is ErrorCategory.APPLICATION for error in errors)
    assert "DOCTYPE" in errors[0].error
    assert tts.is_usable
    assert tts.agent_voice.options.emotion == "calm" and tts.agent_voice.options.intensity is None
    bad, good = run.contexts()
    assert len(bad) < 0.2 * 2 * RATE  # a short silence closes the failed reply
    assert len(good) / 2 / RATE > 1.0


def test_pipecats_sentence_aggregation_is_refused(synth):
    # emotts and Pipecat would each hold a sentence until the next one starts
    with pytest.raises(ValueError, match="TOKEN"):
        EmottsTTSService(synth, text_aggregation_mode=TextAggregationMode.SENTENCE)
    with pytest.raises(ValueError, match="TOKEN"):
        EmottsTTSService(synth, aggregate_sentences=True)


def test_bad_settings_at_construction_raise(synth):
    with pytest.raises(UnknownEmotionError):
        EmottsTTSService(synth, settings=EmottsTTSService.Settings(emotion="furious-ish"))
    with pytest.raises(UnknownVoiceError):
        EmottsTTSService(synth, settings=EmottsTTSService.Settings(voice="nobody"))
    with pytest.raises(ConfigError):
        EmottsTTSService(url="http://127.0.0.1:9", settings=EmottsTTSService.Settings(intensity=2.0))


def test_a_remote_server_renders_through_pipecat(synth):
    from aiohttp.test_utils import TestServer

    from emotts_plugin.adapters.http import create_app

    async def main():
        async with TestServer(create_app(synth.config, synthesizer=synth), host="127.0.0.1") as server:
            tts = EmottsTTSService(
                url=str(server.make_url("")), settings=EmottsTTSService.Settings(emotion="sad")
            )
            async with pipeline(tts) as run:
                await run.reply("Hello there. See you soon.")
                await run.replies_done(1)
                return run

    run = asyncio.run(main())
    (pcm,) = run.contexts()
    assert len(pcm) / 2 / RATE > 1.0
    assert [frame.text for frame in run.sink.of(TTSTextFrame)] == ["Hello", "there", "See", "you", "soon"]
    assert not run.source.of(ErrorFrame)


def test_an_unreachable_server_is_a_connectivity_error():
    with socketserver_port() as port:
        pass  # closed again: nothing listens there
    tts = EmottsTTSService(url=f"http://127.0.0.1:{port}")

    async def main():
        async with pipeline(tts) as run:
            await run.reply("Hello there.")
            await run.replies_done(1)
            return run

    run = asyncio.run(main())
    (error,) = run.source.of(ErrorFrame)
    assert isinstance(error.exception, RemoteError)
    assert error.category is ErrorCategory.CONNECTIVITY
    assert tts.is_usable


@contextlib.contextmanager
def socketserver_port():
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def test_word_times_name_words_by_their_source_once():
    reply = "Call me at 3 pm. [sad] Bye."
    words = (
        Word("Call", 0.0, 0.2, 0, (0, 4)),
        Word("me", 0.2, 0.3, 0, (5, 7)),
        Word("at", 0.3, 0.4, 0, (8, 10)),
        Word("three", 0.4, 0.6, 0, (11, 12)),
        Word("PM", 0.6, 0.8, 0, (13, 16)),
        Word("Bye", 1.2, 1.4, 1, (23, 26)),
        Word("later", 1.4, 1.6, 1, None),
    )
    spoken = Spoken(b"", RATE, 0.0, "Call me at three PM. Bye.", words)
    assert word_times(spoken, reply) == [
        ("Call", 0.0),
        ("me", 0.2),
        ("at", 0.3),
        ("3", 0.4),
        ("pm.", 0.6),
        ("Bye", 1.2),
        ("later", 1.4),
    ]
    number = (Word("Doctor", 0.0, 0.3, 0, (0, 3)), Word("three", 0.3, 0.5, 0, (4, 7)))
    number += (Word("hundred", 0.5, 0.8, 0, (4, 7)),)
    said = dataclasses.replace(spoken, words=number)
    assert word_times(said, "Dr. 300") == [("Dr.", 0.0), ("300", 0.3)]


def test_the_example_script_writes_the_replies(tmp_path):
    out = tmp_path / "demo.wav"
    script = Path(__file__).resolve().parents[1] / "examples" / "pipecat_demo.py"
    command = [sys.executable, str(script), "--out", str(out), "--delay", "0.005", "--pause", "0"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "word 'Friday'" in result.stdout and result.stdout.count("(end of reply)") == 2
    info = soundfile.info(out)
    assert info.samplerate == RATE and info.duration > 5.0
