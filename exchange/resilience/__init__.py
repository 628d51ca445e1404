"""Pure resilience logic for venue calls: token-bucket rate limits, circuit breakers, read retries.

Each piece takes an injectable clock (and sleep) so tests drive time by hand instead of sleeping.
"""

from exchange.resilience.circuit import CircuitBreaker, CircuitOpen, CircuitState, CircuitStatus
from exchange.resilience.rate_limit import RateLimiterRegistry, TokenBucket
from exchange.resilience.retry import ReadRetryPolicy

__all__ = [
    "CircuitBreaker",
    "CircuitOpen",
    "CircuitState",
    "CircuitStatus",
    "RateLimiterRegistry",
    "ReadRetryPolicy",
    "TokenBucket",
]
