"""The take-profit variants in the machine: sells in steps and the trailing take-profit."""

from __future__ import annotations

from decimal import Decimal as D

from domain import codec
from domain.commands import Command, CycleClosed, PlaceOrder
from domain.events import Event, OrderCanceled, OrderFilled, OrderRejected, PriceTicked, Started
from domain.ids import client_order_id
from domain.market import MarketRules
from domain.orders import OrderType, Side
from strategy.machine import decide
from strategy.queries import watch_levels
from strategy.state import MartingaleState, Phase, Role, WorkingStatus
from strategy.take_profit import step_of
from tests.unit.strategy.helpers import at, canceled, entered, fill, fresh, params, placed, run

S1 = "mg1c1s1"
STEPS = [
    {"percent": "1", "portion": "50"},
    {"percent": "2", "portion": "30"},
    {"percent": "3", "portion": "20"},
]


def _sell_fill(coid: str, price: str, amount: str) -> OrderFilled:
    return OrderFilled(
        at=at(5), client_order_id=coid, fill=fill(coid, price, amount, side=Side.SELL)
    )


# --- steps ------------------------------------------------------------------------------------


def test_steps_place_one_sell_per_step_for_its_portion_the_last_takes_the_rest() -> None:
    s, cmds = run(
        fresh(params(take_profit_steps=STEPS, max_safety_orders=1)),
        *_start_and_base("0.1003"),
    )
    sells = {leg: c for leg, c in placed(cmds).items() if c.side is Side.SELL}
    assert {leg: (c.amount, c.price) for leg, c in sells.items()} == {
        "ta1": (D("0.0501"), D("101.00")),
        "tb1": (D("0.0300"), D("102.00")),
        "tc1": (D("0.0202"), D("103.00")),  # the rest: 0.1003 - 0.0501 - 0.0300
    }
    assert sum(c.amount for c in sells.values()) == s.book.position
    assert [step_of(leg) for leg in sells] == [0, 1, 2]


def test_a_filled_step_stays_done_and_the_rest_are_replaced_after_a_safety_fill() -> None:
    s, _ = run(fresh(params(take_profit_steps=STEPS, max_safety_orders=1)), *_start_and_base("0.1"))
    s, cmds = decide(s, _sell_fill("mg1c1ta1", "101", "0.05"))
    assert cmds == () and s.tp_steps_done == (0,) and s.phase is Phase.ACTIVE
    assert s.book.position == D("0.05")
    # the safety order fills: the resting steps are canceled, placed again once gone
    s, cmds = decide(s, OrderFilled(at=at(6), client_order_id=S1, fill=fill(S1, "99", "0.2")))
    assert sorted(canceled(cmds)) == ["mg1c1tb1", "mg1c1tc1"]
    assert not [c for c in cmds if isinstance(c, PlaceOrder)]
    s, cmds = run(s, OrderCanceled(at=at(7), client_order_id="mg1c1tb1"))
    assert not [c for c in cmds if isinstance(c, PlaceOrder)]  # one cancel still in flight
    s, cmds = run(s, OrderCanceled(at=at(7), client_order_id="mg1c1tc1"))
    new = placed(cmds)
    assert set(new) == {"tb2", "tc2"}  # new ids: step letters with the next round
    average = s.book.average
    assert average == D("29.8") / D("0.3")  # the entry average: spent 10 + 19.8 over 0.3
    # the 0.25 held is shared 30:20 by the two steps left
    assert (new["tb2"].amount, new["tc2"].amount) == (D("0.15"), D("0.10"))
    assert new["tb2"].price == s.rules.round_price_up(average * D("1.02"))
    assert new["tc2"].price == s.rules.round_price_up(average * D("1.03"))
    s, _ = decide(s, _sell_fill("mg1c1tb2", str(new["tb2"].price), "0.15"))
    s, cmds = decide(s, _sell_fill("mg1c1tc2", str(new["tc2"].price), "0.10"))
    closed = [c for c in cmds if isinstance(c, CycleClosed)]
    assert len(closed) == 1 and s.phase is Phase.COOLDOWN
    received = D("101") * D("0.05") + new["tb2"].price * D("0.15") + new["tc2"].price * D("0.1")
    assert closed[0].realized_profit == received - D("29.8")  # exact: proceeds - cost


def test_a_step_that_filled_while_being_canceled_is_done_and_the_last_takes_the_rest() -> None:
    s, _ = run(
        fresh(
            params(
                take_profit_steps=[STEPS[0], {"percent": "2", "portion": "50"}],
                max_safety_orders=1,
            )
        ),
        *_start_and_base("0.1"),
    )
    s, _ = decide(s, _sell_fill("mg1c1ta1", "101", "0.05"))
    s, cmds = decide(s, OrderFilled(at=at(6), client_order_id=S1, fill=fill(S1, "99", "0.2")))
    assert canceled(cmds) == ["mg1c1tb1"]
    s, cmds = decide(s, _sell_fill("mg1c1tb1", "102", "0.05"))  # it filled before the cancel
    assert s.tp_steps_done == (0, 1)
    new = placed(cmds)
    assert list(new) == ["tb2"] and new["tb2"].amount == D("0.2")  # the rest, at the last step


def test_a_step_too_small_for_the_minimum_hands_its_share_to_the_next() -> None:
    rules = MarketRules(
        symbol="ETH/USDT", tick_size=D("0.01"), step_size=D("0.0001"), min_notional=D("4")
    )
    steps = [{"percent": "1", "portion": "30"}, {"percent": "2", "portion": "70"}]
    _, cmds = run(
        fresh(params(take_profit_steps=steps, max_safety_orders=1), rules), *_start_and_base("0.1")
    )
    sells = {leg: c.amount for leg, c in placed(cmds).items() if c.side is Side.SELL}
    assert sells == {"tb1": D("0.1")}  # 0.03 at 101 is 3.03 < 4: sold with step 2


def test_client_order_ids_of_steps_fit_the_id_format() -> None:
    coid = client_order_id(2**31, 99_999_999, "tj9999", tag="abcd")
    assert len(coid) <= 32


# --- trailing ---------------------------------------------------------------------------------


def _trail(**extra: object) -> MartingaleState:
    s, cmds = run(
        fresh(params(trailing_deviation="1", max_safety_orders=1, **extra)),
        *_start_and_base("0.1"),
    )
    assert not s.orders_with(Role.TAKE_PROFIT)  # nothing rests while the trail watches
    assert [leg for leg in placed(cmds)] == ["b", "s1"]
    return s


def _tick(
    s: MartingaleState, price: str, second: int = 10
) -> tuple[MartingaleState, tuple[Command, ...]]:
    return decide(s, PriceTicked(at=at(second), price=D(price)))


def test_the_trail_arms_at_the_take_profit_follows_the_peak_and_sells_on_the_pull_back() -> None:
    s = _trail()
    assert watch_levels(s) == (D("99.00"), D("101.00"))  # safety order below, the tp above
    s2, cmds = _tick(s, "100.99")
    assert s2 is s and cmds == ()
    s, cmds = _tick(s, "101.5")
    assert cmds == () and s.trail_peak == D("101.5")
    assert watch_levels(s) == (D("101.00"), D("101.5"))  # trigger floored at the tp
    s, cmds = _tick(s, "105")
    assert cmds == () and s.trail_peak == D("105")
    assert watch_levels(s) == (D("103.95"), D("105"))
    assert codec.loads(codec.dumps(s)) == s  # the peak is in the snapshot
    s2, cmds = _tick(s, "104")
    assert s2 is s and cmds == ()
    s, cmds = _tick(s, "103.9")
    sell = placed(cmds)["t1"]
    assert (sell.side, sell.order_type, sell.price, sell.amount) == (
        Side.SELL,
        OrderType.LIMIT,
        D("103.90"),
        D("0.1"),
    )
    assert watch_levels(s) == (D("99.00"), D("103.90"))  # the sell rests; the trail is done
    s, cmds = decide(s, _sell_fill("mg1c1t1", "103.9", "0.1"))
    assert canceled(cmds) == [S1]  # the cycle's safety order goes, then the cycle closes
    s, cmds = decide(s, OrderCanceled(at=at(6), client_order_id=S1))
    closed = [c for c in cmds if isinstance(c, CycleClosed)]
    assert closed[0].realized_profit == D("0.39")


def test_the_trail_never_sells_below_the_take_profit_price() -> None:
    s = _trail()
    s, _ = _tick(s, "101.2")  # armed; 1 % back is 100.188, below the tp 101
    s2, cmds = _tick(s, "101.01")
    assert s2 is s and cmds == ()
    s, cmds = _tick(s, "97")  # a gap through the take-profit: the sell rests at the tp
    assert placed(cmds)["t1"].price == D("101.00")


def test_a_buy_fill_while_trailing_resets_the_trail_for_the_new_average() -> None:
    s = _trail()
    s, _ = _tick(s, "102")
    assert s.trail_peak == D("102")
    s, _ = decide(s, OrderFilled(at=at(6), client_order_id=S1, fill=fill(S1, "99", "0.2")))
    assert s.trail_peak is None and not s.orders_with(Role.TAKE_PROFIT)
    average = s.book.average
    assert average is not None
    tp = s.rules.round_price_up(average * D("1.01"))
    assert watch_levels(s) == (None, tp)


def test_a_buy_fill_cancels_a_resting_trail_sell_and_the_trail_starts_again() -> None:
    s = _trail()
    s, _ = _tick(s, "101.2")
    s, _ = _tick(s, "97")  # rests at 101
    s, cmds = decide(s, OrderFilled(at=at(6), client_order_id=S1, fill=fill(S1, "99", "0.2")))
    assert canceled(cmds) == ["mg1c1t1"]
    tp = s.order("mg1c1t1")
    assert tp is not None and tp.status is WorkingStatus.CANCELING
    s, cmds = decide(s, OrderCanceled(at=at(7), client_order_id="mg1c1t1"))
    assert cmds == () and s.trail_peak is None and s.phase is Phase.ACTIVE


def test_a_rejected_trail_sell_waits_for_the_next_buy() -> None:
    s = _trail()
    s, _ = _tick(s, "102")
    s, _ = _tick(s, "100.9")
    s, cmds = decide(s, OrderRejected(at=at(8), client_order_id="mg1c1t1", reason="x"))
    assert s.tp_blocked and cmds == ()
    assert decide(s, PriceTicked(at=at(9), price=D("110")))[0] is s
    assert watch_levels(s) == (D("99.00"), None)


def test_the_stop_loss_still_wins_over_the_trail() -> None:
    s = _trail(stop_loss="5")
    s, cmds = _tick(s, "95")
    assert s.phase is Phase.CLOSING and canceled(cmds) == [S1]


def _start_and_base(amount: str) -> tuple[Event, ...]:
    return (
        Started(at=at(), price=D(100)),
        OrderFilled(at=at(1), client_order_id="mg1c1b", fill=fill("mg1c1b", "100", amount)),
    )


def test_entered_helper_still_places_the_plain_take_profit() -> None:
    _, cmds = run(fresh(), *_start_and_base("0.1"))
    assert placed(cmds)["t1"].price == D("101.00")
    assert entered().orders_with(Role.TAKE_PROFIT)
