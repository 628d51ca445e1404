"""SQL repository, webhook signals (issue 16): a strategy's signal key and the signals received
(see `persistence.repository` for the contract).

The webhook's lookup is one indexed Core read (the token hash is unique). A replay is refused by
the unique (strategy, nonce) key itself, so two copies of one signal posted at the same moment
cannot both be stored, whatever the order their transactions commit in.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update
from sqlalchemy import exc as sa_exc

from persistence import models as m
from persistence.errors import DuplicateSignal, NotFound
from persistence.records_signal import SignalKeyRecord, SignalRecord
from persistence.sql_base import SqlBase, get_row
from persistence.sql_rows import _t

KEYS, SIGNALS = m.SIGNAL_KEYS, m.SIGNALS
_KEY_BY_HASH = select(KEYS).where(KEYS.c.token_hash == bindparam("b_hash"))
_KEY_OF = select(KEYS).where(KEYS.c.strategy_id == bindparam("b_strategy"))


def _key(row: m.SignalKey | Row[Any]) -> SignalKeyRecord:
    return SignalKeyRecord(
        id=row.id,
        strategy_id=row.strategy_id,
        secret_ciphertext=row.secret_ciphertext,
        key_version=row.secret_key_version,
        created_at=_t(row.created_at),
        rotated_at=_t(row.rotated_at),
    )


def _signal(row: m.Signal | Row[Any]) -> SignalRecord:
    return SignalRecord(
        id=row.id,
        strategy_id=row.strategy_id,
        nonce=row.nonce,
        signal_at=_t(row.signal_at),
        received_at=_t(row.received_at),
        consumed_at=_t(row.consumed_at),
    )


class SqlSignals(SqlBase):
    """Mixed into `SqlRepository`."""

    def save_signal_key(
        self,
        strategy_id: int,
        *,
        token_hash: str,
        secret_ciphertext: str,
        key_version: int,
        now: datetime,
    ) -> SignalKeyRecord:
        with self._write("save signal key") as s:
            if get_row(s, m.Strategy, strategy_id, "strategy").deleted_at is not None:
                raise NotFound(f"strategy {strategy_id} does not exist")
            row = s.scalar(select(m.SignalKey).where(m.SignalKey.strategy_id == strategy_id))
            if row is None:
                row = m.SignalKey(strategy_id=strategy_id, created_at=now)
                s.add(row)
            else:
                row.rotated_at = now
            row.token_hash = token_hash
            row.secret_ciphertext = secret_ciphertext
            row.secret_key_version = key_version
            s.flush()
            return _key(row)

    def get_signal_key(self, strategy_id: int) -> SignalKeyRecord | None:
        with self._rows("get signal key") as conn:
            row = conn.execute(_KEY_OF, {"b_strategy": strategy_id}).first()
            return None if row is None else _key(row)

    def find_signal_key(self, token_hash: str) -> SignalKeyRecord | None:
        with self._rows("find signal key") as conn:
            row = conn.execute(_KEY_BY_HASH, {"b_hash": token_hash}).first()
            return None if row is None else _key(row)

    def list_signal_keys(self, *, not_key_version: int | None = None) -> list[SignalKeyRecord]:
        query = select(KEYS).order_by(KEYS.c.strategy_id)
        if not_key_version is not None:
            query = query.where(KEYS.c.secret_key_version != not_key_version)
        with self._rows("list signal keys") as conn:
            return [_key(r) for r in conn.execute(query)]

    def reseal_signal_key(
        self,
        strategy_id: int,
        *,
        expected_ciphertext: str,
        secret_ciphertext: str,
        key_version: int,
    ) -> bool:
        with self._write("reseal signal key") as s:
            result = s.execute(
                update(KEYS)
                .where(
                    KEYS.c.strategy_id == strategy_id,
                    KEYS.c.secret_ciphertext == expected_ciphertext,
                )
                .values(secret_ciphertext=secret_ciphertext, secret_key_version=key_version)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def delete_signal_key(self, strategy_id: int) -> bool:
        with self._write("delete signal key") as s:
            result = s.execute(delete(KEYS).where(KEYS.c.strategy_id == strategy_id))
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def recent_signals(self, strategy_id: int, *, limit: int) -> list[SignalRecord]:
        query = (
            select(SIGNALS)
            .where(SIGNALS.c.strategy_id == strategy_id)
            .order_by(SIGNALS.c.id.desc())
            .limit(limit)
        )
        with self._rows("recent signals") as conn:
            return [_signal(r) for r in conn.execute(query)]

    def record_signal(
        self, strategy_id: int, *, nonce: str, signal_at: datetime, now: datetime
    ) -> SignalRecord:
        try:
            with self._write("record signal") as s:
                get_row(s, m.Strategy, strategy_id, "strategy")
                row = m.Signal(
                    strategy_id=strategy_id, nonce=nonce, signal_at=signal_at, received_at=now
                )
                s.add(row)
                s.flush()
                return _signal(row)
        except DuplicateSignal:
            raise
        except Exception as error:
            if _is_duplicate(error):
                raise DuplicateSignal(
                    f"strategy {strategy_id} already received that signal"
                ) from None
            raise

    def unconsumed_signals(self, strategy_ids: Collection[int] | None = None) -> list[SignalRecord]:
        query = select(SIGNALS).where(SIGNALS.c.consumed_at.is_(None)).order_by(SIGNALS.c.id)
        if strategy_ids is not None:
            ids = sorted(set(strategy_ids))
            if not ids:
                return []
            query = query.where(SIGNALS.c.strategy_id.in_(ids))
        with self._rows("unconsumed signals") as conn:
            return [_signal(r) for r in conn.execute(query)]

    def consume_signal(self, signal_id: int, at: datetime) -> bool:
        with self._write("consume signal") as s:
            result = s.execute(
                update(SIGNALS)
                .where(SIGNALS.c.id == signal_id, SIGNALS.c.consumed_at.is_(None))
                .values(consumed_at=at)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]


def _is_duplicate(error: BaseException) -> bool:
    """The unique (strategy, nonce) key refused the row (`translated` has already turned the
    driver's error into a PersistenceError: its cause is gone, so look at the chain's context)."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, sa_exc.IntegrityError):
            return True
        seen = seen.__context__
    return False
