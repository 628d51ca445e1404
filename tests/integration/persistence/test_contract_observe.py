"""Repository contract for the service's metrics: strategies counted by actual state."""

from __future__ import annotations

from typing import Any

from persistence.records import ActualState
from tests.integration.persistence.helpers import another_strategy, at, onboard


def test_an_empty_database_counts_zero_in_every_state(repo: Any) -> None:
    assert repo.count_strategies_by_state() == dict.fromkeys(ActualState, 0)


def test_strategies_are_counted_by_their_actual_state(repo: Any) -> None:
    uid, aid, first = onboard(repo)
    ids = [first] + [another_strategy(repo, uid, aid, name) for name in ("b", "c", "d")]
    repo.set_actual_state(ids[0], ActualState.RUNNING, now=at(1))
    repo.set_actual_state(ids[1], ActualState.RUNNING, now=at(1))
    repo.set_actual_state(ids[2], ActualState.FAULTED, now=at(1), last_error="boom")

    counts = repo.count_strategies_by_state()

    # A new strategy starts STOPPED until its engine reports.
    assert counts == {
        **dict.fromkeys(ActualState, 0),
        ActualState.RUNNING: 2,
        ActualState.FAULTED: 1,
        ActualState.STOPPED: 1,
    }


def test_a_deleted_users_strategies_are_not_counted(repo: Any) -> None:
    alice, _, _ = onboard(repo, "alice")
    onboard(repo, "bob")
    repo.delete_user(alice, now=at(1))

    assert repo.count_strategies_by_state()[ActualState.STOPPED] == 1
    assert sum(repo.count_strategies_by_state().values()) == 1


def test_many_reported_states_are_written_together_and_a_missing_one_holds_none_up(
    repo: Any,
) -> None:
    uid, aid, first = onboard(repo)
    ids = [first] + [another_strategy(repo, uid, aid, name) for name in ("b", "c")]
    repo.set_actual_state(ids[2], ActualState.DEGRADED, now=at(1), last_error="old error")
    fenced = repo.set_actual_states(
        {
            ids[0]: (ActualState.RUNNING, at(2), None),
            999_999: (ActualState.RUNNING, at(2), None),  # gone: matched by nothing
            ids[1]: (ActualState.FAULTED, at(3), "boom"),
            ids[2]: (ActualState.RUNNING, at(4), None),  # its error is cleared
        }
    )
    assert fenced == set()
    got = {sid: repo.get_strategy(sid) for sid in ids}
    assert [(got[s].actual_state, got[s].last_error, got[s].updated_at) for s in ids] == [
        (ActualState.RUNNING, None, at(2)),
        (ActualState.FAULTED, "boom", at(3)),
        (ActualState.RUNNING, None, at(4)),
    ]
