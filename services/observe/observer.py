"""The Observer: what `/health/live`, `/health/ready` and `/metrics` read (`web.observability`).

`live()` answers from this process alone (it is up) and never touches the database or the
actors, so it cannot hang. `ready()` checks, each within the caller's budget:

- database: a trivial read on a fresh connection of its own (`persistence.probe`: why not the
  service's pool nor its writer is said there), run on a thread of its own;
- actors: a bounded ask of the root supervisor (`CheckTree`): it answers at all (its thread is
  not stuck), its user actors are alive (all it supervises), its repository writer is alive;
- each market's feed: down, or stale (no price for `stale_after` seconds);
- each venue's circuit breaker that the service's account clients trade through.

The database check and the ask run concurrently, so `ready` returns within about `timeout_s`
whatever hangs. Build one with `observer_for(service)` from a running `app.bootstrap.Service`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Protocol

import pykka
import structlog
from prometheus_client import CollectorRegistry, generate_latest

from actors.engine_market import PRICE_MAX_AGE
from actors.feed_link import FeedLink
from actors.messages import CheckTree, TreeHealth
from actors.telemetry import Telemetry
from config.secrets import resolved_url
from domain.errors import MartingaleError
from persistence.probe import DatabaseProbe
from persistence.records import ActualState
from persistence.repository import Repository
from services.observe.bounded import BoundedCall, NoAnswer
from services.observe.checks import (
    CheckResult,
    breaker_checks,
    feed_checks,
    scrub,
    tree_check,
)
from services.observe.metrics import ServiceCollector

log = structlog.get_logger(__name__)

READY_TIMEOUT_S = 2.0
SCRAPE_DB_TIMEOUT_S = 2.0


@dataclass(frozen=True, slots=True, kw_only=True)
class ReadyReport:
    ok: bool
    checks: dict[str, CheckResult]

    def as_dict(self) -> dict[str, Any]:
        """The JSON body of `/health/ready`."""
        return {
            "status": "ready" if self.ok else "not ready",
            "checks": {
                name: {"ok": check.ok, "detail": check.detail}
                for name, check in self.checks.items()
            },
        }


class Observer:
    def __init__(
        self,
        *,
        telemetry: Telemetry,
        root: Callable[[], pykka.ActorRef[Any] | None],
        database: Callable[[], None],
        repository: Callable[[], Repository | None],
        stale_after: float = PRICE_MAX_AGE,
        ready_timeout: float = READY_TIMEOUT_S,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        """`root` and `repository` are getters: the service builds them when it starts, and an
        observer may be made before that. `database`: returns if the database answers, raises
        otherwise (`DatabaseProbe.check`). `stale_after`: seconds without a price after which a
        feed is stale; by default the age past which engines no longer size orders from it.
        `ready_timeout`: the seconds `ready()` may take by default."""
        self._ready_timeout = ready_timeout
        self._telemetry = telemetry
        self._root = root
        self._repository = repository
        self._stale_after = stale_after
        self._clock = clock
        self._failing: set[str] = set()  # what the last look found failing (logged on change)
        self._database = BoundedCall(database, name="health-database")
        self._counts = BoundedCall(self._count_strategies, name="metrics-strategies")
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(
            ServiceCollector(telemetry, strategies=self._strategies, clock=clock)
        )

    # --- the dashboard's prices ----------------------------------------------------------

    def price(self, venue: str, symbol: str) -> Decimal | None:
        """The market's last price in this service, None when it has no feed for it."""
        link = self._link(venue, symbol)
        return link.last_price() if link is not None else None

    def price_history(self, venue: str, symbol: str) -> list[tuple[datetime, Decimal]]:
        link = self._link(venue, symbol)
        return link.price_history() if link is not None else []

    def _link(self, venue: str, symbol: str) -> FeedLink | None:
        pool = self._telemetry.feeds
        return None if pool is None else pool.link(venue, symbol)

    # --- /health/live --------------------------------------------------------------------

    def live(self) -> dict[str, str]:
        return {"status": "ok"}

    # --- /health/ready -------------------------------------------------------------------

    def ready(self, *, timeout_s: float | None = None) -> ReadyReport:
        timeout_s = self._ready_timeout if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        database = self._database.begin()  # runs while the root is asked
        checks = {"actors": self._tree(timeout_s)}
        checks["database"] = self._database_result(database, deadline - time.monotonic())
        pool = self._telemetry.feeds
        links = pool.links() if pool is not None else []
        checks.update(feed_checks(links, now=self._clock(), stale_after=self._stale_after))
        checks.update(breaker_checks(self._telemetry.breakers))
        report = ReadyReport(ok=all(c.ok for c in checks.values()), checks=checks)
        self._log_change(report)
        return report

    def _log_change(self, report: ReadyReport) -> None:
        """A probe every few seconds: log when what fails changes, not at every look."""
        failing = {name for name, check in report.checks.items() if not check.ok}
        if failing == self._failing:
            return
        self._failing = failing
        if failing:
            details = {name: report.checks[name].detail for name in sorted(failing)}
            log.warning("health: not ready", failing=details)
        else:
            log.info("health: ready")

    def _tree(self, timeout_s: float) -> CheckResult:
        root = self._root()
        if root is None:
            return CheckResult(ok=False, detail="the actor tree is not started")
        try:
            health = root.ask(CheckTree(), timeout=max(0.05, timeout_s))
        except pykka.ActorDeadError:
            return CheckResult(ok=False, detail="the root supervisor is not running")
        except pykka.Timeout:
            return CheckResult(
                ok=False, detail=f"the root supervisor did not answer within {timeout_s:.1f}s"
            )
        if not isinstance(health, TreeHealth):
            return CheckResult(ok=False, detail="the root supervisor gave no health answer")
        return tree_check(health)

    def _database_result(self, run: Any, timeout_s: float) -> CheckResult:
        try:
            run.result(max(0.05, timeout_s))
        except NoAnswer as exc:
            return CheckResult(ok=False, detail=f"the database gave no answer in {exc.waited:.1f}s")
        except MartingaleError as exc:
            return CheckResult(ok=False, detail=scrub(str(exc)))
        except Exception as exc:  # a bug in the probe: say what, not the traceback
            return CheckResult(ok=False, detail=f"the check failed: {type(exc).__name__}")
        return CheckResult(ok=True, detail="answered")

    # --- /metrics ------------------------------------------------------------------------

    def metrics(self) -> bytes:
        """The Prometheus text exposition of this service's registry."""
        return generate_latest(self.registry)

    def _count_strategies(self) -> dict[ActualState, int] | None:
        repo = self._repository()
        return repo.count_strategies_by_state() if repo is not None else None

    def _strategies(self) -> dict[ActualState, int] | None:
        try:
            return self._counts(SCRAPE_DB_TIMEOUT_S)
        except (NoAnswer, MartingaleError) as exc:
            log.warning("metrics: strategies not counted", error=scrub(str(exc)))
            return None


class ServiceView(Protocol):
    """What the web reads of the trading service: an `Observer` when the web runs in the
    service's process, `app.web_child`'s view across the bridge when it runs in its own."""

    def price(self, venue: str, symbol: str) -> Decimal | None: ...
    def price_history(self, venue: str, symbol: str) -> list[tuple[datetime, Decimal]]: ...
    def live(self) -> dict[str, str]: ...
    def ready(self, *, timeout_s: float | None = None) -> ReadyReport: ...
    def metrics(self) -> bytes: ...


class ObservedService(Protocol):
    """What `observer_for` reads of `app.bootstrap.Service` (services may not import app)."""

    telemetry: Telemetry

    @property
    def config(self) -> Any: ...
    @property
    def root(self) -> pykka.ActorRef[Any] | None: ...
    @property
    def repo(self) -> Repository | None: ...


def observer_for(service: ObservedService, **options: Any) -> Observer:
    """The Observer of a `Service`, made before or after `service.start()`. `options`: the
    Observer's keyword options (`stale_after`, `ready_timeout`, `clock`)."""
    probe = DatabaseProbe(resolved_url(service.config))
    return Observer(
        telemetry=service.telemetry,
        root=lambda: service.root,
        database=probe.check,
        repository=lambda: service.repo,
        **options,
    )
