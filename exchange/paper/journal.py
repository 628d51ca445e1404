"""Group commit for the paper venue: memory changes made under the venue lock, written in groups.

The venue changes its memory under its lock and records each change here (`balance`, `order`,
`fill`, ...), which costs a dict store and no I/O. A caller that must not return before its
change is durable then calls `wait(seq)` *after* releasing the venue lock. The first such caller
becomes the leader: it takes every change recorded so far and writes them in one SQLite
transaction; callers arriving meanwhile wait, and the next leader takes all of theirs at once.
Under load the groups grow and the venue's lock is never held across a disk write.

Why: with one transaction per call inside the lock, every SQLite statement released the GIL, so
each holder queued to get it back while tens of engines queued on the lock behind it. Holds
of 0.1 ms of work took 0.5 ms, and waits grew to tens of milliseconds at 5,000 strategies.

Guarantees (what the old one-transaction-per-call design gave, kept):

- The file always holds a prefix of the changes, in order: a group is everything recorded up to
  a sequence number, and groups are written one at a time.
- No caller learns of a change the file does not hold: writers wait for their own sequence
  number, and readers wait for the last change to the account they read (`Account.seq`).
  Market data (prices) is the exception: a tick that fills nothing is written with the next
  group, not waited for, so a crash can forget the last prices (the feed sends new ones). A
  replay's position goes with its candle's price, so a crash can only forget positions of
  candles that filled nothing (their replay repeats them; see `store`).
- A failed write loses the whole unwritten tail: memory is rebuilt from the file (`reload`) and
  every caller waiting on a lost change gets `ExchangeUnavailable`. Later changes start afresh.

Lock order: the venue lock, then `io` (the SQLite connection). The leader holds neither while it
waits for the other; `wait` must never be called with the venue lock held (the leader needs it
to take the changes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from domain.errors import ExchangeUnavailable
from domain.market import MarketRules
from domain.orders import Fill, Order


@dataclass(slots=True)
class Changes:
    """Rows to write, the latest value per key (upserts), fills in order (inserts)."""

    accounts: dict[str, tuple[Decimal, bool]] = field(default_factory=dict)
    markets: dict[str, MarketRules] = field(default_factory=dict)
    balances: dict[tuple[str, str], tuple[Decimal, Decimal]] = field(default_factory=dict)
    prices: dict[str, tuple[Decimal, datetime]] = field(default_factory=dict)
    replays: dict[str, tuple[str, datetime]] = field(default_factory=dict)
    orders: dict[int, tuple[str, Order, Decimal]] = field(default_factory=dict)
    fills: list[tuple[str, int, Fill]] = field(default_factory=list)

    def __len__(self) -> int:
        return (
            len(self.accounts)
            + len(self.markets)
            + len(self.balances)
            + len(self.prices)
            + len(self.replays)
            + len(self.orders)
            + len(self.fills)
        )


class Store(Protocol):
    """What the journal needs of the venue's file (`PaperStore`)."""

    path: Path

    def apply(self, changes: Changes) -> None: ...


class Journal:
    def __init__(
        self,
        store: Store,
        memory_lock: AbstractContextManager[object],
        reload: Callable[[], None],
    ) -> None:
        self._store = store
        self._memory_lock = memory_lock
        self._reload = reload
        self.io = threading.Lock()  # the SQLite connection: one user at a time
        self.seq = 0  # the last change recorded (under the venue lock)
        self._changes = Changes()
        self._cond = threading.Condition(threading.Lock())
        self._durable = 0  # every change up to here is in the file
        self._lost = 0  # every change up to here that is not durable was discarded
        self._leading = False
        self._generation = 0  # bumped by `abandon`: a group taken before it is never written
        self._failure = ""
        self.groups = 0  # transactions written, and the changes they held: the mean group size
        self.written = 0

    # --- recording (caller holds the venue lock) -----------------------------------------------

    def account(self, key: str, fee_rate: Decimal, fee_in_quote: bool) -> int:
        self._changes.accounts[key] = (fee_rate, fee_in_quote)
        return self._next()

    def market(self, rules: MarketRules) -> int:
        self._changes.markets[rules.symbol] = rules
        return self._next()

    def balance(self, account: str, currency: str, free: Decimal, used: Decimal) -> int:
        self._changes.balances[account, currency] = (free, used)
        return self._next()

    def price(self, symbol: str, price: Decimal, at: datetime) -> int:
        self._changes.prices[symbol] = (price, at)
        return self._next()

    def replay(self, symbol: str, source: str, candle_open: datetime) -> int:
        """Where a replay is: recorded with its candle's price and fills, so the same group
        (one transaction) writes all of them or none."""
        self._changes.replays[symbol] = (source, candle_open)
        return self._next()

    def order(self, order_id: int, account: str, order: Order, locked: Decimal) -> int:
        self._changes.orders[order_id] = (account, order, locked)
        return self._next()

    def fill(self, account: str, order_id: int, fill: Fill) -> int:
        self._changes.fills.append((account, order_id, fill))
        return self._next()

    def abandon(self) -> None:
        """A change failed half-way (a bug, never a user error): memory cannot be trusted, so it
        is rebuilt from the file and every change not yet durable is lost. Caller holds the
        venue lock; a leader's write in flight finishes first (it holds `io`)."""
        lost = self.seq  # marked lost before the reload, which may fail too
        try:
            with self.io:
                self._generation += 1
                self._changes = Changes()
                self._reload()
        finally:
            with self._cond:
                self._failure = "a change failed half-way and was undone"
                self._lost = max(self._lost, lost)
                self._cond.notify_all()

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    # --- durability (caller does NOT hold the venue lock) --------------------------------------

    def wait(self, seq: int) -> None:
        """Return once change `seq` is in the file; `ExchangeUnavailable` if it was lost."""
        if self._durable >= seq:  # the usual case for reads: one comparison, no lock
            return
        with self._cond:
            while True:
                if self._durable >= seq:
                    return
                if self._lost >= seq:
                    raise ExchangeUnavailable(
                        f"paper venue store {self._store.path}: {self._failure}; not saved"
                    )
                if not self._leading:
                    break
                self._cond.wait()
            self._leading = True
        self._lead()
        self.wait(seq)  # now durable (or lost): answer from the bookkeeping

    def flush(self) -> None:
        """Write whatever is unwritten (changes already lost stay lost, without an error)."""
        seq = self.seq
        if seq > self._lost:
            self.wait(seq)

    @contextmanager
    def reading(self, seq: int) -> Iterator[None]:
        """Read the file: after change `seq` is in it, holding the connection."""
        self.wait(seq)
        with self.io:
            yield

    def _lead(self) -> None:
        """Write everything recorded so far in one transaction; on failure lose it all."""
        durable = lost = 0
        failure: str | None = None
        try:
            with self._memory_lock:
                changes, self._changes = self._changes, Changes()
                target, generation = self.seq, self._generation
            with self.io:
                if generation != self._generation:
                    return  # `abandon` rebuilt memory without these: writing them would split
                try:
                    if changes:
                        self._store.apply(changes)
                except Exception as exc:  # the transaction rolled back: nothing of it landed
                    failure = f"{type(exc).__name__}: {exc}"
                else:
                    durable = target
                    self.groups += 1
                    self.written += len(changes)
            if failure is not None:  # the venue lock before `io`, as everywhere
                with self._memory_lock, self.io:
                    self._generation += 1
                    self._changes = Changes()
                    lost = self.seq  # before the reload, which may fail too
                    self._reload()
        finally:
            with self._cond:
                if failure is not None:
                    self._failure = failure
                self._leading = False
                self._durable = max(self._durable, durable)
                self._lost = max(self._lost, lost)
                self._cond.notify_all()
