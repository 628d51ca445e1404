"""Example transitions of a short (sell-first) ladder: each the mirror of a long behaviour."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from domain.commands import CloseReason, CycleClosed, ScheduleWakeup
from domain.errors import ValidationError
from domain.events import (
    CooldownElapsed,
    OrderCanceled,
    OrderFilled,
    OrderPartiallyFilled,
    OrderRejected,
    PriceTicked,
    Started,
    StopMode,
    StopRequested,
)
from domain.market import MarketRules
from domain.orders import OrderType, Side
from strategy.accounting import book_from_carried, carried_figures, close_book
from strategy.machine import decide
from strategy.options import Direction
from strategy.params import MartingaleParams
from strategy.queries import average_price, position, stop_loss_price, tick_matters, watch_levels
from strategy.state import Book, MartingaleState, Phase, WorkingStatus
from tests.unit.strategy.helpers import (
    SYMBOL,
    at,
    canceled,
    fill,
    fresh,
    params,
    placed,
    run,
)

B, S1, S2, S3, T1, T2, X1 = (
    "mg1c1b",
    "mg1c1s1",
    "mg1c1s2",
    "mg1c1s3",
    "mg1c1t1",
    "mg1c1t2",
    "mg1c1x1",
)
SELL, BUY = Side.SELL, Side.BUY


def short(**overrides: object) -> MartingaleParams:
    return params(direction="short", **overrides)


def entered_short(**overrides: object) -> MartingaleState:
    """Cycle 1 of a short, its base sell filled at 100: TP t1 (a buy), s1 and s2 resting."""
    s, _ = run(
        fresh(short(**overrides)),
        Started(at=at(), price=D(100)),
        OrderFilled(at=at(1), client_order_id=B, fill=fill(B, "100", "0.1", side=SELL)),
    )
    return s


def test_market_base_order_sells_base_sized_from_the_price() -> None:
    s, cmds = decide(fresh(short()), Started(at=at(), price=D("123.45")))
    base = placed(cmds)["b"]
    assert (base.side, base.order_type, base.price) == (SELL, OrderType.MARKET, None)
    assert base.amount == D("0.0810")  # 10 / 123.45 = 0.08100..., down to the step
    assert base.cost is None  # a market sell gives up base: no quote amount to spend
    assert s.phase is Phase.ENTERING


def test_limit_base_order_rests_at_the_current_price_rounded_up() -> None:
    _, cmds = decide(fresh(short(base_order_type="limit")), Started(at=at(), price=D("100.011")))
    base = placed(cmds)["b"]
    assert (base.side, base.order_type, base.price) == (SELL, OrderType.LIMIT, D("100.02"))
    assert base.amount == D("0.0999")  # 10 / 100.02, down to the step


def test_base_fill_places_a_buy_back_below_and_safety_sells_above() -> None:
    s, cmds = run(
        fresh(short()),
        Started(at=at(), price=D(100)),
        OrderFilled(at=at(1), client_order_id=B, fill=fill(B, "100.6", "0.1", side=SELL)),
    )
    legs = placed(cmds)
    assert s.base_price == D("100.6")
    assert set(legs) == {"b", "t1", "s1", "s2"}
    assert (legs["t1"].side, legs["t1"].amount) == (BUY, D("0.1"))
    assert legs["t1"].price == D("99.59")  # 100.6 * 0.99 = 99.594, rounded down
    assert (legs["s1"].side, legs["s1"].price) == (SELL, D("101.61"))  # 101.606, rounded up
    assert legs["s2"].price == D("103.62")  # 100.6 * 1.03 = 103.618, rounded up
    assert legs["s2"].amount == D("0.3860")  # 40 / 103.62 = 0.38602.., down to the step
    assert position(s) == D("-0.1") and average_price(s) == D("100.6")


def test_safety_sell_fill_re_places_the_buy_back_for_the_new_average() -> None:
    s, cmds = run(
        entered_short(),
        OrderFilled(at=at(2), client_order_id=S1, fill=fill(S1, "101", "0.198", side=SELL)),
    )
    assert canceled(cmds) == [T1]  # the entry side's fill cancels the take-profit
    assert set(placed(cmds)) == {"s3"}
    s, cmds = run(s, OrderCanceled(at=at(3), client_order_id=T1))
    tp = placed(cmds)["t2"]
    assert average_price(s) == D("29.998") / D("0.298")  # received / sold
    assert (tp.side, tp.amount) == (BUY, D("0.298"))
    assert tp.price == D("99.65")  # 100.6644.. * 0.99 = 99.6577.., rounded down


def test_buy_back_closes_the_cycle_with_profit_received_minus_spent() -> None:
    s, cmds = run(
        entered_short(),
        OrderFilled(at=at(5), client_order_id=T1, fill=fill(T1, "99", "0.1", side=BUY)),
    )
    assert set(canceled(cmds)) == {S1, S2}
    s, cmds = run(
        s,
        OrderCanceled(at=at(6), client_order_id=S1),
        OrderCanceled(at=at(6), client_order_id=S2),
    )
    (closed,) = [c for c in cmds if isinstance(c, CycleClosed)]
    assert closed.reason is CloseReason.TAKE_PROFIT
    assert closed.realized_profit == D("0.1")  # received 10, spent 9.9
    assert (closed.carried, closed.carried_cost) == (0, 0)
    assert s.phase is Phase.COOLDOWN and any(isinstance(c, ScheduleWakeup) for c in cmds)
    s, cmds = decide(s, CooldownElapsed(at=at(66), price=D(100)))
    assert placed(cmds)["b"].side is SELL and s.cycle == 2


def test_what_is_left_short_after_a_base_fee_is_carried_at_its_average() -> None:
    s, cmds = run(
        entered_short(),
        # the buy-back of 0.1 pays 0.00005 ETH of fee (below the 0.0001 step): 0.09995 comes
        # back, 0.00005 stays owed
        OrderFilled(
            at=at(5),
            client_order_id=T1,
            fill=fill(T1, "99", "0.1", side=BUY, fee="0.00005", fee_currency="ETH"),
        ),
        OrderCanceled(at=at(6), client_order_id=S1),
        OrderCanceled(at=at(6), client_order_id=S2),
    )
    (closed,) = [c for c in cmds if isinstance(c, CycleClosed)]
    assert (closed.carried, closed.carried_cost) == (D("-0.00005"), D("-0.005"))
    # received 10 - spent 9.9 - the 0.00005 still owed, valued at its entry 100 = 0.095
    assert closed.realized_profit == D("0.095")
    assert s.book == Book(sold=D("0.00005"), received=D("0.005"))
    assert position(s) == D("-0.00005")
    s, cmds = run(
        s,
        CooldownElapsed(at=at(100), price=D(100)),
        OrderFilled(
            at=at(101), client_order_id="mg1c2b", fill=fill("mg1c2b", "100", "0.09995", side=SELL)
        ),
    )
    assert placed(cmds)["t1"].amount == D("0.1")  # the carried debt is bought back too
    assert average_price(s) == D(100)


def test_stop_loss_fires_above_the_average_and_buys_back_at_market() -> None:
    s = entered_short(stop_loss="10", max_safety_orders=1, max_active_safety_orders=1)
    assert stop_loss_price(s) == D("110")
    assert watch_levels(s) == (D("99"), D("101"))  # the take-profit below, s1 (and stop) above
    assert not tick_matters(s, D("109.99")) and tick_matters(s, D(110))
    s, cmds = decide(s, PriceTicked(at=at(9), price=D(111)))
    assert set(canceled(cmds)) == {T1, S1}
    s, cmds = run(
        s,
        OrderCanceled(at=at(10), client_order_id=T1),
        OrderCanceled(at=at(10), client_order_id=S1),
    )
    exit_ = placed(cmds)["x1"]
    assert (exit_.side, exit_.order_type, exit_.amount, exit_.cost) == (
        BUY,
        OrderType.MARKET,
        D("0.1"),
        None,
    )
    s, cmds = run(
        s, OrderFilled(at=at(11), client_order_id=X1, fill=fill(X1, "111", "0.1", side=BUY))
    )
    (closed,) = [c for c in cmds if isinstance(c, CycleClosed)]
    assert closed.reason is CloseReason.STOP_LOSS and closed.realized_profit == D("-1.1")


def test_stop_loss_watch_level_is_above_when_no_sell_rests() -> None:
    s = entered_short(stop_loss="10", max_safety_orders=0)
    assert watch_levels(s) == (D("99"), D("110"))


def test_sell_now_buys_back_the_position_at_market() -> None:
    s, cmds = run(entered_short(), StopRequested(at=at(5), mode=StopMode.SELL))
    s, cmds = run(
        s,
        OrderCanceled(at=at(6), client_order_id=T1),
        OrderCanceled(at=at(6), client_order_id=S1),
        OrderCanceled(at=at(6), client_order_id=S2),
    )
    assert placed(cmds)["x1"].side is BUY


def test_rejected_safety_sell_is_placed_again_under_new_rules() -> None:
    s = entered_short()
    new_rules = MarketRules(symbol=SYMBOL, tick_size=D("0.1"), step_size=D("0.001"))
    s, cmds = decide(s, OrderRejected(at=at(3), client_order_id=S1, reason="tick", rules=new_rules))
    again = placed(cmds)["u1"]
    assert (again.side, again.price, again.amount) == (SELL, D("101.0"), D("0.198"))


def test_a_stop_loss_that_fires_before_the_next_safety_sell_is_refused() -> None:
    with pytest.raises(ValidationError, match="above the average entry") as info:
        short(stop_loss="1", max_safety_orders=3)
    assert info.value.field == "stop_loss"
    assert short(stop_loss="40", max_safety_orders=3).stop_loss == D(40)


def test_short_ladder_may_go_past_100_percent_above() -> None:
    p = short(price_deviation="50", step_scale="2", max_safety_orders=3)  # 50, 150, 350 %
    assert p.direction is Direction.SHORT


def test_close_book_mirrors_for_a_short_and_reads_back_from_its_record() -> None:
    book = Book(sold=D("1"), received=D("100"), bought=D("0.99"), spent=D("89.1"))
    profit, carried = close_book(book, Direction.SHORT)
    assert profit == D("9.9")  # 0.99 bought back 10 below its entry
    assert carried == Book(sold=D("0.01"), received=D("1"))
    figures = carried_figures(carried)
    assert figures == (D("-0.01"), D("-1"))
    assert book_from_carried(*figures) == carried
    assert book_from_carried(D("0.5"), D("50")) == Book(bought=D("0.5"), spent=D("50"))
    # the long side is unchanged
    long_profit, long_carried = close_book(
        Book(bought=D(1), spent=D(100), sold=D("0.99"), received=D(109))
    )
    assert (long_profit, long_carried) == (D(10), Book(bought=D("0.01"), spent=D(1)))


def test_partial_buy_back_then_a_safety_sell_re_places_the_buy_back_for_what_is_owed() -> None:
    s, cmds = run(
        entered_short(),
        OrderPartiallyFilled(at=at(2), fill=fill(T1, "99", "0.04", side=BUY)),
        OrderFilled(at=at(3), client_order_id=S1, fill=fill(S1, "101", "0.2", side=SELL)),
    )
    assert canceled(cmds) == [T1]
    assert s.order(T1).status is WorkingStatus.CANCELING  # type: ignore[union-attr]
    s, cmds = run(s, OrderCanceled(at=at(4), client_order_id=T1))
    tp = placed(cmds)["t2"]
    assert position(s) == D("-0.26") and tp.amount == D("0.26")
    assert average_price(s) == D("30.2") / D("0.3")  # every sell of the cycle, as for a long
    assert tp.price == D("99.66")  # 100.666.. * 0.99 = 99.66
