"""A user's engines read their states together on their first start (actors.boot_loads): one
read for the user, none of their own; a paused one, resumed later, and a restarted one read
alone."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from actors.repository import RepoClient
from domain.errors import DatabaseUnavailable
from persistence.records import ActualState, DesiredState
from tests.actors.fakes import wait_until
from tests.actors.tree import Tree


def test_a_users_engines_start_from_one_read_of_their_states(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = Tree(tmp_path)
    batches: list[list[int]] = []
    singles: list[int] = []
    # Counted where the engines ask (the repository reads one state as a batch of one).
    many, one = RepoClient.load_engine_states, RepoClient.load_engine_state

    def load_many(client: RepoClient, ids: list[int]) -> Any:
        batches.append(list(ids))
        return many(client, ids)

    def load_one(client: RepoClient, sid: int) -> Any:
        singles.append(sid)
        return one(client, sid)

    monkeypatch.setattr(RepoClient, "load_engine_states", load_many)
    monkeypatch.setattr(RepoClient, "load_engine_state", load_one)
    try:
        running = [tree.add("alice", "main", f"s{i}") for i in range(5)]
        paused = tree.add("alice", "main", "paused", desired=DesiredState.PAUSED)
        stopped = tree.add("alice", "main", "stopped", desired=DesiredState.STOPPED)
        tree.start()
        for sid in running:
            tree.wait_orders(sid, 3)
            tree.wait_state(sid, ActualState.RUNNING)
        tree.wait_state(paused, ActualState.PAUSED)
        assert batches == [sorted(running)]
        assert singles == []
        assert stopped not in {sid for batch in batches for sid in batch}

        tree.sql.set_desired_state(paused, DesiredState.RUNNING, now=datetime.now(UTC))
        tree.wait_orders(paused, 3)  # resumed long after the others: it reads alone
        assert singles == [paused]
        assert len(batches) == 1
    finally:
        tree.close()


def test_a_failing_first_read_is_retried_by_the_start_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    tree = Tree(tmp_path)
    many = tree.sql.load_engine_states
    calls: list[list[int]] = []

    def load_many(ids: list[int]) -> Any:
        calls.append(list(ids))
        if len(calls) == 1:
            raise DatabaseUnavailable("the database is away (test)")
        return many(ids)

    monkeypatch.setattr(tree.sql, "load_engine_states", load_many)
    try:
        sids = [tree.add("alice", "main", f"s{i}") for i in range(3)]
        tree.start()
        for sid in sids:
            tree.wait_orders(sid, 3, timeout=30)
        wait_until(
            lambda: all(tree.strategy(s).actual_state is ActualState.RUNNING for s in sids),
            what="every engine running",
            timeout=30,
        )
        assert calls[0] == sorted(sids)  # the first start's read failed, and was made again
        assert len(calls) >= 2
    finally:
        tree.close()
