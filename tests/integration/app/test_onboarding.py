"""`sync_config` against real SQLite and MySQL: idempotence, removal, keys, atomicity."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from app.cli import main
from config.loader import ConfigError, load_config
from config.schema import ServiceConfig
from domain.errors import CredentialError, DatabaseUnavailable
from domain.events import StopMode
from persistence.credentials import load_credentials
from persistence.records import DesiredState
from persistence.sql_repository import SqlRepository
from persistence.vault import fingerprint, generate_key
from services.onboarding import strategy_params, sync_config, vault_for
from tests.integration.app.conftest import (
    ALICE,
    BOB,
    BTC_PARAMS,
    USDT_PARAMS,
    config_text,
    snapshot,
)

T0 = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)
KEY = generate_key()
ENV = {"MARTINGALE_MASTER_KEY": KEY, "TEST_BOB_KEY": "bob-key-1", "TEST_BOB_SECRET": "bob-sec-1"}


def load(write: Callable[[str], Path], url: str, users: str) -> ServiceConfig:
    return load_config(write(config_text(url, users)))


def sync(config: ServiceConfig, repo: Any, at: datetime, env: dict[str, str] = ENV) -> Any:
    return sync_config(config, repo, vault_for(config, env=env), now=at, env=env)


def strategies_by_name(repo: SqlRepository) -> dict[str, Any]:
    return {
        f"{u.name}/{s.name}": s
        for u in repo.list_users()
        for s in repo.list_strategies(user_id=u.id)
    }


def test_first_sync_creates_everything_and_the_second_writes_nothing(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    config = load(write_config, db_url, ALICE + BOB)
    first = sync(config, sql_repo, T0)
    assert first.as_dict()["users"] == {"created": 2, "updated": 0, "unchanged": 0, "stopped": 0}
    assert (first.accounts.created, first.credentials.created, first.strategies.created) == (
        3,
        1,
        4,
    )
    assert {u.name: u.email for u in sql_repo.list_users()} == {
        "alice": "alice@example.com",
        "bob": "bob@example.com",
    }
    by_name = strategies_by_name(sql_repo)
    assert {k: s.desired_state for k, s in by_name.items()} == {
        "alice/eth": DesiredState.RUNNING,
        "alice/btc": DesiredState.PAUSED,
        "bob/btc-paper": DesiredState.STOPPED,
        "bob/btc-live": DesiredState.RUNNING,
    }
    # Complete parameters, defaults filled in, as decimal strings under the plan names.
    assert by_name["alice/eth"].params == {
        "base_order": "0.002",
        "safety_order": "0.004",
        "max_safety_orders": "3",
        "price_deviation": "1.5",
        "step_scale": "1",
        "volume_scale": "1",
        "take_profit": "1.5",
        "max_active_safety_orders": "1",
        "cooldown": "0",
        "base_order_type": "market",
        "direction": "long",
        "stop_loss_trailing": "false",
        "stop_loss_timeout_action": "market",
        "reinvest_percent": "0",
        "start_condition": {"type": "asap"},
    }
    before = snapshot(sql_repo)
    second = sync(config, sql_repo, T0 + timedelta(hours=1))
    assert not second.changed
    assert (second.users.unchanged, second.accounts.unchanged) == (2, 3)
    assert (second.credentials.unchanged, second.strategies.unchanged) == (1, 4)
    assert snapshot(sql_repo) == before


def test_a_changed_parameter_or_state_updates_only_that_strategy(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    sync(load(write_config, db_url, ALICE), sql_repo, T0)
    before = strategies_by_name(sql_repo)
    changed = (
        ALICE.replace("take_profit: 1.5", "take_profit: 1.75")
        .replace("state: paused", "state: running")
        .replace("alice@example.com", "alice@example.org")
    )
    report = sync(load(write_config, db_url, changed), sql_repo, T0 + timedelta(minutes=5))
    assert (report.strategies.updated, report.strategies.unchanged) == (2, 0)
    assert (report.users.updated, report.accounts.unchanged) == (1, 1)
    alice = sql_repo.find_user("alice")
    assert alice is not None and alice.email == "alice@example.org"
    after = strategies_by_name(sql_repo)
    assert after["alice/eth"].params["take_profit"] == "1.75"
    assert after["alice/eth"].updated_at == T0 + timedelta(minutes=5)
    assert after["alice/btc"].desired_state is DesiredState.RUNNING
    assert after["alice/eth"].id == before["alice/eth"].id
    # A default written out explicitly is the same parameter set: nothing to write.
    explicit = changed.replace("take_profit: 1.75", "take_profit: 1.75\n        step_scale: 1")
    report = sync(load(write_config, db_url, explicit), sql_repo, T0 + timedelta(minutes=9))
    assert not report.changed
    assert strategies_by_name(sql_repo) == after


def test_removed_strategies_and_users_are_stopped_not_deleted(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    sync(load(write_config, db_url, ALICE + BOB), sql_repo, T0)
    counts = snapshot(sql_repo)["counts"]
    without_btc = ALICE[: ALICE.index("      - name: btc\n")]
    report = sync(load(write_config, db_url, without_btc), sql_repo, T0 + timedelta(minutes=1))
    # alice/btc was paused, bob/btc-live running: stopped; bob/btc-paper already was.
    assert (report.strategies.stopped, report.users.stopped) == (2, 1)
    assert report.strategies.unchanged == 1
    by_name = strategies_by_name(sql_repo)
    assert set(by_name) == {"alice/eth", "alice/btc", "bob/btc-paper", "bob/btc-live"}
    assert by_name["alice/eth"].desired_state is DesiredState.RUNNING
    for name in ("alice/btc", "bob/btc-paper", "bob/btc-live"):
        assert by_name[name].desired_state is DesiredState.STOPPED
    assert snapshot(sql_repo)["counts"] == counts
    before = snapshot(sql_repo)
    again = sync(load(write_config, db_url, without_btc), sql_repo, T0 + timedelta(minutes=2))
    assert not again.changed
    assert snapshot(sql_repo) == before
    # Putting them back in the file brings back the desired state the file asks for (all
    # three were marked removed, bob/btc-paper too, though it was stopped already).
    back = sync(load(write_config, db_url, ALICE + BOB), sql_repo, T0 + timedelta(minutes=3))
    assert back.strategies.updated == 3
    by_name = strategies_by_name(sql_repo)
    assert by_name["bob/btc-live"].desired_state is DesiredState.RUNNING
    assert by_name["alice/btc"].desired_state is DesiredState.PAUSED
    assert by_name["bob/btc-paper"].config_state == "disabled"


def test_credentials_are_resealed_only_when_the_key_or_secret_changes(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    config = load(write_config, db_url, BOB)
    sync(config, sql_repo, T0)
    bob = sql_repo.find_user("bob")
    assert bob is not None
    live = next(a for a in sql_repo.list_accounts(bob.id) if a.name == "live")
    sealed = sql_repo.load_credentials(live.id)
    assert sealed is not None and "bob-sec-1" not in sealed.ciphertext

    assert sync(config, sql_repo, T0 + timedelta(minutes=1)).credentials.unchanged == 1
    assert sql_repo.load_credentials(live.id) == sealed

    new_secret = {**ENV, "TEST_BOB_SECRET": "bob-sec-2"}
    report = sync(config, sql_repo, T0 + timedelta(minutes=2), env=new_secret)
    assert report.credentials.updated == 1
    resealed = sql_repo.load_credentials(live.id)
    assert resealed is not None and resealed.ciphertext != sealed.ciphertext
    assert resealed.fingerprint == sealed.fingerprint  # same API key
    vault = vault_for(config, env=ENV)
    assert vault is not None
    opened = load_credentials(sql_repo, vault, live.id)
    assert opened is not None and opened.secret.reveal() == "bob-sec-2"
    assert sql_repo.get_account(live.id).credentials_rotated_at == T0 + timedelta(minutes=2)

    new_key = {**new_secret, "TEST_BOB_KEY": "bob-key-2"}
    assert sync(config, sql_repo, T0 + timedelta(minutes=3), env=new_key).credentials.updated == 1
    opened = load_credentials(sql_repo, vault, live.id)
    assert opened is not None and opened.api_key.reveal() == "bob-key-2"
    assert sql_repo.get_account(live.id).credentials_fingerprint == fingerprint(opened)


def test_a_missing_credential_or_master_key_fails_before_the_database_is_touched(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    config = load(write_config, db_url, ALICE + BOB)
    with pytest.raises(ConfigError, match=r"users\[1\]\.accounts\[1\]") as error:
        vault_for(config, env={})
    assert "MARTINGALE_MASTER_KEY" in str(error.value)
    no_secret = {k: v for k, v in ENV.items() if k != "TEST_BOB_SECRET"}
    with pytest.raises(ConfigError, match=r"users\[1\]\.accounts\[1\]\.secret_env"):
        sync(config, sql_repo, T0, env=no_secret)
    assert sql_repo.list_users(include_deleted=True) == []


class FailingRepository:
    """The real repository, except that the n-th call of one method fails as a lost
    connection would: what was written before it in the sync must not survive."""

    def __init__(self, inner: SqlRepository, method: str, fail_on: int) -> None:
        self._inner = inner
        self._method = method
        self._fail_on = fail_on
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name != self._method:
            return attr

        def failing(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            if self.calls == self._fail_on:
                raise DatabaseUnavailable(f"database unavailable during {name} (test)")
            return attr(*args, **kwargs)

        return failing


def test_a_database_failure_mid_sync_leaves_nothing_half_written(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    config = load(write_config, db_url, ALICE + BOB)
    failing = FailingRepository(sql_repo, "upsert_strategy", fail_on=3)
    with pytest.raises(DatabaseUnavailable):
        sync(config, failing, T0)
    assert failing.calls == 3
    assert snapshot(sql_repo)["counts"] == dict.fromkeys(snapshot(sql_repo)["counts"], 0)

    sync(load(write_config, db_url, ALICE), sql_repo, T0)
    before = snapshot(sql_repo)
    changed = load(write_config, db_url, ALICE.replace("take_profit: 1.5", "take_profit: 2") + BOB)
    failing = FailingRepository(sql_repo, "save_credentials", fail_on=1)
    with pytest.raises(DatabaseUnavailable):
        sync(changed, failing, T0 + timedelta(minutes=1))
    assert snapshot(sql_repo) == before


def test_moving_a_strategy_to_another_symbol_is_refused_with_its_path(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    sync(load(write_config, db_url, ALICE), sql_repo, T0)
    before = snapshot(sql_repo)
    moved = f"""
  - name: alice
    email: alice@example.com
    accounts:
      - name: main
        exchange: paper
        balances: {{BTC: 1, USDT: 10000}}
    strategies:
      - name: new-first
        account: main
        symbol: ETH/BTC
        {BTC_PARAMS}
      - name: eth
        account: main
        symbol: BTC/USDT
        {USDT_PARAMS}
"""
    path = write_config(config_text(db_url, moved))
    with pytest.raises(ConfigError) as error:
        sync(load_config(path), sql_repo, T0 + timedelta(minutes=1))
    message = str(error.value)
    assert str(path) in message and "users[0].strategies[1].symbol" in message
    assert "already trades ETH/BTC" in message
    # new-first was written before the conflict was found, and rolled back with it.
    assert snapshot(sql_repo) == before


def test_strategy_params_are_exact_decimal_strings(
    db_url: str, write_config: Callable[[str], Path]
) -> None:
    text = ALICE.replace("take_profit: 1.5", "take_profit: 1.50\n        stop_loss: 12.5")
    strategy = load(write_config, db_url, text).users[0].strategies[0]
    params = strategy_params(strategy)
    assert params["take_profit"] == "1.5"
    assert params["stop_loss"] == "12.5"
    assert "max_cycles" not in params


def test_stored_keys_are_kept_when_the_key_sources_are_absent(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    config = load(write_config, db_url, BOB)
    sync(config, sql_repo, T0)
    before = snapshot(sql_repo)
    only_master = {"MARTINGALE_MASTER_KEY": KEY}  # TEST_BOB_KEY / TEST_BOB_SECRET unset

    report = sync(config, sql_repo, T0 + timedelta(minutes=1), env=only_master)

    assert not report.changed and report.credentials.unchanged == 1
    assert snapshot(sql_repo) == before
    # A present value still replaces the stored one.
    report = sync(config, sql_repo, T0 + timedelta(minutes=2), env={**ENV, "TEST_BOB_SECRET": "s2"})
    assert report.credentials.updated == 1


def test_an_account_with_neither_key_sources_nor_stored_keys_is_refused_whole(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    sync(load(write_config, db_url, ALICE), sql_repo, T0)
    before = snapshot(sql_repo)
    config = load(write_config, db_url, ALICE + BOB)
    with pytest.raises(ConfigError) as error:
        sync(config, sql_repo, T0 + timedelta(minutes=1), env={"MARTINGALE_MASTER_KEY": KEY})
    text = str(error.value)
    assert "users[1].accounts[1].api_key_env: environment variable TEST_BOB_KEY" in text
    assert "users[1].accounts[1].secret_env" in text
    assert snapshot(sql_repo) == before  # bob and his accounts were rolled back


def test_a_master_key_that_cannot_open_the_stored_keys_is_refused(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    config = load(write_config, db_url, BOB)
    sync(config, sql_repo, T0)
    before = snapshot(sql_repo)
    wrong = {**ENV, "MARTINGALE_MASTER_KEY": generate_key(), "TEST_BOB_SECRET": "bob-sec-2"}

    with pytest.raises(CredentialError) as error:
        sync(config, sql_repo, T0 + timedelta(minutes=1), env=wrong)

    text = str(error.value)
    assert "cannot open the stored API key of account bob/live" in text
    assert "nothing was written" in text and "bob-sec" not in text
    assert snapshot(sql_repo) == before
    vault = vault_for(config, env=ENV)
    assert vault is not None
    bob = sql_repo.find_user("bob")
    assert bob is not None
    live = next(a for a in sql_repo.list_accounts(bob.id) if a.name == "live")
    opened = load_credentials(sql_repo, vault, live.id)  # still readable by the right key
    assert opened is not None and opened.secret.reveal() == "bob-sec-1"


def test_onboard_command_needs_only_the_master_key_once_keys_are_stored(
    db_url: str,
    sql_repo: SqlRepository,
    write_config: Callable[[str], Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    path = write_config(config_text(db_url, BOB))
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    assert main(["onboard", "--config", str(path)]) == 0
    monkeypatch.delenv("TEST_BOB_KEY")
    monkeypatch.delenv("TEST_BOB_SECRET")
    capsys.readouterr()

    assert main(["onboard", "--config", str(path)]) == 0, capsys.readouterr().err
    assert "already in sync: nothing written" in capsys.readouterr().out


def test_a_resync_keeps_the_state_recorded_since_and_applies_only_a_changed_file_value(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    def record(action: str, name: str) -> None:
        argv = ["strategy", action, "--user", "alice", "--name", name, "--db", db_url]
        assert main(argv) == 0

    sync(load(write_config, db_url, ALICE), sql_repo, T0)
    record("stop-now", "eth")  # the file says running
    record("resume", "btc")  # the file says paused
    before = snapshot(sql_repo)

    again = sync(load(write_config, db_url, ALICE), sql_repo, T0 + timedelta(minutes=1))

    assert not again.changed
    assert snapshot(sql_repo) == before
    by_name = strategies_by_name(sql_repo)
    assert (by_name["alice/eth"].desired_state, by_name["alice/eth"].stop_mode) == (
        DesiredState.STOPPED,
        StopMode.CANCEL,
    )
    assert by_name["alice/btc"].desired_state is DesiredState.RUNNING

    # The file's own value changes for eth: that applies (and the stop-now's mode goes).
    paused = ALICE.replace("symbol: ETH/BTC", "symbol: ETH/BTC\n        state: paused")
    report = sync(load(write_config, db_url, paused), sql_repo, T0 + timedelta(minutes=2))
    assert (report.strategies.updated, report.strategies.unchanged) == (1, 1)
    by_name = strategies_by_name(sql_repo)
    assert (by_name["alice/eth"].desired_state, by_name["alice/eth"].stop_mode) == (
        DesiredState.PAUSED,
        None,
    )
    assert by_name["alice/eth"].config_state == "paused"
    assert by_name["alice/btc"].desired_state is DesiredState.RUNNING


def test_a_row_synced_before_config_state_existed_adopts_the_file_value_without_applying_it(
    db_url: str, sql_repo: SqlRepository, write_config: Callable[[str], Path]
) -> None:
    sync(load(write_config, db_url, ALICE), sql_repo, T0)
    eth = strategies_by_name(sql_repo)["alice/eth"]
    sql_repo.upsert_strategy(  # what migration 0004 leaves: no config_state yet
        eth.user_id,
        eth.name,
        account_id=eth.account_id,
        symbol=eth.symbol,
        params=eth.params,
        desired_state=DesiredState.STOPPED,
        now=T0,
        config_state=None,
    )

    sync(load(write_config, db_url, ALICE), sql_repo, T0 + timedelta(minutes=1))

    eth = strategies_by_name(sql_repo)["alice/eth"]
    assert (eth.desired_state, eth.config_state) == (DesiredState.STOPPED, "running")


def test_resume_of_a_strategy_the_file_disables_is_refused(
    db_url: str,
    sql_repo: SqlRepository,
    write_config: Callable[[str], Path],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sync(load(write_config, db_url, BOB), sql_repo, T0)
    before = snapshot(sql_repo)
    capsys.readouterr()

    argv = ["strategy", "resume", "--user", "bob", "--name", "btc-paper", "--db", db_url]
    assert main(argv) == 2

    err = capsys.readouterr().err
    assert err.strip() == (
        "martingale strategy: error: action: strategy btc-paper is disabled in the config file "
        "(enabled: false); enable it there and run `martingale onboard`"
    )
    assert snapshot(sql_repo) == before


def test_a_paper_only_config_with_a_master_key_has_a_vault_for_keys_added_later(
    db_url: str, write_config: Callable[[str], Path]
) -> None:
    """Accounts added through the API or the dashboard store their keys with the configured
    master key, even when every account of the file is on paper."""
    config = load(write_config, db_url, ALICE)
    assert vault_for(config, env={}) is None
    vault = vault_for(config, env={"MARTINGALE_MASTER_KEY": KEY})
    assert vault is not None and vault.key_versions
