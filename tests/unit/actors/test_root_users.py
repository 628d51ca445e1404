"""The root's handling of deleted users, without actors: which stops are left to run, when a
deleted user gets an actor, and when its actor is stopped."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pykka
import pytest

from actors.messages import UserWentIdle
from actors.root_users import DeletedUsers, UserChild, stop_to_finish
from domain.events import StopMode
from persistence.records import ActualState, DesiredState, DesiredStateRecord, StrategyRecord

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def strategy(
    sid: int,
    actual: ActualState = ActualState.RUNNING,
    mode: StopMode | None = StopMode.CANCEL,
    desired: DesiredState = DesiredState.STOPPED,
) -> StrategyRecord:
    return StrategyRecord(
        id=sid,
        user_id=7,
        account_id=1,
        name=f"s{sid}",
        symbol="ETH/USDT",
        params={},
        desired_state=desired,
        actual_state=actual,
        restart_count=0,
        version=0,
        created_at=T0,
        updated_at=T0,
        stop_mode=mode,
    )


@pytest.mark.parametrize(
    ("record", "mode"),
    [
        (strategy(1), StopMode.CANCEL),
        (strategy(1, ActualState.PAUSED), StopMode.CANCEL),
        (strategy(1, ActualState.DEGRADED), StopMode.CANCEL),
        (strategy(1, ActualState.STARTING), StopMode.CANCEL),
        (strategy(1, mode=None), StopMode.CANCEL),  # deleted before the mode was recorded
        (strategy(1, mode=StopMode.FINISH_CYCLE), StopMode.CANCEL),  # would trade on
        (strategy(1, mode=StopMode.SELL), StopMode.SELL),  # the user's own exit, under way
        (strategy(1, ActualState.STOPPED), None),
        (strategy(1, ActualState.FINISHED), None),
        (strategy(1, ActualState.FAULTED), None),  # a person has to look
        (strategy(1, desired=DesiredState.RUNNING), None),  # not stopped: not the delete's
    ],
)
def test_only_a_stop_not_yet_done_is_left_to_run_and_it_cancels(
    record: StrategyRecord, mode: StopMode | None
) -> None:
    found = stop_to_finish(record)

    assert (found.stop_mode if found is not None else None) is mode
    if found is not None:
        assert found.id == record.id and found.actual_state is record.actual_state


class Reads:
    def __init__(self, *records: StrategyRecord) -> None:
        self.records = {r.id: r for r in records}

    def __call__(self, method: str, *args: Any) -> Any:
        assert method == "get_strategy"
        return self.records[args[0]]


def deleted(sid: int) -> DesiredStateRecord:
    return DesiredStateRecord(
        strategy_id=sid,
        user_id=7,
        desired_state=DesiredState.STOPPED,
        stop_mode=StopMode.CANCEL,
        command_seq=1,
        user_deleted=True,
    )


def handling(*records: StrategyRecord) -> tuple[DeletedUsers, dict[int, UserChild], list[int]]:
    users: dict[int, UserChild] = {}
    restarts: list[int] = []
    return DeletedUsers(users, read=Reads(*records), restart=restarts.append), users, restarts


def test_a_user_not_running_here_gets_an_actor_only_for_stops_left_to_do() -> None:
    done, left, also = (
        strategy(1, ActualState.STOPPED),
        strategy(2, ActualState.RUNNING),
        strategy(3, ActualState.PAUSED),
    )
    handler, users, restarts = handling(done, left, also)

    assert handler.command(deleted(1)) is None
    assert users == {} and restarts == []
    assert handler.command(deleted(2)) is None  # started, not told: its start runs the stop
    assert handler.command(deleted(3)) is None
    assert restarts == [7]  # once
    assert users[7].deleted and users[7].stops == {2, 3}
    assert [r.id for r in handler.stops_left(users[7])] == [2, 3]


def test_a_user_given_up_on_is_forgotten_and_a_running_one_is_told() -> None:
    handler, users, restarts = handling(strategy(1))
    users[7] = UserChild(user_id=7, given_up=True)
    assert handler.command(deleted(1)) is None
    assert users == {} and restarts == []

    users[7] = running = UserChild(user_id=7, ref=FakeRef())
    assert handler.command(deleted(1)) is running
    assert running.deleted and running.stops == {1} and restarts == []


class FakeRef:
    def __init__(self) -> None:
        self.stops = 0

    def stop(self, block: bool = True) -> pykka.Future[Any]:
        self.stops += 1
        future: pykka.ThreadingFuture[Any] = pykka.ThreadingFuture()
        future.set(None)
        return future


def test_a_deleted_users_actor_stops_once_idle_having_handled_every_command() -> None:
    handler, users, _ = handling(strategy(1))
    ref = FakeRef()
    users[7] = UserChild(user_id=7, ref=ref, deleted=True, sent=2)

    handler.idle(UserWentIdle(user_id=7, commands=1))  # a command is still on its way
    assert 7 in users and ref.stops == 0
    handler.idle(UserWentIdle(user_id=7, commands=2))
    assert 7 not in users and ref.stops == 1
    assert len(handler.retiring) == 1


def test_an_idle_user_not_deleted_keeps_its_actor() -> None:
    handler, users, _ = handling()
    ref = FakeRef()
    users[7] = UserChild(user_id=7, ref=ref)

    handler.idle(UserWentIdle(user_id=7, commands=0))

    assert 7 in users and ref.stops == 0
