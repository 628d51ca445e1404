"""The periodic pass's edges (issue 11, item 5; review): a list of open orders read before an
order was sent says nothing about that order, and a pass whose worker failed in an unexpected
way still ends, so the account's passes go on."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import pytest

from actors.reconcile import AccountReconciler, OpenOrdersFetched, ReconcileDue
from domain.errors import OrderNotFound
from domain.orders import Order, Side
from strategy.state import Role
from tests.actors.fakes import SYMBOL, EngineWorld, Inbox


@pytest.fixture
def world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path)
    yield w
    w.close()


def test_an_order_sent_after_the_list_was_read_is_left_alone(world: EngineWorld) -> None:
    engine = world.started()
    before = list(world.paper.fetch_open_orders(SYMBOL))
    as_of = world.clock()
    world.move("99")  # s1 fills: a new take-profit (t2) is sent after the list was read
    engine.sync()
    t2 = world.coid(1, "t2")
    inner = world.exchange.fetch_order

    def lagging(symbol: str, **ref: Any) -> Order:
        if ref.get("client_order_id") == t2:
            raise OrderNotFound("Order does not exist. (a venue that lists it a little late)")
        return inner(symbol, **ref)

    world.exchange.fetch_order = lagging  # type: ignore[method-assign]
    engine.sync(open_orders=before, as_of=as_of)  # the periodic pass, with its older list
    state = engine.state
    assert state is not None
    assert [o.client_order_id for o in state.orders_with(Role.TAKE_PROFIT)] == [t2]
    sells = [o for o in world.paper.fetch_open_orders(SYMBOL) if o.side is Side.SELL]
    assert [o.client_order_id for o in sells] == [t2]  # one take-profit, the one we track


class _Timers:
    def __init__(self) -> None:
        self.later: list[Any] = []

    def tell_later(self, delay: float, ref: Any, message: Any) -> None:
        self.later.append(message)


class _Inline:
    def submit(self, fn: Any) -> Future[Any]:
        future: Future[Any] = Future()
        try:
            future.set_result(fn())
        except BaseException as exc:  # what an executor would keep unread in the future
            future.set_exception(exc)
        return future


class _Broken:
    def fetch_open_orders(self, symbol: str | None = None) -> list[Order]:
        raise KeyError("markets")  # not a domain error: a bug below the port


def test_a_pass_whose_worker_failed_unexpectedly_still_ends(world: EngineWorld) -> None:
    owner, timers = Inbox(), _Timers()
    reconciler = AccountReconciler(
        owner=owner,  # type: ignore[arg-type]
        timers=timers,  # type: ignore[arg-type]
        pool=_Inline(),  # type: ignore[arg-type]
        interval=60,
    )
    reconciler.due(1, _Broken(), {SYMBOL})  # type: ignore[arg-type]
    (answer,) = owner.told
    assert isinstance(answer, OpenOrdersFetched) and answer.open_orders is None
    assert "KeyError" in (answer.error or "")
    reconciler.open_orders(answer, lambda _account: {})
    assert [m for m in timers.later if isinstance(m, ReconcileDue)], "no next pass scheduled"
