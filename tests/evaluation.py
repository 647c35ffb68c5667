"""What a render delivers, measured against the same text read neutrally.

Shared by the engine tests, ``benchmarks/calibrate.py`` and the benchmarks:
render fixed sentences, measure them with Praat, and express the result in
emotion-space units (semitones, factors, dB) relative to the neutral reading.
It is not part of the installed package (:func:`transcribe` needs pocketsphinx, from
the test extra): tests import it as ``evaluation`` (pytest puts this folder on
``sys.path``), benchmarks after adding this folder to ``sys.path`` themselves.

F0 level and range are measured before the phrase-final window
(:data:`FINAL_WINDOW_S`), where the ``contour`` dimension acts, so each
dimension is judged on its own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from emotts_plugin.audio import AudioFormat, encode, resample
from emotts_plugin.models import measure

#: Fixed English sentences without commas (no inner pauses), 2–3 s each.
SENTENCES = (
    "The quick brown fox jumps over the lazy dog.",
    "Please leave your message after the tone.",
    "Our office opens at nine in the morning.",
    "My brother bought a new blue bicycle yesterday.",
    "We will be landing in about twenty minutes.",
)
#: The end of each utterance excluded from F0 level and range (where the contour acts).
FINAL_WINDOW_S = 0.5


@dataclass(frozen=True, slots=True)
class Measures:
    """Praat measurements of one utterance."""

    median_st: float
    """Median F0 of voiced frames before the final window, semitones re 100 Hz (NaN if unvoiced)."""
    range_st: float
    """90th − 10th percentile of those frames, in semitones (NaN if unvoiced)."""
    duration_s: float
    """Speech duration, leading and trailing silence excluded."""
    level_db: float
    """Mean intensity over the speech."""
    voiced_fraction: float
    """Share of voiced frames in the speech."""


def measure_utterance(audio: np.ndarray, sample_rate: int) -> Measures:
    """Measure one utterance (shape ``(n,)``)."""
    times, f0 = measure.f0_track(audio, sample_rate)
    start, end = measure.speech_span(audio, sample_rate)
    inside = (times >= start) & (times <= end)
    body = inside & (times <= end - FINAL_WINDOW_S)
    voiced = body & (f0 > 0)
    if np.count_nonzero(voiced) >= 5:
        st = measure.hz_to_st(f0[voiced])
        p10, p50, p90 = np.percentile(st, [10.0, 50.0, 90.0])
        median, spread = float(p50), float(p90 - p10)
    else:
        median = spread = float("nan")
    return Measures(
        median_st=median,
        range_st=spread,
        duration_s=end - start,
        level_db=measure.level_db(audio, sample_rate),
        voiced_fraction=float(np.count_nonzero(inside & (f0 > 0)) / max(1, np.count_nonzero(inside))),
    )


@dataclass(frozen=True, slots=True)
class Delivered:
    """What renders delivered relative to neutral, averaged over sentences."""

    pitch_st: float
    """Shift of the median F0 (semitones)."""
    range: float
    """Factor on the F0 spread (geometric mean over sentences)."""
    duration: float
    """Factor on speech duration (1/rate)."""
    volume_db: float
    """Level change (dB)."""
    voiced_fraction: float
    """Mean voiced share of the renders."""

    def as_dict(self) -> dict[str, float]:
        return {
            "pitch_st": self.pitch_st,
            "range": self.range,
            "duration": self.duration,
            "volume_db": self.volume_db,
            "voiced_fraction": self.voiced_fraction,
        }


def delivered(renders: Sequence[Measures], neutral: Sequence[Measures]) -> Delivered:
    """Average of per-sentence deltas of ``renders`` against ``neutral`` (same sentences, same order)."""
    if len(renders) != len(neutral) or not renders:
        raise ValueError(
            "need the same non-zero number of renders and neutral renders, "
            f"got {len(renders)} and {len(neutral)}"
        )
    pitch = [r.median_st - n.median_st for r, n in zip(renders, neutral)]
    spread = [
        math.log(r.range_st / n.range_st)
        for r, n in zip(renders, neutral)
        if r.range_st > 0 and n.range_st > 0
    ]
    return Delivered(
        pitch_st=float(np.nanmean(pitch)) if not all(math.isnan(p) for p in pitch) else float("nan"),
        range=float(math.exp(np.nanmean(spread))) if spread else float("nan"),
        duration=float(np.mean([r.duration_s / n.duration_s for r, n in zip(renders, neutral)])),
        volume_db=float(np.mean([r.level_db - n.level_db for r, n in zip(renders, neutral)])),
        voiced_fraction=float(np.mean([r.voiced_fraction for r in renders])),
    )


def render_and_measure(
    synthesizer, sentences: Sequence[str] = SENTENCES, **options
) -> tuple[list[Measures], list]:
    """Render each sentence with ``options`` (``emotion``, ``intensity``, …); measures and the renders."""
    results = [synthesizer.synthesize(sentence, **options) for sentence in sentences]
    return [measure_utterance(r.audio, r.sample_rate) for r in results], results


def transcribe(audio: np.ndarray, sample_rate: int, decoder=None) -> str:
    """Offline English transcription with pocketsphinx (test extra); lower-case words."""
    from pocketsphinx import Decoder

    decoder = decoder or Decoder(samprate=16000, loglevel="FATAL")
    pcm = encode(resample(audio, sample_rate, 16000), 16000, AudioFormat.PCM16)
    decoder.start_utt()
    decoder.process_raw(pcm, full_utt=True)
    decoder.end_utt()
    hyp = decoder.hyp()
    return hyp.hypstr.lower() if hyp is not None else ""


def word_error_rate(reference: str, hypothesis: str) -> float:
    """Word-level edit distance over the reference length (punctuation and case ignored)."""
    ref = [
        w
        for w in "".join(
            c if c.isalnum() or c.isspace() or c == "'" else " " for c in reference.lower()
        ).split()
    ]
    hyp = hypothesis.lower().split()
    row = list(range(len(hyp) + 1))
    for i, word in enumerate(ref, 1):
        previous, row[0] = row[0], i
        for j, other in enumerate(hyp, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (word != other))
    return row[-1] / max(1, len(ref))


def longest_inner_silence_s(audio: np.ndarray, rate: int, frame_s: float = 0.01) -> float:
    """The longest run of 10 ms frames 40 dB under the loudest frame, between the first and the
    last frame above that floor."""
    size = int(rate * frame_s)
    frames = audio[: len(audio) // size * size].reshape(-1, size).astype(np.float64)
    level = 20 * np.log10(np.sqrt((frames**2).mean(axis=1)) + 1e-9)
    voiced = np.flatnonzero(level > level.max() - 40)
    longest = run = 0
    for loud in level[voiced[0] : voiced[-1] + 1] > level.max() - 40:
        run = 0 if loud else run + 1
        longest = max(longest, run)
    return longest * frame_s
