"""First audio inside the voice-agent frameworks, beside our own chatbot adapter.

    .venv/bin/python benchmarks/frameworks.py [--repeat N] [--piece CHARS] [--delay S]

For each round a new reply (never repeated, so the render cache cannot answer) is written as
LLM deltas of ``--piece`` characters every ``--delay`` seconds, and the time from the first
delta to the first audio is taken:

- ``chatbot``: :class:`~emotts_plugin.adapters.chatbot.ChatbotSpeaker` ``aspeak`` → first chunk;
- ``pipecat``: a Pipecat pipeline (``EmottsTTSService`` → a processor that notes the first
  ``TTSAudioRawFrame``), the deltas queued as ``LLMTextFrame``s;
- ``livekit``: ``EmottsTTS.stream()`` fed by ``push_text`` → first ``SynthesizedAudio``;
- ``ovos``: OVOS hands whole utterances over, not deltas: ``stream_tts(reply)`` → first PCM
  chunk, timed from the hand-over (its figure has no LLM writing time in it).

Each round runs every adapter on its own reply of the same shape, in the same process with one
warm synthesizer, so they see the same machine. Medians and each one's ratio to ``chatbot``
are printed. A framework whose extra is missing is skipped with a line naming it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import time

#: Replies of one shape: a short first sentence, then more. ``{n}`` and ``{thing}`` make each new.
REPLY = "Sure, I can help with the {thing} number {n}. [happy] It should be ready in a few minutes."
THINGS = ("lamp", "kettle", "garage door", "heater", "blinds", "doorbell", "fan", "speaker", "oven")


def reply(round_: int, adapter: int) -> str:
    """A reply no earlier round or adapter used."""
    return REPLY.format(thing=THINGS[(round_ + adapter) % len(THINGS)], n=round_ * 10 + adapter + 1)


def deltas(text: str, piece: int) -> list[str]:
    return [text[start : start + piece] for start in range(0, len(text), piece)]


async def chatbot_first_audio_s(synth, text: str, piece: int, delay: float) -> float:
    from emotts_plugin.adapters.chatbot import ChatbotSpeaker

    first: float | None = None

    async def llm():
        nonlocal first
        for delta in deltas(text, piece):
            if first is None:
                first = time.perf_counter()
            yield delta
            await asyncio.sleep(delay)

    speaker = ChatbotSpeaker(synth)
    chunks = speaker.aspeak(llm())
    try:
        await anext(chunks)
        return time.perf_counter() - first
    finally:
        await chunks.aclose()


async def pipecat_first_audio_s(synth, text: str, piece: int, delay: float) -> float:
    from pipecat.frames.frames import (
        EndFrame,
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        LLMTextFrame,
        TTSAudioRawFrame,
    )
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.processors.frame_processor import FrameProcessor
    from pipecat.workers.runner import WorkerRunner

    from emotts_plugin.adapters.pipecat import EmottsTTSService

    heard = asyncio.Event()

    class FirstAudio(FrameProcessor):
        async def process_frame(self, frame, direction):
            await super().process_frame(frame, direction)
            if isinstance(frame, TTSAudioRawFrame):
                heard.set()
            await self.push_frame(frame, direction)

    worker = PipelineWorker(
        Pipeline([EmottsTTSService(synth), FirstAudio()]),
        params=PipelineParams(audio_out_sample_rate=22050),
        enable_rtvi=False,
        idle_timeout_secs=None,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(worker, frame):
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    await started.wait()

    async def llm():
        await worker.queue_frame(LLMFullResponseStartFrame())
        for delta in deltas(text, piece):
            await worker.queue_frame(LLMTextFrame(delta))
            await asyncio.sleep(delay)
        await worker.queue_frame(LLMFullResponseEndFrame())

    start = time.perf_counter()
    writing = asyncio.create_task(llm())
    await heard.wait()
    first = time.perf_counter() - start
    await writing
    await worker.queue_frame(EndFrame())
    await running
    return first


async def livekit_first_audio_s(synth, text: str, piece: int, delay: float) -> float:
    from emotts_plugin.adapters.livekit import EmottsTTS

    tts = EmottsTTS(synth)
    first: float | None = None
    async with tts.stream() as stream:

        async def push():
            nonlocal first
            for delta in deltas(text, piece):
                if first is None:
                    first = time.perf_counter()
                stream.push_text(delta)
                await asyncio.sleep(delay)
            stream.end_input()

        pushing = asyncio.create_task(push())
        try:
            async for _ in stream:
                return time.perf_counter() - first
        finally:
            pushing.cancel()
            await asyncio.gather(pushing, return_exceptions=True)
    raise RuntimeError("livekit: no audio")


async def ovos_first_audio_s(synth, text: str, piece: int, delay: float) -> float:
    from emotts_plugin.adapters.ovos import EmottsOVOSTTS

    tts = EmottsOVOSTTS({"enable_cache": False}, synthesizer=synth)
    start = time.perf_counter()
    chunks = tts.stream_tts(text)
    try:
        await anext(chunks)  # the WAV header
        await anext(chunks)  # the first sentence's PCM
        return time.perf_counter() - start
    finally:
        await chunks.aclose()


ADAPTERS = {
    "chatbot": (None, chatbot_first_audio_s),
    "pipecat": ("pipecat", pipecat_first_audio_s),
    "livekit": ("livekit", livekit_first_audio_s),
    "ovos": ("ovos", ovos_first_audio_s),
}


def installed(extra: str | None) -> bool:
    if extra is None:
        return True
    import importlib

    module = {"pipecat": "pipecat", "livekit": "livekit.agents", "ovos": "ovos_plugin_manager"}[extra]
    try:
        importlib.import_module(module)
    except ImportError:
        return False
    return True


async def run(repeat: int, piece: int, delay: float) -> dict[str, list[float]]:
    from emotts_plugin.synthesizer import Synthesizer

    synth = Synthesizer()
    synth.synthesize("Ready when you are.")  # voice loaded, Praat and scipy imported
    import scipy.signal  # noqa: F401  (the first resampling imports it; not a framework's cost)

    names = []
    for name, (extra, _) in ADAPTERS.items():
        if installed(extra):
            names.append(name)
        else:
            print(f"{name}: skipped, needs the {extra} extra: pip install 'emotts[{extra}]'")
    times: dict[str, list[float]] = {name: [] for name in names}
    for round_ in range(repeat + 1):  # round 0 warms each framework up and is not counted
        for index, name in enumerate(names):
            seconds = await ADAPTERS[name][1](synth, reply(round_, index), piece, delay)
            if round_:
                times[name].append(seconds)
        if round_:
            print(
                f"round {round_}: " + "  ".join(f"{n} {times[n][-1] * 1000:.0f} ms" for n in names),
                flush=True,
            )
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7, help="rounds counted (median taken)")
    parser.add_argument("--piece", type=int, default=5, help="characters per LLM delta")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between deltas")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    try:
        from loguru import logger  # Pipecat logs every frame at debug level

        logger.remove()
    except ImportError:
        pass
    times = asyncio.run(run(args.repeat, args.piece, args.delay))
    base = statistics.median(times["chatbot"])
    pace = f"deltas of {args.piece} chars every {args.delay} s"
    print(f"\nfirst delta → first audio, median of {args.repeat} ({pace})")
    for name, values in times.items():
        median = statistics.median(values)
        note = " (whole utterance handed over: no LLM writing time)" if name == "ovos" else ""
        print(f"  {name:8s} {median * 1000:7.0f} ms  {median / base:5.2f}× chatbot{note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
