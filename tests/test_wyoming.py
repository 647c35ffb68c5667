"""The Wyoming server through the ``wyoming`` package's own client, on a real loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import socket
import threading
import time
from typing import Callable

import numpy as np
import pytest
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.info import Describe, Info
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from emotts_plugin import __version__
from emotts_plugin.adapters.wyoming import run_wyoming
from emotts_plugin.config import load_config
from emotts_plugin.models.measure import f0_stats
from emotts_plugin.synthesizer import Synthesizer

TIMEOUT = 30.0


@pytest.fixture(scope="module")
def synth():
    return Synthesizer(dataclasses.replace(load_config([]), noise=False))


@contextlib.contextmanager
def _serving(uri: str, synth, ready: Callable[[], None]):
    """Run the Wyoming server on ``uri`` in a background loop until the block ends."""
    loop = asyncio.new_event_loop()
    task = loop.create_task(run_wyoming(uri, synth))

    def serve():
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    for _ in range(100):  # wait until it listens
        try:
            ready()
            break
        except OSError:
            threading.Event().wait(0.05)
    try:
        yield
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(timeout=5)


@contextlib.contextmanager
def serving_tcp(synth):
    """Run the Wyoming server on a free loopback port until the block ends; yields the port."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        free = probe.getsockname()[1]
    with _serving(
        f"tcp://127.0.0.1:{free}",
        synth,
        lambda: socket.create_connection(("127.0.0.1", free), timeout=0.2).close(),
    ):
        yield free


@pytest.fixture(scope="module")
def port(synth):
    with serving_tcp(synth) as free:
        yield free


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, TIMEOUT))


async def _until(client, *types):
    """Events up to and including the first of ``types``."""
    events = []
    while True:
        event = await client.read_event()
        assert event is not None, "server closed the connection"
        events.append(event)
        if event.type in types:
            return events


def _cycles(events):
    """(rate, samples as float array) for each audio-start .. audio-stop cycle."""
    cycles, current, rate = [], None, None
    for event in events:
        if AudioStart.is_type(event.type):
            assert current is None
            current, rate = [], AudioStart.from_event(event).rate
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            assert (chunk.rate, chunk.width, chunk.channels) == (rate, 2, 1)
            assert chunk.samples <= 1024
            current.append(chunk.audio)
        elif AudioStop.is_type(event.type):
            audio = np.frombuffer(b"".join(current), dtype="<i2").astype(np.float32) / 32768.0
            cycles.append((rate, audio))
            current = None
    assert current is None
    return cycles


async def _synthesize(port, text, voice=None, speaker=None):
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(
            Synthesize(text=text, voice=SynthesizeVoice(name=voice, speaker=speaker)).event()
        )
        return await _until(client, "audio-stop", "error")


def test_describe_lists_voices_with_emotion_speakers(port, synth):
    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            return await _until(client, "info")

    info = Info.from_event(run(go())[-1])
    assert len(info.tts) == 1
    program = info.tts[0]
    assert program.supports_synthesize_streaming
    assert program.attribution.name == "emotts" and isinstance(program.attribution.url, str)
    assert program.version == __version__
    voices = {voice.name: voice for voice in program.voices}
    labels = list(synth.runtime.space.labels)
    emotional = [label for label in labels if label != "neutral"]
    # every voice as itself, and once per emotion as VOICE+EMOTION
    assert set(voices) == {
        name for v in synth.voices() for name in [v.name, *(f"{v.name}+{label}" for label in emotional)]
    }
    joe = voices["joe"]
    assert joe.languages == ["en-US"] and joe.installed
    assert [s.name for s in joe.speakers] == labels
    assert {"calm", "afraid", "shouting"} <= {s.name for s in joe.speakers}
    calm = voices["joe+calm"]
    assert calm.languages == ["en-US"] and calm.installed and not calm.speakers
    assert calm.description == "joe, calm"


def test_every_emotion_speaker_speaks_and_changes_the_pitch(port, synth):
    text = "The package has arrived at the front door."
    medians = {}
    for speaker in synth.runtime.space.labels:
        events = run(_synthesize(port, text, "joe", speaker))
        assert events[-1].type == "audio-stop"
        [(rate, audio)] = _cycles(events)
        assert rate == 22050 and len(audio) > rate // 2
        medians[speaker] = f0_stats(audio, rate).median_st
    assert medians["happy"] > medians["sad"] + 2, medians


def test_ssml_input_is_spoken(port):
    ssml = (
        '<speak>Hello <emphasis>there</emphasis>.<break time="300ms"/> '
        '<prosody rate="slow">Goodbye.</prosody></speak>'
    )
    events = run(_synthesize(port, ssml))
    assert events[-1].type == "audio-stop"
    [(rate, audio)] = _cycles(events)
    assert np.abs(audio).max() > 0.05


def test_stream_split_mid_word_and_mid_tag_gives_one_cycle_per_sentence(port):
    deltas = ["The do", "or is op", "en. <emo", 'tion name="sad">I am', " sorry.</emo", "tion> Good", "bye"]

    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(
                SynthesizeStart(voice=SynthesizeVoice(name="joe", speaker="calm")).event()
            )
            for delta in deltas:
                await client.write_event(SynthesizeChunk(text=delta).event())
            # Home Assistant's compatibility copy: must not be spoken twice.
            await client.write_event(
                Synthesize(text="".join(deltas), voice=SynthesizeVoice(name="joe")).event()
            )
            await client.write_event(SynthesizeStop().event())
            return await _until(client, "synthesize-stopped", "error")

    events = run(go())
    assert SynthesizeStopped.is_type(events[-1].type)
    assert not any(Error.is_type(e.type) for e in events)
    cycles = _cycles(events)
    assert len(cycles) == 3
    assert {rate for rate, _ in cycles} == {22050}
    assert all(len(audio) > 2000 for _, audio in cycles)


@pytest.mark.parametrize(
    ("voice", "speaker", "code"),
    [("nobody", None, "WyomingRequestError"), ("joe", "grumpy-ish", "WyomingRequestError")],
)
def test_unknown_voice_or_speaker_is_an_error_event_then_the_close(port, voice, speaker, code):
    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(
                Synthesize(text="Hello.", voice=SynthesizeVoice(name=voice, speaker=speaker)).event()
            )
            first = await _until(client, "error", "audio-stop")
            after = (
                await client.read_event()
            )  # the server hangs up: a client waiting for audio is not left waiting
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Describe().event())
            second = await _until(client, "info")
        return first, after, second

    first, after, second = run(go())
    error = Error.from_event(first[-1])
    assert error.code == code and (voice in error.text or speaker in error.text)
    assert after is None
    assert second[-1].type == "info"


def test_garbage_then_the_next_client_is_served(port):
    async def garbage():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"\x00\xffnot json at all\n[1, 2]\n")
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), 10)  # server answers and/or closes
        writer.close()
        return data

    assert b'"error"' in run(garbage())
    events = run(_synthesize(port, "Still here."))
    assert events[-1].type == "audio-stop"


def test_client_leaving_mid_stream_does_not_hurt_the_next(port):
    async def leave():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="joe")).event())
            await client.write_event(
                SynthesizeChunk(text="One long sentence to speak. Another one follows. And a third").event()
            )
            await client.read_event()  # audio has started; now vanish

    run(leave())
    events = run(_synthesize(port, "Next client.", "joe", "happy"))
    assert events[-1].type == "audio-stop"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class _ServeProcess:
    """``emotts ARGS`` in a child process; its standard error read line by line as it comes."""

    def __init__(self, *args: str) -> None:
        import subprocess
        import sys
        from pathlib import Path

        self.process = subprocess.Popen(
            [str(Path(sys.executable).with_name("emotts")), *args], stderr=subprocess.PIPE, text=True
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, prefix: str, timeout: float = 60.0) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [line for line in self.lines if line.startswith(prefix)]
            if found:
                return found[0]
            assert self.process.poll() is None, "\n".join(self.lines)
            time.sleep(0.05)
        raise AssertionError(f"no line starting {prefix!r} in {self.lines}")

    def stop(self) -> str:
        """SIGTERM; the exit status must be 0; everything it wrote to standard error."""
        self.process.terminate()
        assert self.process.wait(timeout=30) == 0
        self._reader.join(timeout=5)
        return "\n".join(self.lines)


def _unknown_voice(port: int) -> Error:
    async def go():
        async with AsyncTcpClient("127.0.0.1", port) as client:
            await client.write_event(Synthesize(text="Hi.", voice=SynthesizeVoice(name="nobody")).event())
            return await client.read_event()

    return Error.from_event(run(go()))


def test_serve_command_runs_wyoming_alone_says_ready_and_logs_errors():
    import subprocess
    import sys
    from pathlib import Path

    emotts = str(Path(sys.executable).with_name("emotts"))
    assert (
        subprocess.run([emotts, "serve", "--no-http"], capture_output=True, text=True, timeout=60).returncode
        == 2
    )
    port = _free_port()
    server = _ServeProcess("serve", "--no-http", "--wyoming", f"tcp://127.0.0.1:{port}")
    try:
        ready = server.wait_for("emotts: ready:")
        assert ready == f"emotts: ready: Wyoming tcp://127.0.0.1:{port} (Ctrl+C to stop)"

        async def describe():
            async with AsyncTcpClient("127.0.0.1", port) as client:
                await client.write_event(Describe().event())
                return await client.read_event()

        event = run(describe())  # listening by the time it says so
        assert Info.is_type(event.type)
        assert Info.from_event(event).tts[0].voices[0].name == "joe"
        assert _unknown_voice(port).code == "WyomingRequestError"
        # without -v: the error is logged, debug messages are not
        logged = server.wait_for("ERROR emotts_plugin.adapters.wyoming: Wyoming client 127.0.0.1:")
        assert "unknown voice 'nobody'" in logged
    finally:
        err = server.stop()
    assert "DEBUG" not in err


def test_serve_names_every_address_when_ready_and_honours_quiet_and_verbose():
    http, wyoming, audiosocket = _free_port(), _free_port(), _free_port()
    server = _ServeProcess(
        "serve",
        "-q",
        "--port",
        str(http),
        "--wyoming",
        f"tcp://127.0.0.1:{wyoming}",
        "--audiosocket",
        f"127.0.0.1:{audiosocket}",
    )
    try:
        ready = server.wait_for("emotts: ready:")
        assert ready == (
            f"emotts: ready: HTTP http://127.0.0.1:{http}, AudioSocket 127.0.0.1:{audiosocket}, "
            f"Wyoming tcp://127.0.0.1:{wyoming} (Ctrl+C to stop)"
        )
        for port in (http, wyoming, audiosocket):  # each one listens
            socket.create_connection(("127.0.0.1", port), timeout=5).close()
        _unknown_voice(wyoming)
        server.wait_for("ERROR emotts_plugin.adapters.wyoming:")  # -q: errors still logged
    finally:
        err = server.stop()
    assert not [line for line in err.splitlines() if line.startswith(("WARNING", "INFO", "DEBUG"))]

    port = _free_port()
    server = _ServeProcess("serve", "--no-http", "--wyoming", f"tcp://127.0.0.1:{port}", "-v")
    try:
        server.wait_for("emotts: ready:")
        _unknown_voice(port)
        server.wait_for("ERROR emotts_plugin.adapters.wyoming:")
        # -v after the command, too: the Wyoming server's debug messages
        server.wait_for("DEBUG emotts_plugin.adapters.wyoming: Wyoming server on 127.0.0.1 is not announced")
    finally:
        server.stop()


def test_unix_socket_server(synth, tmp_path):
    from wyoming.client import AsyncClient

    path = tmp_path / "emotts.sock"

    def ready():
        with socket.socket(socket.AF_UNIX) as probe:
            probe.connect(str(path))

    async def speak():
        async with AsyncClient.from_uri(f"unix://{path}") as client:
            await client.write_event(
                Synthesize(text="Hello over a unix socket.", voice=SynthesizeVoice(speaker="calm")).event()
            )
            return await _until(client, "audio-stop", "error")

    with _serving(f"unix://{path}", synth, ready):
        (cycle,) = _cycles(run(speak()))
    assert len(cycle[1]) / cycle[0] > 0.8


@pytest.mark.parametrize(
    "raw",
    [
        b'{"type": "launch-missiles", "data": {"now": true}}\n',
        b'{"type": "synthesize", "data": {"text": 5}}\n',
        b'{"type": "synthesize", "data": "not an object"}\n',
        b'{"type": "synthesize", "data_length": 999999999}\n' + b"{" * 64,
        b'{"type": "synthesize", "data_length": 100}\n{"text": "cut off',
        b'{"type": "synthesize-chunk", "data": {"text": "chunk before start"}}\n',
        b'{"type": "synthesize-stop"}\n',
        b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        b'{"type": ' + b"[" * 5000 + b"\n",
    ],
    ids=[
        "unknown-type",
        "text-not-string",
        "data-not-object",
        "huge-data-length",
        "cut-mid-event",
        "chunk-before-start",
        "stop-alone",
        "binary",
        "deep-json",
    ],
)
def test_malformed_events_end_only_that_client(port, raw):
    async def send():
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(raw)
        await writer.drain()
        writer.write_eof()
        data = await asyncio.wait_for(reader.read(), 10)  # an error event, or just the close
        writer.close()
        return data

    answer = run(send())
    assert b'"audio-start"' not in answer  # nothing malformed is spoken
    if answer:
        assert b'"error"' in answer, answer[:200]
    events = run(_synthesize(port, "Next client, please."))
    assert events[-1].type == "audio-stop"
