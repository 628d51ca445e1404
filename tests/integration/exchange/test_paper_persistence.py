"""The paper venue's state outlives its process, and a failed write leaves no half state."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import ConfigurationError, DuplicateOrder, ExchangeUnavailable
from domain.market import MarketRules
from domain.orders import OrderState, OrderType, Side
from exchange.paper import PaperExchange, PaperVenue

D = Decimal
RULES = MarketRules(symbol="ETH/BTC", tick_size=D("0.00001"), step_size=D("0.001"))
REPO = Path(__file__).resolve().parents[3]


def _venue(path: Path) -> PaperVenue:
    venue = PaperVenue(path)
    venue.set_market_rules(RULES)
    venue.open_account("alice", balances={"BTC": D(1)})
    return venue


def test_close_and_reopen_keeps_balances_orders_fills_and_the_book(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    venue = _venue(path)
    venue.update_price("ETH/BTC", D("0.05"))
    port = PaperExchange(venue, "alice")
    port.create_order(
        client_order_id="m", symbol="ETH/BTC", side=Side.BUY, type=OrderType.MARKET, amount=D(2)
    )
    resting = port.create_order(
        client_order_id="r",
        symbol="ETH/BTC",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=D(1),
        price=D("0.04"),
    )
    before = (port.fetch_balances(), port.fetch_open_orders(), port.fetch_fills("ETH/BTC"))
    venue.close()

    again = _venue(path)  # onboarding again must not reset the account
    port = PaperExchange(again, "alice")
    assert (port.fetch_balances(), port.fetch_open_orders(), port.fetch_fills("ETH/BTC")) == before
    assert again.ticker("ETH/BTC").last == D("0.05")
    assert again.resting_count("ETH/BTC") == 1
    with pytest.raises(DuplicateOrder):
        port.create_order(
            client_order_id="r",
            symbol="ETH/BTC",
            side=Side.BUY,
            type=OrderType.LIMIT,
            amount=D(1),
            price=D("0.03"),
        )
    # The rebuilt book still matches, and ids continue instead of being reused.
    [filled] = again.update_price("ETH/BTC", D("0.04"))
    assert filled.order.exchange_order_id == resting.exchange_order_id
    assert int(filled.fill.trade_id) > int(before[2][0].trade_id)
    assert port.fetch_balances()["BTC"].total == D(1) - D("0.10") - D("0.04")
    again.close()


def test_an_order_accepted_just_before_sigkill_is_there_after_restart(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    _venue(path).close()
    child = textwrap.dedent(
        f"""
        import sys, time
        from decimal import Decimal
        from domain.orders import OrderType, Side
        from exchange.paper import PaperExchange, PaperVenue
        venue = PaperVenue({str(path)!r})
        order = PaperExchange(venue, "alice").create_order(
            client_order_id="mg1c1b", symbol="ETH/BTC", side=Side.BUY,
            type=OrderType.LIMIT, amount=Decimal("3"), price=Decimal("0.02"))
        print(order.exchange_order_id, flush=True)
        time.sleep(600)
        """
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", child], stdout=subprocess.PIPE, env=env, text=True
    )
    try:
        assert proc.stdout is not None
        exchange_order_id = proc.stdout.readline().strip()
        assert exchange_order_id, "the child did not place its order"
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)

    venue = PaperVenue(path)
    port = PaperExchange(venue, "alice")
    order = port.fetch_order("ETH/BTC", client_order_id="mg1c1b")
    assert order.exchange_order_id == exchange_order_id and order.state is OrderState.OPEN
    assert port.fetch_balances()["BTC"].used == D("0.06")
    venue.close()


def test_a_failed_write_rolls_back_and_memory_follows_the_file(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    venue = _venue(path)
    venue.update_price("ETH/BTC", D("0.05"))
    port = PaperExchange(venue, "alice")
    port.create_order(
        client_order_id="r",
        symbol="ETH/BTC",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=D(1),
        price=D("0.04"),
    )
    before = (port.fetch_balances(), port.fetch_open_orders())
    # A real storage failure half-way through a fill: the fills insert aborts.
    side = sqlite3.connect(path)
    side.execute(
        "CREATE TRIGGER no_fills BEFORE INSERT ON fills BEGIN SELECT RAISE(ABORT, 'disk says no'); END"
    )
    side.commit()

    with pytest.raises(ExchangeUnavailable, match="disk says no"):
        venue.update_price("ETH/BTC", D("0.03"))
    assert (port.fetch_balances(), port.fetch_open_orders()) == before
    assert venue.ticker("ETH/BTC").last == D("0.05")  # the price write rolled back too

    side.execute("DROP TRIGGER no_fills")
    side.commit()
    side.close()
    [fill] = venue.update_price("ETH/BTC", D("0.03"))  # the order still rests and now fills
    assert fill.fill.client_order_id == "r"
    venue.close()


def test_one_owner_per_venue_file(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    first = _venue(path)
    with pytest.raises(ConfigurationError, match="already open"):
        PaperVenue(path)
    first.close()
    PaperVenue(path).close()  # released on close (and by the OS when a process dies)
