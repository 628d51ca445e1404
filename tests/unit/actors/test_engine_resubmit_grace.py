"""A create with no clear answer is not placed again until the grace period has passed.

A live venue may list an order only seconds after a timed-out create, and binance accepts a
reused client order id once the first order is closed: resubmitting early could buy twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.errors import OrderOutcomeUnknown
from domain.events import StopMode, StopRequested
from domain.orders import OrderState
from tests.actors.fakes import EngineWorld


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def test_no_resubmit_within_the_grace_period_then_exactly_once(world: EngineWorld) -> None:
    world.exchange.before_create.append(OrderOutcomeUnknown("timed out", client_order_id=None))
    with pytest.raises(OrderOutcomeUnknown):
        world.engine(resubmit_grace=60).start()
    base = world.coid(1, "b")
    assert world.venue_orders() == []

    world.clock.advance(30)  # the venue might still show it: wait
    with pytest.raises(OrderOutcomeUnknown, match="grace period"):
        world.engine(resubmit_grace=60).start()
    assert world.venue_orders() == []
    assert world.db_orders()[base].state is OrderState.PENDING_SUBMIT

    world.clock.advance(31)  # past the grace: the venue never had it, place it now, once
    world.engine(resubmit_grace=60).start()
    assert [o.client_order_id for o in world.venue_orders()].count(base) == 1
    assert world.db_orders()[base].state is OrderState.FILLED


def test_an_order_being_canceled_is_never_placed_even_if_its_create_never_landed(
    world: EngineWorld,
) -> None:
    engine = world.engine()
    engine.start()  # the base order fills; safety and take-profit orders follow
    before = {o.client_order_id for o in world.venue_orders()}
    world.exchange.before_create.append(OrderOutcomeUnknown("lost on the way"))
    with pytest.raises(OrderOutcomeUnknown):
        world.move("99")  # a safety fill: the next create (a new take-profit) never lands
        engine.sync()
    lost = [
        coid
        for coid, row in world.db_orders().items()
        if row.state is OrderState.PENDING_SUBMIT and coid not in before
    ]
    assert lost, "the scenario needs an intent whose create never reached the venue"

    engine.request_stop(StopRequested(at=world.clock(), mode=StopMode.CANCEL))
    placed = [o.client_order_id for o in world.venue_orders()]
    assert not set(lost) & set(placed), "an order being canceled was placed"
    assert all(world.db_orders()[coid].state is OrderState.CANCELED for coid in lost)
