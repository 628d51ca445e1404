"""The paper venue's group commit: calls return only once the file holds what they did or saw,
concurrent calls share transactions, and a failed write loses the whole unwritten tail."""

from __future__ import annotations

import threading
import time
from decimal import Decimal
from pathlib import Path

import pytest

from domain.errors import ExchangeUnavailable
from domain.orders import Order, OrderState, OrderType, Side
from exchange.paper import PaperExchange, PaperVenue, core
from exchange.paper.journal import Changes
from exchange.paper.store import PaperStore
from tests.unit.exchange.conftest import ETH_BTC

D = Decimal


def _limit(port: PaperExchange, coid: str, side: Side, price: str, amount: str = "1") -> Order:
    return port.create_order(
        client_order_id=coid,
        symbol="ETH/BTC",
        side=side,
        type=OrderType.LIMIT,
        amount=D(amount),
        price=D(price),
    )


class GatedStore:
    """Wraps the venue's store: `apply` blocks while the gate is closed, or fails on demand."""

    def __init__(self, store: PaperStore) -> None:
        self.inner = store
        self.path = store.path
        self.gate = threading.Event()
        self.gate.set()
        self.entered = threading.Event()
        self.fail: str | None = None
        self.applied: list[int] = []

    def apply(self, changes: Changes) -> None:
        self.entered.set()
        assert self.gate.wait(timeout=30)
        if self.fail is not None:
            raise OSError(self.fail)
        self.applied.append(len(changes))
        self.inner.apply(changes)

    def __getattr__(self, name: str) -> object:
        return getattr(self.inner, name)


@pytest.fixture
def gated(venue: PaperVenue) -> GatedStore:
    store = GatedStore(venue._store)
    venue._journal._store = store
    return store


def _in_thread(fn: object, *args: object) -> tuple[threading.Thread, list[object]]:
    out: list[object] = []

    def run() -> None:
        try:
            out.append(fn(*args))  # type: ignore[operator]
        except BaseException as exc:
            out.append(exc)

    t = threading.Thread(target=run)
    t.start()
    return t, out


def test_an_order_is_answered_only_after_its_group_is_in_the_file(
    venue: PaperVenue, alice: PaperExchange, gated: GatedStore
) -> None:
    gated.gate.clear()
    placing, placed = _in_thread(_limit, alice, "a1", Side.BUY, "0.04")
    assert gated.entered.wait(timeout=10)
    # Memory already holds the order; neither the placer nor a reader of the account may
    # report it while the file does not.
    reading, read = _in_thread(alice.fetch_open_orders)
    time.sleep(0.2)
    assert placed == [] and read == []
    gated.gate.set()
    placing.join(timeout=10)
    reading.join(timeout=10)
    [order] = placed
    assert isinstance(order, Order) and read == [[order]]
    # Market data of another call is not waited for: a tick with no fill returns at once.
    gated.gate.clear()
    ticking, ticked = _in_thread(venue.update_price, "ETH/BTC", D("0.06"))
    ticking.join(timeout=10)
    assert ticked == [[]]
    gated.gate.set()


def test_concurrent_calls_share_transactions_and_the_file_matches_memory(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    venue = PaperVenue(path)
    venue.set_market_rules(ETH_BTC)
    ports = []
    for n in range(16):
        venue.open_account(f"t{n}", balances={"BTC": D(10), "ETH": D(100)})
        ports.append(PaperExchange(venue, f"t{n}"))
    venue.update_price("ETH/BTC", D("0.05"))
    groups0, written0 = venue.commit_stats
    start = threading.Barrier(len(ports))

    def trade(port: PaperExchange) -> None:
        start.wait()
        for i in range(20):
            order = _limit(port, f"o{i}", Side.BUY if i % 2 else Side.SELL, f"0.0{4 + i % 3}")
            if i % 3 == 0 and order.state is OrderState.OPEN:
                port.cancel_order("ETH/BTC", client_order_id=order.client_order_id)
            venue.update_price("ETH/BTC", D(f"0.0{4 + (i + 1) % 3}"))

    threads = [threading.Thread(target=trade, args=(p,)) for p in ports]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    groups, written = venue.commit_stats
    assert written - written0 > groups - groups0  # some transactions carried several changes
    memory = [(p.fetch_balances(), p.fetch_open_orders(), p.fetch_fills("ETH/BTC")) for p in ports]
    venue.close()
    again = PaperVenue(path)
    ports = [PaperExchange(again, f"t{n}") for n in range(16)]
    assert [
        (p.fetch_balances(), p.fetch_open_orders(), p.fetch_fills("ETH/BTC")) for p in ports
    ] == memory
    again.close()


def test_a_failed_group_fails_every_call_in_it_and_memory_follows_the_file(
    venue: PaperVenue, alice: PaperExchange, bob: PaperExchange, gated: GatedStore
) -> None:
    _limit(alice, "kept", Side.BUY, "0.04")
    before = (alice.fetch_balances(), alice.fetch_open_orders(), bob.fetch_balances())
    gated.gate.clear()
    gated.entered.clear()
    gated.fail = "disk full"
    first, first_out = _in_thread(_limit, alice, "lost1", Side.BUY, "0.03")
    assert gated.entered.wait(timeout=10)
    # Recorded while the first group is being written: lost with it, as memory is rebuilt.
    second, second_out = _in_thread(_limit, bob, "lost2", Side.BUY, "0.03")
    time.sleep(0.2)
    gated.gate.set()
    first.join(timeout=10)
    second.join(timeout=10)
    for out in (first_out, second_out):
        [exc] = out
        assert isinstance(exc, ExchangeUnavailable) and "disk full" in str(exc)
    assert (alice.fetch_balances(), alice.fetch_open_orders(), bob.fetch_balances()) == before

    gated.fail = None  # the venue carries on once the file takes writes again
    _limit(bob, "later", Side.BUY, "0.03")
    assert [o.client_order_id for o in bob.fetch_open_orders()] == ["later"]


def test_a_change_that_breaks_half_way_is_undone_with_the_unwritten_tail(
    venue: PaperVenue, alice: PaperExchange, bob: PaperExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = (alice.fetch_balances(), bob.fetch_balances())
    real_rest = venue._state.rest

    def broken_rest(entry: object) -> None:
        raise AssertionError("an accounting bug")

    monkeypatch.setattr(venue._state, "rest", broken_rest)
    with pytest.raises(AssertionError, match="accounting bug"):
        _limit(alice, "half", Side.BUY, "0.04")  # its balance hold was already journaled
    monkeypatch.setattr(venue._state, "rest", real_rest)
    assert (alice.fetch_balances(), bob.fetch_balances()) == before
    assert alice.fetch_open_orders() == []
    _limit(alice, "whole", Side.BUY, "0.04")
    assert alice.fetch_balances()["BTC"].used == D("0.04")


def test_recently_closed_orders_come_from_memory_older_ones_from_the_file(
    venue: PaperVenue, alice: PaperExchange, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core, "RECENTLY_CLOSED", 3)
    ids = [_limit(alice, f"c{i}", Side.BUY, "0.04").exchange_order_id for i in range(5)]
    for coid in (f"c{i}" for i in range(5)):
        alice.cancel_order("ETH/BTC", client_order_id=coid)
    assert list(venue._state.closed) == [int(i) for i in ids[2:] if i is not None]
    reads = 0
    real = venue._store.order_by_coid

    def counted(account: str, coid: str) -> object:
        nonlocal reads
        reads += 1
        return real(account, coid)

    monkeypatch.setattr(venue._store, "order_by_coid", counted)
    recent = alice.fetch_order("ETH/BTC", client_order_id="c4")
    old = alice.fetch_order("ETH/BTC", client_order_id="c0")
    assert (recent.state, old.state) == (OrderState.CANCELED, OrderState.CANCELED)
    assert old.exchange_order_id == ids[0] and reads == 1  # only the evicted one hit the file
    # A client order id reused by a later order: the latest one answers, from memory or file.
    _limit(alice, "c0", Side.BUY, "0.04")
    assert alice.fetch_order("ETH/BTC", client_order_id="c0").state is OrderState.OPEN


def test_prices_are_written_with_the_next_group_or_at_close(tmp_path: Path) -> None:
    path = tmp_path / "paper.sqlite"
    venue = PaperVenue(path)
    venue.set_market_rules(ETH_BTC)
    venue.update_price("ETH/BTC", D("0.05"))
    venue.close()
    again = PaperVenue(path)
    assert again.ticker("ETH/BTC").last == D("0.05")
    again.close()


def test_changes_are_lost_even_when_rebuilding_memory_fails_too(
    venue: PaperVenue, alice: PaperExchange, gated: GatedStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failed write whose memory rebuild also fails must not let a later group report the
    discarded changes as written."""
    gated.fail = "disk gone"
    real_load = venue._state.load
    monkeypatch.setattr(venue._state, "load", lambda: (_ for _ in ()).throw(OSError("unreadable")))
    with pytest.raises(OSError, match="unreadable"):
        _limit(alice, "x", Side.BUY, "0.04")
    gated.fail = None
    monkeypatch.setattr(venue._state, "load", real_load)
    with pytest.raises(ExchangeUnavailable, match="disk gone"):
        venue._journal.wait(venue._journal.seq)
