"""Several service processes on one MySQL database (issue 17): the lease keeper's parts, built
and torn down around the actor tree. SQLite keeps the single-process mode (its file lock)."""

from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path
from typing import Any

from actors.leases import LeaseKeeper
from persistence.database import make_engine, parse_url
from persistence.lease_book import LeaseBook
from persistence.leases import SqlLeases
from persistence.sql_repository import SqlRepository


def shares_database(url: str) -> bool:
    """MySQL is shared through leases; a SQLite file belongs to one process."""
    return parse_url(url).get_backend_name() != "sqlite"


def idle_timeout(lease_s: int) -> int:
    """How long the server lets a service connection stay silent (see make_engine): three
    lease times, so a paused process's locks go soon after its leases expire, and never under
    10 s, which a busy but live process never stays silent for."""
    return max(10, 3 * lease_s)


def machine() -> str:
    """This machine and pid namespace: processes registered under the same name see each
    other's pids. The host name alone is not enough: containers may share one, and their pids
    are their own; so the boot id and the pid namespace are folded in."""
    parts = [socket.gethostname()]
    for source in ("/proc/sys/kernel/random/boot_id", "/proc/self/ns/pid"):
        try:
            path = Path(source)
            parts.append(os.readlink(path) if path.is_symlink() else path.read_text().strip())
        except OSError:
            return f"{parts[0][:40]}/?{os.getpid()}"  # unknown: never taken for a sibling
    digest = hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]
    return f"{parts[0][:40]}/{digest}"


def pid_alive(pid: int) -> bool:
    """Whether a process of that pid runs here (a zombie does not: it is dead, only not reaped
    yet; this very process's pid was a dead one's, reused)."""
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True  # no /proc: trust the signal
    return stat.rpartition(")")[2].split()[0] != "Z"


class Leases:
    """The keeper on its own small pool (a busy writer never delays a renewal); `start`
    registers the process, fences the repository's writes with the book and claims a first
    share before the tree starts; `stop` releases every lease after the tree has stopped."""

    def __init__(self, url: str, *, lease_s: float) -> None:
        self._engine: Any = make_engine(url, pool_size=2)
        self.book = LeaseBook()
        self.keeper = LeaseKeeper(
            SqlLeases(self._engine, self.book, lease_s=lease_s), host=machine(), alive=pid_alive
        )

    def start(self, repo: SqlRepository) -> LeaseKeeper:
        repo.fence = self.book
        self.keeper.start()
        return self.keeper

    def stop(self) -> None:
        try:
            self.keeper.stop()
        finally:
            self._engine.dispose()
