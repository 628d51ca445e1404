"""`martingale run` as an operator meets it when something is wrong: a malformed file, a
database that is down, and live keys that must never show up in output or in the database."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pymysql
import pytest

from persistence.migrate import upgrade
from persistence.records import ActualState
from tests.e2e.harness import (
    MARTINGALE,
    ServiceProcess,
    launch,
    onboard,
    read_db,
    repository,
    wait_for,
    write_config,
)

STRATEGY = {
    "account": "main",
    "symbol": "BTC/USDT",
    "base_order": "20",
    "safety_order": "20",
    "max_safety_orders": 3,
    "price_deviation": "1",
    "take_profit": "1",
}
MARKETS = {
    "BTC/USDT": {
        "feed": "simulated",
        "price": "30000",
        "interval": "0.1",
        "tick_size": "0.01",
        "step_size": "0.00001",
    }
}


def paper_user(name: str, *strategies: str, **params: Any) -> dict[str, Any]:
    return {
        "name": name,
        "email": f"{name}@example.com",
        "accounts": [{"name": "main", "exchange": "paper", "balances": {"USDT": "10000"}}],
        "strategies": [{"name": s, **STRATEGY, **params} for s in strategies],
    }


def closed_port() -> int:
    """A loopback port nobody listens on (bound, then released): connections fail at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def martingale(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [MARTINGALE, *args],
        check=False,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- a malformed config changes nothing -----------------------------------------------------


BAD_FILES = {
    "a value out of range": (
        "take_profit: -1",
        "users[0].strategies[1].take_profit",
        "must be",
    ),
    "an unknown key": ("take_proft: 1", "users[0].strategies[1].take_proft", "unknown key"),
    "broken YAML": ("take_profit: [1", "", "bad.yaml:"),
}


def bad_config_text(tmp_path: Path, db_url: str, line: str) -> str:
    """A good file whose second strategy gets `line` in place of its take_profit."""
    good = write_config(
        tmp_path / "bad.yaml",
        {
            "database": {"url": db_url},
            "markets": MARKETS,
            "users": [paper_user("ada", "first", "second")],
        },
    ).read_text(encoding="utf-8")
    head, _, tail = good.rpartition("take_profit: '1'")
    return head + line + tail


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_a_malformed_config_exits_2_naming_the_problem_and_creates_nothing(
    tmp_path: Path, case: str
) -> None:
    line, path, problem = BAD_FILES[case]
    config = tmp_path / "bad.yaml"
    config.write_text(bad_config_text(tmp_path, "sqlite:///var/martingale.sqlite", line))

    result = martingale("run", "--config", str(config), cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "bad.yaml" in result.stderr
    assert path in result.stderr
    assert problem in result.stderr
    assert not (tmp_path / "var").exists(), "a bad file must not create the DB or the venue"


@pytest.mark.slow
def test_a_malformed_config_leaves_an_existing_database_unchanged(
    tmp_path: Path, db_url: str
) -> None:
    upgrade(db_url)
    good = write_config(
        tmp_path / "good.yaml",
        {"database": {"url": db_url}, "markets": MARKETS, "users": [paper_user("ada", "first")]},
    )
    assert martingale("onboard", "--config", str(good), cwd=tmp_path).returncode == 0
    before = database_rows(db_url)
    # Valid changes (a new strategy, a new user) next to one bad value: all or nothing.
    config = tmp_path / "bad.yaml"
    config.write_text(bad_config_text(tmp_path, db_url, "take_profit: -1"))

    result = martingale("run", "--config", str(config), cwd=tmp_path)

    assert result.returncode == 2, result.stderr
    assert "users[0].strategies[1].take_profit" in result.stderr
    assert database_rows(db_url) == before
    assert not (tmp_path / "var").exists(), "no paper venue was opened"


def database_rows(db_url: str) -> dict[str, Any]:
    with repository(db_url) as repo:
        users = repo.list_users(include_deleted=True)
        return {
            "users": users,
            "accounts": [a for u in users for a in repo.list_accounts(u.id)],
            "strategies": repo.list_strategies(),
            "counts": {
                t: repo.count_rows(t) for t in ("cycles", "orders", "fills", "events", "audit_log")
            },
        }


# --- the database is down at start ----------------------------------------------------------


@pytest.mark.slow
def test_an_unreachable_database_at_start_exits_nonzero_and_places_nothing(
    tmp_path: Path,
) -> None:
    url = f"mysql+pymysql://root@127.0.0.1:{closed_port()}/martingale"
    config = write_config(
        tmp_path / "service.yaml",
        {"database": {"url": url}, "markets": MARKETS, "users": [paper_user("ada", "s")]},
    )

    result = martingale("run", "--config", str(config), cwd=tmp_path)

    assert result.returncode not in (0, 2), result.stderr  # not a bad file: a runtime failure
    assert "database unavailable" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "var").exists(), "the paper venue was opened: orders could follow"


# --- secrets never reach the logs or the database -------------------------------------------


@pytest.mark.slow
def test_live_keys_and_the_master_key_never_reach_logs_or_the_database(
    tmp_path: Path, processes: list[ServiceProcess]
) -> None:
    generated = martingale("keys", "generate", cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    master = generated.stdout.strip()
    api_key, secret = secrets.token_hex(24), secrets.token_urlsafe(32)
    nowhere = f"http://127.0.0.1:{closed_port()}"
    config = write_config(
        tmp_path / "service.yaml",
        {
            "database": {"url": "sqlite:///var/martingale.sqlite"},
            "logging": {"format": "json", "level": "debug"},
            "markets": MARKETS,
            "users": [
                paper_user("ada", "paper-btc"),
                {
                    "name": "bea",
                    "email": "bea@example.com",
                    "accounts": [
                        {
                            "name": "main",
                            "exchange": "binance",
                            "api_key_env": "E2E_API_KEY",
                            "secret_env": "E2E_API_SECRET",
                            "base_url": nowhere,
                        }
                    ],
                    "strategies": [{"name": "live-btc", **STRATEGY}],
                },
            ],
        },
    )
    env = {
        **os.environ,
        "E2E_API_KEY": api_key,
        "E2E_API_SECRET": secret,
        "MARTINGALE_MASTER_KEY": master,
        # The public price feed of a live exchange does not take the account's base_url; a
        # proxy on a dead loopback port keeps every request on this machine and failing fast.
        "HTTP_PROXY": nowhere,
        "HTTPS_PROXY": nowhere,
        "NO_PROXY": "",
    }

    run = launch(
        ["run", "--no-web", "--config", str(config)],
        cwd=tmp_path,
        log=tmp_path / "run.log",
        env=env,
    )
    processes.append(run)
    run.wait_started()
    url = f"sqlite:///{tmp_path / 'var' / 'martingale.sqlite'}"
    # The live engine has decrypted the key, built its client and failed against the exchange.
    wait_for(
        lambda: {s.name: s.actual_state for s in read_db(url).strategies.values()},
        lambda seen: (
            seen.get("live-btc") is ActualState.DEGRADED
            and seen.get("paper-btc") is ActualState.RUNNING
        ),
        what="the live strategy to be degraded and the paper one running",
    )
    assert run.stop(signal.SIGTERM) == 0, run.output()[-3000:]

    output = run.output()
    with repository(url) as repo:
        [bea] = [u for u in repo.list_users() if u.name == "bea"]
        [account] = repo.list_accounts(bea.id)
        assert account.has_credentials, "the key was never stored: the test proves nothing"
    stored = b"".join(p.read_bytes() for p in (tmp_path / "var").iterdir() if p.is_file())
    for name, value in {
        "API key": api_key,
        "secret": secret,
        "master key": master,
        "master key material": master.split(":", 1)[-1],
    }.items():
        assert value not in output, f"the {name} appears in the output"
        assert value.encode() not in stored, f"the {name} appears in a file under var/"


# --- bad input anywhere: one line, exit 1 or 2, never a traceback ---------------------------


def assert_one_line(result: subprocess.CompletedProcess[str], status: int, *needles: str) -> None:
    assert result.returncode == status, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    for needle in needles:
        assert needle in result.stderr, result.stderr


def billion_laughs() -> str:
    """Nine lines that expand to 10^9 values (the "x-" keys are anchors only)."""
    lines = ['x-a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 9):
        name, prev = chr(ord("a") + i), chr(ord("a") + i - 1)
        lines.append(f"x-{name}: &{name} [" + ", ".join([f"*{prev}"] * 10) + "]")
    return "\n".join(lines) + "\n"


HOSTILE = {
    "1e999999999": ("take_profit: '1e999999999'", "take_profit: '1e999999999' is out of range"),
    "5,000 digits": (f"take_profit: {'1' * 5000}", "is too long for a number"),
    "an alias bomb": (None, "expands to far more values than it has text"),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_numbers_and_alias_bombs_are_a_clean_config_error(
    tmp_path: Path, case: str
) -> None:
    line, expected = HOSTILE[case]
    text = bad_config_text(tmp_path, "sqlite:///var/martingale.sqlite", line or "take_profit: 1")
    config = tmp_path / "bad.yaml"
    config.write_text(text if line else billion_laughs() + text, encoding="utf-8")

    result = martingale("run", "--config", str(config), cwd=tmp_path)

    assert_one_line(result, 2, "bad.yaml:", expected)
    assert not (tmp_path / "var").exists()


@pytest.mark.slow
@pytest.mark.mysql
def test_bad_database_urls_and_a_missing_mysql_database_are_one_line(
    tmp_path: Path, mysql_url: str
) -> None:
    def config(url: str) -> Path:
        return write_config(
            tmp_path / "service.yaml",
            {"database": {"url": url}, "markets": MARKETS, "users": [paper_user("ada", "s")]},
        )

    no_driver = martingale("run", "--config", str(config("mysql://root@127.0.0.1/x")), cwd=tmp_path)
    assert_one_line(no_driver, 2, "database.url:", "mysql+pymysql://")
    postgres = martingale("status", "--db", "postgresql://u:pw@localhost/db", cwd=tmp_path)
    assert_one_line(postgres, 2, "'postgresql' databases are not supported")
    assert "pw@" not in postgres.stderr

    parts = urlsplit(mysql_url)
    name = f"{parts.path.lstrip('/')}_e2e_missing"
    missing = urlunsplit(parts._replace(path=f"/{name}"))
    try:
        refused = martingale("run", "--config", str(config(missing)), cwd=tmp_path)
        assert_one_line(refused, 1, "does not exist on that server; create it with")
        created = martingale("db", "upgrade", "--db", missing, cwd=tmp_path)
        assert created.returncode == 0, created.stderr
        assert "created the MySQL database" in created.stdout
    finally:
        server = pymysql.connect(host=parts.hostname, port=parts.port or 3306, user=parts.username)
        try:
            with server.cursor() as cursor:
                cursor.execute(f"DROP DATABASE IF EXISTS `{name}`")
        finally:
            server.close()


@pytest.mark.slow
def test_read_only_commands_and_plan_refuse_without_creating_anything(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'db' / 'none.sqlite'}"
    (tmp_path / "new.key").write_text(
        martingale("keys", "generate", "--version", "2", cwd=tmp_path).stdout, encoding="utf-8"
    )
    (tmp_path / "new.key").chmod(0o600)
    env = {**os.environ, "MARTINGALE_MASTER_KEY": "v1:" + "A" * 43 + "="}
    rotate = martingale(
        "keys", "rotate-master", "--db", url, "--new-key-file", "new.key", cwd=tmp_path, env=env
    )
    assert_one_line(rotate, 1, "the database does not exist yet")
    strategy = martingale(
        "strategy", "stop", "--user", "nobody", "--name", "x", "--db", url, cwd=tmp_path
    )
    assert_one_line(strategy, 1, "the database does not exist yet")
    assert not (tmp_path / "var").exists(), "a read-only command created the database"

    plan = martingale(
        "plan", "--base-order", "10", "--safety-order", "20", "--max-safety-orders", "3",
        "--price-deviation", "1", "--take-profit", "1", "--price", "100", "--tick-size", "0",
        cwd=tmp_path,
    )  # fmt: skip
    assert_one_line(plan, 2, "--tick-size: must be greater than 0")


@pytest.mark.slow
def test_status_json_into_a_pipe_closed_early_ends_without_a_traceback(tmp_path: Path) -> None:
    many = paper_user("ada", *(f"s{i:03d}" for i in range(300)))
    many["accounts"][0]["balances"] = {"USDT": "1000000"}
    config = write_config(
        tmp_path / "service.yaml",
        {
            "database": {"url": f"sqlite:///{tmp_path / 'var' / 'db.sqlite'}"},
            "markets": MARKETS,
            "users": [many],
        },
    )
    onboard(config)  # in-process: the status JSON of 300 strategies is larger than a pipe holds
    proc = subprocess.Popen(
        [MARTINGALE, "status", "--config", str(config), "--json"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(1) == b"{"  # what `| head -c1` does: one byte, then close
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert err == "", err
