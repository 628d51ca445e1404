"""Key material given to the account use cases never shows: not in a repr, not in the view the
API returns, not in the database (only ciphertext), and it is masked in logs from then on."""

from __future__ import annotations

import dataclasses
import uuid
from pathlib import Path
from typing import Any

from domain.secrets import Secret, registered_secrets
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault
from services.accounts import AccountView, create_account, replace_credentials
from tests.integration.services.accounts.conftest import (
    ALLOWED,
    API_KEY,
    PASSPHRASE,
    SECRET,
    T0,
    at,
    dump_tables,
    live,
)

NEW_KEY, NEW_SECRET = "apikey-rot-Cx4Vb7Nm0", "secret-rot-Qa9Ws2Ed5"
ALL = (API_KEY, SECRET, PASSPHRASE, NEW_KEY, NEW_SECRET)


def test_the_input_the_record_and_the_view_show_no_key(repo: Any, vault: Vault, alice: int) -> None:
    data = live(passphrase=Secret(PASSPHRASE))
    account = create_account(repo, vault, alice, data, now=T0, allowed_hosts=ALLOWED)
    view = AccountView.of(account)

    shown = [repr(data), str(data), repr(account), repr(view), str(dataclasses.asdict(view))]
    for text in shown:
        for secret in ALL:
            assert secret not in text
    assert "binance" in repr(data) and "main" in repr(view)  # the reprs are real ones
    assert {f.name for f in dataclasses.fields(view)}.isdisjoint({"api_key", "secret"})


def test_the_database_holds_only_ciphertext(
    db_url: str, sql_repo: SqlRepository, vault: Vault
) -> None:
    repo = sql_repo
    alice = repo.upsert_user("alice", now=T0).id
    data = live(passphrase=Secret(PASSPHRASE))
    account = create_account(repo, vault, alice, data, now=T0, allowed_hosts=ALLOWED)
    replace_credentials(
        repo,
        vault,
        alice,
        account.id,
        api_key=Secret(NEW_KEY),
        secret=Secret(NEW_SECRET),
        now=at(1),
    )

    dump = dump_tables(repo)
    assert "accounts: " in dump and "mg1:1:" in dump  # the dump is real and holds the row
    for secret in ALL:
        assert secret not in dump
    if db_url.startswith("sqlite"):  # the file itself, free pages and journal included
        repo._engine.dispose()
        path = Path(db_url.removeprefix("sqlite:///"))
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert b"mg1:1:" in raw
        for secret in ALL:
            assert secret.encode() not in raw


def test_keys_given_to_the_api_are_masked_in_logs_from_then_on(
    repo: Any, vault: Vault, alice: int
) -> None:
    key, secret = f"api-{uuid.uuid4().hex}", f"sec-{uuid.uuid4().hex}"
    create_account(
        repo,
        vault,
        alice,
        live(api_key=Secret(key), secret=Secret(secret)),
        now=T0,
        allowed_hosts=ALLOWED,
    )

    _, values = registered_secrets()
    assert {key, secret} <= values
