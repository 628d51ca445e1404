"""A seeded geometric Brownian motion price source: reproducible markets without an exchange.

Parameters are annualised (volatility 0.8 = 80 %/year, drift 0.1 = +10 %/year, as quoted for
crypto), applied over `step` seconds of market time per tick: dt = step / (365 * 86400) years,
log-return = (drift - volatility**2 / 2) * dt + volatility * sqrt(dt) * N(0, 1).

The walk runs in float (random.Random(seed) only speaks float) on the log price, which is never
quantized, so rounding does not bias the path. Each published price is the walk converted to an
exact Decimal and rounded to the tick size (half-even), at least one tick, so it is always > 0
and always a price the venue accepts. Same seed and parameters -> the same Decimal path.
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from domain.errors import ValidationError
from exchange.feeds.source import PriceTick

SECONDS_PER_YEAR = 365 * 24 * 3600


class SimulatedSource:
    def __init__(
        self,
        *,
        symbol: str,
        start_price: Decimal,
        volatility: Decimal,
        seed: int,
        start: datetime,
        drift: Decimal = Decimal(0),
        interval: float = 1.0,
        step: float | None = None,
        tick_size: Decimal = Decimal("0.00000001"),
        steps: int | None = None,
    ) -> None:
        """`interval`: wall seconds between ticks; `step`: market seconds per tick (default
        `interval`, i.e. real time; 300 with interval 1 plays five minutes per second);
        `steps`: stop after this many ticks (None: never)."""
        if start_price <= 0:
            raise ValidationError(f"must be > 0, got {start_price}", field="price")
        if volatility < 0:
            raise ValidationError(f"must be >= 0, got {volatility}", field="volatility")
        if interval <= 0:
            raise ValidationError(f"must be > 0, got {interval}", field="interval")
        if tick_size <= 0:
            raise ValidationError(f"must be > 0, got {tick_size}", field="tick_size")
        self._symbol = symbol
        self._interval = float(interval)
        self._step = float(step if step is not None else interval)
        if self._step <= 0:
            raise ValidationError(f"must be > 0, got {step}", field="step")
        dt = self._step / SECONDS_PER_YEAR
        sigma = float(volatility)
        self._mu_dt = (float(drift) - sigma * sigma / 2) * dt
        self._sigma_sqrt_dt = sigma * math.sqrt(dt)
        self._tick = tick_size
        self._rng = random.Random(seed)
        self._log_price = math.log(float(start_price))
        self._at = start
        self._remaining = steps
        self._count = 0

    @property
    def symbol(self) -> str:
        return self._symbol

    @property
    def interval(self) -> float:
        return self._interval

    @property
    def time_scale(self) -> float:
        """Wall seconds per market second (`interval` / `step`)."""
        return self._interval / self._step

    @property
    def next_delay(self) -> float:
        return self._interval if self._count else 0.0

    @property
    def finished(self) -> bool:
        return self._remaining is not None and self._remaining <= 0

    def next_tick(self) -> PriceTick | None:
        if self.finished:
            return None
        if self._count:
            self._log_price += self._mu_dt + self._sigma_sqrt_dt * self._rng.gauss(0.0, 1.0)
            self._at += timedelta(seconds=self._step)
        self._count += 1
        if self._remaining is not None:
            self._remaining -= 1
        return PriceTick(
            symbol=self._symbol,
            price=self._quantize(math.exp(self._log_price)),
            timestamp=self._at,
        )

    def close(self) -> None:
        """Nothing to release."""

    def _quantize(self, value: float) -> Decimal:
        ticks = (Decimal(repr(value)) / self._tick).to_integral_value(rounding=ROUND_HALF_EVEN)
        return max(ticks, Decimal(1)) * self._tick
