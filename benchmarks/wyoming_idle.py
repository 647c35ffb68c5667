"""Server memory held by idle Wyoming clients that each declared a large payload.

    .venv/bin/python benchmarks/wyoming_idle.py [--clients 8] [--payload-mib 64]

Starts ``emotts serve --no-http --wyoming`` on a free loopback port, then opens ``--clients``
raw connections; each sends one ``audio-chunk`` header declaring a ``--payload-mib`` payload,
then all of that payload but its last byte, and goes quiet. Prints the server's resident memory
(VmRSS) before the clients and once they have sent, its peak (VmHWM), and how each connection
ended (still open, or closed by the server and after how long).
"""

from __future__ import annotations

import argparse
import json
import socket
import subprocess
import sys
import time
from pathlib import Path


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _memory_mb(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields


def _wait_listening(port: int, server: subprocess.Popen) -> None:
    for _ in range(600):
        if server.poll() is not None:
            raise SystemExit(f"the server exited with {server.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit("the server did not start listening")


def _settled_rss(pid: int, seconds: float = 3.0) -> float:
    """VmRSS once it has stopped moving (or after ``seconds``)."""
    last = _memory_mb(pid)["VmRSS"]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = _memory_mb(pid)["VmRSS"]
        if abs(now - last) < 1:
            return now
        last = now
    return last


def _pin(port: int, payload: int) -> tuple[socket.socket, str, float]:
    """One client: a header declaring ``payload`` bytes, then all but the last byte."""
    sock = socket.create_connection(("127.0.0.1", port))
    header = (
        json.dumps(
            {
                "type": "audio-chunk",
                "data": {"rate": 16000, "width": 2, "channels": 1},
                "payload_length": payload,
            }
        ).encode()
        + b"\n"
    )
    start = time.monotonic()
    block = bytes(1 << 20)
    try:
        sock.sendall(header)
        left = payload - 1
        while left:
            left -= sock.send(block[: min(left, len(block))])
    except OSError as exc:
        return (
            sock,
            f"closed by the server while sending ({exc.__class__.__name__})",
            time.monotonic() - start,
        )
    return sock, "sent", time.monotonic() - start


def _ended(sock: socket.socket) -> str:
    """``open`` if the server still holds the connection, else what it said before closing."""
    sock.setblocking(False)
    answer = b""
    try:
        while chunk := sock.recv(65536):
            answer += chunk
    except BlockingIOError:
        if not answer:
            return "open"
    except OSError as exc:
        return f"reset ({exc.__class__.__name__})"
    first = answer.split(b"\n", 1)[0][:80].decode(errors="replace")
    return f"closed, answered {first!r}" if answer else "closed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--payload-mib", type=float, default=64)
    args = parser.parse_args()

    port = _free_port()
    emotts = str(Path(sys.executable).with_name("emotts"))
    server = subprocess.Popen(
        [emotts, "serve", "--no-http", "--wyoming", f"tcp://127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    clients = []
    try:
        _wait_listening(port, server)
        before = _settled_rss(server.pid)
        peak_before = _memory_mb(server.pid)["VmHWM"]
        for _ in range(args.clients):
            clients.append(_pin(port, int(args.payload_mib * 2**20)))
        after = _settled_rss(server.pid)
        peak = _memory_mb(server.pid)["VmHWM"]
        print(f"{args.clients} clients, each declaring {args.payload_mib:g} MiB")
        print(f"server RSS before: {before:8.1f} MB")
        print(f"server RSS after:  {after:8.1f} MB  (+{after - before:.1f} MB)")
        print(f"server peak (VmHWM): {peak_before:6.1f} MB before, {peak:6.1f} MB after")
        time.sleep(0.5)  # let every answer arrive
        for index, (sock, sent, seconds) in enumerate(clients):
            print(f"  client {index}: {sent} after {seconds:.2f} s; connection {_ended(sock)}")
    finally:
        for sock, _, _ in clients:
            sock.close()
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()
