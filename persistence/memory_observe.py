"""What the service's metrics read from the in-memory repository (see `persistence.memory`)."""

from __future__ import annotations

import threading

from persistence.memory_state import State
from persistence.records import ActualState


class MemoryObserve:
    _s: State
    _lock: threading.RLock

    def count_strategies_by_state(self) -> dict[ActualState, int]:
        counts = dict.fromkeys(ActualState, 0)
        with self._lock:
            for strategy in self._s.strategies.values():
                if not self._s.users[strategy.user_id].deleted and strategy.deleted_at is None:
                    counts[strategy.actual_state] += 1
        return counts
