"""The repository interface the rest of the service uses, whatever the database.

The protocol is split by room, one module each: `repository_accounts` (users, accounts, their
sealed keys), `repository_trading` (strategies and what engines write), `repository_reads`
(status, metrics, history pages), `repository_auth` (roles, passwords, tokens),
`repository_notify` (notification targets) and `repository_signals` (webhook signals).
`Repository` is all of them; a caller that needs one room may ask for that protocol alone.

Two implementations pass one contract suite: `SqlRepository` (SQLite/MySQL) and
`MemoryRepository` (a fake for fast tests). Every method is one transaction: it commits whole or
not at all. Time is passed in (`now`), never read here, so tests and replays are deterministic.

Semantics every implementation keeps:
- Onboarding upserts by natural key: user by name, account by (user, name), strategy by
  (user, name). Upserting a soft-deleted user brings it back. An upsert that changes nothing
  writes nothing (a strategy's `updated_at` stays, so the supervisor's poll sees no change).
- `save_steps` writes many steps in one transaction, each as `save_step` would: a refused
  step gets its error in its slot and writes nothing, the others commit.
- `save_step` checks `expected_version` against the strategy's version and replaces it (with
  `new_version`, else expected + 1); a mismatch raises `VersionConflict` and writes nothing.
  Writers pass unique `new_version` tokens so two writers can never line up on each other's
  counters (a late write of a replaced engine must not land on top of its successor's).
- A fill is unique per (account, symbol, trade id): a replay is a no-op, reported as "not
  new". (Exchanges such as binance number trades per symbol.)
- A step's audit rows commit with it: a refused step writes none of them.
- Every database has its own deployment tag ([a-z]{4}, made by migration 0004); every client
  order id carries it, so two deployments on one exchange account never share ids.
- Order updates follow the order state machine; an illegal move raises `IllegalTransition`.
- Fills are records of trades; the order's `filled`/`cost` come from order updates.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from persistence.repository_accounts import AccountsRepository
from persistence.repository_auth import AuthRepository
from persistence.repository_notify import NotifyRepository
from persistence.repository_reads import ReadsRepository
from persistence.repository_signals import SignalsRepository
from persistence.repository_trading import TradingRepository

__all__ = [
    "AccountsRepository",
    "AuthRepository",
    "NotifyRepository",
    "ReadsRepository",
    "Repository",
    "SignalsRepository",
    "TradingRepository",
]


class Repository(
    AccountsRepository,
    TradingRepository,
    ReadsRepository,
    AuthRepository,
    NotifyRepository,
    SignalsRepository,
    Protocol,
):
    """The whole repository: what `SqlRepository` and `MemoryRepository` implement."""

    def transaction(self) -> AbstractContextManager[None]:
        """A unit of work: the calls made inside (from this thread) commit together or not at all.

        For multi-step writes such as onboarding sync; nesting joins the outer transaction.
        """
        ...
