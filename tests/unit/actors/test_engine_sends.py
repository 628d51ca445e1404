"""Creates refused at the gate, intents never sent, and a create still in flight when its engine
is replaced (issue 11, items 4 and 11)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from actors.sends import SendLog
from domain.errors import ExchangeUnavailable, OrderOutcomeUnknown, RateLimited
from domain.orders import OrderState
from tests.actors.fakes import Crash, EngineWorld, FaultyExchange, duplicated_ids, wait_until


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


@pytest.mark.parametrize(
    "refusal",
    [
        RateLimited("binance 429 Too Many Requests", retry_after=2.0),
        ExchangeUnavailable("binance@live: circuit open; next probe in 2.0s"),
    ],
    ids=["rate-limited", "circuit-open"],
)
def test_a_create_refused_at_the_gate_is_placed_again_after_the_wait_not_the_grace(
    world: EngineWorld, refusal: Exception
) -> None:
    world.exchange.before_create.append(refusal)
    with pytest.raises(type(refusal)):
        world.engine(resubmit_grace=60).start()
    base = world.coid(1, "b")
    assert world.db_orders()[base].state is OrderState.PENDING_SUBMIT
    assert ("not_placed", base) in world.host.reports

    world.clock.advance(3)  # the venue's wait, far less than the 60 s unknown-outcome grace
    world.engine(resubmit_grace=60).start()
    assert [o.client_order_id for o in world.venue_orders()].count(base) == 1
    assert world.db_orders()[base].state is OrderState.FILLED


def test_intents_a_failed_round_never_sent_get_no_grace(world: EngineWorld) -> None:
    engine = world.engine(resubmit_grace=60)
    engine.start()  # base filled: the take-profit and two safety orders are placed
    sent_before = {o.client_order_id for o in world.venue_orders()}
    world.exchange.before_create.append(OrderOutcomeUnknown("timed out", client_order_id=None))
    with pytest.raises(OrderOutcomeUnknown):
        world.move("98.5")  # a safety fill: a new round of creates, the first one times out
        engine.sync()
    pending = {
        coid for coid, row in world.db_orders().items() if row.state is OrderState.PENDING_SUBMIT
    }
    unknown = {coid for coid in pending if world.sends.sent_at(coid) is not None}
    never_sent = pending - unknown
    assert unknown and never_sent, "the round needs one unknown create and intents after it"

    world.clock.advance(5)
    with pytest.raises(OrderOutcomeUnknown, match="grace"):
        world.engine(resubmit_grace=60).start()  # the unknown one waits; it blocks no other
    placed = {o.client_order_id for o in world.venue_orders()} - sent_before
    assert never_sent <= placed, "an intent that was never sent waited for the grace"
    assert not duplicated_ids(world.venue_orders())


class _SlowCreates(FaultyExchange):
    """The next create enters, signals, and waits for the test before it reaches the venue."""

    def __init__(self, inner: Any) -> None:
        super().__init__(inner.inner)
        self.entered = threading.Event()
        self.release = threading.Event()
        self.hold = True

    def create_order(self, **kwargs: Any) -> Any:
        if self.hold:
            self.hold = False
            self.entered.set()
            assert self.release.wait(10)
        return super().create_order(**kwargs)


def test_a_replaced_engine_s_create_in_flight_is_resolved_before_its_successor_acts(
    world: EngineWorld,
) -> None:
    slow = _SlowCreates(world.exchange)
    world.exchange = slow
    outcome: dict[str, BaseException | None] = {}

    def run(name: str, engine: Any) -> None:
        try:
            engine.start()
            outcome[name] = None
        except BaseException as exc:  # the fenced one ends with Crash: recorded, not raised
            outcome[name] = exc

    first = world.engine()  # the market base order's create hangs (a slow venue)
    t1 = threading.Thread(target=run, args=("first", first))
    t1.start()
    assert slow.entered.wait(10)
    world.host.fenced = True  # its parent gave up on it: fenced and replaced

    successor_waits = threading.Event()

    @contextmanager
    def waiting(what: str) -> Iterator[None]:
        if what == "exchange":
            successor_waits.set()
        yield

    world.host = type(world.host)()  # the successor reports to a fresh host
    successor = world.engine(waiting=waiting, in_flight_wait=10)
    t2 = threading.Thread(target=run, args=("successor", successor))
    t2.start()
    wait_until(lambda: successor_waits.is_set() or "successor" in outcome, what="successor")
    slow.release.set()  # the slow create lands on the venue now
    t1.join(10)
    t2.join(10)
    assert isinstance(outcome["first"], Crash)
    assert outcome["successor"] is None
    base = world.coid(1, "b")
    orders = world.venue_orders()
    assert [o.client_order_id for o in orders].count(base) == 1, "the base order was bought twice"
    assert world.db_orders()[base].state is OrderState.FILLED


def test_a_send_log_forgets_orders_that_stopped_working() -> None:
    log = SendLog()
    t = datetime(2024, 1, 1, tzinfo=UTC)
    for n in range(1000):
        with log.sending(f"o{n}", t):
            pass
        log.keep([f"o{n}"])
    assert len(log) == 1 and log.sent_at("o999") == t
