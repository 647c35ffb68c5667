"""Lenient parsing never raises and never loses a word, whatever the text."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

# Markup a chat model might emit, whole or broken. Each piece is surrounded by
# spaces when inserted, so removing it cannot join two words.
MARKUP = [
    '<emotion name="happy">',
    '<emotion name="sad" intensity="0.4">',
    "<emotion name=calm>",
    '<emotion name="nonexistent">',
    "</emotion>",
    "<speak>",
    "</speak>",
    '<break time="300ms"/>',
    "<break/>",
    '<prosody rate="fast">',
    "</prosody>",
    "<emphasis>",
    "</emphasis>",
    "<p>",
    "</p>",
    "<s>",
    '<amazon:emotion name="excited" intensity="high">',
    "</amazon:emotion>",
    '<mstts:express-as style="cheerful">',
    "</mstts:express-as>",
    "<b>",
    "</i>",
    "[happy]",
    "[gentle]",
    "(sighs)",
    "<!-- aside -->",
    '<mark name="m1"/>',
]

# Words: any printable text without whitespace; '<', '&', '>' and brackets
# included on purpose (bare ones must be repaired, never dropped).
WORD = st.text(
    alphabet=st.characters(
        blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\x85\xa0"
    ),
    min_size=1,
    max_size=12,
)
ITEM = st.one_of(st.tuples(st.just("word"), WORD), st.tuples(st.just("markup"), st.sampled_from(MARKUP)))


def _spoken_words(items):
    return [value for kind, value in items if kind == "word"]


def _looks_like_markup(word: str) -> bool:
    # a generated "word" that itself forms a tag, comment, entity or cue is
    # markup, not a word; those cases are covered by the golden tests
    return any(ch in word for ch in "<&") or (word.startswith(("[", "(")) and word.endswith(("]", ")")))


def _plain(word: str) -> bool:
    # a word of five or more letters is spoken as written (shorter ones may be abbreviations
    # said in full, symbols are said as words or are chat markup: covered by their own tests)
    return len(word) >= 5 and word.isalpha() and not word.isupper()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(items=st.lists(ITEM, max_size=40))
def test_lenient_never_raises_nor_loses_words(runtime, items):
    text = " ".join(value for _, value in items)
    plan = runtime.parse(text, mode="lenient")
    words = [word for word in _spoken_words(items) if _plain(word)]
    spoken = iter(plan.text.split())
    # every plain word is spoken, in order (a generated bracket or stage direction may hold one:
    # those are skipped, as are the words that markup tokens made of symbols swallow)
    if not any(_looks_like_markup(w) or not w.isalnum() for w in _spoken_words(items)):
        assert all(word in spoken for word in words)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=200))
def test_lenient_never_raises_on_any_text(runtime, text):
    plan = runtime.parse(text, mode="lenient")
    assert isinstance(plan.text, str)


@settings(max_examples=300, deadline=None)
@given(
    words=st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Z")), min_size=1, max_size=10),
        max_size=30,
    )
)
def test_bare_specials_are_kept_as_text(runtime, words):
    words = [w for w in words if _plain(w)]
    text = " ".join(f"{w} & {w} < {w} > {w}&{w}" for w in words)
    plan = runtime.parse(text, mode="lenient")
    # every word and every bare special character survives, in order ("&" said as "and")
    assert plan.text.split() == text.replace("&", " and ").split()
