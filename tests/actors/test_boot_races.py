"""Real actors: rows another process (the API, the CLI) commits while the root reads the database
to start users are not lost. Each test lands the write exactly inside the window it is about,
from a wrapper around the root's read, so the outcome does not depend on timing."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from persistence.records import ActualState
from services.control import Action, apply_action
from tests.actors.fakes import wait_until
from tests.actors.tree import Tree


def test_a_user_created_between_the_boots_reads_of_users_and_strategies_starts(
    tree: Tree,
) -> None:
    """The boot reads the users, then every strategy. bob and his running strategy commit in
    between: the strategy list has him, the user list does not. He used to be started by
    nothing: the boot marked his strategy's command as seen, so no poll ever reported it."""
    alice = tree.add("alice", "main", "a1")
    created: list[int] = []
    list_users = tree.sql.list_users

    def then_bob_commits(**kwargs: Any) -> Any:
        users = list_users(**kwargs)
        if not created:  # the root's boot read (nothing else lists users here)
            created.append(tree.add("bob", "main", "b1"))
        return users

    tree.repo.list_users = then_bob_commits  # type: ignore[method-assign]
    tree.start()
    tree.wait_orders(alice, 3)
    [bob] = created

    tree.wait_orders(bob, 3)
    tree.wait_state(bob, ActualState.RUNNING)
    users = tree.user_refs()
    assert set(users) == {tree.strategy(alice).user_id, tree.strategy(bob).user_id}
    assert set(users[tree.strategy(bob).user_id].proxy().engine_refs().get(timeout=10)) == {bob}


def test_rows_committed_just_after_a_starting_users_read_of_its_strategies_reach_it(
    tree: Tree,
) -> None:
    """A user created while the service runs is started by the poll that sees its first
    strategy; its start reads its strategies. A second strategy and a pause of the first,
    committed just after that read, reach its actor through the next polls."""
    alice = tree.add("alice", "main", "a1")
    tree.start()
    tree.wait_orders(alice, 3)
    later: list[int] = []
    list_strategies = tree.sql.list_strategies

    def then_bob_writes(**kwargs: Any) -> Any:
        records = list_strategies(**kwargs)
        if kwargs.get("user_id") is not None and not later:  # bob's start reads his strategies
            later.append(tree.add("bob", "main", "b2"))
            [first] = [r for r in records if r.name == "b1"]
            apply_action(tree.sql, first, Action.PAUSE, now=datetime.now(UTC))
        return records

    tree.repo.list_strategies = then_bob_writes  # type: ignore[method-assign]
    b1 = tree.add("bob", "main", "b1")
    wait_until(lambda: later, what="bob's start reading his strategies")
    [b2] = later

    tree.wait_orders(b2, 3)
    tree.wait_state(b2, ActualState.RUNNING)
    tree.wait_state(b1, ActualState.PAUSED)
    engines = tree.user_refs()[tree.strategy(b1).user_id].proxy().engine_refs().get(timeout=10)
    assert set(engines) == {b1, b2}
