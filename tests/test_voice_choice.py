"""``<voice gender language>`` without a name: the nearest installed voice, and a warning for what
could not be matched."""

from __future__ import annotations

import pytest

from emotts_plugin import Synthesizer
from emotts_plugin.models.base import VoiceInfo
from emotts_plugin.synthesizer import choose_voice

VOICES = [
    VoiceInfo("joe", "piper", ("en-US",), 22050, gender="male"),
    VoiceInfo("ava", "piper", ("en-GB",), 22050, gender="female"),
    VoiceInfo("kumo", "kokoro", ("en-US", "ja-JP"), 24000, gender="male"),
    VoiceInfo("alpha", "kokoro", ("ja-JP",), 24000, gender="female"),
    VoiceInfo("broken", "piper", ("fr-FR",), 22050, gender="female", problem="cannot be read"),
]


@pytest.mark.parametrize(
    "lang, gender, chosen, problem",
    [
        ("en-US", "", "joe", None),  # the default voice wins a tie
        ("en-US", "male", "joe", None),
        ("en-US", "female", "joe", "no female voice speaks en-US; joe is used"),
        ("en-GB", "female", "ava", None),
        ("en-AU", "female", "ava", None),  # the primary subtag, then the gender
        ("ja-JP", "female", "alpha", None),
        ("ja-JP", "male", "kumo", None),
        (
            "fr-FR",
            "female",
            "joe",
            "no installed voice speaks fr-FR; joe is used",
        ),  # an unusable voice is none
    ],
)
def test_the_nearest_voice_is_chosen(lang, gender, chosen, problem):
    assert choose_voice(VOICES, lang, gender, "joe") == (chosen, problem)


def test_a_google_voice_by_language_and_gender_in_a_plan():
    synth = Synthesizer()
    markup = (
        '<speak><voice language="ja-JP" gender="female">こんにちは。</voice>'
        '<voice language="fr-FR" gender="female">Bonjour.</voice></speak>'
    )
    plan, _ = synth.plan(markup)
    assert [(s.voice, s.lang) for s in plan.segments] == [("jf_alpha", "ja-JP"), ("joe", "fr-FR")]
    assert [w.message for w in plan.warnings] == [
        "<voice> for 'Bonjour.': no installed voice speaks fr-FR; joe is used"
    ]
    assert synth.runtime.parse(markup).segments[0].voice == "auto:female"  # before a synthesizer chooses
