"""A LiveKit voice agent that speaks with emotion (emotts LiveKit plugin demo).

Runs offline, with no LiveKit server or room: a real ``AgentSession`` with
:class:`~emotts_plugin.adapters.livekit.EmottsTTS` as its TTS, a scripted chat model that writes
its reply in small deltas (with emotion markup and a stage direction in it), and an audio sink
that keeps the frames LiveKit plays. The agent answers two turns; between them the TTS's
default emotion is changed with ``update_options``, as an agent would at run time. The script
prints, for each turn, when the first audio frame came (from the first delta of the reply) and
the transcript LiveKit made from the word timings, then writes the audio to ``livekit-reply.wav``.

    .venv/bin/python examples/livekit_demo.py
    .venv/bin/python examples/livekit_demo.py --emotion gentle --intensity 0.6 --output reply.wav
    .venv/bin/python examples/livekit_demo.py --url http://127.0.0.1:7860   # a running `emotts serve`

In a real agent, give the session a real LLM (and STT, VAD) and the room, and put the markup
instructions in the agent's (``EmottsTTS(...).markup.llm_instructions()``)::

    tts = EmottsTTS(emotion="gentle", intensity=0.5)
    session = AgentSession(stt=..., llm=..., vad=..., tts=tts, use_tts_aligned_transcript=True)
    agent = Agent(instructions=MY_PROMPT + "\\n\\n" + tts.markup.llm_instructions())
    await session.start(agent, room=ctx.room)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time

REPLIES = (
    '<emotion name="happy">Good news: your parcel was found at the depot!</emotion> '
    "It ships again today. (short pause) Is there anything else I can do for you?",
    "[sad] I'm sorry, I can't change the delivery address once it has shipped. "
    "But the driver can leave it with a neighbour.",
)


def build(args):
    """The session's parts: a scripted LLM, audio and transcript sinks, and the TTS."""
    from livekit.agents import llm
    from livekit.agents.voice import io

    from emotts_plugin.adapters.livekit import EmottsTTS

    class ScriptedLLM(llm.LLM):
        """Answers each turn with the next reply, 4 characters at a time, 10 ms apart."""

        def __init__(self, replies) -> None:
            super().__init__()
            self.replies = list(replies)
            self.first_delta_at: list[float] = []

        def chat(self, *, chat_ctx, tools=None, conn_options=None, **_):
            return ScriptedStream(self, chat_ctx=chat_ctx, tools=tools or [], conn_options=conn_options)

    class ScriptedStream(llm.LLMStream):
        async def _run(self) -> None:
            reply = self._llm.replies.pop(0)
            self._llm.first_delta_at.append(time.perf_counter())
            for start in range(0, len(reply), 4):
                delta = llm.ChoiceDelta(role="assistant", content=reply[start : start + 4])
                self._event_ch.send_nowait(llm.ChatChunk(id="scripted", delta=delta))
                await asyncio.sleep(0.01)

    class KeepAudio(io.AudioOutput):
        """Keeps every frame it is given and plays it out at once."""

        def __init__(self) -> None:
            super().__init__(label="keep", capabilities=io.AudioOutputCapabilities(pause=True))
            self.frames: list = []
            self.first_frame_at: list[float] = []
            self._segment_s = 0.0
            self._open = False

        async def capture_frame(self, frame) -> None:
            await super().capture_frame(frame)
            if not self._open:
                self._open = True
                self.first_frame_at.append(time.perf_counter())
                self.on_playback_started(created_at=time.time())
            self.frames.append(frame)
            self._segment_s += frame.duration

        def flush(self) -> None:
            super().flush()
            self._finish(interrupted=False)

        def clear_buffer(self) -> None:
            self._finish(interrupted=True)

        def _finish(self, *, interrupted: bool) -> None:
            if self._open:
                self._open = False
                self.on_playback_finished(playback_position=self._segment_s, interrupted=interrupted)
                self._segment_s = 0.0

    class PrintWords(io.TextOutput):
        """Prints the transcript LiveKit hands on, each word with its time in the reply."""

        def __init__(self) -> None:
            super().__init__(label="print", next_in_chain=None)

        async def capture_text(self, text: str) -> None:
            start = getattr(text, "start_time", None)
            print(f"  {start:6.2f} s  {text.strip()}" if isinstance(start, float) else f"  {text!r}")

        def flush(self) -> None:
            pass

    changes = {"emotion": args.emotion, "intensity": args.intensity, "sample_rate": args.sample_rate}
    changes = {name: value for name, value in changes.items() if value is not None}
    tts = EmottsTTS(url=args.url, **changes)
    return ScriptedLLM(REPLIES), KeepAudio(), PrintWords(), tts


async def run(args) -> int:
    import numpy as np
    import soundfile
    from livekit.agents import Agent, AgentSession

    model, audio, words, tts = build(args)
    session = AgentSession(llm=model, tts=tts, use_tts_aligned_transcript=True)
    session.output.audio = audio
    session.output.transcription = words
    errors = []
    session.on("error", lambda event: errors.append(event.error))
    await session.start(Agent(instructions=tts.markup.llm_instructions()), record=False)
    try:
        for turn, user in enumerate(("Where is my parcel?", "Can you send it somewhere else?")):
            if turn == 1:
                tts.update_options(emotion="calm")  # the default for text outside markup from now on
            print(f"turn {turn + 1} (default emotion {tts.options.emotion or 'neutral'}):")
            result = await session.run(user_input=user)
            reply = result.expect.next_event().is_message(role="assistant").event().item.text_content
            latency = audio.first_frame_at[turn] - model.first_delta_at[turn]
            print(
                f"  first audio {latency * 1000:.0f} ms after the first delta; transcript: {reply.strip()!r}"
            )
    finally:
        await session.aclose()
    for error in errors:
        print(f"error: {error.error}", file=sys.stderr)
    if not audio.frames:
        return 1
    pcm = np.concatenate([np.frombuffer(frame.data, dtype=np.int16) for frame in audio.frames])
    soundfile.write(args.output, pcm, audio.frames[0].sample_rate, subtype="PCM_16")
    print(f"{len(audio.frames)} frames, {len(pcm) / audio.frames[0].sample_rate:.1f} s → {args.output}")
    return 0 if not errors else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emotion", help="default emotion of text outside markup (first turn)")
    parser.add_argument("--intensity", type=float, help="its intensity, 0..1")
    parser.add_argument("--sample-rate", type=int, help="rate of the frames (default: the voice's)")
    parser.add_argument("--url", help="render on a running `emotts serve` at this URL instead")
    parser.add_argument("--output", default="livekit-reply.wav", help="WAV file to write")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
