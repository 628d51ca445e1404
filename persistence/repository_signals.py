"""The repository's webhook signals (issue 16): a strategy's signal key, and the signals
received (see `persistence.repository` for the contract).
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Protocol

from persistence.records_signal import SignalKeyRecord, SignalRecord


class SignalsRepository(Protocol):
    """What the webhook endpoint stores and the engines consume."""

    # --- webhook signals (issue 16): a strategy's signal key, and the signals received ------
    # The URL token comes here as its SHA-256 only, the shared secret as vault ciphertext.
    def save_signal_key(
        self,
        strategy_id: int,
        *,
        token_hash: str,
        secret_ciphertext: str,
        key_version: int,
        now: datetime,
    ) -> SignalKeyRecord:
        """Create the strategy's signal key, or replace it whole (a rotation: `rotated_at` set
        to `now`, `created_at` kept), so the old token and secret stop working at once.
        NotFound for no strategy, or a deleted one."""
        ...

    def get_signal_key(self, strategy_id: int) -> SignalKeyRecord | None: ...
    def find_signal_key(self, token_hash: str) -> SignalKeyRecord | None:
        """The key whose token has that hash (one indexed read: every webhook request)."""
        ...

    def list_signal_keys(self, *, not_key_version: int | None = None) -> list[SignalKeyRecord]:
        """Every signal key by strategy id, or those sealed under a key other than the one
        given (a master key rotation)."""
        ...

    def reseal_signal_key(
        self,
        strategy_id: int,
        *,
        expected_ciphertext: str,
        secret_ciphertext: str,
        key_version: int,
    ) -> bool:
        """Swap the secret's ciphertext if it is still `expected_ciphertext`; False if it
        changed (rotated meanwhile) or the key is gone."""
        ...

    def record_signal(
        self, strategy_id: int, *, nonce: str, signal_at: datetime, now: datetime
    ) -> SignalRecord:
        """Store an accepted signal (`received_at` = `now`). A nonce the strategy already has
        raises `DuplicateSignal` and writes nothing. NotFound for no strategy."""
        ...

    def unconsumed_signals(self, strategy_ids: Collection[int] | None = None) -> list[SignalRecord]:
        """The signals no engine has taken yet (of those strategies; of all with None), oldest
        (lowest id) first. None reads through the (consumed_at, strategy_id) index without an
        id list, which is what a poll over thousands of running strategies wants."""
        ...

    def consume_signal(self, signal_id: int, at: datetime) -> bool:
        """Mark the signal taken at `at`; True if this call took it, False if it was already
        consumed (its first time stays) or does not exist (pruned): idempotent."""
        ...

    def delete_signal_key(self, strategy_id: int) -> bool:
        """Remove the strategy's signal key (a revocation: its URL and secret stop working at
        once); True if there was one. The signals received stay."""
        ...

    def recent_signals(self, strategy_id: int, *, limit: int) -> list[SignalRecord]:
        """The strategy's `limit` newest signals (highest id first), consumed or not."""
        ...
