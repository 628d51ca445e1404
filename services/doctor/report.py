"""The doctor's verdicts: one `Check` per thing looked at, and the report they make together.

Statuses, and why the exit status is 0 only when every check is ok or not applicable:

- ok: nothing to do;
- n/a: the check does not apply to this deployment (MySQL settings on SQLite, a paper venue's
  clock, a key file when the key comes from the environment);
- warn: works today, but needs action (a setting that loses data only in a rare crash, a key
  that works from any IP address);
- FAIL: broken, or unsafe for money (the service would refuse to start, or a crash could lose a
  committed order intent);
- skip: could not be looked at because an earlier check failed (always beside a FAIL).

A warning still needs an operator, so it fails the exit status too: a monitor that runs the
doctor should page on anything that needs action. The JSON's `worst` tells warn from FAIL.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


class Status(enum.Enum):
    OK = "ok"
    NA = "n/a"
    WARN = "warn"
    FAIL = "fail"
    SKIP = "skip"

    @property
    def label(self) -> str:
        return "FAIL" if self is Status.FAIL else self.value

    @property
    def passes(self) -> bool:
        return self in (Status.OK, Status.NA)


_SEVERITY = {Status.OK: 0, Status.NA: 0, Status.SKIP: 1, Status.WARN: 2, Status.FAIL: 3}


@dataclass(frozen=True, slots=True)
class Check:
    """One verdict. `message` says what was found, `action` what to do (None when nothing);
    neither ever holds a secret or a database URL (which may hold a password)."""

    name: str
    status: Status
    message: str
    action: str | None = None

    def line(self) -> str:
        text = f"{self.status.label:<4}  {self.name}: {self.message}"
        return f"{text}; {self.action}" if self.action else text

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status.value,
            "message": self.message,
            "action": self.action,
        }


def ok(name: str, message: str) -> Check:
    return Check(name, Status.OK, message)


def na(name: str, message: str) -> Check:
    return Check(name, Status.NA, message)


def warn(name: str, message: str, action: str | None = None) -> Check:
    return Check(name, Status.WARN, message, action)


def fail(name: str, message: str, action: str | None = None) -> Check:
    return Check(name, Status.FAIL, message, action)


def skip(name: str, why: str) -> Check:
    return Check(name, Status.SKIP, f"not checked: {why}")


@dataclass(frozen=True, slots=True)
class Report:
    checks: Sequence[Check]

    @classmethod
    def of(cls, checks: Iterable[Check]) -> Report:
        return cls(tuple(checks))

    @property
    def passed(self) -> bool:
        return all(c.status.passes for c in self.checks)

    @property
    def worst(self) -> Status:
        return max((c.status for c in self.checks), key=_SEVERITY.__getitem__, default=Status.OK)

    @property
    def exit_status(self) -> int:
        return 0 if self.passed else 1

    def text(self) -> str:
        counts = {s: sum(c.status is s for c in self.checks) for s in Status}
        summary = ", ".join(f"{n} {s.label}" for s, n in counts.items() if n)
        verdict = "all is well" if self.passed else "needs action"
        return "\n".join([*(c.line() for c in self.checks), f"doctor: {verdict} ({summary})"])

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.passed,
            "worst": self.worst.value,
            "checks": [c.as_json() for c in self.checks],
        }
