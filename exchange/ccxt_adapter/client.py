"""Building a ccxt client the way this service needs it.

- ccxt's own throttle and its resend-on-failure loop are off: the shared per-host limiter and the
  read-only retry policy replace them, and nothing may ever resend a create behind our back.
- Spot only: binance would otherwise load futures, options and margin pairs (and, with keys,
  call sapi endpoints) on every market load.
- `base_url` rewrites the scheme and host of every ``urls['api']`` entry and keeps the paths,
  which points a testnet, a proxy, or the test suite's fake server at any dialect.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import ccxt

from domain.errors import ConfigurationError
from domain.secrets import Credentials, Secret
from domain.venues import venue_key
from exchange.resilience.rate_limit import RateLimit

#: Options per ccxt id that keep it to spot trading with plain REST calls.
SPOT_OPTIONS: dict[str, dict[str, Any]] = {
    "binance": {
        "fetchMarkets": {"types": ["spot"]},
        "fetchMargins": False,
        "fetchCurrencies": False,
        "warnOnFetchOpenOrdersWithoutSymbol": False,
    },
}
_COMMON_OPTIONS: dict[str, Any] = {
    "defaultType": "spot",
    "maxRetriesOnFailure": 0,
    "maxRetriesOnFailureDelay": 0,
}


def is_known_exchange(exchange_id: str) -> bool:
    """True for an id this install's ccxt has a client for (what `CcxtConfig` accepts): how
    rooms that may not import ccxt check an exchange id before they store it."""
    return exchange_id in ccxt.exchanges


@dataclass(frozen=True, slots=True, kw_only=True)
class CcxtConfig:
    """Everything needed to talk to one account on one venue. Credentials stay `Secret`."""

    exchange_id: str
    api_key: Secret | None = None
    secret: Secret | None = None
    password: Secret | None = None  # "passphrase" on OKX, KuCoin, ...
    sandbox: bool = False
    base_url: str | None = None
    timeout_ms: int = 10_000
    options: Mapping[str, Any] = field(default_factory=dict)
    rate_limit: RateLimit | None = None  # None: derived from ccxt's rateLimit for the venue
    breaker_threshold: int = 5
    #: Seconds an open breaker waits before one probe request. Short, because it bounds how long
    #: prices and orders stay away after the venue is back; a probe every 10 s is no load.
    breaker_reset_after: float = 10.0

    def __post_init__(self) -> None:
        if not is_known_exchange(self.exchange_id):
            raise ConfigurationError(
                f"unknown ccxt exchange id {self.exchange_id!r}", field="exchange_id"
            )
        if self.base_url is not None:
            parts = urlsplit(self.base_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise ConfigurationError(
                    "must be an absolute http(s) URL such as https://testnet.example.com",
                    field="base_url",
                )
        if self.timeout_ms <= 0:
            raise ConfigurationError("must be > 0", field="timeout_ms")

    @classmethod
    def for_account(cls, exchange_id: str, credentials: Credentials, **settings: Any) -> CcxtConfig:
        """The vault hands out `Credentials`; this keeps them wrapped all the way to ccxt."""
        return cls(
            exchange_id=exchange_id,
            api_key=credentials.api_key,
            secret=credentials.secret,
            password=credentials.passphrase,
            **settings,
        )

    @property
    def environment(self) -> str:
        """Markets and breakers are shared per exchange *and* environment (live/sandbox/URL):
        the same venue key that prices and feeds are keyed by."""
        return venue_key(self.exchange_id, sandbox=self.sandbox, base_url=self.base_url)

    def secret_values(self) -> tuple[str, ...]:
        return tuple(s.reveal() for s in (self.api_key, self.secret, self.password) if s)


def rewrite_urls(api: Any, base_url: str) -> Any:
    """Replace scheme+host of every URL in ccxt's (possibly nested) ``urls['api']``."""
    base = base_url.rstrip("/")
    if isinstance(api, str):
        path = urlsplit(api).path if "://" in api else api
        return base + path
    if isinstance(api, Mapping):
        return {key: rewrite_urls(value, base) for key, value in api.items()}
    return api


def build_client(config: CcxtConfig) -> Any:
    cls = getattr(ccxt, config.exchange_id)
    options = {**_COMMON_OPTIONS, **SPOT_OPTIONS.get(config.exchange_id, {}), **config.options}
    params: dict[str, Any] = {
        "enableRateLimit": False,
        "timeout": config.timeout_ms,
        "options": options,
    }
    if config.api_key:
        params["apiKey"] = config.api_key.reveal()
    if config.secret:
        params["secret"] = config.secret.reveal()
    if config.password:
        params["password"] = config.password.reveal()
    client = cls(params)
    if config.sandbox:
        try:
            client.set_sandbox_mode(True)
        except ccxt.NotSupported:
            raise ConfigurationError(
                f"{config.exchange_id} has no sandbox/testnet", field="sandbox"
            ) from None
    if config.base_url:
        client.urls["api"] = rewrite_urls(client.urls["api"], config.base_url)
    _record_http_status(client)
    return client


class Answers(threading.local):
    """The HTTP status and headers of the last answer, per thread: one ccxt client serves every
    engine of an account and the reconcile workers at once, so what ccxt keeps on the client
    (`last_response_headers`) may be another thread's answer. A timed-out create must never be
    judged by someone else's 429 (it would pass for "refused, not placed")."""

    status: int | None = None
    headers: Any = None

    def clear(self) -> None:
        self.status, self.headers = None, None


def _record_http_status(client: Any) -> None:
    """Keep the status and headers of each thread's last answer in ``client.mg_answers``:
    ccxt keeps the headers (shared by all threads) but not the status, and a 418 (IP ban) must
    be told from a 429."""
    original = client.on_rest_response
    answers = Answers()
    client.mg_answers = answers

    def on_rest_response(
        code: int, reason: str, url: Any, method: Any, headers: Any, *rest: Any
    ) -> Any:
        answers.status, answers.headers = int(code), headers
        return original(code, reason, url, method, headers, *rest)

    client.on_rest_response = on_rest_response


def api_host(client: Any) -> str:
    """The host requests go to: the rate-limit key (venues limit per IP and host)."""
    api = client.urls.get("api")
    stack = [api]
    while stack:
        item = stack.pop(0)
        if isinstance(item, str) and "://" in item:
            return urlsplit(item.replace("{hostname}", str(client.hostname))).netloc.lower()
        if isinstance(item, Mapping):
            stack.extend(item.values())
    return str(client.id)


def default_rate_limit(client: Any) -> RateLimit:
    """ccxt's ``rateLimit`` is milliseconds between requests of cost 1; allow a 1 s burst."""
    per_second = 1000.0 / float(client.rateLimit or 1000)
    return RateLimit(rate=per_second, capacity=max(1.0, per_second))
