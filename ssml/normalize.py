"""English plain-text normalisation: what a chat model writes, as a person would say it.

:func:`speak_english` rewrites numbers, symbols, abbreviations, URLs and e-mail addresses in
plain text (a segment's words, free of markup) into words, so the voice does not have to guess.
Every number is spelled by :mod:`.sayas` (the code behind ``<say-as>``), so both read alike.
One precompiled regular expression finds every candidate in one left-to-right pass;
a candidate that cannot be read confidently is left exactly as written (espeak reads it),
and no word is ever dropped. The rules, in the order they are tried at each position:

- **URLs** (``https://``, ``www.``) and **bare domains** whose last label is a known TLD
  (``github.com/openai``): the host only, ``www.`` dropped, the path and query dropped
  silently, dots said "dot", hyphens as spaces: "github dot com". A TLD list (not "any
  letters") keeps ``e.g`` and ``file.txt`` out.
- **E-mail addresses**: "bob dot smith at example dot org".
- **Dates** with a month name (``Nov 29``, ``November 29th, 2026``, ``29 Nov 2026``,
  ``29th of November``, ``November 2026``), ISO ``2026-11-29``, US ``11/29/2026`` (day
  first when the first part is over 12) and ``29.11.2026`` (day first): month first, as
  say-as says them ("November twenty-ninth, twenty twenty-six").
- **Abbreviations** said in full: Dr Mr Mrs Ms Prof Mt (before a name), Jr Sr (after one),
  St (Saint before a capitalised name, Street after one), vs, e.g., i.e., etc., approx.,
  No. (before a digit), Inc Ltd Corp Co, fig., vol.; dotted capitals (``U.S.``) as spaced
  letters; ``a.m.``/``p.m.`` after a time as "AM"/"PM" (say-as's spelling: espeak says the letters).
- **Telephone numbers** (``(555) 123-4567``, ``555-123-4567``, ``+1 555 123 4567``): digit by
  digit in groups. A bare ``555-1234`` is read as a range (chat replies hold more ranges).
- **Times** (``3 p.m.``, ``3pm``, ``3:30 PM``, ``14:30``, ``09:05``, ``9am-5pm``): "three
  thirty PM", "fourteen thirty", "nine oh five".
- **Fractions** ``1/2`` ``3/4`` ``2 1/2`` (proper, denominator up to 10) and ``24/7``.
- **Decades** ``1990s`` ``2000s`` ``'90s``: "nineteen nineties", "two thousands", "nineties".
- **Numbers**: cardinals with separators, negatives (``-5``, ``−5``), decimals ("three point
  five"), ordinals (``21st``), percentages, currency (``$4.50``, ``€20``, ``£3m``,
  ``$1.2 billion``, ``$5k``, ``50¢``, ``USD 20``), ``5k``/``7B`` scales, units after a number
  (``5 km``, ``72°F``, ``5'10"``, ``2 GB``; singular for 1), ranges (``9-5``, ``10–20%``,
  ``2020–2024``: "to"), ``#1`` ("number one"), ``~5`` ("about five"), ``3x`` ("three
  times"). A four-digit number from 1100 to 2099 is a year after in/since/by/from/until/of
  (and a few more words, or after another year and "to"/"and"), or at either end of a range
  of two such numbers; otherwise a cardinal. Leading zeros are read digit by digit.
- **Symbols between numbers or words**: ``+`` "plus", ``x``/``×`` "times", ``=`` "equals",
  ``&`` "and".

Sentence ends survive. The text is first cut by :func:`.sentences.split_sentences` (whose rules
decide, so this module never second-guesses them): an abbreviation's period stays only where it
is its sentence's final stop (``etc.`` at the end of one) and goes elsewhere, since there it
ended nothing; a period that ends nothing right after a number read out becomes a comma (by
those rules ``1. Install`` and ``No. 5. Next`` hold no sentence end); dotted capitals that end a
sentence stay as written, except at the end of the text (``U S.`` reads as an initial). When a
replacement stands at the edge of a sentence, the result is cut again; a sentence that no longer
ends where it did gets the next one's first word capitalised when that is enough ("Wait... Five
people", since a lowercase word goes on after an ellipsis), else both go back as written, so the
result always ends sentences where the text did. The end of the text counts as a sentence end
unless ``following`` (the next segment's words) says otherwise: ``Dr.`` before ``Smith``.

Numbers beyond 10**21, invalid dates and times, version strings (``1.2.3``) and anything else
unsure stay as written.
"""

from __future__ import annotations

import bisect
import itertools
import re
from typing import Callable

from .sayas import cardinal_words, currency_words, expand, ordinal_words, year_words
from .sentences import CLOSERS, TERMINATORS, ends_sentence, split_sentences

__all__ = ["speak_english"]

# --------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------

_MONTH_NUMBERS = {
    name: number
    for number, names in enumerate(
        (
            "January Jan",
            "February Feb",
            "March Mar",
            "April Apr",
            "May",
            "June Jun",
            "July Jul",
            "August Aug",
            "September Sept Sep",
            "October Oct",
            "November Nov",
            "December Dec",
        ),
        start=1,
    )
    for name in names.split()
}
_MONTH = "(?:" + "|".join(sorted(_MONTH_NUMBERS, key=len, reverse=True)) + r")\b"

#: Top-level domains that make ``word.tld`` a web address (two-letter English words left out).
_TLDS = (
    "com org net edu gov mil int io ai dev app co uk us de fr es nl eu ca au nz jp cn ru br ch se "
    "dk fi pl ie info biz tv xyz tech site online store blog cloud page ly gg fm sh news"
).split()
_TLD = "(?:" + "|".join(sorted(_TLDS, key=len, reverse=True)) + ")"

#: Units read after a number: symbol -> (singular, plural).
_UNITS = {
    "km": ("kilometer", "kilometers"),
    "cm": ("centimeter", "centimeters"),
    "mm": ("millimeter", "millimeters"),
    "mi": ("mile", "miles"),
    "ft": ("foot", "feet"),
    "yd": ("yard", "yards"),
    "kg": ("kilogram", "kilograms"),
    "kgs": ("kilogram", "kilograms"),
    "g": ("gram", "grams"),
    "mg": ("milligram", "milligrams"),
    "lb": ("pound", "pounds"),
    "lbs": ("pound", "pounds"),
    "oz": ("ounce", "ounces"),
    "L": ("liter", "liters"),
    "ml": ("milliliter", "milliliters"),
    "mL": ("milliliter", "milliliters"),
    "min": ("minute", "minutes"),
    "mins": ("minute", "minutes"),
    "h": ("hour", "hours"),
    "hr": ("hour", "hours"),
    "hrs": ("hour", "hours"),
    "sec": ("second", "seconds"),
    "secs": ("second", "seconds"),
    "ms": ("millisecond", "milliseconds"),
    "yr": ("year", "years"),
    "yrs": ("year", "years"),
    "wk": ("week", "weeks"),
    "wks": ("week", "weeks"),
    "mo": ("month", "months"),
    "mos": ("month", "months"),
    "Hz": ("hertz", "hertz"),
    "kHz": ("kilohertz", "kilohertz"),
    "MHz": ("megahertz", "megahertz"),
    "GHz": ("gigahertz", "gigahertz"),
    "KB": ("kilobyte", "kilobytes"),
    "kB": ("kilobyte", "kilobytes"),
    "MB": ("megabyte", "megabytes"),
    "GB": ("gigabyte", "gigabytes"),
    "TB": ("terabyte", "terabytes"),
    "Mbps": ("megabit per second", "megabits per second"),
    "Gbps": ("gigabit per second", "gigabits per second"),
    "mph": ("mile per hour", "miles per hour"),
    "km/h": ("kilometer per hour", "kilometers per hour"),
    "kph": ("kilometer per hour", "kilometers per hour"),
    "W": ("watt", "watts"),
    "kW": ("kilowatt", "kilowatts"),
    "kWh": ("kilowatt hour", "kilowatt hours"),
    "V": ("volt", "volts"),
    "mAh": ("milliamp hour", "milliamp hours"),
    "px": ("pixel", "pixels"),
    "fps": ("frame per second", "frames per second"),
    "kcal": ("kilocalorie", "kilocalories"),
}
_UNIT = "(?:" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + ")"

_CURRENCY_CODES = "(?:USD|EUR|GBP|JPY|INR)"
#: Scale letters glued to a number ("$5k", "£3m", "7B"); "m" only after a currency sign.
_SCALE_LETTERS = {
    "k": "thousand",
    "K": "thousand",
    "m": "million",
    "M": "million",
    "B": "billion",
    "bn": "billion",
}

#: Abbreviation (lowercase, no dots) -> words, and when it is expanded (see ``_abbreviation``).
_ABBREVIATIONS = {
    "dr": "Doctor",
    "mr": "Mister",
    "mrs": "Missus",
    "ms": "Miz",
    "prof": "Professor",
    "mt": "Mount",
    "jr": "Junior",
    "sr": "Senior",
    "vs": "versus",
    "e.g": "for example",
    "i.e": "that is",
    "etc": "et cetera",
    "approx": "approximately",
    "no": "number",
    "inc": "Incorporated",
    "ltd": "Limited",
    "corp": "Corporation",
    "co": "Company",
    "fig": "figure",
    "vol": "volume",
    "ave": "Avenue",
    "rd": "Road",
    "blvd": "Boulevard",
    "ln": "Lane",
    "hwy": "Highway",
    "apt": "Apartment",
    "ste": "Suite",
    "dept": "Department",
}
_TITLES = frozenset("dr mr mrs ms prof mt".split())  # before a capitalised name
_SUFFIXES = frozenset("jr sr inc ltd corp".split())  # after a capitalised name
_ALWAYS = frozenset("vs e.g i.e etc approx".split())  # expanded wherever they stand
_PLACES = frozenset("ave rd blvd ln hwy apt ste dept".split())  # dotted, after a name or before a number

#: Words after which a number from 1100 to 2099 is a year.
_YEAR_WORDS = frozenset(
    "in since by from until till of between before after during circa year early late mid".split()
)

# --------------------------------------------------------------------------
# The pattern: one alternative per kind of thing, each in a named outer group
# --------------------------------------------------------------------------

_NUM = r"(?:\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)(?![.,]\d)"
_LABEL = r"[A-Za-z0-9](?:[\w-]{0,61}[A-Za-z0-9])?"
_MERIDIEM = r"(?:[AaPp]\.[Mm]\.?|[AaPp][Mm])(?!\w)"
_CLOCK = rf"(?:\d{{1,2}}(?::\d{{2}}){{1,2}}(?:[ ]?{_MERIDIEM})?|\d{{1,2}}[ ]?{_MERIDIEM})"
_DASH = r"[ ]?[–—][ ]?|-"
_END = r"(?![\w]|[.,]\d)"

# Web addresses: tried first at the start of a word, only when the text holds "@", "://" or ".x".
_WEB = (
    r"(?P<url>(?<![\w@/.-])(?:[Hh][Tt][Tt][Pp][Ss]?://|[Ww][Ww][Ww]\.)[^\s<>\"]+)",
    rf"(?P<email>(?<![\w.+%-])[\w%+-]+(?:\.[\w%+-]+)*@(?:{_LABEL}\.)+[A-Za-z]{{2,}}(?![\w-]|\.\w))",
    rf"(?P<domain>(?<![\w@/.:-])(?:{_LABEL}\.)+{_TLD}(?![\w-]|\.\w)(?:/[^\s<>\"]*)?)",
)
# Other alternatives that start at the start of a word.
_WORDS = (
    # dates with a month name: "Nov 29", "November 29th, 2026", "Nov 2026"
    rf"(?P<mdate>(?=[ADFJMNOS])(?P<mon1>{_MONTH})\.?"
    rf"(?:[ ](?P<day1>\d{{1,2}})(?:st|nd|rd|th)?(?![\w:]|[.,]\d)(?:,?[ ](?P<yr1>\d{{4}}){_END})?"
    rf"|,?[ ](?P<yr3>\d{{4}}){_END}))",
    # abbreviations and dotted capitals
    r"(?P<abbr>(?=[ABCDEFHIJLMNPRSVaefinv])(?<![\w.])(?:[Ee]\.[ ]?g|[Ii]\.[ ]?e|Mrs|Mr|Ms|Dr|Prof|Mt|Jr|Sr|St"
    r"|Inc|Ltd|Corp|Co|[Nn]o|[Vv]s|[Ee]tc|[Aa]pprox|[Ff]ig|[Vv]ol|Ave|Rd|Blvd|Ln|Hwy|Apt|Ste|Dept)\b\.?)",
    r"(?P<initials>(?=[A-Z]\.)(?<![\w.])[A-Z]\.(?:[A-Z]\.)*[A-Z]\.?(?!\w))",
)
# Alternatives that start with a digit, a sign, a currency or ``~ # ' (``.
_NUMBERS = (
    # telephone numbers and numeric dates
    r"(?P<phone>(?<![\w+.-])(?:\+\d{1,3}[ .-]?|1-)?(?:\(\d{3}\)[ ]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    r"(?![\w-]|\.\d))",
    r"(?P<iso>(?<![\w./-])\d{4}(?P<isep>[-/])\d{1,2}(?P=isep)\d{1,2}(?![\w/-]|\.\d))",
    r"(?P<usdate>(?<![\w./-])\d{1,2}(?P<usep>[-/])\d{1,2}(?P=usep)(?:\d{4}|\d{2})(?![\w/-]|\.\d))",
    r"(?P<eudate>(?<![\w./-])\d{1,2}\.\d{1,2}\.\d{4}(?!\w|\.\d))",
    rf"(?P<dmonth>(?<![\w.,])(?P<day2>\d{{1,2}})(?:st|nd|rd|th)?[ ](?P<of>of[ ])?(?P<mon2>{_MONTH})"
    rf"(?:(?P<mdot2>\.)(?!\w))?(?:,?[ ](?P<yr2>\d{{4}}){_END})?)",
    # times, fractions, decades
    rf"(?P<clock>(?<![\w.:,])(?P<t1>{_CLOCK})(?:[ ]?[-–—][ ]?(?P<t2>{_CLOCK}))?(?![\w:]|\.\d))",
    rf"(?P<clocks>(?<![\w.:,])(?P<t0>\d{{1,2}})(?:{_DASH})(?P<t3>{_CLOCK})(?![\w:]|\.\d))",
    r"(?P<fraction>(?<![\w.,/$€£¥₹-])(?:\d{1,2}[ ])?\d{1,2}/\d{1,2}(?![\w/]|[.,]\d))",
    r"(?P<decade>(?<!\w)['’](?P<d2>\d0)s(?!\w))",
    # a quantity: [~][#][sign][currency] number [scale] [range] [suffix or unit]
    r"(?P<q>(?:(?<![\w.,])|(?<=\d[x×]))"
    r"(?:(?P<about>[~≈])[ ]?)?(?P<hash>#)?(?P<sign>[-−+])?"
    rf"(?:(?P<cur>[$€£¥₹])|(?P<code>{_CURRENCY_CODES})[ ]?)?"
    rf"(?P<n1>{_NUM})(?:(?P<scl1>[kKMB]|bn)(?![A-Za-z]))?"
    rf"(?:(?:{_DASH})(?P<cur2>[$€£¥₹])?(?P<n2>{_NUM})(?![-–]\d))?"
    r"(?:(?P<ord>st|nd|rd|th)|(?P<dec>['’]?s)"
    r"|(?:(?P<scl>[kKmMB]|bn)(?![A-Za-z])|[ ](?P<scw>thousand|million|billion|trillion)\b)?"
    r"(?:[ ]?(?P<pct>%)|(?P<cent>¢)|[ ]?(?P<degree>°)[ ]?(?P<scale>[FC](?!\w))?"
    r"|'(?P<inch>\d{1,2})[\"″”]|(?P<times>[x×])(?!\w)"
    rf"|[ ]?(?P<code2>{_CURRENCY_CODES})\b|[ ]?(?P<unit>{_UNIT})(?![\w/])(?P<udot>\.(?![\w.]))?)?)"
    r"(?:(?<!\b0)(?=[x×]\d)|(?!\w)))",
)
# Symbols between numbers or words (only the symbol is replaced; spaces are added around it).
_SYMBOLS = (
    r"(?P<plus>(?:(?<=\d)|(?<=\d ))\+(?=[ ]?[\d$€£¥₹]))",
    r"(?P<plus2>(?<=\d)\+(?![\w+]))",
    r"(?P<times_op>(?:(?<=\d)(?<!\b0)|(?<=\d ))[x×](?=[ ]?\d))",
    r"(?P<equals>(?:(?<=[\w)\]%])|(?<=[\w)\]%] ))=(?![=>])(?=[ ]?[\w(\[$€£¥₹~#+−-]))",
    r"(?P<amp>(?:(?<=\w)|(?<=\w ))&(?=[ ]?\w))",
)


def _compile(web: tuple[str, ...]) -> re.Pattern[str]:
    """One pattern: each group of alternatives behind a cheap test of the first character, so that
    most positions of a text (inside plain words) fail after one or two checks."""
    return re.compile(
        r"(?<!\w)(?=\w)(?:" + "|".join(web + _WORDS) + ")"
        rf"|(?=[\d$€£¥₹~≈#+−'’(-]|\b{_CURRENCY_CODES}\b)(?:" + "|".join(_NUMBERS) + ")"
        r"|(?=[+×x=&])(?:" + "|".join(_SYMBOLS) + ")"
    )


#: The web alternatives are costly (they read every word to its end): each goes in only when a
#: text holds a sign of it, and the pattern for each combination is compiled once.
_DOMAIN_HINT = re.compile(rf"\.{_TLD}(?![\w-])")
_PATTERNS = {
    key: _compile(tuple(alternative for alternative, wanted in zip(_WEB, key) if wanted))
    for key in itertools.product((False, True), repeat=3)
}

_PREV_WORD = re.compile(r"([A-Za-z]+)[ ,]*\Z")
_NUMBERED_STREET = re.compile(r"\d+(?:st|nd|rd|th)?(?: [A-Z][A-Za-z'-]*)* \Z")
_YEAR_THEN = re.compile(r"(?<!\d)(?:1[1-9]|20)\d\d[ ]+(?:to|and|through|or|until)[ ]+\Z")
_HOST_END = re.compile(r"[/?#:]")
_LOCAL_SYMBOLS = re.compile(r"[._+%-]")
_LOCAL_WORDS = {".": " dot ", "_": " underscore ", "+": " plus ", "%": " percent ", "-": " dash "}
_TRAILING = frozenset(".,;:!?'\"”’)]}>")

# --------------------------------------------------------------------------
# Sentence ends: the text is first cut by split_sentences; each reader gets ``eos``, where the
# words of the match's sentence end (its final stop and closers included, whitespace not)
# --------------------------------------------------------------------------


def _final(s: str, i: int, eos: int) -> bool:
    """Whether only closing quotes and brackets lie between ``i`` and the sentence's end (never
    when ``eos`` is -1: the last sentence of a text that ``following`` continues)."""
    return i <= eos and all(ch in CLOSERS for ch in s[i:eos])


def _keep_dot(m: re.Match[str], dot: int, eos: int) -> str:
    """``"."`` when the abbreviation period at ``dot`` is also the sentence's final stop, else ``""``
    (the text was cut into sentences first, so any other period there ends nothing)."""
    return "." if _final(m.string, dot + 1, eos) else ""


# --------------------------------------------------------------------------
# Readers: each takes the match and returns the words, or None to leave it as written
# --------------------------------------------------------------------------


def _number(text: str) -> str:
    """A number as words: cardinal, decimal, signed; leading zeros digit by digit."""
    digits = text.lstrip("+-−")
    if len(digits) > 1 and digits[0] == "0" and digits[1] != ".":
        return expand(text, "digits")
    return expand(text, "cardinal")


def _plural(words: str) -> str:
    """ "ninety" -> "nineties", "two thousand" -> "two thousands"."""
    return words[:-1] + "ies" if words.endswith("y") else words + "s"


def _trim(text: str) -> tuple[str, str]:
    """Split trailing punctuation (not part of an address) off ``text``."""
    end = len(text)
    while end and text[end - 1] in _TRAILING:
        ch = text[end - 1]
        if ch == ")" and text.count("(", 0, end) >= text.count(")", 0, end):
            break
        end -= 1
    return text[:end], text[end:]


def _host_words(host: str) -> str | None:
    labels = [label for label in host.lower().split(".") if label]
    if len(labels) > 2 and labels[0] == "www":
        labels = labels[1:]
    if not labels or not all(label.replace("-", "").replace("_", "").isalnum() for label in labels):
        return None
    return " dot ".join(" ".join(label.replace("_", " underscore ").split("-")).strip() for label in labels)


def _url(m: re.Match[str], eos: int) -> str | None:
    address, tail = _trim(m.group())
    if "://" in address:
        address = address.split("://", 1)[1]
    host = _HOST_END.split(address, 1)[0].rpartition("@")[2]
    words = _host_words(host)
    return None if words is None else words + tail


def _email(m: re.Match[str], eos: int) -> str | None:
    local, _, domain = m.group().rpartition("@")
    host = _host_words(domain)
    if host is None:
        return None
    spoken = _LOCAL_SYMBOLS.sub(lambda sym: _LOCAL_WORDS[sym.group()], local)
    return " ".join(spoken.split()) + " at " + host


def _date_words(month: str, day: str | None, year: str | None) -> str:
    number = _MONTH_NUMBERS[month]
    if day and year:
        return expand(f"{number}/{day}/{year}", "date", "mdy")
    if day:
        return expand(f"{number}/{day}", "date", "md")
    return expand(f"{number}/{year}", "date", "my")


def _month_date(m: re.Match[str], eos: int) -> str:
    return _date_words(m["mon1"], m["day1"], m["yr1"] or m["yr3"])


def _day_month(m: re.Match[str], eos: int) -> str:
    words = _date_words(m["mon2"], m["day2"], m["yr2"])  # checks the day exists
    if m["of"]:  # "the 5th of May": keep that order
        words = f"{ordinal_words(int(m['day2']))} of {words.split()[0]}"
        if m["yr2"]:
            words += f", {year_words(m['yr2'])}"
    if m["mdot2"] and not m["yr2"]:
        words += _keep_dot(m, m.end("mdot2") - 1, eos)
    return words


def _iso_date(m: re.Match[str], eos: int) -> str:
    return expand(m.group(), "date", "ymd")


def _us_date(m: re.Match[str], eos: int) -> str:
    first = int(m.group().split(m["usep"], 1)[0])
    return expand(m.group(), "date", "dmy" if first > 12 else "mdy")


def _eu_date(m: re.Match[str], eos: int) -> str:
    return expand(m.group(), "date", "dmy")


def _capitalised_word_before(s: str, start: int) -> bool:
    word = _PREV_WORD.search(s, max(0, start - 40), start)
    return word is not None and word.group(1)[0].isupper()


def _capitalised_word_after(s: str, end: int) -> bool:
    return end + 1 < len(s) and s[end] == " " and s[end + 1].isupper()


def _abbreviation(m: re.Match[str], eos: int) -> str | None:
    s, (start, end) = m.string, m.span()
    written = m.group()
    dotted = written.endswith(".")
    key = written.rstrip(".").replace(" ", "").lower()
    following = s[end : end + 2].lstrip(" ")[:1]
    if key == "st":  # "St. Louis", "5 Main St.", "Main St. is closed"
        name_before = _capitalised_word_before(s, start)
        name_after = end < eos and _capitalised_word_after(s, end)  # not the next sentence's first word
        numbered = _NUMBERED_STREET.search(s, max(0, start - 40), start)
        if (name_before or numbered) and (not name_after or numbered):
            words = "Street"
        elif name_after:
            words = "Saint"
        else:
            return None
    elif key in _ALWAYS:
        words = _ABBREVIATIONS[key]
    elif key in _TITLES:
        if not (dotted or (end < eos and _capitalised_word_after(s, end))):
            return None
        words = _ABBREVIATIONS[key]
    elif key in _SUFFIXES:
        if not (dotted or _capitalised_word_before(s, start)):
            return None
        words = _ABBREVIATIONS[key]
    elif key in _PLACES:
        if not (dotted and (_capitalised_word_before(s, start) or following.isdigit())):
            return None
        words = _ABBREVIATIONS[key]
    elif key == "co":
        if not (dotted and (_capitalised_word_before(s, start) or s[max(0, start - 2) : start] == "& ")):
            return None
        words = _ABBREVIATIONS[key]
    elif key == "no":
        if not (dotted and following.isdigit()):
            return None
        words = _ABBREVIATIONS[key]
    else:  # fig, vol
        if not (dotted or following.isdigit()):
            return None
        words = _ABBREVIATIONS[key]
    return words + (_keep_dot(m, end - 1, eos) if dotted else "")


def _initials(m: re.Match[str], eos: int) -> str | None:
    written = m.group()
    letters = " ".join(ch for ch in written if ch != ".")
    if not (written.endswith(".") and _keep_dot(m, m.end() - 1, eos)):
        return letters
    # "U S." ends a sentence only at the end of the text (a capital letter and a period read as
    # an initial); elsewhere "U.S." stays as written
    return letters + "." if not m.string[eos:].strip() else None


def _phone(m: re.Match[str], eos: int) -> str:
    return expand(m.group(), "telephone")


def _clock_words(m: re.Match[str], name: str, eos: int) -> str:
    written = m[name]
    words = expand(written, "time")
    if written.endswith(".") and m.end(name) == m.end():
        words += _keep_dot(m, m.end() - 1, eos)
    return words


def _clock(m: re.Match[str], eos: int) -> str:
    words = _clock_words(m, "t1", eos)
    return f"{words} to {_clock_words(m, 't2', eos)}" if m["t2"] else words


def _clocks(m: re.Match[str], eos: int) -> str:
    return f"{cardinal_words(int(m['t0']))} to {_clock_words(m, 't3', eos)}"


def _fraction(m: re.Match[str], eos: int) -> str | None:
    text = m.group()
    numerator, _, denominator = text.rpartition(" ")[2].partition("/")
    top, bottom = int(numerator), int(denominator)
    if (top, bottom) == (24, 7) and " " not in text:
        return "twenty-four seven"
    if not (2 <= bottom <= 10 and 1 <= top < bottom):
        return None
    return expand(text, "fraction")


def _decade(m: re.Match[str], eos: int) -> str | None:
    return None if m["d2"] == "00" else _plural(cardinal_words(int(m["d2"])))


def _year_digits(digits: str) -> bool:
    """Whether ``digits`` could be a year: four digits from 1100 to 2099."""
    return len(digits) == 4 and digits.isdigit() and 1100 <= int(digits) <= 2099


def _is_year(s: str, start: int, digits: str) -> bool:
    """Whether a lone number at ``start`` reads as a year: after "in", "since"... or "1990 to"."""
    if not _year_digits(digits):
        return False
    head = s[max(0, start - 24) : start]
    word = _PREV_WORD.search(head)
    return (word is not None and word.group(1).lower() in _YEAR_WORDS) or bool(_YEAR_THEN.search(head))


def _quantity(m: re.Match[str], eos: int) -> str | None:
    s, n1, n2 = m.string, m["n1"], m["n2"]
    sign = m["sign"] or ""
    currency = m["cur"] or m["code"] or m["code2"]
    lead = ("about " if m["about"] else "") + ("number " if m["hash"] else "")
    plain = not (sign or currency or m["hash"] or m["scl1"])
    if m["ord"]:
        if not plain or n2 or "." in n1:
            return None
        return lead + ordinal_words(int(n1.replace(",", "")))
    if m["dec"]:
        if not plain or n2 or n1[-1] != "0" or len(n1) not in (2, 4) or n1 == "00":
            return None
        return lead + _plural(year_words(n1) if len(n1) == 4 else cardinal_words(int(n1)))
    scale = _SCALE_LETTERS.get(m["scl"] or "") or m["scw"] or ""
    if m["scl"] == "m" and not currency:
        return None  # "5m": minutes, meters or million
    first_scale = _SCALE_LETTERS.get(m["scl1"] or "", "")
    if not n2 and first_scale:  # "$5k": the scale right after the only number
        scale, first_scale = first_scale, ""
    extra = m["pct"] or m["cent"] or m["degree"] or m["inch"] or m["times"] or m["unit"]
    if currency:
        if extra:
            return None
        if not n2:
            return lead + currency_words(sign + n1, currency, scale)
        if m["cur2"] or "." in n1:  # "$150.25-$250.67": both amounts in full
            first = currency_words(sign + n1, currency, first_scale)
        else:  # "$5-10": "five to ten dollars"
            first = _number(sign + n1) + (f" {first_scale}" if first_scale else "")
        return f"{lead}{first} to {currency_words(n2, currency, scale)}"
    if m["cent"]:
        if n2 or scale or not n1.isdigit():
            return None
        return f"{lead}{_number(sign + n1)} {'cent' if n1 == '1' else 'cents'}"
    # a year, a plain number or a range, with a scale, a percent sign, a unit...
    if not (sign or lead or first_scale or scale or extra):
        if n2 and _year_digits(n1) and _year_digits(n2):
            return f"{year_words(n1)} to {year_words(n2)}"
        if n2 and _year_digits(n1) and len(n2) == 2 and int(n2) > int(n1) % 100:  # "2020-21"
            return f"{year_words(n1)} to {cardinal_words(int(n2))}"
        if not n2 and _is_year(s, m.start(), n1):
            return year_words(n1)
    words = lead + _number(sign + n1) + (f" {first_scale}" if first_scale else "")
    if n2:
        words += " to " + _number(n2)
    if scale:
        words += " " + scale
    if not extra:
        return words
    one = not n2 and not scale and n1.lstrip("+-−") == "1"
    if m["pct"]:
        return words + " percent"
    if m["degree"]:
        return (
            words
            + (" degree" if one else " degrees")
            + {"F": " Fahrenheit", "C": " Celsius"}.get(m["scale"] or "", "")
        )
    if m["inch"]:
        if n2 or scale or sign:
            return None
        inches = int(m["inch"])
        feet = "foot" if one else "feet"
        return f"{words} {feet} {cardinal_words(inches)} {'inch' if inches == 1 else 'inches'}"
    if m["times"]:
        return words + " times"
    singular, plural = _UNITS[m["unit"]]
    dot = _keep_dot(m, m.end() - 1, eos) if m["udot"] else ""
    return f"{words} {singular if one else plural}{dot}"


def _spaced(m: re.Match[str], word: str) -> str:
    """``word`` for the symbol matched, with a space on each side that has none."""
    s, (start, end) = m.string, m.span()
    left = " " if start and not s[start - 1].isspace() else ""
    right = " " if end < len(s) and (s[end].isalnum() or s[end] in "$€£¥₹(~#-−") else ""
    return left + word + right


_READERS: dict[str, Callable[[re.Match[str], int], str | None]] = {
    "url": _url,
    "email": _email,
    "domain": _url,
    "mdate": _month_date,
    "abbr": _abbreviation,
    "initials": _initials,
    "phone": _phone,
    "iso": _iso_date,
    "usdate": _us_date,
    "eudate": _eu_date,
    "dmonth": _day_month,
    "clock": _clock,
    "clocks": _clocks,
    "fraction": _fraction,
    "decade": _decade,
    "q": _quantity,
    "plus": lambda m, eos: _spaced(m, "plus"),
    "plus2": lambda m, eos: _spaced(m, "plus"),
    "times_op": lambda m, eos: _spaced(m, "times"),
    "equals": lambda m, eos: _spaced(m, "equals"),
    "amp": lambda m, eos: _spaced(m, "and"),
}


def _read(m: re.Match[str], eos: int) -> tuple[str, int] | None:
    """The words for a match inside one sentence and where they end in the text, or ``None`` to
    leave the match as written."""
    try:
        spoken = _READERS[m.lastgroup](m, eos)
    except Exception:  # the contract is "never raise": what cannot be read stays as written
        return None
    if not spoken:
        return None
    s, end = m.string, m.end()
    if (
        s[end : end + 1] == "."
        and s[end + 1 : end + 2] not in TERMINATORS
        and spoken[-1].isalnum()
        and not _final(s, end + 1, eos)
    ):
        # a period that ends nothing here ("No. 5. Next" is one sentence by the rules, as is a
        # list number "1. Install"): after words it would end one, so it becomes a comma
        after = s[end + 1 : end + 2]
        if after.isspace() or after in CLOSERS:
            return spoken + ",", end + 1
        return None
    return spoken, end


def _capitalised(words: str) -> str:
    return words[:1].upper() + words[1:]


def speak_english(text: str, *, following: str = "") -> str:
    """``text`` with numbers, symbols, abbreviations, URLs and e-mail addresses written out as a
    person would say them.

    :param text: plain text (a segment's words), one or more sentences.
    :param following: the text that comes after ``text`` (the next segment's words), as for
        :func:`.sentences.ends_sentence`; ``""`` when nothing follows. It decides whether a
        period at the very end of ``text`` ends a sentence (``Dr.`` before ``Smith`` does not).
    :returns: the words to speak. Pure and total: any string in, a string out; what cannot be
        read confidently is left as it is, and the result ends sentences exactly where ``text``
        does (see the module docstring).
    """
    try:
        return _speak(text, following)
    except Exception:  # total by contract: a reader bug must not cost the segment its voice
        return text


def _speak(text: str, following: str) -> str:
    url = "://" in text or "www." in text or "WWW." in text
    pattern = _PATTERNS[url, "@" in text, _DOMAIN_HINT.search(text) is not None]
    first = pattern.search(text)
    if first is None:
        return text
    pieces = split_sentences(text)
    bounds = list(itertools.accumulate(map(len, pieces)))
    last_ends = not following or ends_sentence(pieces[-1], following)
    spoken: list[list[str]] = [[] for _ in pieces]  # each sentence's output, in parts
    done = 0  # text before this is in ``spoken``
    check = not last_ends  # whether a replacement stands where it may move a sentence end
    for m in pattern.finditer(text, first.start()):
        start, end = m.span()
        k = bisect.bisect_right(bounds, start)
        if end > bounds[k]:
            continue  # across a sentence end: leave it
        eos = bounds[k] - (len(pieces[k]) - len(pieces[k].rstrip()))
        read = _read(m, eos if last_ends or k + 1 < len(pieces) else -1)
        if read is None or read[0] == m.group():
            continue
        words, end = read
        head = bounds[k] - len(pieces[k])
        if start == head + len(pieces[k]) - len(pieces[k].lstrip()):  # the first word of a sentence
            if m.group()[0].isupper():
                words = _capitalised(words)
            check = check or k > 0  # the stop before may read this word
        if not check and (TERMINATORS.intersection(words) or not any(ch.isalnum() for ch in text[end:eos])):
            check = True  # the last word of a sentence, or a stop in the words
        while done < head:  # finish the sentences before this one
            j = bisect.bisect_right(bounds, done)
            spoken[j].append(text[done : bounds[j]])
            done = bounds[j]
        spoken[k] += (text[done:start], words)
        done = end
    while done < len(text):
        j = bisect.bisect_right(bounds, done)
        spoken[j].append(text[done : bounds[j]])
        done = bounds[j]
    sentences = ["".join(parts) for parts in spoken]
    return _same_sentences(text, pieces, sentences, following) if check else "".join(sentences)


def _same_sentences(text: str, pieces: list[str], spoken: list[str], following: str) -> str:
    """``spoken`` joined, once it ends sentences exactly where ``pieces`` do.

    Where it does not (a replacement changed how a neighbouring stop reads), a sentence that now
    starts with a lowercase word is capitalised ("Wait... five people" goes on, "Wait... Five
    people" does not), and if that is not enough the two sentences go back as written.
    """
    capitalised: set[int] = set()
    for _ in range(2 * len(pieces) + 2):
        joined = "".join(spoken)
        cut = split_sentences(joined)
        if cut == spoken:
            if not following or ends_sentence(spoken[-1], following) == ends_sentence(pieces[-1], following):
                return joined
            spoken[-1] = pieces[-1]
            continue
        k = next((i for i, (a, b) in enumerate(zip(cut, spoken)) if a != b), min(len(cut), len(spoken)) - 1)
        after = k + 1
        if after < len(spoken) and after not in capitalised and spoken[after][:1].islower():
            capitalised.add(after)
            spoken[after] = _capitalised(spoken[after])
            continue
        spoken[k : k + 2] = pieces[k : k + 2]
    return text
