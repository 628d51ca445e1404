"""Real actors, issue 12: an account's API key replaced while its strategies keep running.

The tree's factory builds a new client for each ask after an account's first
(`Tree.fresh_clients`), as the service's factory builds one on the key stored at that moment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path

import pytest

from domain.errors import AuthenticationFailed
from persistence.records import ActualState, DesiredState, SealedCredentials
from services.control import Action, apply_action
from tests.actors.fakes import wait_until
from tests.actors.tree import Tree


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[Tree]:
    t = Tree(tmp_path)
    t.fresh_clients = True
    try:
        yield t
    finally:
        t.close()


def _replace_key(tree: Tree, account_id: int, fingerprint: str) -> None:
    """What `martingale keys set` / the API write: the account's sealed key, nothing else."""
    sealed = SealedCredentials(
        ciphertext=f"mg1:1:{fingerprint}", key_version=1, fingerprint=fingerprint
    )
    tree.sql.save_credentials(account_id, sealed, now=datetime.now(UTC))


def test_a_replaced_key_is_used_from_the_next_call_and_no_engine_stops(tree: Tree) -> None:
    sid = tree.add("alice", "main", "s1")
    sibling = tree.add("alice", "main", "s2")
    other = tree.add("alice", "spare", "s3")  # another account of the same user
    tree.start()
    for s in (sid, sibling, other):
        tree.wait_orders(s, 3)
    aid = tree.strategy(sid).account_id
    [old] = tree.clients[aid]
    assert tree.root is not None
    user = tree.root.proxy().user_refs().get(timeout=10)[tree.strategy(sid).user_id]
    engines = user.proxy().engine_refs().get(timeout=10)

    _replace_key(tree, aid, "new-key")
    wait_until(lambda: len(tree.clients[aid]) == 2, what="a client built on the new key")
    new = tree.clients[aid][1]
    wait_until(lambda: old.closed, what="the old client closed")
    assert not new.closed
    assert len(tree.clients[tree.strategy(other).account_id]) == 1  # its key did not change

    wait_until(lambda: tree.watching() == 3, what="every engine watching")
    tree.source.push("99")  # safety 1 of both strategies fills: each places its next orders
    for s in (sid, sibling):
        tree.wait_filled(s, "s1")
        tree.wait_orders(s, 5)
    placed_after = {tree.coid(s, 1, "s2") for s in (sid, sibling)}
    assert placed_after <= set(new.creates)
    assert not placed_after & set(old.creates)
    # the same engines, never stopped or restarted
    assert user.proxy().engine_refs().get(timeout=10) == engines
    assert all(tree.strategy(s).restart_count == 0 for s in (sid, sibling))
    tree.wait_state(sid, ActualState.RUNNING)  # reported through the buffered writer


def test_a_refused_key_replaced_then_resumed_trades_again(tree: Tree) -> None:
    sid = tree.add("bob", "main", "b1")
    sibling = tree.add("bob", "main", "b2")
    refused = tree.exchange_of(sid)
    refused.outage = AuthenticationFailed("Invalid API-key, IP, or permissions")
    tree.start()
    for s in (sid, sibling):
        wait_until(
            partial(
                lambda s: (
                    tree.strategy(s).desired_state is DesiredState.STOPPED
                    and tree.strategy(s).last_error is not None
                ),
                s,
            ),
            what=f"strategy {s} stopped for the refused key",
        )
    wait_until(lambda: refused.closed, what="the refused key's client closed")

    aid = tree.strategy(sid).account_id
    _replace_key(tree, aid, "fixed-key")
    for s in (sid, sibling):  # the owner resumes them (rows only, as the API does)
        apply_action(tree.sql, tree.strategy(s), Action.RESUME, now=datetime.now(UTC))
    for s in (sid, sibling):
        tree.wait_orders(s, 3)
        tree.wait_state(s, ActualState.RUNNING)
    assert refused.creates == []
    assert all(c is not refused for c in tree.clients[aid][1:])
