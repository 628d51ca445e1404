"""The real service for browser tests: `martingale run` as a process in a temp dir, on the paper
exchange and SQLite, its web on a free loopback port with plain-http session cookies.

Two users, each with one paper account ("main") and one strategy on its own csv replay market
that swings +-2% every couple of seconds (tests/e2e/configs), so orders appear within a minute:
alice (admin) trades BTC/USDT as "btc", bob (plain user) SOL/USDT as "sol", and carol (plain
user, the one a test disables) SOL/USDT as "sol-c". Their roles and
passwords are set the way an operator sets them, with `martingale users` before the start.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from persistence.vault import generate_key
from tests.e2e.configs import market, user
from tests.e2e.harness import MARTINGALE, ServiceProcess, launch, write_config

# At least 12 characters (services.passwords); fixed, so a failing test's steps can be replayed
# by hand against a service started from the same config.
PASSWORDS = {
    "alice": "alice-browser-test",
    "bob": "bob-browser-test",
    "carol": "carol-browser-test",
}
ROLES = {"alice": "admin"}  # the others keep the role a new user gets: user


@dataclass(frozen=True, slots=True)
class LiveService:
    """A running `martingale run`: where to point the browser, and what it was started from."""

    base_url: str
    config: Path
    process: ServiceProcess

    @property
    def log(self) -> Path:
        return self.process.log

    def password(self, name: str) -> str:
        return PASSWORDS[name]

    def alive(self) -> bool:
        return self.process.proc.poll() is None


def write_live_config(workdir: Path) -> Path:
    """JSON logs at info: `ServiceProcess.web_port` reads the port from them."""
    return write_config(
        workdir / "service.yaml",
        {
            "database": {"url": f"sqlite:///{workdir / 'martingale.sqlite'}"},
            "paper": {"state_file": "var/paper.sqlite"},
            "logging": {"format": "json", "level": "info"},
            "web": {"host": "127.0.0.1", "port": 0, "secure_cookies": False},
            "markets": {
                "BTC/USDT": market(workdir, "BTC/USDT", "30000", 40, moving=True),
                "SOL/USDT": market(workdir, "SOL/USDT", "150", 34, moving=True),
            },
            "users": [
                user("alice", [("btc", "BTC/USDT", {})]),
                user("bob", [("sol", "SOL/USDT", {})]),
                user("carol", [("sol-c", "SOL/USDT", {})]),  # the one a test disables
            ],
        },
    )


def _cli(workdir: Path, args: list[str], stdin: str | None = None) -> None:
    done = subprocess.run(
        [MARTINGALE, *args],
        cwd=workdir,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"martingale {' '.join(args)} exited {done.returncode}:\n" + (
        done.stdout + done.stderr
    )


def start_live_service(workdir: Path) -> LiveService:
    """Onboard the config (creating the SQLite database), give the users their roles and
    passwords, then start the service and wait until its web server listens."""
    config = write_live_config(workdir)
    cfg = ["--config", str(config)]
    _cli(workdir, ["onboard", *cfg])
    for name, role in ROLES.items():
        _cli(workdir, ["users", "set-role", name, role, *cfg])
    for name, password in PASSWORDS.items():
        _cli(workdir, ["users", "set-password", name, *cfg], stdin=password + "\n")
    # a master key, so a test can add a live account with a key (sealed, never shown)
    env = {**os.environ, "MARTINGALE_MASTER_KEY": generate_key(1)}
    run = launch(["run", *cfg], cwd=workdir, log=workdir / "run.log", env=env)
    try:
        run.wait_started()
        port = run.web_port()
    except BaseException:
        stop_live_service(run)
        raise
    return LiveService(base_url=f"http://127.0.0.1:{port}", config=config, process=run)


def stop_live_service(run: ServiceProcess) -> int | None:
    """SIGTERM, as an operator stops it; killed if it does not stop in time, so no service
    outlives its tests. The exit status, or None when it had to be killed."""
    if run.proc.poll() is not None:
        return run.proc.returncode
    try:
        return run.stop(signal.SIGTERM, timeout=60)
    except subprocess.TimeoutExpired:
        run.proc.kill()
        run.proc.wait(timeout=30)
        return None
