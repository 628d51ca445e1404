"""Example transitions of the Martingale machine, one behaviour per test."""

from __future__ import annotations

from decimal import Decimal as D

from domain.commands import CloseReason, CycleClosed, ScheduleWakeup, StrategyFinished
from domain.events import (
    CooldownElapsed,
    OrderAccepted,
    OrderCanceled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    PriceTicked,
    Started,
    StopMode,
    StopRequested,
)
from domain.orders import OrderType, Side
from strategy.machine import decide
from strategy.queries import average_price, position, stop_loss_price, tick_matters
from strategy.state import Phase, WorkingStatus
from tests.unit.strategy.helpers import at, canceled, entered, fill, fresh, params, placed, run

B, S1, S2, S3, T1, T2 = "mg1c1b", "mg1c1s1", "mg1c1s2", "mg1c1s3", "mg1c1t1", "mg1c1t2"


def test_start_places_a_market_base_order_sized_from_the_price() -> None:
    s, cmds = decide(fresh(), Started(at=at(), price=D("123.45")))
    (base,) = placed(cmds).values()
    assert (base.client_order_id, base.side, base.order_type, base.price) == (
        B,
        Side.BUY,
        OrderType.MARKET,
        None,
    )
    assert base.amount == D("0.0810")  # 10 / 123.45 = 0.08100..., down to the 0.0001 step
    assert s.phase is Phase.ENTERING
    assert decide(s, Started(at=at(), price=D(1)))[0] is s  # a second start changes nothing


def test_limit_base_order_rests_at_the_current_price_rounded_down() -> None:
    _, cmds = decide(fresh(params(base_order_type="limit")), Started(at=at(), price=D("100.019")))
    base = placed(cmds)["b"]
    assert (base.order_type, base.price, base.amount) == (OrderType.LIMIT, D("100.01"), D("0.0999"))


def test_base_fill_places_take_profit_and_the_first_active_safety_orders() -> None:
    s, cmds = run(
        fresh(),
        Started(at=at(), price=D(100)),
        OrderPartiallyFilled(at=at(1), fill=fill(B, "100", "0.04")),
        OrderFilled(at=at(1), client_order_id=B, fill=fill(B, "101", "0.06")),
    )
    legs = placed(cmds)
    assert s.base_price == D("100.6")  # P0 = the base order's average fill price
    assert set(legs) == {"b", "t1", "s1", "s2"}  # max_active_safety_orders = 2
    assert legs["t1"].side is Side.SELL and legs["t1"].amount == D("0.1")
    assert legs["t1"].price == D("101.61")  # 100.6 * 1.01 = 101.606, rounded up
    assert legs["s1"].price == D("99.59")  # 100.6 * 0.99 = 99.594, rounded down
    assert legs["s2"].price == D("97.58")  # 100.6 * 0.97 = 97.582
    assert legs["s2"].amount == D("0.4099")  # 40 / 97.58 = 0.40992..
    assert s.phase is Phase.ACTIVE


def test_safety_fill_replaces_take_profit_only_after_the_cancel_is_confirmed() -> None:
    s, cmds = run(
        entered(), OrderFilled(at=at(2), client_order_id=S1, fill=fill(S1, "99", "0.202"))
    )
    assert canceled(cmds) == [T1]
    assert set(placed(cmds)) == {"s3"}  # the next rung, no TP yet
    assert s.order(T1) is not None and s.order(T1).status is WorkingStatus.CANCELING  # type: ignore[union-attr]
    s, cmds = run(s, OrderCanceled(at=at(3), client_order_id=T1))
    tp = placed(cmds)["t2"]
    assert tp.amount == D("0.302")
    assert average_price(s) == D("29.998") / D("0.302")
    assert tp.price == D("100.33")  # 99.3311... * 1.01 = 100.3244.., rounded up


def test_old_take_profit_partly_filled_before_cancel_new_one_covers_the_rest() -> None:
    s, _ = run(
        entered(),
        OrderFilled(at=at(2), client_order_id=S1, fill=fill(S1, "99", "0.202")),
        OrderPartiallyFilled(at=at(2), fill=fill(T1, "101", "0.05", side=Side.SELL)),
        OrderCanceled(at=at(3), client_order_id=T1),
    )
    (tp,) = [o for o in s.orders if o.leg == "t2"]
    assert tp.amount == D("0.252") == position(s)


def test_take_profit_fill_closes_the_cycle_after_the_ladder_is_canceled() -> None:
    s, cmds = run(
        entered(),
        OrderFilled(
            at=at(5),
            client_order_id=T1,
            fill=fill(T1, "101", "0.1", side=Side.SELL, fee="0.0101", fee_currency="USDT"),
        ),
    )
    assert sorted(canceled(cmds)) == [S1, S2]
    assert s.phase is Phase.CLOSING and not [c for c in cmds if isinstance(c, CycleClosed)]
    s, cmds = run(
        s, OrderCanceled(at=at(6), client_order_id=S1), OrderCanceled(at=at(7), client_order_id=S2)
    )
    closed = [c for c in cmds if isinstance(c, CycleClosed)]
    assert closed == [
        CycleClosed(
            cycle=1,
            realized_profit=D("0.0899"),
            reason=CloseReason.TAKE_PROFIT,
            at=at(7),
            bought=D("0.1"),
            spent=D("10.0"),
            base_price=D("100"),
            received=D("10.0899"),  # profit = received - spent
        )
    ]
    assert [c for c in cmds if isinstance(c, ScheduleWakeup)] == [ScheduleWakeup(at=at(67))]
    assert s.phase is Phase.COOLDOWN and s.realized_profit == D("0.0899")
    assert decide(s, CooldownElapsed(at=at(66), price=D(100)))[0] is s  # too early
    s, cmds = decide(s, CooldownElapsed(at=at(67), price=D(100)))
    assert placed(cmds)["b"].client_order_id == "mg1c2b" and s.cycle == 2


def test_fees_in_quote_base_and_a_third_currency_are_booked_where_paid() -> None:
    s, _ = run(
        fresh(),
        Started(at=at(), price=D(100)),
        OrderPartiallyFilled(
            at=at(1), fill=fill(B, "100", "0.05", fee="0.005", fee_currency="USDT")
        ),
        OrderPartiallyFilled(
            at=at(1), fill=fill(B, "100", "0.03", fee="0.00003", fee_currency="ETH")
        ),
        OrderFilled(
            at=at(1), client_order_id=B, fill=fill(B, "100", "0.02", fee="0.01", fee_currency="BNB")
        ),
    )
    assert s.book.spent == D("10.005")
    assert position(s) == D("0.09997")
    assert [(f.currency, f.amount) for f in s.other_fees] == [("BNB", D("0.01"))]
    assert s.base_price == D(100)  # P0 is the fill price, fees aside
    tp = next(o for o in s.orders if o.leg == "t1")
    assert tp.amount == D("0.0999")  # position rounded down to the step
    assert tp.price is not None and tp.price > average_price(s)  # type: ignore[operator]


def test_redelivered_trades_and_unknown_orders_change_nothing() -> None:
    s = entered()
    f = fill(S1, "99", "0.1", trade_id="dup")
    s, _ = decide(s, OrderPartiallyFilled(at=at(2), fill=f))
    again, cmds = decide(s, OrderPartiallyFilled(at=at(2), fill=f))
    assert again is s and cmds == ()
    for event in (
        OrderFilled(at=at(3), client_order_id="mg1c9s1", fill=fill("mg1c9s1", "1", "1")),
        OrderCanceled(at=at(3), client_order_id="nope"),
        OrderAccepted(at=at(3), client_order_id="nope", exchange_order_id="x"),
        PriceTicked(at=at(3), price=D(50)),  # no stop loss configured
    ):
        assert decide(s, event) == (s, ())


def test_accepted_records_the_exchange_id() -> None:
    s, _ = decide(entered(), OrderAccepted(at=at(2), client_order_id=S1, exchange_order_id="E1"))
    order = s.order(S1)
    assert order is not None and (order.status, order.exchange_order_id) == (
        WorkingStatus.OPEN,
        "E1",
    )


def test_stop_loss_cancels_then_sells_at_market_and_closes_at_a_loss() -> None:
    p = params(max_safety_orders=1, stop_loss="5")
    s = entered(fresh(p))
    assert stop_loss_price(s) == D(95)
    assert not tick_matters(s, D("95.01"))
    assert decide(s, PriceTicked(at=at(2), price=D("95.01")))[0] is s
    s, cmds = decide(s, PriceTicked(at=at(3), price=D(95)))
    assert sorted(canceled(cmds)) == [S1, T1] and s.phase is Phase.CLOSING
    s, cmds = run(
        s, OrderCanceled(at=at(4), client_order_id=T1), OrderCanceled(at=at(4), client_order_id=S1)
    )
    exit_order = placed(cmds)["x1"]
    assert (exit_order.side, exit_order.order_type, exit_order.amount) == (
        Side.SELL,
        OrderType.MARKET,
        D("0.1"),
    )
    s, cmds = decide(
        s,
        OrderFilled(
            at=at(5), client_order_id="mg1c1x1", fill=fill("mg1c1x1", "94", "0.1", side=Side.SELL)
        ),
    )
    assert [c for c in cmds if isinstance(c, CycleClosed)] == [
        CycleClosed(
            cycle=1,
            realized_profit=D("-0.6"),
            reason=CloseReason.STOP_LOSS,
            at=at(5),
            bought=D("0.1"),
            spent=D("10.0"),
            base_price=D("100"),
            received=D("9.4"),
        )
    ]
    assert s.phase is Phase.COOLDOWN and position(s) == 0


def test_finish_cycle_request_lets_the_cycle_end_then_finishes() -> None:
    s, cmds = run(entered(), StopRequested(at=at(2), mode=StopMode.FINISH_CYCLE))
    assert cmds == () and s.phase is Phase.ACTIVE
    s, cmds = run(
        s,
        OrderFilled(at=at(3), client_order_id=T1, fill=fill(T1, "101", "0.1", side=Side.SELL)),
        OrderCanceled(at=at(4), client_order_id=S1),
        OrderCanceled(at=at(4), client_order_id=S2),
    )
    assert [type(c) for c in cmds if not hasattr(c, "client_order_id")] == [
        CycleClosed,
        StrategyFinished,
    ]
    assert s.phase is Phase.FINISHED
    assert decide(s, CooldownElapsed(at=at(999), price=D(1))) == (s, ())


def test_cancel_request_keeps_the_position_and_finishes() -> None:
    s, cmds = run(entered(), StopRequested(at=at(2), mode=StopMode.CANCEL))
    assert sorted(canceled(cmds)) == [S1, S2, T1]
    s, cmds = run(s, *(OrderCanceled(at=at(3), client_order_id=c) for c in (S1, S2, T1)))
    closed = [c for c in cmds if isinstance(c, CycleClosed)]
    assert closed[0].reason is CloseReason.CANCELED and closed[0].realized_profit == 0
    assert s.phase is Phase.FINISHED and position(s) == D("0.1") and average_price(s) == D(100)


def test_sell_request_cancels_sells_and_finishes() -> None:
    s, cmds = run(
        entered(),
        StopRequested(at=at(2), mode=StopMode.SELL),
        *(OrderCanceled(at=at(3), client_order_id=c) for c in (S1, S2, T1)),
    )
    assert placed(cmds)["x1"].amount == D("0.1")
    s, cmds = decide(
        s,
        OrderFilled(
            at=at(4), client_order_id="mg1c1x1", fill=fill("mg1c1x1", "102", "0.1", side=Side.SELL)
        ),
    )
    assert isinstance(cmds[0], CycleClosed) and cmds[0].reason is CloseReason.SOLD
    assert cmds[0].realized_profit == D("0.2")
    assert isinstance(cmds[1], StrategyFinished) and s.phase is Phase.FINISHED


def test_stop_while_cooling_down_finishes_at_once() -> None:
    s, _ = run(
        entered(fresh(params(max_safety_orders=0))),
        OrderFilled(at=at(3), client_order_id=T1, fill=fill(T1, "101", "0.1", side=Side.SELL)),
    )
    assert s.phase is Phase.COOLDOWN
    s, cmds = decide(s, StopRequested(at=at(4), mode=StopMode.CANCEL))
    assert s.phase is Phase.FINISHED and isinstance(cmds[0], StrategyFinished)


def test_rejected_base_order_finishes_the_strategy() -> None:
    s, cmds = run(
        fresh(),
        Started(at=at(), price=D(100)),
        OrderRejected(at=at(1), client_order_id=B, reason="insufficient funds"),
    )
    assert s.phase is Phase.FINISHED
    assert "insufficient funds" in cmds[-1].reason  # type: ignore[union-attr]


def test_base_canceled_after_a_partial_fill_continues_with_what_it_got() -> None:
    s, cmds = run(
        fresh(params(base_order_type="limit")),
        Started(at=at(), price=D(100)),
        OrderPartiallyFilled(at=at(1), fill=fill(B, "100", "0.04")),
        OrderCanceled(at=at(2), client_order_id=B),
    )
    assert s.phase is Phase.ACTIVE and placed(cmds)["t1"].amount == D("0.04")


def test_rejected_safety_order_is_skipped_for_the_next_level() -> None:
    s, cmds = decide(entered(), OrderRejected(at=at(2), client_order_id=S1, reason="post only"))
    assert set(placed(cmds)) == {"s3"} and s.order(S1) is None


def test_rejected_take_profit_waits_for_the_next_buy_fill() -> None:
    s, cmds = decide(entered(), OrderRejected(at=at(2), client_order_id=T1, reason="balance"))
    assert cmds == () and s.tp_blocked
    s, cmds = decide(s, OrderFilled(at=at(3), client_order_id=S1, fill=fill(S1, "99", "0.202")))
    assert placed(cmds)["t2"].amount == D("0.302")


def test_dust_below_the_step_is_carried_into_the_next_cycle() -> None:
    s, _ = run(
        fresh(params(max_safety_orders=0, cooldown=0)),
        Started(at=at(), price=D(100)),
        OrderFilled(
            at=at(1),
            client_order_id=B,
            fill=fill(B, "100", "0.1", fee="0.00005", fee_currency="ETH"),
        ),
    )
    tp = next(o for o in s.orders if o.leg == "t1")
    assert tp.amount == D("0.0999")  # 0.09995 held, 0.00005 is dust
    s, cmds = run(
        s,
        OrderFilled(
            at=at(2), client_order_id=T1, fill=fill(T1, "101.06", "0.0999", side=Side.SELL)
        ),
        CooldownElapsed(at=at(2), price=D(100)),
        OrderFilled(at=at(3), client_order_id="mg1c2b", fill=fill("mg1c2b", "100", "0.1")),
    )
    closed = next(c for c in cmds if isinstance(c, CycleClosed))
    cost = D(10) / D("0.09995")  # average entry of cycle 1, per ETH
    assert closed.realized_profit == D("101.06") * D("0.0999") - D(10) + D("0.00005") * cost
    assert position(s) == D("0.10005")
    assert placed(cmds)["t1"].amount == D("0.1")  # cycle 2's first TP includes the dust


def test_max_cycles_finishes_after_the_last_cycle() -> None:
    s, cmds = run(
        entered(fresh(params(max_safety_orders=0, max_cycles=1))),
        OrderFilled(at=at(3), client_order_id=T1, fill=fill(T1, "101", "0.1", side=Side.SELL)),
    )
    assert s.phase is Phase.FINISHED and "max_cycles" in str(cmds[-1])


def test_a_take_profit_revision_never_reuses_a_client_order_id() -> None:
    s = entered()
    s, cmds = run(
        s,
        OrderPartiallyFilled(at=at(2), fill=fill(S1, "99", "0.1")),
        OrderCanceled(at=at(3), client_order_id=T1),
        OrderPartiallyFilled(at=at(4), fill=fill(S1, "99", "0.1")),
        OrderCanceled(at=at(5), client_order_id=T2),
    )
    assert [c.leg for c in placed(cmds).values()] == ["t2", "t3"]
