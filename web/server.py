"""Serve the app with uvicorn on a thread of the service's process.

`martingale run` starts it after the actor tree is up and stops it first on the way down, so
no request can reach services/ while the tree is shutting down. uvicorn's own signal handlers
are not installed: the service owns SIGTERM/SIGINT.
"""

from __future__ import annotations

import threading
import time

import structlog
import uvicorn
from fastapi import FastAPI

from domain.errors import ConfigurationError

log = structlog.get_logger(__name__)

START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0


class _Server(uvicorn.Server):
    def install_signal_handlers(self) -> None:  # the service handles signals
        return


class WebServer:
    def __init__(
        self,
        app: FastAPI,
        *,
        host: str,
        port: int,
        setting: str = "web",
        keep_alive_s: int = 5,
        limit_concurrency: int = 256,
    ) -> None:
        """`setting`: the config section named when it cannot listen (`paper.serve` for the
        paper venue's server). `keep_alive_s`: how long an idle connection is kept open
        (uvicorn's default, 5 s, suits browsers; a client that calls every few seconds on a
        pooled connection needs more, or it sends on a connection being closed)."""
        self.host = host
        self.port = port
        self._setting = setting
        config = uvicorn.Config(
            app,
            host=host,
            port=port,
            log_config=None,  # structlog's handlers (config.logging) format uvicorn's records
            access_log=False,
            lifespan="on",  # the app's lifespan sizes its thread pool
            limit_concurrency=limit_concurrency,  # beyond: 503 at once, not an ever longer queue
            timeout_keep_alive=keep_alive_s,
            timeout_graceful_shutdown=5,
        )
        self._server = _Server(config)
        self._thread: threading.Thread | None = None

    @property
    def bound_port(self) -> int:
        """The port actually listened on (port 0 asks the OS for a free one)."""
        for server in self._server.servers:
            for sock in server.sockets:
                return int(sock.getsockname()[1])
        return self.port

    def start(self) -> None:
        self._thread = threading.Thread(target=self._server.run, name="web", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + START_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive():
                raise ConfigurationError(
                    f"the web server could not listen on {self.host}:{self.port} "
                    "(in use, or not an address of this machine)",
                    field=f"{self._setting}.port",
                )
            if time.monotonic() > deadline:
                self.stop()
                raise ConfigurationError(
                    "the web server did not start in time", field=self._setting
                )
            time.sleep(0.02)
        log.info("web server listening", host=self.host, port=self.bound_port)

    def stop(self) -> None:
        if self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(STOP_TIMEOUT_S)
        self._thread = None
        log.info("web server stopped")
