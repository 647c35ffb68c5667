"""Tests for the SSML <say-as> English normaliser (emotts_plugin.ssml.sayas)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from emotts_plugin.ssml import sayas

GOLDEN = [
    # (text, interpret_as, format, expected)
    ("0", "cardinal", None, "zero"),
    ("7", "cardinal", None, "seven"),
    ("1234", "cardinal", None, "one thousand two hundred thirty-four"),
    ("1,234", "cardinal", None, "one thousand two hundred thirty-four"),
    ("-42", "cardinal", None, "minus forty-two"),
    ("+5", "cardinal", None, "plus five"),
    ("3.14", "cardinal", None, "three point one four"),
    ("-0.05", "number", None, "minus zero point zero five"),
    ("1,000,000", "NUMBER", None, "one million"),
    ("1000000000000000", "cardinal", None, "one quadrillion"),
    ("1000000000000001", "cardinal", None, "one quadrillion one"),
    ("  90  ", "cardinal", None, "ninety"),
    ("3", "ordinal", None, "third"),
    ("3rd", "ordinal", None, "third"),
    ("21st", "ordinal", None, "twenty-first"),
    ("12TH", "ordinal", None, "twelfth"),
    ("100", "ordinal", None, "one hundredth"),
    ("1,000,000th", "ordinal", None, "one millionth"),
    ("ABC", "characters", None, "A B C"),
    ("A1", "characters", None, "A one"),
    ("abc", "characters", None, "A B C"),
    ("a-b@c.d#e&f/g_h+i", "spell-out", None, "A dash B at C dot D hash E and F slash G underscore H plus I"),
    ("R2 D2", "verbatim", None, "R two D two"),
    ("[", "characters", None, "left square bracket"),
    ("1234", "digits", None, "one two three four"),
    ("12-34 5", "digits", None, "one two three four five"),
    ("A1b", "digits", None, "A one B"),
    ("+1-555-010-4477", "telephone", None, "plus one, five five five, zero one zero, four four seven seven"),
    ("(555) 010-4477", "telephone", None, "five five five, zero one zero, four four seven seven"),
    ("555-0100 x123", "telephone", None, "five five five, zero one zero zero, extension one two three"),
    ("555.0100 ext. 12", "telephone", None, "five five five, zero one zero zero, extension one two"),
    ("5550100", "telephone", None, "five five five zero one zero zero"),
    ("1-800-FLOWERS", "telephone", None, "one, eight zero zero, F L O W E R S"),
    ("03/05/2024", "date", None, "March fifth, twenty twenty-four"),
    ("03/05/2024", "date", "mdy", "March fifth, twenty twenty-four"),
    ("05.03.2024", "date", "dmy", "March fifth, twenty twenty-four"),
    ("2024-03-05", "date", None, "March fifth, twenty twenty-four"),
    ("2024/03/05", "date", "YMD", "March fifth, twenty twenty-four"),
    ("March 5, 2024", "date", None, "March fifth, twenty twenty-four"),
    ("5 Mar 1999", "date", None, "March fifth, nineteen ninety-nine"),
    ("12/31/1999", "date", None, "December thirty-first, nineteen ninety-nine"),
    ("02/29/2024", "date", None, "February twenty-ninth, twenty twenty-four"),
    ("1/1/2000", "date", None, "January first, two thousand"),
    ("7/4/2005", "date", None, "July fourth, two thousand five"),
    ("11/11/1905", "date", None, "November eleventh, nineteen oh five"),
    ("1/2/1900", "date", None, "January second, nineteen hundred"),
    ("6/1/2010", "date", None, "June first, twenty ten"),
    ("12/25", "date", "md", "December twenty-fifth"),
    ("25/12", "date", "dm", "December twenty-fifth"),
    ("2024-03", "date", "ym", "March twenty twenty-four"),
    ("03/2024", "date", "my", "March twenty twenty-four"),
    ("1999", "date", "y", "nineteen ninety-nine"),
    ("2024", "date", None, "twenty twenty-four"),
    ("3", "date", "m", "March"),
    ("5", "date", "d", "the fifth"),
    ("7:30pm", "time", None, "seven thirty PM"),
    ("7:30 PM", "time", None, "seven thirty PM"),
    ("7:30 p.m.", "time", None, "seven thirty PM"),
    ("19:30", "time", None, "nineteen thirty"),
    ("19:30", "time", "hms24", "nineteen thirty"),
    ("19:00", "time", None, "nineteen hundred"),
    ("7:05", "time", None, "seven oh five"),
    ("12:00", "time", None, "twelve o'clock"),
    ("7pm", "time", None, "seven PM"),
    ("7:00 am", "time", None, "seven AM"),
    ("7:30", "time", "hms12", "seven thirty"),
    ("00:15", "time", None, "zero fifteen"),
    ("7:30:15", "time", None, "seven thirty and fifteen seconds"),
    ("$12.50", "currency", None, "twelve dollars and fifty cents"),
    ("$1", "currency", None, "one dollar"),
    ("$1.01", "currency", None, "one dollar and one cent"),
    ("$0.99", "currency", None, "ninety-nine cents"),
    ("$1,250", "currency", None, "one thousand two hundred fifty dollars"),
    ("-$3.5", "currency", None, "minus three dollars and fifty cents"),
    ("€20", "currency", None, "twenty euros"),
    ("£1.01", "currency", None, "one pound and one penny"),
    ("12 EUR", "currency", None, "twelve euros"),
    ("USD 5", "currency", None, "five dollars"),
    ("¥500", "currency", None, "five hundred yen"),
    ("$1.234", "currency", None, "one point two three four dollars"),
    ("1/2", "fraction", None, "one half"),
    ("3/4", "fraction", None, "three quarters"),
    ("1/4", "fraction", None, "one quarter"),
    ("2/3", "fraction", None, "two thirds"),
    ("5/8", "fraction", None, "five eighths"),
    ("1/21", "fraction", None, "one twenty-first"),
    ("1 1/2", "fraction", None, "one and one half"),
    ("-3/2", "fraction", None, "minus three halves"),
    ("", "cardinal", None, ""),
]


@pytest.mark.parametrize(("text", "interpret_as", "fmt", "expected"), GOLDEN)
def test_golden(text: str, interpret_as: str, fmt: str | None, expected: str) -> None:
    assert sayas.expand(text, interpret_as, fmt) == expected


ERRORS = [
    # (text, interpret_as, format, fragment of the message)
    ("abc", "ordinal", None, "cannot read 'abc' as an ordinal"),
    ("3.5", "ordinal", None, "ordinal"),
    ("12abc", "cardinal", None, "cannot read '12abc' as a number"),
    ("1,23", "cardinal", None, "'1,23'"),
    ("1.2.3", "number", None, 'interpret-as="number"'),
    ("-", "cardinal", None, "number"),
    ("1" + "0" * 21, "cardinal", None, "too large"),
    ("---", "digits", None, "as digits"),
    ("call me", "telephone", None, "telephone number"),
    (
        "99/99/2024",
        "date",
        None,
        "say-as interpret-as=\"date\": cannot read '99/99/2024' as a date (format mdy)",
    ),
    ("02/29/2023", "date", None, "as a date"),
    ("31/04/2024", "date", "dmy", "(format dmy)"),
    ("2024-03-05", "date", "md", "(format md)"),
    ("Smarch 5, 2024", "date", None, "as a date"),
    ("03/05/2024", "date", "qq", "unsupported format 'qq'"),
    ("25:99", "time", None, "cannot read '25:99' as a time"),
    ("7:60", "time", None, "as a time"),
    ("13:00pm", "time", None, "12-hour clock"),
    ("13:00", "time", "hms12", "12-hour clock"),
    ("7", "time", None, "as a time"),
    ("noon", "time", None, "as a time"),
    ("7:30", "time", "xyz", "unsupported format 'xyz'"),
    ("12.50", "currency", None, "amount of money"),
    ("$1.2.3", "currency", None, "amount of money"),
    ("1/0", "fraction", None, "as a fraction"),
    ("half", "fraction", None, "as a fraction"),
]


@pytest.mark.parametrize(("text", "interpret_as", "fmt", "fragment"), ERRORS)
def test_unreadable_text(text: str, interpret_as: str, fmt: str | None, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        sayas.expand(text, interpret_as, fmt)
    assert fragment in str(info.value)


@pytest.mark.parametrize("interpret_as", ["bogus", "", "unit-ish"])
def test_unsupported_interpret_as(interpret_as: str) -> None:
    with pytest.raises(ValueError) as info:
        sayas.expand("1", interpret_as)
    message = str(info.value)
    assert repr(interpret_as) in message
    assert ", ".join(sorted(sayas.SUPPORTED)) in message


def test_supported_lists_every_required_type() -> None:
    required = {
        "cardinal",
        "number",
        "ordinal",
        "characters",
        "spell-out",
        "verbatim",
        "digits",
        "telephone",
        "date",
        "time",
    }
    assert isinstance(sayas.SUPPORTED, frozenset)
    assert required <= sayas.SUPPORTED


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, "zeroth"),
        (1, "first"),
        (2, "second"),
        (5, "fifth"),
        (8, "eighth"),
        (9, "ninth"),
        (11, "eleventh"),
        (12, "twelfth"),
        (20, "twentieth"),
        (21, "twenty-first"),
        (42, "forty-second"),
        (100, "one hundredth"),
        (103, "one hundred third"),
        (1000, "one thousandth"),
        (1_000_000, "one millionth"),
        (-1, "minus first"),
    ],
)
def test_ordinal_words(n: int, expected: str) -> None:
    assert sayas.ordinal_words(n) == expected


def test_cardinal_words_negative_and_limits() -> None:
    assert sayas.cardinal_words(-1234) == "minus one thousand two hundred thirty-four"
    assert sayas.cardinal_words(10**15) == "one quadrillion"
    with pytest.raises(ValueError):
        sayas.cardinal_words(10**21)
    with pytest.raises(TypeError):
        sayas.cardinal_words(1.5)  # type: ignore[arg-type]


_SMALL = {
    word: value
    for value, word in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen".split()
    )
}
_SMALL.update(
    {
        word: 10 * tens
        for tens, word in enumerate("twenty thirty forty fifty sixty seventy eighty ninety".split(), start=2)
    }
)
_SCALE = {"thousand": 10**3, "million": 10**6, "billion": 10**9}


def _parse_words(words: str) -> int:
    """Read back English cardinal words; strict about hyphens and scale order."""
    total, group, last_scale = 0, 0, None
    for token in words.split(" "):
        if "-" in token:
            tens, ones = token.split("-")
            assert _SMALL[tens] % 10 == 0 and _SMALL[tens] >= 20 and 1 <= _SMALL[ones] <= 9
            group += _SMALL[tens] + _SMALL[ones]
        elif token == "hundred":
            assert 1 <= group <= 9
            group *= 100
        elif token in _SCALE:
            assert 1 <= group <= 999
            assert last_scale is None or _SCALE[token] < last_scale
            total, group, last_scale = total + group * _SCALE[token], 0, _SCALE[token]
        else:
            group += _SMALL[token]
    return total + group


@settings(max_examples=500, database=None)
@given(st.integers(min_value=0, max_value=10**12 - 1))
def test_cardinal_words_round_trip(n: int) -> None:
    words = sayas.cardinal_words(n)
    assert set(words) <= set("abcdefghijklmnopqrstuvwxyz -")
    assert "  " not in words and words == words.strip()
    assert _parse_words(words) == n
