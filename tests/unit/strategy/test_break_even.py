"""Break-even after a timeout covers the closing order's fee at the venue's maker rate: by hand,
both directions, and as a property (closing there never loses money net of fees)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal as D
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from domain import codec
from domain.commands import CancelOrder, Command, CycleClosed, PlaceOrder
from domain.events import CooldownElapsed, Event, OrderCanceled, OrderFilled, Started
from domain.market import MarketRules
from domain.orders import Fill, OrderType, Side
from strategy.direction import cover_fee
from strategy.exits import break_even_price
from strategy.machine import decide
from strategy.options import Direction
from strategy.state import MartingaleState, WorkingStatus
from tests.unit.strategy.helpers import SYMBOL, at, fill, fresh, params, placed, run

B, S1 = "mg1c1b", "mg1c1s1"
HOUR = 3600


def rules(fee: str, tick: str = "0.01", step: str = "0.0001") -> MarketRules:
    return MarketRules(symbol=SYMBOL, tick_size=D(tick), step_size=D(step), maker_fee_rate=D(fee))


def timed_out(s: MartingaleState, when: int) -> tuple[MartingaleState, list[Command]]:
    """The timeout fires, the take-profits' cancels land: the break-even exit is placed."""
    s, cmds = decide(s, CooldownElapsed(at=at(when), price=D(100)))
    out = list(cmds)
    for order in [o for o in s.orders if o.status is WorkingStatus.CANCELING]:
        s, more = decide(s, OrderCanceled(at=at(when + 1), client_order_id=order.client_order_id))
        out.extend(more)
    return s, out


def closed_by(s: MartingaleState, filled: OrderFilled) -> CycleClosed:
    """The exit fills; the cancels of the orders still working land: the cycle's record."""
    s, cmds = decide(s, filled)
    others = [o.client_order_id for o in s.orders if o.client_order_id != filled.client_order_id]
    s, more = run(s, *(OrderCanceled(at=filled.at, client_order_id=c) for c in others))
    [closed] = [c for c in (*cmds, *more) if isinstance(c, CycleClosed)]
    return closed


def test_a_long_break_even_covers_the_closing_sell_at_the_maker_fee() -> None:
    p = params(stop_loss_timeout="1", stop_loss_timeout_action="break_even")
    s, _ = run(
        fresh(p, rules("0.001")),
        Started(at=at(), price=D(100)),
        OrderFilled(
            at=at(1),
            client_order_id=B,
            fill=fill(B, "100", "0.1", fee="0.013", fee_currency="USDT"),
        ),
    )
    s, cmds = timed_out(s, 1 + HOUR)
    tp = placed(cmds)["t2"]
    # The average with the buy fee is 100.13; the sell nets 0.999 of its price: 100.2302.., up.
    assert (tp.side, tp.price, tp.amount) == (Side.SELL, D("100.24"), D("0.1"))
    s, cmds = run(s, OrderFilled(at=at(3 + HOUR), client_order_id=S1, fill=fill(S1, "99", "0.202")))
    s, cmds = decide(s, OrderCanceled(at=at(4 + HOUR), client_order_id="mg1c1t2"))
    t3 = placed(cmds)["t3"]
    assert t3.price == D("99.48")  # (10.013 + 19.998) / 0.302 / 0.999 = 99.4736.., up
    closed = closed_by(
        s,
        OrderFilled(
            at=at(5 + HOUR),
            client_order_id=t3.client_order_id,
            fill=fill(
                t3.client_order_id,
                "99.48",
                "0.302",
                side=Side.SELL,
                fee="0.03004296",
                fee_currency="USDT",
            ),
        ),
    )
    # 0.302 * 99.48 * 0.999 - 30.011 = 0.0022..: not a loss, fees and all.
    assert closed.realized_profit == D("30.04296") - D("0.03004296") - D("30.011")


def test_a_short_break_even_buys_back_below_the_average_by_the_fee() -> None:
    p = params(direction="short", stop_loss_timeout="1", stop_loss_timeout_action="break_even")
    s, _ = run(
        fresh(p, rules("0.002")),
        Started(at=at(), price=D(100)),
        OrderFilled(
            at=at(1),
            client_order_id=B,
            fill=fill(B, "100", "0.1", side=Side.SELL, fee="0.01", fee_currency="USDT"),
        ),
    )
    s, cmds = timed_out(s, 1 + HOUR)
    tp = placed(cmds)["t2"]
    # Received 9.99 for 0.1: 99.9 each; a buy-back keeps 0.998 of its base: 99.7002, down.
    assert (tp.side, tp.price, tp.amount) == (Side.BUY, D("99.70"), D("0.1"))


def test_without_a_fee_rate_break_even_is_the_average() -> None:
    p = params(stop_loss_timeout="1", stop_loss_timeout_action="break_even")
    s, _ = run(
        fresh(p, rules("0")),
        Started(at=at(), price=D(100)),
        OrderFilled(at=at(1), client_order_id=B, fill=fill(B, "100", "0.1", fee="0.013")),
    )
    assert break_even_price(s) == D("100.13")
    # A rebate (a negative maker fee) is not counted on: the exit stays at the average.
    assert break_even_price(replace(s, rules=rules("-0.0002"))) == D("100.13")


def test_without_a_tick_the_price_still_covers_the_exact_cost() -> None:
    """Nothing rounds the price to a tick, so the arithmetic itself rounds away from a loss:
    rounded to the nearest, (3 * 3.3298 + 0.0001) / 3.3298 / 0.999 would fall short (so would
    it for 3.3295)."""
    p = params(stop_loss_timeout="1", stop_loss_timeout_action="break_even")
    for amount in ("3.3298", "3.3295"):
        s, _ = run(
            fresh(p, rules("0.001", tick="0", step="0")),
            Started(at=at(), price=D(3)),
            OrderFilled(at=at(1), client_order_id=B, fill=fill(B, "3", amount, fee="0.0001")),
        )
        price = break_even_price(s)
        assert price is not None
        cost = Fraction(s.book.spent) / Fraction(s.book.bought)
        assert Fraction(price) * (1 - Fraction(D("0.001"))) >= cost, amount
    assert cover_fee(Direction.LONG, D(100), D("0.5")) == D(200)
    assert cover_fee(Direction.SHORT, D(100), D("0.5")) == D(50)


def test_the_rate_rides_in_the_snapshot_and_an_older_snapshot_reads_zero() -> None:
    s = fresh(params(stop_loss_timeout="1", stop_loss_timeout_action="break_even"), rules("0.001"))
    assert codec.loads(codec.dumps(s)) == s
    data = json.loads(codec.dumps(s))
    del data["rules"]["maker_fee_rate"]  # what a snapshot made before the field holds
    old = codec.decode(data)
    assert isinstance(old, MartingaleState)
    assert old.rules.maker_fee_rate == 0 and old.rules.tick_size == D("0.01")


# --- the property ----------------------------------------------------------------------------

# Real grids only: without a tick, a price of 28 digits leaves the fills' own arithmetic to round
# (the example above checks the exact cost there); without a step, a short whose buy-back pays
# its fee in base buys back the fee on the fee for ever, down to the last digit.
_TICKS = ["0.01", "0.0001", "0.00000001", "0.1"]
_STEPS = ["0.0001", "0.001", "0.00000001"]


def _fill_order(cmd: PlaceOrder, price: D, fee_rate: D, fee_in_base: bool, n: int) -> Fill:
    """The whole order at `price`, its fee at `fee_rate` on what it receives (base for a buy
    when `fee_in_base`, else quote)."""
    amount = cmd.amount if cmd.amount > 0 else (cmd.cost or D(0)) / price
    base_fee = cmd.side is Side.BUY and fee_in_base
    fee = amount * fee_rate if base_fee else amount * price * fee_rate
    return Fill(
        trade_id=f"p{n}",
        client_order_id=cmd.client_order_id,
        symbol=SYMBOL,
        side=cmd.side,
        price=price,
        amount=amount,
        fee=fee,
        fee_currency="ETH" if base_fee else "USDT",
    )


@settings(max_examples=300, deadline=None)
@given(
    direction=st.sampled_from(["long", "short"]),
    price=st.decimals(min_value="0.5", max_value="60000", places=2),
    safety=st.booleans(),
    fee=st.decimals(min_value=0, max_value="0.01", places=5),
    entry_fee=st.decimals(min_value=0, max_value="0.01", places=5),
    fee_in_base=st.booleans(),
    tick=st.sampled_from(_TICKS),
    step=st.sampled_from(_STEPS),
)
def test_closing_at_break_even_never_loses_net_of_fees(
    direction: str,
    price: D,
    safety: bool,
    fee: D,
    entry_fee: D,
    fee_in_base: bool,
    tick: str,
    step: str,
) -> None:
    p = params(
        direction=direction,
        base_order_type="market",
        stop_loss_timeout="1",
        stop_loss_timeout_action="break_even",
    )
    s, cmds = decide(fresh(p, rules(str(fee), tick, step)), Started(at=at(), price=price))
    base = placed(cmds).get("b")
    if base is None:  # the rules refuse even the base order
        return
    s, cmds = decide(
        s,
        OrderFilled(
            at=at(1),
            client_order_id=base.client_order_id,
            fill=_fill_order(base, price, entry_fee, fee_in_base, 1),
        ),
    )
    s1 = placed(cmds).get("s1")
    if safety and s1 is not None and s1.price is not None:
        s, _ = decide(
            s,
            OrderFilled(
                at=at(2),
                client_order_id=s1.client_order_id,
                fill=_fill_order(s1, s1.price, entry_fee, fee_in_base, 2),
            ),
        )
    s, cmds = timed_out(s, 10 + HOUR)
    exits = [c for c in cmds if isinstance(c, PlaceOrder) and c.leg.startswith("t")]
    if not exits:  # the position is too small to close under the rules
        return
    [tp] = exits
    closed = _close(s, tp, fee, fee_in_base)
    assert closed.realized_profit >= 0, (closed.realized_profit, tp.price)


def _close(s: MartingaleState, tp: PlaceOrder, fee: D, fee_in_base: bool) -> CycleClosed:
    """Fill each exit at its limit and let each cancel land, until the cycle closes (a short
    whose buy-back paid its fee in base buys the fee back with one more exit)."""
    queue: list[Event] = []
    n = 3

    def exit_fill(cmd: PlaceOrder) -> OrderFilled:
        assert cmd.order_type is OrderType.LIMIT and cmd.price is not None
        return OrderFilled(
            at=at(20 + HOUR),
            client_order_id=cmd.client_order_id,
            fill=_fill_order(cmd, cmd.price, fee, fee_in_base, n),
        )

    queue.append(exit_fill(tp))
    while queue:
        s, cmds = decide(s, queue.pop(0))
        for cmd in cmds:
            if isinstance(cmd, CycleClosed):
                return cmd
            if isinstance(cmd, CancelOrder):
                queue.append(OrderCanceled(at=at(21 + HOUR), client_order_id=cmd.client_order_id))
            if isinstance(cmd, PlaceOrder):
                assert cmd.leg.startswith("t"), cmd  # only exits, at break-even
                n += 1
                assert n < 12, (s.book, s.rules, cmd)  # each exit owes less: a few at most
                queue.append(exit_fill(cmd))
    raise AssertionError(f"the cycle did not close: {s.phase}, {s.orders}")
