"""What an onboarding sync did: rows created, changed, left alone or asked to stop, per kind.

`martingale onboard` prints `SyncReport.summary()`; `as_dict()` is its JSON form.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class Tally:
    """How many rows of one kind the sync created, changed, left alone or asked to stop."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stopped: int = 0

    @property
    def changed(self) -> int:
        return self.created + self.updated + self.stopped

    def add(self, outcome: str) -> None:
        """Count one row by its outcome: "created", "updated", "unchanged" or "stopped"."""
        setattr(self, outcome, getattr(self, outcome) + 1)


@dataclass(slots=True, kw_only=True)
class SyncReport:
    users: Tally = field(default_factory=Tally)
    accounts: Tally = field(default_factory=Tally)
    credentials: Tally = field(default_factory=Tally)
    strategies: Tally = field(default_factory=Tally)
    notifications: Tally = field(default_factory=Tally)  # "stopped": deleted from the file

    @property
    def changed(self) -> bool:
        return any(t.changed for t in self._kinds().values())

    def _kinds(self) -> dict[str, Tally]:
        return {
            "users": self.users,
            "accounts": self.accounts,
            "credentials": self.credentials,
            "strategies": self.strategies,
            "notifications": self.notifications,
        }

    def as_dict(self) -> dict[str, dict[str, int]]:
        return {
            kind: {
                "created": t.created,
                "updated": t.updated,
                "unchanged": t.unchanged,
                "stopped": t.stopped,
            }
            for kind, t in self._kinds().items()
        }

    def summary(self) -> str:
        """One aligned line per kind, e.g. ``strategies   created 2  updated 0  ...``."""
        lines = []
        for kind, t in self._kinds().items():
            lines.append(
                f"{kind:<12} created {t.created:>4}  updated {t.updated:>4}  "
                f"unchanged {t.unchanged:>4}  stopped {t.stopped:>4}"
            )
        return "\n".join(lines)
