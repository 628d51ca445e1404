"""Bounds on the numbers users type (config files, `martingale plan` options).

Decimal accepts ``1e999999999`` and a 5,000-digit number as easily as ``0.1``, and Python ints
refuse more than 4,300 digits with a ValueError; the ladder math then overflows, fails deep in
the code, or spends minutes formatting a billion zeros. No price, amount, percentage or count
this service handles needs more than a few dozen digits, so anything beyond these bounds is
refused up front with the field's name, before any arithmetic sees it.
"""

from __future__ import annotations

from decimal import Decimal

# What the database can store (DECIMAL(36,18)): 36 digits, below 1e18, down to 1e-18.
MAX_DIGITS = 36  # significant digits
MIN_EXPONENT = -18  # 1e-18 <= |value| ...
MAX_EXPONENT = 17  # ... < 1e18, or zero
MAX_TEXT = 100  # a number written with more characters than this is not read at all


def number_problem(value: Decimal) -> str | None:
    """Why `value` is too big, too small or too long for a setting; None when it is fine."""
    if not value.is_finite() or value.is_zero():
        return None
    digits = value.as_tuple().digits
    significant = len(digits)
    while significant > 1 and digits[significant - 1] == 0:  # 1.50000 has two
        significant -= 1
    if significant > MAX_DIGITS:
        return f"has more than {MAX_DIGITS} significant digits"
    if not MIN_EXPONENT <= value.adjusted() <= MAX_EXPONENT:
        return (
            f"is out of range: use a value between 1e{MIN_EXPONENT} and 1e{MAX_EXPONENT + 1} "
            "(what the database stores)"
        )
    return None


def text_problem(text: str) -> str | None:
    """A number's text that is too long to read safely (checked before any conversion)."""
    if len(text.strip()) > MAX_TEXT:
        return f"is too long for a number ({len(text.strip())} characters, at most {MAX_TEXT})"
    return None


def shown(value: object, limit: int = 30) -> str:
    """A value for an error message, cut short: a 5,000-digit input must not fill the screen."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."
