"""`save_steps` on SQL: a group costs about the statements of one step, whatever its size."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from sqlalchemy import event

from persistence.records import StepResult
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.test_contract_save_steps import VERSIONS, _script, _strategies


@contextmanager
def _statements(repo: SqlRepository) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        verb = statement.split(None, 1)[0].upper()
        if verb != "BEGIN":  # SQLite's explicit BEGIN IMMEDIATE; MySQL begins implicitly
            seen.append(verb)

    event.listen(repo._engine, "before_cursor_execute", count)
    try:
        yield seen
    finally:
        event.remove(repo._engine, "before_cursor_execute", count)


def test_a_group_uses_as_many_statements_as_one_step(sql_repo: SqlRepository) -> None:
    one, *many = _strategies(sql_repo, 21, "s")
    counts: dict[int, list[list[str]]] = {1: [], 20: []}
    for n in range(4):
        for sids in ([one], many):
            with _statements(sql_repo) as seen:
                results = sql_repo.save_steps([_script(sid)[n] for sid in sids])
            assert all(isinstance(r, StepResult) for r in results)
            counts[len(sids)].append(seen)
    assert counts[1] == counts[20]
    # Step 1 reads the strategies (their accounts are cached from then on). Step 3 (a move,
    # two fills, a cycle update, an event): SELECT orders and trades, UPDATE strategies, orders
    # and cycles, INSERT fills and events (BEGIN and COMMIT are not counted).
    assert counts[20][0][0] == "SELECT"
    assert counts[20][2] == ["SELECT"] * 2 + ["UPDATE"] * 3 + ["INSERT"] * 2


def test_steps_the_checks_refuse_cost_no_extra_statement(sql_repo: SqlRepository) -> None:
    sids = _strategies(sql_repo, 3, "r")
    steps = [_script(sid)[0] for sid in sids]
    steps[1] = replace(steps[1], expected_version=5)
    with _statements(sql_repo) as seen:
        results = sql_repo.save_steps(steps)
    assert [type(r).__name__ for r in results] == ["StepResult", "VersionConflict", "StepResult"]
    assert sql_repo.group_fallbacks == 0
    # SELECT strategies and orders; UPDATE strategies; INSERT orders; UPDATE cycles (none
    # stored yet), SELECT which are stored, INSERT them; INSERT events
    assert seen == ["SELECT", "SELECT", "UPDATE", "INSERT", "UPDATE", "SELECT", "INSERT", "INSERT"]


def test_a_stale_step_refused_for_another_reason_hears_version_conflict(
    sql_repo: SqlRepository,
) -> None:
    """Stale and reusing a client order id: checked in order, the version comes first."""
    [sid] = _strategies(sql_repo, 1, "d")
    first = _script(sid)[0]
    sql_repo.save_steps([first])  # account cached: versions are taken on trust from here on
    stale_duplicate = replace(_script(sid)[1], expected_version=0, new_orders=first.new_orders)
    [result] = sql_repo.save_steps([stale_duplicate])
    assert type(result).__name__ == "VersionConflict"
    # Chained on a stale first step: the first is refused, the second lands.
    second = replace(_script(sid)[1], expected_version=0, new_version=7)
    third = replace(_script(sid)[2], expected_version=VERSIONS[1])
    results = sql_repo.save_steps([second, third])
    assert [type(r).__name__ for r in results] == ["VersionConflict", "StepResult"]


def test_a_stale_version_taken_on_trust_is_checked_again_against_the_rows(
    sql_repo: SqlRepository,
) -> None:
    sids = _strategies(sql_repo, 2, "t")
    sql_repo.save_steps([_script(sid)[0] for sid in sids])  # accounts cached from here on
    stale = replace(_script(sids[1])[1], expected_version=0)
    with _statements(sql_repo) as seen:
        results = sql_repo.save_steps([_script(sids[0])[1], stale])
    assert [type(r).__name__ for r in results] == ["StepResult", "VersionConflict"]
    assert sql_repo.group_fallbacks == 0
    # The trusting attempt stops at its UPDATE (rolled back); the second reads the strategies.
    assert seen[:2] == ["SELECT", "UPDATE"] and seen[2:4] == ["SELECT", "SELECT"]
