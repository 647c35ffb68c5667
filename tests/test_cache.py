"""The rendered-utterance cache: keys, bounds, the disk tier, metrics, and a process killed mid-write."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from emotts_plugin import load_config
from emotts_plugin.cache import RenderCache, RenderedUtterance
from emotts_plugin.config import CacheConfig
from emotts_plugin.models.base import RenderWarning
from emotts_plugin.synthesizer import Synthesizer

TEXT = "Your table is ready. Please follow me."


def entry(n: int = 1000, value: float = 0.1) -> RenderedUtterance:
    audio, warnings = np.full(n, value, np.float32), (RenderWarning("w"),)
    return RenderedUtterance(audio, 22050, (("m", 0.1),), ((0, 0.0, 0.5),), warnings, True)


@pytest.fixture(scope="module")
def synth() -> Synthesizer:
    return Synthesizer(load_config([]))


def test_repeated_sentences_are_rendered_once(synth, monkeypatch):
    synth.cache.clear()
    calls = []
    real = synth._render
    monkeypatch.setattr(
        synth, "_render", lambda utt, seed, **kw: calls.append(utt) or real(utt, seed=seed, **kw)
    )
    first = synth.synthesize(TEXT, emotion="calm")
    assert len(calls) == 2  # two sentences
    started = time.perf_counter()
    again = synth.synthesize(TEXT, emotion="calm")
    hit_ms = (time.perf_counter() - started) * 1000
    assert len(calls) == 2 and np.array_equal(first.audio, again.audio)
    assert [m.name for m in again.marks] == [m.name for m in first.marks] and again.spans == first.spans
    print(f"cache hit: {hit_ms:.1f} ms for two sentences")
    synth.synthesize(TEXT, emotion="sad")  # another emotion is another key
    synth.synthesize("Your table is ready. Please follow me, sir.", emotion="calm")  # one sentence changed
    assert len(calls) == 5
    synth.synthesize(TEXT, emotion="calm", seed=7)  # an explicit seed is part of the key
    assert len(calls) == 7


def test_without_a_seed_the_content_seeds_the_noise(synth):
    synth.cache.clear()
    a = synth.synthesize(TEXT)
    synth.cache.clear()
    b = synth.synthesize(TEXT)
    assert np.array_equal(a.audio, b.audio)  # rendered twice, the same samples
    assert not np.array_equal(a.audio, synth.synthesize(TEXT, seed=1).audio)


def test_cached_audio_cannot_be_changed_in_place(synth):
    chunk = next(synth.stream("Careful with that."))  # a streamed chunk is the cached array itself
    with pytest.raises(ValueError):
        chunk.audio[0] = 1.0


def test_memory_tier_is_bounded_in_bytes():
    cache = RenderCache(memory_bytes=3 * entry().nbytes)
    for i in range(5):
        cache.put(f"{i:064x}", entry())
    stats = cache.stats()
    assert (
        stats["memory_entries"] == 3
        and stats["evictions_memory"] == 2
        and stats["memory_bytes"] <= 3 * entry().nbytes
    )
    assert cache.get(f"{0:064x}") is None and cache.get(f"{4:064x}") is not None
    assert cache.stats()["misses"] == 1 and cache.stats()["hits_memory"] == 1


def test_disk_tier_survives_a_restart_and_is_bounded(tmp_path):
    size = len(entry().to_bytes())
    cache = RenderCache(memory_bytes=10**6, directory=tmp_path, disk_bytes=3 * size)
    for i in range(4):
        cache.put(f"{i:064x}", entry(value=i / 10))
    assert len(list(tmp_path.glob("*.npz"))) == 3  # the oldest went
    reopened = RenderCache(memory_bytes=10**6, directory=tmp_path, disk_bytes=3 * size)
    got = reopened.get(f"{3:064x}")
    assert got is not None and got.audio[0] == pytest.approx(0.3) and got.marks == (("m", 0.1),)
    assert reopened.stats()["hits_disk"] == 1
    assert reopened.get(f"{3:064x}") is not None and reopened.stats()["hits_memory"] == 1


def test_unreadable_files_are_misses_and_leftovers_are_removed(tmp_path):
    key = "a" * 64
    (tmp_path / f"{key}.npz").write_bytes(b"PK\x03\x04 truncated")
    (tmp_path / ".emotts-cache-x.part").write_bytes(b"half an entry")
    cache = RenderCache(memory_bytes=10**6, directory=tmp_path, disk_bytes=10**6)
    assert not (tmp_path / ".emotts-cache-x.part").exists()
    assert cache.get(key) is None and not (tmp_path / f"{key}.npz").exists()


def test_an_entry_round_trips_and_another_format_is_a_miss(tmp_path, monkeypatch):
    stored = entry()
    again = RenderedUtterance.from_bytes(stored.to_bytes())
    assert np.array_equal(again.audio, stored.audio) and again.warnings == stored.warnings
    assert (again.marks, again.spans, again.spoken) == (stored.marks, stored.spans, stored.spoken)
    key = "b" * 64
    monkeypatch.setattr("emotts_plugin.cache.FORMAT", 2)
    (tmp_path / f"{key}.npz").write_bytes(stored.to_bytes())
    monkeypatch.setattr("emotts_plugin.cache.FORMAT", 3)  # read by a later version
    cache = RenderCache(memory_bytes=10**6, directory=tmp_path, disk_bytes=10**6)
    assert cache.get(key) is None and not (tmp_path / f"{key}.npz").exists()


def test_a_process_killed_mid_render_leaves_the_cache_readable(tmp_path):
    folder = tmp_path / "cache"
    script = textwrap.dedent(f"""
        import dataclasses, sys
        from emotts_plugin import load_config
        from emotts_plugin.config import CacheConfig
        from emotts_plugin.synthesizer import Synthesizer
        config = dataclasses.replace(
            load_config([]), cache=CacheConfig(memory_mb=0, dir={str(folder)!r}, disk_mb=64)
        )
        synth = Synthesizer(config)
        for i in range(1000):
            synth.synthesize(f"Announcement number {{i}} for the waiting room.")
            print(i, flush=True)
    """)
    process = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        for _ in range(6):  # let a few entries land, then kill it while it renders the next
            assert process.stdout.readline(), "the renderer ended early"
        time.sleep(0.05)
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.wait(30)
    files = sorted(folder.glob("*.npz"))
    assert len(files) >= 6
    for path in files:
        RenderedUtterance.from_bytes(path.read_bytes())  # every entry left is whole
    config = dataclasses.replace(load_config([]), cache=CacheConfig(memory_mb=0, dir=str(folder), disk_mb=64))
    reopened = Synthesizer(config)
    assert not list(folder.glob(".emotts-cache-*"))  # temporary files of the killed write are gone
    reopened.synthesize("Announcement number 0 for the waiting room.")
    assert reopened.cache.stats()["hits_disk"] == 1 and reopened.cache.stats()["misses"] == 0


def test_the_cache_can_be_turned_off():
    config = dataclasses.replace(load_config([]), cache=CacheConfig(memory_mb=0, dir=None))
    synth = Synthesizer(config)
    synth.synthesize("No cache here.")
    assert not synth.cache.enabled and synth.cache.stats()["misses"] == 0


@pytest.mark.asyncio
async def test_metrics_show_cache_counters(aiohttp_client, synth):
    from emotts_plugin.adapters.http import create_app

    client = await aiohttp_client(create_app(synth.config, synthesizer=synth))
    body = {"input": "Metrics, please. Metrics, please."}
    assert (await client.post("/v1/synthesize", json=body)).status == 200
    assert (await client.post("/v1/synthesize", json=body)).status == 200
    text = await (await client.get("/metrics")).text()
    hits = int(
        next(
            line for line in text.splitlines() if line.startswith('emotts_cache_hits_total{tier="memory"}')
        ).split()[-1]
    )
    misses = int(
        next(line for line in text.splitlines() if line.startswith("emotts_cache_misses_total")).split()[-1]
    )
    assert hits >= 3 and misses >= 1  # the second sentence and the whole second request were hits
    assert 'emotts_cache_bytes{tier="memory"}' in text
