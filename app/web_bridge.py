"""The channel between `martingale run` and its web process (`app.web_process`).

The web process serves the API and the dashboard from the database, as the CLI would, but a
few answers exist only in the trading process: the feeds' prices, `/health/ready` (the actor
tree, the feeds, the breakers), `/metrics`, and the paper venue (its balances, tickers and
market rules, and opening an account created through the API). `BridgeServer` answers those
questions in the trading process; `BridgeClient` asks them from the web process.

Transport: `multiprocessing.connection` on a Unix socket in a directory only this user can
enter (0700), with a 32-byte random key that both ends prove with its HMAC challenge before
anything is unpickled. The challenge runs on the connection's own thread, not in `accept()`: a
peer that connects and never answers holds up only itself. The key reaches the web process
through its stdin pipe, never its command line or environment. Each web thread keeps one
connection of its own; each connection is served by one thread here, which answers only the
calls named in the server's table.

A call that raises a `MartingaleError` here raises the same error there (the API maps it to its
status as usual); anything else is logged here and reaches the web as `ExchangeUnavailable`,
without its text. A call the service does not answer in time raises `ExchangeUnavailable`.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import tempfile
import threading
from collections.abc import Callable, Mapping
from multiprocessing import AuthenticationError
from multiprocessing.connection import (
    Client,
    Connection,
    Listener,
    answer_challenge,
    deliver_challenge,
)
from pathlib import Path
from typing import Any

import structlog

from domain.errors import ExchangeUnavailable, MartingaleError

log = structlog.get_logger(__name__)

CALL_TIMEOUT_S = 10.0


class BridgeServer:
    """Serves `handlers` (call name -> function) to the web process; `start()`, then `close()`
    once the web process has stopped."""

    def __init__(self, handlers: Mapping[str, Callable[..., Any]], *, authkey: bytes) -> None:
        self._handlers = dict(handlers)
        self._authkey = authkey
        self._dir = Path(tempfile.mkdtemp(prefix="martingale-web-"))  # mode 0700
        self.address = str(self._dir / "bridge")
        # No authkey here: Listener.accept() would run the handshake itself, on the one thread
        # that accepts; `_serve` runs it on the connection's thread instead.
        self._listener = Listener(self.address, family="AF_UNIX")
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, name="web-bridge", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._closed.set()
        if self._thread.is_alive():
            # Wake the accept() the thread is blocked in: it sees _closed and returns.
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as wake:
                wake.connect(self.address)
            self._thread.join(5.0)
        self._listener.close()
        shutil.rmtree(self._dir, ignore_errors=True)

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn = self._listener.accept()
            except OSError:
                if self._closed.is_set():
                    return
                continue
            if self._closed.is_set():
                conn.close()
                return
            threading.Thread(
                target=self._serve, args=(conn,), name="web-bridge-conn", daemon=True
            ).start()

    def _serve(self, conn: Connection) -> None:
        with conn:
            try:  # the peer proves it holds the key, and we prove it to the peer
                deliver_challenge(conn, self._authkey)
                answer_challenge(conn, self._authkey)
            except (OSError, EOFError, AuthenticationError) as exc:
                log.warning("web bridge: a connection was refused", error=type(exc).__name__)
                return
            while not self._closed.is_set():
                try:
                    name, args = conn.recv()
                except (EOFError, OSError):  # the web thread or process went away
                    return
                try:
                    conn.send(self._answer(name, args))
                except (OSError, ValueError):
                    return

    def _answer(self, name: str, args: tuple[Any, ...]) -> tuple[str, Any]:
        handler = self._handlers.get(name)
        if handler is None:
            log.error("web bridge: unknown call", call=name)
            return ("error", ExchangeUnavailable(f"the service has no answer for {name!r}"))
        try:
            return ("ok", handler(*args))
        except MartingaleError as exc:
            return ("error", exc)
        except Exception:
            log.exception("web bridge: a call failed", call=name)
            return ("error", ExchangeUnavailable(f"the service failed to answer {name!r}"))


class BridgeClient:
    """The web process's end: `call(name, *args)` returns the service's answer or raises its
    error. Safe from any thread (one connection per thread, made on first use)."""

    def __init__(self, address: str, authkey: bytes, *, timeout: float = CALL_TIMEOUT_S) -> None:
        self._address = address
        self._authkey = authkey
        self._timeout = timeout
        self._local = threading.local()

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"BridgeClient(address={self._address!r})"

    def call(self, name: str, *args: Any, timeout: float | None = None) -> Any:
        wait = self._timeout if timeout is None else timeout
        try:
            conn = self._connection()
            conn.send((name, args))
            answered = conn.poll(wait)
            if answered:
                kind, value = conn.recv()
        except (OSError, EOFError, AuthenticationError):
            self._drop()
            raise ExchangeUnavailable("the trading service is not reachable") from None
        if not answered:
            self._drop()  # a late answer would be read as the next call's
            raise ExchangeUnavailable(f"the trading service did not answer within {wait:.0f}s")
        if kind == "error":
            raise value
        return value

    def _connection(self) -> Connection:
        conn: Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = Client(self._address, family="AF_UNIX", authkey=self._authkey)
            self._local.conn = conn
        return conn

    def _drop(self) -> None:
        conn: Connection | None = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            conn.close()
