"""The per-call options type: one place that checks every field."""

from __future__ import annotations

import dataclasses

import pytest

from emotts_plugin.errors import ConfigError
from emotts_plugin.options import SpeechOptions, with_changes


@pytest.mark.parametrize(
    ("field", "value", "words"),
    [
        ("intensity", 1.5, "intensity must be within 0..1, got 1.5"),
        ("intensity", True, "intensity must be a number, got True"),
        ("transition_ms", 6000, "transition_ms must be within 0..5000"),
        ("sample_rate", 100, "sample_rate must be within 8000..96000"),
        ("sample_rate", 16000.5, "sample_rate must be an integer"),
        ("speed", 0.1, "speed must be within 0.25..4"),
        ("speed", float("nan"), "speed must be within 0.25..4"),
        ("reference_weight", -0.5, "reference_weight must be within 0..1"),
        ("seed", "7", "seed must be an integer"),
        ("voice", 3, "voice must be a string"),
        ("mode", "sloppy", "mode must be one of lenient, strict"),
    ],
)
def test_a_bad_value_names_the_field_and_the_value(field, value, words):
    with pytest.raises(ConfigError, match=words) as caught:
        SpeechOptions(**{field: value})
    assert caught.value.key == field
    with pytest.raises(ConfigError):  # a variant is checked as the constructor checks
        dataclasses.replace(SpeechOptions(), **{field: value})


def test_options_are_frozen_and_none_means_the_configuration():
    options = SpeechOptions(emotion="happy", intensity=0.5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.emotion = "sad"  # type: ignore[misc]
    assert options.config_changes() == {"emotion": "happy", "intensity": 0.5}
    assert SpeechOptions().config_changes() == {}


def test_changes_apply_over_the_options_and_unknown_keys_are_named():
    base = SpeechOptions(voice="joe", seed=3)
    assert with_changes(base, {}) is base
    assert with_changes(base, {"seed": 4}) == SpeechOptions(voice="joe", seed=4)
    assert with_changes(None, {"emotion": "calm"}) == SpeechOptions(emotion="calm")
    assert SpeechOptions.from_dict({"speed": 2}) == SpeechOptions(speed=2)
    unknown = r"unknown option 'pitch' \(value 3\); allowed: voice, emotion"
    with pytest.raises(ConfigError, match=unknown) as caught:
        SpeechOptions.from_dict({"pitch": 3})
    assert caught.value.key == "pitch"
