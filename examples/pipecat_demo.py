"""Speak scripted LLM replies through a Pipecat pipeline with emotts (Pipecat plugin demo).

Runs offline. ``ScriptedLLM`` stands in for a Pipecat LLM service: on each ``LLMRunFrame`` it
streams its next reply as ``LLMTextFrame`` deltas of a few characters (splitting tags and
stage directions, as real models do) between ``LLMFullResponseStartFrame`` and
``LLMFullResponseEndFrame``. :class:`~emotts_plugin.adapters.pipecat.EmottsTTSService` speaks
them. The first reply comes 1.5 s after the pipeline starts (as if a user spoke first; the
service loads its resampler meanwhile); before the second, a ``TTSUpdateSettingsFrame`` changes
the default emotion. The ``WavWriter`` at the end of the pipeline stands where a transport's
output would be: it joins the ``TTSAudioRawFrame``\\s into ``pipecat-demo.wav`` and prints each
word ``TTSTextFrame`` with its time, and how long the first audio of each reply took.

    .venv/bin/python examples/pipecat_demo.py                  # pipecat-demo.wav
    .venv/bin/python examples/pipecat_demo.py --emotion calm --intensity 0.4 --out calm.wav
    .venv/bin/python examples/pipecat_demo.py --url http://127.0.0.1:7860   # on `emotts serve`
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

REPLIES = (
    'Good morning! <emotion name="excited">I have great news: your order shipped.</emotion> '
    "It should arrive on Friday.",
    "[sad] I'm afraid the bakery is closed today. *sighs* Let's try again tomorrow at 9 am.",
)


def build(args):
    """The pipeline's processors, and the writer at its end."""
    import numpy as np
    from pipecat.frames.frames import (
        Frame,
        LLMFullResponseEndFrame,
        LLMFullResponseStartFrame,
        LLMRunFrame,
        LLMTextFrame,
        TTSAudioRawFrame,
        TTSStartedFrame,
        TTSTextFrame,
    )
    from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

    from emotts_plugin.adapters.pipecat import EmottsTTSService

    class ScriptedLLM(FrameProcessor):
        """Answers each ``LLMRunFrame`` with the next reply, streamed like an LLM service."""

        def __init__(self, replies, delay: float) -> None:
            super().__init__()
            self.replies = list(replies)
            self.delay = delay
            self.started: list[float] = []

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if not isinstance(frame, LLMRunFrame):
                await self.push_frame(frame, direction)
                return
            reply = self.replies.pop(0)
            await self.push_frame(LLMFullResponseStartFrame())
            self.started.append(time.monotonic())
            for start in range(0, len(reply), 5):
                await self.push_frame(LLMTextFrame(reply[start : start + 5]))
                await asyncio.sleep(self.delay)
            await self.push_frame(LLMFullResponseEndFrame())

    class WavWriter(FrameProcessor):
        """Collects the audio and prints the words, as they come out of the TTS."""

        def __init__(self) -> None:
            super().__init__()
            self.audio: list[bytes] = []
            self.rate = 0
            self.first_audio: list[float] = []
            self.expect_first = False
            self.frames = 0
            self.replies = 0

        async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
            await super().process_frame(frame, direction)
            if isinstance(frame, TTSStartedFrame):
                self.expect_first = True
            elif isinstance(frame, TTSAudioRawFrame):
                if self.expect_first:
                    self.first_audio.append(time.monotonic())
                    self.expect_first = False
                self.audio.append(frame.audio)
                self.rate = frame.sample_rate
                self.frames += 1
            elif isinstance(frame, TTSTextFrame):
                print(f"  word {frame.text!r:16} pts {frame.pts / 1e9:8.3f} s")
            elif isinstance(frame, LLMFullResponseEndFrame):
                print("  (end of reply)")
                self.replies += 1
            await self.push_frame(frame, direction)

        async def replies_done(self, count: int) -> None:
            while self.replies < count:
                await asyncio.sleep(0.01)

        def samples(self):
            return np.frombuffer(b"".join(self.audio), "<i2")

    settings = EmottsTTSService.Settings(emotion=args.emotion, intensity=args.intensity)
    tts = (
        EmottsTTSService(url=args.url, settings=settings) if args.url else EmottsTTSService(settings=settings)
    )
    return ScriptedLLM(REPLIES, args.delay), tts, WavWriter()


async def run(args) -> int:
    from pipecat.frames.frames import EndFrame, LLMRunFrame, TTSUpdateSettingsFrame
    from pipecat.pipeline.pipeline import Pipeline
    from pipecat.pipeline.worker import PipelineParams, PipelineWorker
    from pipecat.workers.runner import WorkerRunner

    from emotts_plugin.adapters.pipecat import EmottsTTSService

    llm, tts, writer = build(args)
    worker = PipelineWorker(
        Pipeline([llm, tts, writer]),
        params=PipelineParams(audio_out_sample_rate=args.rate),
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
    await asyncio.sleep(args.pause)  # a user would be speaking now
    await worker.queue_frame(LLMRunFrame())
    await writer.replies_done(1)
    await worker.queue_frame(
        TTSUpdateSettingsFrame(delta=EmottsTTSService.Settings(emotion="gentle", intensity=0.7))
    )
    await worker.queue_frame(LLMRunFrame())
    await writer.replies_done(2)
    await worker.queue_frame(EndFrame())
    await running

    import soundfile

    samples = writer.samples()
    soundfile.write(args.out, samples, writer.rate, subtype="PCM_16")
    latencies = ", ".join(f"{(a - s) * 1000:.0f} ms" for s, a in zip(llm.started, writer.first_audio))
    print(
        f"{writer.frames} audio frames, {len(samples) / writer.rate:.2f} s at {writer.rate} Hz -> {args.out}"
    )
    print(f"first audio after the reply's first delta: {latencies}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("pipecat-demo.wav"), help="WAV to write")
    parser.add_argument("--emotion", default="happy", help="default emotion of the first reply")
    parser.add_argument("--intensity", type=float, default=0.6, help="its intensity, 0..1")
    parser.add_argument("--url", help="render on a remote `emotts serve` instead of in process")
    parser.add_argument("--rate", type=int, default=24000, help="the pipeline's output rate (Hz)")
    parser.add_argument("--delay", type=float, default=0.02, help="seconds between LLM deltas")
    parser.add_argument("--pause", type=float, default=1.5, help="seconds before the first reply")
    args = parser.parse_args(argv)
    from loguru import logger  # Pipecat logs through loguru; keep its debug lines out of the demo

    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
