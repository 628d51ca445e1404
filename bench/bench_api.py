"""The REST API under a running fleet: latency of a user's list and status endpoints, and what
50 concurrent API clients cost the trading path.

Issue 12's targets: with 5,000 strategies running, GET /api/v1/strategies and /api/v1/status
answer at p99 < 100 ms for a user with 10 strategies, and 50 concurrent clients raise
tick-to-order p99 by no more than 20 % over the same run without web load.

How: one `martingale run`-equivalent Service in this process (paper venue, SQLite by default,
bench_service's fleet: users x 10 strategies over simulated markets) serving the API on a free
loopback port. After the fleet has booted and the idle latency is taken (one client, one request
at a time), the run alternates `--slots` slots of `--seconds` each: even slots are quiet (no
API traffic), odd slots loaded (a separate process runs 50 client threads, keep-alive httpx
clients, each looping GET /strategies and /status with user u0000's token, waiting --think
seconds between requests: 1 s by default, a dashboard polling every second; 0 for a
saturation test; each client enters each loaded slot at a random phase of its think time, as
independent dashboards would). Tick-to-order is recorded in the engines (actors.metrics) and split by slot.

Why alternate: the simulated markets drift, so the orders of the run's first minutes differ from
its later ones (a quiet window followed by a loaded one saw 350 orders, then 600). Interleaving
the two, slot by slot, puts both under the same markets: the bar compares tick-to-order p99 of
all loaded slots with that of all quiet slots of the same run.

The clients live in another process so their own CPU use does not hold this process's GIL
(they still share the machine's cores, as clients on one box would). Figures are printed as
JSON; the ratios at the end are the issue's bars. Run: `python bench/bench_api.py` (about 8
minutes at the default 5,000 strategies; `--users 50` for a quick look).

`--web-mode`: where the API runs, as `web.mode` in the config says. `process` (the default, as
in `martingale run`): the service's own web process (app.web_process), whose CPU each slot also
reports. `thread`: on a thread of the service's process (app.web_part), where requests share
the engines' interpreter; the server-side time of each request is then also reported.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from service_setup import FleetShape, Probe, build
from stall_watch import StallWatch

from actors import metrics
from app import web_part as web_part_module
from app.bootstrap import Service, Tuning
from app.web_process import WebProcess, make_web
from config.logging import configure_logging
from persistence.database import make_engine
from persistence.sql_repository import SqlRepository
from services.auth import issue_token
from web.app import create_app

PATHS = ("/api/v1/strategies", "/api/v1/status")


def percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered), max(1, math.ceil(q * len(ordered)))) - 1]


def summary_ms(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 0.50) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2) if values else math.nan,
    }


# --- the client process --------------------------------------------------------------------


def clients(
    base: str,
    token: str,
    threads: int,
    schedule: tuple[float, float, int],
    think: float,
    out: Path,
    paths: tuple[str, ...] = PATHS,
) -> None:
    """`schedule`: (start, slot seconds, slots), start on the wall clock (time.time()); the
    threads send requests in odd slots only and wait through the even ones."""
    start, slot, slots = schedule
    end = start + slot * slots
    samples: dict[str, list[float]] = {path: [] for path in paths}
    errors: list[str] = []
    lock = threading.Lock()
    cpu0 = time.process_time()  # after this process's imports: the load's own cost

    def loaded_now() -> bool:
        """Sleeps through a quiet slot; True while a loaded one lasts, False once all ended."""
        while (now := time.time()) < end:
            if int((now - start) // slot) % 2 == 1 and now >= start:
                return True
            time.sleep(min(0.05, max(0.0, end - now)))
        return False

    def loop(n: int) -> None:
        mine: dict[str, list[float]] = {path: [] for path in paths}
        rng = random.Random(n)
        entered = -1
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
            i = n
            while loaded_now():
                # Each loaded slot, each client first waits a random part of its think time:
                # 50 dashboards poll on their own phases. Started in lockstep, all 50 would
                # send at the same instant at every slot's start (3 % of the requests, so
                # enough to set the p99 alone), a burst no set of independent users makes.
                now_slot = int((time.time() - start) // slot)
                if now_slot != entered:
                    entered = now_slot
                    time.sleep(rng.uniform(0.0, think))
                    continue
                path = paths[i % len(paths)]
                i += 1
                t0 = time.perf_counter()
                try:
                    answer = http.get(path, timeout=30)
                    ok = answer.status_code == 200
                except httpx.HTTPError as exc:
                    ok, answer = False, exc  # type: ignore[assignment]
                elapsed = time.perf_counter() - t0
                if ok:
                    mine[path].append(elapsed)
                else:
                    with lock:
                        errors.append(f"{path}: {answer}")
                if think:
                    time.sleep(think)
        with lock:
            for path, values in mine.items():
                samples[path].extend(values)

    workers = [threading.Thread(target=loop, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    out.write_text(
        json.dumps(
            {
                "samples": samples,
                "errors": errors[:20],
                "error_count": len(errors),
                # the clients' own CPU: they share the machine's cores with the service
                "cpu_s": round(time.process_time() - cpu0, 1),
            }
        )
    )


# --- the service process -------------------------------------------------------------------


def single_client(base: str, token: str, requests: int) -> dict[str, dict[str, float]]:
    """One client, one request at a time: the latency a user sees when the API is idle."""
    out: dict[str, list[float]] = {path: [] for path in PATHS}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}) as http:
        for i in range(requests):
            path = PATHS[i % len(PATHS)]
            t0 = time.perf_counter()
            answer = http.get(path, timeout=30)
            out[path].append(time.perf_counter() - t0)
            if answer.status_code != 200:
                raise SystemExit(f"{path} answered {answer.status_code}: {answer.text[:200]}")
            if path == PATHS[0] and len(answer.json()) == 0:
                raise SystemExit("the bench user has no strategies")
    return {path: summary_ms(values) for path, values in out.items()}


class ServerTimes:
    """Each request's time inside the server (ASGI call to the last byte handed to uvicorn), by
    path: what the server controls, apart from what the clients' own process adds (at nice 19
    it may wait for a core while the service has both)."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.times: dict[str, list[float]] = {}
        self.on = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not self.on:
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()

        async def timed_send(message: Any) -> None:
            await send(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                self.times.setdefault(scope["path"], []).append(time.perf_counter() - began)

        await self.app(scope, receive, timed_send)


class GcPauses:
    """The service process's garbage-collector pauses, to tell a collection from load."""

    def __init__(self) -> None:
        self.pauses: list[float] = []
        self._began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
        elif info.get("generation") == 2:
            self.pauses.append(time.perf_counter() - self._began)

    def take(self) -> list[float]:
        taken, self.pauses = self.pauses, []
        return taken


def slots(
    start: float, slot: float, count: int, web: WebProcess | None, watch: StallWatch | None = None
) -> dict[str, dict[str, Any]]:
    """Tick-to-order of every slot, pooled into quiet (even) and loaded (odd) slots, and the CPU
    the service (and a separate web) used in each kind. `start` on the wall clock."""
    gc_pauses = GcPauses()
    gc.callbacks.append(gc_pauses)
    try:
        return _slots(start, slot, count, web, gc_pauses, watch)
    finally:
        gc.callbacks.remove(gc_pauses)


def _slots(
    start: float,
    slot: float,
    count: int,
    web: WebProcess | None,
    gc_pauses: GcPauses,
    watch: StallWatch | None,
) -> dict[str, dict[str, Any]]:
    metrics.reset()
    pooled: dict[str, dict[str, Any]] = {
        kind: {"tick_to_order": [], "tick_to_wake_done": [], "gc2": [], "service_cpu_s": 0.0}
        for kind in ("quiet", "loaded")
    }
    time.sleep(max(0.0, start - time.time()))
    orders, wakes = len(metrics.TICK_TO_ORDER.samples()), len(metrics.TICK_TO_WAKE_DONE.samples())
    gc_pauses.take()
    watched: dict[str, list[dict[str, Any]]] = {"quiet": [], "loaded": []}
    if watch is not None:
        watch.take()
    for n in range(count):
        kind = "loaded" if n % 2 else "quiet"
        cpu0, web0 = time.process_time(), web_cpu_s(web)
        time.sleep(max(0.0, start + slot * (n + 1) - time.time()))
        now_orders, now_wakes = metrics.TICK_TO_ORDER.samples(), metrics.TICK_TO_WAKE_DONE.samples()
        pooled[kind]["tick_to_order"] += now_orders[orders:]
        pooled[kind]["tick_to_wake_done"] += now_wakes[wakes:]
        orders, wakes = len(now_orders), len(now_wakes)
        pooled[kind]["gc2"] += gc_pauses.take()
        if watch is not None:
            watched[kind].append(watch.take())
        pooled[kind]["service_cpu_s"] += time.process_time() - cpu0
        if web is not None:
            pooled[kind]["web_process_cpu_s"] = pooled[kind].get("web_process_cpu_s", 0.0) + (
                web_cpu_s(web) - web0
            )
    return {
        kind: {
            **({"stalls_by_slot": watched[kind]} if watch is not None else {}),
            "tick_to_order": summary_ms(values["tick_to_order"]),
            "tick_to_wake_done": summary_ms(values["tick_to_wake_done"]),
            "full_gc_pauses": summary_ms(values["gc2"]),
            **{k: round(v, 1) for k, v in values.items() if k.endswith("cpu_s")},
        }
        for kind, values in pooled.items()
    }


def web_cpu_s(web: WebProcess | None) -> float:
    """User + system CPU seconds of the web process so far (Linux: /proc/PID/stat); 0 when the
    web runs in this process."""
    pid = web.pid if web is not None else None
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def write_secret(path: Path, secret: str) -> Path:
    """A secret for a child process, in a file only we can read (not on its command line)."""
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text(secret)
    return path


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-api-"))
    work.mkdir(parents=True, exist_ok=True)
    url = args.mysql or f"sqlite:///{work / 'service.sqlite'}"
    shape = FleetShape(users=args.users, per_user=10, symbols=10)
    _, config = build(work, shape, url)
    if args.workers is not None:
        web = config.web.model_copy(update={"workers": args.workers})
        config = config.model_copy(update={"web": web})
    if args.yield_ms is not None:
        web = config.web.model_copy(update={"yield_to_trading_ms": args.yield_ms})
        config = config.model_copy(update={"web": web})
    engine = make_engine(url)
    try:
        repo = SqlRepository(engine)
        user = repo.find_user("u0000")
        assert user is not None
        token = issue_token(repo, user.id, name="bench", now=datetime.now(UTC)).secret
    finally:
        engine.dispose()
    log_file = (work / "service.log").open("w", encoding="utf-8")
    configure_logging(format="json", level="warning", stream=log_file)
    timed: list[ServerTimes] = []

    def timed_app(ctx: Any) -> Any:
        timed.append(ServerTimes(create_app(ctx)))
        return timed[-1]

    web_part_module.create_app = timed_app  # type: ignore[attr-defined]
    web = config.web.model_copy(update={"mode": args.web_mode})
    config = config.model_copy(update={"web": web})
    web_part = make_web(config, vault=None, port=0)
    tuning = Tuning()
    if args.gc is not None:
        tuning = replace(tuning, gc_thresholds=args.gc)
    if args.switch_ms is not None:
        tuning = replace(tuning, switch_interval=args.switch_ms / 1000)
    service = Service(config, vault=None, tuning=tuning, web=web_part)
    web_proc = web_part if isinstance(web_part, WebProcess) else None
    probe = Probe(url)
    out: dict[str, Any] = {
        "strategies": shape.strategies,
        "database": url.split(":")[0],
        "clients": args.clients,
        "think_s": args.think,
        "web_workers": config.web.workers,
        "switch_interval_ms": tuning.switch_interval * 1000,
        "web": "own process" if web_proc is not None else "in the service's process",
    }
    since = datetime.now(UTC)
    t0 = time.monotonic()
    service.start()
    try:
        done, _ = probe.wait(since, heartbeat=False, timeout=args.boot_timeout)
        out["cold_start_s"] = None if done is None else round(done - t0, 1)
        port = web_part.bound_port
        base = f"http://127.0.0.1:{port}"
        time.sleep(args.settle)
        out["idle_api"] = single_client(base, token, args.requests)
        result = work / "clients.json"
        # The clients process starts (imports, 50 connections) before the first slot does.
        start = time.time() + args.lead
        proc = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "clients",
                "--base",
                base,
                "--token-file",
                str(write_secret(work / "token", token)),
                "--threads",
                str(args.clients),
                "--schedule",
                f"{start},{args.seconds},{args.slots}",
                "--think",
                str(args.think),
                "--out",
                str(result),
                "--paths",
                args.paths,
            ],
            # --clients-nice: the clients stand in for other machines; at a low priority their
            # own CPU does not take the service's cores from it.
            preexec_fn=(lambda: os.nice(args.clients_nice)) if args.clients_nice else None,  # noqa: PLW1509
        )
        watch = StallWatch().start() if args.watch_stalls else None
        if timed:
            timed[0].on = True
        try:
            out.update(slots(start, args.seconds, args.slots, web_proc, watch))
        finally:
            if watch is not None:
                watch.stop()
        if timed:
            timed[0].on = False
            out["loaded_api_server_side"] = {
                path: summary_ms(values) for path, values in timed[0].times.items()
            }
        proc.wait(timeout=120)
        loaded = json.loads(result.read_text())
        out["loaded_api"] = {path: summary_ms(values) for path, values in loaded["samples"].items()}
        out["loaded_api_errors"] = loaded["error_count"]
        out["loaded"]["clients_process_cpu_s"] = loaded["cpu_s"]
    finally:
        service.stop()
        probe.close()
        log_file.close()
    out["ratios"] = {
        "tick_to_order_p99_loaded_over_quiet": _ratio(out, "tick_to_order"),
        "tick_to_wake_done_p99_loaded_over_quiet": _ratio(out, "tick_to_wake_done"),
        "bar_tick_to_order": "<= 1.20",
        "idle_p99_ms_worst": max(s["p99_ms"] for s in out["idle_api"].values()),
        "loaded_p99_ms_worst": max(s["p99_ms"] for s in out["loaded_api"].values()),
        "bar_api_p99_ms": "< 100",
    }
    return out


def _ratio(out: dict[str, Any], view: str) -> float:
    return round(float(out["loaded"][view]["p99_ms"]) / float(out["quiet"][view]["p99_ms"]), 3)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("mode", nargs="?", default="bench", choices=["bench", "clients"])
    parser.add_argument("--users", type=int, default=500, help="users of 10 strategies each")
    parser.add_argument("--seconds", type=float, default=30.0, help="length of each slot")
    parser.add_argument(
        "--slots", type=int, default=12, help="slots, alternately quiet and loaded (even: fair)"
    )
    parser.add_argument("--settle", type=float, default=10.0, help="wait after boot")
    parser.add_argument(
        "--lead", type=float, default=5.0, help="seconds for the clients process to start"
    )
    parser.add_argument("--requests", type=int, default=400, help="idle single-client requests")
    parser.add_argument("--clients", type=int, default=50, help="concurrent API clients")
    parser.add_argument(
        "--think",
        type=float,
        default=1.0,
        help="seconds each client waits between requests (1: a dashboard polling every "
        "second; 0: as fast as the API answers, a saturation test)",
    )
    parser.add_argument(
        "--workers", type=int, default=None, help="web.workers (default: the config's, 2)"
    )
    parser.add_argument(
        "--watch-stalls",
        action="store_true",
        help="report the service's stalls and where its threads stood, per slot (bench/"
        "stall_watch.py; costs about a tenth of a core)",
    )
    parser.add_argument(
        "--gc",
        type=lambda text: tuple(int(n) for n in text.split(",")),
        default=None,
        help="the service's gc thresholds, e.g. 50000,20,10 (default: the service's)",
    )
    parser.add_argument(
        "--paths",
        default=",".join(PATHS),
        help="what the loaded clients poll, comma-separated (e.g. /health/live: the cost of "
        "serving HTTP at all, with no database read)",
    )
    parser.add_argument(
        "--switch-ms",
        type=float,
        default=None,
        help="the service's sys.setswitchinterval in ms (default: the service's)",
    )
    parser.add_argument(
        "--yield-ms",
        type=int,
        default=None,
        help="web.yield_to_trading_ms (default: the config's, 50; 0: requests never wait)",
    )
    parser.add_argument(
        "--web-mode",
        choices=["process", "thread"],
        default="process",
        help="the API in the service's own web process (as `martingale run` by default), or "
        "on a thread of the service's process",
    )
    parser.add_argument(
        "--clients-nice",
        type=int,
        default=0,
        help="run the clients process at this niceness (19: as if the clients were on other "
        "machines, their CPU not taken from the service)",
    )
    parser.add_argument("--boot-timeout", type=float, default=600.0)
    parser.add_argument("--mysql", help="a MySQL URL whose database name starts with 'bench'")
    parser.add_argument("--keep", help="work in this directory and keep it")
    parser.add_argument("--base", help=argparse.SUPPRESS)
    parser.add_argument("--token-file", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--schedule", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.mode == "clients":
        token = Path(args.token_file).read_text().strip()
        start, slot, count = args.schedule.split(",")
        schedule = (float(start), float(slot), int(count))
        clients(
            args.base,
            token,
            args.threads,
            schedule,
            args.think,
            Path(args.out),
            tuple(args.paths.split(",")),
        )
        return 0
    print(json.dumps(run(args), indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
