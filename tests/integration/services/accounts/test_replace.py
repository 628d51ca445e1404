"""Replacing an account's key through the API's use case: only the owner, only live accounts."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from domain.errors import ValidationError
from domain.secrets import Credentials, Secret
from persistence.credentials import load_credentials
from persistence.errors import NotFound
from persistence.vault import Vault, generate_key, parse_keyring
from services.accounts import (
    AccountInput,
    MasterKeyProblem,
    create_account,
    replace_credentials,
)
from tests.integration.services.accounts.conftest import (
    ALLOWED,
    API_KEY,
    SECRET,
    T0,
    FakeOpener,
    at,
    live,
    make_vault,
)

NEW_KEY, NEW_SECRET = "apikey-new-Wd3Pq8Zs1", "secret-new-Lk6Mn2Bv9"


def new(repo: Any, vault: Vault | None, user_id: int, account_id: int, **keys: Any) -> Any:
    values = {"api_key": Secret(NEW_KEY), "secret": Secret(NEW_SECRET), **keys}
    return replace_credentials(repo, vault, user_id, account_id, now=at(60), **values)


@pytest.fixture
def account(repo: Any, vault: Vault, alice: int) -> Any:
    return create_account(repo, vault, alice, live(), now=T0, allowed_hosts=ALLOWED)


def test_the_new_key_replaces_the_old_and_the_row_says_when(
    repo: Any, vault: Vault, alice: int, account: Any
) -> None:
    replaced = new(repo, vault, alice, account.id, passphrase=Secret("phrase-Tg5"))

    assert replaced.credentials_rotated_at == at(60)
    assert replaced.credentials_created_at == T0
    assert replaced.credentials_fingerprint != account.credentials_fingerprint
    assert load_credentials(repo, vault, account.id) == Credentials(
        api_key=Secret(NEW_KEY), secret=Secret(NEW_SECRET), passphrase=Secret("phrase-Tg5")
    )
    assert repo.get_account(account.id) == replaced


def test_the_same_key_again_writes_nothing(
    repo: Any, vault: Vault, alice: int, account: Any
) -> None:
    sealed = repo.load_credentials(account.id)

    again = new(repo, vault, alice, account.id, api_key=Secret(API_KEY), secret=Secret(SECRET))

    assert again == account and again.credentials_rotated_at is None
    assert repo.load_credentials(account.id) == sealed  # not even re-encrypted


def test_a_new_secret_under_the_same_key_is_a_change(
    repo: Any, vault: Vault, alice: int, account: Any
) -> None:
    changed = new(repo, vault, alice, account.id, api_key=Secret(API_KEY))

    assert changed.credentials_rotated_at == at(60)
    assert load_credentials(repo, vault, account.id).secret == Secret(NEW_SECRET)  # type: ignore[union-attr]


def test_another_users_account_is_not_found_before_the_body_is_looked_at(
    repo: Any, vault: Vault, bob: int, account: Any
) -> None:
    before = repo.load_credentials(account.id)

    for keys in ({}, {"secret": None}):  # a bad body still answers "not found"
        with pytest.raises(NotFound):
            new(repo, vault, bob, account.id, **keys)

    assert repo.load_credentials(account.id) == before


def test_a_paper_account_has_no_key_to_replace(repo: Any, vault: Vault, alice: int) -> None:
    paper = create_account(
        repo,
        None,
        alice,
        AccountInput(name="play", exchange="paper"),
        now=T0,
        allowed_hosts=ALLOWED,
        open_paper=FakeOpener(),
    )

    with pytest.raises(ValidationError) as caught:
        new(repo, vault, alice, paper.id)

    assert caught.value.field == "exchange"
    assert repo.load_credentials(paper.id) is None


@pytest.mark.parametrize(
    ("keys", "field"),
    [
        ({"api_key": None}, "api_key"),
        ({"secret": Secret("  ")}, "secret"),
        ({"api_key": Secret("a b")}, "api_key"),
    ],
)
def test_a_bad_new_key_names_its_field_and_keeps_the_old(
    repo: Any, vault: Vault, alice: int, account: Any, keys: dict[str, Any], field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        new(repo, vault, alice, account.id, **keys)

    assert caught.value.field == field
    assert repo.get_account(account.id) == account


def test_replacing_needs_the_master_key_the_database_uses(
    repo: Any, vault: Vault, alice: int, bob: int, account: Any
) -> None:
    theirs = create_account(repo, vault, bob, live(), now=T0, allowed_hosts=ALLOWED)

    with pytest.raises(MasterKeyProblem):
        new(repo, None, alice, account.id)
    with pytest.raises(MasterKeyProblem):
        new(repo, make_vault(), alice, account.id)  # opens neither bob's key nor alice's

    assert repo.get_account(account.id) == account and repo.get_account(theirs.id) == theirs


def test_during_a_rotation_the_new_key_is_sealed_under_the_new_master_key(
    repo: Any, alice: int
) -> None:
    first = generate_key(1)
    before = Vault(parse_keyring(first, source="test"))
    account = create_account(repo, before, alice, live(), now=T0, allowed_hosts=ALLOWED)
    rotating = Vault(parse_keyring(f"{generate_key(2)},{first}", source="test"))

    replaced = new(repo, rotating, alice, account.id)

    assert replaced.credentials_key_version == 2
    assert load_credentials(repo, rotating, account.id).api_key == Secret(NEW_KEY)  # type: ignore[union-attr]


def test_a_damaged_stored_key_can_still_be_replaced(
    repo: Any, vault: Vault, alice: int, account: Any
) -> None:
    sealed = repo.load_credentials(account.id)
    damaged = replace(sealed, ciphertext=sealed.ciphertext[:-6] + "AAAAAA")
    repo.reseal_credentials(account.id, expected_ciphertext=sealed.ciphertext, sealed=damaged)

    # The same API key with a new secret: the stored row is looked at, and does not open.
    new(repo, vault, alice, account.id, api_key=Secret(API_KEY))

    assert load_credentials(repo, vault, account.id).secret == Secret(NEW_SECRET)  # type: ignore[union-attr]
