"""services.history: owner-checked pages with opaque cursors, profit summary, status lines."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ValidationError
from domain.orders import OrderState
from persistence.errors import NotFound
from persistence.records import AuditEntry, CycleRecord, CycleStatus, JournalEntry
from services import history
from services.history import encode_cursor, profit_summary, status_of
from services.strategies import delete_strategy
from tests.integration.persistence.helpers import TestEvent, fill_of, intent
from tests.integration.services.conftest import (
    T0,
    at,
    new_strategy,
    stop,
    user_with_account,
)

Lister = Callable[..., history.Page[Any]]
LISTS: dict[str, Lister] = {
    "orders": history.orders,
    "fills": history.fills,
    "events": history.events,
    "logs": history.logs,
    "cycles": history.cycles,
}


def fill_history(repo: Any, uid: int, sid: int, count: int) -> None:
    """`count` rows of every kind for strategy `sid` (the audit has one more: its creation)."""
    for n in range(1, count + 1):
        repo.upsert_cycle(sid, CycleRecord(number=n, status=CycleStatus.OPEN, opened_at=at(n)))
        order = repo.record_order_intent(sid, intent(sid, n, "b"), now=at(n))
        repo.apply_fill(sid, fill_of(order, f"T{n}", "0.1"), now=at(n))
        repo.append_events(
            [
                JournalEntry(
                    strategy_id=sid, event=TestEvent(name="x", price=Decimal(n)), occurred_at=at(n)
                )
            ]
        )
    repo.append_audit(
        [
            AuditEntry(at=at(n), level="info", event="tick", message=str(n), user_id=uid,
                       strategy_id=sid)
            for n in range(1, count)
        ]
    )  # fmt: skip


def walk(lister: Lister, repo: Any, uid: int, sid: int, limit: int) -> list[list[Any]]:
    pages: list[list[Any]] = []
    cursor = None
    while True:
        page = lister(repo, uid, sid, cursor=cursor, limit=limit)
        pages.append(page.items)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor
        assert len(pages) < 20


def key_of(row: Any) -> int:
    return int(row.number if isinstance(row, CycleRecord) else row.id)


@pytest.mark.parametrize("kind", list(LISTS))
def test_pages_walk_every_row_once_newest_first(repo: Any, kind: str) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    other = new_strategy(repo, uid, name="other")
    fill_history(repo, uid, sid, 5)  # the log: the creation row and 4 ticks
    fill_history(repo, uid, other, 2)
    pages = walk(LISTS[kind], repo, uid, sid, limit=2)
    assert [len(p) for p in pages] == [2, 2, 1]
    keys = [key_of(row) for page in pages for row in page]
    assert keys == sorted(keys, reverse=True) and len(set(keys)) == 5
    assert [len(p) for p in walk(LISTS[kind], repo, uid, sid, limit=5)] == [5]
    everything = LISTS[kind](repo, uid, sid, limit=500)
    assert everything.next_cursor is None and len(everything.items) == 5


def test_an_empty_history_is_one_empty_page(repo: Any) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    page = history.orders(repo, uid, sid)
    assert (page.items, page.next_cursor) == ([], None)


@pytest.mark.parametrize("kind", list(LISTS))
def test_another_users_or_a_deleted_strategys_history_is_not_found(repo: Any, kind: str) -> None:
    uid = user_with_account(repo)
    bob = user_with_account(repo, "bob")
    bobs = new_strategy(repo, bob)
    fill_history(repo, bob, bobs, 2)
    with pytest.raises(NotFound, match=f"strategy {bobs} does not exist"):
        LISTS[kind](repo, uid, bobs)
    with pytest.raises(NotFound):
        LISTS[kind](repo, uid, 999)
    stop(repo, bobs)
    for order in repo.list_orders(bobs):  # off the book: a strategy with live orders stays
        repo.update_order(bobs, order.transition(OrderState.CANCELED), now=at(9))
    history_before = LISTS[kind](repo, bob, bobs).items
    delete_strategy(repo, bob, bobs, now=at(9))
    with pytest.raises(NotFound):
        LISTS[kind](repo, bob, bobs)
    assert history_before  # the rows exist: only the owner's view of them is gone


@pytest.mark.parametrize(
    "cursor",
    [
        "",
        "not base64!",
        "%%%",
        encode_cursor("fills", 3),  # another list's cursor
        encode_cursor("orders", 0),
        encode_cursor("orders", 2**63),
        "b3JkZXJzOi0z",  # "orders:-3"
        "b3JkZXJzOjE=",  # the same with padding: not what encode_cursor makes
        "b3JkZXJzOu-8kQ",  # non-ascii digits
        "x" * 65,
    ],
)
def test_a_cursor_this_list_did_not_make_is_refused(repo: Any, cursor: str) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    with pytest.raises(ValidationError) as info:
        history.orders(repo, uid, sid, cursor=cursor)
    assert info.value.field == "cursor"


@pytest.mark.parametrize("limit", [0, -1, 501, True, 2.5, "10"])
def test_a_limit_out_of_range_is_refused(repo: Any, limit: Any) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    with pytest.raises(ValidationError) as info:
        history.cycles(repo, uid, sid, limit=limit)
    assert info.value.field == "limit"


def _close(repo: Any, sid: int, number: int, profit: str, seconds: float) -> None:
    repo.upsert_cycle(sid, CycleRecord(number=number, status=CycleStatus.OPEN, opened_at=T0))
    repo.close_cycle(sid, number, realized_profit=Decimal(profit), now=at(seconds))


def test_profit_is_summed_exactly_per_quote_and_per_utc_day(repo: Any) -> None:
    uid = user_with_account(repo)
    eth = new_strategy(repo, uid, name="eth", symbol="ETH/USDT")
    btc = new_strategy(repo, uid, name="btc", symbol="BTC/USDT")
    ethbtc = new_strategy(repo, uid, name="ethbtc", symbol="ETH/BTC")
    bob = user_with_account(repo, "bob")
    bobs = new_strategy(repo, bob)
    day = 86_400
    _close(repo, eth, 1, "0.1", 0)
    _close(repo, eth, 2, "0.000000000000000001", 11 * 3600)  # 23:00 UTC on day one
    _close(repo, btc, 1, "-0.3", 12 * 3600)  # 00:00 UTC: day two
    _close(repo, ethbtc, 1, "0.00001", day)
    repo.upsert_cycle(ethbtc, CycleRecord(number=2, status=CycleStatus.OPEN, opened_at=T0))
    repo.close_cycle(ethbtc, 2, realized_profit=Decimal(0), now=at(day), status=CycleStatus.ABORTED)
    _close(repo, bobs, 1, "5", 0)
    summary = profit_summary(repo, uid)
    assert [(t.quote, t.realized_profit, t.cycles_closed) for t in summary.totals] == [
        ("BTC", Decimal("0.00001"), 1),
        ("USDT", Decimal("-0.199999999999999999"), 3),
    ]
    assert [(d.day, d.quote, d.realized_profit, d.cycles_closed) for d in summary.days] == [
        (date(2024, 5, 1), "USDT", Decimal("0.100000000000000001"), 2),
        (date(2024, 5, 2), "BTC", Decimal("0.00001"), 1),
        (date(2024, 5, 2), "USDT", Decimal("-0.3"), 1),
    ]
    later = profit_summary(repo, uid, since=date(2024, 5, 2))
    assert [(t.quote, t.cycles_closed) for t in later.totals] == [("BTC", 1), ("USDT", 1)]
    assert profit_summary(repo, uid, since=date(2024, 5, 3)).totals == []


def test_a_deleted_strategys_profit_still_counts(repo: Any) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    _close(repo, sid, 1, "2", 0)
    stop(repo, sid)
    delete_strategy(repo, uid, sid, now=at(5))
    assert [t.realized_profit for t in profit_summary(repo, uid).totals] == [Decimal(2)]


class Spy:
    """The real repository, recording which reads were made and with what."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.calls: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        method = getattr(self._inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append((name, kwargs))
            return method(*args, **kwargs)

        return call


def test_status_of_reads_and_shows_one_users_strategies_only(repo: Any) -> None:
    uid = user_with_account(repo)
    bob = user_with_account(repo, "bob")
    new_strategy(repo, uid, name="a")
    new_strategy(repo, bob, name="b")
    spy = Spy(repo)
    lines = status_of(spy, uid, now=at(1))  # type: ignore[arg-type]
    assert [(line.user, line.name) for line in lines] == [("alice", "a")]
    assert ("list_status", {"user_id": uid}) in spy.calls
    assert all(name not in ("list_users", "list_strategies") for name, _ in spy.calls)
