"""FeedHub: one shared source per (venue key, symbol), however many subscribers watch it.

Five thousand strategies on a dozen markets must not open five thousand polls or replays. The
hub creates a source on the first subscription of a key, hands the same one to later
subscribers, and closes it when the last subscription is released. Generic over what it shares
(a PriceSource, or a feed actor's handle), as long as it can be closed.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar


class Closeable(Protocol):
    def close(self) -> None: ...


S = TypeVar("S", bound=Closeable)
FeedKey = tuple[str, str]  # (venue key, symbol): domain.venues, never an exchange id alone


class Subscription(Generic[S]):
    """A handle on a shared source; `close()` releases it (idempotent, so a double release
    cannot steal another subscriber's reference)."""

    __slots__ = ("_closed", "_hub", "key", "source")

    def __init__(self, hub: FeedHub[S], key: FeedKey, source: S) -> None:
        self._hub = hub
        self.key = key
        self.source = source
        self._closed = False

    def close(self) -> None:
        self._hub.unsubscribe(self)

    def __enter__(self) -> Subscription[S]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class FeedHub(Generic[S]):
    def __init__(self, factory: Callable[[str, str], S]) -> None:
        """`factory(venue, symbol)` builds a source; it runs under the hub's lock (so
        exactly one source per key is ever built) and must therefore be quick: no network."""
        self._factory = factory
        self._lock = threading.Lock()
        self._sources: dict[FeedKey, tuple[S, int]] = {}

    def subscribe(self, venue: str, symbol: str) -> Subscription[S]:
        key = (venue, symbol)
        with self._lock:
            current = self._sources.get(key)
            if current is None:
                source, count = self._factory(venue, symbol), 0
            else:
                source, count = current
            self._sources[key] = (source, count + 1)
        return Subscription(self, key, source)

    def unsubscribe(self, subscription: Subscription[S]) -> None:
        with self._lock:
            if subscription._closed:
                return
            subscription._closed = True
            current = self._sources.get(subscription.key)
            if current is None or current[0] is not subscription.source:
                return  # closed by close_all (and maybe replaced since): nothing to release
            source, count = current
            if count > 1:
                self._sources[subscription.key] = (source, count - 1)
                return
            del self._sources[subscription.key]
        source.close()  # outside the lock: a slow close must not block other keys

    def get(self, venue: str, symbol: str) -> S | None:
        with self._lock:
            current = self._sources.get((venue, symbol))
        return None if current is None else current[0]

    def counts(self) -> dict[FeedKey, int]:
        """Subscribers per live key (for status pages and tests)."""
        with self._lock:
            return {key: count for key, (_, count) in self._sources.items()}

    def close_all(self) -> None:
        """Shutdown: close every source whatever its count; later releases are no-ops."""
        with self._lock:
            sources = [source for source, _ in self._sources.values()]
            self._sources.clear()
        for source in sources:
            source.close()
