"""Strategy use cases for the REST API (and any other caller): create, read, update the
parameters of, and delete one user's strategies. Lifecycle actions are `services.control`.

Every function takes an already-authenticated `user_id` and never reads or touches another
user's rows: another user's strategy (or a deleted one) raises NotFound exactly like a missing
one, and another user's account name is "no such account" exactly like a missing one.

Parameters are checked as `martingale plan` checks them (`services.plan`): the values are keyed
by the plan names, so besides the strategy parameters they carry ``price`` (the start price the
ladder is previewed and checked at; when left out, the market's current price from `price_for`)
and optionally ``balance``; neither is stored.
With the market's rules (`rules_for`, injected by the caller: the venue's or the config's), every
level of the ladder is rounded and checked against the minimums before anything is written
(DESIGN money rule 2). Parameters are stored complete, defaults included (`plan.stored_params`),
exactly as a config file's sync stores them.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from config.fields import name_problem
from config.numbers import shown
from domain.errors import ValidationError
from domain.market import MarketRules
from persistence.errors import NotFound
from persistence.records import AccountRecord, AuditEntry, DesiredState, StrategyRecord
from persistence.records_history import NAME_LENGTH, deletion_refused
from persistence.repository import Repository
from services.plan import PRICE, Value, checked_plan, stored_params
from strategy.ladder import Plan
from strategy.params import MartingaleParams

RulesFor = Callable[[AccountRecord, str], MarketRules | None]
# The market's current price, for a preview the caller gave no `price` for (the web asks the
# venue's ticker); None: `price` is required.
PriceFor = Callable[[AccountRecord, str], Decimal]

SYMBOL_LENGTH = 32  # strategies.symbol
_SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9._-]*/[A-Z0-9][A-Z0-9._-]*")
_STATES = tuple(s.value for s in DesiredState)


@dataclass(frozen=True, slots=True, kw_only=True)
class StrategyInput:
    """A new strategy as a user describes it; checked by `create_strategy`, not here, so that
    every problem comes back as a ValidationError naming its field."""

    name: str
    account: str  # the NAME of one of the user's accounts
    symbol: str  # BASE/QUOTE, e.g. ETH/BTC
    params: Mapping[str, Value] = field(default_factory=dict)  # `martingale plan` names
    state: str = DesiredState.RUNNING.value  # running | paused | stopped


def create_strategy(
    repo: Repository,
    user_id: int,
    data: StrategyInput,
    *,
    now: datetime,
    rules_for: RulesFor | None = None,
    price_for: PriceFor | None = None,
) -> tuple[StrategyRecord, Plan]:
    """Create the user's strategy, after every check; one transaction, nothing written on any
    error. Returns the stored record and the plan preview it was checked with.

    A running service picks the new strategy up from the database at its next poll of desired
    states (`actors.root_poll`, a couple of seconds), as it does any command.
    """
    new = _validated(repo, user_id, data, rules_for, price_for)
    stored = stored_params(new.params)
    with repo.transaction():
        _refuse_taken(repo, user_id, new.name)
        record = repo.upsert_strategy(
            user_id,
            new.name,
            account_id=new.account.id,
            symbol=new.symbol,
            params=stored,
            desired_state=new.desired,
            now=now,
        )
        repo.append_audit([_audit(record, "strategy_created", now, params=stored)])
    return record, new.plan


def update_params(
    repo: Repository,
    user_id: int,
    strategy_id: int,
    params: Mapping[str, Value],
    *,
    now: datetime,
    rules_for: RulesFor | None = None,
    price_for: PriceFor | None = None,
) -> tuple[StrategyRecord, Plan]:
    """Replace the strategy's parameters, checked as `create_strategy` checks them.

    `params` replace the stored ones whole (a parameter left out takes its default), like a
    config file entry; `price` and `balance` are for the check only. Stored at once; the desired
    state and `config_state` are left alone.

    When they apply: the engine reads the stored parameters as each new cycle begins (at the
    end of a cooldown, `actors.engine.Engine._take_params` -> `engine_policy.between_cycles`)
    and when it starts, with no restart needed; a cycle in progress keeps the ladder it was
    opened with, so no resting order moves. A strategy waiting for its start condition takes a
    changed condition at once (the root's poll tells its engine, `actors.root_poll`): its candle
    look is armed for rsi/ma, dropped for a signal. A config file that names this strategy sets
    its own parameters again at its next sync.
    """
    record = get_strategy(repo, user_id, strategy_id)
    account = repo.get_account(record.account_id)
    parsed, plan = _checked(params, account, record.symbol, rules_for, price_for)
    stored = stored_params(parsed)
    with repo.transaction():
        current = get_strategy(repo, user_id, strategy_id)
        updated = repo.upsert_strategy(
            user_id,
            current.name,
            account_id=current.account_id,
            symbol=current.symbol,
            params=stored,
            desired_state=current.desired_state,
            now=now,
            config_state=current.config_state,
        )
        if dict(current.params) != stored:
            repo.append_audit([_audit(updated, "params_updated", now, params=stored)])
    return updated, plan


def preview_strategy(
    repo: Repository,
    user_id: int,
    data: StrategyInput,
    *,
    rules_for: RulesFor | None = None,
    price_for: PriceFor | None = None,
) -> Plan:
    """Every check `create_strategy` makes, and its plan, without writing anything (a dry run:
    a name already in use is refused here too)."""
    new = _validated(repo, user_id, data, rules_for, price_for)
    _refuse_taken(repo, user_id, new.name)
    return new.plan


@dataclass(frozen=True, slots=True, kw_only=True)
class _NewStrategy:
    """A `StrategyInput` that passed every check but the name's being free."""

    name: str
    symbol: str
    desired: DesiredState
    account: AccountRecord
    params: MartingaleParams
    plan: Plan


def _validated(
    repo: Repository,
    user_id: int,
    data: StrategyInput,
    rules_for: RulesFor | None,
    price_for: PriceFor | None,
) -> _NewStrategy:
    name = _checked_name(data.name)
    symbol = _checked_symbol(data.symbol)
    desired = _checked_state(data.state)
    account = _own_account(repo, user_id, data.account)
    params, plan = _checked(data.params, account, symbol, rules_for, price_for)
    return _NewStrategy(
        name=name, symbol=symbol, desired=desired, account=account, params=params, plan=plan
    )


def _refuse_taken(repo: Repository, user_id: int, name: str) -> None:
    if any(s.name == name for s in repo.list_strategies(user_id=user_id)):
        raise ValidationError(
            f"you already have a strategy named {name!r}; choose another name", field="name"
        )


def _checked(
    params: Mapping[str, Value],
    account: AccountRecord,
    symbol: str,
    rules_for: RulesFor | None,
    price_for: PriceFor | None,
) -> tuple[MartingaleParams, Plan]:
    rules = rules_for(account, symbol) if rules_for is not None else None
    if PRICE not in params and price_for is not None:
        params = {**params, PRICE: str(price_for(account, symbol))}
    return checked_plan(params, rules)


def get_strategy(repo: Repository, user_id: int, strategy_id: int) -> StrategyRecord:
    """The user's strategy; NotFound for a missing, deleted or another user's one (the same
    error, so an id reveals nothing about other users)."""
    try:
        record = repo.get_strategy(strategy_id)
    except NotFound:
        record = None
    if record is None or record.user_id != user_id or record.deleted_at is not None:
        raise NotFound(f"strategy {strategy_id} does not exist")
    return record


def list_strategies(repo: Repository, user_id: int) -> list[StrategyRecord]:
    """The user's strategies (not deleted), by id."""
    return repo.list_strategies(user_id=user_id)


def delete_strategy(repo: Repository, user_id: int, strategy_id: int, *, now: datetime) -> None:
    """Soft delete of a stopped strategy (desired STOPPED, and the engine stopped, finished,
    faulted or never started); else ValidationError(field="state") saying to stop it first.
    Its orders, fills, cycles and audit rows stay, its name is free again.

    Refused too while any of its orders may still rest on the exchange: a strategy the
    supervisor gave up on (FAULTED) can stop with its ladder on the book, and a deleted strategy
    is never run again, so nothing would ever cancel those orders or account for their fills.
    Resuming it and stopping it now cancels them."""
    with repo.transaction():
        record = get_strategy(repo, user_id, strategy_id)
        reason = deletion_refused(record.name, record.desired_state, record.actual_state)
        if reason is not None:  # said first: stopping it is the first thing to do
            raise ValidationError(reason, field="state")
        live = sum(1 for order in repo.list_orders(strategy_id) if order.state.is_live)
        if live:
            raise ValidationError(
                f"strategy {record.name!r} still has {live} order(s) that may rest on the "
                "exchange; resume it and stop it now (which cancels them) before deleting it",
                field="state",
            )
        repo.delete_strategy(strategy_id, now=now)
        repo.append_audit([_audit(record, "strategy_deleted", now)])


def _own_account(repo: Repository, user_id: int, name: str) -> AccountRecord:
    """The user's account called `name`. Any other name, another user's included, is
    NotFound, as an id in a path would be (the API answers 404 for both, so a body reveals
    nothing of other users' accounts either)."""
    for account in repo.list_accounts(user_id):
        if account.name == name:
            return account
    raise NotFound(f"you have no account named {shown(name, 80)}")


def _checked_name(name: object) -> str:
    if not isinstance(name, str):
        raise ValidationError("must be a string", field="name")
    if len(name) > NAME_LENGTH:  # said before the rule's message, which quotes the name
        raise ValidationError(f"must be at most {NAME_LENGTH} characters", field="name")
    problem = name_problem(name)
    if problem is not None:
        raise ValidationError(problem, field="name")
    return name


def _checked_symbol(symbol: object) -> str:
    if not isinstance(symbol, str):
        raise ValidationError("must be a string", field="symbol")
    if len(symbol) > SYMBOL_LENGTH or not _SYMBOL.fullmatch(symbol.upper()):
        raise ValidationError(_SYMBOL_FORM, field="symbol")
    if symbol != symbol.upper():
        raise ValidationError(f"write the symbol as {symbol.upper()} (upper case)", field="symbol")
    return symbol


_SYMBOL_FORM = (
    f"must look like BASE/QUOTE, e.g. ETH/BTC: letters and digits (and '.', '_', '-'), "
    f"at most {SYMBOL_LENGTH} characters"
)


def _checked_state(state: object) -> DesiredState:
    if state not in _STATES:
        raise ValidationError(f"must be one of {', '.join(_STATES)}", field="state")
    return DesiredState(state)


def _audit(record: StrategyRecord, event: str, now: datetime, **data: Any) -> AuditEntry:
    """The strategy's log (services.history.logs) says who changed it and how."""
    return AuditEntry(
        at=now,
        level="info",
        event=event,
        message=f"strategy {record.name}",
        user_id=record.user_id,
        strategy_id=record.id,
        data=data,
    )
