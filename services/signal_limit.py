"""Webhook requests counted per URL token, in one process's memory: a sender (or someone who
guesses at URLs) gets `limit` requests per `window_s`, then 429 until the oldest expires.

Every request counts, accepted or not, and an unknown token counts like a known one (the limit
must not tell them apart). Memory stays bounded like `services.login_limit`: a key keeps at most
`limit` times, and past `max_keys` the least recently seen key is dropped.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Callable

_KEY_CHARS = 128  # longer than any real token; a longer path still counts, as its start


class SignalThrottled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many signals for this URL; retry in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class SignalLimiter:
    """Thread-safe; one per process. `clock` is monotonic seconds (a fake in tests)."""

    def __init__(
        self,
        limit: int = 30,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        *,
        max_keys: int = 10_000,
    ) -> None:
        if min(limit, max_keys) < 1 or window_s <= 0:
            raise ValueError("signal limit, window and max_keys must be positive")
        self._limit = limit
        self._window = window_s
        self._clock = clock
        self._max_keys = max_keys
        self._times: OrderedDict[str, deque[float]] = OrderedDict()
        self._lock = threading.Lock()

    def hit(self, token: str) -> None:
        """Count a request for `token`; `SignalThrottled` (not counted) past the limit."""
        key = token[:_KEY_CHARS]
        with self._lock:
            now = self._clock()
            times = self._times.get(key)
            if times is None:
                times = self._times[key] = deque(maxlen=self._limit)
            self._times.move_to_end(key)
            while times and times[0] <= now - self._window:
                times.popleft()
            if len(times) >= self._limit:
                raise SignalThrottled(max(1, math.ceil(times[0] + self._window - now)))
            times.append(now)
            while len(self._times) > self._max_keys:
                self._times.popitem(last=False)

    def tracked_keys(self) -> int:
        with self._lock:
            return len(self._times)
