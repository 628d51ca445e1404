"""Disabling a user (issue 13) stops whatever of it could still trade, in one transaction, and
nothing starts its strategies again while it is disabled: not a control action, not a config
file's sync. On the fake, SQLite and MySQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from config.loader import load_config
from domain.events import StopMode
from persistence.records import ActualState, DesiredState
from services.control import Action, ActionRefused, apply_action
from services.onboarding import sync_config
from services.principal import OPERATOR
from services.tokens import issue_session, issue_token
from services.users import set_disabled
from tests.integration.services.conftest import at, new_strategy, user_with_account

CONFIG = """
markets:
  BTC/USDT: {feed: simulated, price: 30000, tick_size: 0.01, step_size: 0.00001, min_notional: 10}
users:
  - name: ann
    email: ann@example.com
    accounts: [{name: main, exchange: paper, balances: {USDT: 10000}}]
    strategies:
"""
STRATEGY = """      - {name: NAME, account: main, symbol: BTC/USDT, base_order: 20, safety_order: 40,
         max_safety_orders: 2, price_deviation: 1, take_profit: 1, state: STATE}
"""


def _state(repo: Any, sid: int) -> tuple[DesiredState, StopMode | None, ActualState]:
    s = repo.get_strategy(sid)
    return s.desired_state, s.stop_mode, s.actual_state


def _mixed_strategies(repo: Any, uid: int) -> dict[str, int]:
    """One strategy in each state a disable has to tell apart."""
    ids = {n: new_strategy(repo, uid, n) for n in ("run", "paused", "finish", "sell", "done")}
    repo.set_actual_state(ids["run"], ActualState.RUNNING, now=at(1))
    repo.set_desired_state(ids["paused"], DesiredState.PAUSED, now=at(1))
    repo.set_desired_state(
        ids["finish"], DesiredState.STOPPED, now=at(1), stop_mode=StopMode.FINISH_CYCLE
    )
    repo.set_actual_state(ids["finish"], ActualState.RUNNING, now=at(1))  # still trading
    repo.set_desired_state(ids["sell"], DesiredState.STOPPED, now=at(1), stop_mode=StopMode.SELL)
    repo.set_actual_state(ids["sell"], ActualState.RUNNING, now=at(1))  # the sale under way
    repo.set_desired_state(ids["done"], DesiredState.STOPPED, now=at(1))
    return ids


def test_disabling_stops_what_could_still_trade_in_mode_cancel_and_nothing_else(
    repo: Any,
) -> None:
    alice, bob = user_with_account(repo, "alice"), user_with_account(repo, "bob")
    ids = _mixed_strategies(repo, alice)
    bobs = new_strategy(repo, bob, "bobs")
    seq = {n: repo.get_strategy(sid).command_seq for n, sid in ids.items()}

    set_disabled(repo, OPERATOR, alice, True, now=at(10))

    cancel = (DesiredState.STOPPED, StopMode.CANCEL)
    assert {n: _state(repo, sid)[:2] for n, sid in ids.items()} == {
        "run": cancel,
        "paused": cancel,
        "finish": cancel,  # a finishing cycle would trade on to its take-profit
        "sell": (DesiredState.STOPPED, StopMode.SELL),  # the sale the user asked for goes on
        "done": (DesiredState.STOPPED, None),
    }
    counted = {n for n, sid in ids.items() if repo.get_strategy(sid).command_seq > seq[n]}
    assert counted == {"run", "paused", "finish"}  # commands a running service's poll sees
    assert _state(repo, bobs)[0] is DesiredState.RUNNING
    assert repo.get_user(alice).disabled and not repo.get_user(bob).disabled


def test_a_disable_that_fails_half_way_leaves_nothing_written(
    repo: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice = user_with_account(repo, "alice")
    first, second = new_strategy(repo, alice, "a"), new_strategy(repo, alice, "b")
    issue_token(repo, alice, name="ci", now=at(1))
    issue_session(repo, alice, now=at(1))
    real = repo.set_desired_state
    calls: list[int] = []

    def fail_on_the_second(strategy_id: int, *args: Any, **kw: Any) -> None:
        calls.append(strategy_id)
        if len(calls) == 2:
            raise RuntimeError("the database went away")
        real(strategy_id, *args, **kw)

    monkeypatch.setattr(repo, "set_desired_state", fail_on_the_second)
    with pytest.raises(RuntimeError):
        set_disabled(repo, OPERATOR, alice, True, now=at(10))

    assert calls == [first, second]
    assert not repo.get_user(alice).disabled
    assert [t.revoked_at for t in repo.list_tokens(alice, kind=None)] == [None, None]
    assert _state(repo, first)[0] is _state(repo, second)[0] is DesiredState.RUNNING


def test_a_disabled_users_strategies_are_not_resumed_nor_paused_but_may_be_stopped(
    repo: Any,
) -> None:
    alice = user_with_account(repo, "alice")
    sid = new_strategy(repo, alice)
    set_disabled(repo, OPERATOR, alice, True, now=at(10))

    for action in (Action.RESUME, Action.PAUSE):
        with pytest.raises(ActionRefused, match="disabled") as err:
            apply_action(repo, repo.get_strategy(sid), action, now=at(11))
        assert err.value.field == "action"
    assert _state(repo, sid)[:2] == (DesiredState.STOPPED, StopMode.CANCEL)
    apply_action(repo, repo.get_strategy(sid), Action.CLOSE_NOW, now=at(12))
    assert _state(repo, sid)[:2] == (DesiredState.STOPPED, StopMode.SELL)

    set_disabled(repo, OPERATOR, alice, False, now=at(13))
    assert _state(repo, sid)[:2] == (DesiredState.STOPPED, StopMode.SELL)  # enabling starts none
    apply_action(repo, repo.get_strategy(sid), Action.RESUME, now=at(14))
    assert _state(repo, sid)[0] is DesiredState.RUNNING


def _config(tmp_path: Path, **states: str) -> Any:
    body = "".join(STRATEGY.replace("NAME", n).replace("STATE", s) for n, s in states.items())
    path = tmp_path / "c.yaml"
    path.write_text(CONFIG + body, encoding="utf-8")
    return load_config(path)


def test_a_config_sync_neither_enables_the_user_nor_starts_its_strategies(
    repo: Any, tmp_path: Path
) -> None:
    sync_config(_config(tmp_path, a="running", b="stopped"), repo, None, now=at(0))
    ann = repo.find_user("ann")
    ids = {s.name: s.id for s in repo.list_strategies(user_id=ann.id)}
    set_disabled(repo, OPERATOR, ann.id, True, now=at(10))

    # the same file (as every `martingale run` syncs it), then one that changes both states
    # and adds a running strategy: the file's values are recorded, none is applied
    sync_config(_config(tmp_path, a="running", b="stopped"), repo, None, now=at(20))
    sync_config(_config(tmp_path, a="paused", b="running", c="running"), repo, None, now=at(30))

    assert repo.find_user("ann").disabled
    strategies = {s.name: s for s in repo.list_strategies(user_id=ann.id)}
    assert {n: (s.desired_state, s.stop_mode) for n, s in strategies.items()} == {
        "a": (DesiredState.STOPPED, StopMode.CANCEL),
        "b": (DesiredState.STOPPED, None),
        "c": (DesiredState.STOPPED, None),  # created stopped
    }
    assert {n: s.config_state for n, s in strategies.items()} == {
        "a": "paused",
        "b": "running",
        "c": "running",
    }
    assert strategies["a"].id == ids["a"]

    # enabled again, the file's next change applies as it always does
    set_disabled(repo, OPERATOR, ann.id, False, now=at(40))
    sync_config(_config(tmp_path, a="running", b="running", c="running"), repo, None, now=at(50))
    assert repo.get_strategy(ids["a"]).desired_state is DesiredState.RUNNING
    assert repo.get_strategy(ids["b"]).desired_state is DesiredState.STOPPED  # file unchanged
