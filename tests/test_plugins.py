"""The plugin system: hookspecs, docs, third-party plugins end to end."""

from __future__ import annotations

import inspect
import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from emotts_plugin import Runtime, hookimpl, hookspecs, load_config
from emotts_plugin.errors import PluginError, PresetError
from emotts_plugin.plugins import DEFAULT_PLUGINS, get_plugin_manager

ROOT = Path(__file__).resolve().parents[1]
EMOTTS = str(Path(sys.executable).with_name("emotts"))

THIRD_PARTY = textwrap.dedent(
    '''
    """A third-party plugin: a "sarcastic" preset and a <sarcasm> tag."""
    from emotts_plugin import hookimpl

    @hookimpl
    def emotts_register_presets():
        return [{
            "name": "sarcastic",
            "description": "Dry and drawn out.",
            "vector": {"pitch_st": -1.0, "range": 1.4, "rate": 0.85, "contour": -2.0},
            "aliases": ["ironic", "deadpan"],
        }]

    def sarcasm(ctx, element):
        level = float(element.get("level", "1"))
        ctx.set_emotion({"sarcastic": level})

    @hookimpl
    def emotts_register_tag_handlers():
        return {"sarcasm": sarcasm}
    '''
)
MARKUP = 'Oh <sarcasm level="0.5">great</sarcasm>, <emotion name="deadpan">another meeting</emotion>.'


def _hook_names():
    return sorted(name for name in dir(hookspecs) if name.startswith("emotts_"))


def test_every_hook_is_documented_with_its_signature():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    pm = get_plugin_manager(autoload=False)
    names = sorted(name for name in dir(pm.hook) if name.startswith("emotts_"))
    assert names == _hook_names() and len(names) >= 7
    for name in names:
        spec = getattr(hookspecs, name)
        signature = f"{name}{inspect.signature(spec)}"
        assert f"#### `{signature}`" in readme, f"README lacks a section for {signature}"


def test_manifest_lists_every_hook():
    from emotts_plugin.config import read_manifest

    assert sorted(read_manifest()["manifest"]["hooks"]) == _hook_names()


def test_builtins_are_plugins():
    pm = get_plugin_manager(autoload=False)
    assert [name for name, _ in pm.list_name_plugin()] == list(DEFAULT_PLUGINS)


def test_misspelled_hook_fails_loudly():
    class Typo:
        @hookimpl
        def emotts_register_preset(self):  # missing "s"
            return []

    with pytest.raises(PluginError, match="emotts_register_preset"):
        get_plugin_manager([Typo()], autoload=False)


def test_registered_plugin_adds_preset_and_tag(tmp_path, monkeypatch):
    (tmp_path / "sarcasm_plugin.py").write_text(THIRD_PARTY)
    monkeypatch.syspath_prepend(str(tmp_path))
    runtime = Runtime(load_config([]), plugins=["sarcasm_plugin"])
    plan = runtime.parse(MARKUP, mode="strict")
    assert [(s.text, dict(s.emotion)) for s in plan.segments] == [
        ("Oh", {}),
        ("great", {"sarcastic": 0.5}),
        (",", {}),
        ("another meeting", {"sarcastic": 1.0}),
        (".", {}),
    ]
    assert plan.segments[1].targets.rate == pytest.approx(0.85**0.5)


def test_duplicate_alias_from_plugin_names_both(tmp_path):
    class Clash:
        @hookimpl
        def emotts_register_presets(self):
            return [{"name": "jolly", "vector": {}, "aliases": ["cheerful"]}]

    with pytest.raises(PresetError, match="'cheerful' already belongs to 'happy'"):
        Runtime(load_config([]), plugins=[Clash()])


def _install_dist(site: Path) -> None:
    """A real installed distribution (dist-info with an entry point) on a path entry."""
    (site / "sarcasm_plugin.py").write_text(THIRD_PARTY)
    info = site / "emotts_sarcasm-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: emotts-sarcasm\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[emotts]\nsarcasm = sarcasm_plugin\n")


def _run_parse(site: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environ = {key: value for key, value in os.environ.items() if not key.startswith("EMOTTS_")}
    environ.update(PYTHONPATH=str(site), **env)
    return subprocess.run(
        [EMOTTS, "parse", *args, "-"], input=MARKUP, capture_output=True, text=True, env=environ, timeout=60
    )


def test_entry_point_plugin_end_to_end_through_cli(tmp_path):
    _install_dist(tmp_path)
    done = _run_parse(tmp_path, "--json", "--strict")
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert [s["emotion"] for s in plan["segments"]] == [{}, {"sarcastic": 0.5}, {}, {"sarcastic": 1.0}, {}]
    assert plan["segments"][3]["targets"]["contour"] == -2.0
    listing = subprocess.run(
        [EMOTTS, "emotions"], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(tmp_path)}
    )
    assert "sarcastic: Dry and drawn out." in listing.stdout


def test_autoload_switch_disables_entry_points(tmp_path):
    _install_dist(tmp_path)
    done = _run_parse(tmp_path, "--json", EMOTTS_DISABLE_PLUGIN_AUTOLOAD="1")
    assert done.returncode == 0
    plan = json.loads(done.stdout)
    assert all(s["emotion"] == {} for s in plan["segments"])
    assert "unknown element <sarcasm>" in done.stderr
    strict = _run_parse(tmp_path, "--strict", EMOTTS_DISABLE_PLUGIN_AUTOLOAD="1")
    assert strict.returncode == 2
    assert re.match(r"error: line 1, column 4: unknown element <sarcasm>", strict.stderr)


def test_plugin_named_by_environment(tmp_path):
    (tmp_path / "sarcasm_plugin.py").write_text(THIRD_PARTY)
    done = _run_parse(tmp_path, "--json", EMOTTS_PLUGINS="sarcasm_plugin", EMOTTS_DISABLE_PLUGIN_AUTOLOAD="1")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["segments"][1]["emotion"] == {"sarcastic": 0.5}


def test_preprocess_and_transform_hooks_chain():
    import dataclasses

    class Shout:
        @hookimpl
        def emotts_preprocess_text(self, text):
            return text.replace("hello", "HELLO")

    class Exclaim:
        @hookimpl
        def emotts_preprocess_text(self, text, config):
            return text + "!"

        @hookimpl
        def emotts_transform_plan(self, plan):
            return dataclasses.replace(plan, segments=plan.segments[:1])

    runtime = Runtime(load_config([]), plugins=[Shout(), Exclaim()])
    plan = runtime.parse("hello <break/> world")
    assert [s.text for s in plan.segments] == ["HELLO"]
    assert runtime.parse("hello").text == "HELLO!"


def test_postprocess_audio_wrapper_wraps_the_core_result():
    class Core:
        @hookimpl(trylast=True)
        def emotts_postprocess_audio(self, audio):
            return audio

    class Halve:
        @hookimpl(wrapper=True)
        def emotts_postprocess_audio(self, audio, sample_rate):
            result = yield
            assert sample_rate == 16000
            return result * 0.5

    pm = get_plugin_manager([Core(), Halve()], autoload=False)
    out = pm.hook.emotts_postprocess_audio(audio=np.ones(4, np.float32), sample_rate=16000, config=None)
    assert np.allclose(out, 0.5)


def test_broken_plugin_module_is_a_clear_error():
    with pytest.raises(PluginError, match="cannot import plugin module 'no_such_plugin_xyz'"):
        get_plugin_manager(["no_such_plugin_xyz"], autoload=False)


# -- every hook call through pm.hook ---------------------------------------------------------


def test_chained_hooks_run_wrappers_and_are_seen_by_monitoring():
    """Each link of a chain is a pluggy hook call: a wrapper runs around each, monitoring sees each."""
    order = []

    class First:
        @hookimpl
        def emotts_preprocess_text(self, text):
            order.append("first")
            return text + " one"

    class Second:
        @hookimpl
        def emotts_preprocess_text(self, text):
            order.append("second")
            return text + " two"

    class Brackets:
        @hookimpl(wrapper=True)
        def emotts_preprocess_text(self, text):
            order.append(f"wrapper got {text!r}")
            results = yield
            return [f"{{{result}}}" for result in results]

    first, second, brackets = First(), Second(), Brackets()
    pm = get_plugin_manager([first, second, brackets], autoload=False)
    seen = []

    def before(name, impls, kwargs):
        if name == "emotts_preprocess_text":
            seen.append(({impl.plugin for impl in impls}, kwargs["text"]))

    def after(outcome, name, impls, kwargs):
        if name == "emotts_preprocess_text":
            seen.append(outcome.get_result())

    pm.add_hookcall_monitoring(before, after)
    runtime = Runtime(load_config([]), pm=pm)
    assert runtime.parse("hi").text == "{{hi one} two}"
    assert order == ["wrapper got 'hi'", "first", "wrapper got '{hi one}'", "second"]
    assert seen == [
        ({first, brackets}, "hi"),
        ["{hi one}"],
        ({second, brackets}, "{hi one}"),
        ["{{hi one} two}"],
    ]


def test_registration_hooks_go_through_pluggy():
    pm = get_plugin_manager(autoload=False)
    seen = []
    pm.add_hookcall_monitoring(lambda name, impls, kwargs: seen.append(name), lambda *args: None)
    Runtime(load_config([]), pm=pm).adapters()
    registration = {"emotts_register_presets", "emotts_register_tag_handlers", "emotts_register_adapters"}
    assert registration <= set(seen)


def test_a_failing_link_names_its_plugin():
    class Broken:
        @hookimpl
        def emotts_preprocess_text(self, text):
            raise RuntimeError("no")

    broken = Broken()
    runtime = Runtime(load_config([]), plugins=[broken])
    with pytest.raises(PluginError, match=r"failed in emotts_preprocess_text: no") as caught:
        runtime.parse("hi")
    assert caught.value.plugin == runtime.pm.get_name(broken)


def test_trace_plugins_prints_each_hook_call(tmp_path):
    (tmp_path / "sarcasm_plugin.py").write_text(THIRD_PARTY)
    quiet = {"EMOTTS_DISABLE_PLUGIN_AUTOLOAD": "1"}
    done = _run_parse(tmp_path, "-p", "sarcasm_plugin", EMOTTS_TRACE_PLUGINS="1", **quiet)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("emotts trace: ")]
    calls = [line for line in lines if "(" in line.split(" ", 3)[2]]
    assert any(line.startswith("emotts trace: emotts_register_presets() by sarcasm_plugin") for line in calls)
    assert any(line.startswith("emotts trace: emotts_preprocess_text(text='Oh <sarcasm") for line in calls)
    assert any(
        line.startswith("emotts trace: emotts_register_tag_handlers -> [{'sarcasm': <function sarcasm")
        for line in lines
    ), lines
    untraced = _run_parse(tmp_path, "-p", "sarcasm_plugin", **quiet)
    assert "emotts trace" not in untraced.stderr and untraced.stdout == done.stdout


# -- adapters and emotts serve ---------------------------------------------------------------


def test_built_in_servers_are_adapter_specs():
    adapters = Runtime(load_config([]), pm=get_plugin_manager(autoload=False)).adapters()
    assert list(adapters) == ["http", "openai", "ivr", "chatbot", "pipecat", "livekit", "ovos", "wyoming"]
    assert [name for name, spec in adapters.items() if spec.server is not None] == ["http", "wyoming"]


def test_an_adapter_name_offered_twice_names_both_plugins():
    from emotts_plugin.registry import AdapterSpec

    class Again:
        @hookimpl
        def emotts_register_adapters(self):
            return [AdapterSpec("http", lambda runtime: None)]

    runtime = Runtime(load_config([]), plugins=[Again()])
    with pytest.raises(PluginError, match="'http', which plugin 'emotts_plugin.adapters.plugin' already"):
        runtime.adapters()


ECHO_PLUGIN = textwrap.dedent(
    '''
    """A third-party server for emotts serve: answers each line with the first voice's name and
    the line, on 127.0.0.1:$ECHO_PLUGIN_PORT (none runs without it)."""
    import asyncio
    import os

    from emotts_plugin import hookimpl
    from emotts_plugin.ports import Endpoint
    from emotts_plugin.registry import AdapterSpec, Server


    class EchoServer(Server):
        def __init__(self, port):
            where = Endpoint("Echo", "ECHO_PLUGIN_PORT", "ECHO_PLUGIN_PORT", host="127.0.0.1", port=port)
            self.endpoints = (where,)
            self.listener = None

        async def start(self, context):
            voice = context.synthesizer.voices()[0].name

            async def answer(reader, writer):
                line = await reader.readline()
                writer.write(voice.encode() + b": " + line)
                await writer.drain()
                writer.close()

            self.listener = await asyncio.start_server(answer, "127.0.0.1", self.endpoints[0].port)

        async def close(self):
            self.listener.close()
            await self.listener.wait_closed()


    def echo_server(context):
        port = os.environ.get("ECHO_PLUGIN_PORT")
        return EchoServer(int(port)) if port else None


    @hookimpl
    def emotts_register_adapters():
        return [AdapterSpec("echo", lambda runtime: None, "Echoes lines", server=echo_server)]
    '''
)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _echo_environment(site: Path, port: int) -> dict[str, str]:
    (site / "echo_plugin.py").write_text(ECHO_PLUGIN)
    environ = {key: value for key, value in os.environ.items() if not key.startswith("EMOTTS_")}
    return dict(environ, PYTHONPATH=str(site), ECHO_PLUGIN_PORT=str(port), EMOTTS_DISABLE_PLUGIN_AUTOLOAD="1")


def _ask(port: int, server: subprocess.Popen, line: bytes) -> bytes:
    deadline = time.monotonic() + 60
    while True:
        assert server.poll() is None, server.communicate()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
                connection.sendall(line)
                return connection.makefile("rb").readline()
        except ConnectionRefusedError:
            assert time.monotonic() < deadline, "the plugin's server did not start"
            time.sleep(0.1)


def test_serve_runs_a_server_a_plugin_registers(tmp_path):
    echo, http = _free_port(), _free_port()
    server = subprocess.Popen(
        [EMOTTS, "serve", "--port", str(http), "-p", "echo_plugin"],
        env=_echo_environment(tmp_path, echo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert _ask(echo, server, b"hello\n") == b"joe: hello\n"  # the shared synthesizer's voice
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/healthz", timeout=5) as reply:
            assert json.load(reply)["status"] == "ok"  # beside the HTTP server
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=30) == 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        stderr = server.stderr.read()
        server.stdout.close()
        server.stderr.close()
    assert f"emotts: serving HTTP on http://127.0.0.1:{http}" in stderr
    assert "Traceback" not in stderr, stderr
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", echo), timeout=5).close()


def test_serve_checks_a_plugin_server_s_address_before_loading(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run(
            [EMOTTS, "serve", "--no-http", "-p", "echo_plugin"],
            env=_echo_environment(tmp_path, port),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert done.returncode == 2
    what = f"Echo port 127.0.0.1:{port} (ECHO_PLUGIN_PORT, ECHO_PLUGIN_PORT)"
    assert done.stderr.startswith(f"error: {what} is taken")


@pytest.mark.parametrize(
    ("name", "module", "cls"),
    [
        ("pipecat", "emotts_plugin.adapters.pipecat", "EmottsTTSService"),
        ("livekit", "emotts_plugin.adapters.livekit", "EmottsTTS"),
        ("ovos", "emotts_plugin.adapters.ovos", "EmottsOVOSTTS"),
    ],
)
def test_framework_adapters_come_from_the_adapter_hook(name, module, cls):
    """Each voice-agent framework's TTS is an adapter like the others: its factory builds the
    framework's own TTS object on the runtime given (its extra installed), or fails naming the extra."""
    import importlib

    from emotts_plugin.errors import MissingExtraError

    from conftest import extra_installed, extra_skip_reason

    pm = get_plugin_manager(autoload=False)
    specs = {spec.name: spec for result in pm.hook.emotts_register_adapters() for spec in result}
    runtime = Runtime(load_config([]), pm=pm)
    if not extra_installed(name):
        with pytest.raises(MissingExtraError) as info:
            specs[name].factory(runtime)
        assert info.value.extra == name
        pytest.skip(extra_skip_reason(name))
    made = specs[name].factory(runtime)
    assert isinstance(made, getattr(importlib.import_module(module), cls))
