"""bench_api.py's API served from a process of its own (`--web-process`).

The child (`bench_api.py web-server`, which calls `web_server`) builds the app the service's
WebPart builds, minus the parts the bench's routes do not use (exchange clients, vault,
observer), on its own database engine. The parent (`WebProcess`) starts it, reads its port,
measures its CPU and stops it.
"""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

from config.logging import configure_logging
from persistence.database import make_engine
from persistence.sql_repository import SqlRepository
from web.app import create_app
from web.context import WebContext
from web.server import WebServer

BENCH_API = Path(__file__).with_name("bench_api.py")
WEB_START_TIMEOUT_S = 60.0
WEB_STOP_TIMEOUT_S = 20.0


def web_server(url: str, port: int, workers: int, nice: int) -> None:
    """The API alone in a process: only the database is shared with the service (the routes the
    bench polls read rows; no exchange, vault or observer is needed). Prints the bound port on
    stdout for the parent, then serves until its stdin closes: the parent closes it to stop us,
    and a parent that dies closes it too, so no server outlives the bench. `nice`: a lower CPU
    priority than the engines', a lever only an API in its own process has."""
    os.nice(nice)
    configure_logging(format="json", level="warning", stream=sys.stderr)
    engine = make_engine(url)
    server = WebServer(
        create_app(WebContext(repo=SqlRepository(engine), workers=workers)),
        host="127.0.0.1",
        port=port,
    )
    server.start()
    try:
        print(server.bound_port, flush=True)
        sys.stdin.read()
    finally:
        server.stop()
        engine.dispose()


class WebProcess:
    """The parent's handle on `bench_api.py web-server`: starts it, reads its port, stops it."""

    def __init__(self, work: Path, url: str, workers: int, nice: int) -> None:
        url_file = write_secret(work / "database-url", url)  # a MySQL URL may hold a password
        self._log = (work / "web.log").open("w", encoding="utf-8")
        self.proc = subprocess.Popen(
            [
                *(sys.executable, str(BENCH_API), "web-server", "--url-file", str(url_file)),
                *("--port", "0", "--workers", str(workers), "--web-nice", str(nice)),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._log,
            text=True,
        )
        self.port = self._read_port()

    def _read_port(self) -> int:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], WEB_START_TIMEOUT_S)
        line = self.proc.stdout.readline().strip() if ready else ""
        if not line.isdigit():
            self.stop()
            raise SystemExit(
                f"the web process did not start (exit {self.proc.returncode}); see web.log"
            )
        return int(line)

    def cpu_s(self) -> float:
        return process_cpu_s(self.proc.pid)

    def stop(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=WEB_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=WEB_STOP_TIMEOUT_S)
        self._log.close()


def process_cpu_s(pid: int) -> float:
    """User + system CPU seconds of a live process so far (Linux: /proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_secret(path: Path, secret: str) -> Path:
    """A secret for a child process, in a file only we can read (not on its command line)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(secret)
    return path
