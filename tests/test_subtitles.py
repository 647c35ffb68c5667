"""Subtitles from timings (:mod:`emotts_plugin.subtitles`): cues of a real render of the bundled
voice read back with the ``webvtt-py`` and ``srt`` parsers, and the cutting rules on hand-made
timings."""

from __future__ import annotations

import dataclasses
import html
import re

import pytest
import srt
import webvtt

from emotts_plugin import load_config
from emotts_plugin.subtitles import Cue, cues, subtitle_format, to_srt, to_webvtt, write
from emotts_plugin.synthesizer import Synthesizer
from emotts_plugin.timings import Sentence, Timings, Word

#: Short sentences, a number and an abbreviation normalisation rewrites, and a sentence too long
#: for one cue.
TEXT = (
    "Hello, Dr. Smith! Yes. It is 3 o'clock. "
    "This sentence is far too long to be shown in a single subtitle, so it has to be cut "
    "into several cues that follow each other without any overlap at all."
)
EDGE = re.compile(r"^[^\w]+|[^\w]+$")


@pytest.fixture(scope="module")
def rendered() -> Timings:
    synth = Synthesizer(dataclasses.replace(load_config([]), noise=False, threads=2))
    return synth.synthesize(TEXT, seed=1).timings


def vtt_ms(stamp: str) -> int:
    hours, minutes, seconds = stamp.split(":")
    return round((int(hours) * 3600 + int(minutes) * 60 + float(seconds)) * 1000)


def read_vtt(text: str) -> list[tuple[int, int, list[str]]]:
    return [(vtt_ms(c.start), vtt_ms(c.end), c.text.split("\n")) for c in webvtt.from_string(text)]


def read_srt(text: str) -> list[tuple[int, int, list[str]]]:
    ms = lambda delta: round(delta.total_seconds() * 1000)  # noqa: E731
    return [(ms(s.start), ms(s.end), s.content.split("\n")) for s in srt.parse(text)]


def ms(seconds: float) -> int:
    return round(seconds * 1000)


def words_of(lines: list[str]) -> list[str]:
    return [EDGE.sub("", token) for line in lines for token in line.split() if EDGE.sub("", token)]


def check_cues(parsed: list[tuple[int, int, list[str]]], timings: Timings) -> None:
    """Everything a reader of the file relies on, checked against the words that were spoken."""
    assert parsed, "no cues"
    spoken = list(timings.words)
    at = 0
    for index, (start, end, lines) in enumerate(parsed):
        assert 1 <= len(lines) <= 2, lines
        assert all(0 < len(line) <= 42 for line in lines), lines
        shown = words_of(lines)
        assert shown == [word.text for word in spoken[at : at + len(shown)]], (shown, at)
        first, last = spoken[at], spoken[at + len(shown) - 1]
        at += len(shown)
        following = parsed[index + 1][0] if index + 1 < len(parsed) else None
        assert start == ms(first.start_s)
        held = max(
            last.end_s, min(first.start_s + 0.7, spoken[at].start_s if following else timings.duration_s)
        )
        assert end == ms(held), (lines, end, held)
        assert end > start and (following is None or end <= following)
        assert ms(last.end_s) - ms(first.start_s) <= 6000
        # never two sentences in one cue
        assert any(s.start_s <= first.start_s and last.end_s <= s.end_s for s in timings.sentences), lines
    assert at == len(spoken), "words missing from the cues"


def test_webvtt_of_a_render_reads_back(rendered, tmp_path):
    path = tmp_path / "speech.vtt"
    made = write(path, rendered)
    parsed = [(vtt_ms(c.start), vtt_ms(c.end), c.lines) for c in webvtt.read(str(path))]
    assert len(parsed) == len(made)
    check_cues(parsed, rendered)


def test_srt_of_a_render_reads_back(rendered, tmp_path):
    path = tmp_path / "speech.srt"
    write(path, rendered)
    parsed = read_srt(path.read_text(encoding="utf-8"))
    check_cues(parsed, rendered)
    assert [s.index for s in srt.parse(path.read_text(encoding="utf-8"))] == list(range(1, len(parsed) + 1))


def test_cues_show_the_spoken_words_with_the_sentences_punctuation(rendered):
    made = cues(rendered)
    texts = [cue.text.replace("\n", " ") for cue in made]
    assert texts[:3] == ["Hello, Doctor Smith!", "Yes.", "It is three o'clock."]
    long = texts[3:]
    assert len(long) == 2 and long[0].startswith("This sentence") and long[1].endswith("overlap at all.")
    assert all(cue.end_s - cue.start_s <= 6.0 for cue in made)
    # "Yes." is spoken in well under 0.7 s: it is held longer, up to the next cue at most
    yes = next(word for word in rendered.words if word.text == "Yes")
    assert yes.end_s - yes.start_s < 0.7
    assert made[1].end_s == pytest.approx(min(yes.start_s + 0.7, made[2].start_s))


# -- the rules, on hand-made timings -------------------------------------------------------


def timed(text: str, start: float = 0.0, step: float = 0.3, gap: float = 0.05) -> Timings:
    """Timings of one sentence: each word of ``text`` lasts ``step`` s, ``gap`` s apart."""
    words = []
    at = start
    for token in text.split():
        if EDGE.sub("", token):  # punctuation alone is no word
            words.append(Word(EDGE.sub("", token), at, at + step, 0))
            at += step + gap
    sentence = Sentence(text, words[0].start_s, words[-1].end_s)
    return Timings((sentence,), tuple(words), duration_s=at)


def joined(*parts: Timings) -> Timings:
    return Timings(
        tuple(s for t in parts for s in t.sentences),
        tuple(w for t in parts for w in t.words),
        duration_s=parts[-1].duration_s,
    )


LONG = (
    "When the night train finally left the station, the passengers who had waited for hours on "
    "the cold platform settled into their seats and, one after another, fell asleep to the sound "
    "of the wheels."
)


def test_a_long_sentence_is_cut_into_readable_cues():
    timings = timed(LONG, step=0.2)
    made = cues(timings)
    parsed = read_vtt(to_webvtt(made))
    check_cues(parsed, timings)
    assert len(made) == 3
    for cue in made:
        assert len(cue.lines) == 2
        # balanced: the top line is no longer than it must be for two lines
        top, bottom = cue.lines
        assert len(top) - len(bottom) <= len(bottom.split()[0]) + 1, cue.lines
    # as even as can be: no cue left with a few words
    lengths = [len(cue.text) for cue in made]
    assert max(lengths) - min(lengths) <= 12, made
    # "station," cannot end the first cue (the rest would need four), "and," can end the second
    assert made[1].text.endswith("seats and,"), made


def test_a_cue_lasts_at_most_max_s():
    timings = timed("a b c d e f g h i j k l m n o p q r s t u v w x y z.", step=0.5, gap=0.0)
    made = cues(timings)
    assert [len(words_of(cue.lines)) for cue in made] == [9, 9, 8]  # as few as 6 s allows, even
    assert all(cue.end_s - cue.start_s <= 6.0 for cue in made)
    short = cues(timings, max_s=2.0)  # four words of 0.5 s
    assert len(short) == 7 and all(cue.end_s - cue.start_s <= 2.0 for cue in short)


def test_a_word_longer_than_a_line_is_cut_and_its_time_shared():
    word = "x" * 40 + "y" * 40 + "z" * 40 + "end"  # 123 characters: pieces of 42, 42 and 39
    timings = timed(f"See {word} now.", step=1.2, gap=0.0)
    made = cues(timings)
    parsed = read_srt(to_srt(made))
    assert [lines for _, _, lines in parsed] == [
        ["See", word[:42]],
        [word[42:84]],
        [word[84:], "now."],
    ]
    # the word's 1.2 s are shared by length: its first 42 characters end at 1.2 + 1.2 * 42 / 123
    assert [(start, end) for start, end, _ in parsed] == [(0, 1610), (1610, 2020), (2020, 3600)]
    assert made[0].end_s == pytest.approx(1.2 + 1.2 * 42 / 123)


def test_no_words_make_no_cues_and_valid_empty_files(tmp_path):
    assert cues(Timings()) == []
    assert to_webvtt([]) == "WEBVTT\n"
    assert list(webvtt.from_string(to_webvtt([]))) == []
    assert to_srt([]) == "" and list(srt.parse(to_srt([]))) == []
    assert write(tmp_path / "empty.vtt", Timings()) == []
    assert len(webvtt.read(str(tmp_path / "empty.vtt"))) == 0
    write(tmp_path / "empty.srt", Timings())
    assert (tmp_path / "empty.srt").read_text(encoding="utf-8") == ""


def test_cues_never_span_a_sentence_end():
    two = joined(timed("Hi there.", 0.0), timed("Bye now.", 1.0))
    assert [cue.text for cue in cues(two)] == ["Hi there.", "Bye now."]
    # without sentences the words are shown bare and fill one cue
    bare = dataclasses.replace(two, sentences=())
    assert [cue.text for cue in cues(bare)] == ["Hi there Bye now"]
    # a word that ends a sentence with its punctuation ends the cue even within one Sentence
    one = dataclasses.replace(two, sentences=(Sentence("Hi there. Bye now.", 0.0, 1.65),))
    assert [cue.text for cue in cues(one)] == ["Hi there.", "Bye now."]


def test_a_sentence_text_that_does_not_match_its_words_shows_the_bare_words():
    timings = timed("Hello, world!")
    odd = dataclasses.replace(timings, sentences=(dataclasses.replace(timings.sentences[0], text="Howdy!"),))
    assert [cue.text for cue in cues(odd)] == ["Hello world"]


def test_punctuation_alone_is_shown_with_the_word_before():
    timings = timed("— Wait — what? …")
    assert [w.text for w in timings.words] == ["Wait", "what"]
    assert [cue.text for cue in cues(timings)] == ["— Wait — what? …"]


def test_a_short_cue_is_held_to_min_s_but_not_into_the_next_or_past_the_end():
    timings = joined(
        timed("Yes.", 0.0, step=0.2), timed("No.", 0.5, step=0.2), timed("Maybe.", 3.0, step=0.2)
    )
    assert timings.duration_s == pytest.approx(3.25)
    made = cues(timings)
    assert [(cue.start_s, cue.end_s) for cue in made] == [
        (0.0, 0.5),
        (0.5, pytest.approx(1.2)),
        (3.0, pytest.approx(3.25)),
    ]
    unknown_end = cues(dataclasses.replace(timings, duration_s=0.0))
    assert unknown_end[-1].end_s == pytest.approx(3.7)
    # a word heard past the next cue's start (overlapping words) still ends its cue there
    overlapping = joined(timed("Hi.", 0.0, step=1.0), timed("Yo.", 0.8, step=0.4))
    assert [(c.start_s, c.end_s) for c in cues(overlapping)] == [(0.0, 0.8), (0.8, 1.25)]  # held to the end
    assert [(c.start_s, c.end_s) for c in cues(timings, min_s=0)] == [
        (0.0, 0.2),
        (0.5, 0.7),
        (3.0, pytest.approx(3.2)),
    ]


def test_webvtt_escapes_what_would_break_a_cue():
    timings = timed("R&D says a-->b <now>")
    text = to_webvtt(cues(timings))
    assert "R&amp;D says a--&gt;b &lt;now&gt;" in text
    parsed = list(webvtt.from_string(text))
    assert len(parsed) == 1 and html.unescape(parsed[0].text) == "R&D says a-->b <now>"


def test_timestamps_past_an_hour():
    cue = Cue(3725.25, 3727.0004, ("Late.",))
    assert "01:02:05.250 --> 01:02:07.000" in to_webvtt([cue])
    assert read_vtt(to_webvtt([cue])) == [(3725250, 3727000, ["Late."])]
    assert read_srt(to_srt([cue])) == [(3725250, 3727000, ["Late."])]


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({"max_chars": 0}, "max_chars must be at least 1, got 0"),
        ({"max_lines": 0}, "max_lines must be at least 1, got 0"),
        ({"max_s": 0.0}, "max_s must be above 0, got 0.0"),
        ({"min_s": -1.0}, "min_s must be 0 or more, got -1.0"),
    ],
)
def test_bad_limits_name_the_value(options, words):
    with pytest.raises(ValueError, match=re.escape(words)):
        cues(timed("Hi."), **options)


def test_words_out_of_order_are_refused():
    words = (Word("late", 2.0, 2.5, 0), Word("early", 1.0, 1.5, 0))
    with pytest.raises(ValueError, match="word 'early' starts \\(1.0 s\\) before the word ahead of it"):
        cues(Timings(words=words))
    with pytest.raises(ValueError, match="word 'back' ends \\(1.0 s\\) before it starts \\(2.0 s\\)"):
        cues(Timings(words=(Word("back", 2.0, 1.0, 0),)))


def test_write_chooses_the_format_by_extension(tmp_path):
    timings = timed("Hello there.")
    assert subtitle_format("a.VTT") == "WebVTT" and subtitle_format("b.srt") == "SRT"
    write(tmp_path / "upper.VTT", timings)
    assert (tmp_path / "upper.VTT").read_text(encoding="utf-8").startswith("WEBVTT\n\n1\n00:00:00.000 --> ")
    with pytest.raises(ValueError) as caught:
        write(tmp_path / "x.txt", timings)
    assert str(tmp_path / "x.txt") in str(caught.value) and ".vtt, .srt" in str(caught.value)
    assert not (tmp_path / "x.txt").exists()
