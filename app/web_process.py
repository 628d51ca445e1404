"""The REST API and the dashboard in a process of their own (`web.mode: process`, the default).

Why a process: with thousands of engine threads in the service, a request served on a thread
of the same interpreter waits for the GIL behind every tick's burst of engines, and every
request's CPU lengthens that burst. Issue 12's two bars pull against each other there (API p99
under 100 ms, tick-to-order p99 raised at most 20 % by 50 clients). In its own process the web
has its own interpreter; both bars were met together (`bench/bench_api.py`, README).

`WebProcess` is the service's part: `start(service)` opens the bridge (`app.web_bridge`),
starts `python -m app.web_child` and waits until it listens, raising ConfigurationError
("web.port") when it cannot; a watcher restarts the web if it dies (backoff from 1 s to 30 s)
until `stop()`, which closes the web's stdin (it stops gracefully), waits, and kills it only
if it hangs. The web reads and writes the database itself, as the CLI does; commands reach the
engines through the desired-state rows the service polls.
"""

from __future__ import annotations

import contextlib
import json
import os
import pickle
import secrets
import select
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from app.web_bridge import BridgeServer
from app.web_child import WebSpec
from app.web_part import WebPart
from config.schema import ServiceConfig
from domain.errors import ConfigurationError, ExchangeUnavailable, FatalError, MartingaleError
from exchange.paper import PaperExchange
from persistence.vault import Vault
from services.observe import observer_for

if TYPE_CHECKING:
    from app.bootstrap import Service, WebHost

log = structlog.get_logger(__name__)

START_TIMEOUT_S = 60.0  # the web imports FastAPI, SQLAlchemy and friends before it listens
STOP_TIMEOUT_S = 15.0
RESTART_DELAYS_S = (1.0, 2.0, 5.0, 10.0, 30.0)
STEADY_S = 60.0  # a web that ran this long before dying restarts after the first delay again

# What the web may ask of a paper account: reads. Orders are the engines' alone.
PAPER_READS = frozenset(
    {
        "load_market_rules",
        "fetch_ticker",
        "fetch_balances",
        "fetch_order",
        "fetch_open_orders",
        "fetch_fills",
        "key_report",
    }
)
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def bridge_handlers(service: Service) -> dict[str, Callable[..., Any]]:
    """The calls the web process may make, answered from this process."""
    observer = observer_for(service)

    def ready(timeout_s: float) -> Any:
        return observer.ready(timeout_s=timeout_s)

    def paper(account: str, method: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if method not in PAPER_READS:
            raise FatalError(f"the web process may not call {method!r} on a paper account")
        venue = service.venue
        if venue is None:
            raise ExchangeUnavailable("the service's paper exchange is not open")
        return getattr(PaperExchange(venue, account), method)(*args, **kwargs)

    return {
        "price": observer.price,
        "price_history": observer.price_history,
        "ready": ready,
        "metrics": observer.metrics,
        "paper": paper,
        "open_paper": service.open_paper_account,
    }


class WebProcess:
    def __init__(self, config: ServiceConfig, *, vault: Vault | None, port: int | None = None):
        self.config = config
        self.vault = vault
        self.port = config.web.port if port is None else port
        self.bound_port: int | None = None
        self._service: Service | None = None
        self._bridge: BridgeServer | None = None
        self._authkey = b""
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()  # _proc: the watcher replaces it, stop() ends it
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    def start(self, service: Service) -> None:
        self._service = service
        self._authkey = secrets.token_bytes(32)
        self._bridge = BridgeServer(bridge_handlers(service), authkey=self._authkey)
        self._bridge.start()
        try:
            self._proc = self._spawn()
        except BaseException:
            self._bridge.close()
            raise
        self._watcher = threading.Thread(target=self._watch, name="web-watch", daemon=True)
        self._watcher.start()

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc, self._proc = self._proc, None
        if proc is not None:
            _end(proc)
            log.info("web server stopped")
        if self._watcher is not None:
            self._watcher.join(STOP_TIMEOUT_S)
            self._watcher = None
        if self._bridge is not None:
            self._bridge.close()
            self._bridge = None

    # --- the child -----------------------------------------------------------------------

    def _spawn(self) -> subprocess.Popen[bytes]:
        """Start the web and wait until it listens; ConfigurationError when it cannot."""
        assert self._service is not None and self._bridge is not None
        spec = WebSpec(
            config=self.config,
            vault=self.vault,
            port=self.bound_port if self.bound_port is not None else self.port,
            bridge=self._bridge.address,
            bridge_key=self._authkey,
            paper=self._service.paper_opener is not None,
        )
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p
        )
        proc = subprocess.Popen(
            [sys.executable, "-m", "app.web_child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )
        assert proc.stdin is not None
        try:
            proc.stdin.write(pickle.dumps(spec))
            proc.stdin.flush()
        except OSError:
            pass  # it died at once: its answer (none) says so below
        answer = _first_line(proc)
        if "port" not in answer:
            _end(proc)
            field = answer.get("field") or "web"
            why = answer.get("error") or f"the web process did not start (exit {proc.returncode})"
            raise ConfigurationError(str(why).removeprefix(f"{field}: "), field=str(field))
        self.bound_port = int(answer["port"])
        return proc

    def _watch(self) -> None:
        """Restart the web whenever it exits on its own, until the service stops."""
        failures = 0
        while True:
            proc = self._proc
            if proc is None:
                return
            began = time.monotonic()
            code = proc.wait()
            if time.monotonic() - began > STEADY_S:
                failures = 0
            while True:
                if self._stopping.is_set() or self._service_stopping():
                    return
                delay = RESTART_DELAYS_S[min(failures, len(RESTART_DELAYS_S) - 1)]
                failures += 1
                log.error("web process exited; restarting it", exit_code=code, after_s=delay)
                if self._stopping.wait(delay):
                    return
                try:
                    fresh = self._spawn()
                except MartingaleError as exc:
                    log.error("web process did not restart", error=str(exc))
                    continue
                with self._lock:
                    if self._stopping.is_set():
                        _end(fresh)
                        return
                    self._proc = fresh
                self.restarts += 1
                break

    def _service_stopping(self) -> bool:
        return self._service is not None and self._service.stopping.is_set()


def _first_line(proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The web's one JSON line on stdout ({} if it says nothing in time or dies first)."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], START_TIMEOUT_S)
    line = proc.stdout.readline() if ready else b""
    try:
        answer = json.loads(line)
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _end(proc: subprocess.Popen[bytes]) -> None:
    """Close its stdin (it stops gracefully), then terminate, then kill, as it needs."""
    if proc.stdin is not None and not proc.stdin.closed:
        with contextlib.suppress(OSError):
            proc.stdin.close()
    for escalate in (None, proc.terminate, proc.kill):
        if escalate is not None:
            escalate()
        try:
            proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            continue
        break
    if proc.stdout is not None:
        proc.stdout.close()


def make_web(config: ServiceConfig, *, vault: Vault | None, port: int | None = None) -> WebHost:
    """The web part `config.web.mode` asks for."""
    if config.web.mode == "thread":
        return WebPart(config, vault=vault, port=port)
    return WebProcess(config, vault=vault, port=port)
