"""IVR timings on loopback: AudioSocket frame pacing with calls at once, and the prompt endpoint.

    .venv/bin/python benchmarks/ivr.py [--calls 1,4] [--requests 20]

Starts the HTTP application with its AudioSocket server in-process on free loopback ports.
For each count of simultaneous calls, every call queues the same two-sentence prompt,
dials in (UUID frame, then the caller's silence every 20 ms as Asterisk sends it) and
records when each 320-byte frame arrives: time to the first frame, mean / median / p95 /
max interval between frames. Then ``GET /v1/ivr/prompt.wav``: a render, and the same URL
again with ``If-None-Match`` (the ``304`` a caching player gets).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import struct
import time
import uuid

import aiohttp
import numpy as np
from aiohttp import web

from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.ivr import AUDIOSOCKET
from emotts_plugin.config import load_config
from emotts_plugin.synthesizer import Synthesizer

PROMPT = "Thank you for calling Northwind support. Please hold while we find the next available agent."
PREFIX = b"\x10\x01\x40"  # audio frame header: type 0x10, 320 bytes


async def one_call(base: str, port: int) -> tuple[float, list[float]]:
    call_id = str(uuid.uuid4())
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{base}/v1/ivr/calls/{call_id}/say", json={"text": PROMPT, "emotion": "calm"}
        ) as response:
            assert response.status == 202, await response.text()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    dialled = time.perf_counter()
    writer.write(struct.pack(">BH", 0x01, 16) + uuid.UUID(call_id).bytes)

    async def caller() -> None:
        while True:
            writer.write(PREFIX + bytes(320))
            await asyncio.sleep(0.02)

    talker = asyncio.create_task(caller())
    arrivals = []
    try:
        while True:
            try:
                header = await asyncio.wait_for(reader.readexactly(3), 1.0 if arrivals else 30.0)
            except asyncio.TimeoutError:
                break
            kind, length = struct.unpack(">BH", header)
            await reader.readexactly(length)
            if kind == 0x10:
                arrivals.append(time.perf_counter())
    finally:
        talker.cancel()
        writer.close()
    return arrivals[0] - dialled, list(np.diff(arrivals) * 1000.0)


async def main(calls: list[int], requests: int) -> None:
    config = load_config([])
    config = dataclasses.replace(config, server=dataclasses.replace(config.server, audiosocket="127.0.0.1:0"))
    synth = Synthesizer(config)
    started = time.perf_counter()
    synth.synthesize("Warming up.", emotion="calm")
    print(
        f"first render in this process (not counted below): {(time.perf_counter() - started) * 1000:.0f} ms"
    )
    app = create_app(config, synthesizer=synth)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    http_port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port picked for us
    base = f"http://127.0.0.1:{http_port}"
    socket_port = app[AUDIOSOCKET].sockets[0].getsockname()[1]
    try:
        print(f"AudioSocket pacing ({PROMPT!r}, calm, 8 kHz slin, 20 ms frames)")
        for count in calls:
            results = await asyncio.gather(*(one_call(base, socket_port) for _ in range(count)))
            firsts = [first * 1000 for first, _ in results]
            gaps = [gap for _, call_gaps in results for gap in call_gaps]
            frames = sum(len(g) + 1 for _, g in results)
            print(
                f"  {count} call(s): {frames} frames; first frame after {statistics.mean(firsts):.0f} ms "
                f"(max {max(firsts):.0f}); interval mean {statistics.mean(gaps):.2f} ms, median "
                f"{statistics.median(gaps):.2f}, p95 {np.percentile(gaps, 95):.2f}, max {max(gaps):.2f}"
            )
        async with aiohttp.ClientSession() as session:
            renders, revalidations = [], []
            for i in range(requests):
                params = {"text": f"Your reference number is {i}.", "emotion": "calm"}
                started = time.perf_counter()
                async with session.get(f"{base}/v1/ivr/prompt.wav", params=params) as response:
                    await response.read()
                    tag = response.headers["ETag"]
                renders.append((time.perf_counter() - started) * 1000)
                started = time.perf_counter()
                async with session.get(
                    f"{base}/v1/ivr/prompt.wav", params=params, headers={"If-None-Match": tag}
                ) as response:
                    assert response.status == 304
                revalidations.append((time.perf_counter() - started) * 1000)
        print(
            f"GET /v1/ivr/prompt.wav ({requests} prompts): "
            f"render median {statistics.median(renders):.0f} ms, "
            f"304 revalidation median {statistics.median(revalidations):.1f} ms "
            f"(max {max(revalidations):.1f})"
        )
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--calls", default="1,4", help="comma-separated counts of simultaneous calls (default 1,4)"
    )
    parser.add_argument("--requests", type=int, default=20, help="prompt files fetched (default 20)")
    args = parser.parse_args()
    asyncio.run(main([int(n) for n in args.calls.split(",")], args.requests))
