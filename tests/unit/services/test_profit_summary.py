"""The profit summary's figures add up: per-day rows sum to the per-quote totals, and the
totals are the exact sums of the closed cycles' profits (property test on the fake)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from persistence.memory import MemoryRepository
from persistence.records import CycleRecord, CycleStatus, DesiredState
from services.history import profit_summary

T0 = datetime(2024, 5, 1, tzinfo=UTC)
SYMBOLS = ("ETH/USDT", "BTC/USDT", "ETH/BTC", "DOGE/ETH")

closes = st.lists(
    st.tuples(
        st.sampled_from(SYMBOLS),
        st.integers(min_value=0, max_value=10 * 86_400),  # seconds after T0: ten days
        st.decimals(
            min_value=Decimal("-1e6"), max_value=Decimal("1e6"), places=18, allow_nan=False,
            allow_infinity=False,
        ),
    ),
    max_size=30,
)  # fmt: skip


@settings(max_examples=60, deadline=None)
@given(closes)
def test_days_sum_to_totals_and_totals_are_exact_sums(
    cycles: list[tuple[str, int, Decimal]],
) -> None:
    repo = MemoryRepository()
    user = repo.upsert_user("alice", now=T0)
    account = repo.upsert_account(user.id, "main", exchange="paper", now=T0)
    ids = {
        symbol: repo.upsert_strategy(
            user.id, symbol.replace("/", "-"), account_id=account.id, symbol=symbol, params={},
            desired_state=DesiredState.RUNNING, now=T0,
        ).id
        for symbol in SYMBOLS
    }  # fmt: skip
    for number, (symbol, seconds, profit) in enumerate(cycles, start=1):
        sid = ids[symbol]
        repo.upsert_cycle(sid, CycleRecord(number=number, status=CycleStatus.OPEN, opened_at=T0))
        repo.close_cycle(sid, number, realized_profit=profit, now=T0 + timedelta(seconds=seconds))
    summary = profit_summary(repo, user.id)
    for total in summary.totals:
        rows = [d for d in summary.days if d.quote == total.quote]
        assert sum((d.realized_profit for d in rows), Decimal(0)) == total.realized_profit
        assert sum(d.cycles_closed for d in rows) == total.cycles_closed
    expected: dict[str, Decimal] = {}
    for symbol, _, profit in cycles:
        quote = symbol.split("/")[1]
        expected[quote] = expected.get(quote, Decimal(0)) + profit
    assert {t.quote: t.realized_profit for t in summary.totals} == expected
    assert sum(t.cycles_closed for t in summary.totals) == len(cycles)
    assert len({(d.day, d.quote) for d in summary.days}) == len(summary.days)
