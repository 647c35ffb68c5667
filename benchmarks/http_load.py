"""The HTTP server under 16 concurrent clients: errors, time to first byte, short requests' latency.

    .venv/bin/python benchmarks/http_load.py [--clients 16] [--seconds 60] [--repeat-content]

Starts ``emotts serve`` as a subprocess on a free loopback port (the server's event loop and
render threads are then not shared with the clients). Measures a short request idle, then runs
``--clients`` clients for ``--seconds`` (starting over the first 2 s): one sends inputs of
~10 000 characters one after another, the others loop over a mix — short replies, paragraphs,
streamed WAV (time to first byte), OpenAI speech, IVR prompt files — while a probe sends a short
request every second. Every sentence of a request carries a number, so the load is rendering,
not cache hits — except the IVR prompts, which repeat as a phone menu's do, and with
``--repeat-content`` the paragraphs, streams and OpenAI requests, which then come mostly from
the cache. Prints requests and errors per kind, p50/p95 time to first byte and total, the short
requests' latency idle vs under load, and audio seconds per wall second. Goals: zero errors;
the p95 of every short request under load (probe and clients) within 3× the idle median.
Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import aiohttp
import numpy as np

SHORT = {"input": "Yes, of course."}
PARAGRAPH = (
    "Thanks for waiting. I looked at your order and the parcel left our warehouse this morning. "
    "It should reach you on Thursday, and you will get a text message when the driver is near."
)
#: Seconds over which the clients start.
RAMP_S = 2.0
WORDS = "the quick delivery of your order is on its way and will arrive soon".split()


def long_text(rng: random.Random) -> str:
    sentences = []
    while sum(len(s) for s in sentences) < 10_000:
        sentences.append(" ".join(rng.choice(WORDS) for _ in range(12)).capitalize() + ".")
    return " ".join(sentences)


def paragraph(rng: random.Random, fresh: bool) -> str:
    """Four sentences; ``fresh``: each with a number of its own, so no sentence is in the cache."""
    if not fresh:
        return PARAGRAPH
    a, b, c, d = (rng.randint(1, 10**6) for _ in range(4))
    return (
        f"Thanks for waiting, caller {a}. "
        f"I looked at order {b}, and the parcel left our warehouse this morning. "
        f"It should reach you by route {c}, and you will get a text message when the driver is near. "
        f"Your reference is {d}."
    )


async def request(session, base, kind, rng, fresh=True):
    """One request of ``kind``: ``(ttfb s, total s, status, audio bytes)``."""
    if kind == "short":  # a number makes it new to the cache: every short request renders
        method, path, body = (
            "POST",
            "/v1/synthesize",
            {"input": f"{rng.choice(['Yes, of course', 'No problem', 'Got it'])}, {rng.randint(1, 10**6)}."},
        )
    elif kind == "paragraph":
        method, path, body = (
            "POST",
            "/v1/synthesize",
            {"input": paragraph(rng, fresh), "emotion": rng.choice(["calm", "happy", "sad"])},
        )
    elif kind == "long":
        method, path, body = "POST", "/v1/synthesize", {"input": long_text(rng), "format": "pcm16"}
    elif kind == "stream":
        method, path, body = (
            "POST",
            "/v1/synthesize",
            {"input": paragraph(rng, fresh) + f" Reference {rng.randint(1, 50)}.", "stream": True},
        )
    elif kind == "openai":
        method, path, body = (
            "POST",
            "/v1/audio/speech",
            {
                "model": "tts-1",
                "voice": "alloy",
                "input": paragraph(rng, fresh),
                "instructions": "Sound cheerful.",
            },
        )
    else:
        method, path, body = (
            "GET",
            f"/v1/ivr/prompt.ulaw?text=Press+{rng.randint(1, 9)}+for+billing.&emotion=calm",
            None,
        )
    started = time.perf_counter()
    async with session.request(method, base + path, json=body) as response:
        first = None
        size = 0
        async for chunk in response.content.iter_any():
            if first is None:
                first = time.perf_counter() - started
            size += len(chunk)
        return first or (time.perf_counter() - started), time.perf_counter() - started, response.status, size


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def main(clients: int, seconds: float, fresh: bool) -> int:
    port = free_port()
    # ~10 000 characters are ~12 minutes of speech: under this load that takes longer than the
    # default limits.request_timeout_s (120 s), so the benchmark's server allows 15 minutes
    config = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    config.write("limits:\n  request_timeout_s: 900\n")
    config.close()
    server = subprocess.Popen(
        [sys.executable, "-m", "emotts_plugin.cli", "serve", "--port", str(port), "--config", config.name],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    rng = random.Random(1)
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
            for _ in range(120):
                try:
                    async with session.get(base + "/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.5)
            for _ in range(3):
                await request(session, base, "short", rng)  # warm up
            idle = [(await request(session, base, "short", rng))[1] for _ in range(10)]
            idle_ms = statistics.median(idle) * 1000
            print(f"idle short request: median {idle_ms:.0f} ms")

            results: dict[str, list] = collections.defaultdict(list)
            probe: list[float] = []
            stop = time.perf_counter() + seconds
            kinds = ["short"] * 5 + ["paragraph"] * 3 + ["stream"] * 3 + ["openai"] * 2 + ["ivr"] * 2

            async def client(seed: int) -> None:
                own = random.Random(seed)
                await asyncio.sleep(RAMP_S * seed / clients)  # a ramp, not every client in the same instant
                while time.perf_counter() < stop:
                    kind = (
                        "long" if seed == 0 else own.choice(kinds)
                    )  # one client sends 10 000 characters at a time
                    try:
                        results[kind].append(await request(session, base, kind, own, fresh))
                    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
                        results[kind].append((0.0, 0.0, f"{type(exc).__name__}", 0))

            async def prober() -> None:
                while time.perf_counter() < stop:
                    probe.append((await request(session, base, "short", rng))[1])
                    await asyncio.sleep(1.0)

            began = time.perf_counter()
            await asyncio.gather(prober(), *(client(i) for i in range(clients)))
            wall = time.perf_counter() - began
            async with session.get(base + "/metrics") as response:
                metrics = await response.text()
    finally:
        server.terminate()
        server.wait(30)

    errors = collections.Counter()
    print(f"{clients} clients for {seconds:.0f} s (+ finishing): ")
    for kind, rows in sorted(results.items()):
        bad = [r for r in rows if r[2] != 200]
        errors.update(str(r[2]) for r in bad)
        good = [r for r in rows if r[2] == 200]
        if good:
            ttfb = [r[0] * 1000 for r in good]
            total = [r[1] * 1000 for r in good]
            print(
                f"  {kind:9s} {len(rows):4d} requests, {len(bad)} errors; "
                f"TTFB p50 {np.percentile(ttfb, 50):6.0f} ms, p95 {np.percentile(ttfb, 95):6.0f} ms; "
                f"total p50 {np.percentile(total, 50):6.0f} ms, p95 {np.percentile(total, 95):6.0f} ms"
            )
    audio = next(
        (
            float(line.split()[-1])
            for line in metrics.splitlines()
            if line.startswith("emotts_audio_seconds_total")
        ),
        0.0,
    )
    probe_ms = [p * 1000 for p in probe]
    print(
        f"probe (short request once a second): under load median {statistics.median(probe_ms):.0f} ms, "
        f"p95 {np.percentile(probe_ms, 95):.0f} ms = {np.percentile(probe_ms, 95) / idle_ms:.1f}× idle median"
    )
    shorts_ms = probe_ms + [r[1] * 1000 for r in results["short"] if r[2] == 200]
    ratio = np.percentile(shorts_ms, 95) / idle_ms
    print(
        f"every short request (probe and clients, {len(shorts_ms)}): "
        f"under load median {statistics.median(shorts_ms):.0f} ms, "
        f"p95 {np.percentile(shorts_ms, 95):.0f} ms = {ratio:.1f}× idle median"
    )
    print(
        f"errors: {dict(errors) or 0}; audio rendered {audio:.0f} s in {wall:.0f} s of wall time "
        f"({audio / wall:.1f}× real time)"
    )
    missed = []
    if errors:
        missed.append("zero errors")
    if ratio > 3.0:
        missed.append("short requests within 3× of idle")
    for goal in missed:
        print(f"GOAL MISSED: {goal}")
    return 1 if missed else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--repeat-content",
        action="store_true",
        help="paragraphs, streams and OpenAI requests repeat one text (mostly cache hits), "
        "so short requests compete mostly with one another",
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.clients, args.seconds, not args.repeat_content)))
