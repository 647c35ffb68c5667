"""emotts through OpenVoiceOS's plugin manager, offline: load the plugin by its entry point,
stream a reply with emotion markup sentence by sentence, then render it into a WAV.

    pip install 'emotts[ovos]'
    python examples/ovos_demo.py [out.wav]

No messagebus and no network: ``OVOSTTSFactory.create`` only builds the plugin, and
``get_tts`` / ``stream_tts`` are what ovos-audio calls once it has one.
"""

from __future__ import annotations

import asyncio
import sys
import time

from ovos_plugin_manager.tts import OVOSTTSFactory

PLUGIN = "ovos-tts-plugin-emotts"
REPLY = (
    'Good morning! <emotion name="happy">The sun is out and it\'s twenty degrees.</emotion> '
    "[sad] Sadly, the bakery on the corner is closed today. "
    '<prosody rate="slow">Take an umbrella tonight.</prosody>'
)


async def stream(tts) -> None:
    """Stream the reply as ovos-audio does with ``enable_streaming``: a WAV header, then PCM."""
    start = time.perf_counter()
    first_audio = None
    sentences = 0
    chunks = tts.stream_tts(REPLY)
    header = await anext(chunks)  # a WAV header whose sizes are unknown yet
    print(f"  header of {len(header)} bytes")
    async for pcm in chunks:
        first_audio = first_audio or time.perf_counter() - start
        sentences += 1
        print(f"  sentence {sentences}: {len(pcm) // 2} samples")
    print(f"streamed {sentences} sentences; first audio after {first_audio:.2f} s")


def main(out: str = "ovos_demo.wav") -> None:
    config = {"module": PLUGIN, PLUGIN: {"voice": "joe", "emotion": "calm", "intensity": 0.7}}
    tts = OVOSTTSFactory.create(config)  # found through the opm.tts entry point
    print(f"loaded {tts.plugin_id}: {type(tts).__name__}, languages {sorted(tts.available_languages)}")

    print("sentences ovos-audio would queue one by one:")
    for sentence in tts.preprocess_sentence(REPLY):
        print(f"  {sentence!r}")

    asyncio.run(stream(tts))

    wav, phonemes = tts.get_tts(REPLY, out)  # the same sentences come from the render cache now
    visemes = tts.viseme(phonemes) or []
    print(f"wrote {wav}; {len(visemes)} mouth shapes, the last ending at {visemes[-1][1]:.2f} s")


if __name__ == "__main__":
    main(*sys.argv[1:2])
