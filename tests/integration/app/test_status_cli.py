"""`martingale onboard` and `martingale status` through the real CLI, on SQLite and MySQL."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from app.status_table import render_table
from domain.ids import client_order_id
from domain.orders import Order, OrderState, OrderType, Side
from persistence.database import make_engine
from persistence.migrate import current_revision, head_revision, upgrade
from persistence.records import ActualState, CycleRecord, CycleStatus, DesiredState, OrderIntent
from persistence.sql_repository import SqlRepository
from persistence.vault import generate_key
from services.status import collect_status
from tests.integration.app.conftest import ALICE, BOB, USDT_PARAMS, config_text, snapshot

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
PAPER_BOB = f"""
  - name: bob
    email: bob@example.com
    accounts:
      - name: paper
        exchange: paper
        balances: {{USDT: 5000}}
    strategies:
      - name: first
        account: paper
        symbol: BTC/USDT
        {USDT_PARAMS}
      - name: last
        account: paper
        symbol: BTC/USDT
        {USDT_PARAMS}
"""


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


def open_repo(url: str) -> SqlRepository:
    return SqlRepository(make_engine(url))


def buy(strategy_id: int, cycle: int, leg: str, price: str, amount: str) -> OrderIntent:
    order = Order(
        client_order_id=client_order_id(strategy_id, cycle, leg),
        symbol="ETH/BTC",
        side=Side.BUY,
        type=OrderType.LIMIT,
        amount=Decimal(amount),
        price=Decimal(price),
    )
    return OrderIntent(cycle=cycle, leg=leg, order=order)


def trade(repo: SqlRepository, strategy_id: int) -> None:
    """Cycle 1 closed with profit, cycle 2 open with a position and two live orders."""
    repo.upsert_cycle(
        strategy_id,
        CycleRecord(number=1, status=CycleStatus.OPEN, opened_at=T0, amount=Decimal("0.02")),
    )
    repo.close_cycle(strategy_id, 1, realized_profit=Decimal("0.000123450"), now=T0)
    repo.upsert_cycle(
        strategy_id,
        CycleRecord(
            number=2,
            status=CycleStatus.OPEN,
            opened_at=T0 + timedelta(minutes=1),
            amount=Decimal("0.050"),
            cost=Decimal("0.004925"),
            base_price=Decimal("0.1"),
            average_price=Decimal("0.0985"),
        ),
    )
    done = repo.record_order_intent(strategy_id, buy(strategy_id, 2, "b", "0.1", "0.02"), now=T0)
    repo.update_order(strategy_id, replace(done, state=OrderState.FILLED), now=T0)
    for leg, price in (("s1", "0.0985"), ("s2", "0.097")):
        repo.record_order_intent(strategy_id, buy(strategy_id, 2, leg, price, "0.04"), now=T0)
    repo.set_actual_state(strategy_id, ActualState.DEGRADED, now=T0, last_error="exchange down")
    repo.record_heartbeats({strategy_id: T0 - timedelta(seconds=42)})


def test_onboard_then_status_json_shows_what_the_repository_holds(
    db_url: str, write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(config_text(db_url, ALICE))
    if db_url.startswith("mysql"):
        upgrade(db_url)  # an existing MySQL database is never migrated by onboard
    status, out, err = run(capsys, "onboard", "--config", str(config))
    assert status == 0, err
    assert "strategies   created    2" in out
    repo = open_repo(db_url)
    try:
        eth = next(s for s in repo.list_strategies() if s.name == "eth")
        trade(repo, eth.id)
        lines = {line.name: line for line in collect_status(repo, now=T0)}
    finally:
        repo._engine.dispose()
    assert lines["eth"].heartbeat_age_s == Decimal("42.000")

    status, out, err = run(capsys, "status", "--config", str(config), "--json")
    assert status == 0, err
    data = json.loads(out)
    assert list(data) == ["strategies"]
    by_name = {s["name"]: s for s in data["strategies"]}
    eth_json = by_name["eth"]
    age = eth_json.pop("heartbeat_age_s")
    assert Decimal(age) >= 42  # measured from the real clock, so only a lower bound
    assert eth_json == {
        "user": "alice",
        "name": "eth",
        "symbol": "ETH/BTC",
        "state": "degraded",
        "desired_state": "running",
        "cycle": "2",
        "cycles_completed": "1",
        "realized_profit": "0.00012345",
        "position_amount": "0.05",
        "average_price": "0.0985",
        "held_amount": "0",
        "held_average": None,
        "open_orders": "2",
        "last_error": "exchange down",
        "waiting_for": None,
    }
    assert by_name["btc"] == {
        "user": "alice",
        "name": "btc",
        "symbol": "BTC/USDT",
        "state": "stopped",
        "desired_state": "paused",
        "cycle": None,
        "cycles_completed": "0",
        "realized_profit": "0",
        "position_amount": "0",
        "average_price": None,
        "held_amount": "0",
        "held_average": None,
        "open_orders": "0",
        "heartbeat_age_s": None,
        "last_error": None,
        "waiting_for": None,
    }

    status, table, _ = run(capsys, "status", "--db", db_url)
    assert status == 0
    rows = table.splitlines()
    assert len(rows) == 3
    header = rows[0]
    for title in ("USER", "SYMBOL", "STATE", "PROFIT", "AVG PRICE", "HEARTBEAT", "LAST ERROR"):
        assert title in header
    eth_row = next(r for r in rows if " eth " in r)
    assert "degraded (wants running)" in eth_row and "exchange down" in eth_row
    # Right-aligned numeric columns end where their header ends.
    assert eth_row[: header.index("PROFIT") + len("PROFIT")].endswith("0.00012345")
    assert rows[2][header.index("SYMBOL")] != " "


def test_a_closed_latest_cycle_means_no_position(db_url: str) -> None:
    upgrade(db_url)
    repo = open_repo(db_url)
    try:
        user = repo.upsert_user("zed", now=T0)
        account = repo.upsert_account(user.id, "main", exchange="paper", now=T0)
        strategy = repo.upsert_strategy(
            user.id,
            "one",
            account_id=account.id,
            symbol="ETH/BTC",
            params={},
            desired_state=DesiredState.RUNNING,
            now=T0,
        )
        cycle = CycleRecord(
            number=1,
            status=CycleStatus.OPEN,
            opened_at=T0,
            amount=Decimal("3"),
            average_price=Decimal("2"),
        )
        repo.upsert_cycle(strategy.id, cycle)
        repo.close_cycle(strategy.id, 1, realized_profit=Decimal("-0.5"), now=T0)
        [line] = collect_status(repo, now=T0)
    finally:
        repo._engine.dispose()
    assert (line.cycle, line.cycles_completed) == (1, 1)
    assert (line.position_amount, line.average_price) == (Decimal(0), None)
    assert line.realized_profit == Decimal("-0.5")


def test_status_on_a_database_without_strategies(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(db_url)
    status, out, _ = run(capsys, "status", "--db", db_url, "--json")
    assert status == 0 and json.loads(out) == {"strategies": []}
    status, out, _ = run(capsys, "status", "--db", db_url)
    assert status == 0 and "no strategies yet" in out
    assert render_table([]) == out.strip()


def test_status_reports_a_missing_sqlite_file_without_creating_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "var" / "none.sqlite"
    status, _, err = run(capsys, "status", "--db", f"sqlite:///{path}")
    assert status == 1 and "does not exist yet" in err
    assert not path.exists() and not path.parent.exists()


def test_a_bad_file_exits_2_names_the_problem_and_changes_nothing(
    db_url: str, write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    if db_url.startswith("mysql"):
        upgrade(db_url)
    good = write_config(config_text(db_url, ALICE))
    assert run(capsys, "onboard", "--config", str(good))[0] == 0
    repo = open_repo(db_url)
    try:
        before = snapshot(repo)
        # bob is new and valid; only the last strategy of the file is bad.
        bad_text = config_text(db_url, ALICE + PAPER_BOB)
        bad_text = bad_text[: bad_text.rindex("take_profit: 1.2")] + "take_profit: -1\n"
        bad = write_config(bad_text)
        status, out, err = run(capsys, "onboard", "--config", str(bad))
        assert status == 2 and out == ""
        assert str(bad) in err
        assert "users[1].strategies[1].take_profit" in err
        assert snapshot(repo) == before
    finally:
        repo._engine.dispose()


def test_a_bad_file_does_not_even_create_the_sqlite_file(
    tmp_path: Path, write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "var" / "new.sqlite"
    text = config_text(f"sqlite:///{db}", ALICE).replace("symbol: BTC/USDT", "symbol: XRP/USDT")
    status, _, err = run(capsys, "onboard", "--config", str(write_config(text)))
    assert status == 2 and "users[0].strategies[1]" in err
    assert not db.exists()


def test_onboard_refuses_an_existing_database_that_is_behind(
    db_url: str, write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(config_text(db_url, ALICE))
    upgrade(db_url, "0001")
    status, _, err = run(capsys, "onboard", "--config", str(config))
    assert status == 1 and "martingale db upgrade" in err
    assert current_revision(db_url) == "0001"
    status, _, err = run(capsys, "status", "--db", db_url)
    assert status == 1 and "martingale db upgrade" in err
    upgrade(db_url)
    assert current_revision(db_url) == head_revision()
    assert run(capsys, "onboard", "--config", str(config))[0] == 0


def test_onboard_creates_a_new_sqlite_database_and_is_idempotent(
    tmp_path: Path, write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "var" / "fresh.sqlite"
    config = write_config(config_text(f"sqlite:///{db}", ALICE))
    status, out, _ = run(capsys, "onboard", "--config", str(config))
    assert status == 0 and "created a new database" in out and db.exists()
    status, out, _ = run(capsys, "onboard", "--config", str(config), "--json")
    summary: dict[str, Any] = json.loads(out)
    assert status == 0 and summary["database_created"] is False
    assert summary["strategies"] == {"created": 0, "updated": 0, "unchanged": 2, "stopped": 0}


def test_live_keys_come_from_the_environment_and_never_reach_the_output(
    tmp_path: Path,
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db = tmp_path / "live.sqlite"
    config = write_config(config_text(f"sqlite:///{db}", BOB))
    monkeypatch.setenv("TEST_BOB_KEY", "key-visible-nowhere")
    monkeypatch.setenv("TEST_BOB_SECRET", "secret-visible-nowhere")
    monkeypatch.delenv("MARTINGALE_MASTER_KEY", raising=False)
    status, _, err = run(capsys, "onboard", "--config", str(config))
    assert status == 2 and "MARTINGALE_MASTER_KEY" in err and not db.exists()
    monkeypatch.setenv("MARTINGALE_MASTER_KEY", generate_key())
    status, out, err = run(capsys, "onboard", "--config", str(config))
    assert status == 0, err
    assert "credentials  created    1" in out
    stored = b"".join(f.read_bytes() for f in tmp_path.glob("live.sqlite*"))
    assert "visible-nowhere" not in out + err + stored.decode("latin-1")


@pytest.mark.parametrize(
    ("command", "options"),
    [("onboard", ["--config", "--json"]), ("status", ["--config", "--db", "--json"])],
)
def test_help_mentions_every_option(
    command: str, options: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main([command, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    for option in [*options, "--help"]:
        assert option in text


def test_a_stopped_strategy_shows_the_position_its_last_cycle_kept_as_held(
    db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade(db_url)
    repo = open_repo(db_url)
    try:
        user = repo.upsert_user("kim", now=T0)
        account = repo.upsert_account(user.id, "main", exchange="paper", now=T0)
        ids = {}
        for name in ("kept", "sold"):
            ids[name] = repo.upsert_strategy(
                user.id,
                name,
                account_id=account.id,
                symbol="ETH/BTC",
                params={},
                desired_state=DesiredState.STOPPED,
                now=T0,
            ).id
        # stop-now: cycle 1 ended without a sale, the position is kept for the next cycle
        repo.upsert_cycle(
            ids["kept"],
            CycleRecord(
                number=1,
                status=CycleStatus.ABORTED,
                opened_at=T0,
                closed_at=T0,
                amount=Decimal("0.06"),
                cost=Decimal("0.0059"),
                average_price=Decimal("0.098333333333333333"),
                realized_profit=Decimal(0),
                carried_amount=Decimal("0.06"),
                carried_cost=Decimal("0.0059"),
            ),
        )
        repo.upsert_cycle(
            ids["sold"],
            CycleRecord(number=1, status=CycleStatus.OPEN, opened_at=T0, amount=Decimal("2")),
        )
        repo.close_cycle(ids["sold"], 1, realized_profit=Decimal("0.1"), now=T0)
        repo.set_actual_state(ids["kept"], ActualState.STOPPED, now=T0)
    finally:
        repo._engine.dispose()

    status, out, err = run(capsys, "status", "--db", db_url, "--json")
    assert status == 0, err
    by_name = {s["name"]: s for s in json.loads(out)["strategies"]}
    kept, sold = by_name["kept"], by_name["sold"]
    assert (kept["position_amount"], kept["average_price"]) == ("0", None)  # no open cycle
    assert (kept["held_amount"], kept["held_average"]) == ("0.06", "0.098333333333333333")
    assert (sold["held_amount"], sold["held_average"]) == ("0", None)

    status, table, _ = run(capsys, "status", "--db", db_url)
    header, *rows = table.splitlines()
    assert "HELD" in header
    kept_row = next(r for r in rows if " kept " in r)
    sold_row = next(r for r in rows if " sold " in r)
    assert "0.06 @ 0.098333333333333333" in kept_row
    assert sold_row[: header.index("HELD") + len("HELD")].endswith("-")
