"""Offline at the packet level: ``emotts serve`` (HTTP + Wyoming) reaches nothing but loopback.

The server runs under ``strace -f`` with ``$HOME`` in a temporary folder and a bare environment
(no ``CI``, no ``ORT_*``: onnxruntime's telemetry also stays quiet when it sees those, which would
hide a missing opt-out). Every route is driven once through real clients, the server is kept up
past the moment onnxruntime's uploader first looks up its collector (measured: about 9 s after
onnxruntime is imported, again about every 5 s), then the trace is read: no ``connect``/``send*``
to a non-loopback address, no connect to a name-service socket (a DNS lookup), nothing
written under ``$HOME/.cache/Microsoft``, and under ``$HOME`` nothing outside emotts's own cache.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest
import soundfile
from wyoming.audio import AudioStop
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app

STRACE = shutil.which("strace")
#: How long the server stays up after it first answers /healthz. The voice, and with it
#: onnxruntime, loads before that; onnxruntime's first lookup came 9.1-9.4 s after its import.
WATCH_S = 12.0
#: Start-up under strace, from launch to the first /healthz answer.
START_TIMEOUT_S = 60.0
#: Unix sockets through which glibc resolves host names (nscd, systemd-resolved): a connect to one
#: is a name lookup even when the socket is missing and the lookup then goes to the DNS server.
NAME_SERVICE_SOCKETS = ("/var/run/nscd/socket", "/run/nscd/socket", "/run/systemd/resolve/")
SENDING_CALLS = ("connect", "sendto", "sendmsg", "sendmmsg")
SPEECH = "The keys were in the car all along, which nobody had thought to check."

_CALL = re.compile(r"^(?:\[pid\s+)?\d+\]?\s+(?:[\d:.]+\s+)?(\w+)\(")
_INET = re.compile(r'sa_family=AF_INET, sin_port=htons\((\d+)\), sin_addr=inet_addr\("([^"]+)"\)')
_INET6 = re.compile(r'sa_family=AF_INET6, sin6_port=htons\((\d+)\).*?inet_pton\(AF_INET6, "([^"]+)"')
_UNIX = re.compile(r'sa_family=AF_UNIX, sun_path=@?"([^"]*)"')


def leaks(trace: str) -> list[str]:
    """Lines of an ``strace -f -e trace=connect,sendto,sendmsg`` log that reach past this machine.

    IPv4 outside 127.0.0.0/8, IPv6 other than ``::1`` (or IPv4-mapped loopback), and connects to
    a name-service socket count; loopback, other unix sockets and netlink (kernel-local) do not.
    """
    found = []
    for line in trace.splitlines():
        call = _CALL.match(line)
        if call is None or call.group(1) not in SENDING_CALLS:
            continue
        for _port, address in _INET.findall(line):
            if not address.startswith("127."):
                found.append(line)
        for _port, address in _INET6.findall(line):
            if address != "::1" and not address.startswith("::ffff:127."):
                found.append(line)
        for path in _UNIX.findall(line):
            if path.startswith(NAME_SERVICE_SOCKETS):
                found.append(line)
    return list(dict.fromkeys(found))


# Lines recorded from `emotts serve` before onnxruntime's telemetry was switched off (its DNS
# queries then go out with sendto on the connected socket, so the connect is what names the
# address), and the same calls in their other shapes: a datagram sent to an address, IPv6.
BEFORE = [
    '5969  15:03:17.053965 connect(8, {sa_family=AF_UNIX, sun_path="/var/run/nscd/socket"}, '
    "110 <unfinished ...>",
    "5970  15:03:17.055497 connect(8, {sa_family=AF_INET, sin_port=htons(53), "
    'sin_addr=inet_addr("10.255.255.53")}, 16) = 0',
    '31 sendto(8, "\\262U\\1\\0"..., 50, MSG_NOSIGNAL, {sa_family=AF_INET, sin_port=htons(53), '
    'sin_addr=inet_addr("10.255.255.53")}, 16) = 50',
    "7 connect(3, {sa_family=AF_INET6, sin6_port=htons(443), sin6_flowinfo=htonl(0), "
    'inet_pton(AF_INET6, "2603:1030:b:3::152", &sin6_addr), sin6_scope_id=0}, 28) = -1 ENETUNREACH',
]
LOCAL = [
    '12 connect(9, {sa_family=AF_INET, sin_port=htons(7860), sin_addr=inet_addr("127.0.0.1")}, 16) = 0',
    "12 connect(9, {sa_family=AF_INET6, sin6_port=htons(7860), sin6_flowinfo=htonl(0), "
    'inet_pton(AF_INET6, "::1", &sin6_addr), sin6_scope_id=0}, 28) = 0',
    "12 sendto(4, [{nlmsg_len=20, nlmsg_type=RTM_GETADDR, nlmsg_flags=NLM_F_REQUEST|NLM_F_DUMP}], 20, 0, "
    "{sa_family=AF_NETLINK, nl_pid=0, nl_groups=00000000}, 12) = 20",
    '12 connect(5, {sa_family=AF_UNIX, sun_path="/tmp/emotts-wyoming.sock"}, 110) = 0',
]


@pytest.mark.parametrize("line", BEFORE)
def test_the_trace_reader_flags_lookups_and_remote_addresses(line):
    assert leaks(line) == [line]


@pytest.mark.parametrize("line", LOCAL)
def test_the_trace_reader_lets_loopback_netlink_and_local_sockets_pass(line):
    assert leaks(line) == []


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _bare_environment(home: Path) -> dict[str, str]:
    """What a service manager gives a process: no CI markers, no ORT_* switches, no cache overrides."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "LANG": "C.UTF-8",
        "EMOTTS_DISABLE_PLUGIN_AUTOLOAD": "1",
    }


def _emotts() -> list[str]:
    script = Path(sys.executable).with_name("emotts")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "emotts_plugin.cli"]


def _served_routes() -> set[tuple[str, str]]:
    """``(method, path pattern)`` of every route the HTTP app mounts (HEAD aside)."""
    app = create_app(load_config([]))
    return {
        (route.method, route.resource.canonical) for route in app.router.routes() if route.method != "HEAD"
    }


async def _drive(base: str, wyoming_port: int) -> set[tuple[str, str]]:
    """Every HTTP route and the Wyoming server once, each answered as a healthy server answers;
    the ``(method, path pattern)`` of each HTTP request made."""
    driven: set[tuple[str, str]] = set()
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(base, timeout=timeout) as http:

        async def call(method: str, pattern: str, status: int, parts: dict | None = None, **kwargs) -> bytes:
            driven.add((method, pattern))
            async with http.request(method, pattern.format(**(parts or {})), **kwargs) as response:
                assert response.status == status, (method, pattern, await response.text())
                return await response.read()

        for pattern in (
            "/healthz",
            "/metrics",
            "/v1/voices",
            "/v1/emotions",
            "/v1/audio/voices",
            "/v1/audio/models",
            "/v1/models",
            "/",
            "/v1/webui/options",
            "/v1/references",
        ):
            await call("GET", pattern, 200)
        await call("GET", "/static/{name}", 200, {"name": "app.js"})
        await call("GET", "/v1/models/{model}", 200, {"model": "tts-1"})
        await call(
            "POST",
            "/v1/plan",
            200,
            json={"input": "<speak><emotion name='happy'>Hi</emotion> there.</speak>"},
        )
        wav = await call("POST", "/v1/synthesize", 200, json={"input": SPEECH, "format": "wav"})
        audio, rate = soundfile.read(io.BytesIO(wav))
        assert len(audio) / rate > 2.0
        speech = {"model": "tts-1", "input": "Hello there.", "voice": "alloy", "response_format": "wav"}
        await call("POST", "/v1/audio/speech", 200, json=speech)
        page = {"input": "Hello there.", "emotion": "sad", "intensity": 0.5, "transition_ms": 0}
        await call("POST", "/v1/webui/render", 200, json=page)
        form = aiohttp.FormData()
        form.add_field("file", wav, filename="keys.wav", content_type="audio/wav")
        reference = json.loads(await call("POST", "/v1/references", 201, data=form))["id"]
        await call("GET", "/v1/references/{id}", 200, {"id": reference})
        await call("DELETE", "/v1/references/{id}", 200, {"id": reference})
        await call("GET", "/v1/ivr/prompt", 200, params={"text": "Goodbye.", "format": "wav"})
        await call(
            "GET", "/v1/ivr/prompt.{ext}", 200, {"ext": "wav"}, params={"text": "Goodbye.", "emotion": "calm"}
        )
        await call(
            "POST", "/v1/ivr/calls/{call}/say", 202, {"call": "CA-offline"}, json={"text": "Please hold."}
        )
        await call("GET", "/v1/ivr/calls/{call}", 200, {"call": "CA-offline"})
        await call("DELETE", "/v1/ivr/calls/{call}", 200, {"call": "CA-offline"})
        driven.add(("GET", "/v1/ivr/twilio"))
        async with http.ws_connect("/v1/ivr/twilio") as ws:
            await ws.send_json({"event": "connected", "protocol": "Call", "version": "1.0.0"})
            start = {
                "callSid": "CA-twilio",
                "streamSid": "MZ-twilio",
                "customParameters": {"text": "Hi."},
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            }
            await ws.send_json({"event": "start", "streamSid": "MZ-twilio", "start": start})
            message = await ws.receive_json(timeout=30)
            assert message["event"] == "media", message
            await ws.send_json({"event": "stop", "streamSid": "MZ-twilio", "stop": {"callSid": "CA-twilio"}})
    async with AsyncTcpClient("127.0.0.1", wyoming_port) as wyoming:
        await wyoming.write_event(Describe().event())
        event = await wyoming.read_event()
        assert event is not None and Info.is_type(event.type)
        await wyoming.write_event(Synthesize(text="Hello from Wyoming.").event())
        while True:
            event = await wyoming.read_event()
            assert event is not None, "the Wyoming server closed the connection"
            if AudioStop.is_type(event.type):
                break
    return driven


def _wait_healthy(base: str, server: subprocess.Popen) -> None:
    async def probe() -> bool:
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
                async with http.get(f"{base}/healthz") as response:
                    return response.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError):
            return False

    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(
                f"emotts serve exited with {server.returncode}: {server.stderr.read()[-2000:]}"
            )
        if asyncio.run(probe()):
            return
        time.sleep(0.2)
    raise AssertionError(f"emotts serve did not answer /healthz within {START_TIMEOUT_S:.0f} s")


def _stop(tracer: subprocess.Popen) -> None:
    """Stop the traced server with Ctrl-C (strace itself ends when its tracee does)."""
    children = Path(f"/proc/{tracer.pid}/task/{tracer.pid}/children")
    pids = [int(pid) for pid in children.read_text().split()] if children.exists() else []
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGINT)
    try:
        tracer.wait(timeout=15)
    except subprocess.TimeoutExpired:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        tracer.kill()
        tracer.wait()


@pytest.mark.skipif(STRACE is None, reason="strace is not installed (.ci/run installs it)")
def test_serve_sends_no_packet_past_loopback_and_writes_no_microsoft_cache(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    trace = tmp_path / "strace.log"
    http_port, wyoming_port = _free_port(), _free_port()
    base = f"http://127.0.0.1:{http_port}"
    command = [
        STRACE,
        "-f",
        "-tt",
        "-e",
        "trace=" + ",".join(SENDING_CALLS),
        "-o",
        str(trace),
        *_emotts(),
        "serve",
        "--port",
        str(http_port),
        "--wyoming",
        f"tcp://127.0.0.1:{wyoming_port}",
    ]
    server = subprocess.Popen(
        command,
        env=_bare_environment(home),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_healthy(base, server)
        healthy = time.monotonic()
        driven = asyncio.run(asyncio.wait_for(_drive(base, wyoming_port), 120))
        assert driven == _served_routes(), "drive every route of the server once"
        time.sleep(max(0.0, healthy + WATCH_S - time.monotonic()))
        assert server.poll() is None, (
            f"emotts serve exited with {server.returncode}: {server.stderr.read()[-2000:]}"
        )
    finally:
        _stop(server)
    log = trace.read_text(errors="replace")
    assert leaks(log) == []
    microsoft = home / ".cache" / "Microsoft"
    assert not microsoft.exists(), sorted(str(p.relative_to(home)) for p in microsoft.rglob("*"))
    # the one folder under $HOME emotts documents is its cache
    written = [p.relative_to(home) for p in home.rglob("*") if p.is_file()]
    assert [p for p in written if p.parts[:2] != (".cache", "emotts")] == []


def _python(code: str, home: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**_bare_environment(home), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_voice_loaded_by_emotts_leaves_no_microsoft_cache(tmp_path):
    code = (
        "import os\n"
        "from emotts_plugin.models.piper import PiperBackend\n"
        "PiperBackend().load('joe')\n"
        "print(os.environ['ORT_DISABLE_TELEMETRY'])\n"
    )
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1"]
    assert not (tmp_path / ".cache" / "Microsoft").exists()


def test_an_operators_own_setting_is_kept(tmp_path):
    code = "import os, emotts_plugin.models.base\nprint(os.environ['ORT_DISABLE_TELEMETRY'])\n"
    done = _python(code, tmp_path, ORT_DISABLE_TELEMETRY="true")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["true"]


def test_onnxruntime_loaded_before_emotts_is_warned_about(tmp_path):
    code = "import logging, onnxruntime\nlogging.basicConfig()\nimport emotts_plugin.models.base\n"
    done = _python(code, tmp_path)
    assert done.returncode == 0, done.stderr
    assert "onnxruntime was imported before emotts could set ORT_DISABLE_TELEMETRY=1" in done.stderr
