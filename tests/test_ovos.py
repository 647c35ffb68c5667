"""OpenVoiceOS plugin: ovos-plugin-manager finds and loads ``ovos-tts-plugin-emotts`` by its entry
point and the plugin speaks through the template's own interface (``get_tts``, ``synth``,
``execute`` into the playback queue, ``stream_tts`` / ``generate_audio``), on the real bundled
voice with noise off.

Nothing here reaches the network or a messagebus: every socket connection other than to a
loopback address is refused (and the messagebus port too), the bus is ovos-utils' in-process
``FakeBus``, and ovos-audio's playback thread (ovos-audio is a service, not installed) is a
stand-in with the methods ``TTS.init`` calls.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import ipaddress
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Queue

import numpy as np
import parselmouth
import pytest

from conftest import extra_installed, extra_skip_reason

if not extra_installed("ovos"):
    pytest.skip(extra_skip_reason("ovos"), allow_module_level=True)
import soundfile
from ovos_bus_client.message import Message
from ovos_plugin_manager.templates.tts import (
    TTS,
    RemoteTTSException,
    StreamingTTSCallbacks,
    TTSContext,
)
from ovos_plugin_manager.tts import OVOSTTSFactory, find_tts_plugins, load_tts_plugin
from ovos_utils.fakebus import FakeBus

from emotts_plugin.adapters import ovos
from emotts_plugin.adapters.ovos import EmottsOVOSTTS
from emotts_plugin.errors import ConfigError, HostileInputError, UnknownEmotionError, UnknownVoiceError

ROOT = Path(__file__).resolve().parents[1]
PLUGIN = "ovos-tts-plugin-emotts"
BUS_PORT = 8181  # where an OVOS messagebus listens
SENTENCE = "We found the keys under the sofa this morning."
#: Eight short sentences: a render in flight at a stop is brief even on a loaded machine.
LONG_REPLY = " ".join(f"Step {word} is done." for word in "one two three four five six seven eight".split())


# --------------------------------------------------------------------------
# Fixtures
# --------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Refuse every TCP connection except to loopback, and the messagebus port there too."""
    real = socket.socket.connect
    refused: list = []

    def guarded(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host, port = address[0], address[1]
            try:
                loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
            except ValueError:
                loopback = False
            if not loopback or port == BUS_PORT:
                refused.append(address)
                raise ConnectionRefusedError(f"test refuses a connection to {address}")
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield
    assert not refused, f"something tried the network or a messagebus: {refused}"


@pytest.fixture(autouse=True)
def ovos_state(monkeypatch):
    """The template's class-level state (playback queue, playback thread, sentence caches), fresh
    for each test."""
    monkeypatch.setattr(TTS, "queue", Queue())
    monkeypatch.setattr(TTS, "playback", None)
    monkeypatch.setattr(TTSContext, "_caches", {})


@pytest.fixture(scope="module")
def emotts_config(tmp_path_factory) -> str:
    """An emotts configuration file with the voice's noise off (deterministic renders)."""
    path = tmp_path_factory.mktemp("emotts") / "emotts.yaml"
    path.write_text("noise: false\n", encoding="utf-8")
    return str(path)


@pytest.fixture
def make(emotts_config, tmp_path):
    """Build the plugin as ovos-audio does: ``OVOSTTSFactory.create`` with a ``tts`` section."""
    made: list[EmottsOVOSTTS] = []

    def _make(**settings) -> EmottsOVOSTTS:
        block = {"emotts_config": emotts_config, "preloaded_cache": str(tmp_path / "cache"), **settings}
        tts = OVOSTTSFactory.create({"module": PLUGIN, PLUGIN: block})
        made.append(tts)
        return tts

    yield _make
    for tts in made:
        tts.stop_rendering()


@pytest.fixture(scope="module")
def warm(emotts_config):
    """The shared synthesizer, after its first (slow) render."""
    tts = EmottsOVOSTTS({"emotts_config": emotts_config})
    tts.voice_engine.synthesizer.synthesize("Ready.")
    return tts.voice_engine.synthesizer


def semitones(path_or_samples, rate: int | None = None) -> float:
    """Median F0 (semitones re 100 Hz) of a WAV file or of samples."""
    if rate is None:
        samples, rate = soundfile.read(str(path_or_samples), dtype="float64")
    else:
        samples = path_or_samples
    pitch = parselmouth.Sound(samples, rate).to_pitch().selected_array["frequency"]
    voiced = pitch[pitch > 0]
    assert len(voiced) > 20, "too little voiced speech to measure"
    return float(12 * np.log2(np.median(voiced) / 100.0))


def queued() -> list[tuple]:
    """What the plugin put in the template's playback queue: (wav, visemes, listen, tts_id, message)."""
    items = []
    while not TTS.queue.empty():
        items.append(TTS.queue.get_nowait())
    return items


class RenderCounter:
    """Wraps a synthesizer's ``_render``: how many started, when, and how many are in flight."""

    def __init__(self, monkeypatch, synthesizer) -> None:
        self.started: list[float] = []
        self.in_flight = 0
        self.first = threading.Event()
        self._lock = threading.Lock()
        real = synthesizer._render

        def counted(*args, **kwargs):
            with self._lock:
                self.started.append(time.monotonic())
                self.in_flight += 1
            self.first.set()
            try:
                return real(*args, **kwargs)
            finally:
                with self._lock:
                    self.in_flight -= 1

        monkeypatch.setattr(synthesizer, "_render", counted)

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.in_flight == 0:
                return True
            time.sleep(0.01)
        return self.in_flight == 0


class Playback:
    """Stand-in for ovos-audio's PlaybackThread: what ``TTS.init`` touches."""

    enclosure = object()

    def set_bus(self, bus) -> None:
        self.bus = bus

    def is_alive(self) -> bool:
        return True

    def stop(self) -> None:
        pass


class Player(StreamingTTSCallbacks):
    """The template's streaming callbacks, recording instead of piping to a player process."""

    def __init__(self, bus) -> None:
        super().__init__(bus, play_args=["recorder"])
        self.chunks: list[tuple[float, bytes]] = []
        self.events: list[str] = []
        self.audio = threading.Event()
        self.hold = threading.Event()
        self.hold.set()

    def stream_start(self, message=None) -> None:
        self.events.append("start")

    def stream_chunk(self, chunk) -> None:
        self.chunks.append((time.monotonic(), chunk))
        if not chunk.startswith(b"RIFF"):
            self.audio.set()
            self.hold.wait(10)

    def stream_stop(self, listen=False, message=None) -> None:
        self.events.append(f"stop listen={listen}")


# --------------------------------------------------------------------------
# Discovery and loading
# --------------------------------------------------------------------------


def test_ovos_finds_and_loads_the_plugin_by_its_entry_point():
    (entry,) = [ep for ep in importlib.metadata.entry_points(group="opm.tts") if ep.name == PLUGIN]
    assert entry.value == "emotts_plugin.adapters.ovos:EmottsOVOSTTS"
    assert find_tts_plugins()[PLUGIN] is EmottsOVOSTTS
    assert load_tts_plugin(PLUGIN) is EmottsOVOSTTS
    assert OVOSTTSFactory.get_class({"module": PLUGIN}) is EmottsOVOSTTS


def test_factory_builds_it_and_it_writes_a_wav(make, warm, tmp_path):
    tts = make(voice="joe")
    assert isinstance(tts, EmottsOVOSTTS) and tts.plugin_id == PLUGIN
    assert tts.bus is None  # nothing attached a messagebus
    assert {"speak", "emotion", "prosody", "express-as", "break"} <= set(tts.ssml_tags)

    wav, phonemes = tts.get_tts(SENTENCE, str(tmp_path / "out.wav"))
    samples, rate = soundfile.read(wav, dtype="float32")
    assert rate == 22050 and samples.ndim == 1
    assert 1.5 < len(samples) / rate < 6.0
    assert np.sqrt(np.mean(samples**2)) > 0.02  # speech, not silence
    assert isinstance(phonemes, str) and phonemes

    # through the template's cache: the same sentence is read back, not rendered again
    audio, _ = tts.synth(SENTENCE)
    again, _ = tts.synth(SENTENCE)
    assert str(audio) == str(again) and Path(str(audio)).is_file()


def test_execute_queues_one_wav_per_sentence_with_visemes(make, warm):
    tts = make()
    tts.execute("Hello there. How are you today? I hope you slept well.", listen=True)
    items = queued()
    assert len(items) == 3
    for index, (wav, visemes, listen, tts_id, message) in enumerate(items):
        assert soundfile.info(wav).duration > 0.3
        assert visemes and all(code in "0123456" for code, _ in visemes)
        assert listen is (index == 2)  # listening only after the last sentence
        assert tts_id.startswith(f"{PLUGIN}/")
        assert isinstance(message, Message)


# --------------------------------------------------------------------------
# Markup and emotion
# --------------------------------------------------------------------------

MARKUP = [
    '<speak><emotion name="sad" intensity="0.8">I lost it.</emotion></speak>',
    '<prosody rate="slow" pitch="+10%">Slowly now.</prosody>',
    '<amazon:emotion name="excited" intensity="high">We won!</amazon:emotion>',
    '<mstts:express-as style="cheerful" styledegree="2">Great news.</mstts:express-as>',
    "[sad] I am so sorry. (sighs) It happens.",
    "Is 3 < 5? Yes, and 7 > 4.",
    '<emotionml><emotion><category name="happy"/>Yay.</emotion></emotionml>',
]


#: Tags, bracket cues and stage directions: what must reach the engine as written.
TOKENS = re.compile(r"<[^<>]+>|\[\w+\]|\(\w+\)")


@pytest.mark.parametrize("text", MARKUP)
def test_markup_reaches_the_engine_intact(make, text, monkeypatch):
    tts = make()
    assert tts.validate_ssml(text) == text
    received: list[str] = []

    def get_tts(sentence, wav_file, lang=None, voice=None):
        received.append(sentence)
        return wav_file, None

    monkeypatch.setattr(tts, "get_tts", get_tts)
    tts.execute(text)  # the whole path ovos-audio takes: validate_ssml, sentences, synth, queue
    assert received and len(queued()) == len(received)
    heard = "".join(received)
    for token in TOKENS.findall(text):
        assert token in heard
    assert heard.count("<") >= text.count("<")  # nothing stripped (open markup is re-opened)


def test_emotion_from_the_configuration_moves_f0(make, warm, tmp_path):
    """Per-session default emotion and intensity: the plugin's configuration block."""
    heard = {}
    for name, settings in {
        "neutral": {},
        "happy": {"emotion": "happy"},
        "happy 0.4": {"emotion": "happy", "intensity": 0.4},
        "sad": {"emotion": "sad"},
    }.items():
        wav, _ = make(**settings).get_tts(SENTENCE, str(tmp_path / f"{name}.wav"))
        heard[name] = semitones(wav)
    assert heard["happy"] > heard["sad"] + 1.5
    assert heard["happy"] > heard["happy 0.4"] + 0.5 > heard["neutral"] + 1.0  # intensity scales it


def test_emotion_from_markup_in_the_utterance_moves_f0(make, warm):
    tts = make()
    tts.execute(f'<emotion name="happy">{SENTENCE}</emotion> [sad] {SENTENCE}')
    happy, sad = (semitones(item[0]) for item in queued())
    assert happy > sad + 1.5


def test_voice_and_language_knobs(make, warm):
    with pytest.raises(UnknownVoiceError, match="available voices"):
        make(voice="nobody")
    tts = make(voice="joe")
    assert tts.voice == "joe"
    with pytest.raises(UnknownVoiceError, match="fr-FR"):  # the session's language has no voice
        tts.get_tts(SENTENCE, "/dev/null", lang="fr-FR")
    assert tts._changes("en-US", None) == {"voice": "joe"}


def test_voice_listing_for_the_plugin_manager():
    configs = ovos.voice_configs()
    joe = [c for c in configs["en-US"] if c["voice"] == "joe"]
    assert joe[0] == {
        "voice": "joe",
        "meta": {"gender": "male", "offline": True, "display_name": "joe", "priority": 40},
    }
    assert {c.get("emotion") for c in joe} >= {None, "happy", "sad", "calm"}
    assert ovos.EmottsOVOSTTSConfig == configs
    assert "en-US" in EmottsOVOSTTS.available_languages


# --------------------------------------------------------------------------
# Word timings → visemes
# --------------------------------------------------------------------------


def test_word_timings_reach_the_mouth_track(make, warm, tmp_path, monkeypatch):
    tts = make()
    spoken = []
    real = tts._collect

    async def collect(*args):
        spoken.extend(await real(*args))
        return spoken

    monkeypatch.setattr(tts, "_collect", collect)
    wav, phonemes = tts.get_tts("Hello there, my old friend.", str(tmp_path / "w.wav"))
    words = [w for s in spoken for w in s.words]
    assert [w.text for w in words] == ["Hello", "there", "my", "old", "friend"]

    visemes = tts.viseme(phonemes)  # the template's own phoneme → viseme mapping
    ends = [end for _, end in visemes]
    assert ends == sorted(ends)
    assert ends[-1] == pytest.approx(soundfile.info(wav).duration, abs=0.002)
    for word in words:  # the mouth moves on each word's own span
        assert min(abs(end - word.end_s) for end in ends) < 0.002
        inside = [code for code, end in visemes if word.start_s + 0.01 < end <= word.end_s + 0.001]
        assert inside and any(code != "4" for code in inside), word
    assert visemes[0][0] == "4"  # silence before the first word


# --------------------------------------------------------------------------
# Streaming and stopping
# --------------------------------------------------------------------------


def test_stream_tts_yields_a_header_then_audio_and_generate_audio_writes_a_wav(make, warm, tmp_path):
    tts = make()

    async def collect():
        return [chunk async for chunk in tts.stream_tts("First part. Second part.")]

    chunks = asyncio.run(collect())
    assert chunks[0][:4] == b"RIFF" and len(chunks[0]) == 44
    assert len(chunks) == 3 and all(len(c) > 4000 for c in chunks[1:])

    wav = str(tmp_path / "streamed.wav")
    asyncio.run(tts.generate_audio("First part. Second part.", wav, play_streaming=False))
    info = soundfile.info(wav)
    assert info.frames == sum(len(c) for c in chunks[1:]) // 2 and info.samplerate == 22050


def test_a_stop_message_ends_a_stream_mid_reply(make, warm, monkeypatch):
    tts = make(enable_streaming=True)
    bus, player = FakeBus(), Player(None)
    tts.init(bus, playback=Playback(), callbacks=player)
    renders = RenderCounter(monkeypatch, tts.voice_engine.synthesizer)
    player.hold.clear()  # the first audio waits in the player until the stop has been sent

    speaking = threading.Thread(target=tts.execute, args=(LONG_REPLY,), kwargs={"listen": True})
    speaking.start()
    assert player.audio.wait(30)
    bus.emit(Message("mycroft.stop"))  # what a stop (or barge-in) sends over the bus
    stopped_at = time.monotonic()
    chunks_at_stop = len(player.chunks)
    player.hold.set()

    assert renders.wait_idle(1.0), "a render was still in flight 1 s after the stop"
    speaking.join(5)
    assert not speaking.is_alive()
    time.sleep(0.3)
    assert len(player.chunks) == chunks_at_stop, "audio arrived after the stop"
    assert not [t for t in renders.started if t > stopped_at], "a render started after the stop"
    assert len(renders.started) < 8  # the reply had 8 sentences
    assert player.events == ["start", "stop listen=False"]  # no listening after a stopped reply
    assert not queued()


def test_stop_ends_an_utterance_spoken_sentence_by_sentence(make, warm, monkeypatch):
    tts = make()
    bus = FakeBus()
    tts.init(bus, playback=Playback())
    renders = RenderCounter(monkeypatch, tts.voice_engine.synthesizer)
    errors: list[BaseException] = []

    def speak():
        try:
            tts.execute(LONG_REPLY.replace("done", "next"))
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    speaking = threading.Thread(target=speak)
    speaking.start()
    assert renders.first.wait(30)
    bus.emit(Message("ovos.audio.stop"))
    stopped_at = time.monotonic()
    assert renders.wait_idle(1.0)
    speaking.join(5)
    assert not speaking.is_alive() and not errors
    assert not [t for t in renders.started if t > stopped_at]
    assert not queued()  # the sentence rendering at the stop is not played either


# --------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------


def test_bad_markup_raises_a_value_error_before_anything_is_queued(make, warm):
    tts = make()
    hostile = '<!DOCTYPE x [<!ENTITY a "aaaa">]><speak>&a;</speak>'
    with pytest.raises(HostileInputError) as caught:
        tts.execute(hostile)
    assert isinstance(caught.value, ValueError)  # ovos-audio logs it and speaks with its fallback TTS
    assert not queued()
    with pytest.raises(HostileInputError):
        tts.synth(hostile)
    assert not tts._get_ctxt().get_cache("wav", tts.config).cached_sentences
    tts.execute("Still here.")  # the plugin keeps working
    assert len(queued()) == 1


@pytest.mark.parametrize(
    ("settings", "error"),
    [({"emotion": "gleeful-ish"}, UnknownEmotionError), ({"intensity": 3}, ConfigError)],
)
def test_a_bad_configuration_fails_in_the_factory_not_the_loader(make, settings, error):
    with pytest.raises(error):
        make(**settings)
    assert find_tts_plugins()[PLUGIN] is EmottsOVOSTTS


# --------------------------------------------------------------------------
# Remote emotts serve
# --------------------------------------------------------------------------


@pytest.fixture
def server(warm):
    """``emotts serve`` (the HTTP adapter) on a loopback port, in a thread."""
    from aiohttp import web

    from emotts_plugin.adapters.http import create_app

    loop = asyncio.new_event_loop()
    runner = web.AppRunner(create_app(warm.config, synthesizer=warm))
    state: dict = {}
    started = threading.Event()

    def run() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", 0).start())
        state["port"] = runner.addresses[0][1]
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    assert started.wait(30)
    yield f"http://127.0.0.1:{state['port']}"
    asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(30)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(30)
    loop.close()


def test_remote_url_renders_on_emotts_serve(make, server, tmp_path):
    tts = make(url=server, emotion="happy")
    assert tts.voice_engine.synthesizer is None
    wav, phonemes = tts.get_tts(SENTENCE, str(tmp_path / "remote.wav"))
    info = soundfile.info(wav)
    assert info.samplerate == ovos.REMOTE_SAMPLE_RATE and info.duration > 1.5
    assert phonemes and tts.viseme(phonemes)[-1][1] == pytest.approx(info.duration, abs=0.002)
    # the server's refusal comes back as a ValueError (the bridge reads the answer's "type",
    # "invalid_request_error", where the HTTP adapter names the class in "code")
    with pytest.raises(ValueError, match="DOCTYPE"):
        tts.get_tts('<!DOCTYPE x [<!ENTITY a "b">]><speak>&a;</speak>', str(tmp_path / "x.wav"))


def test_an_unreachable_server_raises_the_templates_remote_error(make, tmp_path):
    with contextlib.closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    tts = make(url=f"http://127.0.0.1:{port}")
    with pytest.raises(RemoteTTSException, match="emotts server"):
        tts.get_tts(SENTENCE, str(tmp_path / "x.wav"))


# --------------------------------------------------------------------------
# The example
# --------------------------------------------------------------------------


def test_the_example_runs(tmp_path):
    out = tmp_path / "demo.wav"
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "ovos_demo.py"), str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "streamed 4 sentences" in result.stdout
    assert soundfile.info(str(out)).duration > 3.0
