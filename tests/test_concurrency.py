"""Sharing the machine: the render queue's order and express lane, a long request yielding between
sentences, render threads splitting the cores, freed memory given back."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import threading
import time

import pytest
import pytest_asyncio

from emotts_plugin import load_config
from emotts_plugin.adapters.http import create_app
from emotts_plugin.adapters.requests import SYNTHESIZER
from emotts_plugin.config import CacheConfig
from emotts_plugin.render_queue import (
    EXPRESS_CHARS,
    MAX_HANDICAP_S,
    RenderQueue,
    Trimmer,
    handicap_s,
    lower_thread_priority,
    threads_per_worker,
    trim,
)
from emotts_plugin.synthesizer import Synthesizer

pytestmark = pytest.mark.asyncio

LONG = " ".join(f"Item {n} on the list is a sentence of its own, read in full." for n in range(1, 25))


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    # no cache: every request renders, as distinct traffic would
    return Synthesizer(dataclasses.replace(load_config([]), cache=CacheConfig(memory_mb=0, dir=None)))


@pytest_asyncio.fixture
async def one_worker(aiohttp_client, synth):
    # no express thread: the short request must get its turn between the long one's sentences
    return await aiohttp_client(create_app(synth.config, synthesizer=synth, workers=1, express_workers=0))


@pytest.mark.parametrize(
    "path, body",
    [
        ("/v1/synthesize", {"input": LONG}),
        ("/v1/audio/speech", {"input": LONG, "model": "tts-1", "voice": "alloy"}),
    ],
)
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
    print(
        f"{path}: short idle {idle_s * 1000:.0f} ms, under load {short_s * 1000:.0f} ms; "
        f"long {long_done - began:.1f} s"
    )
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


async def test_the_shortest_request_goes_first_and_nothing_starves():
    queue = RenderQueue(1, 8)
    gate = threading.Event()
    order: list[str] = []
    try:
        blocker = asyncio.create_task(queue.call(0, 0, gate.wait))
        await asyncio.sleep(0.05)  # the only worker is held
        jobs = [
            asyncio.create_task(queue.call(size, done, order.append, name))
            for name, size, done in [
                ("paragraph", 400, 0),
                ("long, 3rd sentence", 10_000, 2),
                ("reply", 20, 0),
            ]
        ]
        await asyncio.sleep(0.05)
        gate.set()
        await asyncio.gather(blocker, *jobs)
    finally:
        queue.close()
    assert order == ["reply", "paragraph", "long, 3rd sentence"]
    assert handicap_s(10_000, 50) == MAX_HANDICAP_S  # a long input is held back a bounded time


async def test_an_express_thread_takes_short_requests_while_the_workers_are_busy():
    queue = RenderQueue(1, 8, express_workers=1)
    gate = threading.Event()
    try:
        busy = asyncio.create_task(queue.call(5_000, 0, gate.wait))
        await asyncio.sleep(0.05)  # the only worker is held
        waiting = asyncio.create_task(queue.call(300, 0, threading.current_thread))
        await asyncio.sleep(0.05)
        short = await asyncio.wait_for(queue.call(EXPRESS_CHARS, 0, threading.current_thread), 5)
        assert short.name.startswith("emotts-express")
        assert not waiting.done()  # a paragraph never takes the express lane
        gate.set()
        assert (await waiting).name.startswith("emotts-render")
        await busy
        assert queue.jobs_done == 3
    finally:
        queue.close()


def _own_nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="threads have their own nice value on Linux only"
)
async def test_workers_run_below_the_express_threads_and_the_event_loop():
    loop_nice = _own_nice()
    queue = RenderQueue(1, 8, express_workers=1, worker_nice=5)
    gate = threading.Event()
    try:
        worker = await queue.call(5_000, 0, _own_nice)
        busy = asyncio.create_task(queue.call(5_000, 0, gate.wait))
        await asyncio.sleep(0.05)  # the worker is held: the short job can only be the express thread's
        express = await asyncio.wait_for(queue.call(EXPRESS_CHARS, 0, _own_nice), 5)
        gate.set()
        await busy
    finally:
        queue.close()
    assert worker == min(19, loop_nice + 5)
    assert express == loop_nice  # neither the express thread nor the process was lowered
    assert _own_nice() == loop_nice
    assert not lower_thread_priority(0)


async def test_an_idle_express_thread_gets_the_short_job_before_an_idle_worker():
    queue = RenderQueue(1, 8, express_workers=1)
    try:
        names = []
        for _ in range(5):
            await asyncio.sleep(0.05)  # both threads waiting
            names.append((await queue.call(EXPRESS_CHARS, 0, threading.current_thread)).name)
    finally:
        queue.close()
    assert all(name.startswith("emotts-express") for name in names), names


async def test_a_one_sentence_request_is_one_job(synth):
    queue = RenderQueue(1, 8)
    try:
        chunks = [chunk async for chunk in queue.steps(3, synth.stream, "Yes.")]
        assert [c.text for c in chunks] == ["Yes."] and queue.jobs_done == 1
        text = "One. Two. Three."
        chunks = [chunk async for chunk in queue.steps(len(text), synth.stream, text)]
        assert [c.text for c in chunks] == ["One.", "Two.", "Three."] and queue.jobs_done == 4
        # an iterator that cannot tell its length is asked once more to find its end
        items = [item async for item in queue.steps(3, lambda: (n for n in range(3)))]
        assert items == [0, 1, 2] and queue.jobs_done == 8
    finally:
        queue.close()


async def test_steps_raise_the_first_jobs_error_and_keep_to_their_time():
    queue = RenderQueue(1, 8)
    try:
        with pytest.raises(ValueError, match="bad input"):
            [item async for item in queue.steps(3, lambda: (_ for _ in ()).throw(ValueError("bad input")))]

        def slow():
            yield 1
            time.sleep(1.0)
            yield 2

        received = []
        with pytest.raises(asyncio.TimeoutError):
            async for item in queue.steps(3, slow, timeout_s=0.5):
                received.append(item)
        assert received == [1]
    finally:
        queue.close()


async def test_freed_memory_is_trimmed_at_most_once_per_interval():
    trimmer = Trimmer(interval_s=3600)
    trimmer.job_done()
    assert trimmer.trims == 0
    trimmer = Trimmer(interval_s=0)
    trimmer.job_done()
    trimmer.job_done()
    assert trimmer.trims == (2 if trim() else 0)
