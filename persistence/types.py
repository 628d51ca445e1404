"""Column types that keep money exact and time in UTC on both SQLite and MySQL.

SQLite has no DECIMAL: its NUMERIC affinity turns long decimals into 8-byte floats, and the
pysqlite driver binds Decimal as float. So `Money` is DECIMAL(36, 18) on MySQL and exact text on
SQLite; values are refused (not rounded) when they do not fit, and come back normalised so both
backends return equal values with equal strings.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Context, Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Integer, Numeric, String, Text
from sqlalchemy.dialects import mysql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

MONEY_PRECISION = 36
MONEY_SCALE = 18
_EXACT = Context(prec=MONEY_PRECISION + 4)  # wide enough that nothing we store rounds

# Events and audit rows grow without bound: 64-bit ids on MySQL; SQLite's INTEGER PRIMARY KEY
# is already 64-bit and is the only type it auto-increments.
BigId = BigInteger().with_variant(Integer(), "sqlite")

# The engine snapshot can exceed TEXT's 64 KiB on MySQL.
LongText = Text().with_variant(mysql.LONGTEXT(), "mysql")


class Money(TypeDecorator[Decimal]):
    impl = Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(MONEY_PRECISION + 4))
        return dialect.type_descriptor(Numeric(MONEY_PRECISION, MONEY_SCALE, asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money column expects Decimal, got {type(value).__name__}")
        check_money(value)
        return format(normalized(value), "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return normalized(Decimal(value))


def normalized(value: Decimal) -> Decimal:
    """Trailing zeros dropped, no exponent notation above 1, and never rounded.

    (`Decimal.normalize()` under the default 28-digit context would round a 36-digit value.)
    """
    if value == 0:
        return Decimal(0)
    stripped = value.normalize(_EXACT)
    if int(stripped.as_tuple().exponent) > 0:
        return stripped.quantize(Decimal(1), context=_EXACT)
    return stripped


def check_money(value: Decimal, *, field: str = "value") -> None:
    """Refuse what DECIMAL(36, 18) would silently round or reject."""
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise TypeError(f"{field}: money must be a Decimal, got {type(value).__name__}")
    if not value.is_finite():
        raise ValueError(f"{field}: {value} is not finite")
    if value == 0:
        return
    if int(normalized(value).as_tuple().exponent) < -MONEY_SCALE:
        raise ValueError(f"{field}: {value} has more than {MONEY_SCALE} decimal places")
    if value.adjusted() >= MONEY_PRECISION - MONEY_SCALE:
        raise ValueError(
            f"{field}: {value} has more than {MONEY_PRECISION - MONEY_SCALE} integer digits"
        )


class UTCDateTime(TypeDecorator[datetime]):
    """Stored naive in UTC (microseconds kept on MySQL); read back timezone-aware.

    Naive datetimes are refused on the way in: their zone is a guess.
    """

    impl = DateTime()
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "mysql":
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(DateTime())

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("timestamps must be timezone-aware (UTC)")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
        if not isinstance(parsed, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        return parsed.replace(tzinfo=UTC)
