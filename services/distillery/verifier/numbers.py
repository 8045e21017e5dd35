"""Reading a number out of the way people and models write one: ``$1,200``, ``45%``, ``3/4``, ``1.5k``."""

from __future__ import annotations

import re
from fractions import Fraction

# A signed number with optional thousands separators, decimals, or a simple fraction.
NUMBER_PATTERN = r"[-−]?\s?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:\s?/\s?\d+(?:\.\d+)?)?|[-−]?\.\d+"
_NUMBER_RE = re.compile(NUMBER_PATTERN)
_FULL_RE = re.compile(rf"^\s*[$€£¥]?\s*({NUMBER_PATTERN})\s*(%|percent)?\s*$")


def to_float(token: str) -> float | None:
    """``"1,200"`` -> 1200.0, ``"3/4"`` -> 0.75, ``"−5"`` -> -5.0; ``None`` when not a number."""
    token = token.replace(",", "").replace("−", "-").replace(" ", "")
    try:
        if "/" in token:
            numerator, denominator = token.split("/", 1)
            if float(denominator) == 0:
                return None
            return float(Fraction(numerator) / Fraction(denominator))
        return float(token)
    except (ValueError, ZeroDivisionError, OverflowError):
        return None


def number_or_none(text: str) -> float | None:
    """The value of a string that is one number, possibly with currency or a percent sign; ``None``
    when it is not one."""
    match = _FULL_RE.match(text)
    if not match:
        return None
    value = to_float(match.group(1))
    if value is not None and match.group(2):
        value /= 100
    return value


def numbers_in(text: str) -> list[str]:
    """Every number token in ``text``, in order."""
    return [m.group(0) for m in _NUMBER_RE.finditer(text)]
