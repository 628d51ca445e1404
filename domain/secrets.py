"""Secret values (API keys, exchange secrets, passphrases) that never show themselves.

`Secret` hides its value from repr, str, format and logs; only `reveal()` hands it out, at the
one place that must send it (the exchange client, the vault). Comparison is constant-time.
Lives in domain so that both exchange/ and persistence/ can use it without importing each other.

The registry of secret values is here for the same reason: whoever reads a secret (config/ from
environment variables and files, persistence/ when the vault decrypts a stored key) registers
it, and the log redactor in config/logging.py masks every registered value wherever it appears.
Registering only records the value and bumps a generation number; the redactor rebuilds its
matcher once per batch of changes, when it next masks a line, so registering thousands of keys
at start-up costs no pattern compilation each.
"""

from __future__ import annotations

import hmac
import threading
from dataclasses import dataclass
from typing import Final, final

MASK: Final = "***"
MIN_SECRET_LENGTH: Final = 4  # shorter values cannot be masked without shredding every line


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


class _Registry:
    """Every secret value this process has seen, and a counter that changes with the set."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        self.generation = 0

    def add(self, text: str) -> None:
        if len(text) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if text not in self._values:
                self._values.add(text)
                self.generation += 1

    def snapshot(self) -> tuple[int, frozenset[str]]:
        with self._lock:
            return self.generation, frozenset(self._values)


_REGISTRY: Final = _Registry()


def register_secret(value: str | Secret) -> None:
    """Mask `value` wherever it appears in any later log line (values under 4 characters are
    not masked: no real credential is that short, and masking them would garble every line)."""
    _REGISTRY.add(value.reveal() if isinstance(value, Secret) else value)


def register_credentials(credentials: Credentials) -> None:
    for value in (credentials.api_key, credentials.secret, credentials.passphrase):
        if value is not None:
            register_secret(value)


def secrets_generation() -> int:
    """Changes whenever a new value is registered: cheap to read on every log line."""
    return _REGISTRY.generation


def registered_secrets() -> tuple[int, frozenset[str]]:
    """The generation and the values registered up to it."""
    return _REGISTRY.snapshot()
