"""What a service process knows of its leases, without the database (persistence.leases holds
the rows): the lease book (user -> fencing token, and until when the lease surely holds by the
local clock), how many users a process should hold (`plan`), and the store's protocol, which
the lease keeper (actors.leases) drives."""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

LEASE_S = 20.0  # a lease's and a process heartbeat's life; renewed every LEASE_S / 4
SAFETY_S = 2.0  # the local deadline ends this long before the database's expiry


def new_process_id() -> str:
    return str(uuid.uuid4())


def fair_share(users: int, processes: int) -> int:
    """How many users each of `processes` live processes should hold (rounded up)."""
    return math.ceil(users / max(1, processes))


@dataclass(frozen=True, slots=True)
class Plan:
    """What a process does with its leases after a renewal: claim up to `claim` more, or shed
    `shed` of those it holds (never both)."""

    claim: int = 0
    shed: int = 0


def plan(held: int, users: int, processes: int) -> Plan:
    """Take up to the fair share; shed down to it once holding more (a process joined).

    Not "more than the share plus one": two processes holding 3 users each, of 6, would then
    keep them when a third joins (share 2), and it would get none. Claims never go past the
    share and sheds never below it, so every process settles at or under its share."""
    share = fair_share(users, processes)
    if held < share:
        return Plan(claim=share - held)
    if held > share:
        return Plan(shed=held - share)
    return Plan()


class LeaseBook:
    """This process's leases: user -> fencing token, and until when (monotonic) they surely
    hold. Thread-safe: the lease keeper writes it; the writer and the engines read it."""

    def __init__(self, process_id: str | None = None, *, clock: Any = time.monotonic) -> None:
        self.process_id = process_id or new_process_id()
        self._clock = clock
        self._tokens: dict[int, int] = {}
        self._until: dict[int, float] = {}
        self._users_of: dict[int, int] = {}  # strategy -> user: never changes
        self._mutex = threading.Lock()

    def __repr__(self) -> str:
        return f"LeaseBook(process={self.process_id}, users={len(self._tokens)})"

    def hold(self, tokens: Mapping[int, int], until: float) -> None:
        with self._mutex:
            for user_id, token in tokens.items():
                self._tokens[user_id] = token
                self._until[user_id] = until

    def extend(self, user_ids: Iterable[int], until: float) -> None:
        with self._mutex:
            for user_id in user_ids:
                if user_id in self._tokens:
                    self._until[user_id] = until

    def drop(self, user_ids: Iterable[int]) -> None:
        with self._mutex:
            for user_id in user_ids:
                self._tokens.pop(user_id, None)
                self._until.pop(user_id, None)

    def tokens(self) -> dict[int, int]:
        with self._mutex:
            return dict(self._tokens)

    def token(self, user_id: int) -> int | None:
        with self._mutex:
            return self._tokens.get(user_id)

    def valid(self, user_id: int) -> bool:
        """Does this process surely still hold the user's lease (by its local clock)?"""
        with self._mutex:
            until = self._until.get(user_id)
        return until is not None and self._clock() < until

    def user_of(self, strategy_id: int) -> int | None:
        with self._mutex:
            return self._users_of.get(strategy_id)

    def learn_users(self, users_of: Mapping[int, int]) -> None:
        with self._mutex:
            self._users_of.update(users_of)


class LeaseStore(Protocol):
    """The lease rows of one process (persistence.leases.SqlLeases)."""

    book: LeaseBook
    lease_s: float

    def register(self, host: str, pid: int, now: datetime) -> None: ...
    def beat(self) -> int: ...
    def unregister(self) -> None: ...
    def processes(self) -> list[tuple[str, str, int]]: ...
    def reap(self, process_id: str) -> int: ...
    def users(self) -> int: ...
    def claim(self, limit: int) -> dict[int, int]: ...
    def renew(self) -> set[int]: ...
    def release(self, user_ids: Collection[int]) -> None: ...
