"""The schema: SQLAlchemy tables. These classes never leave persistence/.

Indexes follow the queries the service makes: open orders of a strategy (strategy, state),
strategies of a user (user), recent events of a strategy (strategy, id), audit rows by time and
by user. Users are soft-deleted (`deleted_at`) so trading history stays joined to its owner.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from persistence.types import BigId, LongText, Money, UTCDateTime

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

NAME = 64
EMAIL = 254  # RFC 5321 path limit
SYMBOL = 32
STATE = 16
URL = 255
DEPLOYMENT_TAG = 4
HASH = 255
PROCESS_ID = 36  # a UUID's text


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(NAME), unique=True)
    email: Mapped[str | None] = mapped_column(String(EMAIL), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # "admin" manages users; "user" manages only what it owns.
    role: Mapped[str] = mapped_column(String(STATE), default="user", server_default="user")
    # argon2id PHC string (parameters and salt included); None: no password, no login.
    password_hash: Mapped[str | None] = mapped_column(String(HASH), nullable=True)
    # Who manages the user: "config" (a config file's sync, which stops the strategies of a
    # user the file no longer names) or "api" (the REST API or `martingale users add`: a
    # config file's sync leaves it alone).
    source: Mapped[str] = mapped_column(String(STATE), default="config", server_default="config")
    # Set by an admin: no login, token or session works and its strategies are stopped, until
    # an admin enables the user again (NULL). Unlike `deleted_at`, the user stays listed.
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ApiToken(Base):
    """A bearer credential: an API token ("api") or a dashboard session ("session").

    Only the SHA-256 of the token is stored (tokens are 256 random bits, so a fast hash is
    enough; a password needs argon2 because it is guessable, a token is not). `prefix` is the
    first characters of the token, shown so its owner can tell tokens apart.
    """

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user_id_kind", "user_id", "kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(STATE))
    name: Mapped[str] = mapped_column(String(NAME))
    token_hash: Mapped[str] = mapped_column(String(NAME), unique=True)
    prefix: Mapped[str] = mapped_column(String(STATE))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Account(Base):
    """An exchange account; credentials only as AES-GCM ciphertext plus harmless metadata."""

    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(NAME))
    exchange: Mapped[str] = mapped_column(String(NAME))
    # The venue environment (see domain.venues): the testnet and the live market of one
    # exchange are different markets, with different prices, orders and keys.
    sandbox: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")
    base_url: Mapped[str | None] = mapped_column(String(URL), nullable=True)
    credentials_ciphertext: Mapped[str | None] = mapped_column(Text, nullable=True)
    credentials_key_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    credentials_fingerprint: Mapped[str | None] = mapped_column(String(NAME), nullable=True)
    credentials_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    credentials_rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Strategy(Base):
    __tablename__ = "strategies"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"), index=True)
    name: Mapped[str] = mapped_column(String(NAME))
    symbol: Mapped[str] = mapped_column(String(SYMBOL))
    params: Mapped[str] = mapped_column(Text)
    desired_state: Mapped[str] = mapped_column(String(STATE))
    stop_mode: Mapped[str | None] = mapped_column(String(STATE), nullable=True)
    # The `state:` the config file last applied: a re-sync re-applies the file's state only
    # when the file's value itself changed, so it does not undo a later `strategy pause`.
    config_state: Mapped[str | None] = mapped_column(String(STATE), nullable=True)
    actual_state: Mapped[str] = mapped_column(String(STATE))
    restart_count: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    last_heartbeat: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Deferred: the machine snapshot is large and only `load_engine_state` needs it; every
    # other read and the per-step `strategy_row` would otherwise load it each time.
    snapshot: Mapped[str | None] = mapped_column(LongText, nullable=True, deferred=True)
    version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Bumped by every runtime command (pause, resume, stop...), even one that repeats the
    # desired state: the supervisor's poll sees each command, e.g. a resume of a finished
    # strategy whose desired state was already "running".
    command_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # Closed cycles and the sum of their profit, kept by every write that closes a cycle
    # (`sql_trading.refresh_totals`), so status reads one row per strategy, not its history.
    cycles_closed: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    realized_profit: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    # Soft delete (only of a stopped strategy): hidden from lists, history kept.
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Cycle(Base):
    __tablename__ = "cycles"
    __table_args__ = (
        UniqueConstraint("strategy_id", "number"),
        # Covers the status totals and the profit summary (closed cycles' profit by day)
        # without reading the rows.
        Index(None, "strategy_id", "status", "closed_at", "realized_profit"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id"))
    number: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(STATE))
    base_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    average_price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    cost: Mapped[Decimal] = mapped_column(Money)
    realized_profit: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    safety_orders_filled: Mapped[int] = mapped_column(Integer, default=0)
    # What a finished cycle handed to the next one (dust, or the position a stop kept), at
    # its cost: the cycle's own amount/cost stay its own figures.
    carried_amount: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    carried_cost: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    received: Mapped[Decimal] = mapped_column(Money, default=Decimal(0), server_default="0")
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account_id", "client_order_id"),
        Index(None, "strategy_id", "state"),
        Index(None, "state", "strategy_id"),  # every strategy's live orders (status of all)
        Index(None, "strategy_id", "cycle"),
        Index(None, "strategy_id", "id"),  # the API's order pages, newest first
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id"))
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    cycle: Mapped[int] = mapped_column(Integer)
    leg: Mapped[str] = mapped_column(String(STATE))
    client_order_id: Mapped[str] = mapped_column(String(NAME))
    exchange_order_id: Mapped[str | None] = mapped_column(String(NAME), nullable=True)
    symbol: Mapped[str] = mapped_column(String(SYMBOL))
    side: Mapped[str] = mapped_column(String(STATE))
    type: Mapped[str] = mapped_column(String(STATE))
    price: Mapped[Decimal | None] = mapped_column(Money, nullable=True)
    amount: Mapped[Decimal] = mapped_column(Money)
    filled: Mapped[Decimal] = mapped_column(Money)
    cost: Mapped[Decimal] = mapped_column(Money)
    state: Mapped[str] = mapped_column(String(STATE))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Fill(Base):
    """A trade; (account, symbol, trade id) is unique so a replayed fill is never stored twice.

    The symbol is part of the key because exchanges (binance) number trades per market: one
    account's ETH/USDT and BTC/USDT can both have trade 17.
    """

    __tablename__ = "fills"
    __table_args__ = (
        UniqueConstraint("account_id", "symbol", "trade_id"),
        Index(None, "strategy_id", "cycle"),
        Index(None, "strategy_id", "id"),  # the API's fill pages
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id"))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("orders.id"), nullable=True)
    cycle: Mapped[int | None] = mapped_column(Integer, nullable=True)
    trade_id: Mapped[str] = mapped_column(String(NAME))
    client_order_id: Mapped[str] = mapped_column(String(NAME))
    exchange_order_id: Mapped[str | None] = mapped_column(String(NAME), nullable=True)
    symbol: Mapped[str] = mapped_column(String(SYMBOL))
    side: Mapped[str] = mapped_column(String(STATE))
    price: Mapped[Decimal] = mapped_column(Money)
    amount: Mapped[Decimal] = mapped_column(Money)
    fee: Mapped[Decimal] = mapped_column(Money)
    fee_currency: Mapped[str | None] = mapped_column(String(STATE), nullable=True)
    traded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Event(Base):
    """The append-only journal of one strategy: codec JSON of a registered dataclass."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "strategy_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id"))
    type: Mapped[str] = mapped_column(String(NAME))
    payload: Mapped[str] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index(None, "at"),
        Index(None, "user_id", "at"),
        Index(None, "strategy_id", "id"),  # a strategy's logs in the API
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    level: Mapped[str] = mapped_column(String(STATE))
    event: Mapped[str] = mapped_column(String(NAME))
    message: Mapped[str] = mapped_column(Text)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    strategy_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    data: Mapped[str] = mapped_column(Text)


class NotificationTarget(Base):
    """Where a user's notifications go (issue 16): an apprise URL, stored only as AES-GCM
    ciphertext bound to its user and name (like an account's key), and the events it wants."""

    __tablename__ = "notification_targets"
    __table_args__ = (UniqueConstraint("user_id", "name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(NAME))
    # The URL's scheme ("tgram", "discord", "json"...): all of it that may be shown.
    scheme: Mapped[str] = mapped_column(String(NAME))
    url_ciphertext: Mapped[str] = mapped_column(Text)
    url_key_version: Mapped[int] = mapped_column(Integer)
    events: Mapped[str] = mapped_column(String(HASH))  # sorted event names, comma separated
    enabled: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")
    # "config": a config file's sync manages it; "api": the REST API's.
    source: Mapped[str] = mapped_column(String(STATE), default="api", server_default="api")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Deployment(Base):
    """One row: this database's deployment tag, made by migration 0004.

    Every client order id carries it, so a second deployment (another database) trading on the
    same exchange account never takes our orders for its own, nor reuses our ids.
    """

    __tablename__ = "deployment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    tag: Mapped[str] = mapped_column(String(DEPLOYMENT_TAG))


class SignalKey(Base):
    """A strategy's webhook signal credentials (issue 16): the SHA-256 of the URL token (the
    token itself is shown once and stored nowhere) and the shared secret as vault ciphertext
    bound to the strategy (the web must read it back to check an HMAC, so no hash will do)."""

    __tablename__ = "signal_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id"), unique=True)
    token_hash: Mapped[str] = mapped_column(String(NAME), unique=True)
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    secret_key_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Signal(Base):
    """A webhook signal the web accepted; the engine of its strategy consumes it. The nonce is
    unique per strategy: a replayed signal is refused. Pruned with the events."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("strategy_id", "nonce"),
        Index(None, "consumed_at", "strategy_id"),  # the unconsumed ones, polled by the service
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    strategy_id: Mapped[int] = mapped_column(ForeignKey("strategies.id"))
    nonce: Mapped[str] = mapped_column(String(NAME))
    signal_at: Mapped[datetime] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class ServiceProcess(Base):
    """A service process sharing a MySQL database with others (issue 17, DESIGN "Beyond one
    process"): its id (a UUID made at start), where it runs, and its heartbeat. The live ones
    (a heartbeat within the lease time) divide the users between them; a row is deleted when
    its process stops gracefully, and an expired one by whichever process sees it."""

    __tablename__ = "service_processes"

    id: Mapped[str] = mapped_column(String(PROCESS_ID), primary_key=True)
    host: Mapped[str] = mapped_column(String(NAME))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)


class UserLease(Base):
    """Which process drives a user's strategies, until when, and the fencing token of that
    claim: every claim of the user adds one, and a write that matters commits only while the
    row still holds its writer's process and token, unexpired (persistence.leases)."""

    __tablename__ = "user_leases"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(PROCESS_ID), nullable=True)
    token: Mapped[int] = mapped_column(BigId, default=0, server_default="0")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


# Core handles for bulk statements (executemany), typed as the Tables they are.
EVENTS = cast(Table, Event.__table__)
AUDIT_LOG = cast(Table, AuditLog.__table__)
STRATEGIES = cast(Table, Strategy.__table__)
ACCOUNTS = cast(Table, Account.__table__)
USERS = cast(Table, User.__table__)
API_TOKENS = cast(Table, ApiToken.__table__)
ORDERS = cast(Table, Order.__table__)
FILLS = cast(Table, Fill.__table__)
CYCLES = cast(Table, Cycle.__table__)
SIGNAL_KEYS = cast(Table, SignalKey.__table__)
SIGNALS = cast(Table, Signal.__table__)
NOTIFICATION_TARGETS = cast(Table, NotificationTarget.__table__)
SERVICE_PROCESSES = cast(Table, ServiceProcess.__table__)
USER_LEASES = cast(Table, UserLease.__table__)
