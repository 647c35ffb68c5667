"""Free-text instructions → emotion weights: a golden table, plus "never raises"."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotts_plugin.ssml.instructions import emotion_from_instructions

GOLDEN = [
    # (instructions, expected weights)
    ("speak cheerfully", {"happy": 0.7}),
    ("Speak cheerfully!", {"happy": 0.7}),
    ("calm and reassuring", {"calm": 0.35, "gentle": 0.35}),
    ("Speak in a calm, reassuring tone", {"calm": 0.35, "gentle": 0.35}),
    ("sound a bit sad", {"sad": 0.4}),
    ("a little nervous", {"afraid": 0.4}),
    ("kind of sad", {"sad": 0.4}),
    ("slightly happier", {"happy": 0.4}),
    ("a bit more cheerful", {"happy": 0.4}),
    ("very angry", {"angry": 1.0}),
    ("very, very angry", {"angry": 1.0}),
    ("extremely excited", {"excited": 1.0}),
    ("whisper", {"whispering": 0.7}),
    ("speak excitedly", {"excited": 0.7}),
    ("say it sadly", {"sad": 0.7}),
    ("angrily", {"angry": 0.7}),
    ("calmly", {"calm": 0.7}),
    ("happily", {"happy": 0.7}),
    ("enthusiastically", {"excited": 0.7}),
    ("speak gently, like a bedtime story", {"gentle": 0.7}),
    ("warm and friendly", {"gentle": 0.35, "happy": 0.35}),
    ("warmly", {"gentle": 0.7}),
    ("urgently", {"serious": 0.42, "afraid": 0.28}),
    ("in a sports commentary style", {"excited": 0.7}),
    ("sound excited but a little nervous", {"excited": 0.35, "afraid": 0.2}),
    ("be kind", {"gentle": 0.7}),
    ("开心", {"happy": 0.7}),
    # negation: the negated word is ignored, the rest of the sentence is not
    ("not angry", {}),
    ("Don't sound angry, sound calm", {"calm": 0.7}),
    ("neither angry nor sad", {}),
    ("not too sad but a bit hopeful", {"happy": 0.4}),
    ("never bored", {}),
    # nothing recognised: neutral
    ("", {}),
    ("Read this aloud.", {}),
    ("speak normally", {}),
    ("You are a helpful assistant", {}),
]


@pytest.mark.parametrize(("text", "expected"), GOLDEN, ids=[text or "<empty>" for text, _ in GOLDEN])
def test_golden(runtime, text, expected):
    assert emotion_from_instructions(text, runtime.space) == expected


def test_weights_are_usable_as_a_mixture(runtime):
    weights = emotion_from_instructions("sound excited but a little nervous", runtime.space)
    vector = runtime.space.vector(weights)
    assert vector.rate > 1.0 and vector.pitch_st > 0


def test_plugin_presets_are_recognised(runtime):
    from emotts_plugin import EmotionSpace, EmotionVector, Preset

    space = EmotionSpace(
        [
            *(runtime.space.preset(label) for label in runtime.space.labels),
            Preset("sarcastic", EmotionVector(rate=0.85), aliases=("ironic",)),
        ]
    )
    assert emotion_from_instructions("be slightly ironic", space) == {"sarcastic": 0.4}
    assert emotion_from_instructions("sarcastically", space) == {"sarcastic": 0.7}


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_never_raises(runtime, text):
    weights = emotion_from_instructions(text, runtime.space)
    assert all(label in runtime.space.labels and 0 < weight <= 1 for label, weight in weights.items())


def test_non_text_is_neutral(runtime):
    assert emotion_from_instructions(None, runtime.space) == {}  # type: ignore[arg-type]
