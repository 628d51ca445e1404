"""Secret values (API keys, exchange secrets, passphrases) that never show themselves.

`Secret` hides its value from repr, str, format and logs; only `reveal()` hands it out, at the
one place that must send it (the exchange client, the vault). Comparison is constant-time.
Lives in domain so that both exchange/ and persistence/ can use it without importing each other.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Final, final

MASK: Final = "***"


@final
class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        if not isinstance(value, str):
            raise TypeError(f"a secret must be a str, got {type(value).__name__}")
        if not value:
            raise ValueError("a secret must not be empty")
        self._value = value

    def reveal(self) -> str:
        """The plaintext: call it only where the value must leave the process or be encrypted."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret('{MASK}')"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash((Secret, self._value))

    def __reduce__(self) -> str | tuple[object, ...]:
        # Pickling would write the plaintext somewhere we do not control (caches, queues).
        raise TypeError("a Secret cannot be pickled")


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """One exchange account's API credentials; the repr shows only masks."""

    api_key: Secret
    secret: Secret
    passphrase: Secret | None = None
