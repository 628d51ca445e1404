"""Decimal money helpers.

Money is `Decimal` end to end. Floats are refused at the door: a float has already lost the
exact value, so converting it later would only hide the loss.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal, InvalidOperation

ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)

DecimalLike = Decimal | int | str


def to_decimal(value: DecimalLike, *, field: str = "value") -> Decimal:
    """Convert an exact value to a finite Decimal; floats and non-numbers are refused."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{field}: expected Decimal, int or str, got {type(value).__name__}")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{field}: {value!r} is not a number") from None
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not a finite number")
    return result


def round_down(value: Decimal, step: Decimal) -> Decimal:
    """Largest multiple of `step` that is <= value (step > 0); keeps the step's exponent."""
    if step <= 0:
        return value
    return ((value / step).to_integral_value(rounding=ROUND_FLOOR) * step).quantize(step)


def round_up(value: Decimal, step: Decimal) -> Decimal:
    """Smallest multiple of `step` that is >= value (step > 0)."""
    if step <= 0:
        return value
    return ((value / step).to_integral_value(rounding=ROUND_CEILING) * step).quantize(step)


def fmt(value: Decimal) -> str:
    """Plain decimal string without exponent notation, trailing zeros dropped ('0' for zero)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text
