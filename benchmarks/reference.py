"""Fit the reference-analysis norms and gains, and print the round trip.

    .venv/bin/python benchmarks/reference.py [--write] [--voices joe,jm_kumo]

Renders every preset with each voice (noise off) and measures it with
:func:`emotts_plugin.reference.measure`. Fits, pooled over the voices:

- the low register's norms: the mean of the voices' neutral readings (both are
  models of real male readers); the high register's: the median of Allison's
  prompts in ``asterisk-core-sounds-en-wav`` (real human read speech, 8 kHz);
- each dimension's gain: the measured delta (against the same voice's neutral)
  per unit of the preset's value, least squares through the origin;
- ``volume_per_tilt``: the presets' loudness per dB/octave of tilt.

Then analyses every render with the fitted norms and prints, per voice, which
presets name their own label among the top two (the target is 80 %).
``--write`` stores the fit in ``models/reference.yaml``.
"""

from __future__ import annotations

import argparse
import dataclasses
import glob
import math
import statistics
import time
from pathlib import Path

import numpy as np
import yaml

from emotts_plugin.config import load_config
from emotts_plugin.emotion import FACTOR_DIMS
from emotts_plugin.reference import (
    _DELTAS,
    Norms,
    load_reference,
    measure,
    measured_deltas,
    nearest_labels,
    to_vector,
)
from emotts_plugin.synthesizer import Synthesizer

TEXT = (
    "Thank you for calling. Your call is important to us, so please stay on the line. "
    "An agent will be with you in a moment."
)
ALLISON = "/usr/share/asterisk/sounds/en_US_f_Allison/*.wav"
OUT = Path(__file__).resolve().parents[1] / "models" / "reference.yaml"
MEASURED = sorted({name for name, _, _ in _DELTAS} | {"voiced_fraction"})


def allison_norm() -> dict[str, float]:
    rows = []
    for path in sorted(glob.glob(ALLISON)):
        try:
            ref = load_reference(path)
            rows.append(measure(ref.audio, ref.sample_rate))
        except ValueError:
            continue  # prompts under 2 s
    print(f"high register: {len(rows)} Allison prompts of 2 s or more")
    return {name: float(statistics.median(getattr(m, name) for m in rows)) for name in MEASURED}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help=f"store the fit in {OUT.name}")
    parser.add_argument("--voices", default="joe,jm_kumo", help="voices to render (default joe,jm_kumo)")
    args = parser.parse_args()
    synth = Synthesizer(dataclasses.replace(load_config([]), noise=False))
    space = synth.runtime.space
    labels = list(space.labels)
    voices = [v for v in args.voices.split(",") if v in {info.name for info in synth.voices()}]
    measured: dict[str, dict[str, object]] = {}
    started = time.perf_counter()
    for voice in voices:
        measured[voice] = {}
        for label in labels:
            result = synth.synthesize(TEXT, voice=voice, emotion=label)
            measured[voice][label] = measure(result.audio, result.sample_rate)
    print(
        f"rendered and measured {len(voices)} × {len(labels)} presets "
        f"in {time.perf_counter() - started:.0f} s"
    )

    low = {name: float(np.mean([getattr(measured[v]["neutral"], name) for v in voices])) for name in MEASURED}
    high = allison_norm()
    gains = {}
    fitted = [label for label in labels if label not in {"neutral", "whispering"}]
    for _, dim, _ in _DELTAS:
        xs, ys = [], []
        for voice in voices:
            own = {name: getattr(measured[voice]["neutral"], name) for name in MEASURED}
            for label in fitted:
                value = getattr(space.preset(label).vector, dim)
                xs.append(math.log(value) if dim in FACTOR_DIMS else value)
                ys.append(measured_deltas(measured[voice][label], own)[dim])
        xs, ys = np.array(xs), np.array(ys)
        gains[dim] = float(np.dot(xs, ys) / max(np.dot(xs, xs), 1e-12))
        r = float(np.corrcoef(xs, ys)[0, 1]) if np.std(xs) > 0 and np.std(ys) > 0 else float("nan")
        print(f"  gain {dim:12s} {gains[dim]:+8.4f}   (r = {r:+.2f} over {len(xs)} renders)")
    tilts = np.array([space.preset(label).vector.tilt_db for label in fitted])
    volumes = np.array([space.preset(label).vector.volume_db for label in fitted])
    volume_per_tilt = float(np.dot(tilts, volumes) / np.dot(tilts, tilts))
    norms = Norms(registers={"low": low, "high": high}, gains=gains, volume_per_tilt=volume_per_tilt)
    print(
        f"  volume_per_tilt {volume_per_tilt:.3f}; "
        f"low register F0 {low['f0_median_hz']:.1f} Hz, high {high['f0_median_hz']:.1f} Hz"
    )

    for voice in voices:
        hits = []
        for label in labels:
            vector, register, whispered = to_vector(measured[voice][label], norms)
            nearest = nearest_labels(vector, space)
            top = list(nearest)[:2]
            hits.append(label in top)
            named = ", ".join(f"{name} {weight:.2f}" for name, weight in nearest.items())
            print(
                f"  {voice:8s} {label:12s} {'ok ' if label in top else 'MISS'} "
                f"{register}{' whisper' if whispered else ''}: {named}"
            )
        print(
            f"{voice}: {sum(hits)}/{len(hits)} presets name their own label in the top two "
            f"({sum(hits) / len(hits):.0%})"
        )
    if args.write:
        header = "# Reference-analysis norms and gains, fitted by benchmarks/reference.py --write.\n"
        OUT.write_text(header + yaml.safe_dump(norms.to_dict(), sort_keys=True), encoding="utf-8")
        print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
