"""Supervision for pykka, which has none of its own.

`RestartPolicy` is pure: given the failure history of one child, the time now and a random
source, it says whether to restart and after what delay. one_for_one: a child's failure never
touches its siblings. At most `max_restarts` within `window` seconds; past that the child is
given up on (an engine is then persisted as FAULTED). Backoff is exponential with full jitter
(AWS architecture blog, "Exponential Backoff And Jitter"): delay = uniform(0, min(cap, base*2^k)).
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class Restart:
    delay: float
    attempt: int


@dataclass(frozen=True, slots=True, kw_only=True)
class GiveUp:
    failures: int
    window: float


Decision = Restart | GiveUp


@dataclass(frozen=True, slots=True, kw_only=True)
class RestartPolicy:
    max_restarts: int = 5
    window: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 30.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter delay before restart number `attempt` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** max(0, attempt - 1)))
        return rng.uniform(0.0, ceiling)


@dataclass(slots=True)
class FailureHistory:
    """Failure times (monotonic seconds) of one child within the policy's window."""

    times: deque[float] = field(default_factory=deque)

    def record(self, now: float, policy: RestartPolicy, rng: random.Random) -> Decision:
        self.times.append(now)
        while self.times and now - self.times[0] > policy.window:
            self.times.popleft()
        failures = len(self.times)
        if failures > policy.max_restarts:
            return GiveUp(failures=failures, window=policy.window)
        return Restart(delay=policy.backoff(failures, rng), attempt=failures)

    def reset(self) -> None:
        self.times.clear()
