"""Which engines care about a price: the structure that keeps idle strategies at zero CPU.

Each engine registers at most two levels per symbol: wake me when the price trades at or below
`below` (its highest resting buy, or its stop-loss trigger), or at or above `above` (its lowest
resting sell). Levels are kept sorted, so a tick finds the engines it affects with two bisects
and costs O(k log n) for the k it wakes, not O(n). A woken engine is removed and re-registers
after it has looked, so a price hovering past a level does not wake it on every tick.
"""

from __future__ import annotations

import bisect
from decimal import Decimal
from typing import Generic, TypeVar

T = TypeVar("T")


class WatchBoard(Generic[T]):
    def __init__(self) -> None:
        self._below: list[tuple[Decimal, int]] = []
        self._above: list[tuple[Decimal, int]] = []
        self._levels: dict[int, tuple[Decimal | None, Decimal | None]] = {}
        self._targets: dict[int, T] = {}

    def __len__(self) -> int:
        return len(self._levels)

    def set(self, key: int, below: Decimal | None, above: Decimal | None, target: T) -> None:
        self.remove(key)
        if below is None and above is None:
            return
        self._levels[key] = (below, above)
        self._targets[key] = target
        if below is not None:
            bisect.insort(self._below, (below, key))
        if above is not None:
            bisect.insort(self._above, (above, key))

    def target(self, key: int) -> T | None:
        return self._targets.get(key)

    def remove(self, key: int) -> None:
        levels = self._levels.pop(key, None)
        self._targets.pop(key, None)
        if levels is None:
            return
        below, above = levels
        if below is not None:
            self._below.pop(bisect.bisect_left(self._below, (below, key)))
        if above is not None:
            self._above.pop(bisect.bisect_left(self._above, (above, key)))

    def crossed_one(self, key: int, low: Decimal, high: Decimal) -> list[tuple[int, T]]:
        """[(key, target)] if `key`'s levels are crossed by the move (then it is removed)."""
        levels = self._levels.get(key)
        if levels is None:
            return []
        below, above = levels
        if (below is not None and below >= low) or (above is not None and above <= high):
            target = self._targets[key]
            self.remove(key)
            return [(key, target)]
        return []

    def crossed(self, low: Decimal, high: Decimal) -> list[tuple[int, T]]:
        """Engines whose `below` >= low or whose `above` <= high; they are removed."""
        keys: set[int] = set()
        start = bisect.bisect_left(self._below, (low, -1))
        keys.update(key for _, key in self._below[start:])
        end = bisect.bisect_right(self._above, (high, 2**63))
        keys.update(key for _, key in self._above[:end])
        woken = [(key, self._targets[key]) for key in sorted(keys)]
        for key in keys:
            self.remove(key)
        return woken
