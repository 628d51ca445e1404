"""Periodic reconciliation per exchange account: fills no tick revealed, and hands on the account.

An engine looks at its orders when the price crosses one of its levels. A fill during a dip
shorter than the feed's poll, or a fill the watch board never saw, would otherwise go unseen,
and the position it bought would sit without a take-profit. So every `interval` seconds (60 by
default, `Tuning.reconcile_interval`), per account:

1. one open-orders call per symbol the account trades (on a small shared worker pool, never on
   an actor thread); every engine of the account then syncs against that list: an order that
   left the list or filled more is looked up, its fills applied, and the machine reacts
   (a take-profit for the new position), within one period, with no tick needed;
2. once every engine has answered with its position, one balances call; the base each
   strategy holds (a long's position; a short holds none) is added up per currency and
   compared with what the account holds. A shortfall beyond the market's step, seen on two
   passes in a row (one pass can race a fill between the calls), means the position was
   changed by hand (a manual sell, a withdrawal): the strategies on that currency show it as
   their error (DEGRADED) instead of failing later at the take-profit; it clears when a pass
   finds the holdings whole again.

The calls go through the account's exchange client and therefore share its per-host rate
budget and circuit breaker; when the budget is exhausted the pass is skipped, not queued, and
the next one comes a period later. Orders canceled by hand are reported by the engine itself
when it finds them (`Engine._observe`, in `actors.engine_orders`).
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pykka
import structlog

from actors.timers import TimerService
from domain.errors import MartingaleError
from domain.market import Balance, split_symbol
from domain.money import ZERO, fmt
from domain.orders import Order
from exchange.port import Exchange

log = structlog.get_logger(__name__)

RECONCILE_INTERVAL_S = 60.0
ANSWER_WAIT_S = 30.0  # how long a pass waits for every engine's position before it goes on
SHORTFALL_PASSES = 2  # passes in a row that must see the same shortfall before it is reported
STUCK_AFTER = 3  # periods after which a pass that never ended is abandoned

# --- messages (user actor <-> engines, user actor <-> its own worker jobs) -----------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileDue:
    account_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenOrdersFetched:
    account_id: int
    pass_id: int
    open_orders: dict[str, tuple[Order, ...]] | None  # by symbol; None: the call failed
    fetched_at: datetime
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class BalancesFetched:
    account_id: int
    pass_id: int
    balances: dict[str, Balance] | None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswersOverdue:
    account_id: int
    pass_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconcile:
    """To an engine: sync against these open orders of its symbol, then answer `Reconciled`."""

    account_id: int
    pass_id: int
    open_orders: tuple[Order, ...]
    fetched_at: datetime  # orders sent since are not in the list: the engine leaves them be


@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciled:
    """To the user actor: the engine synced; `position` None when it could not (not ready)."""

    strategy_id: int
    account_id: int
    pass_id: int
    currency: str
    position: Decimal | None
    step: Decimal = ZERO


@dataclass(frozen=True, slots=True, kw_only=True)
class Holdings:
    """To an engine: the account's holdings of its base (`problem` None: they are whole)."""

    problem: str | None


# --- the bookkeeping, driven by the user actor ---------------------------------------------------


@dataclass(slots=True)
class _Pass:
    pass_id: int
    started: float = field(default_factory=time.monotonic)
    expected: dict[int, str] = field(default_factory=dict)  # strategy -> its base currency
    waiting: set[int] = field(default_factory=set)
    answers: dict[int, Reconciled] = field(default_factory=dict)


EnginesOf = Callable[[int], dict[int, tuple[str, pykka.ActorRef[Any]]]]


class AccountReconciler:
    """One per user actor. All methods run on the user actor's thread; the exchange calls run
    on `pool` and come back as messages, so a slow venue never blocks supervision."""

    def __init__(
        self,
        *,
        owner: pykka.ActorRef[Any],
        timers: TimerService,
        pool: Executor | None,
        interval: float = RECONCILE_INTERVAL_S,
        rng: random.Random | None = None,
    ) -> None:
        self._owner = owner
        self._timers = timers
        self._pool = pool
        self._interval = interval
        self._rng = rng or random.Random()
        self._ids = itertools.count(1)
        self._passes: dict[int, _Pass] = {}
        self._armed: set[int] = set()
        self._short: dict[tuple[int, str], int] = {}  # (account, currency) -> passes short
        self._reported: set[tuple[int, str]] = set()

    @property
    def enabled(self) -> bool:
        return self._pool is not None and self._interval > 0

    def arm(self, account_id: int) -> None:
        """Start the account's passes (the first at a random point of the period, so a fleet
        that boots together does not reconcile together)."""
        if not self.enabled or account_id in self._armed:
            return
        self._armed.add(account_id)
        delay = self._rng.uniform(0.2, 1.0) * self._interval
        self._timers.tell_later(delay, self._owner, ReconcileDue(account_id=account_id))

    def due(self, account_id: int, client: Exchange | None, symbols: set[str]) -> None:
        stuck = self._passes.get(account_id)
        if stuck is not None and time.monotonic() - stuck.started > STUCK_AFTER * self._interval:
            log.warning("reconcile: a pass never ended; starting over", account=account_id)
            del self._passes[account_id]  # whatever it waits for will never come
        if account_id in self._passes:
            return  # the pass in flight schedules the next one when it ends
        if not symbols or client is None or self._pool is None:
            self._next(account_id)
            return
        pass_id = next(self._ids)
        self._passes[account_id] = _Pass(pass_id=pass_id)
        owner = self._owner

        def fetch() -> None:
            fetched_at = datetime.now(UTC)  # an order sent after this may be missing from it
            try:
                found = {s: tuple(client.fetch_open_orders(s)) for s in sorted(symbols)}
                owner.tell(
                    OpenOrdersFetched(
                        account_id=account_id,
                        pass_id=pass_id,
                        open_orders=found,
                        fetched_at=fetched_at,
                    )
                )
            except Exception as exc:  # a worker must always answer, or the account's passes end
                owner.tell(
                    OpenOrdersFetched(
                        account_id=account_id,
                        pass_id=pass_id,
                        open_orders=None,
                        error=_describe(exc),
                        fetched_at=fetched_at,
                    )
                )

        self._pool.submit(fetch)

    def open_orders(self, message: OpenOrdersFetched, engines: EnginesOf) -> None:
        current = self._passes.get(message.account_id)
        if current is None or current.pass_id != message.pass_id:
            return
        if message.open_orders is None:
            log.info("reconcile: pass skipped", account=message.account_id, error=message.error)
            self._finish(message.account_id)
            return
        for sid, (symbol, ref) in engines(message.account_id).items():
            try:
                ref.tell(
                    Reconcile(
                        account_id=message.account_id,
                        pass_id=message.pass_id,
                        open_orders=message.open_orders.get(symbol, ()),
                        fetched_at=message.fetched_at,
                    )
                )
            except pykka.ActorDeadError:
                continue
            current.waiting.add(sid)
            current.expected[sid] = base_of(symbol)
        if not current.waiting:
            self._finish(message.account_id)
            return
        self._timers.tell_later(
            ANSWER_WAIT_S,
            self._owner,
            AnswersOverdue(account_id=message.account_id, pass_id=message.pass_id),
        )

    def answered(self, message: Reconciled, client: Exchange | None) -> None:
        current = self._passes.get(message.account_id)
        if current is None or current.pass_id != message.pass_id:
            return
        current.waiting.discard(message.strategy_id)
        current.answers[message.strategy_id] = message
        if not current.waiting:
            self._fetch_balances(message.account_id, current, client)

    def overdue(self, message: AnswersOverdue, client: Exchange | None) -> None:
        current = self._passes.get(message.account_id)
        if current is None or current.pass_id != message.pass_id or not current.waiting:
            return
        current.waiting.clear()  # a busy engine's position is unknown: its currency is skipped
        self._fetch_balances(message.account_id, current, client)

    def balances(self, message: BalancesFetched, engines: EnginesOf) -> None:
        current = self._passes.get(message.account_id)
        if current is None or current.pass_id != message.pass_id:
            return
        if message.balances is not None:
            self._compare(message.account_id, current, message.balances, engines)
        else:
            log.info("reconcile: balances skipped", account=message.account_id, error=message.error)
        self._finish(message.account_id)

    # --- internals -------------------------------------------------------------------------------

    def _fetch_balances(self, account_id: int, current: _Pass, client: Exchange | None) -> None:
        if client is None or self._pool is None:
            self._finish(account_id)
            return
        owner, pass_id = self._owner, current.pass_id

        def fetch() -> None:
            try:
                found = dict(client.fetch_balances())
                owner.tell(BalancesFetched(account_id=account_id, pass_id=pass_id, balances=found))
            except Exception as exc:  # a worker must always answer, or the account's passes end
                owner.tell(
                    BalancesFetched(
                        account_id=account_id,
                        pass_id=pass_id,
                        balances=None,
                        error=_describe(exc),
                    )
                )

        self._pool.submit(fetch)

    def _compare(
        self, account_id: int, current: _Pass, balances: dict[str, Balance], engines: EnginesOf
    ) -> None:
        by_currency: dict[str, list[Reconciled]] = {}
        for answer in current.answers.values():
            by_currency.setdefault(answer.currency, []).append(answer)
        live = engines(account_id)
        for currency, answers in by_currency.items():
            expected = {sid for sid, c in current.expected.items() if c == currency}
            unanswered = not expected <= {a.strategy_id for a in answers}
            if unanswered or any(a.position is None for a in answers):
                continue  # one strategy's position is unknown: no verdict this pass
            # What must be on the account to sell: a short's negative position (base it owes
            # back, bought with quote) asks for no base and hides no long's shortfall.
            held = sum((max(a.position or ZERO, ZERO) for a in answers), ZERO)
            balance = balances.get(currency)
            total = balance.total if balance is not None else ZERO
            tolerance = max((a.step for a in answers), default=ZERO)
            key = (account_id, currency)
            if held - total > tolerance:
                self._short[key] = self._short.get(key, 0) + 1
                if self._short[key] < SHORTFALL_PASSES:
                    continue
                problem = (
                    f"the account holds {fmt(total)} {currency} but its strategies hold "
                    f"{fmt(held)} {currency}: sold or withdrawn outside the service? A "
                    "take-profit cannot sell what is not there; restore the balance, or stop "
                    "the strategy and settle the position by hand"
                )
                self._reported.add(key)
                self._tell(live, answers, Holdings(problem=problem), only_holding=True)
                log.warning("reconcile: holdings short", account=account_id, currency=currency)
            else:
                self._short.pop(key, None)
                if key in self._reported:
                    self._reported.discard(key)
                    self._tell(live, answers, Holdings(problem=None), only_holding=False)

    @staticmethod
    def _tell(
        live: dict[int, tuple[str, pykka.ActorRef[Any]]],
        answers: list[Reconciled],
        message: Holdings,
        *,
        only_holding: bool,
    ) -> None:
        for answer in answers:
            if only_holding and (answer.position or ZERO) <= 0:
                continue
            found = live.get(answer.strategy_id)
            if found is None:
                continue
            try:
                found[1].tell(message)
            except pykka.ActorDeadError:
                continue

    def _finish(self, account_id: int) -> None:
        self._passes.pop(account_id, None)
        self._next(account_id)

    def _next(self, account_id: int) -> None:
        self._timers.tell_later(self._interval, self._owner, ReconcileDue(account_id=account_id))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MartingaleError):
        return str(exc)
    log.error("reconcile: a pass failed with an unexpected error", exc_info=exc)
    return f"{type(exc).__name__}: {exc}"


def base_of(symbol: str) -> str:
    return split_symbol(symbol)[0]
