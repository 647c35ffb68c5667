"""The emotion space: presets, aliases, intensity, mixing, PAD."""

from __future__ import annotations

import math

import pytest

from emotts_plugin.emotion import INDEXTTS2_ORDER, EmotionVector, parse_intensity
from emotts_plugin.errors import UnknownEmotionError

TABLE = {  # docs/design.md §1.2: starting values at intensity 1.0
    "neutral": (0, 1.0, 1.0, 0, 0, 0, 0, 1.0),
    "happy": (3, 1.5, 1.08, 3, 2, 0.1, 2, 0.9),
    "excited": (4.5, 1.7, 1.18, 5, 3, 0.1, 3, 0.8),
    "sad": (-2.5, 0.7, 0.82, -4, -3, 0.15, -3, 1.4),
    "melancholic": (-3, 0.6, 0.78, -5, -3, 0.2, -3, 1.5),
    "angry": (2, 1.6, 1.08, 6, 4, 0, -2, 0.8),
    "afraid": (3.5, 1.5, 1.2, 0, 1, 0.2, 1, 1.1),
    "surprised": (4, 1.7, 1.1, 3, 2, 0.1, 4, 1.0),
    "disgusted": (-2, 1.3, 0.85, -2, -1, 0, -3, 1.1),
    "calm": (-1, 0.75, 0.92, -2, -1, 0.05, -1, 1.15),
    "gentle": (-1.5, 0.8, 0.9, -4, -2, 0.3, 1, 1.1),
    "empathetic": (-1, 0.9, 0.9, -2, -1, 0.2, -1, 1.2),
    "serious": (-0.5, 0.85, 0.97, 1, 1, 0, -2, 1.0),
    "whispering": (0, 0.8, 0.95, -12, -2, 1.0, 0, 1.1),
    "shouting": (5, 1.3, 1.05, 10, 6, 0, -1, 0.9),
}

ALIASES = {
    # Azure styles
    "cheerful": "happy",
    "friendly": "happy",
    "hopeful": "happy",
    "depressed": "melancholic",
    "fearful": "afraid",
    "terrified": "afraid",
    "unfriendly": "disgusted",
    "disgruntled": "angry",
    "customerservice": "gentle",
    "newscast": "serious",
    "assistant": "calm",
    "chat": "happy",
    "affectionate": "gentle",
    "lyrical": "gentle",
    # Google, Alexa
    "apologetic": "empathetic",
    "firm": "serious",
    "lively": "excited",
    "disappointed": "sad",
    # EmotionML big6 and everyday categories
    "anger": "angry",
    "disgust": "disgusted",
    "fear": "afraid",
    "happiness": "happy",
    "sadness": "sad",
    "surprise": "surprised",
    "worried": "afraid",
    "relaxed": "calm",
    "bored": "melancholic",
    # Chinese
    "开心": "happy",
    "悲伤": "sad",
    "愤怒": "angry",
    "温柔": "gentle",
    "平静": "calm",
    "害怕": "afraid",
}


def test_every_table_label_has_its_vector(runtime):
    assert set(TABLE) <= set(runtime.space.labels)
    for label, values in TABLE.items():
        vector = runtime.space.preset(label).vector
        assert vector.to_dict() == pytest.approx(
            dict(zip(EmotionVector.dims(), (*values, 0.4 if label == "afraid" else 0.0)))
        ), label


@pytest.mark.parametrize("alias, label", ALIASES.items())
def test_aliases(runtime, alias, label):
    assert runtime.space.resolve(alias) == label
    assert runtime.space.resolve(alias.upper()) == label


def test_indextts2_labels_lead_their_own_slot(runtime):
    for slot, label in enumerate(INDEXTTS2_ORDER):
        vector = runtime.space.preset(label).indextts2
        assert len(vector) == 8 and max(vector) == vector[slot] >= 0.9, label
    assert runtime.space.preset("neutral").indextts2 == (0.0,) * 8


def test_unknown_name_lists_labels(runtime):
    with pytest.raises(UnknownEmotionError, match="unknown emotion 'zesty'; known labels: afraid, angry"):
        runtime.space.resolve("zesty")


def test_intensity_scales_in_log_domain_for_factors(runtime):
    half = runtime.space.vector({"excited": 0.5})
    assert half.pitch_st == pytest.approx(2.25)
    assert half.rate == pytest.approx(math.sqrt(1.18))
    assert half.range == pytest.approx(math.sqrt(1.7))


def test_mixture_and_normalisation(runtime):
    mix = runtime.space.vector({"happy": 0.6, "surprised": 0.3})
    assert mix.pitch_st == pytest.approx(0.6 * 3 + 0.3 * 4)
    over = runtime.space.normalise_weights({"happy": 1.5, "sad": 0.5})
    assert over == pytest.approx({"happy": 0.75, "sad": 0.25})
    assert runtime.space.normalise_weights({"happy": 1, "neutral": 1}) == {"happy": 0.5}


@pytest.mark.parametrize(
    "value, expected",
    [("0.6", 0.6), ("60%", 0.6), ("low", 0.33), ("medium", 0.66), ("high", 1.0), (1, 1.0)],
)
def test_parse_intensity(value, expected):
    assert parse_intensity(value) == pytest.approx(expected)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "150%", "loud", "nan"])
def test_parse_intensity_rejects(value):
    with pytest.raises(ValueError, match="intensity"):
        parse_intensity(value)


def test_pad_names_nearest_labels(runtime):
    # pleasant, low arousal → calm first
    weights = runtime.space.from_pad(0.4, -0.6, 0.0)
    assert max(weights, key=weights.get) == "calm"
    # unpleasant, aroused, dominant → angry
    weights = runtime.space.from_pad(-0.5, 0.6, 0.3)
    assert max(weights, key=weights.get) == "angry" and sum(weights.values()) == pytest.approx(1.0, abs=1e-3)
    assert runtime.space.from_pad(0, 0, 0) == {}
    with pytest.raises(ValueError, match="PAD arousal must be within -1..1, got 2"):
        runtime.space.from_pad(0, 2, 0)
