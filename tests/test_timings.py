"""The pieces of :mod:`emotts_plugin.timings`, and Piper's phones they are made from, on small
hand-made inputs (the rendered audio is measured in ``test_timings_accuracy.py``)."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from emotts_plugin import timings
from emotts_plugin.models.base import Phone
from emotts_plugin.models.piper import Phonemized


def phones(*spec: tuple[str, int, int], piece: int = 0) -> list[Phone]:
    return [Phone(symbol, start, end, piece) for symbol, start, end in spec]


def even(symbols: str, step: int = 10, piece: int = 0, start: int = 0) -> list[Phone]:
    """One phone per symbol, each ``step`` samples, back to back."""
    return [Phone(s, start + k * step, start + (k + 1) * step, piece) for k, s in enumerate(symbols)]


def assert_covers(spans: list[tuple[int, int, int]], n_samples: int) -> None:
    assert spans[0][1] == 0 and spans[-1][2] == n_samples
    assert all(a[2] == b[1] for a, b in zip(spans, spans[1:])), spans
    assert all(start < end for _, start, end in spans), spans
    assert all(a[0] != b[0] for a, b in zip(spans, spans[1:])), "runs of one id are merged"
    assert all(0 <= vid <= 21 for vid, _, _ in spans)


# -- word tokens ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "tokens"),
    [
        ("Hello, world!", ["Hello", "world"]),
        ("three PM, OK?", ["three", "PM", "OK"]),
        ('"Smith-Jones" (Ph.D.) said...', ["Smith-Jones", "Ph.D", "said"]),
        ("it's twenty-one", ["it's", "twenty-one"]),
        ("wait — what", ["wait", "what"]),
        ("  ", []),
    ],
)
def test_word_tokens_are_the_words_without_edge_punctuation(text, tokens):
    assert timings.word_tokens(text) == tokens


# -- visemes ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "vid"),
    [
        ("p", 21),
        ("m", 21),
        ("f", 18),
        ("ð", 17),
        ("ɹ", 13),
        ("ɚ", 5),
        ("ɑ", 2),
        ("ã", 2),  # a nasal vowel: its base letter's shape
        (" ", 0),
        (",", 0),
        ("?", 0),
        ("ɮ", 1),  # a letter without a shape of its own: open, neutral
        ("ˈ", None),
        ("ː", None),
        ("\u0303", None),  # a combining mark alone
    ],
)
def test_viseme_of_a_symbol(symbol, vid):
    assert timings.viseme_of(symbol) == vid


def test_visemes_cover_every_sample_and_fill_gaps_with_silence():
    spoken = phones(("h", 30, 40), ("ɛ", 40, 55), ("l", 55, 60), ("o", 70, 90))
    spans = timings.visemes(spoken, 120)
    assert spans == [
        (0, 0, 30),
        (12, 30, 40),
        (4, 40, 55),
        (14, 55, 60),
        (0, 60, 70),
        (8, 70, 90),
        (0, 90, 120),
    ]
    assert_covers(spans, 120)


def test_visemes_merge_runs_of_one_mouth_shape():
    # "s z" and "t d n" share a shape each; a space between them is silence
    spans = timings.visemes(even("sz tdn"), 60)
    assert spans == [(15, 0, 20), (0, 20, 30), (19, 30, 60)]


def test_diphthongs_have_a_shape_of_their_own():
    spans = timings.visemes(even("maɪ"), 30)
    assert spans == [(21, 0, 10), (11, 10, 30)]
    assert timings.visemes(even("ɔɪ"), 20) == [(10, 0, 20)]
    assert timings.visemes(even("aʊ"), 20) == [(9, 0, 20)]


def test_a_length_mark_lengthens_the_shape_before_it():
    assert timings.visemes(even("fɑːk"), 40) == [(18, 0, 10), (2, 10, 30), (20, 30, 40)]


def test_a_stress_mark_belongs_to_the_vowel_after_it():
    # the voice gives the mark samples of its own: the stressed vowel is heard from there
    assert timings.visemes(even("kˈæt"), 40) == [(20, 0, 10), (1, 10, 30), (19, 30, 40)]
    assert timings.visemes(even("lˈaɪk"), 50) == [(14, 0, 10), (11, 10, 40), (20, 40, 50)]
    # a stress mark before a pause is silence
    assert timings.visemes(even("aˈ."), 30) == [(2, 0, 10), (0, 10, 30)]


def test_a_modifier_with_nothing_before_it_is_silence():
    assert timings.visemes(even("ːa"), 20) == [(0, 0, 10), (2, 10, 20)]


def test_visemes_without_phones_are_one_silence():
    assert timings.visemes([], 100) == [(0, 0, 100)]
    assert timings.visemes([], 0) == []


def test_visemes_stop_at_the_end_of_the_audio():
    spans = timings.visemes(even("mama"), 25)
    assert spans == [(21, 0, 10), (2, 10, 20), (21, 20, 25)]
    assert_covers(spans, 25)


def test_empty_phones_are_skipped():
    # Piper's phones give a space between two words an empty span
    spoken = phones(("b", 0, 10), ("i", 10, 20), (" ", 20, 20), ("m", 20, 30), ("i", 30, 40))
    assert timings.visemes(spoken, 40) == [(21, 0, 10), (6, 10, 20), (21, 20, 30), (6, 30, 40)]


@given(
    st.lists(
        st.tuples(st.sampled_from(list("pmaɪoʊeɹlsˈˌː ,.") + ["ã"]), st.integers(0, 30)),
        max_size=40,
    ),
    st.integers(0, 50),
)
def test_visemes_always_cover_the_audio(spec, tail):
    start, spoken = 0, []
    for symbol, length in spec:
        spoken.append(Phone(symbol, start, start + length, 0))
        start += length
    n_samples = start + tail
    spans = timings.visemes(spoken, n_samples)
    if n_samples == 0:
        assert spans == []
    else:
        assert_covers(spans, n_samples)


# -- words ------------------------------------------------------------------------------


def test_phone_words_split_at_spaces_and_punctuation_and_count_sounds():
    spoken = even("pˌʊt ɪɾ,ɪnðə") + even(" bˈɑːks.", piece=1, start=200)
    assert timings.phone_words(spoken, 0) == [(0, 40, 3), (50, 70, 2), (80, 120, 4)]
    assert timings.phone_words(spoken, 1) == [(210, 270, 4)]
    assert timings.phone_words(spoken, 2) == []


@pytest.mark.parametrize(
    ("letters", "sounds", "groups"),
    [
        # one to one
        ([3, 2, 3], [3, 2, 3], [(0, 1, 0, 1), (1, 1, 1, 1), (2, 1, 2, 1)]),
        # "Put it in the box": espeak reads "in the" as one word, ɪnðə
        ([3, 2, 2, 3, 3], [3, 2, 4, 4], [(0, 1, 0, 1), (1, 1, 1, 1), (2, 2, 2, 1), (4, 1, 3, 1)]),
        # one token read as two phoneme words, then one word
        ([4, 4], [2, 2, 4], [(0, 1, 0, 2), (1, 1, 2, 1)]),
        # a token that is a whole sentence's worth of phoneme words is capped at four
        ([12], [3, 3, 3, 3], [(0, 1, 0, 4)]),
    ],
)
def test_align_groups(letters, sounds, groups):
    assert timings.align_groups(letters, sounds) == groups


def test_align_groups_refuses_what_cannot_be_aligned():
    with pytest.raises(ValueError, match="cannot align 9 words to 2 phoneme words"):
        timings.align_groups([2] * 9, [3, 3])


@given(
    st.lists(st.integers(1, 12), min_size=1, max_size=12),
    st.lists(st.integers(1, 12), min_size=1, max_size=12),
)
def test_align_groups_put_every_token_and_phoneme_word_in_one_group(letters, sounds):
    try:
        groups = timings.align_groups(letters, sounds)
    except ValueError:
        assert len(letters) > 4 * len(sounds) or len(sounds) > 4 * len(letters)
        return
    assert [g[0] for g in groups] == list(np.cumsum([0] + [g[1] for g in groups[:-1]]))
    assert [g[2] for g in groups] == list(np.cumsum([0] + [g[3] for g in groups[:-1]]))
    assert sum(g[1] for g in groups) == len(letters) and sum(g[3] for g in groups) == len(sounds)
    assert all(1 in (g[1], g[3]) and 1 <= g[1] <= 4 and 1 <= g[3] <= 4 for g in groups)


def test_place_words_from_phones_shares_a_merged_word_by_letters():
    spoken = even("pʊt ɪɾ ɪnðə bɑks.")
    placed = timings.place_words(["Put it in the box."], spoken, [(0, 200)])
    assert placed == [(0, 0, 0, 30), (0, 1, 40, 60), (0, 2, 70, 86), (0, 3, 86, 110), (0, 4, 120, 160)]


def test_place_words_follow_pieces():
    spoken = even("hɛloʊ") + even(" ðɛɹ", piece=1, start=50)
    placed = timings.place_words(["Hello", "there"], spoken, [(0, 50), (50, 90)])
    assert placed == [(0, 0, 0, 50), (1, 0, 60, 90)]


def test_place_words_without_phones_spread_over_the_piece_by_letters():
    placed = timings.place_words(["ab cdef", "", "xy"], [], [(0, 60), (60, 60), (60, 100)])
    assert placed == [(0, 0, 0, 20), (0, 1, 20, 60), (2, 0, 60, 100)]


def test_place_words_when_the_voice_said_far_fewer_words():
    # the voice skipped a script it cannot read: every token still gets a span, in order
    tokens = "Hello " + "你 " * 12 + "world"
    spoken = even("hɛloʊ wɜld", step=10)
    placed = timings.place_words([tokens], spoken, [(0, 100)])
    assert len(placed) == 14
    assert placed[0][2] == 0 and placed[-1][3] == 100
    assert all(a[3] == b[2] for a, b in zip(placed, placed[1:]))


# -- source offsets ---------------------------------------------------------------------


def spans_of(runtime, source: str) -> list[list[str | None]]:
    plan = runtime.parse(source, mode="lenient")
    return [
        [None if span is None else source[span[0] : span[1]] for span in segment]
        for segment in timings.source_spans(plan, source)
    ]


def test_source_spans_of_plain_words(runtime):
    assert spans_of(runtime, "The cat and the dog.") == [["The", "cat", "and", "the", "dog"]]


def test_a_normalised_word_gets_the_source_it_came_from(runtime):
    plan = runtime.parse("Meet me at 3pm, OK?", mode="lenient")
    assert timings.word_tokens(plan.segments[0].text) == ["Meet", "me", "at", "three", "PM", "OK"]
    # "three" and "PM" both came from "3pm" (without the comma after it)
    assert timings.source_spans(plan, "Meet me at 3pm, OK?") == [
        [(0, 4), (5, 7), (8, 10), (11, 14), (11, 14), (16, 18)]
    ]
    assert spans_of(runtime, "Dr. Smith paid $5 today.") == [["Dr.", "Smith", "paid", "$5", "$5", "today"]]
    assert spans_of(runtime, 'He said "42" twice.') == [["He", "said", "42", "twice"]]


def test_markup_is_never_taken_for_a_word(runtime):
    source = '<speak>I <emphasis level="strong">speak</emphasis> of emphasis</speak>'
    assert spans_of(runtime, source) == [["I"], ["speak"], ["of", "emphasis"]]
    plan = runtime.parse(source, mode="lenient")
    speak = timings.source_spans(plan, source)[1][0]
    assert speak == (source.index(">speak<") + 1, source.index(">speak<") + 6)


def test_sub_alias_words_get_the_text_they_replace(runtime):
    source = '<speak>The <sub alias="World Wide Web">WWW</sub> is big.</speak>'
    assert spans_of(runtime, source) == [["The", "WWW", "WWW", "WWW", "is", "big"]]


# -- Piper's phones ---------------------------------------------------------------------

ID_MAP = {
    "^": [1],
    "_": [0],
    "$": [2],
    " ": [3],
    ",": [4],
    ".": [5],
    **{c: [10 + i] for i, c in enumerate("abcd")},
}


def phonemized(symbols: list[str], piece_first: tuple[int, ...] = (0,)) -> Phonemized:
    voice = SimpleNamespace(config=SimpleNamespace(phoneme_id_map=ID_MAP, sample_rate=1000))
    ids = [1, 0] + [i for s in symbols for i in (ID_MAP[s][0], 0)] + [2]
    return Phonemized(voice, symbols, piece_first, ids)


def spans(phoned: tuple[Phone, ...]) -> list[tuple[str, int, int, int]]:
    return [(p.symbol, p.start, p.end, p.piece) for p in phoned]


def test_piper_phones_start_at_the_pad_before_them():
    # ids: ^ _ a _ b _ , _ " " _ c _ $, ten samples each
    prepared = phonemized(["a", "b", ",", " ", "c"])
    assert spans(prepared.phones(np.full(len(prepared.ids), 10), 130)) == [
        ("a", 20, 30, 0),  # the piece's first phoneme starts at its own id, as the piece does
        ("b", 30, 50, 0),
        (",", 50, 70, 0),
        (" ", 70, 90, 0),  # after punctuation a space holds a pause: it keeps its samples
        ("c", 90, 110, 0),
    ]


def test_a_space_between_words_gives_its_samples_to_the_next_word():
    prepared = phonemized(["a", "b", " ", "c", "d"])
    assert spans(prepared.phones(np.full(len(prepared.ids), 10), 130)) == [
        ("a", 20, 30, 0),
        ("b", 30, 50, 0),
        (" ", 50, 50, 0),
        ("c", 50, 90, 0),
        ("d", 90, 110, 0),
    ]


def test_a_piece_starts_where_its_phones_do():
    prepared = phonemized(["a", " ", "b", "c"], piece_first=(0, 2))
    id_samples = np.array([5, 7, 10, 3, 10, 4, 10, 6, 10, 2, 5])
    phoned = prepared.phones(id_samples, int(id_samples.sum()))
    # where each id starts: ^ 0, _ 5, a 12, _ 22, " " 25, _ 35, b 39, _ 49, c 55, _ 65, $ 67; end 72
    assert spans(phoned) == [("a", 12, 22, 0), (" ", 22, 39, 0), ("b", 39, 49, 1), ("c", 49, 65, 1)]
    starts = prepared.piece_starts(id_samples, int(id_samples.sum()))
    assert starts == (12, 39)
    assert [next(p.start for p in phoned if p.piece == k) for k in (0, 1)] == list(starts)


def test_piper_phones_stop_at_the_end_of_the_audio_and_need_the_alignment():
    prepared = phonemized(["a", "b", "c"])
    assert spans(prepared.phones(np.full(len(prepared.ids), 10), 45)) == [
        ("a", 20, 30, 0),
        ("b", 30, 45, 0),
        ("c", 45, 45, 0),
    ]
    assert prepared.phones(None, 100) == ()


# -- the public shape -------------------------------------------------------------------


def test_timings_to_dict_gives_both_viseme_sets():
    result = timings.Timings(
        words=(timings.Word("Hi", 0.1, 0.35, 0, (0, 2)),),
        visemes=(timings.Viseme(0, 0.0, 0.1), timings.Viseme(12, 0.1, 0.2), timings.Viseme(11, 0.2, 0.4)),
        duration_s=0.4,
    )
    shape = result.to_dict()
    assert shape["viseme_set"] == "azure"
    assert [(v["id"], v["polly"]) for v in shape["visemes"]] == [(0, "sil"), (12, "k"), (11, "a")]
    assert shape["words"] == [{"text": "Hi", "start": 0.1, "end": 0.35, "segment": 0, "source": [0, 2]}]
    assert set(timings.POLLY_VISEMES) == set(range(22))
