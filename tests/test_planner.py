"""Planner: utterances from plans, control curves with glides, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from emotts_plugin.emotion import EmotionVector
from emotts_plugin.planner import (
    Calibration,
    contour_curve,
    load_calibrations,
    pause_mask,
    target_curves,
    utterances,
)
from emotts_plugin.ssml.sentences import split_sentences


def _utts(parse, markup, transition_ms=250):
    return list(utterances(parse(markup), default_voice="joe", transition_ms=transition_ms))


def test_sentences_split_and_keep_every_character():
    text = 'One. Two! "Three?" Four… five'
    parts = split_sentences(text)
    assert parts == ["One. ", "Two! ", '"Three?" ', "Four… five"]  # "…" before a lowercase word goes on
    assert "".join(parts) == text


def test_an_abbreviation_inside_a_segment_is_no_seam(parse):
    utts = _utts(parse, "Dr. Smith is here. He left at 3 p.m. today.")
    assert [[p.text for p in u.pieces] for u in utts] == [
        ["Doctor Smith is here."],  # the plan holds the spoken words
        ["He left at three PM today."],
    ]


def test_segments_in_one_sentence_are_one_utterance(parse):
    utts = _utts(
        parse,
        'I am <emotion name="sad">so sorry</emotion> about that. '
        '<emotion name="happy">But here is good news!</emotion>',
    )
    assert [[p.text for p in u.pieces] for u in utts] == [
        ["I am", "so sorry", "about that."],
        ["But here is good news!"],
    ]
    assert utts[0].silence_after_ms == pytest.approx(200 * 1.0)
    assert utts[1].silence_after_ms == 0.0
    assert utts[0].pieces[1].targets.pitch_st == -2.5


def test_breaks_voice_changes_and_marks_are_seams(parse):
    utts = _utts(
        parse,
        '<break time="100ms"/>Hello <mark name="m"/>there<break time="700ms"/>'
        'and <voice name="amy">more</voice>',
    )
    assert [[p.text for p in u.pieces] for u in utts] == [["Hello", "there"], ["and"], ["more"]]
    assert utts[0].silence_before_ms == 100 and utts[0].silence_after_ms == 700
    assert utts[0].pieces[1].marks == ("m",)
    assert [u.voice for u in utts] == ["joe", "joe", "amy"]
    assert utts[1].ends_sentence is False


def test_sentence_gap_follows_pause_factor(parse):
    utts = _utts(parse, '<emotion name="melancholic">It rained. It rained again.</emotion>')
    assert utts[0].silence_after_ms == pytest.approx(200 * 1.5)


def test_emphasis_adds_prominence_with_short_glide(parse):
    utts = _utts(parse, "Do <emphasis level='strong'>not</emphasis> touch.")
    plain, emphasised, after = utts[0].pieces
    assert emphasised.targets.pitch_st == 2.0 and emphasised.targets.volume_db == 3.0
    assert emphasised.transition_ms == 60 and after.transition_ms == 60


def test_tag_transition_overrides_default(parse):
    utts = _utts(parse, 'Hello <emotion name="calm" transition="500ms">friend</emotion>')
    assert utts[0].pieces[1].transition_ms == 500


def test_curves_glide_without_steps():
    a, b = EmotionVector(), EmotionVector(pitch_st=4.5, range=1.5, volume_db=6)
    curves = target_curves([a, b], [0.0, 1.0], [250, 250], 2.0)
    pitch = curves["pitch_st"]
    assert pitch[0] == 0 and pitch[-1] == 4.5
    assert np.max(np.abs(np.diff(pitch))) < 4.5 * 0.1  # spread over ~25 frames
    assert np.argmax(np.diff(pitch)) in range(95, 106)  # centred on the boundary
    assert curves["range"][-1] == pytest.approx(1.5) and curves["range"][0] == pytest.approx(1.0)
    stepped = target_curves([a, b], [0.0, 1.0], [0, 0], 2.0)["pitch_st"]
    assert np.max(np.abs(np.diff(stepped))) == pytest.approx(4.5)


def test_contour_builds_up_before_the_end():
    curve = contour_curve(np.full(200, 3.0), end_s=1.8)
    assert curve[:130].max() == 0.0
    assert curve[179] == pytest.approx(3.0, abs=0.2) and np.all(np.diff(curve[:180]) >= 0)


def test_pause_mask_finds_inner_silences_only():
    levels = np.zeros(100)
    levels[:10] = -80  # leading silence: not a pause
    levels[40:60] = -80  # inner pause of 200 ms
    levels[70:75] = -80  # 50 ms: a stop closure, not a pause
    mask = pause_mask(levels)
    assert mask[40:60].all() and mask.sum() == 20


def test_calibration_maps_targets_to_commands():
    cal = Calibration(pitch_up=1.1, pitch_down=0.9, range_up=1.5, range_down=1.2, rate=1.2, volume_up=1.2)
    command = cal.command(EmotionVector(pitch_st=2, range=1.5, rate=0.8, volume_db=5))
    assert command.pitch_st == pytest.approx(2.2)
    assert command.range == pytest.approx(1.5**1.5)
    assert command.rate == pytest.approx(0.8**1.2)
    assert command.volume_db == pytest.approx(6.0)
    lower = cal.command(EmotionVector(pitch_st=-2, range=0.5, volume_db=-4))
    assert (lower.pitch_st, lower.range, lower.volume_db) == pytest.approx((-1.8, 0.5**1.2, -4))


def test_shipped_calibration_loads():
    calibrations = load_calibrations()
    assert "default" in calibrations
    with pytest.raises(ValueError, match="unknown calibration key 'pich'"):
        Calibration.from_dict({"pich": 1}, where="test")
