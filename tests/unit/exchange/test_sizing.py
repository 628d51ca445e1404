"""A market buy sized by its quote cost never spends more than that cost."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.sizing import amount_for_cost

costs = st.decimals(min_value="0.00000001", max_value="1000000", places=8)
prices = st.decimals(min_value="0.00000001", max_value="1000000", places=8)
steps = st.sampled_from([Decimal(s) for s in ("0", "1", "0.1", "0.001", "0.00001", "0.00000001")])


@settings(max_examples=400, deadline=None)
@given(cost=costs, price=prices, step=steps)
def test_the_spend_never_exceeds_the_cost_and_the_amount_is_the_largest_on_the_grid(
    cost: Decimal, price: Decimal, step: Decimal
) -> None:
    amount = amount_for_cost(cost, price, step)
    assert amount >= 0 and amount * price <= cost
    if step > 0:
        assert amount % step == 0
        assert (amount + step) * price > cost  # one step more would overspend


def test_examples() -> None:
    assert amount_for_cost(Decimal("100"), Decimal("30000"), Decimal("0.00001")) == Decimal(
        "0.00333"
    )
    assert amount_for_cost(Decimal("1"), Decimal("3"), Decimal("0.1")) == Decimal("0.3")
    assert amount_for_cost(Decimal("0.0001"), Decimal("30000"), Decimal("0.00001")) == 0
    assert amount_for_cost(Decimal("5"), Decimal("0"), Decimal("1")) == 0
