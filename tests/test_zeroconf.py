"""The Wyoming server's zeroconf (mDNS) announcement, found as Home Assistant finds it.

Home Assistant's Wyoming integration browses for ``_wyoming._tcp.local.`` (its manifest) and then
asks the host and port it finds for ``describe`` (``config_flow.py``, ``async_step_zeroconf``).
Here the ``zeroconf`` package's own :class:`~zeroconf.ServiceBrowser` looks for the server, which
listens on this machine's own network address (found with :mod:`socket`): a server on loopback
is never announced. Where no interface but loopback exists, or multicast cannot be used, the
network tests are skipped and say why.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import socket
import threading
import time

import pytest
from wyoming.client import AsyncTcpClient
from wyoming.info import Describe, Info
from zeroconf import ServiceBrowser, ServiceInfo, ServiceListener, Zeroconf

from emotts_plugin import __version__, cli
from emotts_plugin.adapters import wyoming as adapter
from emotts_plugin.config import load_config
from emotts_plugin.synthesizer import Synthesizer

from test_wyoming import _serving

SERVICE_TYPE = "_wyoming._tcp.local."
#: Seconds to wait for the announcement (zeroconf probes the name for about 1 s first).
FIND_S = 15.0


def interface_address() -> str | None:
    """This machine's IPv4 address on the interface that reaches the mDNS group, if not loopback."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("224.0.0.251", 5353))  # picks a route; nothing is sent
        except OSError:
            return None
        address = probe.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def free_port(address: str) -> int:
    with socket.socket() as probe:
        probe.bind((address, 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def address() -> str:
    found = interface_address()
    if found is None:
        pytest.skip("no network interface besides loopback: mDNS multicast is unavailable here")
    try:
        Zeroconf(interfaces=[found]).close()
    except OSError as exc:
        pytest.skip(f"mDNS multicast is unavailable on {found}: {exc}")
    return found


@pytest.fixture(scope="module")
def synth():
    return Synthesizer(dataclasses.replace(load_config([]), noise=False))


@contextlib.contextmanager
def serving_on(address: str, synth):
    """The Wyoming server on ``address`` and a free port, until the block ends; yields the port."""
    port = free_port(address)
    with _serving(
        f"tcp://{address}:{port}",
        synth,
        lambda: socket.create_connection((address, port), timeout=0.2).close(),
    ):
        yield port


class Found(ServiceListener):
    """What a :class:`ServiceBrowser` reports, by service name."""

    def __init__(self) -> None:
        self.services: dict[str, ServiceInfo] = {}
        self.removed: set[str] = set()
        self.changed = threading.Condition()

    def add_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        info = zc.get_service_info(type_, name, timeout=3000)
        with self.changed:
            if info is not None:
                self.services[name] = info
            self.removed.discard(name)
            self.changed.notify_all()

    update_service = add_service

    def remove_service(self, zc: Zeroconf, type_: str, name: str) -> None:
        with self.changed:
            self.removed.add(name)
            self.changed.notify_all()

    def wait(self, predicate, timeout: float) -> bool:
        with self.changed:
            return self.changed.wait_for(predicate, timeout)

    def on_port(self, port: int) -> list[ServiceInfo]:
        return [info for info in self.services.values() if info.port == port]


@contextlib.contextmanager
def browsing(address: str):
    zc = Zeroconf(interfaces=[address])
    found = Found()
    browser = ServiceBrowser(zc, SERVICE_TYPE, found)
    try:
        yield found
    finally:
        browser.cancel()
        zc.close()


def test_the_browser_finds_the_server_with_its_port_and_properties_until_it_stops(address, synth):
    with browsing(address) as found:
        with serving_on(address, synth) as port:
            assert found.wait(lambda: found.on_port(port), FIND_S), "not announced"
            (info,) = found.on_port(port)
            assert info.name.startswith("emotts-") and info.name.endswith("." + SERVICE_TYPE)
            assert address in info.parsed_addresses()
            assert info.properties == {b"program": b"emotts", b"version": __version__.encode()}

            # what Home Assistant does next: describe, at the address and port announced
            async def describe():
                async with AsyncTcpClient(info.parsed_addresses()[0], info.port) as client:
                    await client.write_event(Describe().event())
                    return await asyncio.wait_for(client.read_event(), 10)

            event = asyncio.run(describe())
            assert Info.is_type(event.type) and Info.from_event(event).tts[0].name == "emotts"
        # stopped: withdrawn with goodbye packets
        assert found.wait(lambda: info.name in found.removed, FIND_S), "not withdrawn"


def test_server_zeroconf_false_announces_nothing(address):
    config = load_config([], {"server": {"zeroconf": False}})
    quiet = Synthesizer(dataclasses.replace(config, noise=False))
    with browsing(address) as found, serving_on(address, quiet) as port:
        time.sleep(3.0)  # longer than an announcement takes to be seen (about 1 s)
        assert found.on_port(port) == []


def test_a_zeroconf_that_cannot_start_costs_a_warning_not_the_server(address, synth, monkeypatch, caplog):
    import zeroconf.asyncio

    def no_multicast(*args, **kwargs):
        raise OSError(19, "No such device")

    monkeypatch.setattr(zeroconf.asyncio, "AsyncZeroconf", no_multicast)
    with caplog.at_level(logging.WARNING, logger="emotts_plugin.adapters.wyoming"):
        with serving_on(address, synth) as port:

            async def describe():
                async with AsyncTcpClient(address, port) as client:
                    await client.write_event(Describe().event())
                    return await asyncio.wait_for(client.read_event(), 10)

            for _ in range(50):  # the warning comes once the server listens
                if caplog.records:
                    break
                time.sleep(0.05)
            assert Info.is_type(asyncio.run(describe()).type)
    (warning,) = [r for r in caplog.records if r.name == "emotts_plugin.adapters.wyoming"]
    assert warning.levelno == logging.WARNING and "not announced by zeroconf" in warning.getMessage()
    assert "No such device" in warning.getMessage()


def test_which_addresses_are_announced():
    assert adapter.announced_addresses("127.0.0.1") == []
    assert adapter.announced_addresses("::1") == []
    assert adapter.announced_addresses("localhost") == []
    assert adapter.announced_addresses("192.0.2.7") == ["192.0.2.7"]
    every = adapter.announced_addresses("0.0.0.0")
    assert every == ([interface_address()] if interface_address() else [])


def test_no_zeroconf_on_the_command_line_turns_it_off(monkeypatch):
    calls = []
    monkeypatch.setattr(cli, "run_servers", lambda servers, context: calls.append(context))
    port = free_port("127.0.0.1")
    assert cli.main(["serve", "--no-http", "--wyoming", f"tcp://0.0.0.0:{port}", "--no-zeroconf"]) == 0
    assert cli.main(["serve", "--no-http", "--wyoming", f"tcp://0.0.0.0:{port}"]) == 0
    assert [context.runtime.config.server.zeroconf for context in calls] == [False, True]
