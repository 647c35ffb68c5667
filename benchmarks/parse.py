"""Parse time per KB of SSML (target: under 2 ms/KB on a 2-core machine), and what the chat text
stage costs a chat reply (target: at most 1 ms for a 300-character reply).

    .venv/bin/python benchmarks/parse.py [--repeat N]

Prints, for a chat-sized reply, a long SSML document in each dialect mix, and a
lenient chat transcript with repairs, the median time per parse and per KB. Then, for the
replies of ``tests/data/chat_replies.yaml`` of 250 to 350 characters (markdown, cues, emoji,
numbers), the median parse and the text stage's share of it: English normalisation
(``speak_english`` on the segments) plus the chat tokens' share of the lenient scan (the scan
with the chat alternatives against the markup tokens alone).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import yaml

from emotts_plugin import Runtime, load_config
from emotts_plugin.ssml import scan
from emotts_plugin.ssml.normalize import speak_english

ROOT = Path(__file__).resolve().parents[1]

BLOCK = """
  <p><s>I'm sorry to hear the delivery was late.</s>
  <emotion name="gentle" intensity="0.6">Let me see what I can do for you.</emotion>
  <break time="300ms"/>
  <mstts:express-as style="cheerful" styledegree="1.5">\
Good news: a replacement ships today!</mstts:express-as>
  <amazon:emotion name="disappointed" intensity="high">The backyard camera is offline again.</amazon:emotion>
  <prosody rate="slow" pitch="-2st">The storm warning is still in effect.</prosody>
  Your call is number <say-as interpret-as="ordinal">3</say-as> in line; call
  <say-as interpret-as="telephone">+1-555-010-4477</say-as> at <say-as interpret-as="time">7:30pm</say-as>.
  <emo:emotion><emo:category name="fear" value="0.7"/>Smoke has been detected.</emo:emotion></p>
"""
CHAT = (
    'Sure! <emotion name="excited">That sounds great & I love it.</emotion> [calm] '
    "Let's take it slow <emotion name=gentle>and see.</emotion> "
)


def measure(runtime: Runtime, text: str, repeat: int, mode: str) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        runtime.parse(text, mode=mode)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    kb = len(text.encode()) / 1024
    return median * 1000, median * 1000 / kb


def median_ms(call, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def tokens(pattern, text: str) -> None:
    position = 0
    while (match := pattern.search(text, position)) is not None:
        position = max(match.end(), position + 1)


def chat_replies(runtime: Runtime, repeat: int) -> None:
    """The text stage's cost on chat replies of about 300 characters."""
    replies = yaml.safe_load((ROOT / "tests" / "data" / "chat_replies.yaml").read_text(encoding="utf-8"))
    texts = [item["reply"] for item in replies if 250 <= len(item["reply"]) <= 350]
    parse, stage = [], []
    for text in texts:
        parse.append(median_ms(lambda text=text: runtime.parse(text, mode="lenient"), repeat))
        raw = [segment.text for segment in runtime.parse(text, mode="lenient").segments]
        normalise = median_ms(lambda raw=raw: [speak_english(words) for words in raw], repeat)
        chat_scan = median_ms(lambda text=text: tokens(scan.LENIENT_TOKEN, text), repeat)
        markup_scan = median_ms(lambda text=text: tokens(scan.TOKEN, text), repeat)
        stage.append(normalise + max(0.0, chat_scan - markup_scan))
    worst = max(stage)
    print(
        f"chat replies of 250-350 characters ({len(texts)} from the corpus): parse median "
        f"{statistics.median(parse):.3f} ms; text stage median {statistics.median(stage):.3f} ms, "
        f"worst {worst:.3f} ms (target <= 1 ms): {'PASS' if worst <= 1 else 'FAIL'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    runtime = Runtime(load_config([]))
    reply_ms, _ = measure(runtime, CHAT, args.repeat * 10, "lenient")
    print(f"one chat reply ({len(CHAT)} bytes, lenient, 3 repairs): {reply_ms:.2f} ms per call")
    cases = [
        ("SSML 2 blocks (strict)", f"<speak>{BLOCK * 2}</speak>", "strict"),
        ("SSML 100 KB (strict)", "<speak>" + BLOCK * (100_000 // len(BLOCK)) + "</speak>", "strict"),
        ("SSML 100 KB (lenient)", "<speak>" + BLOCK * (100_000 // len(BLOCK)) + "</speak>", "lenient"),
        ("chat 100 KB with repairs (lenient)", CHAT * (100_000 // len(CHAT)), "lenient"),
        ("plain text 500 KB", "The quick brown fox jumps over the lazy dog. " * 11_000, "lenient"),
        ("unpaired emphasis markers 100 KB (lenient)", "*a " * 34_000, "lenient"),
    ]
    print(f"{'case':40s} {'size KB':>9s} {'median ms':>10s} {'ms/KB':>8s}")
    worst = 0.0
    for name, text, mode in cases:
        total_ms, per_kb = measure(runtime, text, args.repeat, mode)
        worst = max(worst, per_kb)
        print(f"{name:40s} {len(text.encode()) / 1024:9.1f} {total_ms:10.2f} {per_kb:8.3f}")
    print(
        f"worst: {worst:.3f} ms/KB over inputs of 1 KB and more (target < 2 ms/KB): "
        f"{'PASS' if worst < 2 else 'FAIL'}"
    )
    chat_replies(runtime, args.repeat * 5)


if __name__ == "__main__":
    main()
