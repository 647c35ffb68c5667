"""Fuzz the markup parser: at least 100 000 generated inputs, in lenient and strict mode.

    .venv/bin/python benchmarks/fuzz.py [--inputs 100000] [--seed 1] [--hypothesis 2000]

Two generators, the same invariants:

- a seeded grammar (the bulk, fast): words — plain, unicode, with bare ``&``, ``<``, ``>`` —
  mixed with our tags and vendor dialects, whole, unclosed, mismatched or misspelt,
  attributes with odd values, entities, comments, CDATA, chat cues, control characters and
  nesting up to past ``limits.max_depth``;
- hypothesis (``--hypothesis`` examples): shrinking random text and tag soup;
- atheris, when installed (``pip install -e '.[fuzz]'``): coverage-guided bytes decoded as text,
  in a child process, for ``--atheris-runs`` inputs or ``--atheris-seconds``.

Invariants: lenient mode raises nothing but :class:`~emotts_plugin.errors.HostileInputError`
(the documented refusals: DOCTYPE and entity declarations, nesting past the limit) and loses no
word when the words are plain (the generated words come back, in order); strict mode raises
nothing but our documented errors (``EmottsError`` subclasses of ``ValueError``). Prints
inputs per second, outcomes by kind, and every violation with its input (exit 1).
"""

from __future__ import annotations

import argparse
import collections
import logging
import random
import sys
import time

from emotts_plugin import Runtime, load_config
from emotts_plugin.errors import EmottsError, HostileInputError

TAGS = [
    ('<emotion name="{label}" intensity="{num}">', "</emotion>"),
    ("<emotion name='{label}:{num} {label}:{num}'>", "</emotion>"),
    ('<prosody pitch="{sign}{num}st" rate="{pct}%" volume="{sign}{num}dB">', "</prosody>"),
    ('<prosody contour="(0%,+20Hz) (50%,{sign}{num}st)">', "</prosody>"),
    ('<emphasis level="{level}">', "</emphasis>"),
    ('<say-as interpret-as="{sayas}">', "</say-as>"),
    ('<voice name="{voice}">', "</voice>"),
    ('<lang xml:lang="{lang}">', "</lang>"),
    ("<p>", "</p>"),
    ("<s>", "</s>"),
    ('<sub alias="{word}">', "</sub>"),
    ('<mstts:express-as style="{label}" styledegree="{num}">', "</mstts:express-as>"),
    ('<amazon:emotion name="{label}" intensity="{level}">', "</amazon:emotion>"),
    ('<amazon:effect name="whispered">', "</amazon:effect>"),
    ('<google:style name="{label}">', "</google:style>"),
    (
        '<emotion xmlns="http://www.w3.org/2009/10/emotionml"><category name="{label}" value="{num}"/>',
        "</emotion>",
    ),
]
SINGLES = [
    '<break time="{num}ms"/>',
    '<break strength="{level}"/>',
    "<break/>",
    '<mark name="{word}"/>',
    "[{label}]",
    "({word})",
    "(sighs)",
    "<!-- {word} -->",
    "<![CDATA[{word} < {word}]]>",
    "&amp;",
    "&lt;",
    "&#x41;",
    "&#9731;",
    "&nbsp;",
    "&bogus;",
    "&",
    "<",
    ">",
    "</",
    "<>",
    "<{word}",
    "{word}>",
    '<emotion name="',
    "<speak",
    "</speak>",
    "<speak>",
    "\x07",
    "\x1b[31m",
    "\u200b",
    "\ufeff",
]
HOSTILE = [
    '<!DOCTYPE x [<!ENTITY a "b">]>',
    '<!ENTITY e SYSTEM "file:///etc/passwd">',
]
LABELS = [
    "happy",
    "sad",
    "calm",
    "gentle",
    "angry",
    "cheerful",
    "fearful",
    "nonexistent",
    "",
    "HAPPY",
    "开心",
    "happy:2",
]
LEVELS = ["low", "medium", "high", "strong", "none", "reduced", "x-strong", "moderate", "bogus"]
SAYAS = [
    "cardinal",
    "ordinal",
    "digits",
    "characters",
    "telephone",
    "date",
    "time",
    "currency",
    "fraction",
    "nonsense",
]
VOICES = ["joe", "jm_kumo", "nobody", ""]
LANGS = ["en-US", "ja-JP", "xx", ""]
ALPHABETS = [
    "abcdefghijklmnopqrstuvwxyz",
    "ÀÉÎÕÜßçñ",
    "αβγδεζ",
    "日本語テキスト",
    "😀🎉",
    "0123456789.,-+%$",
    "&<>\"'",
]


class Grammar:
    """Seeded generator of markup-ish inputs; returns the text and the plain words put in it."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def word(self) -> str:
        alphabet = self.rng.choice(ALPHABETS)
        return "".join(self.rng.choice(alphabet) for _ in range(self.rng.randint(1, 9)))

    def fill(self, template: str) -> str:
        rng = self.rng
        return template.format(
            label=rng.choice(LABELS),
            num=rng.choice(["0", "0.5", "1", "2", "-1", "1e9", "nan", "abc", "33"]),
            sign=rng.choice(["+", "-", ""]),
            pct=rng.choice(["50", "200", "-10", "x"]),
            level=rng.choice(LEVELS),
            sayas=rng.choice(SAYAS),
            voice=rng.choice(VOICES),
            lang=rng.choice(LANGS),
            word=self.word(),
        )

    def make(self) -> tuple[str, list[str], bool]:
        """``(text, plain words, words are checkable)``."""
        rng = self.rng
        parts: list[str] = []
        words: list[str] = []
        open_tags: list[str] = []
        checkable = True
        if rng.random() < 0.3:
            parts.append("<speak>")
        for _ in range(rng.randint(0, 30)):
            roll = rng.random()
            if roll < 0.45:
                w = self.word()
                parts.append(w)
                words.append(w)
                if set(w) & set("&<>\"'") or any(c in w for c in "[("):
                    checkable = False
            elif roll < 0.65:
                start, end = rng.choice(TAGS)
                parts.append(self.fill(start))
                if start.startswith(("<sub", "<say-as")):
                    checkable = False  # these replace or spell out their words by design
                open_tags.append(end)
                if rng.random() < 0.2:  # a misspelt or mismatched end
                    parts.append(rng.choice(["</emotoin>", "</prosody>", "</b>", end]))
            elif roll < 0.8 and open_tags:
                parts.append(open_tags.pop())
            elif roll < 0.99:
                parts.append(self.fill(rng.choice(SINGLES)))
                checkable = False  # entities, cues and stray brackets may legitimately become or join words
            else:
                parts.append(rng.choice(HOSTILE))
                checkable = False
        if rng.random() < 0.02:  # nesting past the depth limit
            depth = rng.randint(60, 120)
            parts = ["<emphasis>"] * depth + parts + ["</emphasis>"] * rng.randint(0, depth)
        if rng.random() < 0.7:
            parts.extend(reversed(open_tags))  # most inputs close what they open
        return " ".join(parts), words, checkable


def check(
    runtime: Runtime,
    text: str,
    words: list[str],
    checkable: bool,
    outcomes: collections.Counter,
    violations: list,
) -> None:
    try:
        plan = runtime.parse(text, mode="lenient")
        outcomes["lenient ok"] += 1
        if checkable and plan.text.split() != words:
            violations.append(
                ("lenient lost or changed words", text, f"expected {words!r}, got {plan.text.split()!r}")
            )
    except HostileInputError as exc:
        outcomes[f"lenient refused: {type(exc).__name__}"] += 1
    except Exception as exc:  # noqa: BLE001 - anything else is a finding
        violations.append(("lenient raised", text, f"{type(exc).__name__}: {exc}"))
    try:
        runtime.parse(text, mode="strict")
        outcomes["strict ok"] += 1
    except EmottsError as exc:
        if not isinstance(exc, ValueError):
            violations.append(("strict raised a non-ValueError", text, repr(exc)))
        outcomes[f"strict {type(exc).__name__}"] += 1
    except Exception as exc:  # noqa: BLE001
        violations.append(("strict raised", text, f"{type(exc).__name__}: {exc}"))


def hypothesis_phase(runtime: Runtime, examples: int, outcomes: collections.Counter, violations: list) -> int:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    tag_soup = st.lists(
        st.one_of(st.text(max_size=12), st.sampled_from([t for pair in TAGS for t in pair] + SINGLES)),
        max_size=25,
    ).map(" ".join)
    seen = [0]

    @settings(max_examples=examples, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    @given(text=st.one_of(st.text(max_size=300), tag_soup))
    def run(text: str) -> None:
        seen[0] += 1
        check(runtime, text, [], False, outcomes, violations)

    run()
    return seen[0]


def atheris_child() -> None:
    """Coverage-guided: atheris feeds bytes, decoded as text, to the parser (runs in its own process)."""
    import atheris

    runtime = Runtime(load_config([]))
    atheris.instrument_all()  # emotts and lxml's Python side are loaded by now: coverage guides the inputs

    def one_input(data: bytes) -> None:
        text = atheris.FuzzedDataProvider(data).ConsumeUnicodeNoSurrogates(4096)
        try:
            runtime.parse(text, mode="lenient")
        except HostileInputError:
            pass
        try:
            runtime.parse(text, mode="strict")
        except EmottsError as exc:
            if not isinstance(exc, ValueError):
                raise

    atheris.Setup([sys.argv[0]] + [a for a in sys.argv[2:]], one_input)
    atheris.Fuzz()


def atheris_phase(runs: int, seconds: int) -> list:
    """Run the atheris child for ``runs`` inputs or ``seconds``; a crash it finds is a violation."""
    import re
    import subprocess

    started = time.perf_counter()
    done = subprocess.run(
        [
            sys.executable,
            __file__,
            "--atheris-child",
            f"-runs={runs}",
            f"-max_total_time={seconds}",
            "-rss_limit_mb=4096",
        ],
        capture_output=True,
        text=True,
    )
    log = done.stderr + done.stdout
    executed = re.findall(r"#(\d+)\s", log)
    print(
        f"atheris: {executed[-1] if executed else '?'} executions in {time.perf_counter() - started:.1f} s "
        f"(exit {done.returncode})"
    )
    if done.returncode != 0:
        return [("atheris found a crash", "", log[-2000:])]
    return []


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=100_000, help="grammar inputs (default 100000)")
    parser.add_argument("--hypothesis", type=int, default=2000, help="hypothesis examples (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--atheris-runs", type=int, default=30_000, help="atheris executions (default 30000)")
    parser.add_argument("--atheris-seconds", type=int, default=90, help="atheris time cap (default 90 s)")
    args = parser.parse_args()
    logging.getLogger("emotts_plugin").setLevel(
        logging.ERROR
    )  # lenient repairs log warnings; counted below instead
    runtime = Runtime(load_config([]))
    outcomes: collections.Counter = collections.Counter()
    violations: list = []
    grammar = Grammar(args.seed)
    started = time.perf_counter()
    for i in range(args.inputs):
        text, words, checkable = grammar.make()
        check(runtime, text, words, checkable, outcomes, violations)
        if (i + 1) % 20000 == 0:
            print(f"  {i + 1} inputs, {time.perf_counter() - started:.0f} s", file=sys.stderr)
    grammar_s = time.perf_counter() - started
    started = time.perf_counter()
    drawn = hypothesis_phase(runtime, args.hypothesis, outcomes, violations)
    hypothesis_s = time.perf_counter() - started
    total = args.inputs + drawn
    print(
        f"grammar: {args.inputs} inputs in {grammar_s:.1f} s "
        f"({args.inputs / grammar_s:.0f}/s, each parsed lenient and strict)"
    )
    print(f"hypothesis: {drawn} inputs in {hypothesis_s:.1f} s")
    print(f"total {total} inputs; outcomes:")
    for name, count in sorted(outcomes.items()):
        print(f"  {name:40s} {count}")
    try:
        import atheris  # noqa: F401
    except ImportError:
        print("atheris: not installed (pip install -e '.[fuzz]') — coverage-guided phase skipped")
    else:
        violations += atheris_phase(args.atheris_runs, args.atheris_seconds)
    print(f"violations: {len(violations)}")
    for kind, text, detail in violations[:10]:
        print(f"  {kind}: {detail}\n    input: {text[:300]!r}")
    return 1 if violations else 0


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--atheris-child":
        logging.getLogger("emotts_plugin").setLevel(logging.ERROR)
        atheris_child()
    sys.exit(main())
