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

import time
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, literal_column, select, text, update
from sqlalchemy.engine import Connection, Engine

from persistence import models as m
from persistence.errors import translated
from persistence.lease_book import LEASE_S, SAFETY_S, LeaseBook

LEASES, PROCESSES = m.USER_LEASES, m.SERVICE_PROCESSES
_L, _P = LEASES.c, PROCESSES.c

_NOW = func.utc_timestamp(6)


def _expired_before(seconds: float) -> Any:
    """The database's now less `seconds`: a heartbeat older than that is dead."""
    return func.timestampadd(literal_column("MICROSECOND"), -int(seconds * 1_000_000), _NOW)


def _later(seconds: float) -> Any:
    """The database's now plus `seconds` (microseconds kept)."""
    return func.timestampadd(literal_column("MICROSECOND"), int(seconds * 1_000_000), _NOW)


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
        expired peers; the number of live processes, this one included. Short transactions,
        each touching rows by key, so processes beating at once never deadlock."""
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
        with translated("list live service processes"), self._engine.connect() as conn:
            rows = conn.execute(select(_P.id, _P.heartbeat_at > _expired_before(self.lease_s)))
            live = {str(pid): bool(alive) for pid, alive in rows}
        dead = sorted(pid for pid, alive in live.items() if not alive)
        if dead:
            with translated("forget expired service processes"), self._engine.begin() as conn:
                conn.execute(
                    delete(PROCESSES).where(
                        _P.id.in_(dead), _P.heartbeat_at <= _expired_before(self.lease_s)
                    )
                )
        return sum(live.values())

    def processes(self) -> list[tuple[str, str, int]]:
        """(id, host, pid) of every registered process, this one included."""
        with translated("list service processes"), self._engine.connect() as conn:
            rows = conn.execute(select(_P.id, _P.host, _P.pid))
            return [(str(pid_), str(host), int(pid)) for pid_, host, pid in rows]

    def reap(self, process_id: str) -> int:
        """A process known to be dead (it ran on this machine and its pid is gone): its leases
        expire now and its row goes, so its users are claimed at once rather than after the
        lease time. The number of leases freed."""
        if process_id == self.me:
            return 0
        with translated("free a dead process's leases"), self._engine.begin() as conn:
            freed = conn.execute(
                update(LEASES).where(_L.owner == process_id).values(owner=None, expires_at=None)
            ).rowcount
            conn.execute(delete(PROCESSES).where(_P.id == process_id))
            return int(freed)

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
