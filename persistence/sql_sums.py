"""An exact SUM of money columns on both backends, so totals are added up in the database.

MySQL's SUM of a DECIMAL(36,18) column is exact (DECIMAL(65,18)). SQLite has no decimal type:
money is stored as text (`types.Money`) and its SUM would add floats. So SQLite connections get
an aggregate `exact_sum` written in Python (registered by `database.make_engine`), which adds
the texts as Decimals in a context wide enough never to round; `exact_sum(column)` compiles to
SUM on MySQL and to that aggregate on SQLite. Either way the database hands back one row per
group instead of every row to add up in Python: a user's status or profit summary costs the
same after a year of cycles as after a day, give or take the database's own scan.
"""

from __future__ import annotations

from decimal import Context, Decimal
from typing import Any

from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import GenericFunction

from persistence.types import Money

SQLITE_NAME = "exact_sum"
_WIDE = Context(prec=80)  # DECIMAL(36,18) values: a sum of 10**40 of them stays exact


class exact_sum(GenericFunction[Decimal]):
    """SUM of a `Money` column, exact on both backends; NULL for no rows, NULLs ignored."""

    type = Money()
    inherit_cache = True
    name = "exact_sum"


@compiles(exact_sum)
def _sum(element: exact_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(exact_sum, "sqlite")
def _sqlite_sum(element: exact_sum, compiler: SQLCompiler, **kw: Any) -> str:
    return f"{SQLITE_NAME}({compiler.process(element.clauses, **kw)})"


class ExactSum:
    """The SQLite aggregate: Decimal addition of the stored texts, the total as text."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: object) -> None:
        if value is None:
            return
        added = Decimal(value if isinstance(value, str) else str(value))
        self.total = added if self.total is None else _WIDE.add(self.total, added)

    def finalize(self) -> str | None:
        return None if self.total is None else format(self.total, "f")


def register_sqlite(dbapi_connection: Any) -> None:
    """Make `exact_sum` known to one SQLite connection (called for each new connection)."""
    dbapi_connection.create_aggregate(SQLITE_NAME, 1, ExactSum)
