"""What one API key on one venue may still send, shared by every client built with that key.

Two verdicts belong to the key, not to the host (the rate-limit bucket) or the venue (the
circuit breaker):

- a refused key (revoked, wrong, IP no longer whitelisted) sends nothing more: every request
  would be refused again, and a venue that sees a stream of refused keys from one IP may ban it;
- an account-scoped order-rate limit (binance -1015 "Too many new orders") holds that key's new
  orders only: other tenants on the same host, and this key's reads and cancels (which do not
  count towards the order limit), carry on.

The registry holds guards weakly: a guard lives as long as some client uses it, so it does not
grow with keys replaced over the service's life. A client built for a refused key (a resume of
its strategies after the owner fixed the key or its IP whitelist, or a restart) asks again,
once: a guard kept alive by an old client must not refuse for the life of the process.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable

Clock = Callable[[], float]


class AccountGuard:
    def __init__(self, name: str, *, clock: Clock = time.monotonic) -> None:
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._refusal: str | None = None
        self._orders_paused_until = float("-inf")

    @property
    def refusal(self) -> str | None:
        """Why the key was refused (a redacted message), or None while it is accepted."""
        with self._lock:
            return self._refusal

    def refuse(self, reason: str) -> bool:
        """Latch the refusal; True the first time only, so the caller logs it once."""
        with self._lock:
            if self._refusal is not None:
                return False
            self._refusal = reason
            return True

    def ask_again(self) -> None:
        """Forget a refusal: a new client is being built for this key (its strategies were
        resumed, or the service restarted), so the key gets one more request to prove itself;
        a refusal latches again at once."""
        with self._lock:
            self._refusal = None

    def pause_orders(self, seconds: float) -> None:
        if seconds <= 0:
            return
        with self._lock:
            until = self._clock() + seconds
            self._orders_paused_until = max(self._orders_paused_until, until)

    def orders_wait(self) -> float:
        """Seconds before this key may send a new order again (0 when it may now)."""
        with self._lock:
            return max(0.0, self._orders_paused_until - self._clock())


class AccountGuardRegistry:
    """One guard per (venue environment, key fingerprint) for the whole process."""

    def __init__(self, *, clock: Clock = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._guards: weakref.WeakValueDictionary[str, AccountGuard] = weakref.WeakValueDictionary()

    def guard(self, key: str) -> AccountGuard:
        with self._lock:
            found = self._guards.get(key)
            if found is None:
                found = AccountGuard(key, clock=self._clock)
                self._guards[key] = found
            return found

    def __len__(self) -> int:
        with self._lock:
            return len(self._guards)


PROCESS_ACCOUNTS = AccountGuardRegistry()
