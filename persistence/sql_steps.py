"""Many engine steps in one transaction (`write_steps`, behind `Repository.save_steps`).

A group costs about the statements of one step: its rows are read with one SELECT per table,
every step is checked in Python against them and the steps accepted before it (as `save_step`
would check it alone), and the accepted steps are written together, a statement or two per
table. The single writer is bound by statements (each one hands the GIL back to thousands of
busy threads and has to win it again), not by rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.engine import Connection

from domain import codec
from domain.errors import DuplicateOrder, LeaseLost
from domain.orders import Fill, Order, OrderState
from persistence import models as m
from persistence import sql_rows
from persistence.errors import NotFound, VersionConflict
from persistence.lease_book import LeaseBook
from persistence.leases import refused_users
from persistence.records import StepOutcome, StepResult, StepWrite
from persistence.sql_bulk import insert_rows, update_rows
from persistence.sql_trading import (
    CYCLE_FIELDS,
    audit_row,
    check_cycle_money,
    check_fill_money,
    check_order_money,
    check_transition,
    fill_row,
    order_row,
    refresh_totals,
)

STRATEGIES, ORDERS, FILLS, CYCLES = m.STRATEGIES, m.ORDERS, m.FILLS, m.CYCLES
_S, _O, _F, _C = STRATEGIES.c, ORDERS.c, FILLS.c, CYCLES.c

_STEP_STRATEGIES = (
    select(_S.id, _S.version, _S.account_id)
    .where(_S.id.in_(bindparam("b_ids", expanding=True)))
    .with_for_update()  # MySQL locks the rows; SQLite's BEGIN IMMEDIATE already holds the lock
)
_STEP_ORDERS = select(
    _O.account_id, _O.client_order_id, _O.strategy_id, _O.state, _O.filled, _O.id, _O.cycle
).where(
    _O.account_id.in_(bindparam("b_accounts", expanding=True)),
    _O.client_order_id.in_(bindparam("b_coids", expanding=True)),
)
_STEP_ORDER_IDS = select(_O.account_id, _O.client_order_id, _O.id).where(
    _O.account_id.in_(bindparam("b_accounts", expanding=True)),
    _O.client_order_id.in_(bindparam("b_coids", expanding=True)),
)
_STEP_TRADES = select(_F.account_id, _F.symbol, _F.trade_id).where(
    _F.account_id.in_(bindparam("b_accounts", expanding=True)),
    _F.trade_id.in_(bindparam("b_trades", expanding=True)),
)
_STEP_CYCLES = select(_C.strategy_id, _C.number, _C.id).where(
    _C.strategy_id.in_(bindparam("b_strategies", expanding=True)),
    _C.number.in_(bindparam("b_numbers", expanding=True)),
)

OrderKey = tuple[int, str]  # (account id, client order id)
TradeKey = tuple[int, str, str]  # (account id, symbol, trade id): what makes a fill unique


LEASE_LOST = (
    "this service process no longer holds its user's lease (another process drives it now, "
    "or the lease expired); nothing was written"
)


class BatchFailed(RuntimeError):
    """A group write did not touch the rows its checks promised (a bug, or a foreign writer)."""


class StaleVersion(BatchFailed):
    """A strategy's version, taken on trust, was not the stored one: check again with a read."""


@dataclass(slots=True)
class _BatchOrder:
    """One order as the group sees it: stored (`id`) or recorded by an earlier step (`insert`)."""

    strategy_id: int
    state: OrderState
    filled: Decimal
    cycle: int
    id: int | None = None
    insert: dict[str, Any] | None = None  # the row to insert, later moves folded in
    update: dict[str, Any] | None = None  # what the moves of a stored row set

    def moved(self, order: Order, now: datetime) -> _BatchOrder:
        """A copy with `order`'s move applied (the caller has checked it)."""
        values = {"state": order.state.value, "filled": order.filled, "cost": order.cost}
        out = replace(self, state=order.state, filled=order.filled)
        if self.insert is not None:
            out.insert = {**self.insert, **values, "updated_at": now}
            if order.exchange_order_id is not None:
                out.insert["exchange_order_id"] = order.exchange_order_id
        else:
            # A None exchange order id keeps the one stored or set by an earlier move.
            earlier = self.update["exchange_order_id"] if self.update else None
            eoid = order.exchange_order_id if order.exchange_order_id is not None else earlier
            out.update = {**values, "exchange_order_id": eoid, "updated_at": now}
        return out


class _Group:
    """The steps of one group checked in order against the rows read up front and the steps
    accepted before them; what the accepted steps write, merged per row."""

    def __init__(
        self, conn: Connection, steps: Sequence[StepWrite], accounts: dict[int, int] | None
    ) -> None:
        self.versions: dict[int, int] = {}
        self.accounts: dict[int, int] = {}
        ids = sorted({step.strategy_id for step in steps})
        # On trust: each strategy at its first step's expected version (the UPDATE checks it).
        self.trusted = accounts is not None and all(sid in accounts for sid in ids)
        if self.trusted:
            assert accounts is not None
            for step in reversed(steps):
                self.versions[step.strategy_id] = step.expected_version
                self.accounts[step.strategy_id] = accounts[step.strategy_id]
        else:
            for sid, version, account_id in conn.execute(_STEP_STRATEGIES, {"b_ids": ids}):
                self.versions[sid], self.accounts[sid] = version, account_id
            if accounts is not None:
                accounts.update(self.accounts)
        self.orders: dict[OrderKey, _BatchOrder] = {}
        self.trades: set[TradeKey] = set()
        self._read(conn, [s for s in steps if s.strategy_id in self.accounts])
        # What the accepted steps write.
        self.bumps: dict[int, dict[str, Any]] = {}  # strategy id -> expected version + new row
        self.cycles: dict[tuple[int, int], dict[str, Any]] = {}
        self.fills: list[tuple[dict[str, Any], OrderKey | None]] = []  # row, order id to find
        self.events: list[dict[str, Any]] = []
        self.audits: list[dict[str, Any]] = []

    def _read(self, conn: Connection, steps: Sequence[StepWrite]) -> None:
        """One SELECT each: the orders and trades the group names."""
        accounts = sorted({self.accounts[s.strategy_id] for s in steps})
        coids = {i.order.client_order_id for s in steps for i in s.new_orders}
        coids.update(o.client_order_id for s in steps for o in s.order_updates)
        coids.update(f.client_order_id for s in steps for f in s.fills)
        if coids:
            rows = conn.execute(_STEP_ORDERS, {"b_accounts": accounts, "b_coids": sorted(coids)})
            for account_id, coid, owner, state, filled, order_id, cycle in rows:
                self.orders[(account_id, coid)] = _BatchOrder(
                    owner, OrderState(state), filled, cycle, id=order_id
                )
        trades = sorted({f.trade_id for s in steps for f in s.fills})
        if trades:
            known = conn.execute(_STEP_TRADES, {"b_accounts": accounts, "b_trades": trades})
            self.trades.update((a, symbol, trade_id) for a, symbol, trade_id in known)

    def add(self, step: StepWrite) -> StepResult:
        """Check `step` as `save_step` would and take its writes; raise its refusal instead
        (then nothing of it is taken)."""
        sid = step.strategy_id
        version = self.versions.get(sid)
        if version is None:
            raise NotFound(f"strategy {sid} does not exist")
        if version != step.expected_version:
            raise VersionConflict(
                f"strategy {sid} is not at version {step.expected_version}: another writer "
                "saved it; reload before acting"
            )
        account_id = self.accounts[sid]
        moved = self._orders_of(step, account_id)
        if step.cycle is not None:
            check_cycle_money(step.cycle)
        fills = self._new_fills(step, account_id)
        events = [
            {
                "strategy_id": sid,
                "type": type(event).__name__,
                "payload": codec.dumps(event),
                "occurred_at": step.now,
            }
            for event in step.events
        ]
        audits = [audit_row(entry) for entry in step.audits]
        # Accepted: take its writes.
        self.versions[sid] = step.new_version
        bump = self.bumps.setdefault(sid, {"expected": version})
        bump.update(version=step.new_version, snapshot=step.snapshot, updated_at=step.now)
        self.orders.update(moved)
        if step.cycle is not None:
            cycle = sql_rows.cycle_values(step.cycle)
            self.cycles[(sid, step.cycle.number)] = {"strategy_id": sid, **cycle}
        for fill in fills:
            self.trades.add((account_id, fill.symbol, fill.trade_id))
            self.fills.append(self._fill(sid, account_id, fill, step.now))
        self.events.extend(events)
        self.audits.extend(audits)
        return StepResult(version=step.new_version, new_trade_ids=tuple(f.trade_id for f in fills))

    def _orders_of(self, step: StepWrite, account_id: int) -> dict[OrderKey, _BatchOrder]:
        """The step's intents, then its moves, checked in that order as `write_orders` does."""
        sid, now = step.strategy_id, step.now
        moved: dict[OrderKey, _BatchOrder] = {}

        def known(key: OrderKey) -> _BatchOrder | None:
            return moved.get(key) or self.orders.get(key)

        for intent in step.new_orders:
            order = intent.order
            key = (account_id, order.client_order_id)
            if known(key) is not None:
                raise DuplicateOrder(
                    f"client order id {order.client_order_id} is already recorded on account "
                    f"{account_id}"
                )
            check_order_money(order)
            row = order_row(sid, account_id, intent, now)
            moved[key] = _BatchOrder(sid, order.state, order.filled, intent.cycle, insert=row)
        for order in step.order_updates:
            key = (account_id, order.client_order_id)
            found = known(key)
            if found is None or found.strategy_id != sid:
                raise NotFound(f"order {order.client_order_id} of strategy {sid} does not exist")
            check_transition(order, found)
            check_order_money(order)
            moved[key] = found.moved(order, now)
        return moved

    def _new_fills(self, step: StepWrite, account_id: int) -> list[Fill]:
        """The step's fills not stored yet (nor earlier in the group, nor earlier in the step)."""
        fills: list[Fill] = []
        seen: set[TradeKey] = set()
        for fill in step.fills:
            key = (account_id, fill.symbol, fill.trade_id)
            if key in self.trades or key in seen:
                continue  # a replay: stored once
            seen.add(key)
            check_fill_money(fill)
            fills.append(fill)
        return fills

    def _fill(
        self, sid: int, account_id: int, fill: Fill, now: datetime
    ) -> tuple[dict[str, Any], OrderKey | None]:
        """A fill's row, its order's id and cycle from the group's view of the orders (the key
        of an order this group records: its id is known after the INSERT)."""
        key = (account_id, fill.client_order_id)
        order = self.orders.get(key)
        if order is None:
            return fill_row(sid, account_id, fill, {}, now), None
        if order.id is None:
            row = fill_row(sid, account_id, fill, {}, now)
            row["cycle"] = order.cycle
            return row, key
        ids = {fill.client_order_id: (order.id, order.cycle)}
        return fill_row(sid, account_id, fill, ids, now), None

    def write(self, conn: Connection) -> None:
        """The accepted steps' rows, a statement or two per table (in chunks if large)."""
        bumps = [
            ((sid,), {k: b[k] for k in ("snapshot", "version", "updated_at")}, b["expected"])
            for sid, b in self.bumps.items()
        ]
        if update_rows(conn, STRATEGIES, bumps, guard="version") != len(bumps):
            if self.trusted:
                raise StaleVersion("a strategy is not at the version its step expects")
            raise BatchFailed("strategies: a version changed under a locked row")
        new = [o.insert for o in self.orders.values() if o.insert is not None]
        order_ids = dict(self._insert_orders(conn, new))
        moves = [
            ((o.id,), o.update, None)
            for o in self.orders.values()
            if o.update is not None and o.id is not None
        ]
        if update_rows(conn, ORDERS, moves, keep=("exchange_order_id",)) != len(moves):
            raise BatchFailed("orders: a row checked is gone")
        self._write_cycles(conn)
        if self.fills:
            missing = {key for _, key in self.fills if key is not None} - order_ids.keys()
            if missing:
                params = {
                    "b_accounts": sorted({a for a, _ in missing}),
                    "b_coids": sorted({c for _, c in missing}),
                }
                rows = conn.execute(_STEP_ORDER_IDS, params)
                order_ids.update(((a, c), order_id) for a, c, order_id in rows)
            for row, key in self.fills:
                if key is not None:
                    row["order_id"] = order_ids[key]
            insert_rows(conn, FILLS, [row for row, _ in self.fills])
        insert_rows(conn, m.EVENTS, self.events)
        insert_rows(conn, m.AUDIT_LOG, self.audits)

    def _write_cycles(self, conn: Connection) -> None:
        """UPDATE by (strategy, number); only if a cycle is new (rare: once per cycle), one
        SELECT of which exist and an INSERT of the others."""
        changes = [
            (key, {name: values[name] for name in CYCLE_FIELDS}, None)
            for key, values in self.cycles.items()
        ]
        if update_rows(conn, CYCLES, changes, key=("strategy_id", "number")) != len(changes):
            params = {
                "b_strategies": sorted({sid for sid, _ in self.cycles}),
                "b_numbers": sorted({number for _, number in self.cycles}),
            }
            stored = {(sid, number) for sid, number, _ in conn.execute(_STEP_CYCLES, params)}
            insert_rows(conn, CYCLES, [v for k, v in self.cycles.items() if k not in stored])
        closing = [sid for (sid, _), v in self.cycles.items() if v["status"] != "open"]
        if closing:  # once per closed cycle: the strategy's totals, in the same transaction
            refresh_totals(conn, closing)

    @staticmethod
    def _insert_orders(
        conn: Connection, rows: list[dict[str, Any]]
    ) -> Iterator[tuple[OrderKey, int]]:
        result = insert_rows(conn, ORDERS, rows)
        if result is not None:
            for order_id, account_id, coid in result:
                yield (account_id, coid), order_id


def write_steps(
    conn: Connection,
    steps: Sequence[StepWrite],
    *,
    accounts: dict[int, int] | None = None,
    fence: LeaseBook | None = None,
) -> list[StepOutcome]:
    """Check every step in order, then write the accepted ones together; one outcome each.

    Reads for the whole group: the version and account of its strategies (one SELECT, locking
    on MySQL), then one SELECT each of the orders and trades the steps name. Every step is then
    checked in Python against those rows and the steps accepted before it; a refused step is
    left out whole. Writes, each only if it has rows: one multi-row UPDATE of the strategies
    (the expected version still in the WHERE), an INSERT and an UPDATE of orders, an UPDATE of
    cycles (plus a SELECT and an INSERT when one is new), an INSERT of fills, one of events and
    one of audit rows.
    The caller commits (or rolls back) once.

    `accounts` is a cache of strategy -> account (filled here from the SELECT). If it knows
    every strategy of the group, that SELECT is skipped: each strategy is taken to be at its
    first step's expected version and the UPDATE's WHERE checks it; on a miss, or if any step
    is refused (its refusal may depend on the stored version), it raises `StaleVersion`: roll
    back and call again without the cache. Raises `BatchFailed` if another UPDATE matches
    fewer rows than checked.

    `fence`: this process's leases when several processes share the database
    (persistence.leases). A step of a strategy whose user's lease the database no longer
    gives this process is refused with `LeaseLost`, and the lease rows stay share-locked until
    the commit, so no other process can claim them in between.
    """
    group = _Group(conn, steps, accounts)
    fenced = refused_users(conn, fence, group.versions.keys()) if fence is not None else set()
    out: list[StepOutcome] = []
    for step in steps:
        if step.strategy_id in fenced:
            out.append(LeaseLost(f"strategy {step.strategy_id}: {LEASE_LOST}"))
            continue
        try:
            out.append(group.add(step))
        except Exception as exc:  # the step's refusal, whatever it is: its neighbours go on
            out.append(exc)
    refusals = [o for o in out if isinstance(o, Exception) and not isinstance(o, LeaseLost)]
    if group.trusted and refusals:
        # A refused step was checked against a version taken on trust: with the stored one it
        # might be refused for another reason (a stale engine must hear VersionConflict), or
        # a step after it accepted. Nothing is written yet.
        raise StaleVersion("a step was refused: check the group against the stored versions")
    group.write(conn)
    return out
