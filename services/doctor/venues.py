"""The doctor's look at the exchanges: each venue's clock, and what each stored key may do.

Clock skew, measured as NTP does it: the local time half-way between sending the request and
reading the answer, minus the venue's time; the round trip bounds the error (shown as ±). The
bounds, and why:

- FAIL when this clock is 1 s or more AHEAD: binance and bybit refuse a signed request stamped
  1 s or more after their own clock (binance -1021), so every order and balance read fails;
- FAIL when it is 5 s or more BEHIND: a signed request older than the venue's receive window is
  refused, and 5 s is the smallest default window among the major venues (binance, bybit);
- warn from 0.5 s either way: a host kept by NTP or chrony is within milliseconds, so half a
  second means time sync is broken and the clock is drifting towards those limits.

The paper venue is this machine's own clock: not applicable. Key permissions come from the
venue through the Exchange port's `key_report` (the same reading the dashboard shows); a venue
that does not tell is not applicable, a key that can withdraw or cannot trade fails, and one
without an IP restriction is a warning. Only reads are sent: no order is placed or cancelled.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from domain.errors import AuthenticationFailed, MartingaleError
from domain.keys import KeyReport, KeyWarningLevel
from domain.secrets import Credentials
from domain.venues import PAPER_VENUE, venue_key
from exchange.port import Exchange
from services.doctor.keys import OpenedKey
from services.doctor.report import Check, fail, na, ok, warn

AHEAD_FAIL_S = 1.0
BEHIND_FAIL_S = 5.0
WARN_S = 0.5
SYNC_TIME = "keep this machine's clock in sync (e.g. `timedatectl set-ntp true`, or chrony)"


class VenueClock(Protocol):
    def fetch_time(self) -> datetime: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Venue:
    """An exchange environment, as accounts name it (exchange id, sandbox, base URL)."""

    exchange: str
    sandbox: bool = False
    base_url: str | None = None

    @property
    def key(self) -> str:
        return venue_key(self.exchange, sandbox=self.sandbox, base_url=self.base_url)


ClockFor = Callable[[Venue], VenueClock]  # a public (keyless) client of the venue
KeyedFor = Callable[[Venue, Credentials], Exchange]  # a client with an account's key


def distinct_venues(venues: Iterable[Venue]) -> list[Venue]:
    """One per venue key, in first-seen order."""
    seen: dict[str, Venue] = {}
    for venue in venues:
        seen.setdefault(venue.key, venue)
    return list(seen.values())


def clock_checks(
    venues: Iterable[Venue], clock_for: ClockFor, now: Callable[[], datetime]
) -> list[Check]:
    checks = []
    for venue in distinct_venues(venues):
        name = f"clock:{venue.key}"
        if venue.exchange == PAPER_VENUE:
            checks.append(na(name, "the paper venue runs on this machine's clock"))
            continue
        try:
            clock = clock_for(venue)
        except MartingaleError as error:
            checks.append(fail(name, f"no client for this venue: {error}"))
            continue
        try:
            sent = now()
            theirs = clock.fetch_time()
            received = now()
        except MartingaleError as error:
            checks.append(fail(name, f"could not read the venue's time: {error}"))
            continue
        finally:
            clock.close()
        half_trip = (received - sent).total_seconds() / 2
        skew = (sent - theirs).total_seconds() + half_trip
        checks.append(judge_skew(name, skew, half_trip))
    return checks


def judge_skew(name: str, skew_s: float, error_s: float = 0.0) -> Check:
    """`skew_s` > 0: this machine's clock is ahead of the venue's (pure: tests give any)."""
    way = "ahead of" if skew_s >= 0 else "behind"
    found = f"this clock is {abs(skew_s):.3f} s {way} the venue's (± {error_s:.3f} s)"
    if skew_s >= AHEAD_FAIL_S:
        return fail(name, f"{found}: signed requests are refused", SYNC_TIME)
    if skew_s <= -BEHIND_FAIL_S:
        return fail(name, f"{found}: signed requests arrive too old and are refused", SYNC_TIME)
    if abs(skew_s) >= WARN_S:
        return warn(name, f"{found}: time sync looks broken", SYNC_TIME)
    return ok(name, found)


def key_checks(keys: Iterable[OpenedKey], keyed_for: KeyedFor) -> list[Check]:
    checks = []
    for key in keys:
        account = key.account
        name = f"key:{key.label}"
        venue = Venue(exchange=account.exchange, sandbox=account.sandbox, base_url=account.base_url)
        try:
            exchange = keyed_for(venue, key.credentials)
        except MartingaleError as error:
            checks.append(fail(name, f"no client for {venue.key}: {error}"))
            continue
        try:
            report = exchange.key_report()
        except AuthenticationFailed:
            checks.append(
                fail(
                    name,
                    f"{venue.key} refused the API key",
                    "replace the key (it was revoked, expired, or is not allowed from this IP)",
                )
            )
            continue
        except MartingaleError as error:
            checks.append(fail(name, f"could not ask {venue.key} about the key: {error}"))
            continue
        finally:
            exchange.close()
        checks.append(judge_key(name, venue.key, report))
    return checks


def judge_key(name: str, venue: str, report: KeyReport | None) -> Check:
    if report is None:
        return na(name, f"{venue} does not report what an API key may do")
    dangers = [w.message for w in report.warnings if w.level is KeyWarningLevel.DANGER]
    warnings = [w.message for w in report.warnings if w.level is not KeyWarningLevel.DANGER]
    if dangers:
        return fail(name, "; ".join(dangers + warnings))
    if warnings:
        return warn(name, "; ".join(warnings))
    said = (  # (what a True means, what the flag is, the flag)
        ("may trade", "trading", report.can_trade),
        ("cannot withdraw", "withdrawals", _negated(report.can_withdraw)),
        ("restricted to trusted IPs", "IP restriction", report.ip_restricted),
    )
    told = [meaning for meaning, _, value in said if value]
    unknown = [flag for _, flag, value in said if value is None]
    found = ", ".join(told) or "no permission reported"
    return ok(name, f"{found} (not reported: {', '.join(unknown)})" if unknown else found)


def _negated(value: bool | None) -> bool | None:
    return None if value is None else not value
