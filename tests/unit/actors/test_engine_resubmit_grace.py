"""A create with no clear answer is not placed again until the grace period has passed.

A live venue may list an order only seconds after a timed-out create, and binance accepts a
reused client order id once the first order is closed: resubmitting early could buy twice.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.errors import OrderOutcomeUnknown
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
