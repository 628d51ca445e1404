"""Example transitions of the trailing stop, the cycle timeout and profit reinvestment."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D

from domain import codec
from domain.commands import CloseReason, Command, CycleClosed, PlaceOrder, ScheduleWakeup
from domain.errors import ValidationError
from domain.events import (
    CooldownElapsed,
    OrderCanceled,
    OrderFilled,
    PriceTicked,
    Started,
    StopMode,
    StopRequested,
)
from domain.orders import OrderType, Side
from strategy.exits import next_wake, only_trails, size_scale
from strategy.machine import decide
from strategy.params import MartingaleParams
from strategy.queries import stop_loss_price, watch_levels
from strategy.state import MartingaleState, Phase, WorkingStatus
from tests.unit.strategy.helpers import T0, at, canceled, entered, fill, fresh, params, placed, run

B, S1, S2, T1, T2 = "mg1c1b", "mg1c1s1", "mg1c1s2", "mg1c1t1", "mg1c1t2"
HOUR = 3600


def closed(cmds: tuple[Command, ...]) -> list[CycleClosed]:
    return [c for c in cmds if isinstance(c, CycleClosed)]


# --- trailing stop -------------------------------------------------------------------------


def test_trailing_stop_starts_at_the_average_and_rises_with_the_best_price() -> None:
    s = entered(fresh(params(stop_loss="8", stop_loss_trailing="true")))
    assert stop_loss_price(s) == D("92.00")  # 100 * 0.92, as the plain stop
    assert watch_levels(s) == (D("99.00"), D("100.01"))  # s1 below; a new best above
    s, cmds = decide(s, PriceTicked(at=at(2), price=D("100.5")))
    assert cmds == () and s.stop_best == D("100.5")
    s, _ = decide(s, PriceTicked(at=at(3), price=D("100.8")))
    assert stop_loss_price(s) == D("100.8") * D("0.92")
    assert watch_levels(s)[1] == D("100.81")  # the take-profit (101) is further
    lower, _ = decide(s, PriceTicked(at=at(4), price=D("100.2")))
    assert lower is s  # a worse price: the trail stays where it is


def test_trailing_stop_fires_at_the_raised_trigger_and_sells_at_market() -> None:
    s = entered(fresh(params(stop_loss="8", stop_loss_trailing="true", take_profit="30")))
    s, _ = run(s, PriceTicked(at=at(2), price=D(120)))  # trigger 110.4: a profit is locked
    assert stop_loss_price(s) == D("110.40")
    s, cmds = decide(s, PriceTicked(at=at(3), price=D("110.5")))
    assert cmds == ()
    s, cmds = decide(s, PriceTicked(at=at(4), price=D("110.4")))
    assert sorted(canceled(cmds)) == sorted([S1, S2, T1]) and s.phase is Phase.CLOSING
    s, cmds = run(
        s,
        *(OrderCanceled(at=at(5), client_order_id=c) for c in (S1, S2, T1)),
    )
    exit_order = placed(cmds)["x1"]
    assert (exit_order.side, exit_order.order_type) == (Side.SELL, OrderType.MARKET)
    s, cmds = run(
        s,
        OrderFilled(
            at=at(6),
            client_order_id=exit_order.client_order_id,
            fill=fill(exit_order.client_order_id, "110.4", "0.1", side=Side.SELL),
        ),
    )
    (close,) = closed(cmds)
    assert close.reason is CloseReason.STOP_LOSS and close.realized_profit == D("1.04")


def test_a_buy_fill_restarts_the_trail_from_the_new_average() -> None:
    s = entered(fresh(params(stop_loss="8", stop_loss_trailing="true")))
    s, _ = decide(s, PriceTicked(at=at(2), price=D("100.9")))
    assert s.stop_best == D("100.9")
    s, _ = run(s, OrderFilled(at=at(3), client_order_id=S1, fill=fill(S1, "99", "0.202")))
    assert s.stop_best is None
    average = D("29.998") / D("0.302")
    assert stop_loss_price(s) == average * D("0.92")


def test_without_trailing_a_tick_changes_nothing() -> None:
    s = entered(fresh(params(stop_loss="8")))
    assert decide(s, PriceTicked(at=at(2), price=D("100.5")))[0] is s
    assert watch_levels(s) == (D("99.00"), D("101.00"))


def test_the_trail_survives_a_snapshot() -> None:
    s = entered(fresh(params(stop_loss="8", stop_loss_trailing="true")))
    s, _ = decide(s, PriceTicked(at=at(2), price=D("100.7")))
    assert codec.loads(codec.dumps(s), type(s)) == s
    assert codec.loads(codec.dumps(s), type(s)).stop_best == D("100.7")


# --- timeout -------------------------------------------------------------------------------


def test_timeout_at_market_closes_an_old_cycle() -> None:
    s, cmds = run(
        fresh(params(stop_loss_timeout="2")),
        Started(at=at(), price=D(100)),
        OrderFilled(at=at(10), client_order_id=B, fill=fill(B, "100", "0.1")),
    )
    deadline = at(10) + timedelta(hours=2)
    assert ScheduleWakeup(at=deadline) in cmds and next_wake(s) == deadline
    early, cmds = decide(s, CooldownElapsed(at=deadline - timedelta(seconds=1), price=D(99)))
    assert early is s and cmds == ()
    s, cmds = decide(s, CooldownElapsed(at=deadline, price=D("99.5")))
    assert sorted(canceled(cmds)) == sorted([S1, S2, T1])
    assert s.closing_reason is CloseReason.TIMEOUT and next_wake(s) is None
    s, cmds = run(s, *(OrderCanceled(at=deadline, client_order_id=c) for c in (S1, S2, T1)))
    x1 = placed(cmds)["x1"]
    assert x1.order_type is OrderType.MARKET and x1.amount == D("0.1")
    s, cmds = run(
        s,
        OrderFilled(
            at=deadline,
            client_order_id=x1.client_order_id,
            fill=fill(x1.client_order_id, "99.5", "0.1", side=Side.SELL),
        ),
    )
    (close,) = closed(cmds)
    assert close.reason is CloseReason.TIMEOUT and close.realized_profit == D("-0.05")
    assert s.phase is Phase.COOLDOWN


def test_a_tick_past_the_deadline_applies_a_late_timeout() -> None:
    s = entered(fresh(params(stop_loss_timeout="0.5")))
    s, _cmds = decide(s, PriceTicked(at=at(1) + timedelta(minutes=30), price=D(100)))
    assert s.phase is Phase.CLOSING and s.closing_reason is CloseReason.TIMEOUT


def test_sell_now_during_a_timeout_keeps_its_reason() -> None:
    s = entered(fresh(params(stop_loss_timeout="1")))
    s, _ = decide(s, CooldownElapsed(at=at(1 + HOUR), price=D(100)))
    s, _ = decide(s, StopRequested(at=at(2 + HOUR), mode=StopMode.SELL))
    assert s.closing_reason is CloseReason.TIMEOUT


def test_timeout_at_break_even_moves_the_take_profit_and_keeps_the_ladder() -> None:
    p = params(stop_loss_timeout="1", stop_loss_timeout_action="break_even")
    s, _ = run(
        fresh(p),
        Started(at=at(), price=D(100)),
        OrderFilled(
            at=at(1),
            client_order_id=B,
            fill=fill(B, "100", "0.1", fee="0.013", fee_currency="USDT"),
        ),
    )
    s, cmds = decide(s, CooldownElapsed(at=at(1 + HOUR), price=D("99.5")))
    assert canceled(cmds) == [T1] and s.phase is Phase.ACTIVE and s.timed_out
    assert next_wake(s) is None
    s, cmds = decide(s, OrderCanceled(at=at(2 + HOUR), client_order_id=T1))
    tp = placed(cmds)["t2"]
    assert tp.price == D("100.13")  # (10 + 0.013) / 0.1 = 100.13: the average with the fee
    assert {o.leg for o in s.orders} == {"s1", "s2", "t2"}  # the safety orders keep working
    s, cmds = run(s, OrderFilled(at=at(3 + HOUR), client_order_id=S1, fill=fill(S1, "99", "0.202")))
    assert canceled(cmds) == [T2]
    s, cmds = decide(s, OrderCanceled(at=at(4 + HOUR), client_order_id=T2))
    t3 = placed(cmds)["t3"]
    assert t3.price == D("99.38")  # (10.013 + 19.998) / 0.302 = 99.374.., up to the tick
    s, cmds = run(
        s,
        OrderFilled(
            at=at(5 + HOUR),
            client_order_id=t3.client_order_id,
            fill=fill(t3.client_order_id, "99.38", "0.302", side=Side.SELL),
        ),
        *(OrderCanceled(at=at(6 + HOUR), client_order_id=o.client_order_id) for o in s.orders),
    )
    (close,) = closed(cmds)
    assert close.reason is CloseReason.TIMEOUT and close.realized_profit >= 0


def test_the_timeout_is_counted_from_each_cycles_base_fill() -> None:
    s = entered(fresh(params(stop_loss_timeout="1", cooldown=0)))
    s, _ = run(
        s,
        OrderFilled(at=at(5), client_order_id=T1, fill=fill(T1, "101", "0.1", side=Side.SELL)),
        OrderCanceled(at=at(6), client_order_id=S1),
        OrderCanceled(at=at(6), client_order_id=S2),
    )
    assert s.phase is Phase.COOLDOWN and s.timeout_at is None and next_wake(s) == at(6)
    s, _ = run(
        s,
        CooldownElapsed(at=at(7), price=D(100)),
        OrderFilled(at=at(8), client_order_id="mg1c2b", fill=fill("mg1c2b", "100", "0.1")),
    )
    assert s.cycle == 2 and s.timeout_at == at(8) + timedelta(hours=1)


# --- reinvestment ----------------------------------------------------------------------------


def _profitable_cycle(
    p: MartingaleParams, *, balance: D | None = None
) -> tuple[MartingaleState, tuple[Command, ...]]:
    s = entered(fresh(p))
    return run(
        s,
        OrderFilled(at=at(5), client_order_id=T1, fill=fill(T1, "110", "0.1", side=Side.SELL)),
        OrderCanceled(at=at(6), client_order_id=S1),
        OrderCanceled(at=at(6), client_order_id=S2),
        CooldownElapsed(at=at(100), price=D(100), balance=balance),
    )


def test_reinvested_profit_scales_the_next_cycles_sizes() -> None:
    p = params(reinvest_percent="50")  # max funds 10 + 20 + 40 + 80 = 150
    s, cmds = _profitable_cycle(p)
    assert s.reinvested == D("0.5")  # half of the 1.0 profit
    assert s.size_scale == D("1.0033")  # 150.5 / 150, down to 0.0001
    base = placed(cmds)["b"]
    assert base.cost == D("10.033") and base.amount == D("0.1003")
    s, cmds = run(
        s,
        OrderFilled(at=at(101), client_order_id="mg1c2b", fill=fill("mg1c2b", "100", "0.1003")),
    )
    assert placed(cmds)["s1"].amount == D("0.2026")  # 20.066 / 99 = 0.20268..


def test_the_scale_is_capped_by_the_balance_and_never_below_one() -> None:
    p = params(reinvest_percent="100")
    s, _ = _profitable_cycle(p, balance=D("150.6"))
    assert s.reinvested == D("1.0")
    assert s.size_scale == D("1.004")  # 150.6 / 150 caps 151 / 150
    s, _ = _profitable_cycle(p, balance=D("20"))
    assert s.size_scale == D("1")  # a balance below the plan never shrinks it


def test_a_loss_takes_its_share_off_the_reinvested_amount_never_below_zero() -> None:
    p = params(reinvest_percent="50", stop_loss="10")
    s = entered(fresh(p))
    s = replace(s, reinvested=D("0.3"))
    s, _ = run(s, PriceTicked(at=at(2), price=D(89)))
    s, cmds = run(s, *(OrderCanceled(at=at(3), client_order_id=c) for c in (S1, S2, T1)))
    x1 = placed(cmds)["x1"]
    s, cmds = run(
        s,
        OrderFilled(
            at=at(4),
            client_order_id=x1.client_order_id,
            fill=fill(x1.client_order_id, "89", "0.1", side=Side.SELL),
        ),
    )
    (close,) = closed(cmds)
    assert close.realized_profit == D("-1.1")
    assert s.reinvested == D(0)  # 0.3 - 0.55, floored at zero


def test_without_reinvest_percent_the_sizes_stay() -> None:
    s, cmds = _profitable_cycle(params())
    assert s.reinvested == 0 and s.size_scale == 1
    assert placed(cmds)["b"].cost == D("10")
    assert size_scale(s, None) == 1


def test_commands_hold_no_scale_without_the_feature() -> None:
    s, cmds = decide(fresh(), Started(at=T0, price=D(100)))
    assert next(c for c in cmds if isinstance(c, PlaceOrder)).cost == D("10")
    assert s.size_scale == 1 and s.orders[0].status is WorkingStatus.SUBMITTED


def test_a_timeout_past_a_year_is_refused_naming_the_field() -> None:
    try:
        params(stop_loss_timeout="8760.5")
    except ValidationError as exc:
        assert exc.field == "stop_loss_timeout"
    else:
        raise AssertionError("a timeout past a year was accepted")
    assert params(stop_loss_timeout="8760").stop_loss_timeout == D(8760)


def test_a_tick_that_only_raises_the_trail_needs_no_look_at_the_orders() -> None:
    s = entered(fresh(params(stop_loss="8", stop_loss_trailing="true", take_profit="5")))
    assert only_trails(s, D("100.01")) and only_trails(s, D("104.99"))
    assert not only_trails(s, D("105"))  # the take-profit may have filled
    assert not only_trails(s, D("100"))  # no new best
    assert not only_trails(entered(fresh(params(stop_loss="8"))), D("100.5"))  # no trail


def test_break_even_replaces_take_profit_steps_and_a_trail_with_one_limit() -> None:
    for extra in (
        {"take_profit_steps": "1:50,2:50"},
        {"take_profit": "1", "trailing_deviation": "0.5"},
    ):
        p = MartingaleParams.from_mapping(
            {
                "base_order": "10",
                "safety_order": "20",
                "max_safety_orders": 2,
                "price_deviation": "1",
                "stop_loss_timeout": "1",
                "stop_loss_timeout_action": "break_even",
                **extra,
            }
        )
        s, _ = run(
            fresh(p),
            Started(at=at(), price=D(100)),
            OrderFilled(
                at=at(1),
                client_order_id=B,
                fill=fill(B, "100", "0.1", fee="0.013", fee_currency="USDT"),
            ),
        )
        s, cmds = decide(s, CooldownElapsed(at=at(1 + HOUR), price=D("99.5")))
        for order in [o for o in s.orders if o.status is WorkingStatus.CANCELING]:
            s, more = decide(
                s, OrderCanceled(at=at(2 + HOUR), client_order_id=order.client_order_id)
            )
            cmds += more
        sells = [c for c in cmds if isinstance(c, PlaceOrder) and c.side is Side.SELL]
        assert [(c.price, c.amount) for c in sells] == [(D("100.13"), D("0.1"))], extra
