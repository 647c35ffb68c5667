"""Speak a chat model's reply while it is still streaming (emotts chatbot adapter demo).

Runs offline. ``fake_llm`` stands in for a chat model: it sends a reply in small text
deltas with short sleeps, splitting tags, cues and entities across deltas as real models
do. :class:`~emotts_plugin.adapters.chatbot.ChatbotSpeaker` renders each sentence as soon
as it is complete, while the rest of the reply is still arriving; the sentences' audio is
joined into ``chatbot-reply.wav``. For each sentence the script prints when its audio was
ready, in seconds from the start of the reply, and how much of the reply had arrived by then.

    .venv/bin/python examples/chatbot_stream.py                          # chatbot-reply.wav
    .venv/bin/python examples/chatbot_stream.py --reply '[happy] Hi! How are you?' --delay 0.02
    .venv/bin/python examples/chatbot_stream.py --print-system-prompt [--style brackets]

``--print-system-prompt`` prints the instructions to give the model (its system prompt)
so that it writes the markup emotts speaks. With a real model, pass its stream of text
deltas instead of ``fake_llm(...)``; for example, with the OpenAI SDK::

    stream = client.chat.completions.create(model=..., messages=..., stream=True)
    deltas = (event.choices[0].delta.content or "" for event in stream if event.choices)
    for chunk in speaker.speak(deltas):
        play(chunk.audio, chunk.sample_rate)
"""

from __future__ import annotations

import argparse
import asyncio
import random
import sys
import time
from typing import AsyncIterator

DEFAULT_REPLY = (
    '<emotion name="empathetic" intensity="0.6">I\'m sorry to hear your parcel went missing.</emotion> '
    "Let me check what happened. "
    '<emotion name="happy">Good news: it was found at the depot, and it ships again today!</emotion> '
    "[calm] You'll get a tracking link by e-mail &amp; a text message. "
    "Is there anything else I can do for you?"
)


async def fake_llm(reply: str, *, delay: float, log: list[float], seed: int = 7) -> AsyncIterator[str]:
    """Send ``reply`` in deltas of 1 to 6 characters, ``delay`` seconds apart.

    Appends to ``log`` how many characters had been sent, after each delta.
    """
    rng = random.Random(seed)
    sent = 0
    while sent < len(reply):
        size = rng.randint(1, 6)
        yield reply[sent : sent + size]
        sent = min(len(reply), sent + size)
        log.append(sent)
        await asyncio.sleep(delay)


async def speak_reply(reply: str, *, delay: float, output: str, voice: str | None) -> int:
    import numpy as np
    import soundfile

    from emotts_plugin.adapters.chatbot import ChatbotSpeaker
    from emotts_plugin.synthesizer import Synthesizer

    print("loading the voice ...", flush=True)
    synthesizer = Synthesizer()
    synthesizer.synthesize("Ready.", voice=voice)  # warm up once, as a long-running host would at start
    speaker = ChatbotSpeaker(synthesizer, voice=voice)
    sent: list[int] = []
    pieces = []
    rate = None
    start = time.perf_counter()
    async for chunk in speaker.aspeak(fake_llm(reply, delay=delay, log=sent)):
        ready = time.perf_counter() - start
        pieces.append(chunk.audio)
        rate = chunk.sample_rate
        received = sent[-1] if sent else 0
        if received >= len(reply):
            state = "reply complete"
        else:
            state = f"{received}/{len(reply)} characters of the reply received"
        print(
            f"sentence {len(pieces)}: audio ready {ready:5.2f} s after the reply started ({state}), "
            f"{chunk.duration_s:4.2f} s long: {chunk.text!r}"
        )
        for warning in chunk.warnings:
            print(f"  warning: {warning}")
    if not pieces:
        print("the reply had nothing to say", file=sys.stderr)
        return 1
    audio = np.concatenate(pieces)
    soundfile.write(output, audio, rate, subtype="PCM_16")
    print(f"wrote {output}: {len(pieces)} sentences, {len(audio) / rate:.2f} s")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--reply", default=DEFAULT_REPLY, help="the reply the fake model streams (text or markup)"
    )
    parser.add_argument("--delay", type=float, default=0.04, help="seconds between deltas (default 0.04)")
    parser.add_argument(
        "--output", "-o", default="chatbot-reply.wav", help="WAV file (default chatbot-reply.wav)"
    )
    parser.add_argument("--voice", default=None, help="voice (default: the configured one)")
    parser.add_argument(
        "--print-system-prompt", action="store_true", help="print the system prompt for the model and exit"
    )
    parser.add_argument(
        "--style",
        choices=("ssml", "brackets"),
        default="ssml",
        help="markup the system prompt teaches (ssml)",
    )
    args = parser.parse_args(argv)
    if args.print_system_prompt:
        from emotts_plugin import Runtime
        from emotts_plugin.adapters.chatbot import system_prompt

        # the runtime's space: presets from installed plugins are offered too
        print(system_prompt(Runtime().space, style=args.style), end="")
        return 0
    return asyncio.run(speak_reply(args.reply, delay=args.delay, output=args.output, voice=args.voice))


if __name__ == "__main__":
    sys.exit(main())
