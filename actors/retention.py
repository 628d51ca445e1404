"""The service's periodic pruning, run by the RepositoryActor (`persistence.retention`).

Where and why: on the writer's own thread, a batch per mailbox message. The writer is the one
that must not be blocked, and the only way to be sure a prune never holds it up for longer than
one short transaction is to make each batch one of its messages: before a batch it serves every
step waiting, and the next batch is a message queued behind whatever arrived meanwhile (audit
rows, heartbeats, asked writes). On SQLite a pruner on another thread would also compete for
the one write lock and make the writer wait for it on busy_timeout; here there is nothing to
compete with. A pass runs every `interval_s`; the first one `first_after_s` after the start,
when the fleet has booted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog

from domain.errors import DatabaseUnavailable
from persistence.retention import BatchPruner, PruneRun, RetentionPolicy

log = structlog.get_logger(__name__)

FIRST_AFTER_S = 600.0
RETRY_AFTER_S = 60.0  # after a failed batch (database down): a new pass, from the oldest row


class Pruning:
    """Drives one `PruneRun` after another; `step()` says how long until it wants to run again.

    Never raises: a prune that fails is logged and tried again later, and the writer carries on.
    """

    def __init__(
        self,
        pruner: BatchPruner,
        policy: RetentionPolicy,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        first_after_s: float = FIRST_AFTER_S,
    ) -> None:
        self._pruner = pruner
        self._policy = policy
        self._clock = clock
        self.first_after_s = first_after_s
        self._run: PruneRun | None = None
        self.passes = 0  # completed passes, and what the last one did
        self.last: PruneRun | None = None

    def step(self) -> float:
        """One batch; the seconds to wait before the next call (0: as soon as possible)."""
        if self._run is None:
            self._run = PruneRun(self._pruner, self._policy.cutoffs(self._clock()))
        run = self._run
        try:
            more = run.step()
        except DatabaseUnavailable as exc:
            log.warning("retention: prune paused, database unavailable", error=str(exc))
            self._run = None
            return min(RETRY_AFTER_S, self._policy.interval_s)
        except Exception as exc:  # the writer must live on; the next pass tries again
            log.error("retention: prune failed", error=f"{type(exc).__name__}: {exc}"[:300])
            self._run = None
            return self._policy.interval_s
        if more:
            return 0.0
        self._run = None
        self.passes += 1
        self.last = run
        if any(run.deleted.values()):
            log.info(
                "retention: pruned",
                batches=run.batches,
                longest_ms=round(run.longest_s * 1000, 1),
                **{f"{table}_deleted": n for table, n in run.deleted.items()},
            )
        return self._policy.interval_s
