"""What the web layer is given by the composition root: everything it may use, as values.

The web holds no trading logic and no actor references of its own making: it reads and writes
the database through `services/` on its own repository (its own connection pool, as the CLI or
another process would), and runtime commands reach the running service through the
desired-state rows the root supervisor polls. Anything that needs a live exchange client (a
balance, a key's permissions) goes through `exchange_for`, which the composition root builds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from exchange.port import Exchange
from persistence.repository import Repository
from persistence.vault import Vault
from services.accounts import PaperOpener
from services.auth import LoginLimiter
from services.observe import ServiceView
from services.signal_limit import SignalLimiter
from services.strategies import PriceFor, RulesFor


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(slots=True, kw_only=True)
class WebContext:
    repo: Repository
    vault: Vault | None = None
    limiter: LoginLimiter = field(default_factory=LoginLimiter)
    # Webhook signals per URL token (web.routes.signals).
    signal_limiter: SignalLimiter = field(default_factory=SignalLimiter)
    # An account's exchange client (balances, key report); None: not available here.
    exchange_for: Callable[[int], Exchange] | None = None
    # The rules of a market a strategy is created on, or None when unknown (paper markets come
    # from the config file; live ones from the venue).
    rules_for: RulesFor | None = None
    # The market's price now, for a strategy preview given no start price (None: required).
    price_for: PriceFor | None = None
    # Opens an API-created paper account on this server's paper venue (None: no paper venue,
    # paper accounts are refused).
    open_paper: PaperOpener | None = None
    # Hosts an API-created account may name in base_url (exact, case-insensitive).
    allowed_hosts: frozenset[str] = frozenset()
    secure_cookies: bool = True
    # /health and /metrics read this (services.observe); None: those routes are not served.
    observer: ServiceView | None = None
    clock: Callable[[], datetime] = utcnow
    # Requests handled at once (the thread pool's size); more wait their turn.
    workers: int = 2
    # True while engines are handling a tick (web.priority): requests wait for them, at most
    # `yield_to_trading_s`. None: never wait (no engines in this process).
    trading_busy: Callable[[], bool] | None = None
    yield_to_trading_s: float = 0.05
