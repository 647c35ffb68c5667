"""Reading SSML attribute values: prosody, break times, emphasis levels.

Each function takes the attribute text and returns a number in the emotion
space's units, or raises ``ValueError`` naming the value and what is accepted.
"""

from __future__ import annotations

import math
import re

from emotts_plugin.emotion import TARGET_BOUNDS

#: F0 used to turn relative Hz values into semitones (a mid-range speaking voice).
REFERENCE_HZ = 120.0
#: Nominal F0 range in semitones; "+Nst" on `range` widens it by N of these.
NOMINAL_RANGE_ST = 6.0

_PITCH_WORDS = {"x-low": -4.0, "low": -2.0, "medium": 0.0, "default": 0.0, "high": 2.0, "x-high": 4.0}
_RANGE_WORDS = {"x-low": 0.5, "low": 0.75, "medium": 1.0, "default": 1.0, "high": 1.33, "x-high": 1.67}
_RATE_WORDS = {"x-slow": 0.6, "slow": 0.8, "medium": 1.0, "default": 1.0, "fast": 1.25, "x-fast": 1.6}
_VOLUME_WORDS = {
    "silent": -60.0,
    "x-soft": -12.0,
    "soft": -6.0,
    "medium": 0.0,
    "default": 0.0,
    "loud": 6.0,
    "x-loud": 12.0,
}
BREAK_STRENGTHS = {"none": 0, "x-weak": 100, "weak": 250, "medium": 400, "strong": 750, "x-strong": 1200}
#: Longest single break honoured, in milliseconds.
MAX_BREAK_MS = 10_000

_RELATIVE = re.compile(
    r"^(?P<sign>[+-]?)(?P<num>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>st|%|hz|db)?$", re.IGNORECASE
)


def _relative(value: str) -> tuple[str, float, str]:
    match = _RELATIVE.match(value.strip())
    if match is None:
        raise ValueError
    number = float(match["num"]) * (-1.0 if match["sign"] == "-" else 1.0)
    return match["sign"], number, (match["unit"] or "").lower()


def _within(attribute: str, field: str, value: str, number: float, unit: str) -> float:
    """``number`` when it lies within the bounds of ``field`` (:data:`TARGET_BOUNDS`), else a
    ``ValueError`` naming the attribute, its text and the bounds."""
    low, high = TARGET_BOUNDS[field]
    if not low <= number <= high:
        raise ValueError(
            f"{attribute} {value[:40]!r} gives {number:+.4g}{unit}; allowed {low:+g}{unit} to {high:+g}{unit}"
        )
    return number


def pitch_semitones(value: str) -> float:
    """``pitch`` → semitone shift within ±24 st; see :func:`_pitch_semitones`."""
    return _within("pitch", "pitch_st", value, _pitch_semitones(value), " st")


def _pitch_semitones(value: str) -> float:
    """``pitch`` → semitone shift: ``+2st``, ``-10%``, ``+20Hz``, or x-low … x-high."""
    word = value.strip().lower()
    if word in _PITCH_WORDS:
        return _PITCH_WORDS[word]
    try:
        sign, number, unit = _relative(word)
    except ValueError:
        raise ValueError(
            f"pitch {value!r}: use +Nst, ±N%, ±NHz or one of {', '.join(_PITCH_WORDS)}"
        ) from None
    if unit == "st":
        return number
    if unit == "%":
        return _percent_to_st(number, value)
    if unit == "hz" and sign:
        return _hz_to_st(number, value)
    if unit == "hz" and number > 0:  # an absolute pitch: the change from the reference voice's 120 Hz
        return 12.0 * math.log2(number / REFERENCE_HZ)
    raise ValueError(f"pitch {value!r}: a number needs a unit (+2st, +10%, +20Hz or an absolute 200Hz)")


def range_factor(value: str) -> float:
    """``range`` → factor on F0 excursions: ``+20%``, ``+2st``, or x-low … x-high."""
    word = value.strip().lower()
    if word in _RANGE_WORDS:
        return _RANGE_WORDS[word]
    try:
        sign, number, unit = _relative(word)
    except ValueError:
        raise ValueError(f"range {value!r}: use ±N%, ±Nst or one of {', '.join(_RANGE_WORDS)}") from None
    if unit == "%" and sign:
        factor = 1.0 + number / 100.0
    elif unit == "st" and sign:
        factor = (NOMINAL_RANGE_ST + number) / NOMINAL_RANGE_ST
    else:
        raise ValueError(f"range {value!r}: give a change such as +20% or -2st")
    if factor <= 0:
        raise ValueError(f"range {value!r} would remove all pitch movement; use a smaller reduction")
    low, high = TARGET_BOUNDS["range"]
    if not low <= factor <= high:
        raise ValueError(f"range {value!r} gives ×{factor:.4g}; allowed ×{low:g} to ×{high:g}")
    return factor


def rate_factor(value: str) -> float:
    """``rate`` → speaking-rate factor: ``150%``, ``+10%``, ``1.2``, or x-slow … x-fast."""
    word = value.strip().lower()
    if word in _RATE_WORDS:
        return _RATE_WORDS[word]
    try:
        sign, number, unit = _relative(word)
    except ValueError:
        raise ValueError(
            f"rate {value!r}: use N%, ±N%, a multiplier like 1.2, or one of {', '.join(_RATE_WORDS)}"
        ) from None
    if unit == "%":
        factor = 1.0 + number / 100.0 if sign else number / 100.0
    elif unit == "":
        factor = 1.0 + number if sign else number
    else:
        raise ValueError(f"rate {value!r}: unit {unit!r} does not apply to rate")
    if not 0.25 <= factor <= 4.0:
        raise ValueError(f"rate {value!r} gives ×{factor:g}; allowed ×0.25 to ×4")
    return factor


def volume_db(value: str) -> float:
    """``volume`` → dB change within -60..+24 dB; see :func:`_volume_db`."""
    return _within("volume", "volume_db", value, _volume_db(value), " dB")


def _volume_db(value: str) -> float:
    """``volume`` → dB change: ``+6dB``, ``-20%``, ``50`` (0..100), or silent … x-loud."""
    word = value.strip().lower()
    if word in _VOLUME_WORDS:
        return _VOLUME_WORDS[word]
    try:
        sign, number, unit = _relative(word)
    except ValueError:
        raise ValueError(
            f"volume {value!r}: use ±NdB, ±N%, 0..100 or one of {', '.join(_VOLUME_WORDS)}"
        ) from None
    if unit == "db":
        return number
    if unit == "%" and sign:
        if number <= -100:
            return -60.0
        return 20.0 * math.log10(1.0 + number / 100.0)
    if unit == "" and not sign and number <= 100:
        return -60.0 if number == 0 else 20.0 * math.log10(number / 100.0)
    raise ValueError(f"volume {value!r}: use ±NdB, ±N%, 0..100 or a keyword")


def contour_semitones(value: str) -> float:
    """``contour`` ``"(0%,+20Hz) (90%,-10%)"`` → final movement: last target minus first, in st."""
    points = re.findall(r"\(\s*([^,()]+?)\s*,\s*([^,()]+?)\s*\)", value)
    if len(points) < 1:
        raise ValueError(
            f"contour {value!r}: expected (position%,target) pairs such as (0%,+0st) (100%,-2st)"
        )
    targets = []
    for position, target in points:
        if not position.strip().endswith("%"):
            raise ValueError(f"contour {value!r}: position {position!r} must be a percentage")
        targets.append(pitch_semitones(target))
    movement = targets[-1] - targets[0] if len(targets) > 1 else targets[0]
    # the contour is rendered as its final movement: held within the bounds (a vendor's "(60%,-60%)
    # (100%,+80%)" moves 26 st)
    low, high = TARGET_BOUNDS["contour"]
    return min(high, max(low, movement))


def break_ms(time: str | None, strength: str | None) -> int:
    """``<break time strength>`` → milliseconds (no attributes: medium)."""
    if time is not None:
        match = re.match(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s)?\s*$", time, re.IGNORECASE)
        if match is None:
            raise ValueError(f"break time {time!r}: use a duration such as 300ms or 1.5s")
        ms = float(match[1]) * (1000.0 if (match[2] or "ms").lower() == "s" else 1.0)
        if ms > MAX_BREAK_MS:
            raise ValueError(f"break time {time!r} is longer than the {MAX_BREAK_MS} ms allowed")
        return int(round(ms))
    if strength is not None:
        key = strength.strip().lower()
        if key not in BREAK_STRENGTHS:
            raise ValueError(f"break strength {strength!r}: use one of {', '.join(BREAK_STRENGTHS)}")
        return BREAK_STRENGTHS[key]
    return BREAK_STRENGTHS["medium"]


def _percent_to_st(number: float, value: str) -> float:
    if number <= -100:
        raise ValueError(f"{value!r}: a change of -100% or less leaves no pitch")
    return 12.0 * math.log2(1.0 + number / 100.0)


def _hz_to_st(number: float, value: str) -> float:
    if REFERENCE_HZ + number <= 0:
        raise ValueError(f"{value!r} lowers pitch below 0 Hz")
    return 12.0 * math.log2((REFERENCE_HZ + number) / REFERENCE_HZ)


#: ``<prosody>`` attribute → (emotion-vector field, reader).
ATTRIBUTES = {
    "pitch": ("pitch_st", pitch_semitones),
    "range": ("range", range_factor),
    "rate": ("rate", rate_factor),
    "volume": ("volume_db", volume_db),
    "contour": ("contour", contour_semitones),
}
