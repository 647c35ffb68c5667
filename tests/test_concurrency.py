"""Sharing the machine: a long request yields between sentences; render threads split the cores."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time

import pytest
import pytest_asyncio

from emotts_plugin import load_config
from emotts_plugin.adapters.http import SYNTHESIZER, create_app, threads_per_worker
from emotts_plugin.config import CacheConfig
from emotts_plugin.synthesizer import Synthesizer

pytestmark = pytest.mark.asyncio

LONG = " ".join(f"Item {n} on the list is a sentence of its own, read in full." for n in range(1, 25))


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    # no cache: every request renders, as distinct traffic would
    return Synthesizer(dataclasses.replace(load_config([]), cache=CacheConfig(memory_mb=0, dir=None)))


@pytest_asyncio.fixture
async def one_worker(aiohttp_client, synth):
    return await aiohttp_client(create_app(synth.config, synthesizer=synth, workers=1))


@pytest.mark.parametrize("path, body", [("/v1/synthesize", {"input": LONG}), ("/v1/audio/speech", {"input": LONG, "model": "tts-1", "voice": "alloy"})])
async def test_a_long_request_does_not_starve_a_short_one(one_worker, path, body):
    assert (await one_worker.post("/v1/synthesize", json={"input": "Warm up."})).status == 200
    started = time.perf_counter()
    idle = await one_worker.post("/v1/synthesize", json={"input": "Yes."})
    assert idle.status == 200
    idle_s = time.perf_counter() - started

    async def timed(coro):
        response = await coro
        await response.read()
        assert response.status == 200, await response.text()
        return time.perf_counter()

    began = time.perf_counter()
    long_task = asyncio.create_task(timed(one_worker.post(path, json=body)))
    await asyncio.sleep(0.3)  # the long one is rendering on the only worker
    short_sent = time.perf_counter()
    short_done = await timed(one_worker.post("/v1/synthesize", json={"input": "Yes."}))
    long_done = await long_task
    short_s = short_done - short_sent
    print(f"{path}: short idle {idle_s * 1000:.0f} ms, under load {short_s * 1000:.0f} ms; long {long_done - began:.1f} s")
    # answered while the long one still had many sentences to go: it waited for the sentence being
    # rendered, not for the whole request (benchmarks/http_load.py measures latency under load)
    assert short_done < long_done - 1.0


async def test_render_threads_get_a_share_of_the_cores(aiohttp_client):
    config = load_config([])
    assert config.threads is None
    client = await aiohttp_client(create_app(config, workers=2))
    built = client.server.app[SYNTHESIZER]
    assert built.config.threads == threads_per_worker(2) == max(1, (os.cpu_count() or 1) // 2)
    assert (await client.post("/v1/synthesize", json={"input": "Shared."})).status == 200
