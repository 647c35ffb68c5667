"""The LiveKit Agents plugin (:mod:`emotts_plugin.adapters.livekit`) on the real ``livekit-agents``.

Two levels, both without a LiveKit server or room:

- LiveKit's TTS interface itself: a ``SynthesizeStream`` fed by a scripted LLM stand-in
  (``push_text`` of small deltas, then ``end_input``, as the agent's TTS node does), read as
  ``SynthesizedAudio``; ``synthesize()`` read as a ``ChunkedStream``; ``aclose()`` mid-reply.
- A whole ``AgentSession`` (LiveKit's own voice pipeline) with a scripted ``llm.LLM``, an audio
  sink that records the frames it is given and a text sink, run with ``session.run`` (LiveKit's
  test API: ``RunResult.expect``) and interrupted with ``session.interrupt()``.

Audio is judged by measurement (F0 with Praat, durations), on the real voice with noise off.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import socket
import threading
import time

import numpy as np
import parselmouth
import pytest

from conftest import extra_installed, extra_skip_reason

if not extra_installed("livekit"):
    pytest.skip(extra_skip_reason("livekit"), allow_module_level=True)
from livekit.agents import Agent, AgentSession, APIConnectionError, APIConnectOptions, APIStatusError, llm
from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT, TimedString
from livekit.agents.voice import io

from emotts_plugin import load_config
from emotts_plugin.adapters import livekit as lk
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.livekit import EmottsTTS
from emotts_plugin.errors import ConfigError, UnknownEmotionError, UnknownVoiceError
from emotts_plugin.synthesizer import Synthesizer

HOSTILE = '<!DOCTYPE x [<!ENTITY a "b">]><speak>&a;</speak>'
F0_SENTENCE = "We looked everywhere for the keys and found them in the car."


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    synth = Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))
    synth.synthesize("Ready.")  # the first render of a process is slow
    return synth


# -- stand-ins for what a deployment has ----------------------------------------------------


async def scripted_llm(
    reply: str,
    *,
    size: int = 5,
    delay: float = 0.005,
    hold: asyncio.Event | None = None,
    hold_after: str = "",
    sent_at: list[float] | None = None,
):
    """A chat model's reply in deltas of ``size`` characters, ``delay`` seconds apart.

    With ``hold``, once the text sent holds ``hold_after`` the rest waits until ``hold`` is set
    (at most 20 s); ``sent_at`` gets the time each delta was sent.
    """
    for start in range(0, len(reply), size):
        if hold is not None and hold_after in reply[:start]:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(hold.wait(), 20)
        yield reply[start : start + size]
        if sent_at is not None:
            sent_at.append(time.perf_counter())
        await asyncio.sleep(delay)


async def feed(stream, deltas) -> None:
    """What LiveKit's ``tts_node`` does with the LLM's text: push each delta, then end the input."""
    async for delta in deltas:
        stream.push_text(delta)
    stream.end_input()


class ScriptedLLM(llm.LLM):
    """A ``livekit.agents.llm.LLM`` that answers each turn with the next of ``replies``."""

    def __init__(self, *replies: str, delay: float = 0.005) -> None:
        super().__init__()
        self.replies = list(replies)
        self.delay = delay

    def chat(self, *, chat_ctx, tools=None, conn_options=None, **_):
        return _ScriptedStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)


class _ScriptedStream(llm.LLMStream):
    async def _run(self) -> None:
        async for delta in scripted_llm(self._llm.replies.pop(0), delay=self._llm.delay):
            chunk = llm.ChatChunk(id="scripted", delta=llm.ChoiceDelta(role="assistant", content=delta))
            self._event_ch.send_nowait(chunk)


class RecordingAudio(io.AudioOutput):
    """An audio sink that keeps every frame and plays out instantly."""

    def __init__(self) -> None:
        super().__init__(label="recording", capabilities=io.AudioOutputCapabilities(pause=True))
        self.frames: list = []
        self._segment_s = 0.0
        self._open = False

    async def capture_frame(self, frame) -> None:
        await super().capture_frame(frame)
        self.frames.append(frame)
        self._segment_s += frame.duration
        if not self._open:
            self._open = True
            self.on_playback_started(created_at=time.time())

    def flush(self) -> None:
        super().flush()
        self._finish(interrupted=False)

    def clear_buffer(self) -> None:
        self._finish(interrupted=True)

    def _finish(self, *, interrupted: bool) -> None:
        if self._open:
            self._open = False
            self.on_playback_finished(playback_position=self._segment_s, interrupted=interrupted)
            self._segment_s = 0.0


class RecordingText(io.TextOutput):
    """A transcript sink that keeps what it is given."""

    def __init__(self) -> None:
        super().__init__(label="recording", next_in_chain=None)
        self.texts: list[str] = []

    async def capture_text(self, text: str) -> None:
        self.texts.append(text)

    def flush(self) -> None:
        pass


async def started_session(
    tts: EmottsTTS, *replies: str
) -> tuple[AgentSession, RecordingAudio, RecordingText]:
    session = AgentSession(llm=ScriptedLLM(*replies), tts=tts, use_tts_aligned_transcript=True)
    audio, text = RecordingAudio(), RecordingText()
    session.output.audio = audio
    session.output.transcription = text
    await session.start(Agent(instructions="You are a helpful assistant."), record=False)
    return session, audio, text


# -- measuring --------------------------------------------------------------------------------


def samples(frames) -> tuple[np.ndarray, int]:
    """The frames' int16 samples as float, and their rate."""
    rate = frames[0].sample_rate
    assert all(frame.sample_rate == rate and frame.num_channels == 1 for frame in frames)
    pcm = np.concatenate([np.frombuffer(frame.data, dtype=np.int16) for frame in frames])
    return pcm.astype(np.float64) / 32768.0, rate


def f0_median_hz(frames) -> float:
    audio, rate = samples(frames)
    f0 = parselmouth.Sound(audio, rate).to_pitch().selected_array["frequency"]
    voiced = f0[f0 > 0]
    assert voiced.size > 20
    return float(np.median(voiced))


def timed(events) -> list[TimedString]:
    """The word timings handed to LiveKit with the frames of ``events`` (``SynthesizedAudio``)."""
    return [text for ev in events for text in ev.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, [])]


async def stream_reply(tts: EmottsTTS, reply: str, **kwargs) -> list:
    """Every ``SynthesizedAudio`` of ``reply`` sent through ``tts.stream()`` by the LLM stand-in."""
    async with tts.stream() as stream:
        feeding = asyncio.create_task(feed(stream, scripted_llm(reply, **kwargs)))
        events = [ev async for ev in stream]
        await feeding
    return events


class RenderCounter:
    """Wraps ``synth._render``: when each render started, and how many are running now."""

    def __init__(self, monkeypatch, synth: Synthesizer) -> None:
        self.started: list[float] = []
        self.in_flight = 0
        self._lock = threading.Lock()
        real = synth._render

        def counted(*args, **kwargs):
            with self._lock:
                self.started.append(time.perf_counter())
                self.in_flight += 1
            try:
                return real(*args, **kwargs)
            finally:
                with self._lock:
                    self.in_flight -= 1

        monkeypatch.setattr(synth, "_render", counted)

    async def settled(self, within_s: float) -> bool:
        deadline = time.perf_counter() + within_s
        while self.in_flight and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        return self.in_flight == 0


def sentences(n: int, tag: str) -> str:
    """``n`` distinct sentences (``tag`` keeps them out of other tests' render cache)."""
    words = ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
    return " ".join(f"Here is {tag} part {words[i]}." for i in range(n))


# -- the TTS interface ----------------------------------------------------------------------


def test_declares_streaming_and_word_timings_and_checks_its_options(synth):
    tts = EmottsTTS(synth, emotion="happy", intensity=0.7)
    assert tts.capabilities.streaming and tts.capabilities.aligned_transcript
    assert (tts.sample_rate, tts.num_channels) == (22050, 1)
    assert (tts.options.emotion, tts.options.intensity) == ("happy", 0.7)
    assert (tts.provider, tts.model) == ("emotts", "joe")
    # what LiveKit offers the model as this TTS's markup: emotts's own, with its labels
    instructions = tts.markup.llm_instructions()
    assert '<emotion name="' in instructions and "melancholic" in instructions

    tts.update_options(emotion="sad", voice="joe")
    assert (tts.options.emotion, tts.options.intensity, tts.options.voice) == ("sad", 0.7, "joe")
    for bad, error in [
        ({"emotion": "grumpyish"}, UnknownEmotionError),
        ({"voice": "nobody"}, UnknownVoiceError),
        ({"intensity": 3}, ConfigError),
        ({"sample_rate": 16000}, ConfigError),
        ({"colour": "blue"}, ConfigError),
    ]:
        with pytest.raises(error):
            tts.update_options(**bad)
    assert (tts.options.emotion, tts.options.intensity) == ("sad", 0.7)  # unchanged
    with pytest.raises(UnknownEmotionError):
        EmottsTTS(synth, emotion="grumpyish")
    assert EmottsTTS(synth, sample_rate=16000).sample_rate == 16000


@pytest.mark.asyncio
async def test_the_first_sentence_is_heard_while_the_reply_is_still_arriving(synth):
    tts = EmottsTTS(synth)
    metrics = []
    tts.on("metrics_collected", metrics.append)
    reply = '[happy] That is wonderful news. And <emotion name="sad">I am sorry it took so long.</emotion>'
    reply += " (sighs)"
    hold, sent_at, heard_at = asyncio.Event(), [], []
    events = []
    async with tts.stream() as stream:
        deltas = scripted_llm(reply, hold=hold, hold_after="news. And", sent_at=sent_at)
        feeding = asyncio.create_task(feed(stream, deltas))
        async for ev in stream:
            events.append(ev)
            heard_at.append(time.perf_counter())
            hold.set()  # the model writes the rest once the first sentence is heard
        await feeding

    assert heard_at[0] < sent_at[-1]  # heard while the rest was held back, not after a 20 s timeout
    assert len({ev.segment_id for ev in events}) == 1 and events[-1].is_final
    assert not any(ev.is_final for ev in events[:-1])
    audio, rate = samples([ev.frame for ev in events])
    assert rate == 22050 and 3.0 < len(audio) / rate < 6.0
    # the words as spoken, with their times: what LiveKit's aligned transcript reads
    words = timed(events)
    assert "".join(words) == "That is wonderful news. And I am sorry it took so long. "
    starts = [word.start_time for word in words]
    assert starts == sorted(starts) and starts[0] < 0.3
    assert all(word.start_time < word.end_time <= len(audio) / rate for word in words)
    assert metrics and metrics[-1].streamed and 0 < metrics[-1].ttfb < 5


@pytest.mark.asyncio
async def test_emotion_options_and_markup_change_the_pitch(synth):
    tts = EmottsTTS(synth, emotion="happy", intensity=1.0)  # the session's default delivery
    happy = f0_median_hz([ev.frame for ev in await stream_reply(tts, F0_SENTENCE)])
    tts.update_options(emotion="sad")  # changed at run time, as LiveKit plugins do
    sad = f0_median_hz([ev.frame for ev in await stream_reply(tts, F0_SENTENCE)])
    assert 12 * math.log2(happy / sad) > 1.5

    # markup in the reply wins over the default, sentence by sentence
    tts.update_options(emotion="happy")
    cued = f0_median_hz([ev.frame for ev in await stream_reply(tts, f"[sad] {F0_SENTENCE}")])
    assert abs(12 * math.log2(cued / sad)) < 0.5

    # intensity scales the emotion: a faint happy is nearer neutral than a full one
    tts.update_options(emotion="happy", intensity=0.2)
    faint = f0_median_hz([ev.frame for ev in await stream_reply(tts, F0_SENTENCE)])
    assert 12 * math.log2(happy / faint) > 0.5


@pytest.mark.asyncio
async def test_a_stream_keeps_the_options_it_started_with(synth):
    tts = EmottsTTS(synth, emotion="sad")
    async with tts.stream() as stream:
        tts.update_options(emotion="happy")  # for the next reply
        feeding = asyncio.create_task(feed(stream, scripted_llm(F0_SENTENCE)))
        sad = f0_median_hz([ev.frame async for ev in stream])
        await feeding
    happy = f0_median_hz([ev.frame for ev in await stream_reply(tts, F0_SENTENCE)])
    assert 12 * math.log2(happy / sad) > 1.5


@pytest.mark.asyncio
async def test_synthesize_is_a_chunked_stream_with_word_timings(synth):
    tts = EmottsTTS(synth, emotion="calm")
    async with tts.synthesize("Hello there. <break time='300ms'/> How are you today?") as chunked:
        events = [ev async for ev in chunked]
    audio, rate = samples([ev.frame for ev in events])
    assert events[-1].is_final and 1.5 < len(audio) / rate < 4.0
    assert "".join(timed(events)) == "Hello there. How are you today? "
    frame = await tts.synthesize("Goodbye.").collect()  # LiveKit's helper for the whole answer
    assert 0.3 < frame.duration < 2.0


@pytest.mark.asyncio
async def test_closing_the_stream_mid_reply_stops_rendering(synth, monkeypatch):
    renders = RenderCounter(monkeypatch, synth)
    tts = EmottsTTS(synth)
    stream = tts.stream()
    feeding = asyncio.create_task(feed(stream, scripted_llm(sentences(8, "closing"), delay=0.001)))
    received = []

    async def listen():
        async for ev in stream:
            received.append(ev)

    listening = asyncio.create_task(listen())
    while not received:
        await asyncio.sleep(0.005)
    await stream.aclose()  # what the agent session does when the user interrupts
    closed_at = time.perf_counter()
    heard = len(received)

    assert await renders.settled(within_s=1.0)  # the sentence in the voice model ends, nothing after
    settled_at = time.perf_counter()
    await asyncio.sleep(0.2)
    # the step already handed to the render thread may begin its sentence just after the close
    # (on a loaded machine it is still parsing then); nothing more starts
    assert len([t for t in renders.started if t > closed_at]) <= 1
    assert [t for t in renders.started if t > settled_at] == []
    assert len(received) == heard and listening.done()
    assert 1 <= len(renders.started) < 8
    await asyncio.gather(listening, feeding, return_exceptions=True)


@pytest.mark.asyncio
async def test_malformed_input_is_a_livekit_error_that_is_not_retried(synth):
    tts = EmottsTTS(synth)
    errors = []
    tts.on("error", errors.append)
    with pytest.raises(APIStatusError) as caught:
        await stream_reply(tts, HOSTILE)
    assert caught.value.status_code == 400 and not caught.value.retryable
    assert caught.value.body["type"] == "HostileInputError"
    # one failure, unrecoverable: the base class's retries (conn_options.max_retry) were not spent on it
    assert [(type(e.error), e.recoverable) for e in errors] == [(APIStatusError, False)]

    with pytest.raises(APIStatusError):
        await tts.synthesize(HOSTILE).collect()
    assert len(errors) == 2 and not errors[1].recoverable

    # the TTS still speaks
    assert samples([ev.frame for ev in await stream_reply(tts, "All good again.")])[0].size > 0


@pytest.mark.asyncio
async def test_a_reply_with_nothing_to_say_is_a_short_silence(synth):
    tts = EmottsTTS(synth)
    errors = []
    tts.on("error", errors.append)
    audio, rate = samples([ev.frame for ev in await stream_reply(tts, "(laughs)")])
    assert len(audio) / rate == pytest.approx(lk.SILENT_REPLY_S, abs=0.02) and not audio.any()
    assert errors == []  # LiveKit would have retried "text without audio" three times


# -- remote ----------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_a_remote_emotts_server_speaks_through_the_same_interface(synth, aiohttp_server):
    server = await aiohttp_server(create_app(synth.config, synthesizer=synth))
    tts = EmottsTTS(url=str(server.make_url("/")), emotion="happy", sample_rate=16000)
    assert tts.sample_rate == 16000
    events = await stream_reply(tts, "Hello from the server. It speaks here too.")
    audio, rate = samples([ev.frame for ev in events])
    assert rate == 16000 and 1.5 < len(audio) / rate < 5.0
    words = timed(events)
    assert "".join(words).split() == ["Hello", "from", "the", "server.", "It", "speaks", "here", "too."]
    assert [w.start_time for w in words] == sorted(w.start_time for w in words)


@pytest.mark.asyncio
async def test_an_unreachable_server_is_a_connection_error_that_is_retried():
    with socket.socket() as probe:  # a local port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    tts = EmottsTTS(url=f"http://127.0.0.1:{port}")
    errors = []
    tts.on("error", errors.append)
    with pytest.raises(APIConnectionError):
        async with tts.stream(conn_options=APIConnectOptions(max_retry=1, retry_interval=0)) as stream:
            feeding = asyncio.create_task(feed(stream, scripted_llm("Anyone there?")))
            async for _ in stream:
                pass
    await asyncio.gather(feeding, return_exceptions=True)
    assert [e.recoverable for e in errors] == [True, False]


# -- in LiveKit's voice pipeline (AgentSession) -----------------------------------------------


@pytest.mark.asyncio
async def test_an_agent_session_speaks_the_reply_and_its_transcript_is_the_spoken_words(synth):
    reply = '[happy] What great news! <emotion name="sad">I am sorry it took so long.</emotion> (sighs)'
    session, audio, text = await started_session(EmottsTTS(synth), reply)
    try:
        result = await session.run(user_input="My parcel arrived at last.")
        message = result.expect.next_event().is_message(role="assistant")
        result.expect.no_more_events()
    finally:
        await session.aclose()
    # LiveKit took the transcript from the word timings: the words as spoken, no markup
    assert message.event().item.text_content.strip() == "What great news! I am sorry it took so long."
    # and the transcript sink was given them word by word, each with its time
    words = [t for t in text.texts if isinstance(t, TimedString)]
    assert "".join(words) == "".join(text.texts) == "What great news! I am sorry it took so long. "
    assert len(words) == 10 and [w.start_time for w in words] == sorted(w.start_time for w in words)
    played, rate = samples(audio.frames)
    assert rate == 22050 and len(played) / rate > words[-1].end_time


@pytest.mark.asyncio
async def test_interrupting_an_agent_session_stops_rendering(synth, monkeypatch):
    renders = RenderCounter(monkeypatch, synth)
    session, audio, _ = await started_session(EmottsTTS(synth), sentences(8, "session"))
    try:
        handle = session.generate_reply(user_input="Tell me everything.")
        while not audio.frames:
            await asyncio.sleep(0.005)
        await session.interrupt()
        interrupted_at = time.perf_counter()
        heard = len(audio.frames)
        assert await renders.settled(within_s=1.0)
        await asyncio.sleep(0.2)
        assert handle.interrupted and handle.done()
        assert len(audio.frames) == heard
        assert [t for t in renders.started if t > interrupted_at] == []
        assert 1 <= len(renders.started) < 8
    finally:
        await session.aclose()


@pytest.mark.asyncio
async def test_a_malformed_reply_takes_livekits_error_path_and_the_session_goes_on(synth):
    session, audio, _ = await started_session(EmottsTTS(synth), HOSTILE, "Sorry, let me say that again.")
    errors = []
    session.on("error", errors.append)
    try:
        await session.run(user_input="Hello?")
        assert [(type(e.error.error), e.error.recoverable) for e in errors] == [(APIStatusError, False)]
        assert audio.frames == []
        result = await session.run(user_input="Pardon?")
        result.expect.next_event().is_message(role="assistant")
    finally:
        await session.aclose()
    assert len(errors) == 1 and samples(audio.frames)[0].size > 0
