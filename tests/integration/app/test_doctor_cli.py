"""`martingale doctor` end to end: a real database (SQLite and MySQL), the real ccxt.binance
client against the loopback fake binance, and the CLI's own output and exit status."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from domain.secrets import Credentials, Secret
from persistence.credentials import store_credentials
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.sql_repository import SqlRepository
from persistence.vault import MASTER_KEY_ENV, Vault, generate_key, parse_keyring
from tests.integration.exchange.fake_binance import API_RESTRICTIONS, FakeBinance
from tests.integration.exchange.fake_binance_venue import FakeSymbol, Venue
from tests.integration.persistence.helpers import T0

API_KEY = "AK-doctor-4f7Qz9"
API_SECRET = "SK-doctor-Xb81Lw"
CREDS = Credentials(api_key=Secret(API_KEY), secret=Secret(API_SECRET))
MASTER = generate_key()


class SkewedVenue(Venue):
    """A venue whose clock runs `offset_ms` ahead of this machine's."""

    def __init__(self, offset_ms: int) -> None:
        super().__init__()
        self.offset_ms = offset_ms

    def now_ms(self) -> int:
        return super().now_ms() + self.offset_ms


def start_fake(venue: Venue) -> FakeBinance:
    venue.add_symbol(FakeSymbol("BTC", "USDT", Decimal("30000")))
    fake = FakeBinance(venue, api_key=API_KEY, secret=API_SECRET)
    fake.base_url = fake.start()  # type: ignore[attr-defined]
    return fake


@pytest.fixture
def fake() -> Iterator[FakeBinance]:
    server = start_fake(Venue())
    yield server
    server.stop()


def deploy(url: str, base_url: str, *, master: str = MASTER) -> None:
    """A migrated database with one user, a paper and a live account (its key sealed)."""
    upgrade(url)
    engine = make_engine(url)
    try:
        repo = SqlRepository(engine)
        user = repo.upsert_user("alice", now=T0)
        repo.upsert_account(user.id, "paper", exchange="paper", now=T0)
        live = repo.upsert_account(user.id, "main", exchange="binance", now=T0, base_url=base_url)
        store_credentials(repo, Vault(parse_keyring(master, source="test")), live.id, CREDS, now=T0)
    finally:
        engine.dispose()


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    status = main(["doctor", *args])
    out = capsys.readouterr()
    return status, out.out + out.err


def lines(output: str) -> dict[str, str]:
    """check name -> its status label (the first word of each check's line)."""
    found = {}
    for line in output.splitlines():
        label, _, rest = line.partition("  ")
        name = rest.strip().partition(":")[0]
        if label.strip() in ("ok", "n/a", "warn", "FAIL", "skip"):
            found[name.split(":")[0] if name.startswith(("clock", "key")) else name] = label.strip()
    return found


def by_name(output: str) -> dict[str, dict[str, Any]]:
    return {c["name"]: c for c in json.loads(output)["checks"]}


def test_a_healthy_deployment_passes_with_exit_0(
    db_url: str,
    fake: FakeBinance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(db_url, fake.base_url)  # type: ignore[attr-defined]
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)

    status, output = doctor(capsys, "--db", db_url, "--json")

    checks = by_name(output)
    venue = f"binance@{fake.base_url}"  # type: ignore[attr-defined]
    assert checks["schema"]["status"] == "ok"
    assert checks["credentials"]["status"] == "ok"
    assert checks[f"clock:{venue}"]["status"] == "ok"
    assert checks["clock:paper"]["status"] == "n/a"
    assert checks["key:alice/main"]["status"] == "ok"
    mysql = [c["status"] for n, c in checks.items() if n.startswith("mysql")]
    if db_url.startswith("sqlite"):
        assert mysql == ["n/a"]
        assert json.loads(output)["ok"] is True and status == 0
    else:  # the test server's own settings decide; only the evaluation is ours
        assert len(mysql) == 4 and checks["mysql.engines"]["status"] == "ok"
        assert status == (0 if all(s in ("ok", "n/a") for s in mysql) else 1)
    assert fake.count("POST") == 0 and fake.count("DELETE") == 0  # no order call
    assert fake.count("GET", API_RESTRICTIONS) == 1


def test_a_key_that_can_withdraw_fails_and_one_without_ip_restriction_warns(
    sqlite_url: str,
    fake: FakeBinance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(sqlite_url, fake.base_url)  # type: ignore[attr-defined]
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)
    fake.api_restrictions["ipRestrict"] = False

    status, output = doctor(capsys, "--db", sqlite_url)
    assert status == 1 and lines(output)["key"] == "warn"
    assert "restrict it to the service's IP addresses" in output

    fake.api_restrictions["enableWithdrawals"] = True
    status, output = doctor(capsys, "--db", sqlite_url)
    assert status == 1 and lines(output)["key"] == "FAIL"
    assert "withdrawals are enabled" in output


@pytest.mark.parametrize("offset_ms", [3_000, -8_000])
def test_a_venue_clock_far_from_ours_fails(
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    offset_ms: int,
) -> None:
    """3 s: the venue is ahead, so we are behind (a warning below 5 s); -8 s: we are 8 s
    ahead, far past binance's 1 s."""
    server = start_fake(SkewedVenue(offset_ms))
    try:
        deploy(sqlite_url, server.base_url)  # type: ignore[attr-defined]
        monkeypatch.setenv(MASTER_KEY_ENV, MASTER)
        status, output = doctor(capsys, "--db", sqlite_url, "--json")
    finally:
        server.stop()
    clock = by_name(output)[f"clock:binance@{server.base_url}"]  # type: ignore[attr-defined]
    assert status == 1
    if offset_ms > 0:
        assert clock["status"] == "warn" and "behind" in clock["message"]
    else:
        assert clock["status"] == "fail" and "ahead of" in clock["message"]


def test_a_wrong_master_key_names_the_rows_and_shows_no_secret(
    db_url: str,
    fake: FakeBinance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(db_url, fake.base_url)  # type: ignore[attr-defined]
    wrong = generate_key()
    monkeypatch.setenv(MASTER_KEY_ENV, wrong)

    status, text_output = doctor(capsys, "--db", db_url)
    _, json_output = doctor(capsys, "--db", db_url, "--json")

    assert status == 1
    credentials = by_name(json_output)["credentials"]
    assert credentials["status"] == "fail"
    assert "alice/main (account" in credentials["message"]
    assert "key:alice/main" not in by_name(json_output)  # a key that did not open is not sent
    engine = make_engine(db_url)
    try:
        (stored,) = SqlRepository(engine).list_credentials()
    finally:
        engine.dispose()
    for output in (text_output, json_output):
        for secret in (API_KEY, API_SECRET, MASTER, wrong, MASTER.split(":")[1]):
            assert secret not in output
        assert stored.sealed.ciphertext.split(":")[-1] not in output


def test_no_secret_is_shown_when_the_keys_open_either(
    sqlite_url: str,
    fake: FakeBinance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(sqlite_url, fake.base_url)  # type: ignore[attr-defined]
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)
    fake.api_restrictions["enableWithdrawals"] = True  # the key's line has the most to say

    outputs = [doctor(capsys, "--db", sqlite_url, *extra)[1] for extra in ((), ("--json",))]

    for output in outputs:
        for secret in (API_KEY, API_SECRET, MASTER.split(":")[1]):
            assert secret not in output


def test_a_master_key_file_others_can_read_fails(
    sqlite_url: str,
    fake: FakeBinance,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(sqlite_url, fake.base_url)  # type: ignore[attr-defined]
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    key_file = tmp_path / "master.key"
    key_file.write_text(MASTER + "\n")
    key_file.chmod(0o644)

    status, output = doctor(capsys, "--db", sqlite_url, "--master-key-file", str(key_file))
    assert status == 1 and lines(output)["master_key_file"] == "FAIL"
    assert "chmod 600" in output

    key_file.chmod(0o600)
    status, output = doctor(capsys, "--db", sqlite_url, "--master-key-file", str(key_file))
    assert lines(output)["master_key_file"] == "ok" and lines(output)["credentials"] == "ok"
    assert status == 0


def test_no_master_key_where_keys_are_stored_fails(
    sqlite_url: str,
    fake: FakeBinance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(sqlite_url, fake.base_url)  # type: ignore[attr-defined]
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)

    status, output = doctor(capsys, "--db", sqlite_url)

    found = lines(output)
    assert status == 1
    assert (found["master_key"], found["credentials"]) == ("FAIL", "skip")


def test_only_the_rows_the_key_cannot_open_are_named(
    sqlite_url: str,
    fake: FakeBinance,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(sqlite_url, fake.base_url)  # type: ignore[attr-defined]
    engine = make_engine(sqlite_url)
    try:  # a second account whose key was sealed under a key this deployment does not have
        repo = SqlRepository(engine)
        (alice,) = repo.list_users()
        other = repo.upsert_account(alice.id, "spare", exchange="binance", now=T0)
        foreign = Vault(parse_keyring(generate_key(), source="test"))
        store_credentials(repo, foreign, other.id, CREDS, now=T0)
    finally:
        engine.dispose()
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)

    status, output = doctor(capsys, "--db", sqlite_url, "--json")

    checks = by_name(output)
    assert status == 1
    message = checks["credentials"]["message"]
    assert message.startswith("1 of 2 stored API key(s) do not decrypt: alice/spare (account")
    assert "alice/main" not in message
    assert checks["key:alice/main"]["status"] == "ok"  # the key that opened is still checked


def test_a_venue_that_does_not_answer_fails_its_lines(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_fake(Venue())
    gone = server.base_url  # type: ignore[attr-defined]
    server.stop()  # nothing listens on the port any more
    deploy(sqlite_url, gone)
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)

    status, output = doctor(capsys, "--db", sqlite_url, "--json")

    checks = by_name(output)
    assert status == 1
    assert checks[f"clock:binance@{gone}"]["status"] == "fail"
    assert "could not read the venue's time" in checks[f"clock:binance@{gone}"]["message"]
    assert checks["key:alice/main"]["status"] == "fail"
