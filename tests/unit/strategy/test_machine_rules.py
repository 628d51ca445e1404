"""Market rules that change under a running strategy, quote-sized base orders, cycle figures
and deployment tags (issue 11, items 8, 10, 24, 25)."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal as D

from domain.commands import CloseReason, CycleClosed, PlaceOrder
from domain.events import (
    CooldownElapsed,
    OrderCanceled,
    OrderFilled,
    OrderRejected,
    Started,
    StopMode,
    StopRequested,
)
from domain.ids import client_order_id_tag, parse_client_order_id
from domain.orders import OrderType, Side
from strategy.machine import decide
from strategy.state import Phase
from tests.unit.strategy.helpers import RULES, at, entered, fill, fresh, params, placed, run

B, S1, S2, T1 = "mg1c1b", "mg1c1s1", "mg1c1s2", "mg1c1t1"
COARSE = replace(RULES, tick_size=D("0.3"), step_size=D("0.01"))


def test_a_market_base_order_spends_a_quote_amount() -> None:
    _, cmds = decide(fresh(), Started(at=at(), price=D("123.45")))
    base = placed(cmds)["b"]
    assert base.cost == D("10") and base.amount == D("0.0810")  # the amount is an estimate


def test_a_limit_base_order_has_no_quote_amount() -> None:
    _, cmds = decide(fresh(params(base_order_type="limit")), Started(at=at(), price=D(100)))
    assert placed(cmds)["b"].cost is None


def test_each_cycle_is_sized_with_the_rules_read_when_it_starts() -> None:
    s, cmds = decide(fresh(), Started(at=at(), price=D("123.45"), rules=COARSE))
    assert s.rules == COARSE and placed(cmds)["b"].amount == D("0.08")
    s = replace(s, phase=Phase.COOLDOWN, wake_at=at(60), orders=())
    s, cmds = decide(s, CooldownElapsed(at=at(60), price=D("123.45"), rules=RULES))
    assert s.rules == RULES and placed(cmds)["b"].amount == D("0.0810")


def test_rules_of_another_symbol_are_ignored() -> None:
    other = replace(COARSE, symbol="BTC/USDT")
    s, _ = decide(fresh(), Started(at=at(), price=D(100), rules=other))
    assert s.rules == RULES


def test_a_refused_take_profit_is_placed_again_under_changed_rules() -> None:
    s = entered()
    s, cmds = decide(
        s, OrderRejected(at=at(2), client_order_id=T1, reason="PRICE_FILTER", rules=COARSE)
    )
    again = placed(cmds)["t2"]
    assert s.rules == COARSE and not s.tp_blocked
    assert again.price == D("101.1") and again.amount == D("0.10")  # 101 rounded up to 0.3


def test_a_refused_take_profit_with_unchanged_rules_still_waits_for_the_position() -> None:
    s, cmds = decide(entered(), OrderRejected(at=at(2), client_order_id=T1, reason="funds"))
    assert s.tp_blocked and "t2" not in placed(cmds)
    s, cmds = decide(
        entered(), OrderRejected(at=at(2), client_order_id=T1, reason="x", rules=RULES)
    )
    assert s.tp_blocked and "t2" not in placed(cmds)


def test_a_refused_safety_order_is_placed_again_once_under_changed_rules() -> None:
    s, cmds = decide(
        entered(), OrderRejected(at=at(2), client_order_id=S1, reason="LOT", rules=COARSE)
    )
    again = placed(cmds)["u1"]
    assert (again.side, again.order_type, again.price) == (Side.BUY, OrderType.LIMIT, D("99"))
    assert again.amount == D("0.20")  # 20 quote / 99 = 0.2020..., down to the 0.01 step
    tighter = replace(COARSE, step_size=D("0.1"))
    s, cmds = decide(
        s,
        OrderRejected(at=at(3), client_order_id=again.client_order_id, reason="LOT", rules=tighter),
    )
    assert not [c for c in cmds if isinstance(c, PlaceOrder) and c.leg.startswith("u")]


def test_a_refused_market_exit_is_placed_again_under_changed_rules() -> None:
    s = entered()
    s, _ = run(
        s,
        StopRequested(at=at(2), mode=StopMode.SELL),
        OrderCanceled(at=at(3), client_order_id=T1),
        OrderCanceled(at=at(3), client_order_id=S1),
        OrderCanceled(at=at(3), client_order_id=S2),
    )
    assert s.phase is Phase.SELLING
    exit_coid = s.orders[0].client_order_id
    s, cmds = decide(
        s, OrderRejected(at=at(4), client_order_id=exit_coid, reason="LOT", rules=COARSE)
    )
    assert s.phase is Phase.SELLING and placed(cmds)["x2"].amount == D("0.10")


def test_a_closed_cycle_reports_its_own_figures_and_what_it_carries() -> None:
    s = entered()
    s, cmds = run(
        s,
        StopRequested(at=at(2), mode=StopMode.CANCEL),
        OrderCanceled(at=at(3), client_order_id=T1),
        OrderCanceled(at=at(3), client_order_id=S1),
        OrderCanceled(at=at(3), client_order_id=S2),
    )
    (closed,) = [c for c in cmds if isinstance(c, CycleClosed)]
    assert closed.reason is CloseReason.CANCELED
    assert (closed.bought, closed.spent, closed.base_price) == (D("0.1"), D("10.0"), D("100"))
    assert (closed.carried, closed.carried_cost) == (D("0.1"), D("10.0"))  # the kept position
    assert closed.realized_profit == 0
    assert s.phase is Phase.FINISHED


def test_every_client_order_id_carries_the_deployment_tag() -> None:
    s = replace(fresh(), order_tag="kqzw")
    s, cmds = run(
        s,
        Started(at=at(), price=D(100)),
        OrderFilled(at=at(1), client_order_id="mgkqzw1c1b", fill=fill("mgkqzw1c1b", "100", "0.1")),
    )
    coids = [c.client_order_id for c in cmds if isinstance(c, PlaceOrder)]
    assert len(coids) == 4
    assert all(client_order_id_tag(c) == "kqzw" for c in coids)
    assert all(parse_client_order_id(c) is not None for c in coids)
