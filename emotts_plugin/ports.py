"""The addresses ``emotts serve`` listens on: free before the voice loads, and who holds a taken one.

Every address is tried (bound and let go, as the servers will bind it) before anything slow
happens, so a taken port is reported at once. Where the machine shows it (Linux ``/proc``), the
process holding the port is named; another ``emotts serve`` is named as one, with its pid,
version and start time, and ``emotts serve --replace`` may stop it (:func:`stop`). A process
that is not an emotts server is never touched. Nothing here sends a packet.
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import socket
import stat
import time
from dataclasses import dataclass
from pathlib import Path

_LOGGER = logging.getLogger(__name__)

#: Seconds ``--replace`` waits for a stopped emotts server to free its ports.
STOP_TIMEOUT_S = 10.0
_TCP_LISTEN = "0A"
_UNIX_LISTENING = 1 << 16  # __SO_ACCEPTCON in /proc/net/unix flags


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One address a server of ``emotts serve`` is about to listen on."""

    server: str
    """Which server: ``HTTP``, ``Wyoming`` or ``AudioSocket``."""
    key: str
    """The configuration key that sets it (``server.http_port``)."""
    flag: str
    """The command-line flag that overrides it (``--port``)."""
    host: str | None = None
    """TCP interface; ``None`` or ``""`` for every interface."""
    port: int | None = None
    """TCP port; 0 lets the system choose (never taken)."""
    path: str | None = None
    """Unix socket path, for ``unix://`` servers."""

    def __str__(self) -> str:
        if self.path is not None:
            return self.path
        host = self.host or "*"
        return f"[{host}]:{self.port}" if ":" in host else f"{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Holder:
    """A process that listens on a taken address."""

    pid: int
    argv: tuple[str, ...]
    """Its command line."""
    emotts: bool
    """Whether it is an ``emotts serve`` process."""
    started: float | None
    """When it started (seconds since the epoch); ``None`` where the machine does not say."""
    version: str | None
    """The emotts version it runs (from its installation's metadata), when found."""

    def describe(self) -> str:
        """``pid 123, emotts 0.1.0, running since 2025-01-02 10:00:00 (5 min)`` or ``pid 123 (nc -l 80)``."""
        if not self.emotts:
            command = " ".join(" ".join(self.argv).split()) or "?"
            return f"pid {self.pid} ({command if len(command) <= 80 else command[:80] + '…'})"
        parts = [f"pid {self.pid}", f"emotts {self.version}" if self.version else "emotts version unknown"]
        if self.started is not None:
            since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.started))
            parts.append(f"running since {since} ({_duration(time.time() - self.started)} ago)")
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Conflict:
    """An address that cannot be listened on, why, and who holds it."""

    endpoint: Endpoint
    error: OSError
    holders: tuple[Holder, ...]

    @property
    def emotts_only(self) -> bool:
        """Whether every holder is known and is an emotts server (only then may ``--replace`` act)."""
        return bool(self.holders) and all(holder.emotts for holder in self.holders)

    def message(self, *, replace: bool = False) -> str:
        """What the operator reads: the server, the address, the key and flag, and the way out."""
        end = self.endpoint
        where = f"{end.server} {'socket' if end.path is not None else 'port'} {end} ({end.key}, {end.flag})"
        code = self.error.errno
        if code == errno.EACCES and end.path is None:
            return (
                f"{where} cannot be used: permission denied "
                "(ports below 1024 need root or CAP_NET_BIND_SERVICE)"
            )
        if code == errno.EADDRNOTAVAIL:
            return f"{where} cannot be used: {end.host} is not an address of this machine"
        if isinstance(self.error, socket.gaierror):
            return f"{where} cannot be used: host {end.host!r} not found ({self.error.strerror})"
        if code != errno.EADDRINUSE:
            return f"{where} cannot be used: {self.error.strerror or self.error}"
        if not self.holders:
            return f"{where} is taken by a process not visible here; choose another with {end.flag}"
        held = "; ".join(holder.describe() for holder in self.holders)
        if self.emotts_only:
            if replace:
                return f"{where} is still held by another emotts server ({held}) after --replace"
            return (
                f"{where} is taken by another emotts server ({held}); "
                f"stop it, choose another with {end.flag}, "
                "or run `emotts serve --replace` to take over"
            )
        if replace:
            return (
                f"{where} is taken by {held}, which is not an emotts server: "
                "--replace stops only emotts servers"
            )
        return f"{where} is taken by {held}, which is not an emotts server; choose another with {end.flag}"


def check(endpoint: Endpoint) -> OSError | None:
    """Why ``endpoint`` cannot be listened on now (``None`` when it can), found by binding it the way
    the servers do (``SO_REUSEADDR``, IPv6 sockets IPv6-only) and letting it go at once."""
    if endpoint.path is not None:
        return _check_unix(endpoint.path)
    if endpoint.port is None or endpoint.port == 0:
        return None
    try:
        infos = socket.getaddrinfo(
            endpoint.host or None, endpoint.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except socket.gaierror as exc:
        return exc
    for family, kind, proto, _, address in dict.fromkeys(infos):
        with socket.socket(family, kind, proto) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if family == socket.AF_INET6:
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            try:
                sock.bind(address)
            except OSError as exc:
                return exc
    return None


def _check_unix(path: str) -> OSError | None:
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        parent = os.path.dirname(path) or "."
        return None if os.path.isdir(parent) else OSError(errno.ENOENT, f"no folder {parent!r}")
    except OSError as exc:
        return exc
    if not stat.S_ISSOCK(mode):
        # the Wyoming server removes what is at its path before listening: never a regular file
        return OSError(errno.EEXIST, "something that is not a socket is there")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(path)
        except OSError:
            return None  # a socket file nobody listens on: the server replaces it
    return OSError(errno.EADDRINUSE, os.strerror(errno.EADDRINUSE))


def conflicts(endpoints: list[Endpoint]) -> list[Conflict]:
    """The endpoints that cannot be listened on now, each with its holders."""
    found = []
    for endpoint in endpoints:
        error = check(endpoint)
        if error is not None:
            holders = holders_of(endpoint) if error.errno == errno.EADDRINUSE else ()
            found.append(Conflict(endpoint, error, holders))
    return found


def holders_of(endpoint: Endpoint) -> tuple[Holder, ...]:
    """The processes listening on ``endpoint`` that this user can see (none off Linux)."""
    inodes = _unix_inodes(endpoint.path) if endpoint.path is not None else _tcp_inodes(endpoint.port or 0)
    if not inodes:
        return ()
    pids = sorted(pid for pid in _socket_owners(inodes) if pid != os.getpid())
    return tuple(holder for holder in (holder_of(pid) for pid in pids) if holder is not None)


def _tcp_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) > 9 and fields[3] == _TCP_LISTEN and int(fields[1].rpartition(":")[2], 16) == port:
                inodes.add(fields[9])
    return inodes


def _unix_inodes(path: str) -> set[str]:
    try:
        lines = Path("/proc/net/unix").read_text().splitlines()[1:]
    except OSError:
        return set()
    inodes = set()
    for line in lines:
        fields = line.split(maxsplit=7)
        if len(fields) == 8 and fields[7] == path and int(fields[3], 16) & _UNIX_LISTENING:
            inodes.add(fields[6])
    return inodes


def _socket_owners(inodes: set[str]):
    """The pids of the processes holding one of the sockets ``inodes`` (among those this user may list)."""
    links = {f"socket:[{inode}]" for inode in inodes}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            fds = os.listdir(f"/proc/{entry.name}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{entry.name}/fd/{fd}") in links:
                    yield int(entry.name)
                    break
            except OSError:
                continue


def holder_of(pid: int) -> Holder | None:
    """What ``/proc`` tells of process ``pid``; ``None`` once it is gone."""
    try:
        argv = tuple(Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1])
    except OSError:
        return None
    emotts = is_emotts_server(argv)
    return Holder(pid, argv, emotts, _started(pid), _version(pid, argv) if emotts else None)


def is_emotts_server(argv: tuple[str, ...] | list[str]) -> bool:
    """Whether a command line runs ``emotts serve`` (the console script, or
    ``python -m emotts_plugin.cli``)."""
    for index, arg in enumerate(argv):
        if os.path.basename(arg) == "emotts":
            rest = list(argv[index + 1 :])
        elif (
            arg == "-m"
            and index + 1 < len(argv)
            and argv[index + 1] in ("emotts_plugin", "emotts_plugin.cli")
        ):
            rest = list(argv[index + 2 :])
        else:
            continue
        while rest and rest[0] in ("-v", "--verbose"):
            rest.pop(0)
        return bool(rest) and rest[0] == "serve"
    return False


def _started(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
        boot = next(
            float(line.split()[1])
            for line in Path("/proc/stat").read_text().splitlines()
            if line.startswith("btime ")
        )
        return boot + int(fields[19]) / os.sysconf(
            "SC_CLK_TCK"
        )  # field 22 of stat: start time in clock ticks
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _version(pid: int, argv: tuple[str, ...]) -> str | None:
    """The emotts version installed beside the interpreter that ``pid`` runs (its environment's metadata)."""
    if not argv:
        return None
    interpreter = Path(argv[0])
    if not interpreter.is_absolute():
        if os.sep not in argv[0]:
            return None  # found on that process's PATH: its environment is not known here
        interpreter = Path(f"/proc/{pid}/cwd") / interpreter
    prefix = interpreter.parent.parent
    folders = [
        str(p)
        for pattern in ("lib/python3*/site-packages", "lib64/python3*/site-packages")
        for p in prefix.glob(pattern)
    ]
    from importlib import metadata  # only when a port is taken: every command imports this module

    for dist in metadata.distributions(name="emotts", path=folders):
        return dist.version
    return None


def stop(holders: list[Holder], endpoints: list[Endpoint], timeout: float = STOP_TIMEOUT_S) -> list[Endpoint]:
    """Send SIGTERM to each emotts server in ``holders``, then wait up to ``timeout`` seconds for
    ``endpoints`` to be free and those processes to end (a Wyoming server removes its socket file
    on the way out); returns the endpoints still taken. A holder whose pid no longer runs the same
    emotts server (it ended, or the pid was reused) is left alone."""
    stopped = []
    for holder in holders:
        now = holder_of(holder.pid)
        if not holder.emotts or now is None or not now.emotts or now.started != holder.started:
            continue
        _LOGGER.info("stopping emotts server pid %d (--replace)", holder.pid)
        try:
            os.kill(holder.pid, signal.SIGTERM)
        except ProcessLookupError:
            continue
        stopped.append(holder.pid)
    deadline = time.monotonic() + timeout
    while True:
        taken = [endpoint for endpoint in endpoints if check(endpoint) is not None]
        running = [pid for pid in stopped if _running(pid)]
        if (not taken and not running) or time.monotonic() >= deadline:
            return taken
        time.sleep(0.1)


def _running(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, ended but not yet collected by its parent, does not)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return False


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    if seconds < 172800:
        return f"{seconds // 3600} h"
    return f"{seconds // 86400} days"
