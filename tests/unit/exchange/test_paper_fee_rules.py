"""A paper account's rules carry the fee rate the venue charges it, as a ccxt market's `maker`
does, so a strategy can price an exit that covers its own fee."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from exchange.paper import PaperExchange, PaperVenue
from exchange.paper.sim import SimVenue
from tests.unit.exchange.conftest import ETH_BTC, ManualClock

D = Decimal


def test_each_account_reads_its_own_fee_rate_in_the_rules(
    venue: PaperVenue, alice: PaperExchange, bob: PaperExchange
) -> None:
    assert alice.load_market_rules("ETH/BTC").maker_fee_rate == D("0.001")  # the default
    assert bob.load_market_rules("ETH/BTC").maker_fee_rate == 0
    # The rest of the rules are the listing's.
    assert alice.load_market_rules("ETH/BTC").tick_size == ETH_BTC.tick_size
    venue.open_account("bob", fee_rate=D("0.00075"))  # a new rate for an open account
    assert bob.load_market_rules("ETH/BTC").maker_fee_rate == D("0.00075")
    assert PaperExchange(venue, "nobody").load_market_rules("ETH/BTC").maker_fee_rate == 0


def test_the_rate_survives_a_restart_and_the_backtest_venue_has_it_too(
    tmp_path: Path, clock: ManualClock
) -> None:
    first = PaperVenue(tmp_path / "fees.sqlite", clock=clock)
    first.set_market_rules(ETH_BTC)
    first.open_account("carol", balances={"BTC": D(1)}, fee_rate=D("0.002"))
    first.close()
    again = PaperVenue(tmp_path / "fees.sqlite", clock=clock)
    try:
        rules = PaperExchange(again, "carol").load_market_rules("ETH/BTC")
        assert rules.maker_fee_rate == D("0.002")
    finally:
        again.close()
    sim = SimVenue()
    sim.set_market_rules(ETH_BTC)
    sim.open_account("dave", balances={"BTC": D(1)}, fee_rate=D("0.0015"))
    assert PaperExchange(sim, "dave").load_market_rules("ETH/BTC").maker_fee_rate == D("0.0015")
