"""The optional parts of a strategy's parameters: direction, take-profit steps, start condition.

Each type parses loose input (a YAML mapping or list, the API's JSON, or the one-line text form
the command line takes) and validates on construction, so an instance is always sane. Each has
a canonical stored form (`stored`), plain JSON values, which `parse` reads back to an equal value.

Text forms (for `martingale plan` options and the like):

- take_profit_steps: ``1.5:50,3:50`` is "sell 50 % of the position 1.5 % past the average,
  the other 50 % at 3 %" (percent:portion pairs).
- start_condition: a kind and its settings, ``asap``, ``rsi below=30 period=14 timeframe=5m``,
  ``ma period=50 timeframe=1h``, ``signal max_lag=60``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.errors import ValidationError
from domain.money import HUNDRED, ZERO, fmt

MAX_TAKE_PROFIT_STEPS = 10
TIMEFRAMES = {"1m": 60, "5m": 300, "15m": 900, "30m": 1800, "1h": 3600, "4h": 14400, "1d": 86400}
MAX_INDICATOR_PERIOD = 500


class Direction(enum.StrEnum):
    LONG = "long"  # buy first; safety orders below the entry; the take-profit sells above
    SHORT = "short"  # sell first (spot: the base held); safety orders above; buy back below


class TimeoutAction(enum.StrEnum):
    MARKET = "market"  # close the position at market
    BREAK_EVEN = "break_even"  # move the take-profit to the break-even price


class StartKind(enum.StrEnum):
    ASAP = "asap"  # a cycle starts at once (and after each cooldown)
    RSI = "rsi"  # when the RSI of closed candles is below `below`
    MA = "ma"  # when the last close is below the simple moving average of `period` closes
    SIGNAL = "signal"  # when an authenticated webhook signal arrives


def number(value: Any, field: str) -> Decimal:
    """A Decimal from loose input; floats only through ``repr`` (see `strategy.params`)."""
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError(f"expected a number, got {type(value).__name__}", field=field)
    try:
        result = Decimal(value.strip() if isinstance(value, str) else value)
    except (InvalidOperation, ValueError):
        raise ValidationError(f"{str(value)!r} is not a number", field=field) from None
    if not result.is_finite():
        raise ValidationError(f"{value} is not a finite number", field=field)
    return result


def whole(value: Any, field: str) -> int:
    result = number(value, field)
    if result != result.to_integral_value():
        raise ValidationError(f"{value} must be a whole number", field=field)
    return int(result)


def choice(enum_type: type[enum.StrEnum], value: Any, field: str) -> Any:
    try:
        return enum_type(str(value).strip().lower())
    except ValueError:
        names = " or ".join(m.value for m in enum_type)
        raise ValidationError(f"{value!r} must be {names}", field=field) from None


def flag(value: Any, field: str) -> bool:
    """A boolean from YAML (a bool) or stored text ("true"/"false")."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    raise ValidationError(f"{value!r} must be true or false", field=field)


# --- take-profit steps --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class TakeProfitStep:
    """Sell `portion` percent of the position `percent` percent past the average entry."""

    percent: Decimal
    portion: Decimal


def take_profit_steps(value: Any, field: str = "take_profit_steps") -> tuple[TakeProfitStep, ...]:
    """Parse and check the steps: percents rising, each portion > 0, portions adding to 100."""
    if isinstance(value, str):
        items: list[Any] = []
        for part in value.split(","):
            percent, sep, portion = part.partition(":")
            if not sep:
                raise ValidationError(
                    f"{part.strip()!r} must be percent:portion, e.g. 1.5:50", field=field
                )
            items.append({"percent": percent, "portion": portion})
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise ValidationError("must be a list of {percent, portion}", field=field)
    steps: list[TakeProfitStep] = []
    for i, item in enumerate(items):
        where = f"{field}[{i}]"
        if isinstance(item, TakeProfitStep):
            steps.append(item)
            continue
        if not isinstance(item, Mapping):
            raise ValidationError("must be a mapping with percent and portion", field=where)
        unknown = set(item) - {"percent", "portion"}
        if unknown:
            raise ValidationError(
                f"unknown key {sorted(map(str, unknown))[0]!r}; use percent and portion",
                field=where,
            )
        for key in ("percent", "portion"):
            if item.get(key) is None:
                raise ValidationError("is required", field=f"{where}.{key}")
        steps.append(
            TakeProfitStep(
                percent=number(item["percent"], f"{where}.percent"),
                portion=number(item["portion"], f"{where}.portion"),
            )
        )
    check_steps(tuple(steps), field)
    return tuple(steps)


def check_steps(steps: tuple[TakeProfitStep, ...], field: str = "take_profit_steps") -> None:
    if not steps:
        return
    if len(steps) > MAX_TAKE_PROFIT_STEPS:
        raise ValidationError(
            f"at most {MAX_TAKE_PROFIT_STEPS} steps, got {len(steps)}", field=field
        )
    previous = ZERO
    total = ZERO
    for i, step in enumerate(steps):
        if not ZERO < step.percent < HUNDRED:
            raise ValidationError(
                f"must be > 0 and < 100 (percent), got {step.percent}",
                field=f"{field}[{i}].percent",
            )
        if step.percent <= previous:
            raise ValidationError(
                f"must be above the previous step's {fmt(previous)} %",
                field=f"{field}[{i}].percent",
            )
        if not ZERO < step.portion <= HUNDRED:
            raise ValidationError(
                f"must be > 0 and <= 100 (percent of the position), got {step.portion}",
                field=f"{field}[{i}].portion",
            )
        previous = step.percent
        total += step.portion
    if total != HUNDRED:
        raise ValidationError(f"the portions must add up to 100, got {fmt(total)}", field=field)


def steps_text(steps: tuple[TakeProfitStep, ...]) -> str:
    """The one-line form, e.g. ``1.5:50,3:50``."""
    return ",".join(f"{fmt(s.percent)}:{fmt(s.portion)}" for s in steps)


def stored_steps(steps: tuple[TakeProfitStep, ...]) -> list[dict[str, str]]:
    return [{"percent": fmt(s.percent), "portion": fmt(s.portion)} for s in steps]


# --- start condition ----------------------------------------------------------------------------

_START_KEYS = {
    StartKind.ASAP: frozenset(),
    StartKind.RSI: frozenset({"below", "period", "timeframe"}),
    StartKind.MA: frozenset({"period", "timeframe"}),
    StartKind.SIGNAL: frozenset({"max_lag"}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class StartCondition:
    """When a cycle may start. Indicators read closed candles of `timeframe`; a signal is
    accepted when it is at most `max_lag` seconds old."""

    kind: StartKind = StartKind.ASAP
    period: int = 14
    timeframe: str = "5m"
    below: Decimal | None = None  # the RSI level (0..100) for kind rsi
    max_lag: int = 60  # seconds, for kind signal

    def __post_init__(self) -> None:
        field = "start_condition"
        if not isinstance(self.kind, StartKind):
            raise ValidationError("must be asap, rsi, ma or signal", field=f"{field}.type")
        if self.timeframe not in TIMEFRAMES:
            raise ValidationError(
                f"{self.timeframe!r} must be one of {', '.join(TIMEFRAMES)}",
                field=f"{field}.timeframe",
            )
        if isinstance(self.period, bool) or not 2 <= self.period <= MAX_INDICATOR_PERIOD:
            raise ValidationError(
                f"must be from 2 to {MAX_INDICATOR_PERIOD}, got {self.period}",
                field=f"{field}.period",
            )
        if isinstance(self.max_lag, bool) or not 1 <= self.max_lag <= 3600:
            raise ValidationError(
                f"must be from 1 to 3600 seconds, got {self.max_lag}", field=f"{field}.max_lag"
            )
        if self.kind is StartKind.RSI:
            if self.below is None:
                raise ValidationError("is required for an rsi condition", field=f"{field}.below")
            if not ZERO < self.below < HUNDRED:
                raise ValidationError(
                    f"must be > 0 and < 100, got {self.below}", field=f"{field}.below"
                )
        elif self.below is not None:
            raise ValidationError(
                f"only an rsi condition takes below, not {self.kind.value}", field=f"{field}.below"
            )

    @property
    def seconds(self) -> int:
        """Length of one candle of the timeframe."""
        return TIMEFRAMES[self.timeframe]


ASAP = StartCondition()


def start_condition(value: Any, field: str = "start_condition") -> StartCondition:
    if isinstance(value, StartCondition):
        return value
    if isinstance(value, str):
        words = value.split()
        if not words:
            raise ValidationError("is empty", field=field)
        data: dict[str, Any] = {"type": words[0]}
        for word in words[1:]:
            key, sep, setting = word.partition("=")
            if not sep:
                raise ValidationError(f"{word!r} must be key=value, e.g. period=14", field=field)
            data[key] = setting
        value = data
    if not isinstance(value, Mapping):
        raise ValidationError("must be asap, or a mapping with type and its settings", field=field)
    if value.get("type") is None:
        raise ValidationError("is required: asap, rsi, ma or signal", field=f"{field}.type")
    kind = choice(StartKind, value["type"], f"{field}.type")
    allowed = _START_KEYS[kind]
    for key in value:
        if key != "type" and key not in allowed:
            known = ", ".join(sorted(allowed)) or "nothing else"
            raise ValidationError(
                f"unknown setting for {kind.value}; it takes {known}", field=f"{field}.{key}"
            )
    kwargs: dict[str, Any] = {"kind": kind}
    if value.get("period") is not None:
        kwargs["period"] = whole(value["period"], f"{field}.period")
    if value.get("max_lag") is not None:
        kwargs["max_lag"] = whole(value["max_lag"], f"{field}.max_lag")
    if value.get("below") is not None:
        kwargs["below"] = number(value["below"], f"{field}.below")
    if value.get("timeframe") is not None:
        kwargs["timeframe"] = str(value["timeframe"]).strip()
    return StartCondition(**kwargs)


def stored_start(condition: StartCondition) -> dict[str, str]:
    out = {"type": condition.kind.value}
    if condition.kind in (StartKind.RSI, StartKind.MA):
        out["period"] = str(condition.period)
        out["timeframe"] = condition.timeframe
    if condition.below is not None:
        out["below"] = fmt(condition.below)
    if condition.kind is StartKind.SIGNAL:
        out["max_lag"] = str(condition.max_lag)
    return out


def start_text(condition: StartCondition) -> str:
    """The one-line form, e.g. ``rsi below=30 period=14 timeframe=5m``."""
    stored = stored_start(condition)
    kind = stored.pop("type")
    return " ".join([kind, *(f"{k}={v}" for k, v in sorted(stored.items()))])
