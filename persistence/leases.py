"""Leases: several service processes share one MySQL database (issue 17, DESIGN "Beyond one
process"). InnoDB is the coordinator; nothing else is.

- A process registers a row in `service_processes` and beats it; the live ones (a beat within
  the lease time) divide the users between them (`fair_share`).
- It claims users through `user_leases` rows: `SELECT ... FOR UPDATE SKIP LOCKED` picks rows
  that are free or expired, and the claim sets the owner, an expiry and the fencing token
  (one more at every claim). It renews what it holds while alive and releases what it sheds
  or leaves at a graceful stop.
- Fencing (`refused_users`): every write that matters (an engine's step: order intents,
  fills, cycle changes, the snapshot) checks, in its own transaction, that the lease row still
  names this process and the token of its claim, unexpired by the database's clock, with a
  shared lock held to the commit; a claim of the row waits for that commit or skips the row.
  A process that lost a lease (paused past it, cut off from the database) can therefore not
  commit an order intent, and rule 3 (intent before acting) means it cannot place the order.
- `LeaseBook` is this process's view: the token of each user it holds and the local
  (monotonic) time until which the lease surely holds, which the engine checks before it
  sends anything to an exchange.

MySQL only: SQLite keeps the single-process mode and its file lock (persistence.ownership).
All times are the database's (UTC_TIMESTAMP(6)), so process clocks need not agree.
"""

from __future__ import annotations

import math
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, text, update
from sqlalchemy.engine import Connection, Engine

from persistence import models as m
from persistence.errors import translated

LEASES, PROCESSES = m.USER_LEASES, m.SERVICE_PROCESSES
_L, _P = LEASES.c, PROCESSES.c
LEASE_S = 20.0  # a lease's and a process heartbeat's life; renewed every LEASE_S / 4
SAFETY_S = 2.0  # the local deadline ends this long before the database's expiry

_NOW = func.utc_timestamp(6)


def _later(seconds: float) -> Any:
    """The database's now plus `seconds` (microseconds kept)."""
    return func.timestampadd(literal_column("MICROSECOND"), int(seconds * 1_000_000), _NOW)


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
    """Take up to the fair share; shed down to it once holding more than the share plus one
    (a new process joined), so a process never keeps more than its fair share plus one."""
    share = fair_share(users, processes)
    if held < share:
        return Plan(claim=share - held)
    if held > share + 1:
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


_STRATEGY_USERS = (
    select(m.STRATEGIES.c.id, m.ACCOUNTS.c.user_id)
    .join(m.ACCOUNTS, m.ACCOUNTS.c.id == m.STRATEGIES.c.account_id)
    .where(m.STRATEGIES.c.id.in_(bindparam("b_ids", expanding=True)))
)
_LEASE_ROWS = (
    select(_L.user_id, _L.owner, _L.token, (_L.expires_at > _NOW).label("alive"))
    .where(_L.user_id.in_(bindparam("b_users", expanding=True)))
    .with_for_update(read=True)  # LOCK IN SHARE MODE: a claim waits for our commit, or skips
)


def refused_users(conn: Connection, book: LeaseBook, strategy_ids: Collection[int]) -> set[int]:
    """The strategies (of `strategy_ids`) whose user's lease this process does not hold now,
    by the database: another owner, another token, or expired. Locks the lease rows it read
    (shared) until the caller's transaction ends."""
    if not strategy_ids:
        return set()
    unknown = [sid for sid in strategy_ids if book.user_of(sid) is None]
    if unknown:
        book.learn_users(dict(conn.execute(_STRATEGY_USERS, {"b_ids": sorted(unknown)}).all()))
    users = {sid: book.user_of(sid) for sid in strategy_ids}
    wanted = sorted({uid for uid in users.values() if uid is not None})
    ok: set[int] = set()
    if wanted:
        for user_id, owner, token, alive in conn.execute(_LEASE_ROWS, {"b_users": wanted}):
            if owner == book.process_id and token == book.token(user_id) and alive:
                ok.add(user_id)
    return {sid for sid, uid in users.items() if uid not in ok}


class SqlLeases:
    """The lease rows of one process, on its own small connection pool (so a busy writer
    never delays a renewal)."""

    def __init__(self, engine: Engine, book: LeaseBook, *, lease_s: float = LEASE_S) -> None:
        self._engine = engine
        self.book = book
        self.lease_s = lease_s
        self._host, self._pid = "?", 0

    @property
    def me(self) -> str:
        return self.book.process_id

    def _until(self, started: float) -> float:
        """The local deadline of a lease set or renewed by a statement sent at `started`."""
        return started + self.lease_s - SAFETY_S

    # --- processes ----------------------------------------------------------------------
    def register(self, host: str, pid: int, now: datetime) -> None:
        self._host, self._pid = host[: m.NAME], pid
        with translated("register the service process"), self._engine.begin() as conn:
            conn.execute(
                insert(PROCESSES).values(
                    id=self.me, host=self._host, pid=pid, started_at=now, heartbeat_at=now
                )
            )
            conn.execute(update(PROCESSES).where(_P.id == self.me).values(heartbeat_at=_NOW))

    def beat(self) -> int:
        """Beat this process's row (made again if a peer deleted it as expired) and forget
        expired peers; the number of live processes, this one included."""
        with translated("beat the service process"), self._engine.begin() as conn:
            beaten = conn.execute(
                update(PROCESSES).where(_P.id == self.me).values(heartbeat_at=_NOW)
            ).rowcount
            if not beaten:
                conn.execute(
                    insert(PROCESSES).values(
                        id=self.me,
                        host=self._host,
                        pid=self._pid,
                        started_at=_NOW,
                        heartbeat_at=_NOW,
                    )
                )
            conn.execute(
                delete(PROCESSES).where(
                    _P.heartbeat_at
                    < func.timestampadd(
                        literal_column("MICROSECOND"), -int(self.lease_s * 1_000_000), _NOW
                    )
                )
            )
            return int(conn.execute(select(func.count()).select_from(PROCESSES)).scalar_one())

    def unregister(self) -> None:
        with translated("unregister the service process"), self._engine.begin() as conn:
            conn.execute(delete(PROCESSES).where(_P.id == self.me))

    def users(self) -> int:
        """How many users there are to hold (each gets a lease row here if it had none)."""
        with translated("count users to lease"), self._engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT IGNORE INTO user_leases (user_id, token) "
                    "SELECT u.id, 0 FROM users u LEFT JOIN user_leases l ON l.user_id = u.id "
                    "WHERE l.user_id IS NULL"
                )
            )
            return int(conn.execute(select(func.count()).select_from(LEASES)).scalar_one())

    # --- leases -------------------------------------------------------------------------
    def claim(self, limit: int) -> dict[int, int]:
        """Claim up to `limit` free or expired leases: user -> the claim's fencing token."""
        if limit <= 0:
            return {}
        started = time.monotonic()
        with translated("claim user leases"), self._engine.begin() as conn:
            free = (
                select(_L.user_id)
                .where((_L.owner.is_(None)) | (_L.expires_at.is_(None)) | (_L.expires_at <= _NOW))
                .order_by(_L.user_id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            ids = [row[0] for row in conn.execute(free)]
            if not ids:
                return {}
            conn.execute(
                update(LEASES)
                .where(_L.user_id.in_(ids))
                .values(
                    owner=self.me,
                    token=_L.token + 1,
                    expires_at=_later(self.lease_s),
                    claimed_at=_NOW,
                )
            )
            rows = conn.execute(select(_L.user_id, _L.token).where(_L.user_id.in_(ids)))
            tokens = {int(uid): int(token) for uid, token in rows}
        self.book.hold(tokens, self._until(started))
        return tokens

    def renew(self) -> set[int]:
        """Extend every lease this process holds that has not expired; the users it no longer
        holds (expired, or claimed by another process with a new token), dropped from the
        book."""
        held = self.book.tokens()
        if not held:
            return set()
        started = time.monotonic()
        with translated("renew user leases"), self._engine.begin() as conn:
            conn.execute(
                update(LEASES)
                .where(_L.owner == self.me, _L.expires_at > _NOW)
                .values(expires_at=_later(self.lease_s))
            )
            rows = conn.execute(
                select(_L.user_id, _L.token).where(_L.owner == self.me, _L.expires_at > _NOW)
            )
            still = {int(uid): int(token) for uid, token in rows}
        kept = {uid for uid, token in held.items() if still.get(uid) == token}
        self.book.extend(kept, self._until(started))
        lost = set(held) - kept
        self.book.drop(lost)
        return lost

    def release(self, user_ids: Collection[int]) -> None:
        """Give up these leases now (a graceful stop, or users shed to a new process); the
        next claim takes them without waiting for an expiry."""
        ids = sorted(user_ids)
        self.book.drop(ids)
        if not ids:
            return
        with translated("release user leases"), self._engine.begin() as conn:
            conn.execute(
                update(LEASES)
                .where(_L.user_id.in_(ids), _L.owner == self.me)
                .values(owner=None, expires_at=None)
            )
