"""Martingale parameters: one validated value object for the CLI, config files and the REST API.

Every entry point goes through `MartingaleParams.from_mapping`, so a parameter has one name and
one set of rules everywhere. Construction validates, so an existing instance is always sane (this
includes instances decoded from a state snapshot).

Floats: `from_mapping` accepts a float only through ``repr``, which is the shortest string that
round-trips to that float. For what a person types in a YAML file (``1.5``, ``0.1``, up to 15
significant digits) that string is exactly what they typed, so nothing is lost, and refusing it
would only make every config file quote its numbers. Values with more digits than a float
holds must be quoted; `to_decimal` itself still refuses floats everywhere else.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import Decimal, localcontext
from typing import Any

from domain.errors import ValidationError
from domain.money import HUNDRED, ONE, ZERO, DecimalLike, to_decimal
from domain.orders import OrderType
from strategy.options import (
    ASAP,
    Direction,
    StartCondition,
    TakeProfitStep,
    TimeoutAction,
    check_steps,
    choice,
    flag,
    start_condition,
    take_profit_steps,
)

# The client order id leg ``s<n>`` holds four digits; far fewer levels make sense in practice,
# and volume_scale**n grows without bound, so we stop well before the id format would.
MAX_SAFETY_ORDERS = 200

# A cycle's timeout is a time in the future: bounded so the deadline is always a valid date.
MAX_TIMEOUT_HOURS = 8760

REQUIRED = ("base_order", "safety_order", "max_safety_orders", "price_deviation")


@dataclass(frozen=True, slots=True, kw_only=True)
class MartingaleParams:
    """Sizes are in quote currency; percentages are plain percent (1.5 means 1.5 %).

    stop_loss is measured from the average entry (down for a long, up for a short); cooldown is
    whole seconds; stop_loss_timeout is hours. With take_profit_steps, take_profit is the first
    step's percent (it may be left out, and if given must equal it).
    """

    base_order: Decimal
    safety_order: Decimal
    max_safety_orders: int
    price_deviation: Decimal
    step_scale: Decimal = ONE
    volume_scale: Decimal = ONE
    take_profit: Decimal
    stop_loss: Decimal | None = None
    max_active_safety_orders: int = 1
    cooldown: int = 0
    max_cycles: int | None = None
    base_order_type: OrderType = OrderType.MARKET
    direction: Direction = Direction.LONG
    take_profit_steps: tuple[TakeProfitStep, ...] = ()
    trailing_deviation: Decimal | None = None  # trailing take-profit: percent of pull-back
    stop_loss_trailing: bool = False  # the stop-loss trigger follows the price's best since entry
    stop_loss_timeout: Decimal | None = None  # hours: a cycle older than this is closed
    stop_loss_timeout_action: TimeoutAction = TimeoutAction.MARKET
    reinvest_percent: Decimal = ZERO  # share of each closed cycle's profit added to the sizes
    start_condition: StartCondition = ASAP

    def __post_init__(self) -> None:
        _validate(self)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> MartingaleParams:
        """Build from loosely typed input (strings, ints, Decimals, YAML floats).

        Unknown keys are refused so a typo never silently falls back to a default.
        """
        known = {f.name for f in fields(cls)}
        for key in data:
            if key not in known:
                raise ValidationError(
                    f"unknown parameter; known parameters are {', '.join(sorted(known))}",
                    field=str(key),
                )
        for name in REQUIRED:
            if data.get(name) is None:
                raise ValidationError("is required", field=name)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            value = data.get(f.name)
            if value is None:
                continue
            parse = _PARSERS.get(f.name)
            if parse is not None:
                kwargs[f.name] = parse(value)
            elif f.name in _INT_FIELDS:
                kwargs[f.name] = _integer(value, f.name)
            else:
                kwargs[f.name] = _decimal(value, f.name)
        steps = kwargs.get("take_profit_steps")
        if steps:
            first = steps[0].percent
            if "take_profit" in kwargs and kwargs["take_profit"] != first:
                raise ValidationError(
                    f"with take_profit_steps, take_profit is the first step's percent "
                    f"({first}); leave it out",
                    field="take_profit",
                )
            kwargs["take_profit"] = first
        elif "take_profit" not in kwargs:
            raise ValidationError("is required (or give take_profit_steps)", field="take_profit")
        return cls(**kwargs)

    def deviation_pct(self, level: int) -> Decimal:
        """Cumulative deviation D_n below the base price of safety order n (D_0 = 0)."""
        total = ZERO
        term = self.price_deviation
        for _ in range(level):
            total += term
            term *= self.step_scale
        return total

    def quote_size(self, level: int) -> Decimal:
        """Quote size of level n: the base order for 0, S * v^(n-1) for safety order n."""
        if level == 0:
            return self.base_order
        return self.safety_order * self.volume_scale ** (level - 1)

    @property
    def max_funds(self) -> Decimal:
        """Quote needed when every order fills at its nominal size (before any rounding)."""
        return sum(
            (self.quote_size(n) for n in range(self.max_safety_orders + 1)),
            start=ZERO,
        )


_INT_FIELDS = frozenset({"max_safety_orders", "max_active_safety_orders", "cooldown", "max_cycles"})


def _decimal(value: Any, field: str) -> Decimal:
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValidationError(f"expected a number, got {type(value).__name__}", field=field)
    try:
        return to_decimal(value, field=field)
    except (TypeError, ValueError):
        raise ValidationError(f"{str(value)!r} is not a number", field=field) from None


def _integer(value: Any, field: str) -> int:
    number = _decimal(value, field)
    if number != number.to_integral_value():
        raise ValidationError(f"{value} must be a whole number", field=field)
    return int(number)


def _order_type(value: Any) -> OrderType:
    try:
        return OrderType(str(value).strip().lower())
    except ValueError:
        raise ValidationError(
            f"{value!r} must be market or limit", field="base_order_type"
        ) from None


_PARSERS: dict[str, Any] = {
    "base_order_type": _order_type,
    "direction": lambda v: choice(Direction, v, "direction"),
    "take_profit_steps": take_profit_steps,
    "stop_loss_trailing": lambda v: flag(v, "stop_loss_trailing"),
    "stop_loss_timeout_action": lambda v: choice(TimeoutAction, v, "stop_loss_timeout_action"),
    "start_condition": start_condition,
}


def _check_decimal(name: str, value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise ValidationError(
            f"expected Decimal, got {type(value).__name__}; use from_mapping for loose input",
            field=name,
        )
    if not value.is_finite():
        raise ValidationError(f"{value} is not a finite number", field=name)
    return value


def _check_int(name: str, value: object, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(f"expected a whole number, got {type(value).__name__}", field=name)
    if value < minimum:
        raise ValidationError(f"must be >= {minimum}, got {value}", field=name)
    return value


def _validate(p: MartingaleParams) -> None:
    with localcontext() as ctx:
        ctx.prec = 28
        _validate_in_context(p)


def _validate_in_context(p: MartingaleParams) -> None:
    for name in ("base_order", "safety_order", "price_deviation", "step_scale", "volume_scale"):
        _check_decimal(name, getattr(p, name))
    _check_decimal("take_profit", p.take_profit)
    n = _check_int("max_safety_orders", p.max_safety_orders, 0)
    if n > MAX_SAFETY_ORDERS:
        raise ValidationError(f"must be <= {MAX_SAFETY_ORDERS}, got {n}", field="max_safety_orders")
    _check_int("max_active_safety_orders", p.max_active_safety_orders, 1)
    _check_int("cooldown", p.cooldown, 0)
    if p.max_cycles is not None:
        _check_int("max_cycles", p.max_cycles, 1)
    if not isinstance(p.base_order_type, OrderType):
        raise ValidationError("must be market or limit", field="base_order_type")
    _validate_options(p)

    if p.base_order <= 0:
        raise ValidationError(
            f"must be > 0 (quote currency), got {p.base_order}", field="base_order"
        )
    if p.safety_order < 0 or (n > 0 and p.safety_order == 0):
        raise ValidationError(
            f"must be > 0 (quote currency) when max_safety_orders > 0, got {p.safety_order}",
            field="safety_order",
        )
    if not ZERO < p.price_deviation < HUNDRED:
        raise ValidationError(
            f"must be > 0 and < 100 (percent), got {p.price_deviation}", field="price_deviation"
        )
    for name in ("step_scale", "volume_scale"):
        if getattr(p, name) <= 0:
            raise ValidationError(f"must be > 0, got {getattr(p, name)}", field=name)
    if p.take_profit <= 0:
        raise ValidationError(f"must be > 0 (percent), got {p.take_profit}", field="take_profit")
    if p.direction is Direction.LONG and n > 0 and p.deviation_pct(n) >= HUNDRED:
        raise ValidationError(
            f"with step_scale {p.step_scale} and {n} safety orders the last one would sit "
            f"{p.deviation_pct(n)} % below the base price, which reaches a price <= 0; "
            "lower price_deviation, step_scale or max_safety_orders",
            field="price_deviation",
        )
    if p.stop_loss is not None:
        _validate_stop_loss(p, _check_decimal("stop_loss", p.stop_loss))


def _validate_options(p: MartingaleParams) -> None:
    """The optional features: each value in range, and no combination that contradicts."""
    if not isinstance(p.direction, Direction):
        raise ValidationError("must be long or short", field="direction")
    if not isinstance(p.stop_loss_timeout_action, TimeoutAction):
        raise ValidationError("must be market or break_even", field="stop_loss_timeout_action")
    if not isinstance(p.start_condition, StartCondition):
        raise ValidationError("must be a start condition", field="start_condition")
    if not isinstance(p.stop_loss_trailing, bool):
        raise ValidationError("must be true or false", field="stop_loss_trailing")
    if not isinstance(p.take_profit_steps, tuple) or not all(
        isinstance(step, TakeProfitStep) for step in p.take_profit_steps
    ):
        raise ValidationError("must be a list of steps", field="take_profit_steps")
    check_steps(p.take_profit_steps)
    if p.take_profit_steps and p.take_profit != p.take_profit_steps[0].percent:
        raise ValidationError("must be the first step's percent", field="take_profit")
    if p.trailing_deviation is not None:
        deviation = _check_decimal("trailing_deviation", p.trailing_deviation)
        if not ZERO < deviation < HUNDRED:
            raise ValidationError(
                f"must be > 0 and < 100 (percent), got {deviation}", field="trailing_deviation"
            )
        if p.take_profit_steps:
            raise ValidationError(
                "a trailing take-profit cannot be combined with take_profit_steps",
                field="trailing_deviation",
            )
    if p.stop_loss_trailing and p.stop_loss is None:
        raise ValidationError("needs stop_loss (the trail's distance)", field="stop_loss_trailing")
    if p.stop_loss_timeout is not None:
        hours = _check_decimal("stop_loss_timeout", p.stop_loss_timeout)
        if hours <= 0:
            raise ValidationError(f"must be > 0 (hours), got {hours}", field="stop_loss_timeout")
        if hours > MAX_TIMEOUT_HOURS:
            raise ValidationError(
                f"must be at most {MAX_TIMEOUT_HOURS} hours (a year), got {hours}",
                field="stop_loss_timeout",
            )
    reinvest = _check_decimal("reinvest_percent", p.reinvest_percent)
    if not ZERO <= reinvest <= HUNDRED:
        raise ValidationError(
            f"must be from 0 to 100 (percent of each cycle's profit), got {reinvest}",
            field="reinvest_percent",
        )


def _validate_stop_loss(p: MartingaleParams, stop_loss: Decimal) -> None:
    """Refuse a stop loss that would fire before the ladder is used up.

    With k orders filled the average entry is A_k; the price must fall to the next safety price
    P_(k+1) to fill it. If the stop-loss trigger A_k * (1 - sl/100) is at or above P_(k+1), the
    stop fires first and the remaining safety orders can never fill: those safety orders (and
    the funds reserved for them) would be pointless. The check is done in ratios of the base
    price (P0 = 1), before exchange rounding.

    A trailing stop (`stop_loss_trailing`) starts at that same trigger after every buy fill, so
    the rule holds where it starts; once the price has risen it trails the best price and may
    sit above the next safety price: it then fires before that level fills, which is the point
    of a trailing stop (a gain locked in rather than the position averaged down).
    """
    if not ZERO < stop_loss < HUNDRED:
        raise ValidationError(
            f"must be > 0 and < 100 (percent), got {stop_loss}", field="stop_loss"
        )
    if p.direction is not Direction.LONG:
        return  # TODO(short): the mirrored ladder check
    keep = ONE - stop_loss / HUNDRED
    quote = ZERO
    base = ZERO
    for level in range(p.max_safety_orders + 1):
        price = ONE - p.deviation_pct(level) / HUNDRED
        quote += p.quote_size(level)
        base += p.quote_size(level) / price
        if level == p.max_safety_orders:
            break
        next_price = ONE - p.deviation_pct(level + 1) / HUNDRED
        trigger = quote / base * keep
        if trigger >= next_price:
            raise ValidationError(
                f"{stop_loss} % below the average entry would fire before safety order "
                f"{level + 1} ({p.deviation_pct(level + 1)} % below the base price) can fill; "
                "use a larger stop_loss or fewer safety orders",
                field="stop_loss",
            )


def params_from_values(**values: DecimalLike | None) -> MartingaleParams:
    """Keyword shortcut over `from_mapping` for tests and scripts (None means "not given")."""
    return MartingaleParams.from_mapping({k: v for k, v in values.items() if v is not None})
