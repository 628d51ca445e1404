"""services.strategies: create, read, update parameters of, delete one user's strategies."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.errors import DatabaseUnavailable, ValidationError
from domain.market import MarketRules
from domain.orders import OrderState
from persistence.errors import NotFound
from persistence.records import AccountRecord, ActualState, DesiredState
from services.strategies import (
    StrategyInput,
    create_strategy,
    delete_strategy,
    get_strategy,
    list_strategies,
    update_params,
)
from tests.integration.persistence.helpers import intent, open_cycle
from tests.integration.services.conftest import (
    PARAMS,
    T0,
    at,
    new_strategy,
    stop,
    user_with_account,
)


def entry(**changes: Any) -> StrategyInput:
    values: dict[str, Any] = {
        "name": "eth",
        "account": "main",
        "symbol": "ETH/USDT",
        "params": PARAMS,
        **changes,
    }
    return StrategyInput(**values)


def nothing_written(repo: Any, user_id: int) -> None:
    assert repo.list_strategies(user_id=user_id) == []
    assert repo.recent_audit(user_id=user_id) == []


def test_create_stores_complete_params_and_returns_the_preview(repo: Any) -> None:
    uid = user_with_account(repo)
    record, plan = create_strategy(repo, uid, entry(state="paused"), now=T0)
    assert (record.user_id, record.name, record.symbol) == (uid, "eth", "ETH/USDT")
    assert record.account_id == repo.list_accounts(uid)[0].id
    assert record.desired_state is DesiredState.PAUSED
    assert record.config_state is None
    assert record.params == {
        "base_order": "10",
        "safety_order": "20",
        "max_safety_orders": "2",
        "price_deviation": "1",
        "step_scale": "1",
        "volume_scale": "1",
        "take_profit": "1.5",
        "max_active_safety_orders": "1",
        "cooldown": "0",
        "base_order_type": "market",
        "direction": "long",
        "stop_loss_trailing": "false",
        "stop_loss_timeout_action": "market",
        "reinvest_percent": "0",
        "start_condition": {"type": "asap"},
    }  # price and balance are for the preview only
    assert [level.price for level in plan.levels] == [Decimal(100), Decimal(99), Decimal(98)]
    assert repo.get_strategy(record.id) == record
    [audit] = repo.recent_audit(user_id=uid)
    assert (audit.entry.event, audit.entry.strategy_id) == ("strategy_created", record.id)


def test_another_users_account_is_no_account_at_all(repo: Any) -> None:
    uid = user_with_account(repo)
    user_with_account(repo, "bob", account="bobs")
    with pytest.raises(NotFound) as info:  # the API answers 404, as for an id in a path
        create_strategy(repo, uid, entry(account="bobs"), now=T0)
    with pytest.raises(NotFound) as missing:
        create_strategy(repo, uid, entry(account="nobody"), now=T0)
    assert str(info.value) == "you have no account named 'bobs'"
    assert str(missing.value) == "you have no account named 'nobody'"
    nothing_written(repo, uid)


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"name": "a b"}, "name", "is not a valid name"),
        ({"name": "x#deleted-1"}, "name", "is not a valid name"),
        ({"name": "x" * 65}, "name", "at most 64 characters"),
        ({"name": "eth\n"}, "name", "is not a valid name"),
        ({"symbol": "ETHUSDT"}, "symbol", "BASE/QUOTE"),
        ({"symbol": "ETH/USDT/X"}, "symbol", "BASE/QUOTE"),
        ({"symbol": " ETH/USDT"}, "symbol", "BASE/QUOTE"),
        ({"symbol": "A" * 30 + "/USDT"}, "symbol", "at most 32"),
        ({"symbol": "eth/usdt"}, "symbol", "write the symbol as ETH/USDT"),
        ({"state": "finished"}, "state", "running, paused, stopped"),
        ({"params": {**PARAMS, "take_profit": "0"}}, "take_profit", "must be > 0"),
        ({"params": {**PARAMS, "take_profit": "1e999999999"}}, "take_profit", "out of range"),
        ({"params": {**PARAMS, "leverage": "3"}}, "leverage", "unknown parameter"),
        ({"params": {k: v for k, v in PARAMS.items() if k != "price"}}, "price", "required"),
        ({"params": {**PARAMS, "balance": "29"}}, "balance", "exceed the available"),
    ],
)
def test_bad_input_names_its_field_and_writes_nothing(
    repo: Any, changes: dict[str, Any], field: str, text: str
) -> None:
    uid = user_with_account(repo)
    with pytest.raises(ValidationError, match=text) as info:
        create_strategy(repo, uid, entry(**changes), now=T0)
    assert info.value.field == field
    nothing_written(repo, uid)


def test_a_name_in_use_is_refused_but_another_user_may_use_it(repo: Any) -> None:
    uid = user_with_account(repo)
    bob = user_with_account(repo, "bob")
    first = new_strategy(repo, uid)
    with pytest.raises(ValidationError) as info:
        create_strategy(repo, uid, entry(symbol="BTC/USDT"), now=at(1))
    assert info.value.field == "name"
    assert repo.get_strategy(first).symbol == "ETH/USDT"
    assert len(repo.list_strategies(user_id=uid)) == 1
    assert get_strategy(repo, bob, new_strategy(repo, bob)).name == "eth"


def test_every_level_is_checked_against_the_markets_rules(repo: Any) -> None:
    uid = user_with_account(repo)
    asked: list[tuple[AccountRecord, str]] = []

    def rules_for(account: AccountRecord, symbol: str) -> MarketRules:
        asked.append((account, symbol))
        return MarketRules(symbol=symbol, min_notional=Decimal(15))  # the base order is 10

    with pytest.raises(ValidationError, match="level 0") as info:
        create_strategy(repo, uid, entry(), now=T0, rules_for=rules_for)
    assert info.value.field == "base_order"
    assert [(a.name, symbol) for a, symbol in asked] == [("main", "ETH/USDT")]
    nothing_written(repo, uid)

    def unlisted(account: AccountRecord, symbol: str) -> MarketRules:
        raise ValidationError(f"{account.exchange} does not list {symbol}", field="symbol")

    with pytest.raises(ValidationError, match="does not list") as info:
        create_strategy(repo, uid, entry(), now=T0, rules_for=unlisted)
    assert info.value.field == "symbol"
    nothing_written(repo, uid)


class FailingAudit:
    """The real repository, except that audit writes fail (after the strategy was written)."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def append_audit(self, entries: Any) -> int:
        raise DatabaseUnavailable("the database went away")


def test_a_failure_after_the_insert_rolls_the_whole_creation_back(repo: Any) -> None:
    uid = user_with_account(repo)
    with pytest.raises(DatabaseUnavailable):
        create_strategy(FailingAudit(repo), uid, entry(), now=T0)  # type: ignore[arg-type]
    nothing_written(repo, uid)


def test_another_users_or_a_missing_strategy_is_not_found_alike(repo: Any) -> None:
    uid = user_with_account(repo)
    bob = user_with_account(repo, "bob")
    bobs = new_strategy(repo, bob)
    with pytest.raises(NotFound) as theirs:
        get_strategy(repo, uid, bobs)
    with pytest.raises(NotFound) as missing:
        get_strategy(repo, uid, 999)
    assert str(theirs.value) == f"strategy {bobs} does not exist"
    assert str(missing.value) == "strategy 999 does not exist"
    mine = new_strategy(repo, uid, name="mine")
    assert [s.id for s in list_strategies(repo, uid)] == [mine]
    with pytest.raises(NotFound):
        update_params(repo, uid, bobs, PARAMS, now=at(1))
    with pytest.raises(NotFound):
        delete_strategy(repo, uid, bobs, now=at(1))
    assert repo.get_strategy(bobs).deleted_at is None


def test_update_params_stores_them_and_leaves_the_states_alone(repo: Any) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    repo.set_desired_state(sid, DesiredState.PAUSED, now=at(1))
    record, plan = update_params(repo, uid, sid, {**PARAMS, "take_profit": "3"}, now=at(2))
    assert record.params["take_profit"] == "3"
    assert record.desired_state is DesiredState.PAUSED and record.config_state is None
    assert repo.get_strategy(sid).params["take_profit"] == "3"
    assert plan.levels[0].take_profit_price == Decimal(103)
    assert [a.entry.event for a in repo.recent_audit(user_id=uid)] == [
        "strategy_created",
        "params_updated",
    ]
    again, _ = update_params(repo, uid, sid, {**PARAMS, "take_profit": "3"}, now=at(3))
    assert again.updated_at == at(2)  # nothing changed: nothing written
    assert len(repo.recent_audit(user_id=uid)) == 2


def test_update_params_keeps_a_config_files_state(repo: Any) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    record = repo.get_strategy(sid)
    repo.upsert_strategy(
        uid, "eth", account_id=record.account_id, symbol="ETH/USDT", params=record.params,
        desired_state=DesiredState.RUNNING, now=at(1), config_state="running",
    )  # fmt: skip
    updated, _ = update_params(repo, uid, sid, {**PARAMS, "cooldown": 60}, now=at(2))
    assert (updated.config_state, updated.params["cooldown"]) == ("running", "60")


def test_bad_params_change_nothing(repo: Any) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    before = repo.get_strategy(sid)

    def rules_for(account: AccountRecord, symbol: str) -> MarketRules:
        return MarketRules(symbol=symbol, min_notional=Decimal(15))

    with pytest.raises(ValidationError) as info:
        update_params(
            repo, uid, sid, {**PARAMS, "base_order": "12"}, now=at(1), rules_for=rules_for
        )
    assert info.value.field == "base_order"
    with pytest.raises(ValidationError) as info:
        update_params(repo, uid, sid, {**PARAMS, "volume_scale": "-1"}, now=at(1))
    assert info.value.field == "volume_scale"
    assert repo.get_strategy(sid) == before


def test_only_a_stopped_strategy_is_deleted_and_its_name_is_free_again(repo: Any) -> None:
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    with pytest.raises(ValidationError, match="stop it first") as info:
        delete_strategy(repo, uid, sid, now=at(1))
    assert info.value.field == "state"
    assert [s.id for s in list_strategies(repo, uid)] == [sid]
    stop(repo, sid, ActualState.RUNNING)  # asked to stop, still running
    with pytest.raises(ValidationError, match="still running") as info:
        delete_strategy(repo, uid, sid, now=at(2))
    assert [a.entry.event for a in repo.recent_audit(user_id=uid)] == ["strategy_created"]
    repo.set_actual_state(sid, ActualState.FINISHED, now=at(3))
    delete_strategy(repo, uid, sid, now=at(4))
    assert list_strategies(repo, uid) == []
    with pytest.raises(NotFound):
        get_strategy(repo, uid, sid)
    with pytest.raises(NotFound):
        update_params(repo, uid, sid, PARAMS, now=at(5))
    with pytest.raises(NotFound):
        delete_strategy(repo, uid, sid, now=at(5))
    assert repo.recent_audit(user_id=uid)[-1].entry.event == "strategy_deleted"
    assert repo.recent_audit(user_id=uid)[-1].entry.message == "strategy eth"
    again = new_strategy(repo, uid)
    assert again != sid and [s.id for s in list_strategies(repo, uid)] == [again]


def test_without_a_price_the_preview_uses_the_markets_current_price(repo: Any) -> None:
    uid = user_with_account(repo)
    asked: list[tuple[str, str]] = []

    def price_for(account: AccountRecord, symbol: str) -> Decimal:
        asked.append((account.name, symbol))
        return Decimal(200)

    params = {k: v for k, v in PARAMS.items() if k != "price"}
    record, plan = create_strategy(repo, uid, entry(params=params), now=T0, price_for=price_for)
    assert asked == [("main", "ETH/USDT")]
    assert plan.levels[0].price == Decimal(200)
    assert "price" not in record.params
    # a price given wins over the market's
    _, given = update_params(repo, uid, record.id, PARAMS, now=T0, price_for=price_for)
    assert given.levels[0].price == Decimal(100)


def test_a_faulted_strategy_with_orders_on_the_book_is_not_deleted(repo: Any) -> None:
    """The supervisor gave up on it with its ladder resting: deleting it would leave those
    orders on the exchange with nobody to cancel them or count their fills."""
    uid = user_with_account(repo)
    sid = new_strategy(repo, uid)
    repo.upsert_cycle(sid, open_cycle(1))
    placed = repo.record_order_intent(sid, intent(sid, 1, "s1"), now=at(1))
    stop(repo, sid, ActualState.FAULTED)
    with pytest.raises(ValidationError, match="1 order") as info:
        delete_strategy(repo, uid, sid, now=at(2))
    assert info.value.field == "state"
    assert [s.id for s in list_strategies(repo, uid)] == [sid]
    repo.update_order(sid, placed.transition(OrderState.CANCELED), now=at(3))
    delete_strategy(repo, uid, sid, now=at(4))  # cancelled: nothing left on the book
    assert list_strategies(repo, uid) == []
