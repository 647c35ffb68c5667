"""English text normalisation for SSML ``<say-as>``.

:func:`expand` turns the text content of a ``<say-as interpret-as="...">``
element into plain English words that a voice can read aloud, e.g.
``expand("2024-03-05", "date")`` gives ``"March fifth, twenty twenty-four"``.

Every type reads its whole input or raises :class:`ValueError`; text is never
silently dropped.  :data:`SAYAS_FORMS` lists every ``interpret-as`` value read
here: the W3C forms and those Google Cloud TTS, Amazon Polly, Alexa and Azure
document (``unit``, ``duration``, ``address``, ``name``, ``interjection``, ...).

Dates are spoken month first ("March fifth, ...") whatever the order of the
written parts, except with Google's ``detail="1"`` ("the fifth of March, ...").
The other attributes that change the words: ``format`` for date, time, duration
and telephone (a country code), ``casesensitive`` for characters, and
``detail="1"``/``"2"`` for time (spoken 24-hour / 12-hour).

An expletive (``interpret-as="expletive"`` or ``"bleep"``) is never spoken:
:func:`is_bleeped` tells the tag handler to cover it with a tone, and
:func:`expand` returns ``""`` for it, so a caller that does not ask still never
says the word.
"""

from __future__ import annotations

import calendar
import itertools
import operator
import re
import unicodedata
from typing import Callable

__all__ = [
    "SAYAS_FORMS",
    "SUPPORTED",
    "cardinal_words",
    "currency_words",
    "expand",
    "is_bleeped",
    "ordinal_words",
    "year_words",
]

_ONES = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen "
    "fourteen fifteen sixteen seventeen eighteen nineteen"
).split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_SCALES = ("", "thousand", "million", "billion", "trillion", "quadrillion", "quintillion")
_LIMIT = 1000 ** len(_SCALES)  # cardinal_words handles abs(n) < 10**21
_ORDINAL_IRREGULAR = {
    "one": "first",
    "two": "second",
    "three": "third",
    "five": "fifth",
    "eight": "eighth",
    "nine": "ninth",
    "twelve": "twelfth",
}
_ORDINAL_SUFFIXES = ("st", "nd", "rd", "th")
_MONTHS = ("January February March April May June July August September October November December").split()
#: Digits a date field letter stands for when the format writes it once (Google's rule).
_DATE_WIDTHS = {"y": 4, "m": 2, "d": 2}
_DATE_SEPARATORS = str.maketrans(",-/.", "    ")
_TIME_FORMAT = re.compile(r"(h+)(m+)?(s+)?(z)?(12|24)?")  # Google's field codes; hms12, hm24 ...
#: espeak says "AM" as two letters ("a m" would be the article "uh" and "em").
_MERIDIEMS = {"a.m.": "AM", "p.m.": "PM", "a.m": "AM", "p.m": "PM", "am": "AM", "pm": "PM"}
_ZONE = re.compile(r"[A-Z]{2,5}")  # "EST", "UTC", "CEST" after a time
_DURATION_UNITS = {"h": "hour", "m": "minute", "s": "second", "ms": "millisecond"}
_MINUTES_SECONDS = re.compile(r"(?:(\d+)\s*['\u2032])?\s*(?:(\d+)\s*[\"\u2033])?")  # Polly: 1'21"
_DIGITS = "0123456789"
_GROUPING = frozenset("-.,/()")  # separators inside digit strings and phone numbers
_SYMBOLS = {  # anything else is named by unicodedata.name()
    "-": "dash",
    "@": "at",
    ".": "dot",
    "#": "hash",
    "&": "and",
    "/": "slash",
    "+": "plus",
    "_": "underscore",
    "*": "star",
    "$": "dollar",
    "%": "percent",
    ":": "colon",
    ",": "comma",
    "'": "apostrophe",
    '"': "quote",
    "!": "exclamation mark",
    "?": "question mark",
    "=": "equals",
    "(": "open paren",
    ")": "close paren",
    "\\": "backslash",
    "€": "euro",
    "£": "pound",
    "°": "degree",
}
#: (symbols and codes) -> (unit, units, subunit, subunits); "_" where a currency has no subunit.
_MONEY = {
    ("$", "USD"): ("dollar", "dollars", "cent", "cents"),
    ("€", "EUR"): ("euro", "euros", "cent", "cents"),
    ("£", "GBP"): ("pound", "pounds", "penny", "pence"),
    ("¥", "JPY"): ("yen", "yen", "_", "_"),
    ("₹", "INR"): ("rupee", "rupees", "paisa", "paise"),
    ("CAD",): ("Canadian dollar", "Canadian dollars", "cent", "cents"),
    ("AUD",): ("Australian dollar", "Australian dollars", "cent", "cents"),
    ("NZD",): ("New Zealand dollar", "New Zealand dollars", "cent", "cents"),
    ("HKD",): ("Hong Kong dollar", "Hong Kong dollars", "cent", "cents"),
    ("SGD",): ("Singapore dollar", "Singapore dollars", "cent", "cents"),
    ("CHF",): ("Swiss franc", "Swiss francs", "centime", "centimes"),
    ("CNY", "RMB"): ("yuan", "yuan", "fen", "fen"),
    ("₩", "KRW"): ("won", "won", "_", "_"),
    ("₽", "RUB"): ("ruble", "rubles", "kopek", "kopeks"),
    ("BRL",): ("real", "reais", "centavo", "centavos"),
    ("MXN",): ("peso", "pesos", "centavo", "centavos"),
    ("ZAR",): ("rand", "rand", "cent", "cents"),
    ("SEK",): ("krona", "kronor", "öre", "öre"),
    ("NOK", "DKK"): ("krone", "kroner", "øre", "øre"),
    ("PLN",): ("zloty", "zlotys", "grosz", "groszy"),
    ("₪", "ILS"): ("shekel", "shekels", "agora", "agorot"),
}
_CURRENCIES = {code: names for codes, names in _MONEY.items() for code in codes}

#: Unit symbols as written (case matters: "MB" is a megabyte, "m" a meter) -> the singular name.
_UNIT_SYMBOLS = {
    "mm": "millimeter",
    "cm": "centimeter",
    "m": "meter",
    "km": "kilometer",
    "nm": "nanometer",
    "µm": "micrometer",
    "μm": "micrometer",
    "in": "inch",
    '"': "inch",
    "ft": "foot",
    "'": "foot",
    "yd": "yard",
    "mi": "mile",
    "mg": "milligram",
    "g": "gram",
    "kg": "kilogram",
    "lb": "pound",
    "lbs": "pound",
    "oz": "ounce",
    "fl oz": "fluid ounce",
    "ml": "milliliter",
    "mL": "milliliter",
    "cl": "centiliter",
    "cL": "centiliter",
    "l": "liter",
    "L": "liter",
    "gal": "gallon",
    "qt": "quart",
    "pt": "pint",
    "tsp": "teaspoon",
    "tbsp": "tablespoon",
    "ms": "millisecond",
    "s": "second",
    "sec": "second",
    "secs": "second",
    "min": "minute",
    "mins": "minute",
    "h": "hour",
    "hr": "hour",
    "hrs": "hour",
    "wk": "week",
    "wks": "week",
    "yr": "year",
    "yrs": "year",
    "mph": "mile per hour",
    "kph": "kilometer per hour",
    "rpm": "revolution per minute",
    "°": "degree",
    "deg": "degree",
    "°C": "degree Celsius",
    "℃": "degree Celsius",
    "°F": "degree Fahrenheit",
    "℉": "degree Fahrenheit",
    "K": "kelvin",
    "%": "percent",
    "B": "byte",
    "kB": "kilobyte",
    "KB": "kilobyte",
    "MB": "megabyte",
    "GB": "gigabyte",
    "TB": "terabyte",
    "kbps": "kilobit per second",
    "kb/s": "kilobit per second",
    "Mbps": "megabit per second",
    "Mb/s": "megabit per second",
    "Gbps": "gigabit per second",
    "Gb/s": "gigabit per second",
    "Hz": "hertz",
    "kHz": "kilohertz",
    "MHz": "megahertz",
    "GHz": "gigahertz",
    "W": "watt",
    "kW": "kilowatt",
    "MW": "megawatt",
    "Wh": "watt hour",
    "kWh": "kilowatt hour",
    "V": "volt",
    "A": "ampere",
    "mA": "milliampere",
    "mAh": "milliampere hour",
    "J": "joule",
    "kJ": "kilojoule",
    "cal": "calorie",
    "kcal": "kilocalorie",
    "Pa": "pascal",
    "kPa": "kilopascal",
    "hPa": "hectopascal",
    "psi": "pound per square inch",
    "atm": "atmosphere",
    "dB": "decibel",
    "ha": "hectare",
    "ac": "acre",
}
_UNIT_PLURALS = {"foot": "feet", "percent": "percent", "hertz": "hertz"}
_UNIT_WORDS_ONLY = ("bar", "cup", "knot", "day", "month", "century", "carat", "light year")


def _unit_plural(name: str) -> str:
    """ "inch" -> "inches", "degree Celsius" -> "degrees Celsius", "mile per hour" -> "miles per hour"."""
    if " per " in name:
        head, _, tail = name.partition(" per ")
        return f"{_unit_plural(head)} per {tail}"
    words = name.split()
    at = 0 if words[0] == "degree" else -1
    word = words[at]
    if word in _UNIT_PLURALS or word.endswith("hertz"):
        plural = _UNIT_PLURALS.get(word, word)
    elif word.endswith("y") and word[-2:-1] not in "aeiou":
        plural = word[:-1] + "ies"
    else:
        plural = word + ("es" if word.endswith(("s", "sh", "ch", "x", "z")) else "s")
    words[at] = plural
    return " ".join(words)


def _unit_word_table() -> dict[str, str]:
    """Unit names as written, singular or plural, either spelling, any case -> the singular name."""
    table: dict[str, str] = {}
    for name in (*_UNIT_SYMBOLS.values(), *_UNIT_WORDS_ONLY):
        for form in (name, _unit_plural(name)):
            for spelling in (form, form.replace("meter", "metre").replace("liter", "litre")):
                table[spelling.lower()] = name
    folded: dict[str, set[str]] = {}
    for symbol, name in _UNIT_SYMBOLS.items():  # "KM", "Kg": a symbol in another case, if unambiguous
        folded.setdefault(symbol.lower(), set()).add(name)
    for symbol, names in folded.items():
        if len(names) == 1:
            table.setdefault(symbol, names.pop())
    return table


_UNIT_WORDS = _unit_word_table()
_POWERS = (
    ("²", "square"),
    ("³", "cubic"),
    ("^2", "square"),
    ("^3", "cubic"),
    ("2", "square"),
    ("3", "cubic"),
)
_POWER_WORDS = {"sq": "square", "square": "square", "cu": "cubic", "cubic": "cubic"}
#: A number at the start of a measurement: mixed ("1+1/2", "1 1/2"), a fraction, or a decimal.
_AMOUNT = re.compile(r"([-+\u2212]?)(\d+(?:\s*\+\s*|\s+)\d+/\d+|\d+/\d+|[\d,]*\.?\d+)")

_STREET_WORDS = {
    "st": "Street",
    "ave": "Avenue",
    "av": "Avenue",
    "rd": "Road",
    "dr": "Drive",
    "blvd": "Boulevard",
    "ct": "Court",
    "ln": "Lane",
    "pl": "Place",
    "sq": "Square",
    "ter": "Terrace",
    "cir": "Circle",
    "trl": "Trail",
    "hwy": "Highway",
    "pkwy": "Parkway",
    "expy": "Expressway",
    "fwy": "Freeway",
    "hts": "Heights",
    "jct": "Junction",
    "ctr": "Center",
    "cres": "Crescent",
    "rte": "Route",
    "mt": "Mount",
    "ft": "Fort",
    "jr": "Junior",
    "apt": "Apartment",
    "ste": "Suite",
    "fl": "Floor",
    "bldg": "Building",
    "rm": "Room",
}
_DIRECTIONS = {
    "N": "North",
    "S": "South",
    "E": "East",
    "W": "West",
    "NE": "Northeast",
    "NW": "Northwest",
    "SE": "Southeast",
    "SW": "Southwest",
}
_STATES = {
    code: name.replace("_", " ")
    for code, name in (
        pair.split("=")
        for pair in (
            "AL=Alabama AK=Alaska AZ=Arizona AR=Arkansas CA=California CO=Colorado CT=Connecticut "
            "DE=Delaware FL=Florida GA=Georgia HI=Hawaii ID=Idaho IL=Illinois IN=Indiana IA=Iowa "
            "KS=Kansas KY=Kentucky LA=Louisiana ME=Maine MD=Maryland MA=Massachusetts MI=Michigan "
            "MN=Minnesota MS=Mississippi MO=Missouri MT=Montana NE=Nebraska NV=Nevada NH=New_Hampshire "
            "NJ=New_Jersey NM=New_Mexico NY=New_York NC=North_Carolina ND=North_Dakota OH=Ohio "
            "OK=Oklahoma OR=Oregon PA=Pennsylvania RI=Rhode_Island SC=South_Carolina SD=South_Dakota "
            "TN=Tennessee TX=Texas UT=Utah VT=Vermont VA=Virginia WA=Washington WV=West_Virginia "
            "WI=Wisconsin WY=Wyoming DC=District_of_Columbia"
        ).split()
    )
}
_ZIP = re.compile(r"\d{5}(?:-\d{4})?")
_BLEEPED = frozenset({"expletive", "bleep"})


class _Unreadable(ValueError):
    """Raised by a reader when the text cannot be read as its type (a ``ValueError``, so the
    public helpers below raise what they document)."""

    def __init__(self, what: str, note: str = "") -> None:
        super().__init__(f"cannot read as {what}" + (f" ({note})" if note else ""))
        self.what, self.note = what, note


def _is_digits(s: str) -> bool:
    return bool(s) and all(c in _DIGITS for c in s)


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    words = [f"{_ONES[hundreds]} hundred"] if hundreds else []
    if rest >= 20:
        tens, ones = divmod(rest, 10)
        words.append(_TENS[tens] + (f"-{_ONES[ones]}" if ones else ""))
    elif rest:
        words.append(_ONES[rest])
    return " ".join(words)


def cardinal_words(n: int) -> str:
    """1234 -> "one thousand two hundred thirty-four"; negatives start "minus"."""
    n = operator.index(n)
    if n < 0:
        return "minus " + cardinal_words(-n)
    if n == 0:
        return "zero"
    if n >= _LIMIT:
        raise ValueError(f"{n} is too large to read (limit 10**{3 * len(_SCALES)})")
    chunks = []
    for scale in _SCALES:
        n, chunk = divmod(n, 1000)
        if chunk:
            chunks.append(_below_thousand(chunk) + (f" {scale}" if scale else ""))
    return " ".join(reversed(chunks))


def ordinal_words(n: int) -> str:
    """3 -> "third", 21 -> "twenty-first", 100 -> "one hundredth"."""
    words = cardinal_words(n)
    cut = max(words.rfind(" "), words.rfind("-")) + 1
    head, last = words[:cut], words[cut:]
    if last in _ORDINAL_IRREGULAR:
        return head + _ORDINAL_IRREGULAR[last]
    return head + (last[:-1] + "ieth" if last.endswith("y") else last + "th")


def is_bleeped(interpret_as: str) -> bool:
    """True for the forms that are covered by a tone, never spoken: ``expletive`` (Google, Polly,
    Alexa) and ``bleep`` (Google). :func:`expand` returns ``""`` for them."""
    return interpret_as.strip().lower() in _BLEEPED


def _parse_number(s: str) -> tuple[str, str, str | None] | None:
    """Split "-1,234.5" into (sign, whole digits, fraction digits or None)."""
    sign = ""
    if s and s[0] in "+-\u2212":
        sign, s = ("+" if s[0] == "+" else "-"), s[1:]
    whole, dot, frac = s.partition(".")
    if (dot and not _is_digits(frac)) or not (whole or dot):
        return None
    if "," in whole:
        groups = whole.split(",")
        if not 1 <= len(groups[0]) <= 3 or any(len(g) != 3 for g in groups[1:]):
            return None
        whole = "".join(groups)
    if whole and not _is_digits(whole):
        return None
    return sign, whole, (frac if dot else None)


def _number_words(sign: str, whole: str, frac: str | None) -> str:
    if whole and int(whole) >= _LIMIT:
        raise _Unreadable("a number", "too large")
    words = [{"-": "minus", "+": "plus"}.get(sign, "")]
    words.append(cardinal_words(int(whole)) if whole else "")
    if frac is not None:
        words += ["point"] + [_ONES[int(d)] for d in frac]
    return " ".join(w for w in words if w)


def _char_word(ch: str, what: str) -> str:
    if ch.isdecimal():
        return _ONES[unicodedata.decimal(ch)]
    if ch.isalpha():
        return ch.upper() if len(ch.upper()) == 1 else ch
    name = _SYMBOLS.get(ch) or unicodedata.name(ch, "").lower()
    if not name:
        raise _Unreadable(what, f"unnamed character {ch!r}")
    return name


def _unsupported_format(kind: str, fmt: str, supported: str) -> ValueError:
    return ValueError(f'say-as interpret-as="{kind}": unsupported format {fmt!r} (supported: {supported})')


def _cardinal(text: str, fmt: str | None, detail: str | None) -> str:
    parsed = _parse_number(text)
    if parsed is None:
        raise _Unreadable("a number")
    return _number_words(*parsed)


def _ordinal(text: str, fmt: str | None, detail: str | None) -> str:
    body = text[:-2] if text[-2:].lower() in _ORDINAL_SUFFIXES else text
    parsed = _parse_number(body)
    if parsed is None or not parsed[1] or parsed[2] is not None or int(parsed[1]) >= _LIMIT:
        raise _Unreadable("an ordinal")
    sign = {"-": "minus ", "+": "plus "}.get(parsed[0], "")
    return sign + ordinal_words(int(parsed[1]))


def _characters(text: str, fmt: str | None, detail: str | None) -> str:
    """Letter by letter; Azure's ``format="casesensitive"`` says "capital" before a capital."""
    capitals = (fmt or "").lower() == "casesensitive"
    words = []
    for ch in text:
        if not ch.isspace():
            word = _char_word(ch, "characters")
            words.append(f"capital {word}" if capitals and ch.isupper() else word)
    return " ".join(words)


def _alphanumeric(text: str, fmt: str | None, detail: str | None) -> str:
    """Azure: spelled out, a pause (a comma) where the text has a dash or a space."""
    groups = [g for g in re.split(r"[\s-]+", text) if g]
    if not groups:
        raise _Unreadable("letters and digits")
    return ", ".join(_characters(group, None, None) for group in groups)


def _digits(text: str, fmt: str | None, detail: str | None) -> str:
    words = [_char_word(ch, "digits") for ch in text if not (ch.isspace() or ch in _GROUPING)]
    if not words:
        raise _Unreadable("digits")
    return " ".join(words)


def _split_extension(text: str) -> tuple[str, str]:
    """ "555-0100 ext. 12" -> ("555-0100", "12"); no extension -> (text, "")."""
    low = text.lower()
    for marker in ("extension", "ext.", "ext", "x"):
        at = low.rfind(marker)
        head, tail = text[:at].strip(), text[at + len(marker) :].strip()
        if at > 0 and _is_digits(tail) and any(c in _DIGITS for c in head):
            return head, tail
    return text, ""


def _country_code(fmt: str | None) -> str:
    """Azure and the W3C note: ``format`` is the country code ("1", "+44")."""
    if not fmt:
        return ""
    code = fmt.strip().removeprefix("+")
    if not (_is_digits(code) and len(code) <= 3):
        raise _unsupported_format("telephone", fmt, "a country code such as 1 or 44")
    return code


def _telephone(text: str, fmt: str | None, detail: str | None) -> str:
    country = _country_code(fmt)
    number, extension = _split_extension(text)
    if not any(c in _DIGITS for c in number):
        raise _Unreadable("a telephone number")
    groups: list[list[str]] = [[]]
    for ch in number:
        if ch.isspace() or ch in _GROUPING:
            if groups[-1]:
                groups.append([])
        else:
            groups[-1].append(_char_word(ch, "a telephone number"))
    lead = ""
    plain = all(c in _DIGITS or c.isspace() or c in _GROUPING for c in number)
    if country == "1" and plain and not number.startswith("+"):  # North American numbering
        flat = [_ONES[int(c)] for c in number if c in _DIGITS]
        if len(flat) == 11 and flat[0] == "one":
            lead, flat = "one, ", flat[1:]
        if len(flat) == 10:
            lead, groups = lead + "area code ", [flat[:3], flat[3:6], flat[6:]]
        elif len(flat) == 7:
            groups = [flat[:3], flat[3:]]
    spoken = lead + ", ".join(" ".join(group) for group in groups if group)
    if extension:
        spoken += ", extension " + " ".join(_ONES[int(d)] for d in extension)
    return spoken


def _month_number(part: str) -> int | None:
    if _is_digits(part):
        return int(part)
    low = part.lower()  # a full name or an abbreviation of three letters or more
    named = (n for n, name in enumerate(_MONTHS, 1) if name.lower().startswith(low))
    return next(named, None) if len(low) >= 3 else None


def _infer_date_format(parts: list[str]) -> str:
    four = [len(p) == 4 and _is_digits(p) for p in parts]
    named = [not _is_digits(p) and _month_number(p) is not None for p in parts]
    if len(parts) == 3:
        return "dmy" if named[1] else "ymd" if four[0] else "mdy"
    if len(parts) == 2:
        return "ym" if four[0] else "my" if four[1] else "dm" if named[1] else "md"
    return "m" if parts and named[0] else "y"


def _date_format(fmt: str) -> tuple[str, tuple[int, ...]]:
    """The field order and widths of a date format: Polly's and Azure's letters ("mdy" ->
    ("mdy", (2, 2, 4))) or Google's runs ("yyyymmdd" -> ("ymd", (4, 2, 2)), "dd-mm-yy")."""
    letters = [c for c in fmt.lower() if c not in "-/.,: "]
    runs = [(key, len(list(run))) for key, run in itertools.groupby(letters)]
    keys = [key for key, _ in runs]
    if not runs or any(key not in _DATE_WIDTHS for key in keys) or len(set(keys)) != len(keys):
        raise _unsupported_format(
            "date", fmt, "mdy, dmy, ymd, ydm, md, dm, ym, my, y, m, d, or Google's yyyymmdd, mmdd, ..."
        )
    return "".join(keys), tuple(n if n > 1 else _DATE_WIDTHS[key] for key, n in runs)


def _split_compact(part: str, widths: tuple[int, ...]) -> list[str] | None:
    """ "20240922" with widths (4, 2, 2) -> ["2024", "09", "22"] ("?" stands for an unknown digit)."""
    if len(part) != sum(widths) or not all(c in _DIGITS or c == "?" for c in part):
        return None
    cuts = list(itertools.accumulate(widths, initial=0))
    return [part[a:b] for a, b in itertools.pairwise(cuts)]


def year_words(digits: str) -> str:
    """A year as people say it: "1999" -> "nineteen ninety-nine", "2026" -> "twenty twenty-six",
    "2005" -> "two thousand five", "1900" -> "nineteen hundred", "05" -> "oh five".

    ``digits`` is a string of ASCII digits (a ``ValueError`` otherwise)."""
    if not _is_digits(digits):
        raise _Unreadable("a year")
    year = int(digits)
    if len(digits) == 2 and digits[0] == "0":
        return "oh " + _ONES[year]
    high, low = divmod(year, 100)
    if not 1000 <= year <= 9999 or (high % 10 == 0 and low < 10):
        return cardinal_words(year)
    if low == 0:
        return f"{cardinal_words(high)} hundred"
    return f"{cardinal_words(high)} {'oh ' + _ONES[low] if low < 10 else cardinal_words(low)}"


def _read_date(parts: list[str], order: str) -> tuple[str | None, int | None, int | None] | None:
    """Return (year digits, month, day), each None when absent or written as "?" (Polly's
    unknown parts: "????0922"); None if unreadable."""
    if len(parts) != len(order):
        return None
    fields = {key: (None if set(part) == {"?"} else part) for key, part in zip(order, parts)}
    year, month_text, day_text = fields.get("y"), fields.get("m"), fields.get("d")
    if year is not None and (not _is_digits(year) or int(year) >= _LIMIT):
        return None
    month = None
    if month_text is not None:
        month = _month_number(month_text)
        if not 1 <= (month or 0) <= 12:
            return None
    day = None
    if day_text is not None:
        text = day_text[:-2] if day_text[-2:].lower() in _ORDINAL_SUFFIXES else day_text
        leap = year is None or calendar.isleap(int(year))
        limit = calendar.monthrange(2000 if leap else 2001, month)[1] if month else 31
        if not _is_digits(text) or not 1 <= int(text) <= limit:
            return None
        day = int(text)
    if year is None and month is None and day is None:
        return None
    return year, month, day


def _date(text: str, fmt: str | None, detail: str | None) -> str:
    parts = text.translate(_DATE_SEPARATORS).split()
    if fmt:
        order, widths = _date_format(fmt)
    elif len(parts) == 1 and "?" in parts[0]:  # Polly: "????0922" needs no format
        order, widths = "ymd", (4, 2, 2)
    else:
        order, widths = _infer_date_format(parts), ()
    if len(parts) == 1 and len(order) > 1:  # written without separators: cut by the widths
        parts = _split_compact(parts[0], widths) or parts
    read = _read_date(parts, order)
    if read is None:
        raise _Unreadable("a date", f"format {fmt.lower() if fmt else order}")
    year, month, day = read
    if detail == "1" and month and day:  # Google: "the tenth of September, nineteen sixty"
        words = f"the {ordinal_words(day)} of {_MONTHS[month - 1]}"
        return words + (f", {year_words(year)}" if year is not None else "")
    words = _MONTHS[month - 1] if month else ""
    if day:
        words = f"{words} {ordinal_words(day)}" if month else f"the {ordinal_words(day)}"
    if year is not None:
        words = f"{words}{',' if day else ''} {year_words(year)}".strip()
    return words


def _duration_words(fields: list[tuple[int, str]]) -> str:
    """[(1, "hour"), (18, "minute"), (30, "second")] -> "one hour eighteen minutes and thirty
    seconds" (Azure's and Google's wording); zero fields are left out."""
    spoken = [f"{cardinal_words(n)} {unit}{'s' * (n != 1)}" for n, unit in fields if n]
    if not spoken:
        return f"zero {fields[-1][1]}s"
    return spoken[0] if len(spoken) == 1 else " ".join(spoken[:-1]) + " and " + spoken[-1]


def _minutes_seconds(text: str) -> str:
    """Polly and Alexa: 1'21" is one minute and twenty-one seconds."""
    found = _MINUTES_SECONDS.fullmatch(text.strip())
    if not found or not any(found.groups()):
        raise _Unreadable("a duration")
    minutes, seconds = found.groups()
    if (minutes and seconds and int(seconds) > 59) or max(len(g or "") for g in found.groups()) > 18:
        raise _Unreadable("a duration")
    fields = [(int(value), unit) for value, unit in ((minutes, "minute"), (seconds, "second")) if value]
    return _duration_words(fields)


def _duration_codes(fmt: str) -> list[str]:
    """Google writes "h:m:s" ("hh:mm" alike), Azure "hms", "hm", "ms" (minutes, seconds)."""
    flat = fmt.strip().lower()
    if ":" in flat:  # a repeated letter is the same field ("hh:mm")
        codes = [code if code == "ms" or len(set(code)) != 1 else code[0] for code in flat.split(":")]
    else:
        codes = list(flat)
    ranks = [list(_DURATION_UNITS).index(c) if c in _DURATION_UNITS else -1 for c in codes]
    if not codes or min(ranks) < 0 or ranks != sorted(set(ranks)):
        raise _unsupported_format("duration", fmt, "h:m:s, h:m, m:s, h, m, s, s:ms, hms, hm, ms")
    return codes


def _duration(text: str, fmt: str | None, detail: str | None) -> str:
    if any(mark in text for mark in "'\"\u2032\u2033"):
        return _minutes_seconds(text)
    fields = [f.strip() for f in text.split(":")]
    if fmt:
        codes = _duration_codes(fmt)
    else:  # Google's own example is h:m; a third field is seconds, a fourth milliseconds
        codes = ["h", "m", "s", "ms"][: len(fields)] if len(fields) >= 2 else []
    if len(codes) != len(fields) or not all(_is_digits(f) for f in fields):
        raise _Unreadable("a duration", f"format {':'.join(codes) or 'h:m'}")
    values = [int(f) for f in fields]
    tops = {"h": None, "m": 59, "s": 59, "ms": 999}
    for at, (code, field, value) in enumerate(zip(codes, fields, values)):
        top = None if at == 0 else tops[code]
        if (top is not None and (value > top or len(field) > len(str(top)))) or value >= _LIMIT:
            raise _Unreadable("a duration", f"{_DURATION_UNITS[code]}s out of range")
    return _duration_words([(value, _DURATION_UNITS[code]) for code, value in zip(codes, values)])


def _time_style(fmt: str) -> str:
    """ "12", "24" or "" (not said) from hms12, hm24 ... or Google's field codes ("hh:mm")."""
    found = _TIME_FORMAT.fullmatch(re.sub(r"[\s:.\-]", "", fmt.lower()))
    if not found:
        raise _unsupported_format(
            "time", fmt, "hms12, hms24, hm12, hm24, h12, h24, or field codes like hh:mm"
        )
    return found.group(5) or ""


def _split_zone(text: str) -> tuple[str, str]:
    """ "2:30pm EST" -> ("2:30pm", "E S T"); "14:30Z" -> ("14:30", "U T C")."""
    head, _, last = text.rpartition(" ")
    if head and _ZONE.fullmatch(last) and last not in ("AM", "PM"):
        return head.strip(), " ".join(last)
    if text.endswith("Z") and text[-2:-1].isdigit():
        return text[:-1], "U T C"
    return text, ""


def _time(text: str, fmt: str | None, detail: str | None) -> str:
    if any(mark in text for mark in "'\"\u2032\u2033"):  # Polly and Alexa: 1'21" is a duration
        return _minutes_seconds(text)
    style = _time_style(fmt) if fmt else ""
    written, zone = _split_zone(text)
    clock, meridiem = written.lower(), ""
    for suffix, spoken in _MERIDIEMS.items():
        if clock.endswith(suffix):
            clock, meridiem = clock[: -len(suffix)].strip(), spoken
            break
    fields = clock.split(":") if ":" in clock else clock.split(".")
    if (
        not 1 <= len(fields) <= 3
        or not all(_is_digits(f) for f in fields)
        or len(fields[0]) > 2
        or any(len(f) != 2 for f in fields[1:])
        or (len(fields) == 1 and not (meridiem or fmt))
    ):
        raise _Unreadable("a time")
    hour, minute, second = (int(f) for f in fields + ["0"] * (3 - len(fields)))
    twelve = bool(meridiem) or style == "12"
    if not (1 <= hour <= 12 if twelve else hour <= 23) or minute > 59 or second > 59:
        raise _Unreadable("a time", "12-hour clock" if twelve else "24-hour clock")
    # Google's detail: "1" speaks a 24-hour time, "2" a 12-hour one (when the hour of day is known)
    day_hour = (hour % 12 + 12 * (meridiem == "PM")) if meridiem else None if twelve else hour
    if detail == "1" and day_hour is not None:
        minutes = (
            "hundred" if not minute else f"oh {_ONES[minute]}" if minute < 10 else cardinal_words(minute)
        )
        hour, meridiem = day_hour, ""
    else:
        if detail == "2" and day_hour is not None and not meridiem:
            hour, meridiem = day_hour % 12 or 12, "AM" if day_hour < 12 else "PM"
        if minute:
            minutes = f"oh {_ONES[minute]}" if minute < 10 else cardinal_words(minute)
        else:
            minutes = "" if meridiem else ("o'clock" if 1 <= hour <= 12 else "hundred")
    seconds = f"and {cardinal_words(second)} second{'s' * (second != 1)}" if second else ""
    return " ".join(w for w in (cardinal_words(hour), minutes, meridiem, seconds, zone) if w)


def currency_words(amount: str, currency: str, scale: str = "") -> str:
    """Words for ``amount`` of ``currency`` (a symbol such as ``$`` or a code such as ``EUR``).

    ``("12.50", "$")`` -> "twelve dollars and fifty cents"; ``("0.99", "$")`` -> "ninety-nine
    cents"; with a ``scale`` word the amount is read as a number before it: ``("1.2", "$",
    "billion")`` -> "one point two billion dollars". Raises ``ValueError`` when the amount or
    the currency cannot be read.
    """
    names = _CURRENCIES.get(currency.strip().upper())
    parsed = _parse_number(amount.strip())
    if names is None or parsed is None:
        raise _Unreadable("an amount of money")
    sign, whole, frac = parsed
    unit, units, sub, subs = names
    if scale:
        return f"{_number_words(sign, whole, frac)} {scale} {units}"
    if frac is not None and (len(frac) > 2 or sub == "_"):
        return f"{_number_words(sign, whole, frac)} {units}"
    major, minor = int(whole or "0"), int((frac or "0").ljust(2, "0"))
    words = [f"{_number_words('', whole or '0', None)} {unit if major == 1 else units}"]
    if minor:
        cents = f"{cardinal_words(minor)} {sub if minor == 1 else subs}"
        words = words[:1] + [cents] if major else [cents]
    prefix = {"-": "minus ", "+": "plus "}.get(sign, "")
    return prefix + " and ".join(words)


def _currency(text: str, fmt: str | None, detail: str | None) -> str:
    sign, body = ("-", text[1:].lstrip()) if text[0] in "-\u2212" else ("", text)
    upper = body.upper()
    code = next((c for c in _CURRENCIES if upper.startswith(c) or upper.endswith(c)), "")
    amount = body[len(code) :] if upper.startswith(code) else body[: -len(code)]
    if not code:
        raise _Unreadable("an amount of money")
    return currency_words(sign + amount.strip(), code)


def _plain_fractions(text: str) -> str:
    """ "2½" -> "2 1/2": vulgar fraction characters and the fraction slash as ASCII."""
    out = []
    for ch in text:
        if unicodedata.decomposition(ch).startswith("<fraction>"):
            ch = " " + unicodedata.normalize("NFKC", ch)
        out.append("/" if ch == "\u2044" else ch.replace("\u2044", "/"))
    return "".join(out)


def _read_fraction(text: str) -> tuple[str, int | None, int, int]:
    """ "-1 1/2", "3+1/2" (Polly, Google), "2½" -> (sign, whole or None, numerator, denominator)."""
    body = _plain_fractions(text).strip()
    sign = "minus " if body[:1] in ("-", "\u2212") else ""
    body = body[1:].strip() if sign else body
    if "+" in body:
        whole, _, rest = (piece.strip() for piece in body.partition("+"))
    else:
        pieces = body.split()
        whole, rest = (pieces[0], pieces[1]) if len(pieces) == 2 else (None, " ".join(pieces))
    numerator, slash, denominator = rest.partition("/")
    if (
        not slash
        or not _is_digits(numerator)
        or not _is_digits(denominator)
        or int(denominator) == 0
        or (whole is not None and not _is_digits(whole))
        or max(int(numerator), int(denominator), int(whole or 0)) >= _LIMIT
    ):
        raise _Unreadable("a fraction")
    return sign, (int(whole) if whole is not None else None), int(numerator), int(denominator)


def _fraction_words(num: int, den: int) -> str:
    names = {1: ("over one", "over one"), 2: ("half", "halves"), 4: ("quarter", "quarters")}
    singular, plural = names.get(den, (ordinal_words(den), ordinal_words(den) + "s"))
    return f"{cardinal_words(num)} {singular if num == 1 else plural}"


def _fraction(text: str, fmt: str | None, detail: str | None) -> str:
    sign, whole, num, den = _read_fraction(text)
    return sign + _mixed_words(whole, num, den)


def _mixed_words(whole: int | None, num: int, den: int) -> str:
    """A fraction, after its whole part if any: a mixed number says "a" ("five and a half",
    "two and a quarter")."""
    spoken = _fraction_words(num, den)
    if whole is None:
        return spoken
    return f"{cardinal_words(whole)} and {'a' + spoken[3:] if num == 1 and den > 1 else spoken}"


def _unit_name(unit: str) -> str | None:
    """The singular name of a unit written as a symbol or a word: "ft" -> "foot", "feet" ->
    "foot", "km²" -> "square kilometer", "sq ft" -> "square foot"; None if unknown."""
    unit = " ".join(unit.split())
    for candidate in (unit, unit.rstrip(".")):
        if candidate in _UNIT_SYMBOLS:
            return _UNIT_SYMBOLS[candidate]
        if candidate.lower() in _UNIT_WORDS:
            return _UNIT_WORDS[candidate.lower()]
    for mark, power in _POWERS:
        if unit.endswith(mark) and len(unit) > len(mark):
            base = _unit_name(unit[: -len(mark)])
            if base and " " not in base:
                return f"{power} {base}"
    first, _, rest = unit.partition(" ")
    power = _POWER_WORDS.get(first.lower().rstrip("."))
    base = _unit_name(rest) if power and rest else None
    return f"{power} {base}" if base and " " not in base else None


def _unit_phrase(unit: str, plural: bool) -> str | None:
    """ "km/h" -> "kilometers per hour" (plural) or "kilometer per hour"; None if unknown."""
    name = _unit_name(unit)
    if name:
        return _unit_plural(name) if plural else name
    for joiner in ("/", " per "):
        head, found, tail = unit.partition(joiner)
        first, second = _unit_name(head), _unit_name(tail)
        if found and first and second:
            return f"{_unit_plural(first) if plural else first} per {second}"
    return None


def _unit(text: str, fmt: str | None, detail: str | None) -> str:
    """A measurement (Google, Polly, Alexa, Azure): "10 foot" -> "ten feet", "1/2inch" -> "one
    half of an inch", "3 km/h" -> "three kilometers per hour"; a unit alone is read plural."""
    amount = _AMOUNT.match(text)
    if amount is None:  # "just a unit" (Polly)
        phrase = _unit_phrase(text, plural=True)
        if phrase is None:
            raise _Unreadable("a measurement", "unknown unit")
        return phrase
    sign, number = amount.groups()
    rest = text[amount.end() :].strip()
    if "/" in number:
        sign_word, whole, num, den = _read_fraction(sign + number)
        words = sign_word + _mixed_words(whole, num, den)
        phrase = _unit_phrase(rest, plural=whole is not None)
        if phrase and whole is None:  # "one half of an inch", "three quarters of a mile"
            article = "an" if phrase[0] in "aeiou" or phrase.startswith("hour") else "a"
            phrase = f"of {article} {phrase}"
    else:
        parsed = _parse_number(sign + number)
        if parsed is None:
            raise _Unreadable("a measurement", "unreadable number")
        words = _number_words(*parsed)
        phrase = _unit_phrase(rest, plural=not (parsed[1].lstrip("0") == "1" and parsed[2] is None))
    if phrase is None:
        raise _Unreadable("a measurement", "unknown unit" if rest else "no unit")
    return f"{words} {phrase}"


def _address_word(tokens: list[str], at: int, segment_start: bool) -> str:
    token = tokens[at]
    bare = token.rstrip(".")
    key = bare.lower()
    following = tokens[at + 1] if at + 1 < len(tokens) else ""
    named_next = following[:1].isupper() and following.rstrip(".") not in _DIRECTIONS
    named_next = named_next and following.rstrip(".").lower() not in _STREET_WORDS
    if key in ("st", "dr") and (segment_start or named_next):  # "St. Louis", "Dr Martin Luther King"
        return "Saint" if key == "st" else "Doctor"
    if key in _STREET_WORDS and bare[:1].isupper():
        return _STREET_WORDS[key]
    if bare in _DIRECTIONS and at > 0:  # "Main St N": not a lone "N" starting a segment
        return _DIRECTIONS[bare]
    if token.startswith("#") and token[1:].isalnum():  # "Apt #5"
        return "number " + token[1:]
    return token


def _address(text: str, fmt: str | None, detail: str | None) -> str:
    """A postal address (Polly, Azure) read as written, its abbreviations expanded: "150th CT
    NE, Redmond, WA" -> "150th Court Northeast, Redmond, Washington"; a ZIP code digit by digit."""
    if not any(ch.isalnum() for ch in text):
        raise _Unreadable("an address")
    segments = []
    for segment in (s.split() for s in text.split(",")):
        if not segment:
            continue
        if segment[0] in _STATES and (
            len(segment) == 1 or (len(segment) == 2 and _ZIP.fullmatch(segment[1]))
        ):
            segment = [_STATES[segment[0]], *segment[1:]]  # "WA", "OR 97201": the state's name
        words = []
        for at, token in enumerate(segment):
            if _ZIP.fullmatch(token) and at == len(segment) - 1 and (at > 0 or segments):
                words.append(", ".join(_digits(part, None, None) for part in token.split("-")))
            else:
                words.append(_address_word(segment, at, at == 0))
        segments.append(" ".join(words))
    return ", ".join(segments)


def _as_written(what: str) -> Callable[[str, str | None, str | None], str]:
    """Azure's ``name`` and Alexa's ``interjection``: the text itself (it must hold a letter)."""

    def read(text: str, fmt: str | None, detail: str | None) -> str:
        if not any(ch.isalpha() for ch in text):
            raise _Unreadable(what, "no letters")
        return text

    return read


def _bleep(text: str, fmt: str | None, detail: str | None) -> str:
    """Never spoken (see :func:`is_bleeped`)."""
    return ""


_READERS: dict[str, Callable[[str, str | None, str | None], str]] = {
    "cardinal": _cardinal,
    "number": _cardinal,
    "ordinal": _ordinal,
    "characters": _characters,
    "character": _characters,  # Polly's older spelling
    "spell-out": _characters,
    "verbatim": _characters,
    "alphanumeric": _alphanumeric,  # Azure
    "digits": _digits,
    "number_digit": _digits,  # Azure
    "telephone": _telephone,
    "date": _date,
    "time": _time,
    "duration": _duration,  # Google, Azure
    "currency": _currency,
    "fraction": _fraction,
    "unit": _unit,  # Google, Polly, Alexa, Azure
    "address": _address,  # Polly, Alexa, Azure
    "name": _as_written("a name"),  # Azure
    "interjection": _as_written("an interjection"),  # Alexa
    "expletive": _bleep,
    "bleep": _bleep,
}
SUPPORTED: frozenset[str] = frozenset(_READERS)
#: Every ``interpret-as`` value :func:`expand` reads (the coverage table lists them).
SAYAS_FORMS: frozenset[str] = SUPPORTED


def expand(text: str, interpret_as: str, format: str | None = None, detail: str | None = None) -> str:
    """Return the words to speak for `text` read as `interpret_as` (English).

    Raises ValueError for an unsupported `interpret_as` or `format`, or for text that
    cannot be read as that type.  Whitespace-only text gives "", and so does an expletive
    (:func:`is_bleeped`): its word is never spoken.
    """
    kind = interpret_as.strip().lower()
    reader = _READERS.get(kind)
    if reader is None:
        raise ValueError(
            f"unsupported say-as interpret-as={interpret_as!r}; supported: {', '.join(sorted(SUPPORTED))}"
        )
    body = text.strip()
    if not body:
        return ""
    try:
        return reader(body, (format or "").strip() or None, (detail or "").strip() or None)
    except _Unreadable as exc:
        note = f" ({exc.note})" if exc.note else ""
        raise ValueError(f'say-as interpret-as="{kind}": cannot read {text!r} as {exc.what}{note}') from None
