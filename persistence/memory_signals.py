"""In-memory repository, webhook signals (issue 16): the same contract as
`persistence.sql_signals` (see `persistence.repository`)."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import datetime

from persistence.errors import DuplicateSignal, NotFound, PersistenceError
from persistence.memory_accounts import MemoryAccounts
from persistence.memory_state import utc
from persistence.records_signal import SignalKeyRecord, SignalRecord


class MemorySignals(MemoryAccounts):
    """Mixed into `MemoryRepository`."""

    def save_signal_key(
        self,
        strategy_id: int,
        *,
        token_hash: str,
        secret_ciphertext: str,
        key_version: int,
        now: datetime,
    ) -> SignalKeyRecord:
        with self._tx() as s:
            if self.get_strategy(strategy_id).deleted_at is not None:
                raise NotFound(f"strategy {strategy_id} does not exist")
            if s.signal_tokens.get(token_hash, strategy_id) != strategy_id:
                raise PersistenceError("that token hash is already stored")
            old = s.signal_keys.get(strategy_id)
            for digest, owner in list(s.signal_tokens.items()):
                if owner == strategy_id:
                    del s.signal_tokens[digest]
            record = SignalKeyRecord(
                id=old.id if old is not None else self._id(),
                strategy_id=strategy_id,
                secret_ciphertext=secret_ciphertext,
                key_version=key_version,
                created_at=old.created_at if old is not None else utc(now),
                rotated_at=utc(now) if old is not None else None,
            )
            s.signal_keys[strategy_id] = record
            s.signal_tokens[token_hash] = strategy_id
            return record

    def get_signal_key(self, strategy_id: int) -> SignalKeyRecord | None:
        with self._lock:
            return self._s.signal_keys.get(strategy_id)

    def find_signal_key(self, token_hash: str) -> SignalKeyRecord | None:
        with self._lock:
            strategy_id = self._s.signal_tokens.get(token_hash)
            return None if strategy_id is None else self._s.signal_keys.get(strategy_id)

    def list_signal_keys(self, *, not_key_version: int | None = None) -> list[SignalKeyRecord]:
        with self._lock:
            return [
                key
                for _, key in sorted(self._s.signal_keys.items())
                if not_key_version is None or key.key_version != not_key_version
            ]

    def reseal_signal_key(
        self,
        strategy_id: int,
        *,
        expected_ciphertext: str,
        secret_ciphertext: str,
        key_version: int,
    ) -> bool:
        with self._tx() as s:
            key = s.signal_keys.get(strategy_id)
            if key is None or key.secret_ciphertext != expected_ciphertext:
                return False
            s.signal_keys[strategy_id] = replace(
                key, secret_ciphertext=secret_ciphertext, key_version=key_version
            )
            return True

    def delete_signal_key(self, strategy_id: int) -> bool:
        with self._tx() as s:
            if s.signal_keys.pop(strategy_id, None) is None:
                return False
            for digest, owner in list(s.signal_tokens.items()):
                if owner == strategy_id:
                    del s.signal_tokens[digest]
            return True

    def recent_signals(self, strategy_id: int, *, limit: int) -> list[SignalRecord]:
        with self._lock:
            mine = [x for _, x in sorted(self._s.signals.items()) if x.strategy_id == strategy_id]
            return mine[::-1][:limit]

    def record_signal(
        self, strategy_id: int, *, nonce: str, signal_at: datetime, now: datetime
    ) -> SignalRecord:
        with self._tx() as s:
            self.get_strategy(strategy_id)
            if any(x.strategy_id == strategy_id and x.nonce == nonce for x in s.signals.values()):
                raise DuplicateSignal(f"strategy {strategy_id} already received that signal")
            record = SignalRecord(
                id=self._id(),
                strategy_id=strategy_id,
                nonce=nonce,
                signal_at=utc(signal_at),
                received_at=utc(now),
            )
            s.signals[record.id] = record
            return record

    def unconsumed_signals(self, strategy_ids: Collection[int] | None = None) -> list[SignalRecord]:
        wanted = None if strategy_ids is None else set(strategy_ids)
        with self._lock:
            return [
                x
                for _, x in sorted(self._s.signals.items())
                if (wanted is None or x.strategy_id in wanted) and x.consumed_at is None
            ]

    def consume_signal(self, signal_id: int, at: datetime) -> bool:
        with self._tx() as s:
            found = s.signals.get(signal_id)
            if found is None or found.consumed_at is not None:
                return False
            s.signals[signal_id] = replace(found, consumed_at=utc(at))
            return True
