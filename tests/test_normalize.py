"""Tests for the English plain-text normaliser (emotts_plugin.ssml.normalize).

Inputs marked "NeMo" are taken from the English text-normalisation test cases of
NVIDIA/NeMo-text-processing (Apache-2.0), ``tests/nemo_text_processing/en/
data_text_normalization/test_cases_<kind>.txt``; the expected outputs are ours (say-as's
conventions: "and" before cents, month first, no "and" inside cardinals, "p m" after a time).
"""

from __future__ import annotations

import random

import pytest

from emotts_plugin.ssml import sayas
from emotts_plugin.ssml.normalize import speak_english
from emotts_plugin.ssml.sentences import ends_sentence, split_sentences

CASES = [
    # (text, expected)
    # -- abbreviations ------------------------------------------------------
    ("Dr. Smith will see you now.", "Doctor Smith will see you now."),
    ("Meet Mr. Jones, Mrs. Lee and Ms. Park.", "Meet Mister Jones, Missus Lee and Miz Park."),
    ("Prof. Xu teaches here.", "Professor Xu teaches here."),
    ("Dr Watson and Mr Holmes", "Doctor Watson and Mister Holmes"),
    ("We flew to St. Louis.", "We flew to Saint Louis."),
    ("The shop is at 5 Main St.", "The shop is at five Main Street."),
    ("Main St. is closed today.", "Main Street is closed today."),
    (  # NeMo measure
        "Nancy lived on 1428 Elm St. It was a strange place.",
        "Nancy lived on one thousand four hundred twenty-eight Elm Street. It was a strange place.",
    ),
    ("They climbed Mt. Everest.", "They climbed Mount Everest."),
    ("Martin Luther King Jr. spoke.", "Martin Luther King Junior spoke."),
    ("John Smith Sr. retired.", "John Smith Senior retired."),
    ("It was cats vs. dogs.", "It was cats versus dogs."),
    ("Use a fruit, e.g. an apple.", "Use a fruit, for example an apple."),
    ("Use a fruit, i.e. an apple.", "Use a fruit, that is an apple."),
    ("Bring pens, paper, etc. to class.", "Bring pens, paper, et cetera to class."),
    ("Bring pens, paper, etc.", "Bring pens, paper, et cetera."),
    ("Bring pens, paper, etc. Then sit down.", "Bring pens, paper, et cetera. Then sit down."),
    ("It takes approx. 10 min.", "It takes approximately ten minutes."),
    ("It takes 10 min. by car.", "It takes ten minutes by car."),
    ("Room No. 5 is free.", "Room number five is free."),
    ("Take exit no. 12 now.", "Take exit number twelve now."),
    ("The answer is No.", "The answer is No."),
    ("Acme Inc. hired Globex Corp. staff.", "Acme Incorporated hired Globex Corporation staff."),
    ("Widgets Ltd. and Smith & Co. merged.", "Widgets Limited and Smith and Company merged."),
    ("See fig. 3 and vol. 2 for details.", "See figure three and volume two for details."),
    ("The U.S. and the U.K. signed.", "The U S and the U K signed."),
    ("I moved to the U.S.", "I moved to the U S."),
    # "U S." would read as an initial and not end the sentence: kept as written there
    ("They met at the U.N. Then they left.", "They met at the U.N. Then they left."),
    # -- cardinals, decimals, ordinals, percentages --------------------------
    (
        "There are 1,234,567 people.",
        "There are one million two hundred thirty-four thousand five hundred sixty-seven people.",
    ),
    ("The answer is 42.", "The answer is forty-two."),
    ("It fell to -5 and then to −12.", "It fell to minus five and then to minus twelve."),
    (
        "Pi is about 3.14 and a quarter is 0.25.",
        "Pi is about three point one four and a quarter is zero point two five.",
    ),
    ("She came 1st, he came 2nd and I came 23rd.", "She came first, he came second and I came twenty-third."),
    ("It is our 101st year.", "It is our one hundred first year."),
    (
        "Prices rose 25% or 3.5% at most.",
        "Prices rose twenty-five percent or three point five percent at most.",
    ),
    ("The code is 007.", "The code is zero zero seven."),
    ("-2", "minus two"),  # NeMo cardinal
    ("13,000", "thirteen thousand"),  # NeMo cardinal
    ("004", "zero zero four"),  # NeMo cardinal
    ("123,000,012", "one hundred twenty-three million twelve"),  # NeMo cardinal
    # -- money --------------------------------------------------------------
    ("It costs $4.50 today.", "It costs four dollars and fifty cents today."),
    ("Tickets are €20 each.", "Tickets are twenty euros each."),
    ("They raised £3m last year.", "They raised three million pounds last year."),
    ("The deal is worth $1.2 billion.", "The deal is worth one point two billion dollars."),
    ("He earns $5k a month.", "He earns five thousand dollars a month."),
    ("It costs 50¢ now.", "It costs fifty cents now."),
    ("Pay USD 20 or 20 EUR.", "Pay twenty dollars or twenty euros."),
    ("It is $1 or $0.99 or ¥500.", "It is one dollar or ninety-nine cents or five hundred yen."),
    ("$2", "two dollars"),  # NeMo money
    ("$20.50", "twenty dollars and fifty cents"),  # NeMo money
    ("£1.20", "one pound and twenty pence"),  # NeMo money
    ("$45 billion", "forty-five billion dollars"),  # NeMo money
    ("$0.02", "two cents"),  # NeMo money
    ("$18,925,000", "eighteen million nine hundred twenty-five thousand dollars"),  # NeMo money
    (  # NeMo money
        "The price for each canned salmon is $5, each bottle of peanut butter is $3",
        "The price for each canned salmon is five dollars, each bottle of peanut butter is three dollars",
    ),
    # -- times ----------------------------------------------------------------
    ("Meet me at 3 p.m. today.", "Meet me at three PM today."),
    ("Meet me at 3 p.m. Then leave.", "Meet me at three PM. Then leave."),
    ("Meet me at 3pm or 3:30 PM.", "Meet me at three PM or three thirty PM."),
    ("The train leaves at 14:30.", "The train leaves at fourteen thirty."),
    ("The alarm rings at 09:05.", "The alarm rings at nine oh five."),
    ("We are open 9am-5pm.", "We are open nine AM to five PM."),
    (
        "Call at 9 a.m. Monday or 5 p.m. The desk closes.",
        "Call at nine AM Monday or five PM. The desk closes.",
    ),
    ("1:59 p.m.", "one fifty-nine PM."),  # NeMo time
    ("01:00", "one o'clock"),  # NeMo time
    ("4:00 am - 8:12 pm", "four AM to eight twelve PM"),  # NeMo range
    # -- dates and years ----------------------------------------------------
    ("The launch is 2026-11-29.", "The launch is November twenty-ninth, twenty twenty-six."),
    ("The form says 11/29/2026.", "The form says November twenty-ninth, twenty twenty-six."),
    ("In Europe that is 29/11/2026.", "In Europe that is November twenty-ninth, twenty twenty-six."),
    ("It is due Nov 29.", "It is due November twenty-ninth."),
    ("It is due November 29th.", "It is due November twenty-ninth."),
    ("It is due 29 Nov 2026.", "It is due November twenty-ninth, twenty twenty-six."),
    ("It is due on Nov. 29, 2026.", "It is due on November twenty-ninth, twenty twenty-six."),
    ("It was on 29 Nov. Then it rained.", "It was on November twenty-ninth. Then it rained."),
    ("It happened on the 5th of May.", "It happened on the fifth of May."),
    ("She was born in March 1990.", "She was born in March nineteen ninety."),
    ("She was born in 1999.", "She was born in nineteen ninety-nine."),
    ("Since 2026 it is free.", "Since twenty twenty-six it is free."),
    ("We sold 2026 units.", "We sold two thousand twenty-six units."),
    ("It was big in the 1990s and the 2000s.", "It was big in the nineteen nineties and the two thousands."),
    ("Music from the '90s is back.", "Music from the nineties is back."),
    ("The war lasted 1939–1945.", "The war lasted nineteen thirty-nine to nineteen forty-five."),
    ("2006-08-05", "August fifth, two thousand six"),  # NeMo date
    ("2016/07/03", "July third, twenty sixteen"),  # NeMo date
    ("10/06/2005", "October sixth, two thousand five"),  # NeMo date
    ("1910s", "nineteen tens"),  # NeMo date
    ("Jan. 15 2020", "January fifteenth, twenty twenty"),  # NeMo date
    ("June 30", "June thirtieth"),  # NeMo date
    # -- telephone numbers --------------------------------------------------
    ("Call (555) 123-4567 now.", "Call five five five, one two three, four five six seven now."),
    ("Call 555-123-4567 now.", "Call five five five, one two three, four five six seven now."),
    ("Call +1 555 123 4567 now.", "Call plus one, five five five, one two three, four five six seven now."),
    # -- units ----------------------------------------------------------------
    ("It is 5 km away.", "It is five kilometers away."),
    ("The wall is 10 ft tall.", "The wall is ten feet tall."),
    ("It weighs 3 kg.", "It weighs three kilograms."),
    (
        "It is 72°F or 20°C outside.",
        "It is seventy-two degrees Fahrenheit or twenty degrees Celsius outside.",
    ),
    ("He is 5'10\" tall.", "He is five feet ten inches tall."),
    ("The limit is 100 mph.", "The limit is one hundred miles per hour."),
    (
        "It needs 2 GB of memory and 1 GB of disk.",
        "It needs two gigabytes of memory and one gigabyte of disk.",
    ),
    ("Take 500 mg daily.", "Take five hundred milligrams daily."),
    ("The bag weighs 3 lbs.", "The bag weighs three pounds."),
    ("Add 1.5 L of water.", "Add one point five liters of water."),
    ("Wait 30 min or 2 hrs or 10 sec.", "Wait thirty minutes or two hours or ten seconds."),
    ("The grid runs at 60 Hz.", "The grid runs at sixty hertz."),
    ("The file is 5 MB.", "The file is five megabytes."),
    ("1°C", "one degree Celsius"),  # NeMo measure
    ("12kg", "twelve kilograms"),  # NeMo measure
    ("5 mins", "five minutes"),  # NeMo measure
    # -- ranges -----------------------------------------------------------------
    ("We work 9–5 and 9-5.", "We work nine to five and nine to five."),
    ("Expect 10–20% growth.", "Expect ten to twenty percent growth."),
    ("It ran 2020–2024.", "It ran twenty twenty to twenty twenty-four."),
    ("Walk 5-10 km a day.", "Walk five to ten kilometers a day."),
    ("2-3 mins", "two to three minutes"),  # NeMo measure
    ("2-5lb", "two to five pounds"),  # NeMo range
    ("1960-80", "nineteen sixty to eighty"),  # NeMo range
    ("$250-$300", "two hundred fifty dollars to three hundred dollars"),  # NeMo range
    (  # NeMo range
        "$150.25-$250.67",
        "one hundred fifty dollars and twenty-five cents to two hundred fifty dollars and sixty-seven cents",
    ),
    ("mid-1980s", "mid-nineteen eighties"),  # NeMo range
    # -- fractions and symbols ------------------------------------------------
    ("Add 1/2 cup and 3/4 cup.", "Add one half cup and three quarters cup."),
    ("Add 2 1/2 cups.", "Add two and a half cups."),
    ("We are open 24/7.", "We are open twenty-four seven."),
    ("We are #1 in sales.", "We are number one in sales."),
    ("Ask R&D or Q&A.", "Ask R and D or Q and A."),
    ("Tom & Jerry", "Tom and Jerry"),
    ("Clearly 2 + 2 = 4.", "Clearly two plus two equals four."),
    ("It is 3x faster and 2x cheaper.", "It is three times faster and two times cheaper."),
    ("It costs ~5 dollars.", "It costs about five dollars."),
    ("A 7B model with 10k users.", "A seven billion model with ten thousand users."),
    # -- web addresses ----------------------------------------------------------
    ("See https://www.example.com/docs/page?x=1 for more.", "See example dot com for more."),
    ("Star github.com/openai today.", "Star github dot com today."),
    ("Mail bob.smith@example.org now.", "Mail bob dot smith at example dot org now."),
    ("Visit my-site.co.uk soon.", "Visit my site dot co dot uk soon."),
    ("a.bc@gmail.com", "a dot bc at gmail dot com"),  # NeMo electronic
    ("here is mail.nasa.gov.", "here is mail dot nasa dot gov."),  # NeMo electronic
    (  # NeMo electronic
        "check us out at some_university.edu.",
        "check us out at some underscore university dot edu.",
    ),
    ("enterprise-services@nvidia.com", "enterprise dash services at nvidia dot com"),  # NeMo electronic
    # -- sentence edges: a period that ends nothing after a number becomes a comma --
    ("1. Install it. 2. Run it.", "one, Install it. two, Run it."),
    ("Take exit No. 5. Then turn left.", "Take exit number five. Then turn left."),
    ("Wait... 5 people came.", "Wait... Five people came."),
    (
        "He was born in 1985. 1985 was a good year.",
        "He was born in nineteen eighty-five. one thousand nine hundred eighty-five was a good year.",
    ),
    # -- left as written --------------------------------------------------------
    ("Open the file.txt first.", "Open the file.txt first."),
    ("Version 1.2.3 is out.", "Version 1.2.3 is out."),
    ("My IP is 192.168.0.1 here.", "My IP is 192.168.0.1 here."),
    ("See 9/11 and 10/10.", "See 9/11 and 10/10."),
    ("Use C++ or GPT-4o.", "Use C++ or GPT-4o."),
    ("It is 1" + "0" * 25 + " long.", "It is 1" + "0" * 25 + " long."),
    ("Nothing to change here, really!", "Nothing to change here, really!"),
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_speak_english(text: str, expected: str) -> None:
    assert speak_english(text) == expected


def test_the_table_covers_enough_cases() -> None:
    assert len(CASES) >= 80
    assert len({text for text, _ in CASES}) == len(CASES)


# Whole replies, the way a chat model writes them (several sentences at once).
REPLIES = [
    "Sure! Dr. Smith said the meeting is at 3:30 p.m. on Nov. 29, 2026. It costs $4.50 per person, "
    "e.g. about 25% less than last year. Call (555) 123-4567 or email bob.smith@example.org. "
    "See https://www.example.com/docs for details. The 2nd floor is 5 km away, approx. 10 min by car.",
    "Great question! The Eiffel Tower is about 330 meters tall and was completed in 1889. Around 7 "
    "million people visit it each year, and tickets cost from €10 to €29. Try arriving before 9 a.m. "
    "Mornings are quieter.",
    "Here's the plan: 1. Buy 2 lbs of flour. 2. Preheat to 350°F. 3. Bake for 25-30 min. Done!",
    'He said "Call me at 5." $20 is the fee. Pay by Dec. 1, etc. The U.S. office opens at 9am.',
    "See vol. 3, fig. 2... 10 people agreed. The rest (about 40%) didn't. St. Louis is 2,000 mi away.",
]


@pytest.mark.parametrize("text", [text for text, _ in CASES] + REPLIES)
def test_sentence_ends_survive(text: str) -> None:
    assert len(split_sentences(speak_english(text))) == len(split_sentences(text))


@pytest.mark.parametrize(
    ("text", "following", "expected"),
    [
        ("Ask Dr.", "Smith now.", "Ask Doctor"),
        ("Ask Dr.", "", "Ask Doctor."),
        ("Apples, pears, etc.", "and more", "Apples, pears, et cetera"),
        ("Apples, pears, etc.", "Then more.", "Apples, pears, et cetera."),
        ("We met at 5 p.m.", "Eastern time", "We met at five PM"),
        ("It is 5 km.", "Then stop.", "It is five kilometers."),
    ],
)
def test_following_decides_the_last_period(text: str, following: str, expected: str) -> None:
    spoken = speak_english(text, following=following)
    assert spoken == expected
    assert ends_sentence(spoken, following) == ends_sentence(text, following)


def _junk(rng: random.Random) -> str:
    alphabet = "0123456789" * 3 + " .,:;-–/+$€£¥¢%#~&=x×'\"()@°kmMBsthndrpaAPU" + "   "
    words = ["Dr.", "St.", "No.", "e.g.", "etc.", "U.S.", "p.m.", "am", "Nov", "May", "km", "in", "Jr."]
    return "".join(
        rng.choice(words) if rng.random() < 0.1 else rng.choice(alphabet) for _ in range(rng.randint(0, 40))
    )


def test_never_raises_and_keeps_sentences_on_junk() -> None:
    rng = random.Random(20261129)
    for _ in range(400):
        text = _junk(rng)
        spoken = speak_english(text)
        assert isinstance(spoken, str)
        assert len(split_sentences(spoken)) == len(split_sentences(text)), text


@pytest.mark.parametrize(
    ("text", "interpret_as", "fmt"),
    [
        ("$12.50", "currency", None),
        ("€20", "currency", None),
        ("2024-03-05", "date", "ymd"),
        ("7:30 PM", "time", None),
        ("19:30", "time", None),
        ("(555) 010-4477", "telephone", None),
        ("3/4", "fraction", None),
        ("1,234", "cardinal", None),
        ("21st", "ordinal", None),
    ],
)
def test_reads_like_say_as(text: str, interpret_as: str, fmt: str | None) -> None:
    assert speak_english(text) == sayas.expand(text, interpret_as, fmt)


def test_say_as_outputs_are_unchanged() -> None:
    assert sayas.expand("$12.50", "currency") == "twelve dollars and fifty cents"
    assert sayas.expand("-$3.5", "currency") == "minus three dollars and fifty cents"
    assert sayas.expand("12 EUR", "currency") == "twelve euros"
    assert sayas.expand("$1.234", "currency") == "one point two three four dollars"
    assert sayas.expand("11/11/1905", "date") == "November eleventh, nineteen oh five"
    assert sayas.expand("1/1/2000", "date") == "January first, two thousand"
    assert sayas.expand("7:30 p.m.", "time") == "seven thirty PM"
    with pytest.raises(ValueError, match="cannot read '12.50' as an amount of money"):
        sayas.expand("12.50", "currency")


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("1999", "nineteen ninety-nine"),
        ("2026", "twenty twenty-six"),
        ("2005", "two thousand five"),
        ("1900", "nineteen hundred"),
        ("1905", "nineteen oh five"),
        ("05", "oh five"),
    ],
)
def test_year_words(digits: str, expected: str) -> None:
    assert sayas.year_words(digits) == expected


def test_currency_words() -> None:
    assert sayas.currency_words("4.50", "$") == "four dollars and fifty cents"
    assert sayas.currency_words("1.2", "USD", "billion") == "one point two billion dollars"
    assert sayas.currency_words("3", "£", "million") == "three million pounds"
    for amount, currency in (("abc", "$"), ("5", "XYZ")):
        with pytest.raises(ValueError):
            sayas.currency_words(amount, currency)
    with pytest.raises(ValueError):
        sayas.year_words("19x9")
