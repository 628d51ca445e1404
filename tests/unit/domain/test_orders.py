from __future__ import annotations

from decimal import Decimal

import pytest

from domain.errors import IllegalTransition
from domain.orders import Order, OrderState, OrderType, Side

S = OrderState


def _order(state: OrderState = S.PENDING_SUBMIT) -> Order:
    return Order(
        client_order_id="mg1c1b",
        symbol="ETH/BTC",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal("2"),
        price=Decimal("0.05"),
        state=state,
    )


LEGAL = {
    (S.PENDING_SUBMIT, S.OPEN),
    (S.PENDING_SUBMIT, S.PARTIALLY_FILLED),
    (S.PENDING_SUBMIT, S.FILLED),
    (S.PENDING_SUBMIT, S.CANCELED),
    (S.PENDING_SUBMIT, S.REJECTED),
    (S.PENDING_SUBMIT, S.UNKNOWN),
    (S.UNKNOWN, S.OPEN),
    (S.UNKNOWN, S.PARTIALLY_FILLED),
    (S.UNKNOWN, S.FILLED),
    (S.UNKNOWN, S.CANCELED),
    (S.UNKNOWN, S.REJECTED),
    (S.OPEN, S.PARTIALLY_FILLED),
    (S.OPEN, S.FILLED),
    (S.OPEN, S.CANCELED),
    (S.PARTIALLY_FILLED, S.PARTIALLY_FILLED),
    (S.PARTIALLY_FILLED, S.FILLED),
    (S.PARTIALLY_FILLED, S.CANCELED),
}


@pytest.mark.parametrize("src", list(S))
@pytest.mark.parametrize("dst", list(S))
def test_only_the_legal_transitions_are_allowed(src: OrderState, dst: OrderState) -> None:
    order = _order(src)
    if (src, dst) in LEGAL or src == dst:
        assert order.transition(dst).state is dst
    else:
        with pytest.raises(IllegalTransition, match=f"{src.value} -> {dst.value}"):
            order.transition(dst)


def test_terminal_states_go_nowhere() -> None:
    for state in (S.FILLED, S.CANCELED, S.REJECTED):
        assert state.is_terminal
        assert not any(state.can_become(other) for other in S)


def test_transition_carries_changes_and_keeps_the_original() -> None:
    order = _order()
    filled = order.transition(S.PARTIALLY_FILLED, filled=Decimal("0.5"), cost=Decimal("0.025"))
    assert order.filled == 0
    assert filled.remaining == Decimal("1.5")
    assert filled.average_price == Decimal("0.05")
