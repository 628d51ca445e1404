"""Fixtures for the paper venue and feed tests: a venue on a temp file with a manual clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from domain.market import MarketRules
from exchange.paper import PaperExchange, PaperVenue

ETH_BTC = MarketRules(
    symbol="ETH/BTC",
    tick_size=Decimal("0.00001"),
    step_size=Decimal("0.001"),
    min_amount=Decimal("0.001"),
    min_notional=Decimal("0.0001"),
)


class ManualClock:
    """A clock the test moves by hand: no sleeping, no wall time."""

    def __init__(self, start: datetime = datetime(2024, 1, 1, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def venue(tmp_path: Path, clock: ManualClock) -> Iterator[PaperVenue]:
    v = PaperVenue(tmp_path / "paper.sqlite", clock=clock)
    v.set_market_rules(ETH_BTC)
    v.open_account("alice", balances={"BTC": Decimal("1"), "ETH": Decimal("10")})
    v.open_account("bob", balances={"BTC": Decimal("1")}, fee_rate=Decimal("0"))
    v.update_price("ETH/BTC", Decimal("0.05"))
    yield v
    v.close()


@pytest.fixture
def alice(venue: PaperVenue) -> PaperExchange:
    return PaperExchange(venue, "alice")


@pytest.fixture
def bob(venue: PaperVenue) -> PaperExchange:
    return PaperExchange(venue, "bob")
