"""The render cache at work: a repeated IVR flow renders nothing, and a hit is answered in milliseconds.

    .venv/bin/python benchmarks/cache.py [--flow examples/ivr/customer-service.yaml] [--hits 50]

Serves the HTTP application on a free loopback port with the cache in memory and on disk
(a temporary folder). Fetches every prompt of the flow through ``GET /v1/ivr/prompt`` (no
``If-None-Match``: the server must answer with the audio) three times — cold, warm, and after a
restart of the server on the same cache folder — and prints, per pass, the sentences rendered
(cache misses), hits per tier and the time per prompt. Then times ``POST /v1/synthesize`` for a
short reply whose sentence is cached (median, p95 and max of ``--hits`` requests). Goals: the
warm and restarted passes render nothing; a hit answers in under 10 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp
import numpy as np
from aiohttp import web

from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.ivr_flow import load_flow
from emotts_plugin.config import CacheConfig, load_config
from emotts_plugin.synthesizer import Synthesizer

ROOT = Path(__file__).resolve().parents[1]
HIT_TEXT = "Thank you, your payment has been received."


async def serve(synth: Synthesizer) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(create_app(synth.config, synthesizer=synth))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001 - the port picked for us
    return runner, f"http://127.0.0.1:{port}"


async def flow_pass(base: str, synth: Synthesizer, prompts, label: str) -> int:
    before = synth.cache.stats()
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session:
        for item in prompts:
            params = {"text": item.prompt.text, "format": "wav"}
            for key in ("emotion", "voice"):
                if getattr(item.prompt, key):
                    params[key] = getattr(item.prompt, key)
            if item.prompt.intensity is not None:
                params["intensity"] = str(item.prompt.intensity)
            async with session.get(f"{base}/v1/ivr/prompt", params=params) as response:
                assert response.status == 200, await response.text()
                await response.read()
    seconds = time.perf_counter() - started
    after = synth.cache.stats()
    rendered = after["misses"] - before["misses"]
    print(
        f"  {label:10s} {len(prompts)} prompts: rendered {rendered} sentences, "
        f"hits memory {after['hits_memory'] - before['hits_memory']}, "
        f"disk {after['hits_disk'] - before['hits_disk']}; "
        f"{seconds * 1000 / len(prompts):.1f} ms per prompt"
    )
    return rendered


async def main(flow_path: str, hits: int) -> int:
    folder = tempfile.mkdtemp(prefix="emotts-cache-")
    config = dataclasses.replace(load_config([]), cache=CacheConfig(memory_mb=64, dir=folder, disk_mb=256))
    synth = Synthesizer(config)
    prompts = load_flow(flow_path, synthesizer=synth).prompts
    print(f"IVR flow {flow_path} through GET /v1/ivr/prompt (cache folder {folder})")
    runner, base = await serve(synth)
    failures = []
    try:
        cold = await flow_pass(base, synth, prompts, "cold")
        warm = await flow_pass(base, synth, prompts, "warm")
    finally:
        await runner.cleanup()
    restarted_synth = Synthesizer(config)  # a new process's view: memory empty, the folder kept
    runner, base = await serve(restarted_synth)
    try:
        restarted = await flow_pass(base, restarted_synth, prompts, "restarted")
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{base}/v1/synthesize", json={"input": HIT_TEXT}) as response:
                await response.read()
            times = []
            for _ in range(hits):
                started = time.perf_counter()
                async with session.post(f"{base}/v1/synthesize", json={"input": HIT_TEXT}) as response:
                    await response.read()
                    assert response.status == 200
                times.append((time.perf_counter() - started) * 1000)
    finally:
        await runner.cleanup()
    print(f"  cold pass rendered {cold} sentences; warm {warm}; after restart {restarted}")
    print(
        f"POST /v1/synthesize, cached sentence ({hits} requests): median {statistics.median(times):.1f} ms, "
        f"p95 {np.percentile(times, 95):.1f} ms, max {max(times):.1f} ms"
    )
    if warm or restarted:
        failures.append("a repeated flow rendered sentences again")
    if statistics.median(times) >= 10.0:
        failures.append("a cache hit took 10 ms or more (median)")
    for failure in failures:
        print(f"GOAL MISSED: {failure}")
    return 1 if failures else 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--flow", default=str(ROOT / "examples" / "ivr" / "customer-service.yaml"))
    parser.add_argument(
        "--hits", type=int, default=50, help="timed requests for a cached sentence (default 50)"
    )
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.flow, args.hits)))
