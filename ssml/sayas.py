"""English text normalisation for SSML ``<say-as>``.

:func:`expand` turns the text content of a ``<say-as interpret-as="...">``
element into plain English words that a voice can read aloud, e.g.
``expand("2024-03-05", "date")`` gives ``"March fifth, twenty twenty-four"``.

Every type reads its whole input or raises :class:`ValueError`; text is never
silently dropped.  Dates are always spoken month first ("March fifth, ..."),
whatever the order of the written parts.  The ``detail`` attribute is accepted
for SSML compatibility and currently changes nothing.
"""

from __future__ import annotations

import calendar
import operator
import unicodedata
from typing import Callable

__all__ = ["SUPPORTED", "cardinal_words", "currency_words", "expand", "ordinal_words", "year_words"]

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
_DATE_FORMATS = ("mdy", "dmy", "ymd", "md", "dm", "ym", "my", "y", "m", "d")
_TIME_FORMATS = ("hms12", "hms24", "hm12", "hm24", "h12", "h24")
#: espeak says "AM" as two letters ("a m" would be the article "uh" and "em").
_MERIDIEMS = {"a.m.": "AM", "p.m.": "PM", "a.m": "AM", "p.m": "PM", "am": "AM", "pm": "PM"}
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
_MONEY = {
    ("$", "USD"): "dollar dollars cent cents",
    ("€", "EUR"): "euro euros cent cents",
    ("£", "GBP"): "pound pounds penny pence",
    ("¥", "JPY"): "yen yen _ _",
    ("₹", "INR"): "rupee rupees paisa paise",
}
_CURRENCIES = {code: names.split() for codes, names in _MONEY.items() for code in codes}


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


def _cardinal(text: str, fmt: str | None) -> str:
    parsed = _parse_number(text)
    if parsed is None:
        raise _Unreadable("a number")
    return _number_words(*parsed)


def _ordinal(text: str, fmt: str | None) -> str:
    body = text[:-2] if text[-2:].lower() in _ORDINAL_SUFFIXES else text
    parsed = _parse_number(body)
    if parsed is None or not parsed[1] or parsed[2] is not None or int(parsed[1]) >= _LIMIT:
        raise _Unreadable("an ordinal")
    sign = {"-": "minus ", "+": "plus "}.get(parsed[0], "")
    return sign + ordinal_words(int(parsed[1]))


def _characters(text: str, fmt: str | None) -> str:
    return " ".join(_char_word(ch, "characters") for ch in text if not ch.isspace())


def _digits(text: str, fmt: str | None) -> str:
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


def _telephone(text: str, fmt: str | None) -> str:
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
    spoken = ", ".join(" ".join(group) for group in groups if group)
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
    """Return (year digits, month, day), each None when absent; None if unreadable."""
    if len(parts) != len(order):
        return None
    fields = dict(zip(order, parts))
    year = fields.get("y")
    month = _month_number(fields["m"]) if "m" in fields else None
    if year is not None and not _is_digits(year):
        return None
    if "m" in fields and not 1 <= (month or 0) <= 12:
        return None
    day = None
    if "d" in fields:
        text = fields["d"]
        text = text[:-2] if text[-2:].lower() in _ORDINAL_SUFFIXES else text
        leap = year is None or calendar.isleap(int(year))
        limit = calendar.monthrange(2000 if leap else 2001, month)[1] if month else 31
        if not _is_digits(text) or not 1 <= int(text) <= limit:
            return None
        day = int(text)
    return year, month, day


def _date(text: str, fmt: str | None) -> str:
    parts = text.replace(",", " ").replace("-", " ").replace("/", " ").replace(".", " ").split()
    order = fmt.lower() if fmt else _infer_date_format(parts)
    if order not in _DATE_FORMATS:
        raise ValueError(
            f'say-as interpret-as="date": unsupported format {fmt!r} (supported: {", ".join(_DATE_FORMATS)})'
        )
    read = _read_date(parts, order)
    if read is None:
        raise _Unreadable("a date", f"format {order}")
    year, month, day = read
    words = _MONTHS[month - 1] if month else ""
    if day:
        words = f"{words} {ordinal_words(day)}" if month else f"the {ordinal_words(day)}"
    if year is not None:
        words = f"{words}{',' if day else ''} {year_words(year)}".strip()
    return words


def _time(text: str, fmt: str | None) -> str:
    style = fmt.lower() if fmt else ""
    if style and style not in _TIME_FORMATS:
        raise ValueError(
            f'say-as interpret-as="time": unsupported format {fmt!r} (supported: {", ".join(_TIME_FORMATS)})'
        )
    clock, meridiem = text.lower(), ""
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
        or (len(fields) == 1 and not (meridiem or style))
    ):
        raise _Unreadable("a time")
    hour, minute, second = (int(f) for f in fields + ["0"] * (3 - len(fields)))
    twelve = bool(meridiem) or style.endswith("12")
    if not (1 <= hour <= 12 if twelve else hour <= 23) or minute > 59 or second > 59:
        raise _Unreadable("a time", "12-hour clock" if twelve else "24-hour clock")
    if minute:
        minutes = f"oh {_ONES[minute]}" if minute < 10 else cardinal_words(minute)
    else:
        minutes = "" if meridiem else ("o'clock" if 1 <= hour <= 12 else "hundred")
    seconds = f"and {cardinal_words(second)} second{'s' * (second != 1)}" if second else ""
    return " ".join(w for w in (cardinal_words(hour), minutes, meridiem, seconds) if w)


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


def _currency(text: str, fmt: str | None) -> str:
    sign, body = ("-", text[1:].lstrip()) if text[0] in "-\u2212" else ("", text)
    upper = body.upper()
    code = next((c for c in _CURRENCIES if upper.startswith(c) or upper.endswith(c)), "")
    amount = body[len(code) :] if upper.startswith(code) else body[: -len(code)]
    if not code:
        raise _Unreadable("an amount of money")
    return currency_words(sign + amount.strip(), code)


def _fraction(text: str, fmt: str | None) -> str:
    sign, body = ("minus ", text[1:]) if text[0] in "-\u2212" else ("", text)
    pieces = body.split()
    whole = pieces[0] if len(pieces) == 2 else None
    numerator, slash, denominator = pieces[-1].partition("/") if pieces else ("", "", "")
    if (
        len(pieces) > 2
        or not slash
        or not _is_digits(numerator)
        or not _is_digits(denominator)
        or int(denominator) == 0
        or (whole is not None and not _is_digits(whole))
    ):
        raise _Unreadable("a fraction")
    num, den = int(numerator), int(denominator)
    names = {1: ("over one", "over one"), 2: ("half", "halves"), 4: ("quarter", "quarters")}
    singular, plural = names.get(den, (ordinal_words(den), ordinal_words(den) + "s"))
    spoken = f"{cardinal_words(num)} {singular if num == 1 else plural}"
    if whole is not None:
        spoken = f"{cardinal_words(int(whole))} and {spoken}"
    return sign + spoken


_READERS: dict[str, Callable[[str, str | None], str]] = {
    "cardinal": _cardinal,
    "number": _cardinal,
    "ordinal": _ordinal,
    "characters": _characters,
    "spell-out": _characters,
    "verbatim": _characters,
    "digits": _digits,
    "telephone": _telephone,
    "date": _date,
    "time": _time,
    "currency": _currency,
    "fraction": _fraction,
}
SUPPORTED: frozenset[str] = frozenset(_READERS)


def expand(text: str, interpret_as: str, format: str | None = None, detail: str | None = None) -> str:
    """Return the words to speak for `text` read as `interpret_as` (English).

    Raises ValueError for an unsupported `interpret_as` or for text that
    cannot be read as that type.  Whitespace-only text gives "".
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
        return reader(body, (format or "").strip() or None)
    except _Unreadable as exc:
        note = f" ({exc.note})" if exc.note else ""
        raise ValueError(f'say-as interpret-as="{kind}": cannot read {text!r} as {exc.what}{note}') from None
