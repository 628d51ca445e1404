"""One error taxonomy for the whole service; the class encodes the policy.

- `TemporaryError`: the world is briefly unavailable; retry reads with backoff, mark the strategy
  DEGRADED, never crash-loop.
- `OrderError`: this one order cannot be placed or changed; surface it, the strategy decides.
- `FatalError`: retrying cannot help (bad keys, bad config, a bug); stop what depends on it.

Messages must never contain a secret: callers pass field names and safe values only.
"""

from __future__ import annotations

import enum


class Policy(enum.StrEnum):
    RETRY = "retry"
    ORDER = "order"
    FATAL = "fatal"


class MartingaleError(Exception):
    policy: Policy = Policy.FATAL


# --- temporary: retry with backoff -------------------------------------------------------------


class TemporaryError(MartingaleError):
    policy = Policy.RETRY


class ExchangeUnavailable(TemporaryError):
    """Maintenance, 5xx, connection refused, or our circuit breaker is open."""


class NetworkError(TemporaryError):
    """Timeouts and dropped connections on a read (safe to retry)."""


class RateLimited(TemporaryError):
    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class OrderRateLimited(RateLimited):
    """This account's order-rate limit (binance -1015 "Too many new orders"): the order was not
    placed. Only this account's new orders wait `retry_after`; its reads and cancels, and other
    accounts on the same host, carry on."""


class OrderOutcomeUnknown(TemporaryError):
    """A create or cancel may or may not have reached the exchange.

    Never resubmit: look the order up by its client order id first.
    """

    def __init__(self, message: str, *, client_order_id: str | None = None) -> None:
        super().__init__(message)
        self.client_order_id = client_order_id


class DatabaseUnavailable(TemporaryError):
    """The repository cannot reach the database; place no new order until it is back."""


class LeaseLost(DatabaseUnavailable):
    """The write was refused: this service process no longer holds the lease of the user whose
    strategy it was (another process drives it now, or the lease expired). Nothing was
    committed, so nothing may be sent; the process stops that user's engines."""


# --- order level: surface to the strategy -----------------------------------------------------


class OrderError(MartingaleError):
    policy = Policy.ORDER


class InvalidOrder(OrderError):
    """Precision, min notional, min amount or another filter rejects the order."""


class MarketFilterRejected(InvalidOrder):
    """The venue's market filters (price tick, amount step, minimum amount or notional,
    precision) refused the order: its rules may have changed since we read them. Re-read them
    (`load_market_rules(symbol, fresh=True)`), re-size the order, and place it again."""


class InsufficientFunds(OrderError):
    pass


class OrderNotFound(OrderError):
    pass


class DuplicateOrder(OrderError):
    """The client order id is already in use on this account."""


class UnknownSymbol(OrderError):
    pass


# --- fatal: stop what depends on it ------------------------------------------------------------


class FatalError(MartingaleError):
    policy = Policy.FATAL


class AuthenticationFailed(FatalError):
    """The exchange refused the API key (bad key, bad signature, revoked, no permission)."""


class ConfigurationError(FatalError):
    """A setting is missing or wrong; `field` names it."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(f"{field}: {message}" if field else message)
        self.field = field


class ValidationError(ConfigurationError):
    """A value given by a user (parameter, config entry, API input) is invalid."""


class IllegalTransition(FatalError):
    """A state machine was asked for a move it forbids: a bug, never retried."""


class CredentialError(FatalError):
    """A credential cannot be decrypted or the master key is missing or malformed."""
