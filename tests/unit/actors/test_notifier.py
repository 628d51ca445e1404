"""The notifier's delivery: which targets get a notice, retries, failures that never show the
URL, the quiet period, the refresh of targets; and which notices an engine's step makes."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

from structlog.testing import capture_logs

from actors.notifier import Notifier, NotifierSettings
from actors.notify_events import engine_notices
from actors.notify_queue import Notifications
from actors.notify_send import DeliveryFailed
from domain.commands import CloseReason, CycleClosed
from domain.errors import DatabaseUnavailable
from domain.market import MarketRules
from domain.notifications import DEFAULT_EVENTS, Notify, NotifyEvent
from domain.secrets import Secret, register_secret
from persistence.records_notify import NotificationTarget, SealedUrl
from strategy.params import MartingaleParams
from strategy.state import initial_state

AT = datetime(2024, 1, 1, tzinfo=UTC)
TOKEN = "bot123456:AAHsecretTokenValueXYZ"


def _target(
    tid: int,
    name: str,
    *,
    user_id: int = 1,
    events: frozenset[NotifyEvent] = DEFAULT_EVENTS,
    enabled: bool = True,
) -> NotificationTarget:
    return NotificationTarget(
        id=tid,
        user_id=user_id,
        name=name,
        scheme="tgram",
        events=events,
        enabled=enabled,
        sealed=SealedUrl(ciphertext=f"c{tid}", key_version=1),
        created_at=AT,
        updated_at=AT,
    )


class FakeSender:
    """Fails the first `failures` sends (each time: `retry`), then succeeds; records calls."""

    def __init__(self, failures: int = 0, *, retry: bool = True) -> None:
        self.failures = failures
        self.retry = retry
        self.calls: list[tuple[str, str, str, float]] = []
        self.sent = threading.Event()

    def __call__(self, url: Secret, title: str, body: str, timeout: float) -> None:
        self.calls.append((url.reveal(), title, body, timeout))
        if len(self.calls) <= self.failures:
            raise DeliveryFailed("the service refused the notification", retry=self.retry)
        self.sent.set()


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _notifier(
    targets: list[NotificationTarget],
    sender: FakeSender,
    *,
    sleeps: list[float] | None = None,
    clock: Clock | None = None,
    **settings: object,
) -> Notifier:
    notifier = Notifier(
        Notifications(),
        load_targets=lambda: list(targets),
        open_url=lambda t: Secret(f"tgram://{TOKEN}/{t.name}"),
        strategy_name=lambda sid: f"strat-{sid}",
        send=sender,
        settings=NotifierSettings(**settings),  # type: ignore[arg-type]
        sleep=(sleeps.append if sleeps is not None else lambda _s: None),
        clock=clock or Clock(),
    )
    notifier.refresh()
    return notifier


def _closed(user_id: int = 1) -> Notify:
    return Notify(
        user_id=user_id,
        event=NotifyEvent.CYCLE_CLOSED,
        at=AT,
        strategy_id=7,
        symbol="BTC/USDT",
        cycle=4,
        profit=Decimal("1.5"),
        currency="USDT",
    )


def test_only_enabled_targets_that_want_the_event_get_it() -> None:
    sender = FakeSender()
    notifier = _notifier(
        [
            _target(1, "all"),
            _target(2, "off", enabled=False),
            _target(3, "safety-only", events=frozenset({NotifyEvent.SAFETY_FILLED})),
            _target(4, "someone-else", user_id=2),
        ],
        sender,
    )

    results = notifier.deliver(_closed())

    assert [(r.target, r.ok) for r in results] == [("all", True)]
    [(url, title, body, _)] = sender.calls
    assert url.endswith("/all")
    assert title == "strat-7: profit +1.5 USDT"
    assert "cycle 4" in body


def test_the_inbox_learns_who_wants_what_and_a_refresh_follows_changes() -> None:
    targets = [_target(1, "a", events=frozenset({NotifyEvent.STOP_LOSS}))]
    notifier = _notifier(targets, FakeSender())
    assert notifier.inbox.wants(1, NotifyEvent.STOP_LOSS)
    assert not notifier.inbox.wants(1, NotifyEvent.CYCLE_CLOSED)

    targets[0] = replace(targets[0], enabled=False)
    notifier.refresh()
    assert not notifier.inbox.wants(1, NotifyEvent.STOP_LOSS)  # disabled: nothing built


def test_a_database_outage_keeps_the_targets_known() -> None:
    calls = {"n": 0}

    def load() -> list[NotificationTarget]:
        calls["n"] += 1
        if calls["n"] > 1:
            raise DatabaseUnavailable("down")
        return [_target(1, "a")]

    notifier = Notifier(
        Notifications(),
        load_targets=load,
        open_url=lambda t: Secret("json://127.0.0.1/x"),
        strategy_name=lambda sid: None,
        send=FakeSender(),
    )
    notifier.refresh()
    notifier.refresh()
    assert notifier.inbox.wants(1, NotifyEvent.CYCLE_CLOSED)
    assert len(notifier.deliver(_closed())) == 1


def test_a_failing_send_is_retried_with_backoff_then_succeeds() -> None:
    sleeps: list[float] = []
    sender = FakeSender(failures=2)
    notifier = _notifier([_target(1, "a")], sender, sleeps=sleeps, attempts=3, backoff=1.0)

    [result] = notifier.deliver(_closed())

    assert result.ok
    assert len(sender.calls) == 3
    assert sleeps == [1.0, 2.0]
    assert (notifier.sent, notifier.failed) == (1, 0)


def test_a_target_that_keeps_failing_is_logged_without_its_url() -> None:
    sender = FakeSender(failures=99)
    notifier = _notifier([_target(1, "tg")], sender, attempts=3)

    with capture_logs() as logs:
        [result] = notifier.deliver(_closed())

    assert not result.ok
    assert len(sender.calls) == 3
    assert notifier.failed == 1
    [line] = [entry for entry in logs if entry["event"] == "notifier: delivery failed"]
    assert line["target"] == "tg" and line["scheme"] == "tgram"
    text = repr(logs) + repr(result) + repr(notifier)
    assert TOKEN not in text
    assert "AAHsecret" not in text
    assert "tgram://" not in text


def test_a_url_apprise_cannot_use_is_not_retried() -> None:
    sender = FakeSender(failures=99, retry=False)
    notifier = _notifier([_target(1, "a")], sender, attempts=5)
    [result] = notifier.deliver(_closed())
    assert not result.ok
    assert len(sender.calls) == 1


def test_degraded_is_told_once_per_quiet_period_per_strategy() -> None:
    clock = Clock()
    sender = FakeSender()
    notifier = _notifier([_target(1, "a")], sender, clock=clock, quiet_period=900.0)
    degraded = Notify(
        user_id=1, event=NotifyEvent.STRATEGY_DEGRADED, at=AT, strategy_id=7, detail="x"
    )

    assert len(notifier.deliver(degraded)) == 1
    clock.now = 899.0
    assert notifier.deliver(degraded) == []
    assert len(notifier.deliver(replace(degraded, strategy_id=8))) == 1  # another strategy
    clock.now = 901.0
    assert len(notifier.deliver(degraded)) == 1
    assert len(sender.calls) == 3


def test_a_registered_secret_in_an_error_detail_is_masked_before_it_leaves() -> None:
    register_secret("EXCHANGE-KEY-abcdef123")
    sender = FakeSender()
    notifier = _notifier([_target(1, "a")], sender)
    notifier.deliver(
        Notify(
            user_id=1,
            event=NotifyEvent.KEY_REJECTED,
            at=AT,
            detail="invalid key EXCHANGE-KEY-abcdef123 for account 3",
        )
    )
    [(_, _, body, _)] = sender.calls
    assert "EXCHANGE-KEY-abcdef123" not in body
    assert "***" in body


def test_the_test_event_goes_to_every_target_even_disabled_ones() -> None:
    sender = FakeSender()
    notifier = _notifier([_target(1, "a"), _target(2, "b", enabled=False)], sender)
    results = notifier.deliver(Notify(user_id=1, event=NotifyEvent.TEST, at=AT))
    assert sorted(r.target for r in results) == ["a", "b"]


def test_workers_deliver_what_is_told_and_stop() -> None:
    sender = FakeSender()
    notifier = _notifier([_target(1, "a")], sender, workers=2, refresh_interval=0.05)
    notifier.start()
    try:
        notifier.inbox.tell(_closed())
        assert sender.sent.wait(30)
    finally:
        notifier.stop()
    assert notifier.sent == 1
    assert not any(t.name.startswith("notifier-") for t in threading.enumerate())


# --- what an engine's committed step makes ------------------------------------------------


def _state(max_safety: int = 3):  # type: ignore[no-untyped-def]
    params = MartingaleParams.from_mapping(
        {
            "base_order": "100",
            "safety_order": "100",
            "max_safety_orders": str(max_safety),
            "price_deviation": "1",
            "take_profit": "1",
        }
    )
    rules = MarketRules(symbol="BTC/USDT")
    return replace(initial_state(7, "BTC/USDT", params, rules), cycle=5)


def _wanting(*events: NotifyEvent) -> Notifications:
    inbox = Notifications()
    inbox.set_wanted({1: frozenset(events)})
    return inbox


def _notices(inbox: Notifications, closed: CycleClosed | None, safety: tuple[str, ...]):  # type: ignore[no-untyped-def]
    return list(engine_notices(inbox, _state(), closed, safety, user_id=1, strategy_id=7, now=AT))


def test_a_take_profit_close_is_a_cycle_closed_with_profit_in_the_quote() -> None:
    closed = CycleClosed(
        cycle=5, realized_profit=Decimal("2.5"), reason=CloseReason.TAKE_PROFIT, at=AT
    )
    [notice] = _notices(_wanting(NotifyEvent.CYCLE_CLOSED), closed, ())
    assert (notice.event, notice.cycle, notice.profit, notice.currency, notice.symbol) == (
        NotifyEvent.CYCLE_CLOSED,
        5,
        Decimal("2.5"),
        "USDT",
        "BTC/USDT",
    )


def test_a_stop_loss_close_is_its_own_event_and_a_canceled_cycle_none() -> None:
    inbox = _wanting(NotifyEvent.CYCLE_CLOSED, NotifyEvent.STOP_LOSS)
    stop = CycleClosed(cycle=5, realized_profit=Decimal(-3), reason=CloseReason.STOP_LOSS, at=AT)
    assert [n.event for n in _notices(inbox, stop, ())] == [NotifyEvent.STOP_LOSS]
    canceled = replace(stop, reason=CloseReason.CANCELED)
    assert _notices(inbox, canceled, ()) == []


def test_safety_fills_and_the_last_level() -> None:
    both = _wanting(NotifyEvent.SAFETY_FILLED, NotifyEvent.SAFETY_EXHAUSTED)
    assert [(n.event, n.level) for n in _notices(both, None, ("s1", "s3"))] == [
        (NotifyEvent.SAFETY_FILLED, 1),
        (NotifyEvent.SAFETY_EXHAUSTED, 3),
    ]
    only_exhausted = _wanting(NotifyEvent.SAFETY_EXHAUSTED)
    assert [n.level for n in _notices(only_exhausted, None, ("s1", "s2", "s3"))] == [3]


def test_nothing_is_built_for_a_user_who_wants_nothing() -> None:
    closed = CycleClosed(cycle=5, realized_profit=Decimal(1), reason=CloseReason.TAKE_PROFIT, at=AT)
    assert _notices(Notifications(), closed, ("s1", "s3")) == []
