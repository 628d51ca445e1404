"""One read of a user's engine states, shared by the first starts of its engines.

A restart boots thousands of engines, and each start used to read its state alone: four
statements, each a round trip plus PyMySQL's parsing of the result's column descriptions, which
made the reads most of a boot's CPU. A user's engines start together (the user actor spawns
them in one go and the pool admits their boots in arrival order), so the first of them to start
reads the states of all its siblings that have not started yet, in four statements, and each
sibling takes its own from here.

A state taken from here is at most `max_age` seconds old; an older one (a sibling that waited
long for a boot slot), a sibling that starts a second time (a restart after a failure) or one
the read did not find loads on its own, as before. A stale state could not place an order
anyway: every step commits against the version the engine loaded, so a state someone changed
since is refused before anything reaches the exchange (`VersionConflict`), and the engine starts
again from a fresh read.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Protocol

from persistence.records import EngineState

MAX_AGE_S = 15.0


class LoadsStates(Protocol):
    def load_engine_states(self, strategy_ids: list[int]) -> dict[int, EngineState]: ...


class SiblingLoads:
    """The states read for a user's engines, each handed out once (see the module docstring).
    Thread-safe: the user's engines start on several pool workers at once; a sibling that
    asks while the read runs waits for it rather than reading alone."""

    def __init__(
        self,
        reader: LoadsStates,
        strategy_ids: Iterable[int],
        *,
        max_age: float = MAX_AGE_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._unread = set(strategy_ids)
        self._read: dict[int, tuple[float, EngineState]] = {}
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self.batches = 0  # reads made here (for tests and figures)

    def take(self, strategy_id: int) -> EngineState | None:
        """The strategy's state if read here for it and still fresh; None: read it alone.
        Raises what the read raises (the start fails as a read of its own would)."""
        with self._lock:
            if strategy_id in self._unread:
                states = self._reader.load_engine_states(sorted(self._unread))
                self._unread.clear()  # after the read: one that failed is tried again
                self.batches += 1
                now = self._clock()
                self._read.update((sid, (now, state)) for sid, state in states.items())
            held = self._read.pop(strategy_id, None)
            now = self._clock()
            for sid in [k for k, (at, _) in self._read.items() if now - at > self._max_age]:
                del self._read[sid]  # never taken (its engine did not start): not kept
        if held is None or now - held[0] > self._max_age:
            return None
        return held[1]
