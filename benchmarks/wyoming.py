"""Time to first audio chunk over Wyoming: a streamed three-sentence announcement vs one ``synthesize``.

    .venv/bin/python benchmarks/wyoming.py [--runs N]

Starts the Wyoming server in-process on a free loopback port and talks to it with the
``wyoming`` package's client. The streamed run sends the text word by word
(``synthesize-start`` / ``synthesize-chunk``s / ``synthesize-stop``); the other sends it
whole. Both report the time from the first request byte to the first ``audio-chunk``
and to the end of the answer.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import socket
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and its name would hide
# the ``wyoming`` package.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

from wyoming.client import AsyncTcpClient
from wyoming.tts import Synthesize, SynthesizeChunk, SynthesizeStart, SynthesizeStop, SynthesizeVoice

from emotts_plugin.adapters.wyoming import run_wyoming
from emotts_plugin.config import CacheConfig, load_config
from emotts_plugin.synthesizer import Synthesizer

TEXT = (
    "Attention please, the smoke alarm in the kitchen has been triggered. "
    "Leave the house now by the nearest exit. "
    "Do not use the elevator and call the fire brigade once you are outside."
)


async def _timed(port: int, streamed: bool) -> tuple[float, float]:
    voice = SynthesizeVoice(name="joe", speaker="afraid")
    async with AsyncTcpClient("127.0.0.1", port) as client:
        start = time.perf_counter()
        if streamed:
            await client.write_event(SynthesizeStart(voice=voice).event())
            for word in TEXT.split(" "):
                await client.write_event(SynthesizeChunk(text=word + " ").event())
            await client.write_event(SynthesizeStop().event())
            end_type = "synthesize-stopped"
        else:
            await client.write_event(Synthesize(text=TEXT, voice=voice).event())
            end_type = "audio-stop"
        first = None
        while True:
            event = await client.read_event()
            if event is None or event.type == "error":
                raise RuntimeError(f"server answered {event}")
            if event.type == "audio-chunk" and first is None:
                first = time.perf_counter() - start
            if event.type == end_type:
                return first, time.perf_counter() - start


async def main(runs: int) -> None:
    # no render cache: the same announcement is timed again and again and must render every time
    synth = Synthesizer(
        dataclasses.replace(load_config([]), noise=False, cache=CacheConfig(memory_mb=0, dir=None))
    )
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = asyncio.create_task(run_wyoming(f"tcp://127.0.0.1:{port}", synth))
    await asyncio.sleep(0.2)
    await _timed(port, False)  # warm-up
    try:
        for streamed in (False, True):
            results = [await _timed(port, streamed) for _ in range(runs)]
            first = statistics.median(r[0] for r in results)
            total = statistics.median(r[1] for r in results)
            label = (
                "streamed (synthesize-chunk, word by word)" if streamed else "non-streamed (one synthesize)"
            )
            print(
                f"{label:44s} first audio chunk {first * 1000:7.1f} ms   "
                f"complete {total * 1000:7.1f} ms   (median of {runs})"
            )
    finally:
        server.cancel()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    asyncio.run(main(parser.parse_args().runs))
