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
    ("1 1/2", "fraction", None, "one and a half"),
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


# --------------------------------------------------------------------------
# The say-as forms the vendors document, each with its own example
# --------------------------------------------------------------------------

_GOOGLE = "https://cloud.google.com/text-to-speech/docs/ssml"
_POLLY = "https://docs.aws.amazon.com/polly/latest/dg/say-as-tag.html"
_ALEXA = (
    "https://developer.amazon.com/en-US/docs/alexa/custom-skills/"
    "speech-synthesis-markup-language-ssml-reference.html"
)
_AZURE = "https://learn.microsoft.com/azure/ai-services/speech-service/speech-synthesis-markup-pronunciation"
_MS_SPEECH = (
    "https://learn.microsoft.com/previous-versions/office/developer/speech-technologies/ff929005(v=msdn.10)"
)

VENDOR_EXAMPLES = [
    # (source, text, interpret_as, format, detail, expected)
    # Google Cloud TTS, https://cloud.google.com/text-to-speech/docs/ssml (<say-as>, "Durations").
    # Where Google's spoken text differs only in wording, it is in the comment.
    (_GOOGLE, "$42.01", "currency", None, None, "forty-two dollars and one cent"),
    # Google: "one eight zero zero two zero two one two one two" (we pause at the dashes)
    (_GOOGLE, "1800-202-1212", "telephone", None, None, "one eight zero zero, two zero two, one two one two"),
    (_GOOGLE, "abcdefg", "verbatim", None, None, "A B C D E F G"),
    (_GOOGLE, "1960-09-10", "date", "yyyymmdd", "1", "the tenth of September, nineteen sixty"),
    # Google: "The tenth of September" (detail 1 is its default for a partial date; ours is month first)
    (_GOOGLE, "10-9", "date", "dm", None, "September tenth"),
    (_GOOGLE, "10-9", "date", "dm", "1", "the tenth of September"),
    (_GOOGLE, "10-9-1960", "date", "dmy", "2", "September tenth, nineteen sixty"),
    (_GOOGLE, "19600910", "date", "yyyymmdd", None, "September tenth, nineteen sixty"),
    (_GOOGLE, "0922", "date", "mmdd", None, "September twenty-second"),
    (_GOOGLE, "2209", "date", "ddmm", None, "September twenty-second"),
    (_GOOGLE, "202009", "date", "yyyymm", None, "September twenty twenty"),
    (_GOOGLE, "09222020", "date", "mmddyyyy", None, "September twenty-second, twenty twenty"),
    (_GOOGLE, "22.09.20", "date", "dd.mm.yy", None, "September twenty-second, twenty"),
    (_GOOGLE, "can", "characters", None, None, "C A N"),
    (_GOOGLE, "12345", "cardinal", None, None, "twelve thousand three hundred forty-five"),
    (_GOOGLE, "1", "ordinal", None, None, "first"),
    # Google: "five and a half"
    (_GOOGLE, "5+1/2", "fraction", None, None, "five and a half"),
    (_GOOGLE, "censor this", "expletive", None, None, ""),
    (_GOOGLE, "censor this", "bleep", None, None, ""),
    (_GOOGLE, "10 foot", "unit", None, None, "ten feet"),
    (_GOOGLE, "1 foot", "unit", None, None, "one foot"),
    (_GOOGLE, "2:30pm", "time", "hms12", None, "two thirty PM"),
    (_GOOGLE, "14:30", "time", "hh:mm", None, "fourteen thirty"),
    (_GOOGLE, "14:30", "time", "hms24", "2", "two thirty PM"),
    (_GOOGLE, "2:30pm", "time", "hms12", "1", "fourteen thirty"),
    (_GOOGLE, "14:30Z", "time", "hmZ24", None, "fourteen thirty U T C"),
    (_GOOGLE, "5:30", "duration", "h:m", None, "five hours and thirty minutes"),
    (_GOOGLE, "1:01", "duration", "h:m", None, "one hour and one minute"),
    (_GOOGLE, "2:05", "duration", "m:s", None, "two minutes and five seconds"),
    (_GOOGLE, "1:00:00", "duration", "hh:mm:ss", None, "one hour"),
    (
        _GOOGLE,
        "1:30:250",
        "duration",
        "m:s:ms",
        None,
        "one minute thirty seconds and two hundred fifty milliseconds",
    ),
    # Amazon Polly, https://docs.aws.amazon.com/polly/latest/dg/say-as-tag.html
    (_POLLY, "abc", "character", None, None, "A B C"),
    (_POLLY, "abc", "spell-out", None, None, "A B C"),
    (_POLLY, "1,234", "cardinal", None, None, "one thousand two hundred thirty-four"),
    (_POLLY, "1,234", "number", None, None, "one thousand two hundred thirty-four"),
    (_POLLY, "1,234th", "ordinal", None, None, "one thousand two hundred thirty-fourth"),
    (_POLLY, "1-2-3-4", "digits", None, None, "one two three four"),
    (_POLLY, "2/9", "fraction", None, None, "two ninths"),
    (_POLLY, "3/20", "fraction", None, None, "three twentieths"),
    (_POLLY, "3+1/2", "fraction", None, None, "three and a half"),  # Polly: "three and a half"
    (_POLLY, "2½", "fraction", None, None, "two and a half"),
    (_POLLY, "1/2inch", "unit", None, None, "one half of an inch"),
    (_POLLY, "1meter", "unit", None, None, "one meter"),
    (_POLLY, "meter", "unit", None, None, "meters"),
    (_POLLY, "????0922", "date", None, None, "September twenty-second"),
    (_POLLY, "????0922", "date", "ymd", None, "September twenty-second"),
    (_POLLY, "2020????", "date", "yyyymmdd", None, "twenty twenty"),
    (_POLLY, "1'21\"", "time", None, None, "one minute and twenty-one seconds"),
    (_POLLY, "2025551212", "telephone", None, None, "two zero two five five five one two one two"),
    (
        _POLLY,
        "2025551212x345",
        "telephone",
        "1",
        None,
        "area code two zero two, five five five, one two one two, extension three four five",
    ),
    (_POLLY, "2122241555", "telephone", "1", None, "area code two one two, two two four, one five five five"),
    (_POLLY, "death", "expletive", None, None, ""),
    # Alexa, https://developer.amazon.com/en-US/docs/alexa/custom-skills/
    #        speech-synthesis-markup-language-ssml-reference.html
    (_ALEXA, "Wow.", "interjection", None, None, "Wow."),
    (_ALEXA, "bah humbug", "interjection", None, None, "bah humbug"),
    (_ALEXA, "hello", "spell-out", None, None, "H E L L O"),
    (_ALEXA, "12345", "digits", None, None, "one two three four five"),
    (_ALEXA, "1+1/2", "fraction", None, None, "one and a half"),
    (_ALEXA, "20180922", "date", "ymd", None, "September twenty-second, twenty eighteen"),
    (_ALEXA, "1'21\"", "duration", None, None, "one minute and twenty-one seconds"),
    # Azure, https://learn.microsoft.com/azure/ai-services/speech-service/
    #        speech-synthesis-markup-pronunciation (the say-as element)
    (_AZURE, "Test", "characters", "casesensitive", None, "capital T E S T"),
    (_AZURE, "ABCDEF", "alphanumeric", "spell", None, "A B C D E F"),
    (_AZURE, "AB-CD-EF", "alphanumeric", "spell", None, "A B, C D, E F"),
    (_AZURE, "10", "cardinal", None, None, "ten"),
    (_AZURE, "3rd", "ordinal", None, None, "third"),
    (_AZURE, "123456789", "number_digit", None, None, "one two three four five six seven eight nine"),
    (_AZURE, "3/8", "fraction", None, None, "three eighths"),
    # Azure: "two thousand sixteen" (we say years in pairs, as elsewhere)
    (_AZURE, "10-19-2016", "date", "mdy", None, "October nineteenth, twenty sixteen"),
    (_AZURE, "10-12-2016", "date", None, None, "October twelfth, twenty sixteen"),
    (_AZURE, "10-12-2016", "date", "dmy", None, "December tenth, twenty sixteen"),
    (_AZURE, "2016-19-10", "date", "ydm", None, "October nineteenth, twenty sixteen"),
    (_AZURE, "10/19/2010", "date", "mdy", None, "October nineteenth, twenty ten"),
    (_AZURE, "4:00am", "time", "hms12", None, "four AM"),
    (_AZURE, "12:35pm", "time", "hms12", None, "twelve thirty-five PM"),
    (_AZURE, "01:18:30", "duration", None, None, "one hour eighteen minutes and thirty seconds"),
    (_AZURE, "01:18:30", "duration", "hms", None, "one hour eighteen minutes and thirty seconds"),
    (_AZURE, "01:18", "duration", "ms", None, "one minute and eighteen seconds"),
    (
        _AZURE,
        "(888) 555-1212",
        "telephone",
        "1",
        None,
        "area code eight eight eight, five five five, one two one two",
    ),
    (
        _AZURE,
        "99.9 USD",
        "currency",
        None,
        None,
        "ninety-nine dollars and ninety cents",
    ),  # Azure: "US dollars"
    (_AZURE, "10 m", "unit", None, None, "ten meters"),
    # Azure: "150th Court Northeast Redmond Washington" (we keep the commas as pauses)
    (_AZURE, "150th CT NE, Redmond, WA", "address", None, None, "150th Court Northeast, Redmond, Washington"),
    (_AZURE, "ED", "name", None, None, "ED"),
    (_AZURE, "仇先生", "name", None, None, "仇先生"),
    # Microsoft Speech Server, "TTS engine expands common suffixes (St, Rd, Dr)":
    # https://learn.microsoft.com/previous-versions/office/developer/speech-technologies/ff929005(v=msdn.10)
    (_MS_SPEECH, "1310 Villa St", "address", None, None, "1310 Villa Street"),
    (_MS_SPEECH, "20 Greenwood Rd", "address", None, None, "20 Greenwood Road"),
    (_MS_SPEECH, "19 Cheryl Dr", "address", None, None, "19 Cheryl Drive"),
    (_MS_SPEECH, "220 Cypress Ct", "address", None, None, "220 Cypress Court"),
]


@pytest.mark.parametrize(("source", "text", "interpret_as", "fmt", "detail", "expected"), VENDOR_EXAMPLES)
def test_vendor_examples(
    source: str, text: str, interpret_as: str, fmt: str | None, detail: str | None, expected: str
) -> None:
    assert sayas.expand(text, interpret_as, fmt, detail) == expected


OUR_READINGS = [
    # (text, interpret_as, format, detail, expected): choices of ours around the vendors' forms
    ("1 feet", "unit", None, None, "one foot"),
    ("5 kg", "unit", None, None, "five kilograms"),
    ("3 km", "unit", None, None, "three kilometers"),
    ("10 KM", "unit", None, None, "ten kilometers"),
    ("1.0 meter", "unit", None, None, "one point zero meters"),
    ("3/4 mile", "unit", None, None, "three quarters of a mile"),
    ("1 1/2 cups", "unit", None, None, "one and a half cups"),
    ("100 km/h", "unit", None, None, "one hundred kilometers per hour"),
    ("9.8 m/s²", "unit", None, None, "nine point eight meters per square second"),
    ("-40 °C", "unit", None, None, "minus forty degrees Celsius"),
    ("2 sq ft", "unit", None, None, "two square feet"),
    ("50%", "unit", None, None, "fifty percent"),
    ("1 mph", "unit", None, None, "one mile per hour"),
    ("2020??22", "date", None, None, "the twenty-second, twenty twenty"),
    ("????09??", "date", None, None, "September"),
    ("2:30pm EST", "time", None, None, "two thirty PM E S T"),
    ("09:05", "time", None, "2", "nine oh five AM"),
    ("7:30", "time", "hms12", "2", "seven thirty"),  # a 12-hour time without AM/PM stays so
    ("1:00", "duration", "h:m", None, "one hour"),
    ("0:00", "duration", "h:m", None, "zero minutes"),
    (
        "1-888-555-1212",
        "telephone",
        "1",
        None,
        "one, area code eight eight eight, five five five, one two one two",
    ),
    (
        "+44 20 7946 0958",
        "telephone",
        "+44",
        None,
        "plus four four, two zero, seven nine four six, zero nine five eight",
    ),
    ("St. Louis, MO 63101", "address", None, None, "Saint Louis, Missouri six three one zero one"),
    (
        "100 Dr Martin Luther King Jr Blvd, Apt #5",
        "address",
        None,
        None,
        "100 Doctor Martin Luther King Junior Boulevard, Apartment number 5",
    ),
    (
        "1 Main St N, Portland, OR 97201",
        "address",
        None,
        None,
        "1 Main Street North, Portland, Oregon nine seven two zero one",
    ),
    ("12 CAD", "currency", None, None, "twelve Canadian dollars"),
    ("CHF 3.50", "currency", None, None, "three Swiss francs and fifty centimes"),
]


@pytest.mark.parametrize(("text", "interpret_as", "fmt", "detail", "expected"), OUR_READINGS)
def test_our_readings(
    text: str, interpret_as: str, fmt: str | None, detail: str | None, expected: str
) -> None:
    assert sayas.expand(text, interpret_as, fmt, detail) == expected


GARBAGE = [
    # (text, interpret_as, format, detail, fragment of the message): unreadable text says so
    ("????????", "date", None, None, "cannot read '????????' as a date"),
    ("??", "date", "d", None, "as a date (format d)"),
    ("2024?922", "date", None, None, "as a date"),
    ("202409222", "date", "yyyymmdd", None, "as a date (format yyyymmdd)"),
    ("12-31-1900", "date", "dmy", None, "as a date (format dmy)"),  # Polly's own example: 31 is no month
    ("1960-09-10", "date", "yyyyqq", None, "unsupported format 'yyyyqq'"),
    ("1960-09-10", "date", "ymdy", None, "unsupported format 'ymdy'"),
    ("5+", "fraction", None, None, "as a fraction"),
    ("+1/2", "fraction", None, None, "as a fraction"),
    ("1/2/3", "fraction", None, None, "as a fraction"),
    ("5+1/0", "fraction", None, None, "as a fraction"),
    ("½½", "fraction", None, None, "as a fraction"),
    ("10 zorks", "unit", None, None, "as a measurement (unknown unit)"),
    ("10", "unit", None, None, "as a measurement (no unit)"),
    ("foot ten", "unit", None, None, "as a measurement"),
    ("1.2.3 m", "unit", None, None, "as a measurement"),
    ("1,00 m", "unit", None, None, "as a measurement"),
    ("1" + "0" * 21 + " m", "unit", None, None, "too large"),
    ("5", "duration", None, None, "as a duration"),
    ("5:75", "duration", "h:m", None, "minutes out of range"),
    ("a:b", "duration", None, None, "as a duration"),
    ("1:2:3:4:5", "duration", None, None, "as a duration"),
    ("1'75\"", "duration", None, None, "as a duration"),
    ("5:30", "duration", "x:y", None, "unsupported format 'x:y'"),
    ("5:30", "duration", "m:h", None, "unsupported format 'm:h'"),
    ("'", "time", None, None, "as a duration"),
    ("25:00", "time", None, "2", "as a time"),
    ("14:30", "time", "hq", None, "unsupported format 'hq'"),
    ("call me", "telephone", "1", None, "as a telephone number"),
    ("555-0100", "telephone", "abc", None, "unsupported format 'abc'"),
    ("555-0100", "telephone", "12345", None, "unsupported format '12345'"),
    ("- -", "alphanumeric", None, None, "as letters and digits"),
    ("---", "number_digit", None, None, "as digits"),
    ("!!!", "address", None, None, "as an address"),
    ("123", "name", None, None, "as a name (no letters)"),
    ("?!", "interjection", None, None, "as an interjection (no letters)"),
    ("12 XYZ", "currency", None, None, "as an amount of money"),
]


@pytest.mark.parametrize(("text", "interpret_as", "fmt", "detail", "fragment"), GARBAGE)
def test_garbage_is_unreadable(
    text: str, interpret_as: str, fmt: str | None, detail: str | None, fragment: str
) -> None:
    with pytest.raises(ValueError) as info:
        sayas.expand(text, interpret_as, fmt, detail)
    assert fragment in str(info.value)
    assert f'say-as interpret-as="{interpret_as}"' in str(info.value)


def test_every_form_has_a_vendor_example() -> None:
    assert isinstance(sayas.SAYAS_FORMS, frozenset)
    assert sayas.SAYAS_FORMS == sayas.SUPPORTED
    assert {row[2] for row in VENDOR_EXAMPLES} == sayas.SAYAS_FORMS
    new = {"unit", "duration", "address", "name", "interjection", "expletive", "bleep", "alphanumeric"}
    assert new | {"number_digit", "character", "fraction", "currency"} <= sayas.SAYAS_FORMS


@pytest.mark.parametrize("interpret_as", ["expletive", "bleep", " Expletive ", "BLEEP"])
def test_bleeped_forms_are_never_spoken(interpret_as: str) -> None:
    assert sayas.is_bleeped(interpret_as)
    assert sayas.expand("what the heck", interpret_as) == ""


@pytest.mark.parametrize("interpret_as", ["characters", "interjection", "unit", "expletives", ""])
def test_other_forms_are_not_bleeped(interpret_as: str) -> None:
    assert not sayas.is_bleeped(interpret_as)


_FORMATS = [None, "ymd", "yyyymmdd", "h:m", "ms", "hms12", "hh:mm", "1", "casesensitive", "zz"]
_WRITTEN = st.text(
    alphabet=st.sampled_from("0123456789:/-+.,?' \"½²°%#$€kmgftAPMZ\u2212\u2032é仇"), max_size=16
)


@settings(max_examples=400, database=None)
@given(
    st.sampled_from(sorted(sayas.SAYAS_FORMS)),
    _WRITTEN | st.text(max_size=12),
    st.sampled_from(_FORMATS),
    st.sampled_from([None, "1", "2", "x"]),
)
def test_never_fails_any_other_way(interpret_as: str, text: str, fmt: str | None, detail: str | None) -> None:
    """Any text in any form: words, or a ValueError that says why (never an IndexError, ...)."""
    try:
        words = sayas.expand(text, interpret_as, fmt, detail)
    except ValueError as exc:
        assert "cannot read" in str(exc) or "unsupported format" in str(exc)
    else:
        assert isinstance(words, str)
        assert words == words.strip()
