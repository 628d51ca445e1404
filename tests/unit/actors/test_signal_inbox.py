"""Webhook signals on their way to the engine (actors.signal_inbox): the root's poll reads the
unconsumed rows of running strategies and tells each to its user once (again after a while if
still unconsumed); the engine actor delivers it, then marks it consumed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from actors.messages import SignalArrived
from actors.root_poll import DatabasePoll
from actors.signal_inbox import RESEND_AFTER, SignalInbox
from domain.errors import DatabaseUnavailable
from persistence.records import DesiredState, DesiredStateRecord
from tests.actors.fakes import Inbox, bare_engine_actor

T0 = datetime(2024, 1, 1, tzinfo=UTC)


@dataclass
class Row:
    id: int
    strategy_id: int
    signal_at: datetime


class Log:
    def __init__(self) -> None:
        self.warnings: list[str] = []

    def warning(self, text: str, **_: Any) -> None:
        self.warnings.append(text)


class Signals:
    """The two repository methods of the signals table (migration 0012), in memory."""

    def __init__(self, *rows: Row) -> None:
        self.rows = {r.id: r for r in rows}
        self.consumed: dict[int, datetime] = {}
        self.asked: list[Any] = []
        self.down = False

    def __call__(self, method: str, *args: Any) -> Any:
        if self.down:
            raise DatabaseUnavailable("down (test)")
        if method == "unconsumed_signals":
            self.asked.append(args[0])
            return [
                r
                for r in self.rows.values()
                if (args[0] is None or r.strategy_id in args[0]) and r.id not in self.consumed
            ]
        if method == "consume_signal":
            signal_id, at = args
            if signal_id in self.consumed:
                return False
            self.consumed[signal_id] = at
            return True
        raise AttributeError(method)


def test_unconsumed_signals_of_running_strategies_go_to_their_user_once() -> None:
    signals = Signals(Row(1, 7, T0), Row(2, 8, T0))
    inbox = SignalInbox(signals, Log())
    user = Inbox()
    assert inbox.poll([7], lambda sid: user, T0) == 1
    assert user.told == [SignalArrived(strategy_id=7, signal_id=1, signal_at=T0)]
    # One read of every unconsumed row, through its index, with no list of the running ids;
    # strategy 8 is not running: its signal is not told.
    assert signals.asked == [None]
    assert inbox.poll([7], lambda sid: user, T0 + timedelta(seconds=2)) == 0  # told already
    later = T0 + RESEND_AFTER + timedelta(seconds=2)
    assert inbox.poll([7], lambda sid: user, later) == 1  # still unconsumed: told again
    signals.consumed[1] = later
    assert inbox.poll([7], lambda sid: user, later + RESEND_AFTER * 2) == 0


def test_no_user_actor_or_no_database_tells_nothing_and_loses_nothing() -> None:
    signals = Signals(Row(1, 7, T0))
    inbox = SignalInbox(signals, Log())
    assert inbox.poll([7], lambda sid: None, T0) == 0
    signals.down = True
    assert inbox.poll([7], lambda sid: Inbox(), T0) == 0
    signals.down = False
    user = Inbox()
    assert inbox.poll([7], lambda sid: user, T0) == 1 and len(user.told) == 1


def test_the_poll_knows_who_owns_a_strategy_and_which_run() -> None:
    poll = DatabasePoll()
    records = [
        DesiredStateRecord(strategy_id=7, user_id=3, desired_state=DesiredState.RUNNING),
        DesiredStateRecord(strategy_id=8, user_id=4, desired_state=DesiredState.PAUSED),
    ]

    def read(method: str, **_: Any) -> Any:
        return records if method == "list_desired_states" else []

    poll.poll(read, T0)
    assert poll.owners == {7: 3, 8: 4}
    assert poll.running() == [7]


class FakeEngine:
    finished = False
    waiting: str | None = None

    def __init__(self) -> None:
        self.delivered: list[datetime] = []

    def deliver_signal(self, signal_at: datetime) -> bool:
        self.delivered.append(signal_at)
        return True


class Repo:
    def __init__(self, signals: Signals) -> None:
        self.signals = signals
        self.order: list[str] = []

    def call(self, method: str, *args: Any) -> Any:
        self.order.append(method)
        return self.signals(method, *args)


def test_the_engine_actor_delivers_then_consumes_and_a_paused_one_leaves_it() -> None:
    signals = Signals(Row(1, 1, T0))
    repo = Repo(signals)
    actor = bare_engine_actor(repo=repo, clock=lambda: T0)
    engine = FakeEngine()
    actor.engine = engine  # type: ignore[assignment]
    actor._ready = True
    message = SignalArrived(strategy_id=1, signal_id=1, signal_at=T0)
    actor._paused = True
    actor._dispatch(message)
    assert engine.delivered == [] and signals.consumed == {}
    actor._paused = False
    actor._dispatch(message)
    assert engine.delivered == [T0] and signals.consumed == {1: T0}
    assert repo.order == ["consume_signal"]
