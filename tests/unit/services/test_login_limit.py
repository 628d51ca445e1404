"""Failed logins are limited per account and per address, before any password is verified."""

from __future__ import annotations

import threading

import pytest

from persistence.memory import MemoryRepository
from services.auth import AuthenticationFailed, LoginLimiter, LoginThrottled, authenticate_password
from services.passwords import set_password
from tests.unit.services.conftest import PASSWORD, T0, CountingHasher, FakeClock


def login(
    repo: MemoryRepository,
    limiter: LoginLimiter,
    hasher: CountingHasher,
    pw: str,
    *,
    name: str = "alice",
    address: str = "10.0.0.1",
) -> None:
    authenticate_password(repo, limiter, name, pw, address=address, now=T0, hasher=hasher)


def test_the_sixth_attempt_is_refused_even_with_the_right_password_until_the_window_passes(
    repo: MemoryRepository, limiter: LoginLimiter, clock: FakeClock, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    for n in range(5):
        clock.now += 10
        with pytest.raises(AuthenticationFailed):
            login(repo, limiter, hasher, f"guess number {n}")
    verified = hasher.verifications

    clock.now += 10
    with pytest.raises(LoginThrottled) as err:
        login(repo, limiter, hasher, PASSWORD)

    assert hasher.verifications == verified  # refused before any verification
    # The first failure (50 s ago) leaves the 900 s window in 850 s.
    assert err.value.retry_after_s == 850
    clock.now += 849
    with pytest.raises(LoginThrottled):
        login(repo, limiter, hasher, PASSWORD)
    clock.now += 1
    login(repo, limiter, hasher, PASSWORD)


def test_a_success_forgets_the_accounts_failures(
    repo: MemoryRepository, limiter: LoginLimiter, hasher: CountingHasher
) -> None:
    alice = repo.upsert_user("alice", now=T0)
    set_password(repo, alice.id, PASSWORD, now=T0, hasher=hasher)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            login(repo, limiter, hasher, "wrong password")
    login(repo, limiter, hasher, PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthenticationFailed):
            login(repo, limiter, hasher, "wrong password")

    login(repo, limiter, hasher, PASSWORD)  # 8 failures in the window, but never 5 in a row


def test_one_address_trying_many_accounts_is_stopped_and_others_are_not(
    repo: MemoryRepository, clock: FakeClock, hasher: CountingHasher
) -> None:
    limiter = LoginLimiter(max_failures_per_account=5, max_failures_per_address=3, clock=clock)
    for name in ("a", "b", "c"):
        with pytest.raises(AuthenticationFailed):
            login(repo, limiter, hasher, PASSWORD, name=name, address="evil")

    with pytest.raises(LoginThrottled):
        limiter.check("d", "evil")
    limiter.check("d", "good")
    limiter.check("a", "good")  # one failure per account: well under its limit


def test_unknown_names_count_like_real_ones(limiter: LoginLimiter) -> None:
    for _ in range(5):
        limiter.record_failure("nobody", "10.0.0.9")
    with pytest.raises(LoginThrottled):
        limiter.check("nobody", "10.0.0.7")


def test_attempts_still_being_verified_count_so_a_parallel_burst_gets_no_more_guesses(
    limiter: LoginLimiter,
) -> None:
    for _ in range(5):
        limiter.reserve("alice", "10.0.0.1")  # five guesses in flight, none judged yet

    with pytest.raises(LoginThrottled):
        limiter.reserve("alice", "10.0.0.2")


def test_many_threads_reserving_at_once_get_exactly_the_limit(clock: FakeClock) -> None:
    limiter = LoginLimiter(max_failures_per_account=5, clock=clock)
    passed: list[int] = []
    start = threading.Barrier(20)

    def attempt(n: int) -> None:
        start.wait(timeout=10)
        try:
            limiter.reserve("alice", f"10.0.0.{n}")
        except LoginThrottled:
            return
        passed.append(n)

    threads = [threading.Thread(target=attempt, args=(n,)) for n in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)

    assert len(passed) == 5


def test_a_released_or_successful_reservation_takes_the_attempt_back(clock: FakeClock) -> None:
    limiter = LoginLimiter(max_failures_per_account=2, max_failures_per_address=2, clock=clock)
    for _ in range(3):
        limiter.release(limiter.reserve("alice", "a"))
        limiter.record_success("alice", "a", reservation=limiter.reserve("alice", "a"))

    limiter.check("alice", "a")
    assert limiter.tracked_keys() == 0


def test_memory_stays_bounded_by_max_keys_and_expired_keys_are_dropped(clock: FakeClock) -> None:
    limiter = LoginLimiter(window_s=60, clock=clock, max_keys=10)
    for n in range(1000):
        limiter.record_failure(f"user{n}", f"addr{n}")
    assert limiter.tracked_keys() == 20  # 10 accounts + 10 addresses, the most recent

    clock.now += 61
    limiter.record_failure("late", "late-addr")

    assert limiter.tracked_keys() == 2


def test_a_very_long_name_is_kept_short(limiter: LoginLimiter) -> None:
    for _ in range(5):
        limiter.record_failure("x" * 10_000, "a")
    with pytest.raises(LoginThrottled):
        limiter.check("x" * 256 + "different tail", "b")


def test_limits_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        LoginLimiter(max_failures_per_account=0)
    with pytest.raises(ValueError, match="positive"):
        LoginLimiter(window_s=0)
