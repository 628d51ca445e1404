"""Three service processes on one MariaDB database and ONE paper exchange, served by a
`martingale paper-venue` process on loopback (issue 17): users spread over the services through
leases, one service is killed with SIGKILL and its users resume on the others with their paper
accounts, and at the end the venue's ledger agrees with the database order by order and fill by
fill, with no client order id placed twice.

The venue's market walks fast (a simulated random walk), so safety orders and take-profits fill
throughout. For the final audit it is restarted with the same file and a flat market: its first
tick may fill what still rests, then nothing moves, and a last service process reconciles every
user, so the two ledgers must agree exactly (no "fills not applied yet" allowance).
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from domain.secrets import Secret
from exchange.paper.remote import RemoteVenue
from persistence import models as m
from tests.e2e.harness import (
    REPO_ROOT,
    ServiceProcess,
    audit,
    launch,
    onboard,
    read_db,
    read_venue,
    repository,
    venue_ledger,
    wait_for,
    write_config,
)

pytestmark = [pytest.mark.mysql, pytest.mark.slow]

USERS = 6
PER_USER = 2
LEASE_S = 4
SYM = "BTC/USDT"
TOKEN = "e2e-paper-venue-token-0123456789"
START = "30000"


def _market(volatility: str) -> dict[str, Any]:
    return {
        "feed": "simulated",
        "price": START,
        "volatility": volatility,
        "interval": "0.1",
        "seed": 7,
        "tick_size": "0.01",
        "step_size": "0.00001",
        "min_notional": "5",
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _configs(tmp: Path, mysql_url: str, port: int) -> tuple[Path, Path, Path]:
    """(the venue's config with a walking market, the same with a flat one, the services')."""
    token = tmp / "venue.token"
    token.write_text(TOKEN, encoding="utf-8")
    token.chmod(0o600)
    serve = {"port": port, "token_file": str(token)}
    paper = {"state_file": str(tmp / "paper.sqlite"), "serve": serve}
    walking = write_config(tmp / "venue.yaml", {"paper": paper, "markets": {SYM: _market("0.003")}})
    flat = write_config(tmp / "venue-flat.yaml", {"paper": paper, "markets": {SYM: _market("0")}})
    users = [
        {
            "name": f"user{n}",
            "email": f"user{n}@example.com",
            "accounts": [{"name": "main", "exchange": "paper", "balances": {"USDT": "100000"}}],
            "strategies": [
                {
                    "name": f"btc{k}",
                    "account": "main",
                    "symbol": SYM,
                    "base_order": "20",
                    "safety_order": "20",
                    "max_safety_orders": "3",
                    "price_deviation": str(0.3 + 0.1 * k),
                    "take_profit": "0.3",
                    "cooldown": "0",
                }
                for k in range(PER_USER)
            ],
        }
        for n in range(USERS)
    ]
    service = write_config(
        tmp / "service.yaml",
        {
            "database": {"url": mysql_url, "lease_seconds": LEASE_S},
            "paper": {"venue_url": f"http://127.0.0.1:{port}", "venue_token_file": str(token)},
            "web": {"enabled": False},
            "markets": {SYM: _market("0.003")},
            "users": users,
        },
    )
    return walking, flat, service


def _service(config: Path, name: str, tmp: Path) -> ServiceProcess:
    log = tmp / f"{name}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.fast_run", str(config)],
            cwd=REPO_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return ServiceProcess(proc=proc, log=log)


def _venue(config: Path, name: str, tmp: Path) -> ServiceProcess:
    venue = launch(["paper-venue", "--config", str(config)], cwd=tmp, log=tmp / f"{name}.log")
    wait_for(
        lambda: (venue.proc.poll(), "paper venue serving" in venue.output()),
        lambda seen: seen[0] is not None or seen[1],
        what=f"{name} to serve",
    )
    assert venue.proc.poll() is None, venue.output()
    return venue


def _owners(url: str) -> dict[int, str | None]:
    with repository(url) as repo, repo._engine.connect() as conn:
        rows = conn.execute(select(m.USER_LEASES.c.user_id, m.USER_LEASES.c.owner))
        return {int(uid): owner for uid, owner in rows}


def _pid_of(url: str, process_id: str) -> int:
    with repository(url) as repo, repo._engine.connect() as conn:
        query = select(m.SERVICE_PROCESSES.c.pid).where(m.SERVICE_PROCESSES.c.id == process_id)
        return int(conn.execute(query).scalar_one())


def _fills_per_user(url: str) -> Counter[int]:
    with repository(url) as repo:
        return Counter(s.user_id for s in repo.list_strategies() for _ in repo.list_fills(s.id))


def test_three_services_share_one_paper_venue_and_fail_over(
    mysql_url: str, tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    port = _free_port()
    walking, flat, service_config = _configs(tmp_path, mysql_url, port)
    onboard(service_config)  # schema, users, accounts and strategies in the database
    venue = _venue(walking, "venue", tmp_path)
    processes.append(venue)
    services = {name: _service(service_config, name, tmp_path) for name in ("p1", "p2", "p3")}
    processes.extend(services.values())
    for proc in services.values():
        proc.wait_started()

    owners = wait_for(
        lambda: _owners(mysql_url),
        lambda o: len(o) == USERS and None not in o.values() and len(set(o.values())) == 3,
        what="the users spread over the three services",
    )
    # Every user trades on the one venue, whichever process holds it.
    wait_for(
        lambda: _fills_per_user(mysql_url),
        lambda fills: len(fills) == USERS,
        what="every user's first fills",
    )

    victim_id = owners[min(owners)]
    assert victim_id is not None
    victim = next(p for p in services.values() if p.proc.pid == _pid_of(mysql_url, victim_id))
    orphans = {uid for uid, owner in owners.items() if owner == victim_id}
    before = _fills_per_user(mysql_url)
    victim.stop(signal.SIGKILL, timeout=30)
    wait_for(
        lambda: _owners(mysql_url),
        lambda o: all(o[u] not in (None, victim_id) for u in orphans),
        what="the killed service's users taken over",
    )
    # Its users trade on, on the same paper accounts, from the other services.
    wait_for(
        lambda: _fills_per_user(mysql_url),
        lambda fills: all(fills[u] > before[u] for u in orphans),
        what="the killed service's users trading again",
    )
    for proc in services.values():
        if proc is not victim:
            assert proc.stop(signal.SIGTERM) == 0, proc.output()[-3000:]
    assert venue.stop(signal.SIGTERM) == 0, venue.output()[-3000:]

    # The venue again, on its file, with a flat market; a last service applies what is left.
    still = _venue(flat, "venue-flat", tmp_path)
    processes.append(still)
    final = _service(service_config, "final", tmp_path)
    processes.append(final)
    final.wait_started()
    client = RemoteVenue(f"http://127.0.0.1:{port}", Secret(TOKEN))
    try:
        wait_for(
            lambda: client.ticker(SYM).last, lambda p: p == Decimal(START), what="the flat price"
        )
        wait_for(
            lambda: audit(venue_ledger(client, tmp_path / "paper.sqlite"), read_db(mysql_url)),  # type: ignore[arg-type]
            lambda problems: problems == [],
            what="the ledgers to agree",
            timeout=60,
        )
    finally:
        client.close()
    assert final.stop(signal.SIGTERM) == 0, final.output()[-3000:]
    assert still.stop(signal.SIGTERM) == 0, still.output()[-3000:]

    venue_side, db_side = read_venue(tmp_path / "paper.sqlite"), read_db(mysql_url)
    assert audit(venue_side, db_side) == []  # order by order, fill by fill, each placed once
    placed = Counter((account, o.client_order_id) for account, o in venue_side.orders)
    assert [key for key, n in placed.items() if n > 1] == []
    assert len({account for account, _ in venue_side.fills}) == USERS
    for proc in [*services.values(), final]:
        assert "another writer saved it" not in proc.output(), proc.log.name
