"""Operator mistakes and start-up errors: bounded config files, short messages, finite numbers,
``error: …`` with exit 2 for every start-up failure, port conflicts named, ``--replace``.

Everything runs the real ``emotts`` console script (or :func:`emotts_plugin.cli.main`) and talks
to the real servers through their clients.
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

import pytest
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info

from emotts_plugin import ConfigError, cli, load_config, ports
from emotts_plugin.config import MAX_ALIAS_NODES, excerpt

EMOTTS = str(Path(sys.executable).with_name("emotts"))
START_TIMEOUT_S = 60.0


def _bomb(levels: int = 9) -> str:
    """The classic "billion laughs" in YAML: 9 levels of 9 aliases each, 9**9 strings expanded."""
    items = ['&a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for previous, name in zip("abcdefghi", "bcdefghij"[: levels - 1]):
        items.append(f"&{name} [" + ",".join([f"*{previous}"] * 9) + "]")
    return "voice: [" + ", ".join(items) + "]\n"


def _limit_memory() -> (
    None
):  # in the child: a regression fails with MemoryError instead of eating the machine
    resource.setrlimit(resource.RLIMIT_AS, (3 << 30, 3 << 30))


def emotts(*args: str, timeout: float = 30, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run(
        [EMOTTS, *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_limit_memory,
    )


def _refused(done: subprocess.CompletedProcess) -> str:
    """The one-line ``error: …`` of a run that must exit 2 without a traceback."""
    assert done.returncode == 2, (done.returncode, done.stderr)
    assert "Traceback" not in done.stderr, done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines and lines[-1].startswith("error: "), done.stderr
    return lines[-1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


# -- YAML bounds ---------------------------------------------------------------------------


def test_alias_bomb_is_refused_at_once_with_a_short_message(tmp_path):
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_bomb())
    assert len(bomb.read_bytes()) <= 487
    started = time.monotonic()
    done = emotts("parse", "--config", str(bomb), "-", stdin="Hello.", timeout=20)
    elapsed = time.monotonic() - started
    message = _refused(done)
    assert f"config file '{bomb}', line 1, column " in message
    assert f"aliases stand for more than {MAX_ALIAS_NODES} nodes" in message
    assert len(done.stderr) < 300 and "lol" not in done.stderr
    assert elapsed < 10  # unbounded, the same file ran past 20 s and 1.5 GB

    started = time.perf_counter()
    with pytest.raises(ConfigError, match="aliases stand for more than"):
        load_config([bomb])
    assert time.perf_counter() - started < 0.5


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("voice: &a [*a]\n", "line 1, column 12: alias *a refers to a node that contains it"),
        (
            "voice: " + "[" * 5000 + "]" * 5000 + "\n",
            "line 1, column 71: collections nested deeper than 64 levels",
        ),
        ("voice: *nowhere\n", "line 1, column 8: found undefined alias 'nowhere'"),
        ("voice: [unclosed\n", "line 2, column 1: while parsing a flow sequence; expected ',' or ']'"),
    ],
)
def test_hostile_yaml_names_file_line_and_column(tmp_path, text, fragment):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config([path])
    assert f"config file '{path}', {fragment}" in str(info.value)
    assert len(str(info.value)) < 300


def test_modest_aliases_still_work(tmp_path):
    path = tmp_path / "anchors.yaml"
    path.write_text("limits:\n  read_timeout_s: &t 20\n  idle_timeout_s: *t\ncache: &c {memory_mb: 8}\n")
    config = load_config([path])
    assert (config.limits.read_timeout_s, config.limits.idle_timeout_s, config.cache.memory_mb) == (
        20.0,
        20.0,
        8,
    )


def test_oversized_config_file_is_not_read(tmp_path):
    done = emotts("parse", "--config", "/dev/zero", "-", stdin="Hello.", timeout=20)
    assert _refused(done) == "error: config file '/dev/zero' is larger than 1048576 bytes"


# -- short messages ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("voice: " + "x" * 5000 + "\nintensity: 3\n", "intensity must be within 0..1, got 3.0"),
        ("colour: " + "x" * 5000 + "\n", "unknown configuration key 'colour' (value 'xxxx"),
        ("transition_ms: " + "y" * 5000 + "\n", "… (5000 characters)"),
        (
            "server: [" + ", ".join(["1"] * 3000) + "]\n",
            "server must be a mapping, got [1, 1, 1, 1, 1, 1, ...] (3000 items)",
        ),
        ("? " + "z" * 3000 + "\n: 1\n", "unknown configuration key 'zzzzz"),
    ],
)
def test_messages_show_only_an_excerpt_of_a_value(tmp_path, text, fragment):
    path = tmp_path / "long.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config([path])
    assert fragment in str(info.value)
    assert len(str(info.value)) < 400


def test_excerpt():
    assert excerpt("short") == "'short'"
    assert excerpt("x" * 200) == repr("x" * 80) + "… (200 characters)"
    assert excerpt(list(range(1000))).endswith("(1000 items)") and len(excerpt(list(range(1000)))) < 100
    assert excerpt(float("nan")) == "nan"


# -- non-finite numbers --------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, key",
    [
        ("limits:\n  request_timeout_s: .nan\n", "limits.request_timeout_s"),
        ("limits:\n  max_audio_s: .inf\n", "limits.max_audio_s"),
        ("limits:\n  max_break_s: -.inf\n", "limits.max_break_s"),
        ("intensity: .nan\n", "intensity"),
        ("limits:\n  read_timeout_s: " + "9" * 400 + "\n", "limits.read_timeout_s"),
    ],
)
def test_non_finite_numbers_are_refused(tmp_path, text, key):
    path = tmp_path / "nan.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"^{key} must be a finite number, got ") as info:
        load_config([path])
    assert info.value.key == key


def test_nan_request_timeout_exits_2(tmp_path):
    path = tmp_path / "nan.yaml"
    path.write_text("limits:\n  request_timeout_s: .nan\n")
    done = emotts("parse", "--config", str(path), "-", stdin="Hello.")
    assert _refused(done) == "error: limits.request_timeout_s must be a finite number, got nan"
    done = emotts("parse", "--intensity", "nan", "-", stdin="Hello.")
    assert _refused(done) == "error: intensity must be a finite number, got nan"


# -- start-up errors -----------------------------------------------------------------------


def _unwritable(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "locked"
        folder.mkdir(mode=0o500)
        return folder
    return Path("/proc/self")  # root may write anywhere but into /proc


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda tmp: (tmp / "plain").write_text("") or tmp / "plain", "it is a file, not a folder"),
        (
            lambda tmp: (tmp / "plain").write_text("") or tmp / "plain" / "cache",
            "a part of its path is a file",
        ),
        (_unwritable, ""),
    ],
)
def test_unusable_cache_dir_exits_2_before_loading_a_voice(tmp_path, make, reason):
    folder = make(tmp_path)
    config = tmp_path / "cache.yaml"
    config.write_text(f"cache:\n  dir: {json.dumps(str(folder))}\n")
    done = emotts("serve", "--port", str(free_port()), "--config", str(config), timeout=20)
    message = _refused(done)
    assert message.startswith(f"error: cache.dir {str(folder)!r} cannot be used: {reason}")
    assert "Running on" not in done.stdout
    done = emotts("say", "--config", str(config), "-o", str(tmp_path / "x.wav"), "Hello.", timeout=20)
    assert _refused(done) == message


def test_usage_mistakes_of_serve_exit_2():
    assert _refused(emotts("serve", "--no-http")).startswith("error: --no-http needs a Wyoming server")
    assert _refused(emotts("serve", "--wyoming", "http://x:1")) == (
        "error: --wyoming must be tcp://HOST:PORT, unix://PATH or stdio://, got 'http://x:1'"
    )


def test_os_errors_are_error_lines(tmp_path):
    (tmp_path / "plain").write_text("")
    done = emotts("say", "-o", str(tmp_path / "plain" / "out.wav"), "Hi.", timeout=60)
    assert "Not a directory" in _refused(done)


@pytest.fixture
def listener():
    """A plain listening socket (this test process), as any other program would hold a port."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


@pytest.mark.parametrize(
    "args, what",
    [
        (["--port", "{taken}"], "HTTP port 127.0.0.1:{taken} (server.http_port, --port)"),
        (
            ["--port", "{free}", "--audiosocket", "127.0.0.1:{taken}"],
            "AudioSocket port 127.0.0.1:{taken} (server.audiosocket, --audiosocket)",
        ),
        (
            ["--port", "{free}", "--wyoming", "tcp://127.0.0.1:{taken}"],
            "Wyoming port 127.0.0.1:{taken} (server.wyoming_uri, --wyoming)",
        ),
    ],
)
def test_port_taken_by_another_program(listener, args, what):
    args = [arg.format(taken=listener, free=free_port()) for arg in args]
    what = what.format(taken=listener)
    done = emotts("serve", *args, timeout=20)
    message = _refused(done)
    assert message.startswith(f"error: {what} is taken by pid {os.getpid()} (")
    assert message.endswith(
        "which is not an emotts server; choose another with " + what.rpartition(", ")[2][:-1]
    )

    done = emotts("serve", "--replace", *args, timeout=20)
    assert _refused(done).endswith("which is not an emotts server: --replace stops only emotts servers")
    with socket.create_connection(("127.0.0.1", listener), timeout=2):
        pass  # still ours, still listening


def test_bind_failure_after_the_check_is_named_too(listener, monkeypatch, capsys):
    """A port taken between the check and the bind: the servers' OSError becomes the same message."""
    real = ports.check
    calls = []

    def free_the_first_time(endpoint):
        calls.append(endpoint)
        return None if len(calls) <= 2 else real(endpoint)

    monkeypatch.setattr(ports, "check", free_the_first_time)
    code = cli.main(["serve", "--port", str(free_port()), "--audiosocket", f"127.0.0.1:{listener}"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(
        f"error: AudioSocket port 127.0.0.1:{listener} (server.audiosocket, --audiosocket) is taken"
    )
    assert "Traceback" not in err


# -- another emotts server -----------------------------------------------------------------


def _start(*args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [EMOTTS, "serve", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def _healthz(port: int, server: subprocess.Popen) -> dict:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        assert server.poll() is None, server.communicate()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as reply:
                return json.load(reply)
        except OSError:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.1)


async def _describe(port: int) -> Info:
    async with AsyncTcpClient("127.0.0.1", port) as client:
        await client.write_event(Describe().event())
        while True:
            event = await asyncio.wait_for(client.read_event(), 10)
            assert event is not None
            if Info.is_type(event.type):
                return Info.from_event(event)


def _stop(server: subprocess.Popen) -> int:
    if server.poll() is None:
        server.send_signal(signal.SIGTERM)
    try:
        return server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        server.kill()
        return server.wait()


def test_port_held_by_emotts_then_replace(tmp_path):
    http, wyoming = free_port(), free_port()
    config = tmp_path / "wyoming.yaml"
    config.write_text(f"server:\n  wyoming_uri: tcp://127.0.0.1:{wyoming}\n")
    old = _start("--port", str(http))
    new = None
    try:
        _healthz(http, old)

        message = _refused(emotts("serve", "--port", str(http), timeout=20))
        assert message.startswith(
            f"error: HTTP port 127.0.0.1:{http} (server.http_port, --port) is taken by another emotts server "
            f"(pid {old.pid}, emotts {version('emotts')}, running since "
        )
        assert message.endswith("or run `emotts serve --replace` to take over")

        # --replace stops the old server cleanly, then serves HTTP and, from the config file, Wyoming
        new = _start("--replace", "--port", str(http), "--config", str(config))
        assert old.wait(timeout=20) == 0, old.communicate()
        assert (
            f"stopping the emotts server pid {old.pid}, emotts " in old.stderr.read() + new.stderr.readline()
        )
        assert _healthz(http, new)["status"] == "ok"
        info = asyncio.run(_describe(wyoming))
        assert info.tts and info.tts[0].name == "emotts"

        message = _refused(
            emotts("serve", "--port", str(free_port()), "--wyoming", f"tcp://127.0.0.1:{wyoming}")
        )
        assert (
            f"Wyoming port 127.0.0.1:{wyoming} (server.wyoming_uri, --wyoming) is taken by another emotts "
            f"server (pid {new.pid}, " in message
        )
        assert _healthz(http, new)["status"] == "ok"  # the refused start did not disturb it

        assert _stop(new) == 0  # SIGTERM stops HTTP + Wyoming cleanly
        assert ports.check(ports.Endpoint("HTTP", "k", "f", "127.0.0.1", http)) is None
        assert ports.check(ports.Endpoint("Wyoming", "k", "f", "127.0.0.1", wyoming)) is None
    finally:
        for server in (old, new):
            if server is not None:
                _stop(server)
                server.stdout.close()
                server.stderr.close()


def test_emotts_command_lines():
    assert ports.is_emotts_server(["/venv/bin/python3", "/venv/bin/emotts", "serve", "--port", "1"])
    assert ports.is_emotts_server(["python", "-m", "emotts_plugin.cli", "-v", "serve"])
    assert not ports.is_emotts_server(["/venv/bin/python3", "/venv/bin/emotts", "say", "serve"])
    assert not ports.is_emotts_server(["nc", "-l", "7860"])
