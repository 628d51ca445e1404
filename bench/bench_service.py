"""The whole service under load: 5,000 strategies (500 users x 10) in one process, paper exchange,
live GBM feeds, and a SIGKILL restart; then the same fan-out on bare pykka as the floor.

Run: .venv/bin/python bench/bench_service.py [--users 500 --per-user 10 --seconds 60 ...]
     (--mysql mysql+pymysql://root@127.0.0.1:3306/bench_service for MySQL instead of SQLite;
     with --processes 3, phase 4 too: the issue 17 bar, 3 processes holding 3 x the load)

Phases (one run, one temp dir):

1. In-process: generate the fleet's YAML, onboard it (`sync_config`), start `Service`, wait
   until every strategy has booted (loaded, reconciled, acted: "state: running" in the audit log),
   then trade for --seconds. Prints RSS, ticks/s, wakes/s, CPU and two latencies measured
   inside the engines by `actors.metrics`: tick-to-order, from the feed's publication of a price
   to the exchange's answer to the (last) order it caused, and tick-to-wake-done, to the end of
   the engine's handling of it (the commit of that answer included). Graceful stop.
2. Restart: `bench_service.py serve` (the same Service, as `martingale run` builds it) as a child
   process on the same database; once it is trading, wait --kill-after seconds, SIGKILL it, start
   it again. Restart time = from spawning the new process until every strategy whose desired
   state is running (a) has actual_state RUNNING, (b) wrote "state: running" to the audit log
   after the spawn (its engine loaded, reconciled and acted), and (c) has a heartbeat recorded
   after the spawn. Read from the database by a separate connection every second.
3. Floor: bench/pykka_floor.py in a fresh process with the same actor count and the mean fan-out
   per tick seen in phase 1; ratios service/floor.
4. With --processes N (MySQL): N service processes on a fresh database, N x the fleet, sharing
   one `martingale paper-venue` process; boot, spread, RSS and CPU per process, then a SIGKILL
   failover to the survivors (bench/process_phase.py). --processes-only skips phases 1-3.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psutil
import pykka

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from actors import metrics
from actors.feed import MarketFeedActor
from app.bootstrap import Service, Tuning
from bench.process_phase import run_processes
from bench.service_report import report_floor, report_processes, report_restart, report_service
from bench.service_setup import FleetShape, Probe, build
from config.loader import load_config
from config.logging import configure_logging
from config.secrets import resolved_url

BENCH = Path(__file__).resolve().parent
MB = 2**20


def tuning(args: argparse.Namespace) -> Tuning:
    return Tuning(
        thread_stack_kib=args.stack_kib,
        heartbeat_interval=args.heartbeat,
        boot_slots=args.boot_slots,
        engine_threads=args.engine_threads,
        engine_threads_per_user=args.engine_threads_per_user,
        switch_interval=args.switch_interval,
        live_poll_interval=args.live_poll,
    )


def now() -> datetime:
    return datetime.now(UTC)


# --- phase 1: in process -----------------------------------------------------------------------


def in_process(args: argparse.Namespace, config_path: Path, work: Path) -> dict[str, Any]:
    config = load_config(config_path)
    log_file = (work / "service-inprocess.log").open("w", encoding="utf-8")
    configure_logging(format="json", level=config.logging.level, stream=log_file)
    me = psutil.Process()
    rss_before = me.memory_info().rss
    probe = Probe(resolved_url(config))
    out: dict[str, Any] = {}
    since = now()
    t0 = time.monotonic()
    service = Service(config, vault=None, tuning=tuning(args))
    service.start()
    try:
        out["start_returned_s"] = time.monotonic() - t0
        done, fleet = probe.wait(since, heartbeat=False, timeout=args.boot_timeout)
        out["cold_start_s"] = None if done is None else done - t0
        out["cold_start_fleet"] = fleet
        out["rss_started_mb"] = me.memory_info().rss / MB
        out["rss_added_mb"] = (me.memory_info().rss - rss_before) / MB
        out["threads"] = me.num_threads()
        stats0 = feed_stats()
        metrics.reset()
        cpu0, w0, m0 = me.cpu_times(), now(), time.monotonic()
        peak = me.memory_info().rss
        while time.monotonic() - m0 < args.seconds:
            time.sleep(1.0)
            peak = max(peak, me.memory_info().rss)
        stats1 = feed_stats()
        cpu1, w1, elapsed = me.cpu_times(), now(), time.monotonic() - m0
        out["tick_to_order"] = metrics.TICK_TO_ORDER.summary()
        out["tick_to_done"] = metrics.TICK_TO_WAKE_DONE.summary()
        out["rss_peak_mb"] = peak / MB
        ticks = sum(s["ticks"] for s in stats1.values()) - sum(s["ticks"] for s in stats0.values())
        woken = sum(s["woken"] for s in stats1.values()) - sum(s["woken"] for s in stats0.values())
        out["window_s"] = elapsed
        out["ticks"], out["woken"] = ticks, woken
        out["ticks_per_s"] = ticks / elapsed
        out["offered_ticks_per_s"] = args.symbols / float(args.interval)
        out["wakes_per_s"] = woken / elapsed
        out["fanout"] = woken / ticks if ticks else 0.0
        out["peak_fanout"] = max((s["peak"] for s in stats1.values()), default=0)
        out["watching"] = sum(s["watching"] for s in stats1.values())
        busy = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        out["cpu_cores"] = busy / elapsed
        out["orders"] = probe.orders_between(w0, w1)
        out["fleet_end"] = probe.fleet(since)
    finally:
        t1 = time.monotonic()
        try:
            service.stop()
        except Exception as exc:  # a stop that times out is a figure to report, not a crash
            out["stop_error"] = f"{type(exc).__name__}: {exc}"
        out["stop_s"] = time.monotonic() - t1
        out["actors_left"] = len(pykka.ActorRegistry.get_all())
        probe.close()
        log_file.close()
    return out


def feed_stats() -> dict[str, dict[str, int]]:
    """Asked of the feed actors directly: the root may be busy supervising (that is a finding)."""
    return {
        ref.proxy().symbol.get(timeout=30): ref.proxy().stats().get(timeout=30)
        for ref in pykka.ActorRegistry.get_by_class(MarketFeedActor)
    }


# --- phase 2: SIGKILL and restart ------------------------------------------------------------


def spawn(
    args: argparse.Namespace, config_path: Path, work: Path, name: str
) -> subprocess.Popen[bytes]:
    log = (work / f"{name}.log").open("wb")
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "serve",
        "--config",
        str(config_path),
        "--stack-kib",
        str(args.stack_kib),
        "--heartbeat",
        str(args.heartbeat),
        "--boot-slots",
        str(args.boot_slots),
        "--engine-threads",
        str(args.engine_threads),
        "--engine-threads-per-user",
        str(args.engine_threads_per_user),
        "--switch-interval",
        str(args.switch_interval),
        "--live-poll",
        str(args.live_poll),
    ]
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=work)


def child_rss(proc: subprocess.Popen[bytes]) -> float:
    try:
        return float(psutil.Process(proc.pid).memory_info().rss) / MB
    except psutil.Error:
        return math.nan


def restart(args: argparse.Namespace, config_path: Path, work: Path, url: str) -> dict[str, Any]:
    probe = Probe(url)
    out: dict[str, Any] = {}
    try:
        since = now()
        t0 = time.monotonic()
        first = spawn(args, config_path, work, "service-first")
        done, fleet = probe.wait(
            since, heartbeat=True, timeout=args.boot_timeout, alive=lambda: first.poll() is None
        )
        out["first_recovered_s"] = None if done is None else done - t0
        out["first_fleet"] = fleet
        if first.poll() is not None:
            out["error"] = f"first child exited with {first.poll()} before the kill: {fleet}"
            return out
        peak = child_rss(first)
        end = time.monotonic() + args.kill_after
        while time.monotonic() < end:
            time.sleep(1.0)
            peak = max(peak, child_rss(first))
        out["child_rss_mb"] = peak
        before_kill = probe.fleet(since)
        out["orders_before_kill"] = before_kill.orders_since
        out["first_restarts"] = before_kill.restarts
        first.send_signal(signal.SIGKILL)
        first.wait()
        killed = time.monotonic()

        since = now()
        t_spawn = time.monotonic()
        second = spawn(args, config_path, work, "service-restarted")
        alive = lambda: second.poll() is None  # noqa: E731
        booted, _ = probe.wait(since, heartbeat=False, timeout=args.boot_timeout, alive=alive)
        recovered, fleet_r = probe.wait(
            since, heartbeat=True, timeout=args.boot_timeout, alive=alive
        )
        out["kill_to_spawn_s"] = t_spawn - killed
        out["restart_booted_s"] = None if booted is None else booted - t_spawn
        out["restart_s"] = None if recovered is None else recovered - t_spawn
        out["restart_fleet"] = fleet_r
        time.sleep(3.0)
        after = probe.fleet(since)
        out["orders_after_restart"] = after.orders_since
        out["restarted_restarts"] = after.restarts - before_kill.restarts
        out["restarted_faulted"] = after.faulted
        out["child_rss_restarted_mb"] = child_rss(second)
        t_stop = time.monotonic()
        second.send_signal(signal.SIGTERM)
        try:
            out["sigterm_exit"] = second.wait(timeout=180)
        except subprocess.TimeoutExpired:
            second.kill()
            out["sigterm_exit"] = "timeout (killed)"
        out["sigterm_stop_s"] = time.monotonic() - t_stop
    finally:
        probe.close()
    return out


# --- phase 3: the floor ------------------------------------------------------------------------


def floor(actors: int, ticks: int, fanout: int) -> dict[str, float]:
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]); import pykka_floor; "
        "print(json.dumps(pykka_floor.run(int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, str(BENCH), str(actors), str(ticks), str(fanout)],
        capture_output=True,
        text=True,
        check=True,
        timeout=600,
    )
    figures: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return figures


# --- phases 1 to 3 ------------------------------------------------------------------------------


def single_process(args: argparse.Namespace, shape: FleetShape, work: Path, started: float) -> None:
    url = args.mysql or f"sqlite:///{work / 'service.sqlite'}"
    t = time.monotonic()
    config_path, _ = build(work, shape, url)
    build_s = time.monotonic() - t
    print(
        f"onboarded {shape.strategies:,} strategies in {build_s:.1f} s; working in {work}",
        flush=True,
    )
    p1 = in_process(args, config_path, work)
    p1["build_s"] = build_s
    report_service(args, p1)
    print(f"phase 1 done ({time.monotonic() - started:.0f} s)", flush=True)
    p2 = {} if args.no_restart else restart(args, config_path, work, url)
    report_restart(p2)
    print(f"phase 2 done ({time.monotonic() - started:.0f} s)", flush=True)
    fanout = max(1, round(p1["fanout"]))
    fl = (
        {}
        if args.no_floor
        else {**floor(shape.strategies, args.floor_ticks, fanout), "fanout": fanout}
    )
    report_floor(p1, fl)


# --- entry points ------------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    """The child of the restart test: the service as `martingale run` runs it (config in DB)."""
    config = load_config(args.config)
    configure_logging(format="json", level=config.logging.level)
    return Service(config, vault=None, tuning=tuning(args)).run()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "serve"])
    parser.add_argument("--config", type=Path, help="serve mode: the fleet config")
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--per-user", type=int, default=10)
    parser.add_argument("--symbols", type=int, default=10)
    parser.add_argument(
        "--interval", type=Decimal, default=Decimal("0.5"), help="seconds between ticks per symbol"
    )
    parser.add_argument(
        "--volatility", type=Decimal, default=Decimal("0.0002"), help="per-tick stdev"
    )
    parser.add_argument("--cooldown", type=int, default=5)
    parser.add_argument(
        "--ladders",
        choices=["spread", "by-symbol"],
        default="spread",
        help="spread: 70 ladders on every symbol; by-symbol: one deviation per symbol, so ticks "
        "wake engines in bursts of up to a hundred (a stress test)",
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="in-process trading window")
    parser.add_argument(
        "--kill-after", type=float, default=20.0, help="child trades this long before SIGKILL"
    )
    parser.add_argument("--stack-kib", type=int, default=Tuning().thread_stack_kib)
    parser.add_argument("--heartbeat", type=float, default=Tuning().heartbeat_interval)
    parser.add_argument("--boot-timeout", type=float, default=300.0)
    parser.add_argument("--boot-slots", type=int, default=Tuning().boot_slots)
    parser.add_argument(
        "--engine-threads",
        type=int,
        default=Tuning().engine_threads,
        help="the engines' shared workers (actors.pool); 0: a thread per engine",
    )
    parser.add_argument(
        "--engine-threads-per-user", type=int, default=Tuning().engine_threads_per_user
    )
    parser.add_argument(
        "--switch-interval",
        type=float,
        default=Tuning().switch_interval,
        help="sys.setswitchinterval for the service (CPython's default is 0.005)",
    )
    parser.add_argument("--log-level", default="warning")
    parser.add_argument(
        "--mysql",
        metavar="URL",
        help="MySQL URL (database name must start with 'bench'; it is recreated)",
    )
    parser.add_argument("--no-restart", action="store_true")
    parser.add_argument("--no-floor", action="store_true")
    parser.add_argument("--floor-ticks", type=int, default=200)
    parser.add_argument("--keep", type=Path, help="work in this directory and keep it (logs, DBs)")
    phase4 = parser.add_argument_group("phase 4: several processes (MySQL)")
    phase4.add_argument(
        "--processes", type=int, default=0, metavar="N", help="N processes, N x the fleet"
    )
    phase4.add_argument("--processes-only", action="store_true", help="skip phases 1-3")
    phase4.add_argument(
        "--lease-seconds", type=int, help="database.lease_seconds (default: the config's, 20)"
    )
    phase4.add_argument(
        "--live-poll",
        type=float,
        default=Tuning().live_poll_interval,
        help="seconds between a service's price polls of the served paper venue",
    )
    phase4.add_argument(
        "--audit",
        action="store_true",
        help="after the stop, the venue's orders and fills against the DB's (slow if big)",
    )
    args = parser.parse_args()
    if args.mode == "serve":
        return serve(args)
    if (args.processes or args.processes_only) and not args.mysql:
        parser.error("--processes needs --mysql (several processes share MySQL through leases)")
    if args.processes_only and not args.processes:
        parser.error("--processes-only needs --processes N")

    shape = FleetShape(
        users=args.users,
        per_user=args.per_user,
        symbols=args.symbols,
        interval=args.interval,
        volatility=args.volatility,
        cooldown=args.cooldown,
        ladders=args.ladders,
        log_level=args.log_level,
    )
    with tempfile.TemporaryDirectory(prefix="bench_service_") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        if not args.processes_only:
            single_process(args, shape, work, started)
        if args.processes:
            spawn_in = lambda config, name: spawn(args, config, work, name)  # noqa: E731
            report_processes(run_processes(args, work, shape, spawn_in))
            print(f"phase 4 done ({time.monotonic() - started:.0f} s)", flush=True)
        print(f"\ntotal {time.monotonic() - started:.0f} s")
    lingering = [
        t for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()
    ]
    if lingering:
        print(f"BUG: {len(lingering)} non-daemon threads alive after Service.stop(); exiting hard")
        sys.stdout.flush()
        os._exit(3)
    return 0


if __name__ == "__main__":
    sys.exit(main())
