"""One read of a user's engine states, shared by the first starts of its engines.

A restart boots thousands of engines, and each start used to read its state alone: four
statements, each a round trip plus PyMySQL's parsing of the result's column descriptions, which
made the reads most of a boot's CPU. A user's engines start together (the user actor spawns
them in one go and the pool admits their boots in arrival order), so the first of them to start
reads the states of all its siblings that have not started yet, in four statements, and each
sibling takes its own from here.

A state taken from here is at most `max_age` seconds old: a sibling whose state is older (it
waited long for a boot slot) reads the states of every sibling still to start again. A sibling
that starts a second time (a restart after a failure), or one the read did not find, loads on
its own, as before. A stale state could not place an order
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
        self._pending = set(strategy_ids)  # not started from here yet
        self._read: dict[int, EngineState] = {}
        self._read_at = 0.0
        self._max_age = max_age
        self._clock = clock
        self._lock = threading.Lock()
        self.batches = 0  # reads made here (for tests and figures)

    def take(self, strategy_id: int) -> EngineState | None:
        """The strategy's state on its first start from here; None on a later start (read it
        alone). The first start, and any first start once the last read is older than
        `max_age`, reads the states of every sibling still to start: the pool interleaves
        users' boots, so a user's last engines may start a minute after its first. Raises what
        the read raises (the start fails as a read of its own would, and the next start tries
        the read again)."""
        with self._lock:
            if strategy_id not in self._pending:
                return None
            if not self.batches or self._clock() - self._read_at > self._max_age:
                self._read = self._reader.load_engine_states(sorted(self._pending))
                self._read_at = self._clock()
                self.batches += 1
            self._pending.discard(strategy_id)
            return self._read.pop(strategy_id, None)
