"""Three service processes on one MariaDB database (issue 17): users spread over them through
leases; one is killed with SIGKILL and its users resume elsewhere; one is paused (SIGSTOP)
past its leases and, woken again, cannot write or place anything; at the end no client order id
was placed twice, no fill is lost, and the database agrees with the venues.

Each user trades on a venue of its own: a fake binance on loopback (the real ccxt client, as in
tests/integration/app/test_live_key_replacement.py), whose prices the test moves in a wave so
safety orders and take-profits fill throughout.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from domain.secrets import Credentials, Secret
from persistence import models as m
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import ActualState, DesiredState
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from tests.e2e.harness import REPO_ROOT, ServiceProcess, wait_for
from tests.integration.exchange.fake_binance import FakeBinance
from tests.integration.exchange.fake_binance_venue import FakeSymbol, Venue

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

USERS = 6
PER_USER = 2
LEASE_S = 4  # database.lease_seconds: a dead or paused process's users move within ~5 s
PARAMS = {
    "base_order": "20",
    "safety_order": "20",
    "max_safety_orders": "3",
    "price_deviation": "0.6",
    "take_profit": "0.5",
    "cooldown": "0",
}
WAVE = [Decimal(p) for p in ("30000", "29800", "29700", "29850", "30100", "30250", "30050")]


@dataclass
class Fleet:
    url: str
    repo: SqlRepository
    venues: dict[int, FakeBinance]  # user id -> its venue
    config: Path

    def owners(self) -> dict[int, str | None]:
        with self.repo._engine.connect() as conn:
            rows = conn.execute(select(m.USER_LEASES.c.user_id, m.USER_LEASES.c.owner))
            return {int(uid): owner for uid, owner in rows}

    def not_running(self) -> list[tuple[int, str, str | None, list[str]]]:
        """(strategy, state, last error, its last audit lines) of every strategy not RUNNING."""
        return [
            (s.id, s.actual_state.value, s.last_error, self.audit(s.id))
            for s in self.repo.list_strategies()
            if s.actual_state is not ActualState.RUNNING
        ]

    def audit(self, strategy_id: int) -> list[str]:
        with self.repo._engine.connect() as conn:
            log = m.AUDIT_LOG.c
            rows = conn.execute(
                select(log.at, log.event, log.message)
                .where(log.strategy_id == strategy_id)
                .order_by(log.id.desc())
                .limit(6)
            )
            return [f"{at:%H:%M:%S.%f} {event} {message}" for at, event, message in rows]

    def orders(self) -> int:
        with self.repo._engine.connect() as conn:
            return len(conn.execute(select(m.ORDERS.c.id)).all())


@pytest.fixture
def fleet(mysql_url: str, tmp_path: Path) -> Iterator[Fleet]:
    upgrade(mysql_url)
    key = generate_key()
    (tmp_path / "master.key").write_text(key)
    (tmp_path / "master.key").chmod(0o600)
    vault = Vault(parse_keyring(key, source="test"))
    engine = make_engine(mysql_url)
    repo = SqlRepository(engine)
    now = datetime.now(UTC)
    venues: dict[int, FakeBinance] = {}
    for n in range(USERS):
        venue = Venue()
        venue.add_symbol(FakeSymbol("BTC", "USDT", WAVE[0]))
        venue.deposit("USDT", Decimal("100000"))
        fake = FakeBinance(venue, api_key=f"k{n}", secret=f"s{n}")
        endpoint = fake.start()
        user = repo.upsert_user(f"user{n}", now=now, source="api")
        account = repo.upsert_account(
            user.id, "live", exchange="binance", now=now, base_url=endpoint
        )
        sealed = vault.seal(
            Credentials(api_key=Secret(f"k{n}"), secret=Secret(f"s{n}")),
            user_id=user.id,
            account_id=account.id,
        )
        repo.save_credentials(account.id, sealed, now=now)
        for k in range(PER_USER):
            repo.upsert_strategy(
                user.id,
                f"btc{k}",
                account_id=account.id,
                symbol="BTC/USDT",
                params={**PARAMS, "price_deviation": str(Decimal("0.6") + k * Decimal("0.2"))},
                desired_state=DesiredState.RUNNING,
                now=now,
            )
        venues[user.id] = fake
    config = tmp_path / "service.yaml"
    config.write_text(
        f"database:\n  url: {mysql_url}\n  lease_seconds: {LEASE_S}\n"
        f"master_key_file: {tmp_path / 'master.key'}\n"
        f"paper:\n  state_file: {tmp_path / 'paper.sqlite'}\nmarkets: {{}}\nusers: []\n"
        "web:\n  enabled: false\n",
        encoding="utf-8",
    )
    try:
        yield Fleet(mysql_url, repo, venues, config)
    finally:
        for fake in venues.values():
            fake.stop()
        engine.dispose()


def _launch(fleet: Fleet, name: str, tmp: Path) -> ServiceProcess:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.fast_run", str(fleet.config)],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return ServiceProcess(proc=proc, log=log)


def _wave(fleet: Fleet, stop: threading.Event) -> None:
    """Every venue's price walks the wave (each user a step apart), one step every 0.7 s."""
    step = 0
    while not stop.wait(0.7):
        step += 1
        for offset, fake in enumerate(fleet.venues.values()):
            fake.venue.set_price("BTCUSDT", WAVE[(step + offset) % len(WAVE)])


def _creates(fake: FakeBinance) -> Counter[str]:
    with fake._lock:
        return Counter(
            p.get("newClientOrderId", "")
            for method, path, p in fake.seen
            if (method, path) == ("POST", "order")
        )


def test_three_processes_share_fail_over_and_fence(
    fleet: Fleet, tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    procs = {name: _launch(fleet, name, tmp_path) for name in ("p1", "p2", "p3")}
    processes.extend(procs.values())
    for proc in procs.values():
        proc.wait_started()
    stop_wave = threading.Event()
    wave = threading.Thread(target=_wave, args=(fleet, stop_wave), daemon=True)
    wave.start()
    try:
        # Spread: every user held, by three different processes, and every strategy trading.
        owners = wait_for(
            fleet.owners,
            lambda o: (
                len(o) == USERS
                and None not in o.values()
                and len(set(o.values())) == 3
                and max(Counter(o.values()).values()) <= -(-USERS // 3) + 1  # share plus one
            ),
            what="the users spread over three processes, none above its share plus one",
            timeout=60,
        )
        wait_for(fleet.not_running, lambda left: left == [], what="every strategy running")

        # SIGKILL the owner of user 1's lease: its users resume on the other two.
        victim_id = owners[min(owners)]
        assert victim_id is not None
        victim = next(p for p in procs.values() if _pid_of(fleet, victim_id) == p.proc.pid)
        orphans = {uid for uid, owner in owners.items() if owner == victim_id}
        before = fleet.orders()
        victim.stop(signal.SIGKILL, timeout=30)
        moved = wait_for(
            fleet.owners,
            lambda o: all(o[u] not in (None, victim_id) for u in orphans),
            what="the killed process's users taken over",
            timeout=60,
        )
        wait_for(fleet.orders, lambda n: n >= before + 6, what="trading on after the kill")

        # SIGSTOP a survivor past its leases; the last one takes everything; SIGCONT.
        paused_id = next(owner for owner in moved.values() if owner is not None)
        assert paused_id is not None
        paused = next(p for p in procs.values() if _pid_of(fleet, paused_id) == p.proc.pid)
        paused_users = {uid for uid, owner in fleet.owners().items() if owner == paused_id}
        creates_before = {uid: _creates(fake) for uid, fake in fleet.venues.items()}
        paused.proc.send_signal(signal.SIGSTOP)
        try:
            wait_for(
                fleet.owners,
                lambda o: all(o[u] not in (None, paused_id) for u in paused_users),
                what="the paused process's users taken over",
                timeout=60,
            )
        finally:
            paused.proc.send_signal(signal.SIGCONT)
        # Woken, the paused process believes for a moment it still holds its users. It must
        # learn it lost them, and whatever reached the venues meanwhile was committed first by
        # a lease holder (a create of an order the database does not hold would be one placed
        # without its intent: by a process fenced out).
        wait_for(
            paused.output,
            lambda out: "leases: lost users" in out,
            what="the woken process to learn it lost its users",
        )
        time.sleep(LEASE_S)  # it rejoins: the last process sheds it a share again
        for uid in paused_users:
            fresh = _creates(fleet.venues[uid]) - creates_before[uid]  # read before the db
            assert set(fresh) <= _stored_orders(fleet, uid), (uid, fresh)
    finally:
        stop_wave.set()
        wave.join(10)
    for proc in procs.values():
        if proc.proc.poll() is None:
            assert proc.stop(signal.SIGTERM) == 0, proc.output()[-3000:]

    # A last process reconciles every user (the killed one's fills included), then the venues
    # and the database must agree order by order and trade by trade.
    final = _launch(fleet, "final", tmp_path)
    processes.append(final)
    final.wait_started()
    wait_for(
        lambda: _ledger_problems(fleet), lambda p: p == [], what="the ledgers to agree", timeout=90
    )
    assert final.stop(signal.SIGTERM) == 0, final.output()[-3000:]
    assert _ledger_problems(fleet) == []
    for uid, fake in fleet.venues.items():
        doubled = {coid: n for coid, n in _creates(fake).items() if n > 1}
        assert doubled == {}, (uid, doubled)  # no client order id sent twice
    # No strategy was ever driven by two processes at once: none found a step of another
    # writer where it expected its own (without leases: dozens in every process's log).
    for proc in [*procs.values(), final]:
        assert "another writer saved it" not in proc.output(), proc.log.name
    traded = {s.id for s in fleet.repo.list_strategies() if fleet.repo.list_fills(s.id)}
    assert len(traded) == USERS * PER_USER, "a strategy never traded"


def _stored_orders(fleet: Fleet, uid: int) -> set[str]:
    """The client order ids the database holds for the user's strategies."""
    return {
        o.client_order_id
        for s in fleet.repo.list_strategies()
        if s.user_id == uid
        for o in fleet.repo.list_orders(s.id)
    }


def _pid_of(fleet: Fleet, process_id: str) -> int:
    with fleet.repo._engine.connect() as conn:
        query = select(m.SERVICE_PROCESSES.c.pid).where(m.SERVICE_PROCESSES.c.id == process_id)
        return int(conn.execute(query).scalar_one())


def _ledger_problems(fleet: Fleet) -> list[str]:
    """Every venue order is in the database with its fill amount, and every venue trade is a
    fill stored once; nothing in the database is unknown to the venue but intents never sent."""
    problems: list[str] = []
    for uid, fake in fleet.venues.items():
        strategies = [s for s in fleet.repo.list_strategies() if s.user_id == uid]
        db_orders = {o.client_order_id: o for s in strategies for o in fleet.repo.list_orders(s.id)}
        db_trades = Counter(f.trade_id for s in strategies for f in fleet.repo.list_fills(s.id))
        with fake.venue.lock:
            venue_orders = {o["clientOrderId"]: o for o in fake.venue.orders.values()}
            venue_trades = [str(t["id"]) for t in fake.venue.trades]
        for coid, order in venue_orders.items():
            mine = db_orders.get(coid)
            if mine is None:
                problems.append(f"user {uid}: venue order {coid} not in the database")
            elif mine.filled != order["executedQty"]:
                problems.append(
                    f"user {uid}: {coid} filled {mine.filled} in the db, "
                    f"{order['executedQty']} on the venue"
                )
        for trade in venue_trades:
            if db_trades[trade] != 1:
                problems.append(f"user {uid}: trade {trade} stored {db_trades[trade]} times")
        for coid, stored in db_orders.items():
            if coid not in venue_orders and stored.state.value not in (
                "pending_submit",
                "rejected",
                "canceled",
            ):
                problems.append(f"user {uid}: {coid} is {stored.state.value}, not on the venue")
    return problems
