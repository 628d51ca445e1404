"""The whole service under load: 5,000 strategies (500 users x 10) in one process, paper exchange,
live GBM feeds, and a SIGKILL restart; then the same fan-out on bare pykka as the floor.

Run: .venv/bin/python bench/bench_service.py [--users 500 --per-user 10 --seconds 60 ...]
     (--mysql mysql+pymysql://root@127.0.0.1:3306/bench_service for MySQL instead of SQLite)

Phases (one run, one temp dir):

1. In-process: generate the fleet's YAML, onboard it (`sync_config`), start `Service`, wait
   until every strategy has booted (loaded, reconciled, acted: "state: running" in the audit log),
   then trade for --seconds. Prints RSS, tick-to-order latency (measured inside the engines by
   `actors.metrics`), ticks/s, wakes/s, CPU. Graceful stop.
2. Restart: `bench_service.py serve` (the same Service, as `martingale run` builds it) as a child
   process on the same database; once it is trading, wait --kill-after seconds, SIGKILL it, start
   it again. Restart time = from spawning the new process until every strategy whose desired
   state is running (a) has actual_state RUNNING, (b) wrote "state: running" to the audit log
   after the spawn (its engine loaded, reconciled and acted), and (c) has a heartbeat recorded
   after the spawn. Read from the database by a separate connection every 0.25 s.
3. Floor: bench/pykka_floor.py in a fresh process with the same actor count and the mean fan-out
   per tick seen in phase 1; ratios service/floor.
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
from bench.service_setup import FleetShape, Probe, build
from config.loader import load_config
from config.logging import configure_logging

BENCH = Path(__file__).resolve().parent
MB = 2**20
TARGET_RSS_MB = 1536
TARGET_P99_MS = 250
TARGET_RESTART_S = 60


def tuning(args: argparse.Namespace) -> Tuning:
    return Tuning(thread_stack_kib=args.stack_kib, heartbeat_interval=args.heartbeat)


def now() -> datetime:
    return datetime.now(UTC)


# --- phase 1: in process -----------------------------------------------------------------------


def in_process(args: argparse.Namespace, config_path: Path, work: Path) -> dict[str, Any]:
    config = load_config(config_path)
    log_file = (work / "service-inprocess.log").open("w", encoding="utf-8")
    configure_logging(format="json", level=config.logging.level, stream=log_file)
    me = psutil.Process()
    rss_before = me.memory_info().rss
    probe = Probe(config.database.url)
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
        out["watching"] = sum(s["watching"] for s in stats1.values())
        busy = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
        out["cpu_cores"] = busy / elapsed
        out["orders"] = probe.orders_between(w0, w1)
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
        if done is None:
            out["error"] = f"first child never recovered: {fleet}; exit {first.poll()}"
            first.kill()
            first.wait()
            return out
        peak = child_rss(first)
        end = time.monotonic() + args.kill_after
        while time.monotonic() < end:
            time.sleep(1.0)
            peak = max(peak, child_rss(first))
        out["child_rss_mb"] = peak
        out["orders_before_kill"] = probe.fleet(since).orders_since
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
        out["orders_after_restart"] = probe.fleet(since).orders_since
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


# --- report ------------------------------------------------------------------------------------


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:,.1f} ms"


def sec(seconds: float | None) -> str:
    return "NOT REACHED" if seconds is None else f"{seconds:,.1f} s"


def verdict(value: float | None, limit: float) -> str:
    if value is None or math.isnan(value):
        return "MISSED (no figure)"
    return "ok" if value < limit else "MISSED"


def report(
    args: argparse.Namespace, p1: dict[str, Any], p2: dict[str, Any], fl: dict[str, Any]
) -> None:
    n = args.users * args.per_user
    print(
        f"\n== service: {n:,} strategies ({args.users} users x {args.per_user}), "
        f"{args.symbols} symbols, tick every {args.interval}s/symbol, vol {args.volatility}/tick, "
        f"{'MySQL' if args.mysql else 'SQLite'} =="
    )
    print(f"  onboard (write yaml, load, sync)   {p1['build_s']:.1f} s")
    print(f"  Service.start() returned          {p1['start_returned_s']:.1f} s")
    print(
        f"  cold start, all booted             {sec(p1['cold_start_s'])}   {p1['cold_start_fleet']}"
    )
    print(f"  threads                            {p1['threads']:,}")
    rss = p1["rss_started_mb"]
    print(
        f"  RSS, all engines started           {rss:,.0f} MB  (service added {p1['rss_added_mb']:,.0f} MB)"
        f"   target < {TARGET_RSS_MB} MB: {verdict(rss, TARGET_RSS_MB)}"
    )
    print(f"  RSS peak while trading             {p1['rss_peak_mb']:,.0f} MB")
    print(
        f"  trading window                     {p1['window_s']:.1f} s, CPU {p1['cpu_cores']:.2f} cores of {os.cpu_count()}"
    )
    print(
        f"  ticks/s                            {p1['ticks_per_s']:,.1f}  (offered {p1['offered_ticks_per_s']:,.1f})"
    )
    print(
        f"  wakes/s                            {p1['wakes_per_s']:,.1f}  (mean fan-out {p1['fanout']:.1f} engines/tick; {p1['watching']:,} watching)"
    )
    print(
        f"  orders placed in window            {p1['orders']:,}  ({p1['orders'] / p1['window_s']:,.1f}/s)"
    )
    for label, s in (
        ("tick-to-order", p1["tick_to_order"]),
        ("tick-to-wake-done", p1["tick_to_done"]),
    ):
        print(
            f"  {label:<18} n={s.count:,}  p50 {ms(s.p50)}  p90 {ms(s.p90)}  p99 {ms(s.p99)}  max {ms(s.max)}"
        )
    p99 = p1["tick_to_order"].p99
    print(f"  tick-to-order p99 target < {TARGET_P99_MS} ms: {verdict(p99 * 1000, TARGET_P99_MS)}")
    print(f"  graceful stop                      {p1['stop_s']:.1f} s  {p1.get('stop_error', '')}")
    print(f"  actors alive after stop            {p1['actors_left']}")
    if p2:
        print("\n== restart after SIGKILL (child processes on the same database) ==")
        if "error" in p2:
            print(f"  {p2['error']}")
        else:
            print(f"  first child, all recovered         {sec(p2['first_recovered_s'])}")
            print(f"  child RSS while trading            {p2['child_rss_mb']:,.0f} MB")
            print(f"  orders by first child before kill  {p2['orders_before_kill']:,}")
            print(f"  restart: all booted                {sec(p2['restart_booted_s'])}")
            print(
                f"  restart: all booted + heartbeat    {sec(p2['restart_s'])}   {p2['restart_fleet']}"
                f"   target < {TARGET_RESTART_S} s: {verdict(p2['restart_s'], TARGET_RESTART_S)}"
            )
            print(
                f"  orders placed after restart        {p2['orders_after_restart']:,} (to 3 s after recovery)"
            )
            print(f"  restarted child RSS                {p2['child_rss_restarted_mb']:,.0f} MB")
            print(f"  SIGTERM: exit {p2['sigterm_exit']} after {p2['sigterm_stop_s']:.1f} s")
    if fl:
        print(f"\n== bare pykka floor: {fl['actors']:,.0f} actors, fan-out {fl['fanout']}/tick ==")
        print(
            f"  answers {fl['answers']:,.0f}  p50 {fl['p50_ms']:.2f} ms  p99 {fl['p99_ms']:.2f} ms  "
            f"RSS {fl['rss_mb']:,.0f} MB (actors added {fl['rss_added_mb']:,.0f} MB)"
        )
        s = p1["tick_to_order"]
        print(
            "  ratios service/floor:  "
            f"p50 {s.p50 * 1000 / fl['p50_ms']:,.1f}x   p99 {s.p99 * 1000 / fl['p99_ms']:,.1f}x   "
            f"RSS {p1['rss_started_mb'] / fl['rss_mb']:,.1f}x"
        )


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
        "--volatility", type=Decimal, default=Decimal("0.002"), help="per-tick stdev"
    )
    parser.add_argument("--cooldown", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=60.0, help="in-process trading window")
    parser.add_argument(
        "--kill-after", type=float, default=20.0, help="child trades this long before SIGKILL"
    )
    parser.add_argument("--stack-kib", type=int, default=Tuning().thread_stack_kib)
    parser.add_argument("--heartbeat", type=float, default=Tuning().heartbeat_interval)
    parser.add_argument("--boot-timeout", type=float, default=240.0)
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
    args = parser.parse_args()
    if args.mode == "serve":
        return serve(args)

    shape = FleetShape(
        users=args.users,
        per_user=args.per_user,
        symbols=args.symbols,
        interval=args.interval,
        volatility=args.volatility,
        cooldown=args.cooldown,
        log_level=args.log_level,
    )
    with tempfile.TemporaryDirectory(prefix="bench_service_") as tmp:
        work = args.keep or Path(tmp)
        work.mkdir(parents=True, exist_ok=True)
        url = args.mysql or f"sqlite:///{work / 'service.sqlite'}"
        started = time.monotonic()
        t = time.monotonic()
        config_path, _ = build(work, shape, url)
        build_s = time.monotonic() - t
        print(
            f"onboarded {shape.strategies:,} strategies in {build_s:.1f} s; working in {work}",
            flush=True,
        )
        p1 = in_process(args, config_path, work)
        p1["build_s"] = build_s
        print(f"phase 1 done ({time.monotonic() - started:.0f} s)", flush=True)
        p2 = {} if args.no_restart else restart(args, config_path, work, url)
        print(f"phase 2 done ({time.monotonic() - started:.0f} s)", flush=True)
        fanout = max(1, round(p1["fanout"]))
        fl = (
            {}
            if args.no_floor
            else {**floor(shape.strategies, args.floor_ticks, fanout), "fanout": fanout}
        )
        report(args, p1, p2, fl)
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
