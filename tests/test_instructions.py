"""Free-text instructions and stage directions → emotion, prosody and pauses: golden tables,
plus "never raises"."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotts_plugin.ssml.instructions import (
    FUNCTION_WORDS,
    MAX_PAUSE_MS,
    MODIFIERS,
    PROSODY,
    SOUNDS,
    direction_kind,
    emotion_from_instructions,
    read_direction,
)

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


# -- read_direction: stage directions and instructions ------------------------------------------

#: (text, expected fields of the Direction). Stage-direction forms are the words chat models put
#: in brackets, parentheses or asterisks; the scanner hands them over without those.
DIRECTIONS = [
    # non-verbal sounds: a pause, nothing else
    ("laughs", {"pause_ms": 400, "understood": ("laughs",), "emotion": {}}),
    ("*laughs*", {"pause_ms": 400, "understood": ("laughs",)}),
    ("(sighs)", {"pause_ms": 500}),
    ("sigh", {"pause_ms": 500}),
    ("sighs deeply", {"pause_ms": 800, "understood": ("sighs deeply",)}),
    ("pause", {"pause_ms": 500}),
    ("short pause", {"pause_ms": 250}),
    ("a long pause", {"pause_ms": 1000, "understood": ("long pause",)}),
    ("clears throat", {"pause_ms": 400}),
    ("clears his throat", {"pause_ms": 400}),
    ("takes a deep breath", {"pause_ms": 600, "understood": ("takes a deep breath",)}),
    ("inhales", {"pause_ms": 300}),
    ("chuckles", {"pause_ms": 300}),
    ("giggles", {"pause_ms": 300}),
    ("gasps", {"pause_ms": 300}),
    ("coughs", {"pause_ms": 400}),
    ("yawns", {"pause_ms": 600}),
    ("laughing", {"pause_ms": 400, "emotion": {}}),
    ("speak laughingly", {"pause_ms": 400, "emotion": {}}),
    ("sighs, then laughs", {"pause_ms": 900, "understood": ("sighs", "laughs")}),
    ("without laughing", {"pause_ms": 0, "understood": ("not laughing",)}),
    # emotions, with degree words and verb forms
    ("very happy", {"emotion": {"happy": 1.0}, "understood": ("very happy",)}),
    ("[very happy]", {"emotion": {"happy": 1.0}}),
    ("slightly sad", {"emotion": {"sad": 0.4}}),
    ("excitedly", {"emotion": {"excited": 0.7}, "rate": 1.0}),
    ("nervously", {"emotion": {"afraid": 0.7}}),
    ("in a calm voice", {"emotion": {"calm": 0.7}, "understood": ("calm",), "unknown": ()}),
    ("whispers", {"emotion": {"whispering": 0.7}}),
    ("[whispers]", {"emotion": {"whispering": 0.7}}),
    ("whispering", {"emotion": {"whispering": 0.7}}),
    ("shouts", {"emotion": {"shouting": 0.7}}),
    ("yells angrily", {"emotion": {"shouting": 0.35, "angry": 0.35}}),
    ("cries", {"emotion": {"sad": 0.7}}),
    ("sobs", {"emotion": {"sad": 0.7}}),
    ("(softly)", {"emotion": {"gentle": 0.7}, "volume_db": 0.0}),
    ("softer", {"emotion": {"gentle": 0.7}}),
    # sarcasm and dryness: documented mappings onto the presets
    ("sarcastic", {"emotion": {"disgusted": 0.35}, "rate": 0.9}),
    ("sarcastically", {"emotion": {"disgusted": 0.35}, "rate": 0.9}),
    ("very sarcastic", {"emotion": {"disgusted": 0.5}}),
    ("deadpan", {"emotion": {"serious": 0.35}, "rate": 1.0}),
    ("dry", {"emotion": {"serious": 0.35}}),
    ("dryly", {"emotion": {"serious": 0.35}}),
    # prosody words, scaled by degree words
    ("speak slowly", {"rate": 0.8, "emotion": {}, "understood": ("slowly",), "unknown": ()}),
    ("slow", {"rate": 0.8}),
    ("slower", {"rate": 0.8}),
    ("very slowly", {"rate": 0.8 ** (1.0 / 0.7), "understood": ("very slowly",)}),
    ("speak much more slowly", {"rate": 0.8 ** (1.0 / 0.7), "understood": ("much more slowly",)}),
    ("fast", {"rate": 1.2}),
    ("quickly", {"rate": 1.2}),
    ("rapidly", {"rate": 1.2}),
    ("a bit faster", {"rate": 1.2 ** (0.4 / 0.7)}),
    ("quietly", {"volume_db": -6.0, "emotion": {}}),
    ("quiet", {"volume_db": -6.0}),
    ("in hushed tones", {"volume_db": -6.0, "emotion": {}}),
    ("very quietly", {"volume_db": -6.0 / 0.7}),
    ("loudly", {"volume_db": 6.0, "emotion": {}}),
    ("louder", {"volume_db": 6.0}),
    ("a little louder", {"volume_db": 6.0 * 0.4 / 0.7}),
    ("high-pitched", {"pitch_st": 3.0}),
    ("in a higher voice", {"pitch_st": 3.0}),
    ("in a deep voice", {"pitch_st": -3.0, "understood": ("deep",)}),
    ("low", {"pitch_st": -3.0, "emotion": {}}),
    ("quietly and fast", {"volume_db": -6.0, "rate": 1.2, "emotion": {}}),
    ("slowly and sadly", {"rate": 0.8, "emotion": {"sad": 0.7}}),
    ("not too fast", {"rate": 1.0, "understood": ("not fast",)}),
    # what is not understood
    ("like a pirate", {"unknown": ("pirate",), "understood": (), "emotion": {}}),
    ("in a British accent", {"unknown": ("British", "accent"), "understood": ()}),
    ("as a robot", {"unknown": ("robot",)}),
    ("speak slowly, like a pirate", {"rate": 0.8, "understood": ("slowly",), "unknown": ("pirate",)}),
    ("sound like a happy pirate", {"emotion": {"happy": 0.7}, "unknown": ("pirate",)}),
    ("pirate pirate pirate", {"unknown": ("pirate",)}),
    ("not angry", {"emotion": {}, "understood": ("not angry",)}),
    ("not angry, like a pirate", {"emotion": {}, "unknown": ("pirate",)}),
    # function words and non-words: nothing either way
    ("Read this aloud, please.", {"understood": (), "unknown": ()}),
    ("speak in a way that is", {"understood": (), "unknown": ()}),
    ("42 !!! 🙂 ...", {"understood": (), "unknown": ()}),
    ("", {"understood": (), "unknown": (), "rate": 1.0}),
]


@pytest.mark.parametrize(("text", "expected"), DIRECTIONS, ids=[text or "<empty>" for text, _ in DIRECTIONS])
def test_read_direction(runtime, text, expected):
    direction = read_direction(text, runtime.space)
    for name, value in expected.items():
        got = getattr(direction, name)
        if name in ("rate", "volume_db", "pitch_st"):
            assert got == pytest.approx(value, abs=0.01), name
        elif name == "emotion":
            assert dict(got) == value
        else:
            assert got == value, name


@pytest.mark.parametrize(
    ("text", "empty"),
    [("laughs", False), ("speak normally", False), ("not angry", False), ("like a pirate", True), ("", True)],
)
def test_empty_means_nothing_understood(runtime, text, empty):
    assert read_direction(text, runtime.space).empty is empty


def test_emotion_from_instructions_is_the_direction_emotion(runtime):
    for text, _ in GOLDEN + DIRECTIONS:
        assert emotion_from_instructions(text, runtime.space) == dict(
            read_direction(text, runtime.space).emotion
        )


def test_quietly_and_fast_has_no_slow_emotion(runtime):
    direction = read_direction("quietly and fast", runtime.space)
    vector = runtime.space.vector(direction.emotion)
    assert direction.volume_db < 0 and direction.rate > 1 and vector.rate >= 1.0


@pytest.mark.parametrize(
    ("weaker", "stronger", "field"),
    [
        ("slightly slower", "slowly", "rate"),
        ("slowly", "very slowly", "rate"),
        ("a bit quieter", "quietly", "volume_db"),
        ("quietly", "extremely quietly", "volume_db"),
    ],
)
def test_degree_words_scale_prosody(runtime, weaker, stronger, field):
    weak, strong = (getattr(read_direction(t, runtime.space), field) for t in (weaker, stronger))
    assert strong < weak < (1.0 if field == "rate" else 0.0)


#: The pause cues the scanner had before it read directions here (scan.PAUSE_CUES).
OLD_PAUSE_CUES = {
    "pause": 500,
    "short pause": 250,
    "long pause": 1000,
    "sigh": 500,
    "sighs": 500,
    "breath": 300,
    "breathes": 300,
    "inhales": 300,
    "laugh": 400,
    "laughs": 400,
    "chuckle": 300,
    "chuckles": 300,
    "clears throat": 400,
}


def test_sounds_keep_the_old_pause_cues():
    assert {key: SOUNDS[key] for key in OLD_PAUSE_CUES} == OLD_PAUSE_CUES


def test_every_sound_reads_as_its_pause(runtime):
    for key, ms in SOUNDS.items():
        direction = read_direction(key, runtime.space)
        assert (direction.pause_ms, direction.emotion, direction.unknown) == (ms, {}, ()), key


def test_vocabulary_does_not_shadow_itself():
    single = {key for key in (*SOUNDS, *PROSODY) if " " not in key}
    assert not single & FUNCTION_WORDS
    assert not {word for words in MODIFIERS for word in words if len(words) == 1} & (single | FUNCTION_WORDS)


def test_prosody_words_win_over_preset_aliases(runtime):
    # "loud", "low" and "hushed" are aliases of shouting, melancholic and whispering
    assert all(runtime.space.knows(word) for word in ("loud", "low", "hushed"))
    for word in ("loud", "low", "hushed"):
        assert read_direction(word, runtime.space).emotion == {}


@pytest.mark.parametrize(
    ("words", "bracket", "kind"),
    [
        ("laughs", False, "opaque"),
        ("very happy", True, "cue"),
        ("softly", False, "cue"),
        ("speaking quickly", False, "cue"),
        ("sighs deeply", False, "opaque"),
        ("like a pirate", True, "opaque"),
        ("like a pirate", False, "text"),
        ("see above", False, "text"),
        ("happy pirate", True, "cue"),
        ("happy pirate", False, "text"),
        ("2024", False, "text"),
    ],
)
def test_direction_kind(runtime, words, bracket, kind):
    assert direction_kind(words, runtime.space, bracket=bracket) == kind


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_read_direction_never_raises(runtime, text):
    direction = read_direction(text, runtime.space)
    assert 0.25 <= direction.rate <= 4.0 and 0 <= direction.pause_ms <= MAX_PAUSE_MS
    assert all(
        label in runtime.space.labels and 0 < weight <= 1 for label, weight in direction.emotion.items()
    )


def test_many_prosody_words_stay_within_bounds(runtime):
    direction = read_direction("very slowly " * 200 + "extremely loudly " * 50, runtime.space)
    assert direction.rate == 0.25 and direction.volume_db == 24.0
