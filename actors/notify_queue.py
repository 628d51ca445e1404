"""The notifier's inbox: what engines and supervisors hold to tell it about an event.

Two rules keep it off the trading path. `wants` is one dict lookup (a user with no target
that wants the event costs nothing more: no message is even built), and `tell` never blocks
nor grows without bound: past `capacity` the oldest waiting notice is dropped and counted,
since a late "cycle closed" is worth less than the newest one, and a flood (a venue outage
degrading thousands of strategies at once) must not hold memory or delay the rest for hours.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping

from domain.notifications import Notify, NotifyEvent

DEFAULT_CAPACITY = 1000


class Notifications:
    """Thread-safe; shared by every engine, the user actors and the notifier's workers."""

    def __init__(self, *, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        # Replaced whole by `set_wanted` (one reference swap): readers never take a lock.
        self._wanted: Mapping[int, frozenset[NotifyEvent]] = {}
        self._queue: deque[Notify] = deque()
        self._ready = threading.Condition(threading.Lock())
        self.told = 0  # notices accepted
        self.dropped = 0  # notices dropped, oldest first, because the queue was full

    def __repr__(self) -> str:
        return (
            f"Notifications(users={len(self._wanted)}, waiting={len(self._queue)}, "
            f"dropped={self.dropped})"
        )

    # --- the side engines and supervisors use ----------------------------------------------

    def wants(self, user_id: int, event: NotifyEvent) -> bool:
        """Whether any enabled target of the user wants `event` (as of the last refresh)."""
        events = self._wanted.get(user_id)
        return events is not None and event in events

    def tell(self, notice: Notify) -> None:
        """Queue `notice`; never blocks. When full, the oldest waiting notice is dropped."""
        with self._ready:
            if len(self._queue) >= self.capacity:
                self._queue.popleft()
                self.dropped += 1
            self._queue.append(notice)
            self.told += 1
            self._ready.notify()

    # --- the side the notifier's workers use ------------------------------------------------

    def set_wanted(self, wanted: Mapping[int, frozenset[NotifyEvent]]) -> None:
        self._wanted = dict(wanted)

    def take(self, timeout: float) -> Notify | None:
        """The oldest waiting notice, waiting up to `timeout` seconds for one; None if none."""
        with self._ready:
            if not self._queue:
                self._ready.wait(timeout)
            return self._queue.popleft() if self._queue else None

    def wake_all(self) -> None:
        """Wake every waiting worker (the notifier is stopping)."""
        with self._ready:
            self._ready.notify_all()

    @property
    def waiting(self) -> int:
        return len(self._queue)
