"""Soak: the HTTP and Wyoming servers under mixed traffic for a bounded time, memory watched.

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--clients 6]

Runs ``emotts serve --port P --wyoming tcp://127.0.0.1:Q`` as a subprocess (so the RSS read
from ``/proc/PID/status`` is the server's alone) and drives it on loopback: HTTP clients send
native synthesis (whole and streamed), OpenAI speech, plans and IVR prompt files; Wyoming
clients send whole and streamed ``synthesize`` events and count a request complete at
``audio-stop``. Texts mix repeats (cache hits) with numbered new ones. With ``--hostile N``, N
more clients send client mistakes and attacks (500 long breaks, nested JSON, a bogus charset,
extreme prosody, bodies cut short, headers sent and never finished, garbage request lines,
Wyoming events declaring 64 MiB or nested JSON); each must end in a 4xx, an error event or a
close, never a 5xx or a connection held open. Prints progress every
30 s, then requests served, errors (5xx apart), requests lost (sent without a complete answer),
p95 latency per protocol, and the server's RSS: at start, the mean of 5-second samples over
minute 2 and over the last minute (for runs under 4 minutes: the second quarter and the last
quarter) with the growth between them, the peak, and once traffic has stopped. Goals: zero
5xx, zero lost, RSS growth under 10 %. Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import random
import socket
import subprocess
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path, where benchmarks/wyoming.py
# would hide the ``wyoming`` package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import aiohttp  # noqa: E402
import numpy as np  # noqa: E402
from wyoming.client import AsyncTcpClient  # noqa: E402
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice  # noqa: E402

REPEATED = [
    "The front door is open.",
    "Dinner is ready.",
    "The washing machine has finished.",
    "Welcome home!",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def text_for(rng: random.Random) -> str:
    if rng.random() < 0.5:
        return rng.choice(REPEATED)
    return f"Reminder number {rng.randint(1, 10**6)}: the parcel is at the front desk."


async def http_request(session, base, rng) -> int:
    kind = rng.choice(["synthesize", "stream", "openai", "plan", "ivr"])
    text = text_for(rng)
    if kind == "synthesize":
        call = session.post(
            base + "/v1/synthesize", json={"input": text, "emotion": rng.choice(["calm", "happy", "sad"])}
        )
    elif kind == "stream":
        call = session.post(
            base + "/v1/synthesize", json={"input": text + " " + text_for(rng), "stream": True}
        )
    elif kind == "openai":
        call = session.post(
            base + "/v1/audio/speech", json={"model": "tts-1", "voice": "nova", "input": text}
        )
    elif kind == "plan":
        call = session.post(
            base + "/v1/plan", json={"input": f"<speak><emotion name='gentle'>{text}</emotion></speak>"}
        )
    else:
        call = session.get(base + "/v1/ivr/prompt.wav", params={"text": text, "emotion": "calm"})
    async with call as response:
        await response.read()
        return response.status


async def wyoming_request(port, rng) -> int:
    """One announcement over Wyoming: whole (ends at ``audio-stop``) or streamed word by word
    (ends at ``synthesize-stopped``); 500 for an error event, 0 when the server closes first."""
    async with AsyncTcpClient("127.0.0.1", port) as client:
        text = text_for(rng)
        streamed = rng.random() < 0.5
        if streamed:
            await client.write_event(SynthesizeStart(voice=SynthesizeVoice(name="joe")).event())
            for word in text.split():
                await client.write_event(SynthesizeChunk(text=word + " ").event())
            await client.write_event(SynthesizeStop().event())
        else:
            await client.write_event(
                Synthesize(
                    text=text, voice=SynthesizeVoice(name="joe", speaker=rng.choice(["calm", "happy"]))
                ).event()
            )
        done = "synthesize-stopped" if streamed else "audio-stop"
        while True:
            event = await asyncio.wait_for(client.read_event(), 120)
            if event is None:
                return 0
            if event.type == "error":
                return 500
            if event.type == done:
                return 200


BREAKS_500 = "<speak>" + "Now. <break time='10s'/>" * 500 + "</speak>"


async def _raw(port: int, data: bytes, *, hold_s: float = 0.0, wait_s: float = 5.0) -> bytes:
    """Send ``data`` on a fresh connection (then hold it ``hold_s`` if the server keeps it), and
    return what came back before the server closed it or ``wait_s`` passed."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(data)
        await writer.drain()
        if hold_s:
            await asyncio.sleep(hold_s)
        return await asyncio.wait_for(reader.read(65536), wait_s)
    except (asyncio.TimeoutError, ConnectionError):
        return b"(held)"
    finally:
        writer.close()


async def hostile_request(session, base: str, http_port: int, wyoming_port: int, rng) -> str:
    """One client mistake or attack; the outcome is a short label (``4xx``, ``closed``, ``5xx``,
    ``held``): every one should be a 4xx, an error event or a close."""
    kind = rng.choice(
        [
            "breaks",
            "nested-json",
            "charset",
            "prosody",
            "cut-body",
            "slow-headers",
            "bad-line",
            "wyoming-huge",
            "wyoming-nested",
        ]
    )
    if kind in ("breaks", "nested-json", "charset", "prosody"):
        url, headers, data = base + "/v1/synthesize", {"Content-Type": "application/json"}, None
        if kind == "breaks":
            data = json.dumps({"input": BREAKS_500})
        elif kind == "nested-json":
            data = "[" * 100_000 + "]" * 100_000
        elif kind == "charset":
            headers["Content-Type"] = "application/json; charset=bogus"
            data = json.dumps({"input": "Hello."})
        else:
            data = json.dumps({"input": '<prosody pitch="+100000st">Up.</prosody>', "strict": True})
        async with session.post(url, data=data, headers=headers) as response:
            await response.read()
            return f"{response.status // 100}xx"
    if kind == "cut-body":
        head = (
            "POST /v1/synthesize HTTP/1.1\r\nHost: x\r\n"
            "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
        )
        await _raw(http_port, head.encode() + b'{"input": "Hel', wait_s=0.05)
        return "cut"
    if kind == "slow-headers":
        answer = await _raw(http_port, b"POST /v1/synthesize HTTP/1.1\r\nHost: x\r\n", wait_s=40.0)
        return "closed" if answer in (b"",) or answer.startswith(b"HTTP/1.1 4") else "held"
    if kind == "bad-line":
        answer = await _raw(http_port, b"GARBAGE / NOT-HTTP\r\n\r\n")
        return answer[9:10].decode(errors="replace") + "xx" if answer.startswith(b"HTTP/1.") else "closed"
    if kind == "wyoming-huge":
        header = json.dumps({"type": "synthesize", "data_length": 0, "payload_length": 64 << 20})
        answer = await _raw(wyoming_port, header.encode() + b"\n" + b"\0" * 1024)
    else:
        answer = await _raw(
            wyoming_port, b'{"type": "synthesize", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}\n"
        )
    return "4xx" if b'"error"' in answer else ("closed" if answer == b"" else "held")


async def main(minutes: float, clients: int, hostile: int = 0) -> int:
    http_port, wyoming_port = free_port(), free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "emotts_plugin.cli",
            "serve",
            "--port",
            str(http_port),
            "--wyoming",
            f"tcp://127.0.0.1:{wyoming_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{http_port}"
    outcomes: dict[str, collections.Counter] = {
        "http": collections.Counter(),
        "wyoming": collections.Counter(),
    }
    latency: dict[str, list[float]] = {"http": [], "wyoming": []}
    sent = collections.Counter()
    hostile_outcomes: collections.Counter = collections.Counter()
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            for _ in range(120):
                try:
                    async with session.get(base + "/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.5)
            rss = {"start": rss_mb(server.pid)}
            samples: list[tuple[float, float]] = []  # (seconds since start, RSS MB) every 5 s
            started = time.perf_counter()
            stop = started + minutes * 60

            async def hostile_worker(index: int) -> None:
                rng = random.Random(1000 + index)
                while time.perf_counter() < stop:
                    try:
                        outcome = await hostile_request(session, base, http_port, wyoming_port, rng)
                    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, OSError) as exc:
                        outcome = type(exc).__name__
                    hostile_outcomes[outcome] += 1

            async def worker(index: int) -> None:
                rng = random.Random(index)
                protocol = "wyoming" if index % 3 == 2 else "http"
                while time.perf_counter() < stop:
                    sent[protocol] += 1
                    began = time.perf_counter()
                    try:
                        if protocol == "http":
                            status = await http_request(session, base, rng)
                        else:
                            status = await wyoming_request(wyoming_port, rng)
                    except (aiohttp.ClientError, asyncio.TimeoutError, ConnectionError, OSError) as exc:
                        status = type(exc).__name__
                    outcomes[protocol][status] += 1
                    latency[protocol].append(time.perf_counter() - began)

            async def watcher() -> None:
                next_report = started + 30
                next_sample = started + 5
                while time.perf_counter() < stop:
                    await asyncio.sleep(1)
                    now = time.perf_counter()
                    if now >= next_sample:
                        next_sample += 5
                        samples.append((now - started, rss_mb(server.pid)))
                    if now >= next_report:
                        next_report += 30
                        done = sum(sum(c.values()) for c in outcomes.values())
                        print(
                            f"  {now - started:5.0f} s: {done} requests, RSS {rss_mb(server.pid):.0f} MB",
                            flush=True,
                        )

            await asyncio.gather(
                watcher(), *(worker(i) for i in range(clients)), *(hostile_worker(i) for i in range(hostile))
            )
            rss["idle after"] = rss_mb(server.pid)
    finally:
        server.terminate()
        server.wait(30)

    print(
        f"soak: {minutes:g} min, {clients} clients"
        + (" (minute 2 stands for the second quarter)" if minutes < 4 else "")
    )
    failures = []
    for protocol in ("http", "wyoming"):
        counts = outcomes[protocol]
        ok = counts.get(200, 0)
        five = sum(n for status, n in counts.items() if isinstance(status, int) and status >= 500)
        lost = (
            sent[protocol]
            - ok
            - sum(n for status, n in counts.items() if isinstance(status, int) and 400 <= status < 500)
        )
        p95 = np.percentile(latency[protocol], 95) * 1000 if latency[protocol] else float("nan")
        print(
            f"  {protocol:8s} sent {sent[protocol]}, served {ok}, answers {dict(counts)}, "
            f"5xx {five}, lost {lost}, p95 {p95:.0f} ms"
        )
        if five:
            failures.append(f"{protocol}: {five} 5xx")
        if lost:
            failures.append(f"{protocol}: {lost} lost")
    if hostile:
        print(
            f"  hostile  {sum(hostile_outcomes.values())} attempts by {hostile} clients: "
            f"{dict(hostile_outcomes)}"
        )
        if hostile_outcomes.get("5xx"):
            failures.append(f"hostile: {hostile_outcomes['5xx']} answered 5xx")
        if hostile_outcomes.get("held"):
            failures.append(f"hostile: {hostile_outcomes['held']} connections held open")
    # RSS under load swings with the renders in flight (~±100 MB): compare means over windows
    length = minutes * 60
    early = (60.0, 120.0) if minutes >= 4 else (length / 4, length / 2)
    window = [mb for t, mb in samples if early[0] <= t < early[1]]
    last = [mb for t, mb in samples if t >= length - (early[1] - early[0])]
    rss["minute 2"], rss["last minute"] = float(np.mean(window)), float(np.mean(last))
    growth = (rss["last minute"] - rss["minute 2"]) / rss["minute 2"] * 100
    peak = max(mb for _, mb in samples)
    print(
        f"  RSS (mean of 5-second samples): start {rss['start']:.0f} MB, minute 2 {rss['minute 2']:.0f} MB, "
        f"last minute {rss['last minute']:.0f} MB ({growth:+.1f} %); peak {peak:.0f} MB; "
        f"idle after {rss['idle after']:.0f} MB"
    )
    if growth >= 10:
        failures.append(f"RSS grew {growth:.1f} %")
    for failure in failures:
        print(f"GOAL MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=6)
    parser.add_argument(
        "--hostile", type=int, default=0, help="clients sending client mistakes and attacks besides"
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.minutes, args.clients, args.hostile)))
