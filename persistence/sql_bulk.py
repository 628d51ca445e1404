"""Many rows in few statements: the single writer is bound by statements, not by rows.

`insert_rows` sends one INSERT for a batch (RETURNING where the dialect runs it as one
statement); `update_rows` sets different values on many rows with one UPDATE joined to the
rows' values per chunk.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, func, insert, select, union_all, update
from sqlalchemy.engine import Connection
from sqlalchemy.sql.dml import Update

from persistence import models as m

UPDATE_ROWS = 64  # rows per multi-row UPDATE; padded up to a power of two (few compiled forms)

_O, _F, _C = m.ORDERS.c, m.FILLS.c, m.CYCLES.c
_INSERT = {t.name: insert(t) for t in (m.ORDERS, m.FILLS, m.CYCLES, m.EVENTS, m.AUDIT_LOG)}
# The same INSERTs with RETURNING: where the dialect can run them as an executemany (SQLite),
# SQLAlchemy sends one multi-row INSERT ("insertmanyvalues") instead of one step per row.
_RETURNING = {
    table.name: insert(table).returning(*key)
    for table, key in (
        (m.ORDERS, (_O.id, _O.account_id, _O.client_order_id)),
        (m.FILLS, (_F.id,)),
        (m.CYCLES, (_C.id,)),
        (m.EVENTS, (m.EVENTS.c.id,)),
        (m.AUDIT_LOG, (m.AUDIT_LOG.c.id,)),
    )
}


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
