"""Trading writes on an open transaction: engine steps (`write_steps`) and the single operations.

SQLAlchemy Core, not the ORM: an engine's step is the single writer's hot path, and the ORM's
identity map, object construction and flushes cost more than the statements themselves. The
statements run against the mapped `Table`s, so the column types still keep money exact and time
in UTC. They are built once (module level), so SQLAlchemy memoises their cache keys.

Each function assumes the caller owns the transaction, so a step can chain them and commit (or
roll back) once. Rule checks that protect money live here too: a client order id is never
reused on an account, an order only moves along its state machine, a fill is stored once.

Steps are written in groups (`write_steps`, see there) with about as many statements for a group
as for one step: the single writer is bound by statements (each one hands the GIL back to
thousands of busy threads and has to win it again), not by rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import String, Table, bindparam, func, insert, select, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Update

from domain import codec
from domain.errors import DuplicateOrder, IllegalTransition
from domain.ids import parse_client_order_id
from domain.orders import Fill, Order, OrderState
from persistence import models as m
from persistence import sql_rows
from persistence.errors import NotFound, VersionConflict
from persistence.records import (
    AuditEntry,
    CycleRecord,
    JournalEntry,
    OrderIntent,
    StepOutcome,
    StepResult,
    StepWrite,
)
from persistence.types import check_money

STRATEGIES = m.STRATEGIES
ORDERS = cast(Table, m.Order.__table__)
FILLS = cast(Table, m.Fill.__table__)
CYCLES = cast(Table, m.Cycle.__table__)

_S, _O, _F, _C = STRATEGIES.c, ORDERS.c, FILLS.c, CYCLES.c
# What `upsert_cycle` sets: every column `sql_rows.cycle_values` fills except the key.
_CYCLE_FIELDS = tuple(c.name for c in CYCLES.c if c.name not in ("id", "strategy_id", "number"))

_ACCOUNT_OF = select(_S.account_id).where(_S.id == bindparam("b_id"))
_ORDERS_BY_COID = select(
    _O.client_order_id, _O.strategy_id, _O.state, _O.filled, _O.id, _O.cycle
).where(
    _O.account_id == bindparam("b_account"),
    _O.client_order_id.in_(bindparam("b_coids", expanding=True)),
)
_ORDER_IDS = select(_O.client_order_id, _O.id, _O.cycle).where(
    _O.account_id == bindparam("b_account"),
    _O.client_order_id.in_(bindparam("b_coids", expanding=True)),
)
_UPDATE_ORDER = (
    update(ORDERS)
    .where(_O.account_id == bindparam("b_account"), _O.client_order_id == bindparam("b_coid"))
    .values(
        state=bindparam("b_state"),
        filled=bindparam("b_filled"),
        cost=bindparam("b_cost"),
        # A None exchange order id keeps the stored one (one statement for the executemany).
        exchange_order_id=func.coalesce(bindparam("b_eoid", type_=String()), _O.exchange_order_id),
        updated_at=bindparam("b_now"),
    )
)
_KNOWN_TRADES = select(_F.symbol, _F.trade_id).where(
    _F.account_id == bindparam("b_account"),
    _F.trade_id.in_(bindparam("b_trades", expanding=True)),
)
_UPDATE_CYCLE = (
    update(CYCLES)
    .where(_C.strategy_id == bindparam("b_strategy"), _C.number == bindparam("b_number"))
    .values({name: bindparam(f"b_{name}") for name in _CYCLE_FIELDS})
)
_INSERT_ORDERS = insert(ORDERS)
_INSERT_FILLS = insert(FILLS)
_INSERT_CYCLE = insert(CYCLES)
_INSERT = {t.name: insert(t) for t in (ORDERS, FILLS, CYCLES, m.EVENTS, m.AUDIT_LOG)}
# The same INSERTs with RETURNING: where the dialect can run them as an executemany (SQLite),
# SQLAlchemy sends one multi-row INSERT ("insertmanyvalues") instead of one step per row.
_RETURNING = {
    table.name: insert(table).returning(*key)
    for table, key in (
        (ORDERS, (_O.id, _O.account_id, _O.client_order_id)),
        (FILLS, (_F.id,)),
        (CYCLES, (_C.id,)),
        (m.EVENTS, (m.EVENTS.c.id,)),
        (m.AUDIT_LOG, (m.AUDIT_LOG.c.id,)),
    )
}


OrderIds = dict[str, tuple[int, int]]  # client order id -> (order id, cycle)


@dataclass(slots=True)
class _Known:
    """What a step needs to know about one order row: who owns it, where it is."""

    strategy_id: int
    state: OrderState
    filled: Decimal


def account_of(conn: Connection, strategy_id: int) -> int:
    account_id = conn.execute(_ACCOUNT_OF, {"b_id": strategy_id}).scalar()
    if account_id is None:
        raise NotFound(f"strategy {strategy_id} does not exist")
    return int(account_id)


def write_orders(
    conn: Connection,
    strategy_id: int,
    account_id: int,
    *,
    intents: Sequence[OrderIntent] = (),
    updates: Sequence[Order] = (),
    now: datetime,
) -> OrderIds:
    """Insert `intents`, then apply `updates` (which may name those intents): one SELECT first.

    Checks run in the order the operations are listed, as if each were written on its own.
    Returns the id and cycle of each stored order that SELECT found, for `insert_fills`.
    """
    coids = {i.order.client_order_id for i in intents} | {o.client_order_id for o in updates}
    known: dict[str, _Known] = {}
    found: OrderIds = {}
    if coids:
        rows = conn.execute(_ORDERS_BY_COID, {"b_account": account_id, "b_coids": list(coids)})
        for coid, owner, state, filled, order_id, cycle in rows:
            known[coid] = _Known(owner, OrderState(state), filled)
            found[coid] = (order_id, cycle)
    if intents:
        rows_in = []
        for intent in intents:
            order = intent.order
            if order.client_order_id in known:
                raise DuplicateOrder(
                    f"client order id {order.client_order_id} is already recorded on account "
                    f"{account_id}"
                )
            _check_order_money(order)
            known[order.client_order_id] = _Known(strategy_id, order.state, order.filled)
            rows_in.append(_order_row(strategy_id, account_id, intent, now))
        conn.execute(_INSERT_ORDERS, rows_in)
    if updates:
        params = []
        for order in updates:
            row = known.get(order.client_order_id)
            if row is None or row.strategy_id != strategy_id:
                raise NotFound(
                    f"order {order.client_order_id} of strategy {strategy_id} does not exist"
                )
            _check_transition(order, row)
            _check_order_money(order)
            row.state, row.filled = order.state, order.filled
            params.append(
                {
                    "b_account": account_id,
                    "b_coid": order.client_order_id,
                    "b_state": order.state.value,
                    "b_filled": order.filled,
                    "b_cost": order.cost,
                    "b_eoid": order.exchange_order_id,
                    "b_now": now,
                }
            )
        conn.execute(_UPDATE_ORDER, params)
    return found


def insert_fills(
    conn: Connection,
    strategy_id: int,
    account_id: int,
    fills: Sequence[Fill],
    *,
    now: datetime,
    orders: OrderIds | None = None,
) -> list[str]:
    """Store the fills whose (account, symbol, trade id) is new; their trade ids, in order.

    A replayed fill is a no-op, and so is a second fill with the same symbol and trade id in one
    batch. (Trade ids are per symbol on some exchanges: the same id on another symbol is new.)
    `orders` (from `write_orders` in the same transaction) spares looking those orders up again.
    """
    if not fills:
        return []
    trade_ids = list({f.trade_id for f in fills})
    known = conn.execute(_KNOWN_TRADES, {"b_account": account_id, "b_trades": trade_ids})
    seen = {(symbol, trade_id) for symbol, trade_id in known}
    new: list[Fill] = []
    for fill in fills:
        if (fill.symbol, fill.trade_id) in seen:
            continue
        seen.add((fill.symbol, fill.trade_id))
        _check_fill_money(fill)
        new.append(fill)
    if not new:
        return []
    ids = dict(orders or {})
    missing = list({f.client_order_id for f in new} - ids.keys())
    if missing:
        rows = conn.execute(_ORDER_IDS, {"b_account": account_id, "b_coids": missing})
        ids.update((coid, (order_id, cycle)) for coid, order_id, cycle in rows)
    conn.execute(_INSERT_FILLS, [_fill_row(strategy_id, account_id, f, ids, now) for f in new])
    return [f.trade_id for f in new]


def upsert_cycle(conn: Connection, strategy_id: int, record: CycleRecord) -> None:
    _check_cycle_money(record)
    values = sql_rows.cycle_values(record)
    params = {f"b_{name}": values[name] for name in _CYCLE_FIELDS}
    params.update(b_strategy=strategy_id, b_number=record.number)
    if conn.execute(_UPDATE_CYCLE, params).rowcount == 0:
        conn.execute(_INSERT_CYCLE, {"strategy_id": strategy_id, **values})


def insert_events(conn: Connection, entries: Sequence[JournalEntry]) -> int:
    """One executemany for the whole batch."""
    if not entries:
        return 0
    rows = [
        {
            "strategy_id": entry.strategy_id,
            "type": type(entry.event).__name__,
            "payload": codec.dumps(entry.event),
            "occurred_at": entry.occurred_at,
        }
        for entry in entries
    ]
    insert_rows(conn, m.EVENTS, rows)
    return len(rows)


def insert_audit(conn: Connection, entries: Sequence[AuditEntry]) -> int:
    if not entries:
        return 0
    rows = [audit_row(entry) for entry in entries]
    insert_rows(conn, m.AUDIT_LOG, rows)
    return len(rows)


def audit_row(entry: AuditEntry) -> dict[str, Any]:
    """The row of an audit entry, checked up front (a step refuses a bad one before writing)."""
    if entry.at.tzinfo is None or entry.at.utcoffset() is None:
        raise ValueError(f"audit {entry.event}: timestamps must be timezone-aware (UTC)")
    return {
        "at": entry.at,
        "level": entry.level,
        "event": entry.event,
        "message": entry.message,
        "user_id": entry.user_id,
        "strategy_id": entry.strategy_id,
        "data": sql_rows.dump_json(entry.data),
    }


# --- reads of what was just written (the single operations return it) ----------------------
def order_of(conn: Connection, account_id: int, client_order_id: str) -> Order:
    row = conn.execute(
        select(ORDERS).where(_O.account_id == account_id, _O.client_order_id == client_order_id)
    ).one()
    return sql_rows.order(row)


def cycle_row(conn: Connection, strategy_id: int, number: int) -> Any:
    return conn.execute(
        select(CYCLES).where(_C.strategy_id == strategy_id, _C.number == number)
    ).one_or_none()


def _order_row(
    strategy_id: int, account_id: int, intent: OrderIntent, now: datetime
) -> dict[str, Any]:
    order = intent.order
    return {
        "strategy_id": strategy_id,
        "account_id": account_id,
        "cycle": intent.cycle,
        "leg": intent.leg,
        "client_order_id": order.client_order_id,
        "exchange_order_id": order.exchange_order_id,
        "symbol": order.symbol,
        "side": order.side.value,
        "type": order.type.value,
        "price": order.price,
        "amount": order.amount,
        "filled": order.filled,
        "cost": order.cost,
        "state": order.state.value,
        "created_at": order.created_at or now,
        "updated_at": now,
    }


def _fill_row(
    strategy_id: int,
    account_id: int,
    fill: Fill,
    orders: OrderIds,
    now: datetime,
) -> dict[str, Any]:
    order = orders.get(fill.client_order_id)
    parsed = parse_client_order_id(fill.client_order_id)
    cycle = order[1] if order is not None else (parsed[1] if parsed else None)
    return {
        "account_id": account_id,
        "strategy_id": strategy_id,
        "order_id": order[0] if order is not None else None,
        "cycle": cycle,
        "trade_id": fill.trade_id,
        "client_order_id": fill.client_order_id,
        "exchange_order_id": fill.exchange_order_id,
        "symbol": fill.symbol,
        "side": fill.side.value,
        "price": fill.price,
        "amount": fill.amount,
        "fee": fill.fee,
        "fee_currency": fill.fee_currency,
        "traded_at": fill.timestamp,
        "recorded_at": now,
    }


def _check_transition(order: Order, row: _Known | _BatchOrder) -> None:
    if order.state != row.state and not row.state.can_become(order.state):
        raise IllegalTransition(
            f"order {order.client_order_id}: {row.state.value} -> {order.state.value} "
            "is not allowed"
        )
    if order.filled < row.filled:
        raise IllegalTransition(
            f"order {order.client_order_id}: filled cannot go down ({row.filled} -> {order.filled})"
        )


def _check_order_money(order: Order) -> None:
    for name in ("amount", "price", "filled", "cost"):
        value = getattr(order, name)
        if value is not None:
            check_money(value, field=f"order {order.client_order_id} {name}")


# --- many engine steps in one transaction (`save_steps`) --------------------------------------
UPDATE_ROWS = 64  # rows per multi-row UPDATE; padded up to a power of two (few compiled forms)

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
            _check_cycle_money(step.cycle)
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
            _check_order_money(order)
            row = _order_row(sid, account_id, intent, now)
            moved[key] = _BatchOrder(sid, order.state, order.filled, intent.cycle, insert=row)
        for order in step.order_updates:
            key = (account_id, order.client_order_id)
            found = known(key)
            if found is None or found.strategy_id != sid:
                raise NotFound(f"order {order.client_order_id} of strategy {sid} does not exist")
            _check_transition(order, found)
            _check_order_money(order)
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
            _check_fill_money(fill)
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
            return _fill_row(sid, account_id, fill, {}, now), None
        if order.id is None:
            row = _fill_row(sid, account_id, fill, {}, now)
            row["cycle"] = order.cycle
            return row, key
        ids = {fill.client_order_id: (order.id, order.cycle)}
        return _fill_row(sid, account_id, fill, ids, now), None

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
            (key, {name: values[name] for name in _CYCLE_FIELDS}, None)
            for key, values in self.cycles.items()
        ]
        if update_rows(conn, CYCLES, changes, key=("strategy_id", "number")) == len(changes):
            return
        params = {
            "b_strategies": sorted({sid for sid, _ in self.cycles}),
            "b_numbers": sorted({number for _, number in self.cycles}),
        }
        stored = {(sid, number) for sid, number, _ in conn.execute(_STEP_CYCLES, params)}
        insert_rows(conn, CYCLES, [v for k, v in self.cycles.items() if k not in stored])

    @staticmethod
    def _insert_orders(
        conn: Connection, rows: list[dict[str, Any]]
    ) -> Iterator[tuple[OrderKey, int]]:
        result = insert_rows(conn, ORDERS, rows)
        if result is not None:
            for order_id, account_id, coid in result:
                yield (account_id, coid), order_id


def write_steps(
    conn: Connection, steps: Sequence[StepWrite], *, accounts: dict[int, int] | None = None
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
    """
    group = _Group(conn, steps, accounts)
    out: list[StepOutcome] = []
    for step in steps:
        try:
            out.append(group.add(step))
        except Exception as exc:  # the step's refusal, whatever it is: its neighbours go on
            out.append(exc)
    if group.trusted and any(isinstance(o, Exception) for o in out):
        # A refused step was checked against a version taken on trust: with the stored one it
        # might be refused for another reason (a stale engine must hear VersionConflict), or
        # a step after it accepted. Nothing is written yet.
        raise StaleVersion("a step was refused: check the group against the stored versions")
    group.write(conn)
    return out


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> Any:
    """One INSERT for all `rows`; the RETURNING result where the dialect batches those (and
    there is more than one row: a single row is cheaper without)."""
    if not rows:
        return None
    if len(rows) > 1 and conn.dialect.insert_executemany_returning:  # SQLite: one statement
        return conn.execute(_RETURNING[table.name], list(rows))
    conn.execute(_INSERT[table.name], list(rows))  # PyMySQL: one multi-row INSERT
    return None


def update_rows(
    conn: Connection,
    table: Table,
    rows: Sequence[tuple[tuple[Any, ...], Mapping[str, Any], Any]],
    *,
    key: tuple[str, ...] = ("id",),
    guard: str | None = None,
    keep: tuple[str, ...] = (),
) -> int:
    """Set different values on many rows: one UPDATE joined to the rows' values per chunk;
    returns the rows matched.

    `rows` are (key values, values, guard value); every row sets the same columns. With
    `guard`, a row is updated only if that column still holds its guard value. A None in a
    `keep` column keeps the stored value.
    """
    if not rows:
        return 0
    fields = tuple(rows[0][1])
    matched = 0
    for start in range(0, len(rows), UPDATE_ROWS):
        chunk = rows[start : start + UPDATE_ROWS]
        size = 1 << (len(chunk) - 1).bit_length()  # padded with copies of the last row
        params: dict[str, Any] = {}
        for i in range(size):
            keys, values, guarded = chunk[min(i, len(chunk) - 1)]
            params.update(
                (f"{column}_k{i}", value) for column, value in zip(key, keys, strict=True)
            )
            params.update((f"{name}_{i}", values[name]) for name in fields)
            if guard is not None:
                params[f"{guard}_g{i}"] = guarded
        statement = _join_update(table, key=key, fields=fields, guard=guard, keep=keep, size=size)
        matched += conn.execute(statement, params).rowcount
    return matched


@lru_cache(maxsize=64)
def _join_update(
    table: Table,
    *,
    key: tuple[str, ...],
    fields: tuple[str, ...],
    guard: str | None,
    keep: tuple[str, ...],
    size: int,
) -> Update:
    """`UPDATE table ... FROM (SELECT :k_0, :f_0 UNION ALL SELECT :k_1, :f_1 ...) AS v`, joined
    on the key (and the guard): linear in the rows, where a CASE per column is quadratic.
    Renders as UPDATE ... FROM on SQLite and as a multiple-table UPDATE on MySQL."""
    c = table.c

    def bound(name: str, column: str) -> Any:
        return bindparam(name, type_=c[column].type)

    if size == 1:  # a plain UPDATE of one row
        where = [c[k] == bound(f"{k}_k0", k) for k in key]
        if guard is not None:
            where.append(c[guard] == bound(f"{guard}_g0", guard))
        values = {
            name: func.coalesce(bound(f"{name}_0", name), c[name])
            if name in keep
            else bound(f"{name}_0", name)
            for name in fields
        }
        return update(table).where(*where).values(values)
    rows = []
    for i in range(size):
        columns = [bound(f"{k}_k{i}", k).label(f"k_{k}") for k in key]
        if guard is not None:
            columns.append(bound(f"{guard}_g{i}", guard).label("g"))
        columns.extend(bound(f"{name}_{i}", name).label(f"v_{name}") for name in fields)
        rows.append(select(*columns))
    v = union_all(*rows).subquery("v")
    where = [c[k] == v.c[f"k_{k}"] for k in key]
    if guard is not None:
        where.append(c[guard] == v.c.g)
    values = {
        name: func.coalesce(v.c[f"v_{name}"], c[name]) if name in keep else v.c[f"v_{name}"]
        for name in fields
    }
    return update(table).where(*where).values(values)


def _check_cycle_money(record: CycleRecord) -> None:
    for name in (
        "amount",
        "cost",
        "base_price",
        "average_price",
        "realized_profit",
        "carried_amount",
        "carried_cost",
    ):
        value = getattr(record, name)
        if value is not None:
            check_money(value, field=f"cycle.{name}")


def _check_fill_money(fill: Fill) -> None:
    for name in ("price", "amount", "fee"):
        check_money(getattr(fill, name), field=f"fill.{name}")
