"""The process-wide market cache: each environment's markets (and so its rules) loaded once for
every client, and loaded again when they may have changed.

Venues change a symbol's filters while we run (binance moves tick sizes when a price moves by
orders of magnitude, and raises minimum notionals), so rules loaded once at start go stale. A
load is due when:

- the markets are older than `ttl` (default 1 h: filters change rarely, and a load of every
  market is heavy: binance weighs exchangeInfo at 20 requests);
- a create was refused by a market filter (`mark_stale`): the venue just told us its rules are
  not ours;
- a caller asks for current rules (`fresh=True`), e.g. before re-placing a refused order.

Never more than once per `min_refresh` seconds per environment (default 30 s), so a burst of
refusals across many strategies costs one load. A due load that fails while the markets are
merely old keeps serving them (a venue hiccup must not stop every strategy that reads its rules)
and tries again after `min_refresh`; when the caller asked for current rules, or the markets are
known stale, the failure is raised instead.

Each load gets a new `generation`, so a client can tell that it must re-read the markets.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog

Clock = Callable[[], float]
MarketList = list[dict[str, Any]]
log = structlog.get_logger(__name__)

DEFAULT_TTL = 3600.0
DEFAULT_MIN_REFRESH = 30.0


@dataclass(frozen=True, slots=True)
class Markets:
    markets: MarketList
    generation: int


@dataclass(slots=True)
class _Entry:
    current: Markets
    loaded_at: float
    attempted_at: float
    stale: bool = False


class MarketCache:
    def __init__(
        self,
        *,
        ttl: float = DEFAULT_TTL,
        min_refresh: float = DEFAULT_MIN_REFRESH,
        clock: Clock = time.monotonic,
    ) -> None:
        if ttl <= 0 or min_refresh < 0:
            raise ValueError("market cache: ttl > 0 and min_refresh >= 0")
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._clock = clock
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self._entries: dict[str, _Entry] = {}
        self._generations = itertools.count(1)

    def get(self, key: str, loader: Callable[[], MarketList], *, fresh: bool = False) -> Markets:
        """The markets of environment `key`, loading them with `loader` when a load is due.
        Concurrent callers of one key wait for a single load."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and not self._due(entry, fresh):
                return entry.current
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._lock:
                entry = self._entries.get(key)
                if entry is not None and not self._due(entry, fresh):
                    return entry.current  # loaded by the caller we waited for
                if entry is not None:
                    entry.attempted_at = self._clock()
            try:
                loaded = loader()
            except Exception as exc:
                if entry is None or fresh or entry.stale:
                    raise
                log.warning(
                    "exchange.markets_refresh_failed",
                    venue=key,
                    error=f"{type(exc).__name__}: {exc}",
                    effect=f"serving markets loaded {self._clock() - entry.loaded_at:.0f}s ago",
                )
                return entry.current
            now = self._clock()
            current = Markets(markets=loaded, generation=next(self._generations))
            with self._lock:
                self._entries[key] = _Entry(current, loaded_at=now, attempted_at=now)
            return current

    def _due(self, entry: _Entry, fresh: bool) -> bool:
        now = self._clock()
        if now - entry.attempted_at < self._min_refresh:
            return False
        return fresh or entry.stale or now - entry.loaded_at >= self._ttl

    def mark_stale(self, key: str) -> None:
        """The venue refused an order by a market filter: read its markets again when next
        asked (subject to `min_refresh`)."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                entry.stale = True

    def invalidate(self, key: str) -> None:
        with self._lock:
            self._entries.pop(key, None)


PROCESS_MARKETS = MarketCache()
