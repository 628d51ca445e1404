"""In-memory repository, what a running service polls besides desired states (see
`persistence.sql_runtime`)."""

from __future__ import annotations

import threading
from datetime import datetime

from persistence.memory_state import State
from persistence.records import AccountRecord


class MemoryRuntime:
    _s: State
    _lock: threading.RLock

    def list_changed_accounts(
        self, *, changed_since: datetime | None = None
    ) -> list[AccountRecord]:
        with self._lock:
            return [
                account
                for account in sorted(self._s.accounts.values(), key=lambda a: a.id)
                if not self._s.users[account.user_id].deleted
                and (
                    changed_since is None
                    or any(
                        at is not None and at >= changed_since
                        for at in (
                            account.created_at,
                            account.credentials_created_at,
                            account.credentials_rotated_at,
                        )
                    )
                )
            ]
