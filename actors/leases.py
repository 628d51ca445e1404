"""LeaseKeeper: this process's share of the users when several service processes run against
one MySQL database (issue 17; the lease rows and the fence are `persistence.leases`).

On a thread of its own, every `interval` (a quarter of the lease time), it:
1. renews the leases it holds; those it no longer holds (it stalled past them, or the database
   was away that long and another process claimed them) go to the root as `UsersLost`, and
   the root stops their actors at once (their writes are refused already);
2. beats this process's row and counts the live processes and the users;
3. frees the leases of a process that ran on this machine and whose pid is gone (killed or
   crashed: no need to wait for its leases to expire);
4. claims free or expired leases up to its fair share (`UsersClaimed`: the root starts those
   users through the normal start path: load, reconcile, act), or, holding more than its share
   because a process joined, sheds the difference (`ShedUsers`: the root stops those
   users' actors gracefully and hands the futures back, and the leases are released once the
   actors have stopped, so the next claim takes them at once).

A round that cannot reach the database changes nothing; the leases' local deadlines run out
meanwhile, and engines check them before every exchange call (`LeaseBook.valid`).

At a graceful stop (`stop`), after the root has stopped every actor, every lease is released
and the process's row deleted: the other processes take its users at their next round rather
than after an expiry.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pykka
import structlog

from actors.messages import ShedUsers, UsersClaimed, UsersLost
from domain.errors import MartingaleError
from persistence.lease_book import LeaseStore, plan

log = structlog.get_logger(__name__)

STOP_WAIT_S = 60.0  # how long a shed user's actor may take to stop before its lease goes anyway
STOP_JOIN_S = 30.0  # at a stop, how long a round under way may take (past the interval)
# Processes started together (a deploy, a host's boot) register a second or two apart, and the
# first one's first round claims every user. Its next rounds come every JOIN_INTERVAL_S for
# JOIN_ROUNDS rounds, so it sheds to the late ones while their users are still waiting for
# their start wave (nothing booted twice), not a quarter of the lease time later.
JOIN_ROUNDS = 5
JOIN_INTERVAL_S = 1.0


class LeaseKeeper:
    def __init__(
        self,
        leases: LeaseStore,
        *,
        interval: float | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        host: str | None = None,
        alive: Callable[[int], bool] | None = None,
        join_interval: float | None = JOIN_INTERVAL_S,
    ) -> None:
        """`host`: this machine (and pid namespace), as registered; `alive(pid)`: whether a
        process of that pid runs here. A process registered from the same `host` whose pid is
        gone is dead for sure (SIGKILL, a crash), and its users are taken at once. None: the
        lease time always runs out first. `join_interval`: the pace of the first rounds (see
        JOIN_ROUNDS), None for `interval` throughout."""
        self._join_interval = join_interval
        self.leases = leases
        self.host = host or socket.gethostname()
        self._alive = alive
        self.book = leases.book
        self.interval = interval if interval is not None else leases.lease_s / 4
        self._clock = clock
        self._root: pykka.ActorRef[Any] | None = None
        self._shedding: set[int] = set()
        self._mutex = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        self.failed_rounds = 0

    def __repr__(self) -> str:
        return f"LeaseKeeper({self.book!r})"

    def start(self) -> None:
        """Register this process and claim its first share (before the root starts, so the
        root boots those users at once); then keep the leases on a thread."""
        self.leases.register(self.host, os.getpid(), self._clock())
        self.round()
        self._thread = threading.Thread(target=self._run, name="lease-keeper", daemon=True)
        self._thread.start()

    def bind(self, root: pykka.ActorRef[Any]) -> None:
        """Where claims, losses and sheds go from now on."""
        self._root = root

    def holds(self, user_id: int) -> bool:
        return self.book.token(user_id) is not None

    def valid(self, user_id: int) -> bool:
        return self.book.valid(user_id)

    def handing_over(self) -> int:
        """Users shed whose leases are not released yet."""
        with self._mutex:
            return len(self._shedding)

    def stop(self) -> None:
        """Stop keeping; release every lease and unregister (the actors have stopped)."""
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.interval + STOP_JOIN_S)
        try:
            self.leases.release(list(self.book.tokens()))
            self.leases.unregister()
        except MartingaleError as exc:  # they expire on their own
            log.warning("leases: could not release at stop; they will expire", error=str(exc))

    def release_when_stopped(self, user_id: int, stopped: pykka.Future[Any] | None) -> None:
        """A shed user's actor is stopping: release its lease once it has stopped (on a thread
        of its own, so the root does not wait)."""

        def wait() -> None:
            if stopped is not None:
                with contextlib.suppress(Exception):  # stopped or dead: it acts no more
                    stopped.get(timeout=STOP_WAIT_S)
            try:
                self.leases.release([user_id])
            except MartingaleError as exc:
                log.warning("leases: release failed; it will expire", user=user_id, error=str(exc))
            finally:
                with self._mutex:
                    self._shedding.discard(user_id)

        threading.Thread(target=wait, name=f"lease-release-{user_id}", daemon=True).start()

    # --- the rounds ----------------------------------------------------------------------
    def _run(self) -> None:
        while not self._stop.wait(self._next_wait()):
            self.round()

    def _next_wait(self) -> float:
        if self._join_interval is not None and self.rounds <= JOIN_ROUNDS:
            return min(self.interval, self._join_interval)
        return self.interval

    def round(self) -> None:
        """One renewal, beat and claim-or-shed; a database failure skips the rest."""
        self.rounds += 1
        try:
            lost = self.leases.renew()
            if lost:
                log.error("leases: lost users to another process or an expiry", users=sorted(lost))
                self._tell(UsersLost(user_ids=tuple(sorted(lost))))
            self._reap_the_dead()
            processes = self.leases.beat()
            users = self.leases.users()
            with self._mutex:
                shedding = set(self._shedding)
            held = set(self.book.tokens()) - shedding
            step = plan(len(held), users, processes)
            if step.claim and not self._stop.is_set():
                got = self.leases.claim(step.claim)
                if got:
                    log.info("leases: claimed users", users=sorted(got), processes=processes)
                    self._tell(UsersClaimed(user_ids=tuple(sorted(got))))
            elif step.shed:
                shed = sorted(held)[-step.shed :]
                with self._mutex:
                    self._shedding.update(shed)
                log.info("leases: shedding users to other processes", users=shed)
                self._tell(ShedUsers(user_ids=tuple(shed)))
        except MartingaleError as exc:
            self.failed_rounds += 1
            log.warning("leases: round failed; trying again", error=str(exc))
        except Exception:  # never let the thread die: the next round tries again
            self.failed_rounds += 1
            log.exception("leases: round failed")

    def _reap_the_dead(self) -> None:
        if self._alive is None:
            return
        for process_id, host, pid in self.leases.processes():
            if process_id != self.book.process_id and host == self.host and not self._alive(pid):
                freed = self.leases.reap(process_id)
                log.warning("leases: a dead process's users freed", pid=pid, users=freed)

    def _tell(self, message: Any) -> None:
        if self._root is not None:
            with contextlib.suppress(pykka.ActorDeadError):
                self._root.tell(message)
