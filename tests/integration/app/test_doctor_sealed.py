"""`martingale doctor` on the other secrets the master key seals: strategies' webhook signal
secrets (migration 0012) and notification target URLs (migration 0011). Each row that does not
decrypt is named by id, user and name, never shown, and the exit status is 1 as for API keys."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from domain.notifications import NotifyEvent
from domain.secrets import Secret
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.notify_targets import store_target
from persistence.records import DesiredState
from persistence.sql_repository import SqlRepository
from persistence.vault import MASTER_KEY_ENV, Vault, generate_key, parse_keyring
from services.signals import issue_signal_key
from tests.integration.app.test_doctor_cli import MASTER, by_name, deploy, doctor, start_fake
from tests.integration.exchange.fake_binance import FakeBinance
from tests.integration.exchange.fake_binance_venue import Venue
from tests.integration.persistence.helpers import T0

URL_GOOD = "tgram://123456789:AAdoctorGoodToken0001/42"
URL_LOST = "tgram://123456789:AAdoctorLostToken0002/43"
PARAMS = {
    "base_order": "10",
    "safety_order": "10",
    "max_safety_orders": "2",
    "price_deviation": "1",
    "take_profit": "1",
    "start_condition": {"type": "signal", "max_lag": "60"},
}


@pytest.fixture
def venue_url() -> Iterator[str]:
    """The loopback fake binance the deployment's live account points at."""
    server: FakeBinance = start_fake(Venue())
    yield server.base_url  # type: ignore[attr-defined]
    server.stop()


def vault(key: str) -> Vault:
    return Vault(parse_keyring(key, source="test"))


def seal_some(url: str, *, foreign: str) -> dict[str, str]:
    """Two strategies with signal keys and two notification targets: one of each sealed under
    the deployment's key (MASTER), one under `foreign`. Returns each secret and ciphertext."""
    engine = make_engine(url)
    shown: dict[str, str] = {}
    try:
        repo = SqlRepository(engine)
        (alice,) = repo.list_users()
        account = next(a for a in repo.list_accounts(alice.id) if a.name == "paper")
        for name, key in (("good", MASTER), ("lost", foreign)):
            strategy = repo.upsert_strategy(
                alice.id,
                name,
                account_id=account.id,
                symbol="BTC/USDT",
                params=PARAMS,
                desired_state=DesiredState.STOPPED,
                now=T0,
            )
            issued = issue_signal_key(repo, vault(key), strategy, now=datetime.now(UTC))
            shown[f"secret:{name}"] = issued.secret
            shown[f"token:{name}"] = issued.token
            shown[f"sealed:{name}"] = issued.record.secret_ciphertext
        for name, key, target_url in (("phone", MASTER, URL_GOOD), ("pager", foreign, URL_LOST)):
            target = store_target(
                repo,
                vault(key),
                alice.id,
                name,
                Secret(target_url),
                events=frozenset({NotifyEvent.STOP_LOSS}),
                enabled=True,
                now=T0,
            )
            shown[f"url:{name}"] = target_url
            shown[f"sealed:{name}"] = target.sealed.ciphertext
        ids = {s.name: s.id for s in repo.list_strategies(user_id=alice.id)}
        ids.update({t.name: t.id for t in repo.list_notification_targets(user_id=alice.id)})
        shown.update({f"id:{name}": str(value) for name, value in ids.items()})
    finally:
        engine.dispose()
    return shown


def test_signal_secrets_and_notification_urls_that_do_not_decrypt_are_named_not_shown(
    db_url: str,
    venue_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(db_url, venue_url)
    foreign = generate_key()
    shown = seal_some(db_url, foreign=foreign)
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)

    status, json_output = doctor(capsys, "--db", db_url, "--json")
    _, text_output = doctor(capsys, "--db", db_url)

    checks = by_name(json_output)
    assert status == 1
    signals, urls = checks["signal_secrets"], checks["notification_urls"]
    assert signals["status"] == "fail" and urls["status"] == "fail"
    assert signals["message"].startswith("1 of 2 stored signal secret(s) do not decrypt")
    assert f"alice/lost (strategy {shown['id:lost']}, key version 1)" in signals["message"]
    assert "alice/good" not in signals["message"]
    assert urls["message"].startswith("1 of 2 stored notification URL(s) do not decrypt")
    assert f"alice/pager (target {shown['id:pager']}, key version 1)" in urls["message"]
    assert "alice/phone" not in urls["message"]
    assert checks["credentials"]["status"] == "ok"  # the API key opens: only these rows fail
    for output in (json_output, text_output):
        for name, value in shown.items():
            if not name.startswith("id:"):
                assert value.split(":")[-1] not in output, name
        assert MASTER.split(":")[1] not in output and foreign.split(":")[1] not in output


def test_signal_secrets_and_notification_urls_that_decrypt_pass(
    sqlite_url: str,
    venue_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(sqlite_url, venue_url)
    seal_some(sqlite_url, foreign=MASTER)  # every row under the deployment's key
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)

    _, output = doctor(capsys, "--db", sqlite_url, "--json")

    checks = by_name(output)
    assert checks["signal_secrets"]["status"] == "ok"
    assert checks["signal_secrets"]["message"] == "all 2 stored signal secret(s) decrypt"
    assert checks["notification_urls"]["status"] == "ok"
    assert checks["notification_urls"]["message"] == "all 2 stored notification URL(s) decrypt"


def test_without_any_they_are_not_applicable_and_without_a_key_skipped(
    sqlite_url: str,
    venue_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deploy(sqlite_url, venue_url)
    monkeypatch.setenv(MASTER_KEY_ENV, MASTER)
    _, output = doctor(capsys, "--db", sqlite_url, "--json")
    checks = by_name(output)
    assert (checks["signal_secrets"]["status"], checks["notification_urls"]["status"]) == (
        "n/a",
        "n/a",
    )

    seal_some(sqlite_url, foreign=MASTER)
    monkeypatch.delenv(MASTER_KEY_ENV)
    status, output = doctor(capsys, "--db", sqlite_url, "--json")
    checks = by_name(output)
    assert status == 1
    assert checks["master_key"]["status"] == "fail"
    assert (checks["signal_secrets"]["status"], checks["notification_urls"]["status"]) == (
        "skip",
        "skip",
    )


def test_signal_secrets_and_urls_alone_need_the_master_key(
    sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """No API key stored and no live account: the sealed signal secrets and URLs still need
    the key, so its absence fails rather than being "not needed"."""
    upgrade(sqlite_url)
    engine = make_engine(sqlite_url)
    try:
        repo = SqlRepository(engine)
        user = repo.upsert_user("alice", now=T0)
        repo.upsert_account(user.id, "paper", exchange="paper", now=T0)
    finally:
        engine.dispose()
    monkeypatch.delenv(MASTER_KEY_ENV, raising=False)
    _, output = doctor(capsys, "--db", sqlite_url, "--json")
    assert by_name(output)["master_key"]["status"] == "n/a"  # nothing sealed yet

    seal_some(sqlite_url, foreign=MASTER)
    status, output = doctor(capsys, "--db", sqlite_url, "--json")

    assert status == 1
    assert by_name(output)["master_key"]["status"] == "fail"
