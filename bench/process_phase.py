"""Phase 4 of bench_service.py (`--processes N`, issue 17): N service processes share one MySQL
database and one paper venue process, then one is killed with SIGKILL.

- One fleet of N x (users x per_user) strategies, onboarded into a fresh database (the --mysql
  database's name plus "_procs"), its paper accounts on ONE `martingale paper-venue` process
  (the same simulated markets; `paper.venue_url` and a token file in the services' config).
- N `bench_service.py serve` children (the Service as `martingale run` builds it) started at
  once: on MySQL each takes leases on its fair share of the users (`database.lease_seconds`,
  20 s unless --lease-seconds). Boot time = from the spawn until every strategy is held by a
  live process and has booted ("state: running" in the audit log) and heartbeated since its
  user's lease was claimed (`Probe.fleet(leased=True)`: the first process to start takes more
  than its share and hands the rest over). Then the spread of users per process
  (`user_leases` by owner), each child's RSS, threads and CPU while trading.
- After --seconds of trading the child holding most users gets SIGKILL. Failover time = from
  the kill until every strategy of the users it held (a) is running, its user's lease held by
  a survivor, (b) logged "state: running" after the kill and that claim and (c) heartbeats
  after them; also when the last of its leases was taken by a survivor. Then: no client order id twice in `orders`, nor on the venue; with
  --audit, after everything stopped, the venue's orders and fills against the database's
  (tests/e2e/harness `audit`; slow on a big fleet).
- Stop: SIGTERM to the survivors, then to the venue.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from sqlalchemy.engine import make_url

from bench.service_setup import FleetShape, Probe, ServedVenue, build, venue_config_text
from domain.errors import MartingaleError
from domain.secrets import Secret
from exchange.paper.remote import RemoteVenue

MB = 2**20
VENUE_START_S = 60.0
STOP_S = 180.0

Spawn = Callable[[Path, str], subprocess.Popen[bytes]]


def now() -> datetime:
    return datetime.now(UTC)


def processes_url(mysql: str) -> str:
    url = make_url(mysql)
    return url.set(database=f"{url.database}_procs").render_as_string(hide_password=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_venue(config: Path, venue: ServedVenue, work: Path) -> subprocess.Popen[bytes]:
    """`martingale paper-venue --config FILE` (app.cli's main), once it answers a ping."""
    log = work / "venue.log"
    with log.open("wb") as out:
        command = [sys.executable, "-m", "app.cli", "paper-venue", "--config", str(config)]
        proc = subprocess.Popen(command, cwd=work, stdout=out, stderr=subprocess.STDOUT)
    client = RemoteVenue(venue.url, Secret(venue.token_file.read_text(encoding="utf-8")))
    try:
        deadline = time.monotonic() + VENUE_START_S
        while time.monotonic() < deadline and proc.poll() is None:
            with contextlib.suppress(MartingaleError):
                client.ping()
                return proc
            time.sleep(0.2)
    finally:
        client.close()
    stop(proc, signal.SIGKILL)
    raise SystemExit(f"the paper venue did not start:\n{log.read_text(errors='replace')[-3000:]}")


def stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> tuple[Any, float]:
    """(exit status or "timeout (killed)", seconds taken)."""
    t0 = time.monotonic()
    if proc.poll() is not None:
        return proc.returncode, 0.0
    proc.send_signal(sig)
    try:
        return proc.wait(timeout=STOP_S), time.monotonic() - t0
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return "timeout (killed)", time.monotonic() - t0


class Sampler:
    """RSS (peak), threads and CPU of some processes over a window, read with psutil."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.cpu0 = {name: self._cpu(p) for name, p in self.procs.items()}
        self.peak = dict.fromkeys(self.procs, 0.0)
        self.machine0 = psutil.cpu_times()
        self.t0 = time.monotonic()
        self.sample()

    @staticmethod
    def _cpu(proc: psutil.Process) -> float:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            return math.nan
        return float(times.user + times.system)

    def sample(self) -> None:
        for name, proc in self.procs.items():
            with contextlib.suppress(psutil.Error):
                self.peak[name] = max(self.peak[name], proc.memory_info().rss / MB)

    def figures(self) -> dict[str, Any]:
        elapsed = time.monotonic() - self.t0
        out: dict[str, Any] = {}
        for name, proc in self.procs.items():
            try:
                rss, threads = proc.memory_info().rss / MB, proc.num_threads()
            except psutil.Error:
                rss, threads = math.nan, 0
            cpu = (self._cpu(proc) - self.cpu0[name]) / elapsed
            out[name] = {"rss_mb": rss, "peak_mb": self.peak[name], "threads": threads, "cpu": cpu}
        m0, m1 = self.machine0, psutil.cpu_times()
        idle = (m1.idle + getattr(m1, "iowait", 0.0)) - (m0.idle + getattr(m0, "iowait", 0.0))
        out["machine_cpu"] = (sum(m1) - sum(m0) - idle) / elapsed
        out["window_s"] = elapsed
        return out


def database_server() -> dict[str, int]:
    """The MariaDB/MySQL server on this machine, if any, for its CPU (read only)."""
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("mariadbd", "mysqld"):
            return {"database server": proc.pid}
    return {}


def spread(probe: Probe, names: dict[int, str]) -> dict[str, int]:
    """Users per child name (by pid), as `user_leases` says now; "(free)" for unheld ones."""
    pids = probe.process_pids()
    owners = probe.owners()
    count: Counter[str] = Counter()
    for owner in owners.values():
        pid = pids.get(owner) if owner is not None else None
        count[names.get(pid, f"pid {pid}") if pid is not None else "(free)"] += 1
    return dict(count)


def venue_orders(path: Path) -> tuple[int, list[tuple[str, str, int]]]:
    """(orders on the venue, (account, client order id, n) placed more than once), read-only."""
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        total = conn.execute("SELECT COUNT(*) FROM orders").fetchone()[0]
        repeated = conn.execute(
            "SELECT account, client_order_id, COUNT(*) FROM orders "
            "GROUP BY account, client_order_id HAVING COUNT(*) > 1"
        ).fetchall()
    return int(total), [(str(a), str(c), int(n)) for a, c, n in repeated]


def run_processes(
    args: argparse.Namespace, work: Path, one: FleetShape, spawn: Spawn
) -> dict[str, Any]:
    n = args.processes
    shape = replace(one, users=one.users * n)
    url = processes_url(args.mysql)
    token = work / "venue.token"
    token.write_text(secrets.token_hex(24), encoding="utf-8")
    token.chmod(0o600)
    venue = ServedVenue(port=free_port(), token_file=token, state_file=work / "venue.sqlite")
    venue_config = work / "venue.yaml"
    venue_config.write_text(venue_config_text(shape, venue), encoding="utf-8")
    out: dict[str, Any] = {"processes": n, "strategies": shape.strategies, "users": shape.users}
    t = time.monotonic()
    config_path, config = build(
        work, shape, url, venue=venue, lease_seconds=args.lease_seconds, name="fleet-procs.yaml"
    )
    out["build_s"] = time.monotonic() - t
    out["lease_s"] = config.database.lease_seconds
    out["live_poll_s"] = args.live_poll
    print(
        f"phase 4: onboarded {shape.strategies:,} strategies in {out['build_s']:.1f} s", flush=True
    )
    venue_proc = start_venue(venue_config, venue, work)
    children: dict[str, subprocess.Popen[bytes]] = {}
    probe = Probe(url)
    try:
        _measure(args, out, probe, venue_proc, children, lambda name: spawn(config_path, name))
        if "victim" in out:  # killed: check and stop, whether the failover completed or not
            _check_and_stop(args, out, probe, venue, venue_proc, children, url)
    finally:
        for proc in [*children.values(), venue_proc]:  # whatever is left after an error
            if proc.poll() is None:
                stop(proc, signal.SIGKILL)
        probe.close()
    return out


def _measure(
    args: argparse.Namespace,
    out: dict[str, Any],
    probe: Probe,
    venue_proc: subprocess.Popen[bytes],
    children: dict[str, subprocess.Popen[bytes]],
    spawn: Callable[[str], subprocess.Popen[bytes]],
) -> None:
    since = now()
    t0 = time.monotonic()
    for i in range(args.processes):
        children[f"p{i + 1}"] = spawn(f"service-p{i + 1}")
    names = {proc.pid: name for name, proc in children.items()}
    pids = {name: p.pid for name, p in children.items()}
    pids.update(venue=venue_proc.pid, **database_server())
    booting = Sampler(pids)  # CPU while booting

    def alive() -> bool:
        return venue_proc.poll() is None and all(p.poll() is None for p in children.values())

    done, fleet = probe.wait(
        since, heartbeat=True, timeout=args.boot_timeout, alive=alive, leased=True
    )
    out["boot_s"] = None if done is None else done - t0
    out["boot_fleet"] = fleet
    out["spread_boot"] = spread(probe, names)
    out["claims_boot"] = probe.lease_claims()
    if done is None:
        exited = {name: p.poll() for name, p in children.items() if p.poll() is not None}
        out["error"] = f"not all booted in {args.boot_timeout:.0f} s (exited: {exited}): {fleet}"
        return

    out["boot_window"] = booting.figures()
    sampler = Sampler(pids)
    w0 = now()
    while time.monotonic() - sampler.t0 < args.seconds:
        time.sleep(1.0)
        sampler.sample()
    out["window"] = sampler.figures()
    out["orders_window"] = probe.orders_between(w0, now())

    # --- SIGKILL the child holding most users ---------------------------------------------
    owners, registered = probe.owners(), probe.process_pids()
    ids = {names[pid]: process for process, pid in registered.items() if pid in names}
    held = Counter(owners.values())
    victim = max(children, key=lambda name: held.get(ids.get(name), 0))
    orphans = {user for user, owner in owners.items() if owner == ids.get(victim)}
    strategies = probe.strategies_of(orphans)
    out["victim"] = victim
    out["orphan_users"], out["orphan_strategies"] = len(orphans), len(strategies)
    claims = probe.lease_claims()
    survivors = {name: p for name, p in children.items() if name != victim}
    survivor_ids = {ids[name] for name in survivors if name in ids}
    since = now()
    children[victim].send_signal(signal.SIGKILL)
    children[victim].wait()  # reaped: its pid is gone for the siblings' check
    killed = time.monotonic()
    taken = booted = recovered = None
    fleet = probe.fleet(since, only=strategies, leased=True)
    while time.monotonic() - killed < args.boot_timeout:
        if taken is None:
            own = probe.owners()
            if all(own.get(user) in survivor_ids for user in orphans):
                taken = time.monotonic() - killed
        fleet = probe.fleet(since, only=strategies, leased=True)
        if booted is None and fleet.all_booted:
            booted = time.monotonic() - killed
        if fleet.all_recovered:
            recovered = time.monotonic() - killed
            break
        if venue_proc.poll() is not None or any(p.poll() is not None for p in survivors.values()):
            break
        time.sleep(1.0)
    out["failover_taken_s"], out["failover_booted_s"] = taken, booted
    out["failover_s"], out["failover_fleet"] = recovered, fleet
    time.sleep(3.0)
    out["after"] = probe.fleet(since, leased=True)
    out["spread_after"] = spread(probe, names)
    out["claims_failover"] = probe.lease_claims() - claims
    if recovered is None:
        exited = {name: p.poll() for name, p in survivors.items() if p.poll() is not None}
        out["error"] = f"failover not complete (survivors exited: {exited}): {fleet}"


def _check_and_stop(
    args: argparse.Namespace,
    out: dict[str, Any],
    probe: Probe,
    venue: ServedVenue,
    venue_proc: subprocess.Popen[bytes],
    children: dict[str, subprocess.Popen[bytes]],
    url: str,
) -> None:
    out["repeated_db"] = probe.repeated_order_ids()
    out["venue_orders"], out["repeated_venue"] = venue_orders(venue.state_file)
    out["stops"] = {name: stop(proc) for name, proc in children.items() if proc.returncode is None}
    out["venue_stop"] = stop(venue_proc)
    work = venue.state_file.parent
    logs = [*(work / f"service-{name}.log" for name in children), work / "venue.log"]
    out["log_events"] = log_events(logs)
    if args.audit:
        t = time.monotonic()
        out["audit"] = audit(venue.state_file, url)
        out["audit_s"] = time.monotonic() - t


def log_events(paths: list[Path]) -> Counter[tuple[str, str, str]]:
    """(log file, level, event) of every warning or error the processes logged (JSON lines)."""
    seen: Counter[tuple[str, str, str]] = Counter()
    for path in paths:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                seen[(path.stem, "?", line[:80])] += 1
                continue
            if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
                seen[(path.stem, str(entry["level"]), str(entry.get("event")))] += 1
    return seen


def audit(venue_file: Path, url: str) -> list[str]:
    """The end-to-end tests' strict ledger comparison, on the stopped venue's file; fills the
    venue made after the services stopped listening may be missing from the database."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from tests.e2e.harness import audit as compare  # noqa: PLC0415 - only with --audit
    from tests.e2e.harness import read_db, read_venue  # noqa: PLC0415

    return compare(read_venue(venue_file), read_db(url), unapplied_fills_ok=True)
