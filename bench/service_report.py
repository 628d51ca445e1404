"""Printing bench_service.py's figures next to their targets (kept apart to keep both short)."""

from __future__ import annotations

import argparse
import math
import os
import sys
from typing import Any

# Issue 17's bars: memory above the process's base per strategy, tick-to-order p99, and every
# strategy reconciled and trading after a SIGKILL restart (the last at 5,000 strategies).
TARGET_KB_PER_STRATEGY = 150
TARGET_P99_MS = 100
TARGET_RESTART_S = 30


def ms(seconds: float | None) -> str:
    return "n/a" if seconds is None or math.isnan(seconds) else f"{seconds * 1000:,.1f} ms"


def sec(seconds: float | None) -> str:
    return "NOT REACHED" if seconds is None else f"{seconds:,.1f} s"


def verdict(value: float | None, limit: float) -> str:
    if value is None or math.isnan(value):
        return "MISSED (no figure)"
    return "ok" if value < limit else "MISSED"


def report_service(args: argparse.Namespace, p1: dict[str, Any]) -> None:
    n = args.users * args.per_user
    print(
        f"\n== service: {n:,} strategies ({args.users} users x {args.per_user}), "
        f"{args.symbols} symbols, tick every {args.interval}s/symbol, vol {args.volatility}/tick, "
        f"ladders {args.ladders}, "
        f"{'MySQL' if args.mysql else 'SQLite'}, boot slots {args.boot_slots}, "
        f"engine threads {args.engine_threads or 'one each'}, "
        f"switch interval {args.switch_interval * 1000:g} ms =="
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
    )
    per = p1["rss_added_mb"] * 1024 / max(1, args.users * args.per_user)
    print(
        f"  RSS added per strategy             {per:,.0f} KB"
        f"   target <= {TARGET_KB_PER_STRATEGY} KB: {verdict(per, TARGET_KB_PER_STRATEGY)}"
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
        f"  largest burst                      {p1['peak_fanout']:,} engines woken by one tick (whole run)"
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
    end = p1["fleet_end"]
    print(
        f"  engines restarted / faulted        {end.restarts} / {end.faulted}"
        "  (crashed or found stuck, cold start to end of window; healthy: 0 / 0)"
    )
    print(f"  graceful stop                      {p1['stop_s']:.1f} s  {p1.get('stop_error', '')}")
    print(f"  actors alive after stop            {p1['actors_left']}", flush=True)


def report_restart(p2: dict[str, Any]) -> None:
    if p2:
        print("\n== restart after SIGKILL (child processes on the same database) ==")
        if "error" in p2:
            print(f"  {p2['error']}")
        else:
            print(
                f"  first child, all recovered         {sec(p2['first_recovered_s'])}   "
                f"{p2['first_fleet']} (killed anyway after --kill-after)"
            )
            print(f"  child RSS while trading            {p2['child_rss_mb']:,.0f} MB")
            print(f"  orders by first child before kill  {p2['orders_before_kill']:,}")
            print(f"  restart: all booted                {sec(p2['restart_booted_s'])}")
            print(
                f"  restart: all booted + heartbeat    {sec(p2['restart_s'])}   {p2['restart_fleet']}"
                f"   target < {TARGET_RESTART_S} s (at 5,000): "
                f"{verdict(p2['restart_s'], TARGET_RESTART_S)}"
            )
            print(
                f"  orders placed after restart        {p2['orders_after_restart']:,} (to 3 s after recovery)"
            )
            print(
                f"  engines restarted / faulted        first child {p2['first_restarts']}, "
                f"restarted child {p2['restarted_restarts']} / {p2['restarted_faulted']}"
            )
            print(f"  restarted child RSS                {p2['child_rss_restarted_mb']:,.0f} MB")
            print(f"  SIGTERM: exit {p2['sigterm_exit']} after {p2['sigterm_stop_s']:.1f} s")
    sys.stdout.flush()


def report_floor(p1: dict[str, Any], fl: dict[str, Any]) -> None:
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


TARGET_FAILOVER_S = 30


def report_processes(p4: dict[str, Any]) -> None:
    if not p4:
        return
    n, users = p4["processes"], p4["users"]
    print(
        f"\n== {n} processes: {p4['strategies']:,} strategies ({users:,} users), MySQL, one paper "
        f"venue process, lease {p4['lease_s']} s, venue prices polled every {p4['live_poll_s']:g} s =="
    )
    print(f"  onboard (write yaml, load, sync)   {p4['build_s']:.1f} s")
    print(f"  all booted + heartbeat             {sec(p4['boot_s'])}   {p4['boot_fleet']}")
    claims = p4["claims_boot"]
    print(
        f"  users per process                  {_spread(p4['spread_boot'])}"
        f"   ({claims:,} lease claims for {users:,} users: {claims - users:,} handed over)"
    )
    if "window" in p4:
        w, b = p4["window"], p4["boot_window"]
        print(f"  {'':<34} while trading {w['window_s']:.0f} s | booting {b['window_s']:.0f} s")
        for name, f in w.items():
            if isinstance(f, dict):
                print(
                    f"  {name + ':':<34} RSS {f['rss_mb']:,.0f} MB (peak {f['peak_mb']:,.0f}), "
                    f"{f['threads']:,} threads, CPU {f['cpu']:.2f} | {b[name]['cpu']:.2f} cores"
                )
        print(
            f"  machine CPU (everything on it)     {w['machine_cpu']:.2f} | "
            f"{b['machine_cpu']:.2f} cores of {os.cpu_count()}"
        )
        print(
            f"  orders placed in window            {p4['orders_window']:,}  "
            f"({p4['orders_window'] / w['window_s']:,.1f}/s)"
        )
    if "victim" in p4:
        print(
            f"\n== SIGKILL {p4['victim']} ({p4['orphan_users']:,} users, "
            f"{p4['orphan_strategies']:,} strategies): failover to the survivors =="
        )
        print(f"  its leases all taken by survivors  {sec(p4['failover_taken_s'])}")
        print(f"  its strategies all booted again    {sec(p4['failover_booted_s'])}")
        print(
            f"  ... booted + heartbeat             {sec(p4['failover_s'])}   {p4['failover_fleet']}"
            f"   failover target < {TARGET_FAILOVER_S} s: "
            f"{verdict(p4['failover_s'], TARGET_FAILOVER_S)}"
        )
        print(
            f"  users per process after            {_spread(p4['spread_after'])}"
            f"   ({p4['claims_failover']:,} lease claims since the kill)"
        )
        after = p4["after"]
        print(
            f"  whole fleet 3 s later              {after.running:,} of {after.wanted:,} running; "
            f"{after.orders_since:,} orders since the kill; engines restarted / faulted "
            f"{after.restarts} / {after.faulted}"
        )
    if "error" in p4:
        print(f"  ERROR: {p4['error']}")
    if "repeated_db" in p4:
        db, venue = p4["repeated_db"], p4["repeated_venue"]
        print(
            f"  client order ids twice             DB {len(db)}, venue {len(venue)} "
            f"(of {p4['venue_orders']:,} venue orders){'' if not db and not venue else ': BUG'}"
        )
        for line in [*db, *venue][:5]:
            print(f"    {line}")
    if "stops" in p4:
        stops = ", ".join(
            f"{name} exit {code} after {s:.1f} s" for name, (code, s) in p4["stops"].items()
        )
        code, s = p4["venue_stop"]
        print(f"  SIGTERM                            {stops}; venue exit {code} after {s:.1f} s")
    if "audit" in p4:
        problems = p4["audit"]
        print(
            f"  venue vs DB audit ({p4['audit_s']:.0f} s)            "
            f"{'ok' if not problems else f'{len(problems)} problems'}"
        )
        for line in problems[:10]:
            print(f"    {line}")
    if p4.get("log_events"):
        events = p4["log_events"]
        print(f"  warnings and errors logged         {sum(events.values()):,}, most common:")
        for (log, level, event), count in events.most_common(8):
            print(f"    {count:>6,}  {log}: {level} {event}")
    sys.stdout.flush()


def _spread(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items())) or "none"
