"""The notifier's inbox: who wants what, and a bounded queue that drops the oldest."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest

from actors.notify_queue import Notifications
from domain.notifications import Notify, NotifyEvent

AT = datetime(2024, 1, 1, tzinfo=UTC)


def _notice(n: int) -> Notify:
    return Notify(user_id=1, event=NotifyEvent.CYCLE_CLOSED, at=AT, cycle=n)


def test_a_user_wants_only_the_events_of_its_targets() -> None:
    inbox = Notifications()
    assert not inbox.wants(1, NotifyEvent.CYCLE_CLOSED)  # nobody has targets yet
    inbox.set_wanted({1: frozenset({NotifyEvent.CYCLE_CLOSED})})
    assert inbox.wants(1, NotifyEvent.CYCLE_CLOSED)
    assert not inbox.wants(1, NotifyEvent.SAFETY_FILLED)
    assert not inbox.wants(2, NotifyEvent.CYCLE_CLOSED)


def test_a_full_queue_drops_the_oldest_and_counts_it() -> None:
    inbox = Notifications(capacity=3)
    for n in range(1, 6):
        inbox.tell(_notice(n))

    assert inbox.dropped == 2
    assert inbox.told == 5
    assert inbox.waiting == 3
    taken = [inbox.take(0) for _ in range(4)]
    assert [t.cycle if t else None for t in taken] == [3, 4, 5, None]


def test_take_waits_for_a_notice_told_by_another_thread() -> None:
    inbox = Notifications()
    teller = threading.Timer(0.05, inbox.tell, args=(_notice(9),))
    teller.start()
    try:
        got = inbox.take(30)
    finally:
        teller.cancel()
    assert got is not None and got.cycle == 9


def test_capacity_must_be_positive() -> None:
    with pytest.raises(ValueError, match="capacity"):
        Notifications(capacity=0)
