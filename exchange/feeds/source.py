"""The price-source protocol: a source produces ticks; its caller (the feed actor) paces them.

No source sleeps or reads the wall clock to pace itself: after each call the source says how
long to wait before the next one (`next_delay`), so the actor owns timing and tests run
instantly. The actor publishes a tick as soon as `next_tick()` returns it (a polled price must
not go stale waiting), then waits `next_delay` seconds before calling again.

Optional members the feed actor reads when a source has them: `time_scale` (wall seconds per
market second; 1 when absent), and for a source replaying a recording, `ReplaySource`'s
`replay_key` and `resume_after` (the paper venue keeps the position of each replay, so a restart
continues where the replay was), and `history` (the recording's candles before a time,
`exchange.paper.candles.History`: the venue's `fetch_candles` answers with them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Protocol, runtime_checkable

from domain.market import Candle


@dataclass(frozen=True, slots=True, kw_only=True)
class PriceTick:
    """One price observation.

    `timestamp` is market time (replay: the candle's close time). `candle` is set by candle
    sources so the paper venue can match on the candle's low and high, not the close alone.
    """

    symbol: str
    price: Decimal
    timestamp: datetime
    candle: Candle | None = None


@runtime_checkable
class PriceSource(Protocol):
    @property
    def symbol(self) -> str: ...

    @property
    def interval(self) -> float:
        """Nominal wall seconds between ticks (the actor's poll period)."""
        ...

    @property
    def next_delay(self) -> float:
        """Wall seconds to wait before the next `next_tick()` call (0 before the first)."""
        ...

    @property
    def finished(self) -> bool:
        """True once the source will never produce another tick (end of a replay)."""
        ...

    def next_tick(self) -> PriceTick | None:
        """The next tick, or None when there is none now (finished, or a failed poll)."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class ReplaySource(PriceSource, Protocol):
    @property
    def replay_key(self) -> str:
        """Names the recording (e.g. the file): a position is only resumed in the same one."""
        ...

    def resume_after(self, opened_at: datetime) -> int:
        """Skip every candle that opened at or before `opened_at`; how many were skipped."""
        ...
