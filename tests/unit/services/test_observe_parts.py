"""The parts of the health check and the scrape that need no actor tree: bounded waits, the
per-part verdicts, scrubbing, and one registry per observer."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from actors.feed_link import FeedLink
from actors.messages import TreeHealth
from actors.telemetry import BreakerBoard, Telemetry
from domain.errors import DatabaseUnavailable
from exchange.resilience.circuit import CircuitBreaker
from services.observe import Observer
from services.observe.bounded import BoundedCall, NoAnswer
from services.observe.checks import breaker_checks, feed_checks, scrub, tree_check


def test_a_bounded_call_that_hangs_answers_no_answer_and_starts_no_second_call() -> None:
    release = threading.Event()
    calls: list[int] = []

    def hangs() -> str:
        calls.append(1)
        release.wait(30)
        return "late"

    call = BoundedCall(hangs, name="test-hang")
    with pytest.raises(NoAnswer):
        call(0.05)
    with pytest.raises(NoAnswer):
        call(0.05)  # the first is still in flight: this look waits on it
    assert len(calls) == 1

    release.set()
    assert call.begin().result(10) == "late"
    call(10)  # done: the next look is a new call
    assert len(calls) == 2


def test_a_bounded_call_hands_its_error_to_the_waiter() -> None:
    def fails() -> None:
        raise DatabaseUnavailable("down (test)")

    with pytest.raises(DatabaseUnavailable, match="down"):
        BoundedCall(fails, name="test-fail")(5)


def test_scrub_removes_passwords_from_urls_and_bounds_the_length() -> None:
    text = "GET https://bob:hunter2@testnet.example.com/api failed; mysql+pymysql://u:pw@db/x"
    assert scrub(text) == (
        "GET https://***@testnet.example.com/api failed; mysql+pymysql://***@db/x"
    )
    assert len(scrub("x" * 1000)) < 400


class _Client:
    def __init__(self, circuit: CircuitBreaker) -> None:
        self.circuit = circuit


def test_breaker_checks_fail_while_open_or_probing_and_never_show_a_password() -> None:
    board = BreakerBoard()
    venue = "binance@https://bob:hunter2@proxy.example.com"
    breaker = CircuitBreaker(venue, failure_threshold=1, reset_after=0.01)
    board.track(venue, 7, _Client(breaker))
    assert breaker_checks(board)["exchange:binance@https://***@proxy.example.com"].ok

    breaker.record_failure("NetworkError: GET https://bob:hunter2@proxy.example.com timed out")
    check = breaker_checks(board)["exchange:binance@https://***@proxy.example.com"]
    assert not check.ok
    assert check.detail.startswith("circuit open after 1 failures; last: NetworkError")
    assert "hunter2" not in check.detail and check.detail.endswith("(1 account)")


def _link(*, started_ago: float, now: datetime) -> FeedLink:
    link = FeedLink("paper", "ETH/USDT")
    link.created_at = now - timedelta(seconds=started_ago)
    return link


def test_feed_checks_give_a_new_feed_its_grace_and_an_ended_replay_its_peace() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    young, old = _link(started_ago=5, now=now), _link(started_ago=100, now=now)
    assert feed_checks([young], now=now, stale_after=60)["feed:paper:ETH/USDT"].ok
    late = feed_checks([old], now=now, stale_after=60)["feed:paper:ETH/USDT"]
    assert (late.ok, late.detail) == (False, "no price since the feed started 100s ago")

    old.mark_ended()
    assert feed_checks([old], now=now, stale_after=60)["feed:paper:ETH/USDT"].detail == (
        "the replay ended"
    )
    fresh = _link(started_ago=100, now=now)
    fresh.publish(Decimal(100), Decimal(100), Decimal(100), now - timedelta(seconds=2), now)
    check = feed_checks([fresh], now=now, stale_after=60)["feed:paper:ETH/USDT"]
    assert (check.ok, check.detail) == (True, "last price 2.0s ago")
    fresh.set_error("no prices (3 failures in a row; last: NetworkError: timeout)")
    assert not feed_checks([fresh], now=now, stale_after=60)["feed:paper:ETH/USDT"].ok


def _observer(telemetry: Telemetry, database: object = None) -> Observer:
    def check() -> None:
        if isinstance(database, Exception):
            raise database

    return Observer(telemetry=telemetry, root=lambda: None, database=check, repository=lambda: None)


def _placed(observer: Observer) -> dict[tuple[str, ...], float]:
    text = observer.metrics().decode()
    return {
        tuple(sorted(s.labels.values())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "martingale_orders_placed_total"
    }


def test_two_observers_in_one_process_keep_their_own_registries_and_figures() -> None:
    first, second = Telemetry(), Telemetry()
    first.orders_placed.inc("paper", "buy")

    assert _placed(_observer(first)) == {("buy", "paper"): 1.0}
    assert _placed(_observer(second)) == {}


def test_ready_names_a_tree_not_started_and_a_database_that_refuses() -> None:
    report = _observer(Telemetry(), DatabaseUnavailable("database unavailable (test)")).ready()

    assert not report.ok
    assert report.as_dict()["checks"] == {
        "actors": {"ok": False, "detail": "the actor tree is not started"},
        "database": {"ok": False, "detail": "database unavailable (test)"},
    }


def _health(**changes: object) -> TreeHealth:
    fields: dict[str, object] = {
        "users_expected": 2,
        "users_alive": 2,
        "users_given_up": 0,
        "repository_alive": True,
        "stopping": False,
    }
    return TreeHealth(**{**fields, **changes})  # type: ignore[arg-type]


def test_the_tree_is_well_only_with_every_user_and_the_writer_alive_and_not_stopping() -> None:
    assert tree_check(_health()).ok
    assert tree_check(_health(users_alive=1)).detail == "1/2 user actors alive"
    assert tree_check(_health(repository_alive=False)).detail == (
        "the repository writer is not running"
    )
    stopping = tree_check(_health(stopping=True))
    assert (stopping.ok, stopping.detail) == (False, "the service is stopping")


def test_not_ready_is_logged_when_what_fails_changes_not_at_every_look() -> None:
    observer = _observer(Telemetry(), DatabaseUnavailable("database unavailable (test)"))
    with capture_logs() as logs:
        for _ in range(3):
            observer.ready()
    assert [entry["event"] for entry in logs] == ["health: not ready"]
