"""The verdicts of `/health/ready`, one per part, from what the tree exposes.

Each function turns one part's state into a `CheckResult` (ok, and a line a person can act
on). Details never carry a secret: database errors name the driver's error class and code only
(`persistence.errors`), exchange errors were redacted where they were raised, and every text
goes through `scrub` so a URL with a password (a venue's `base_url`) shows without it. Nor do
they name users or strategies: only markets, venues and counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from actors.feed_link import FeedLink
from actors.messages import TreeHealth
from actors.telemetry import BreakerBoard

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]*@")
_MAX_DETAIL = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckResult:
    ok: bool
    detail: str


def scrub(text: str) -> str:
    """`https://user:password@host` -> `https://***@host`, and bounded in length."""
    cleaned = _USERINFO.sub(r"\g<scheme>***@", text)
    return cleaned if len(cleaned) <= _MAX_DETAIL else cleaned[:_MAX_DETAIL] + "..."


def tree_check(health: TreeHealth) -> CheckResult:
    users = f"{health.users_alive}/{health.users_expected} user actors alive"
    if health.users_given_up:
        users += f" ({health.users_given_up} given up after repeated crashes)"
    problems = []
    if health.stopping:
        problems.append("the service is stopping")
    if not health.repository_alive:
        problems.append("the repository writer is not running")
    if health.users_alive < health.users_expected:
        problems.append(users)
    if problems:
        return CheckResult(ok=False, detail="; ".join(problems))
    return CheckResult(ok=True, detail=f"{users}; repository writer alive")


def feed_checks(
    links: list[FeedLink], *, now: datetime, stale_after: float
) -> dict[str, CheckResult]:
    """One check per market: down (the root's verdict), or no price for `stale_after` seconds
    (counted from the feed's start until its first price). A replay that ended is fine."""
    checks = {}
    for link in links:
        checks[f"feed:{scrub(link.venue)}:{link.symbol}"] = _feed(link, now, stale_after)
    return checks


def _feed(link: FeedLink, now: datetime, stale_after: float) -> CheckResult:
    error = link.error
    if error is not None:
        return CheckResult(ok=False, detail=scrub(error))
    if link.ended:
        return CheckResult(ok=True, detail="the replay ended")
    last = link.last_published()
    if last is None:
        waited = (now - link.created_at).total_seconds()
        if waited > stale_after:
            return CheckResult(
                ok=False, detail=f"no price since the feed started {waited:.0f}s ago"
            )
        return CheckResult(ok=True, detail="waiting for the first price")
    lag = (now - last).total_seconds()
    if lag > stale_after:
        return CheckResult(
            ok=False, detail=f"stale: last price {lag:.0f}s ago (limit {stale_after:.0f}s)"
        )
    return CheckResult(ok=True, detail=f"last price {max(lag, 0.0):.1f}s ago")


def breaker_checks(board: BreakerBoard) -> dict[str, CheckResult]:
    """One check per venue the service's account clients trade on: ok while its circuit
    breaker is closed; open or half-open (probing after an outage) is not."""
    checks = {}
    for venue, (breaker, accounts) in sorted(board.views().items()):
        status: Any = breaker.status()
        state = str(status.state.value)
        used_by = f"{accounts} account{'s' if accounts != 1 else ''}"
        if state == "closed":
            detail, ok = f"circuit closed ({used_by})", True
        else:
            cause = f"; last: {status.cause}" if status.cause else ""
            detail = f"circuit {state} after {status.failures} failures{cause} ({used_by})"
            ok = False
        checks[f"exchange:{scrub(venue)}"] = CheckResult(ok=ok, detail=scrub(detail))
    return checks
