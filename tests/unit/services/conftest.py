"""Fakes shared by the services tests: a fast hasher, a clock, and a repository with users."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from argon2 import PasswordHasher, Type

from persistence.memory import MemoryRepository
from services.login_limit import LoginLimiter

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class CountingHasher(PasswordHasher):
    """argon2id with tiny parameters (tests stay fast) that counts its verifications."""

    def __init__(self, **params: int) -> None:
        super().__init__(
            **{"time_cost": 1, "memory_cost": 8, "parallelism": 1, "type": Type.ID, **params}
        )
        self.verifications = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        self.verifications += 1
        return super().verify(hash, password)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def hasher() -> CountingHasher:
    return CountingHasher()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limiter(clock: FakeClock) -> LoginLimiter:
    return LoginLimiter(clock=clock)


@pytest.fixture
def repo() -> MemoryRepository:
    return MemoryRepository()
