"""Bounds: the server's peak memory under the inputs that used to exhaust it.

    .venv/bin/python benchmarks/bounds.py [--formats wav,mp3,...] [--long-chars 7500]

Runs ``emotts serve --port P --wyoming tcp://127.0.0.1:Q`` with the default configuration as a
subprocess (so ``/proc/PID/status`` is the server's alone), samples its RSS every 20 ms, and
prints the peak during each case next to the RSS before it:

(a) the 500-break request (500 × ``<break time="10s"/>`` in 12 KB) on the native route
    (wav, and streamed pcm16) and the OpenAI route (mp3): refused before rendering;
(b) the longest request the default limits admit, in every output format of both routes:
    numbered sentences (never cached) up to ``--long-chars`` characters, about nine minutes of
    speech at the voice's pace, under ``limits.max_audio_s``;
(c) 8 Wyoming connections that each declare a 64 MiB payload and then idle;
(d) the IVR queue at its global budget: 990 KB prompts queued for calls that never connect, one
    per call, until the server answers 429.

Goal (issue 15): the peak stays under 1.2 GB in every case. Exit status 1 when it does not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]  # benchmarks/wyoming.py would hide the wyoming package
    sys.path.append(str(Path(__file__).resolve().parent))  # after the packages: for soak.py

import aiohttp  # noqa: E402

from soak import free_port, rss_mb  # noqa: E402

GOAL_MB = 1200.0
BREAKS_500 = "<speak>" + "Now. <break time='10s'/>" * 500 + "</speak>"
NATIVE_FORMATS = ("wav", "flac", "ogg", "pcm16", "ulaw", "alaw")
OPENAI_FORMATS = ("mp3", "opus", "flac", "wav", "pcm")


class PeakRss:
    """The largest RSS of ``pid`` seen between :meth:`start` and :meth:`stop` (20 ms samples)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._running = False
        self._thread: threading.Thread | None = None

    def start(self) -> float:
        self.peak = rss_mb(self.pid)
        self._running = True
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self.peak

    def _watch(self) -> None:
        while self._running:
            self.peak = max(self.peak, rss_mb(self.pid))
            time.sleep(0.02)

    def stop(self) -> float:
        self._running = False
        if self._thread is not None:
            self._thread.join()
        return max(self.peak, rss_mb(self.pid))


def long_text(chars: int, tag: str) -> str:
    sentences, size, number = [], 0, 0
    while size < chars:
        number += 1
        sentence = f"This is sentence {number} of the {tag} test, read at an even pace."
        sentences.append(sentence)
        size += len(sentence) + 1
    return " ".join(sentences)


async def post(session, url: str, body: dict) -> tuple[int, int]:
    """Status and bytes received of one request, read in blocks as a client would."""
    async with session.post(url, json=body, timeout=aiohttp.ClientTimeout(total=900)) as response:
        size = 0
        async for block in response.content.iter_chunked(1 << 16):
            size += len(block)
        return response.status, size


async def case(watch: PeakRss, name: str, work) -> tuple[str, float, float, str]:
    before = watch.start()
    started = time.monotonic()
    try:
        detail = await work()
    except Exception as exc:  # noqa: BLE001 - reported as the case's outcome
        detail = f"failed: {type(exc).__name__}: {exc}"
    peak = watch.stop()
    line = (name, before, peak, f"{detail} ({time.monotonic() - started:.1f} s)")
    print(f"{name:44s} before {before:7.0f} MB  peak {peak:7.0f} MB  {line[3]}", flush=True)
    return line


async def idle_wyoming(port: int, count: int = 8) -> str:
    writers = []
    header = json.dumps({"type": "synthesize", "data_length": 0, "payload_length": 64 << 20}).encode() + b"\n"
    for _ in range(count):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(header + b"\0" * 4096)
        await writer.drain()
        writers.append((reader, writer))
    await asyncio.sleep(3.0)
    closed = 0
    for reader, writer in writers:
        try:
            data = await asyncio.wait_for(reader.read(65536), 0.5)
            closed += data == b"" or b"error" in data
        except asyncio.TimeoutError:
            pass
        writer.close()
    return f"{count} connections, {closed} answered with an error or closed"


async def fill_ivr(session, base: str) -> str:
    text = "Please hold the line." + " " * 990_000  # a prompt near limits.max_input_bytes, one per call
    queued = 0
    for call in range(2000):
        async with session.post(f"{base}/v1/ivr/calls/bench-{call}/say", json={"text": text}) as response:
            await response.read()
            if response.status == 429:
                return f"{queued} prompts queued, then 429"
            if response.status >= 400:
                return f"{queued} prompts queued, then {response.status}"
            queued += 1
    return f"{queued} prompts queued, never refused"


async def run(args) -> int:
    http_port, wyoming_port = free_port(), free_port()
    command = [
        str(Path(sys.executable).with_name("emotts")),
        "serve",
        "--port",
        str(http_port),
        "--wyoming",
        f"tcp://127.0.0.1:{wyoming_port}",
    ]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{http_port}"
    results = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(base + "/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
            watch = PeakRss(server.pid)
            warm = await post(session, base + "/v1/synthesize", {"input": "Warm up."})
            print(f"server ready, RSS {rss_mb(server.pid):.0f} MB (warm-up {warm[0]})", flush=True)

            async def one(url, body):
                status, size = await post(session, url, body)
                return f"{status}, {size:,} bytes"

            print("(a) the 500-break request", flush=True)
            for name, url, body in [
                ("native wav", "/v1/synthesize", {"input": BREAKS_500}),
                (
                    "native pcm16 streamed",
                    "/v1/synthesize",
                    {"input": BREAKS_500, "stream": True, "format": "pcm16"},
                ),
                ("openai mp3", "/v1/audio/speech", {"input": BREAKS_500, "response_format": "mp3"}),
            ]:
                results.append(
                    await case(watch, f"(a) {name}", lambda url=url, body=body: one(base + url, body))
                )

            print(f"(b) the longest admitted request ({args.long_chars:,} characters)", flush=True)
            formats = [f for f in args.formats.split(",") if f]
            for fmt in formats:
                if fmt in NATIVE_FORMATS:
                    body = {"input": long_text(args.long_chars, f"native {fmt}"), "format": fmt}
                    results.append(
                        await case(
                            watch, f"(b) native {fmt}", lambda body=body: one(base + "/v1/synthesize", body)
                        )
                    )
                if fmt in OPENAI_FORMATS:
                    body = {"input": long_text(args.long_chars, f"openai {fmt}"), "response_format": fmt}
                    results.append(
                        await case(
                            watch, f"(b) openai {fmt}", lambda body=body: one(base + "/v1/audio/speech", body)
                        )
                    )

            print("(c) idle Wyoming connections", flush=True)
            results.append(
                await case(watch, "(c) 8 x 64 MiB declared, idle", lambda: idle_wyoming(wyoming_port))
            )

            print("(d) the IVR queue at its budget", flush=True)
            results.append(
                await case(watch, "(d) prompts for calls never connected", lambda: fill_ivr(session, base))
            )
            async with session.get(base + "/healthz") as response:
                print(f"after: /healthz {response.status}, RSS {rss_mb(server.pid):.0f} MB", flush=True)
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
    worst = max(results, key=lambda r: r[2])
    print(f"\nworst case: {worst[0]}: peak {worst[2]:.0f} MB (goal < {GOAL_MB:.0f} MB)")
    return 0 if worst[2] < GOAL_MB else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--formats",
        default="wav,flac,ogg,pcm16,ulaw,alaw,mp3,opus,pcm",
        help="comma-separated formats for case (b) (native: wav flac ogg pcm16 ulaw alaw; "
        "OpenAI: mp3 opus flac wav pcm)",
    )
    parser.add_argument(
        "--long-chars", type=int, default=7500, help="characters of the long request of case (b)"
    )
    return asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    sys.exit(main())
