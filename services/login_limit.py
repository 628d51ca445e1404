"""Failed logins, counted per account and per address, in one process's memory.

Per account stops a slow guess at one user's password from many addresses; per address stops
one client from trying many users. The windows slide: a failure counts for `window_s` seconds.

`authenticate_password` uses `reserve`: the attempt is counted as a failure before its password
is verified (argon2 takes a while), so a burst of parallel guesses cannot all pass the check
before the first of them has failed; a success takes its reservation back.

Memory stays bounded: each key keeps at most its limit of timestamps, keys whose failures have
all expired are dropped as new ones come, and past `max_keys` the least recently failed key is
evicted. The counts are per process: several service processes each allow the limit.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass

from services.principal import LoginThrottled

_KEY_CHARS = 256  # a name longer than any user's still counts, as its first characters


@dataclass(frozen=True, slots=True, kw_only=True)
class Reservation:
    """An attempt counted ahead of its verdict (`LoginLimiter.reserve`)."""

    name: str
    address: str
    at: float


class _Failures:
    """Failure times per key, newest keys last; not thread-safe (the limiter locks)."""

    def __init__(self, limit: int, window_s: float, max_keys: int) -> None:
        self.limit = limit
        self._window = window_s
        self._max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._times)

    def retry_after(self, key: str, now: float) -> float | None:
        """Seconds until `key` may try again, None if it may now."""
        times = self._times.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self._window:
            times.popleft()
        if not times:
            del self._times[key]
            return None
        if len(times) < self.limit:
            return None
        return times[0] + self._window - now  # the oldest of the last `limit` failures expires

    def add(self, key: str, now: float) -> None:
        times = self._times.get(key)
        if times is None:
            times = self._times[key] = deque(maxlen=self.limit)
        else:
            self._times.move_to_end(key)
        times.append(now)
        # Keys are in order of their last failure: drop from the front while it has expired.
        while self._times:
            oldest = next(iter(self._times.values()))
            if oldest and oldest[-1] > now - self._window and len(self._times) <= self._max_keys:
                break
            self._times.popitem(last=False)

    def remove(self, key: str, at: float) -> None:
        times = self._times.get(key)
        if times is None:
            return
        try:
            times.remove(at)
        except ValueError:  # already expired or pushed out by newer failures
            return
        if not times:
            del self._times[key]

    def clear(self, key: str) -> None:
        self._times.pop(key, None)


class LoginLimiter:
    """Thread-safe; share one per process. `clock` is monotonic seconds (a fake in tests)."""

    def __init__(
        self,
        max_failures_per_account: int = 5,
        max_failures_per_address: int = 20,
        window_s: float = 900,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 10_000,
    ) -> None:
        if min(max_failures_per_account, max_failures_per_address, max_keys) < 1 or window_s <= 0:
            raise ValueError("login limits, window and max_keys must be positive")
        self._accounts = _Failures(max_failures_per_account, window_s, max_keys)
        self._addresses = _Failures(max_failures_per_address, window_s, max_keys)
        self._clock = clock
        self._lock = threading.Lock()

    def check(self, name: str, address: str) -> None:
        """Raise `LoginThrottled` if this account or address has failed too often lately."""
        with self._lock:
            self._check(_key(name), _key(address), self._clock())

    def reserve(self, name: str, address: str) -> Reservation:
        """`check`, then count this attempt as a failure until `record_success` (or `release`)
        takes it back: what a caller that verifies the password afterwards should use."""
        account, addr = _key(name), _key(address)
        with self._lock:
            now = self._clock()
            self._check(account, addr, now)
            self._accounts.add(account, now)
            self._addresses.add(addr, now)
        return Reservation(name=account, address=addr, at=now)

    def record_failure(self, name: str, address: str) -> None:
        with self._lock:
            now = self._clock()
            self._accounts.add(_key(name), now)
            self._addresses.add(_key(address), now)

    def record_success(
        self, name: str, address: str, *, reservation: Reservation | None = None
    ) -> None:
        """The account's failures are forgotten (its owner knows the password); the
        address's stay, except the reserved attempt, which was no failure."""
        with self._lock:
            self._accounts.clear(_key(name))
            if reservation is not None:
                self._addresses.remove(reservation.address, reservation.at)

    def release(self, reservation: Reservation) -> None:
        """Take back an attempt that got no verdict (the database failed meanwhile)."""
        with self._lock:
            self._accounts.remove(reservation.name, reservation.at)
            self._addresses.remove(reservation.address, reservation.at)

    def tracked_keys(self) -> int:
        """Accounts plus addresses held in memory (for tests and metrics)."""
        with self._lock:
            return len(self._accounts) + len(self._addresses)

    def _check(self, account: str, address: str, now: float) -> None:
        waits = [
            wait
            for wait in (
                self._accounts.retry_after(account, now),
                self._addresses.retry_after(address, now),
            )
            if wait is not None
        ]
        if waits:
            raise LoginThrottled(max(1, math.ceil(max(waits))))


def _key(value: str) -> str:
    return value[:_KEY_CHARS]
