"""The values the repository hands out about webhook signals (issue 16): a strategy's signal
key (the hash of its URL token and its sealed shared secret) and the signals received.

No record holds a secret in the clear: the URL token is stored as its SHA-256 only, and the
shared secret as vault ciphertext, which stays out of every repr.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalKeyRecord:
    """A strategy's signal credentials: one per strategy, replaced whole by a rotation."""

    id: int
    strategy_id: int
    # vault ciphertext of the shared secret ("mg1:<key version>:..."), bound to the strategy
    secret_ciphertext: str = field(repr=False)
    key_version: int
    created_at: datetime
    rotated_at: datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SignalRecord:
    """One accepted signal. `nonce` is unique per strategy (replays are refused); an engine
    that took the signal sets `consumed_at`."""

    id: int
    strategy_id: int
    nonce: str
    signal_at: datetime  # the time the sender put in the signal
    received_at: datetime  # when the web accepted it
    consumed_at: datetime | None = None

    @property
    def consumed(self) -> bool:
        return self.consumed_at is not None
