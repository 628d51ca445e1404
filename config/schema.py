"""The onboarding file's schema: every key the service reads, with its type and default.

Every model forbids unknown keys, so a typo (``take_proft``) is an error instead of a silently
ignored setting that trades with a default. Money and percentages are `Decimal` and floats are
refused (the YAML loader hands us Decimals built from the source text, see `yamlsource`).

Paths and defaults:

- ``database.url`` defaults to ``sqlite:///var/martingale.sqlite``; a relative SQLite path in a
  URL is relative to the working directory (SQLAlchemy's rule), not to the config file.
- Every *file path* written in the config file (``feed: csv`` ``path``, ``master_key_file``,
  ``*_file`` credentials, ``paper.state_file``) is relative to the config file's directory, so a
  config and its data can move together. Defaults not written in the file (``var/...``) are
  relative to the working directory, like the database default.
- ``exchange`` is ``paper`` or a ccxt exchange id. config/ must not import ccxt, so any id
  matching ``[a-z0-9_]+`` is accepted here and the exchange layer refuses unknown ones when it
  builds the client.

Top-level keys starting with ``x-`` are ignored (a place for YAML anchors, as in docker
compose); every other unknown key is an error.

Cross-references (unique names, a strategy's account and market, the ladder against market
rules and balance) are checked in `config.checks`, which can name the exact path of a problem.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    field_validator,
    model_validator,
)

from config.fields import (
    Dec,
    EnvName,
    FilePath,
    Fraction,
    Int,
    Name,
    NonNegDec,
    PositiveDec,
    SecretFilePath,
    SecretFileRef,
    StrictModel,
    email_problem,
)
from config.notify_schema import NotificationConfig
from config.paper_schema import PaperConfig
from config.strategy_schema import StrategyConfig
from domain.market import MarketRules

DEFAULT_DATABASE_URL = "sqlite:///var/martingale.sqlite"
MASTER_KEY_ENV = "MARTINGALE_MASTER_KEY"

# Keys that would hold a secret in plaintext; refused everywhere in an account.
PLAINTEXT_SECRET_KEYS = frozenset(
    {"api_key", "apikey", "apiKey", "key", "secret", "password", "passphrase", "token"}
)

# Tags of the discriminated unions; `loader` drops them from error paths.
UNION_TAGS = frozenset({"<simulated>", "<csv>", "<paper>", "<live>"})

_EXCHANGE_ID = re.compile(r"^[a-z0-9_]+$")


# --- service settings ---------------------------------------------------------------------------


class DatabaseConfig(StrictModel):
    """`url`, with its password kept out of the file when it is a secret: `password_env` (the
    name of an environment variable) or `password_file` (a file holding it, e.g. a container
    secret) fills in the URL's password when the config is loaded (`config.secrets`)."""

    url: str = Field(default=DEFAULT_DATABASE_URL, min_length=1)
    password_env: EnvName | None = None
    password_file: SecretFilePath | None = None
    # MySQL, several service processes: how long a process's claim on a user lasts without a
    # renewal (renewed every quarter of it). Another process takes over the users of one that
    # died this long after its last renewal, at most.
    lease_seconds: Int = Field(default=20, ge=4, le=600)

    @model_validator(mode="after")
    def _one_password(self) -> DatabaseConfig:
        if self.password_env is None and self.password_file is None:
            return self
        if self.password_env is not None and self.password_file is not None:
            raise ValueError("give password_env or password_file, not both")
        scheme, _, rest = self.url.partition("://")
        if scheme.startswith("sqlite"):
            raise ValueError("a SQLite database has no password: drop password_env/_file")
        userinfo, at, _host = rest.partition("/")[0].rpartition("@")
        if not at or not userinfo:
            raise ValueError("the url needs a user (user@host) for the password to go with")
        if ":" in userinfo:
            raise ValueError(
                "the url already holds a password: write it in password_env or "
                "password_file, not in the url"
            )
        return self


class LoggingConfig(StrictModel):
    format: Literal["auto", "console", "json"] = "auto"
    level: Literal["debug", "info", "warning", "error", "critical"] = "info"

    @field_validator("level", "format", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value


_HOST = re.compile(r"^[A-Za-z0-9.-]{1,253}$")


class WebConfig(StrictModel):
    """The REST API `martingale run` serves (`--no-web` turns it off for one run).

    127.0.0.1 by default: put a TLS-terminating proxy in front to reach it from elsewhere.
    `secure_cookies` marks the dashboard's session cookie Secure (browsers still send it to
    http://localhost and 127.0.0.1); turn it off only for plain HTTP on another host during
    development. `allowed_hosts`: the hosts an account created through the API may name in
    base_url (exact names, e.g. testnet.binance.vision); none by default.
    """

    enabled: bool = True
    # process: the web in a process of its own that `martingale run` starts and supervises
    # (app.web_process), so requests never wait for the engines' interpreter; thread: on a
    # thread of the service's process (app.web_part), for one-core machines and tests.
    mode: Literal["process", "thread"] = "process"
    host: str = Field(default="127.0.0.1", min_length=1, max_length=253)
    port: Int = Field(default=8000, ge=0, le=65535)
    secure_cookies: bool = True
    allowed_hosts: list[str] = Field(default_factory=list)
    # Requests handled at once (the rest queue). Few on purpose: in thread mode the API shares
    # the interpreter with the engines, and every busy request thread takes its GIL from them.
    workers: Int = Field(default=2, ge=1, le=64)
    # Thread mode: a request that arrives while engines are handling a tick waits up to this
    # long for them to finish (web.priority), so dashboards do not slow orders down; 0: never.
    yield_to_trading_ms: Int = Field(default=50, ge=0, le=1000)

    @field_validator("allowed_hosts")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not _HOST.match(host):
                raise ValueError("each entry is a host name such as testnet.binance.vision")
        return [host.lower() for host in value]


class RetentionConfig(StrictModel):
    """How long the history tables keep their rows; `null` keeps them for good.

    `events_days`: the strategies' event journal (the API's /events). `audit_days`: the audit
    log, the table the service writes its log lines for users to (the API's /logs). Cycles,
    orders and fills are the ledger and are never pruned. The service prunes every
    `interval_minutes`, `batch_rows` rows per transaction, on its database writer between the
    engines' writes; `martingale db prune` does the same on demand.
    """

    events_days: Int | None = Field(default=90, ge=1, le=36500)
    audit_days: Int | None = Field(default=365, ge=1, le=36500)
    enabled: bool = True
    interval_minutes: Int = Field(default=60, ge=1, le=10080)
    batch_rows: Int = Field(default=2000, ge=100, le=50000)

    @field_validator("events_days", "audit_days", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        if isinstance(value, int | Decimal) and not isinstance(value, bool) and value < 1:
            raise ValueError("must be at least 1 (days); write null to keep the rows for good")
        return value


# --- markets of the paper exchange --------------------------------------------------------------


class _MarketBase(StrictModel):
    """Rules default to an 8-decimal (satoshi) grid and no minimums, i.e. no constraint beyond
    precision; set them to a real venue's values to rehearse that venue on paper."""

    tick_size: NonNegDec = Decimal("0.00000001")
    step_size: NonNegDec = Decimal("0.00000001")
    min_amount: NonNegDec = Decimal(0)
    min_notional: NonNegDec = Decimal(0)
    max_amount: NonNegDec = Decimal(0)

    def rules(self, symbol: str) -> MarketRules:
        return MarketRules(
            symbol=symbol,
            tick_size=self.tick_size,
            step_size=self.step_size,
            min_amount=self.min_amount,
            min_notional=self.min_notional,
            max_amount=self.max_amount,
        )


class SimulatedMarket(_MarketBase):
    """A seeded random walk: each `interval` seconds the price moves by a normal step with
    standard deviation `volatility` (a fraction, 0.002 = 0.2%) around a mean of `drift`."""

    feed: Literal["simulated"]
    price: PositiveDec
    volatility: Annotated[Fraction, Field(description="per-tick standard deviation")] = Decimal(
        "0.002"
    )
    drift: Dec = Decimal(0)
    seed: Int | None = None
    interval: PositiveDec = Decimal(1)

    def random_seed(self, symbol: str) -> int:
        """The given seed, else one derived from the symbol: reproducible, and two markets
        without a seed do not move in lockstep."""
        return self.seed if self.seed is not None else zlib.crc32(symbol.encode())


class CsvMarket(_MarketBase):
    """A replay of OHLCV candles (timestamp,open,high,low,close,volume). `speed` 1 is real
    time; 300 plays a 5-minute candle per second. `lockstep`: a candle goes out only once the
    engines the last one woke are done with it (no faster than `speed`), so the replay's fills
    are a backtest's whatever the speed and the machine's load."""

    feed: Literal["csv"]
    path: FilePath
    speed: PositiveDec = Decimal(1)
    lockstep: bool = False


def _feed_tag(value: Any) -> str | None:
    feed = value.get("feed") if isinstance(value, dict) else getattr(value, "feed", None)
    return {"simulated": "<simulated>", "csv": "<csv>"}.get(feed) if isinstance(feed, str) else None


MarketConfig = Annotated[
    Annotated[SimulatedMarket, Tag("<simulated>")] | Annotated[CsvMarket, Tag("<csv>")],
    Discriminator(
        _feed_tag,
        custom_error_type="invalid_feed",
        custom_error_message="'feed' must be 'simulated' or 'csv'",
    ),
]


# --- accounts -----------------------------------------------------------------------------------


def _refuse_plaintext(data: Any) -> Any:
    if isinstance(data, dict):
        for key in data:
            if key in PLAINTEXT_SECRET_KEYS:
                raise ValueError(plaintext_secret_message(str(key)))
    return data


def plaintext_secret_message(key: str) -> str:
    """The refusal for a secret written into the file; never repeats the value."""
    base = {
        "apikey": "api_key",
        "apiKey": "api_key",
        "key": "api_key",
        "token": "api_key",
        "password": "passphrase",
    }
    name = base.get(key, key)
    return (
        f"plaintext secret '{key}' is refused: config files get copied, committed and "
        f"logged. Put the value in an environment variable and write '{name}_env: VAR_NAME', "
        f"or in a file readable only by you and write '{name}_file: path/to/file'"
    )


_BASE_URL = re.compile(r"https?://[^\s/@]+(/\S*)?")


def base_url_problem(value: str) -> str | None:
    """Why `value` cannot be an account's base_url, or None; the value is never echoed (a URL
    with user:password@ in it would leak the password). Shared with the API's accounts."""
    if not _BASE_URL.fullmatch(value):
        return "must be an http(s) URL without credentials, e.g. https://testnet.binance.vision"
    return None


class PaperAccount(StrictModel):
    name: Name
    exchange: Literal["paper"]
    balances: dict[str, NonNegDec] = Field(default_factory=dict)
    fee_rate: Fraction = Decimal("0.001")

    _no_plaintext = model_validator(mode="before")(_refuse_plaintext)

    @field_validator("balances")
    @classmethod
    def _currencies(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        for currency in value:
            if not re.match(r"^[A-Z0-9]{1,16}$", currency):
                raise ValueError(f"currency {currency!r} must be upper case, e.g. BTC")
        return value

    @property
    def is_paper(self) -> bool:
        return True


class LiveAccount(StrictModel):
    """A ccxt exchange account. Credentials are named here and read by
    `config.secrets.resolve_credentials`, never stored in the file."""

    name: Name
    exchange: str
    api_key_env: EnvName | None = None
    api_key_file: SecretFileRef | None = None
    secret_env: EnvName | None = None
    secret_file: SecretFileRef | None = None
    passphrase_env: EnvName | None = None
    passphrase_file: SecretFileRef | None = None
    sandbox: bool = False
    base_url: str | None = None

    _no_plaintext = model_validator(mode="before")(_refuse_plaintext)

    @field_validator("exchange")
    @classmethod
    def _exchange_id(cls, value: str) -> str:
        if not _EXCHANGE_ID.match(value):
            raise ValueError(
                f"{value!r} is not an exchange id: use 'paper' or a ccxt id such as 'binance'"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and (problem := base_url_problem(value)) is not None:
            raise ValueError(problem)
        return value

    @model_validator(mode="after")
    def _one_source_each(self) -> LiveAccount:
        for name, required in (("api_key", True), ("secret", True), ("passphrase", False)):
            env, file = getattr(self, f"{name}_env"), getattr(self, f"{name}_file")
            if env is not None and file is not None:
                raise ValueError(f"give either {name}_env or {name}_file, not both")
            if required and env is None and file is None:
                raise ValueError(
                    f"live account needs {name}_env (an environment variable name) "
                    f"or {name}_file (a file path)"
                )
        return self

    @property
    def is_paper(self) -> bool:
        return False


def _account_tag(value: Any) -> str | None:
    exchange = (
        value.get("exchange") if isinstance(value, dict) else getattr(value, "exchange", None)
    )
    if not isinstance(exchange, str):
        return None
    return "<paper>" if exchange == "paper" else "<live>"


AccountConfig = Annotated[
    Annotated[PaperAccount, Tag("<paper>")] | Annotated[LiveAccount, Tag("<live>")],
    Discriminator(
        _account_tag,
        custom_error_type="missing_exchange",
        custom_error_message="'exchange' is required: 'paper' or a ccxt exchange id",
    ),
]


# --- users ------------------------------------------------------------------------------------


class UserConfig(StrictModel):
    name: Name
    email: str
    accounts: list[AccountConfig] = Field(default_factory=list)
    strategies: list[StrategyConfig] = Field(default_factory=list)
    notifications: list[NotificationConfig] = Field(default_factory=list)  # config.notify_schema

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        problem = email_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    def account(self, name: str) -> PaperAccount | LiveAccount | None:
        return next((a for a in self.accounts if a.name == name), None)


class ServiceConfig(StrictModel):
    database: DatabaseConfig = Field(default_factory=DatabaseConfig)
    master_key_file: SecretFilePath | None = None
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    paper: PaperConfig = Field(default_factory=PaperConfig)
    web: WebConfig = Field(default_factory=WebConfig)
    retention: RetentionConfig = Field(default_factory=RetentionConfig)
    markets: dict[str, MarketConfig] = Field(default_factory=dict)
    users: list[UserConfig] = Field(default_factory=list)

    # Where the config came from, so that later errors (credentials) can point into the file.
    _source_file: Path | None = PrivateAttr(default=None)
    _source_lines: Mapping[tuple[str | int, ...], int] = PrivateAttr(default_factory=dict)

    @property
    def source_file(self) -> Path | None:
        return self._source_file

    def source_line(self, path: tuple[str | int, ...]) -> int | None:
        """1-based line of `path` (or its nearest ancestor) in the source file, when known."""
        for end in range(len(path), -1, -1):
            line = self._source_lines.get(path[:end])
            if line is not None:
                return line
        return None

    def market_rules(self, symbol: str) -> MarketRules | None:
        market = self.markets.get(symbol)
        return market.rules(symbol) if market is not None else None
