from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st

from actors.supervision import FailureHistory, GiveUp, Restart, RestartPolicy


def test_restarts_until_the_limit_then_gives_up() -> None:
    policy = RestartPolicy(max_restarts=3, window=10.0, base_delay=1.0, max_delay=8.0)
    history = FailureHistory()
    rng = random.Random(1)
    decisions = [history.record(t, policy, rng) for t in (0.0, 1.0, 2.0)]
    assert all(isinstance(d, Restart) for d in decisions)
    assert [d.attempt for d in decisions if isinstance(d, Restart)] == [1, 2, 3]
    assert history.record(3.0, policy, rng) == GiveUp(failures=4, window=10.0)


def test_failures_outside_the_window_are_forgotten() -> None:
    policy = RestartPolicy(max_restarts=2, window=10.0)
    history = FailureHistory()
    rng = random.Random(1)
    for t in (0.0, 5.0):
        assert isinstance(history.record(t, policy, rng), Restart)
    # t=20: the failures at 0 and 5 are more than 10 s old.
    decision = history.record(20.0, policy, rng)
    assert isinstance(decision, Restart)
    assert decision.attempt == 1


@given(attempt=st.integers(min_value=1, max_value=60), seed=st.integers(0, 2**32))
def test_backoff_is_full_jitter_under_the_exponential_ceiling(attempt: int, seed: int) -> None:
    policy = RestartPolicy(base_delay=0.5, max_delay=30.0)
    delay = policy.backoff(attempt, random.Random(seed))
    assert 0.0 <= delay <= min(30.0, 0.5 * 2 ** (attempt - 1))


def test_backoff_spreads_out_restarts() -> None:
    policy = RestartPolicy(base_delay=1.0, max_delay=60.0)
    rng = random.Random(7)
    delays = {round(policy.backoff(6, rng), 3) for _ in range(50)}
    assert len(delays) > 40  # jitter: not everyone retries at the same instant
