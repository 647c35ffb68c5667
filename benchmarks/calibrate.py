"""Fit the per-voice calibration so renders deliver the presets' vectors.

    .venv/bin/python benchmarks/calibrate.py [--voice joe] [--rounds 3] [--write]

Renders every preset at intensity 1 on the fixed sentences (noise off),
measures pitch, range, duration and level against the neutral reading with
Praat, and fits, per direction, how much of each command arrives
(delivered ≈ gain × requested, log domain for factors). The new factor is the
old one divided by that gain; a few rounds converge. Prints the table of
requested vs delivered each round; ``--write`` stores the result in
``models/calibration.yaml`` (for this voice and as ``default``).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
from pathlib import Path

import yaml

from emotts_plugin import load_config
from emotts_plugin.planner import Calibration
from emotts_plugin.synthesizer import Synthesizer

ROOT = Path(__file__).resolve().parents[1]
sys.path.append(str(ROOT / "tests"))  # evaluation.py: measurement helpers kept out of the package
from evaluation import delivered, render_and_measure  # noqa: E402

#: Presets whose F0 is not measurable (no voicing): left out of pitch and range fits.
NO_F0 = {"whispering"}


def gain(pairs: list[tuple[float, float]]) -> float:
    """Least-squares slope through the origin of delivered over requested."""
    num = sum(req * got for req, got in pairs)
    den = sum(req * req for req, _ in pairs)
    return num / den if den > 0 else 1.0


def measure_all(synth: Synthesizer, voice: str) -> dict[str, tuple]:
    neutral, _ = render_and_measure(synth, voice=voice, emotion="neutral")
    out = {}
    for label in synth.runtime.space.labels:
        if label == "neutral":
            continue
        renders, _ = render_and_measure(synth, voice=voice, emotion=label, intensity=1.0)
        out[label] = (synth.runtime.space.preset(label).vector, delivered(renders, neutral))
    return out


def fit(calibration: Calibration, results: dict[str, tuple]) -> Calibration:
    groups: dict[str, list[tuple[float, float]]] = {
        k: []
        for k in ("pitch_up", "pitch_down", "range_up", "range_down", "rate", "volume_up", "volume_down")
    }
    for label, (target, got) in results.items():
        if label not in NO_F0:
            if abs(target.pitch_st) > 0.25:
                groups["pitch_up" if target.pitch_st > 0 else "pitch_down"].append(
                    (target.pitch_st, got.pitch_st)
                )
            if abs(math.log(target.range)) > 0.05 and got.range > 0:
                groups["range_up" if target.range > 1 else "range_down"].append(
                    (math.log(target.range), math.log(got.range))
                )
        if abs(math.log(target.rate)) > 0.02:
            groups["rate"].append((math.log(1 / target.rate), math.log(got.duration)))
        if abs(target.volume_db) > 0.5:
            groups["volume_up" if target.volume_db > 0 else "volume_down"].append(
                (target.volume_db, got.volume_db)
            )
    updated = {}
    for name, pairs in groups.items():
        g = gain(pairs) if pairs else 1.0
        updated[name] = getattr(calibration, name) / max(g, 0.2)
    return Calibration(**updated)


def report(results: dict[str, tuple]) -> float:
    worst = 0.0
    for label, (target, got) in results.items():
        print(
            f"  {label:12s} pitch {got.pitch_st:+5.2f}/{target.pitch_st:+4.1f}  "
            f"range {got.range:4.2f}/{target.range:4.2f}  "
            f"dur {got.duration:4.2f}/{1 / target.rate:4.2f}  "
            f"level {got.volume_db:+5.1f}/{target.volume_db:+4.0f}"
        )
        if label not in NO_F0:
            worst = max(worst, abs(got.pitch_st - target.pitch_st))
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", default="joe")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="store the result in models/calibration.yaml")
    args = parser.parse_args()
    synth = Synthesizer(dataclasses.replace(load_config([]), noise=False))
    calibration = Calibration()
    for round_number in range(1, args.rounds + 1):
        synth.calibrations = {"default": calibration}
        results = measure_all(synth, args.voice)
        print(f"round {round_number}: {calibration.to_dict()}")
        worst = report(results)
        print(f"  worst pitch error {worst:.2f} st")
        calibration = fit(calibration, results)
    print(f"fitted: {calibration.to_dict()}")
    if args.write:
        path = ROOT / "models" / "calibration.yaml"
        header = "\n".join(line for line in path.read_text().splitlines() if line.startswith("#"))
        body = yaml.safe_dump(
            {"default": calibration.to_dict(), args.voice: calibration.to_dict()}, sort_keys=False
        )
        path.write_text(f"{header}\n{body}")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
