"""Creating accounts through the API's use case: checked inputs, one transaction, per user."""

from __future__ import annotations

from typing import Any

import pytest

from domain.errors import DatabaseUnavailable, ValidationError
from domain.secrets import Credentials, Secret
from persistence.credentials import load_credentials, store_credentials
from persistence.errors import NotFound
from persistence.vault import Vault
from services.accounts import (
    AccountInput,
    AccountView,
    MasterKeyProblem,
    create_account,
    get_account,
    list_accounts,
)
from tests.integration.services.accounts.conftest import (
    ALLOWED,
    API_KEY,
    PASSPHRASE,
    SECRET,
    T0,
    FakeOpener,
    live,
    make_vault,
)


def create(repo: Any, vault: Vault | None, user_id: int, data: AccountInput) -> Any:
    return create_account(
        repo, vault, user_id, data, now=T0, allowed_hosts=ALLOWED, open_paper=FakeOpener()
    )


def snapshot(repo: Any) -> tuple[Any, ...]:
    users = repo.list_users(include_deleted=True)
    return (
        users,
        [repo.list_accounts(u.id) for u in users],
        repo.list_credentials(),
    )


def test_a_live_account_is_stored_with_its_key_sealed_to_it(
    repo: Any, vault: Vault, alice: int
) -> None:
    data = live(
        "main",
        sandbox=True,
        base_url="https://testnet.binance.vision",
        api_key=Secret(f"  {API_KEY}\n"),  # pasted with blanks around: trimmed, as the file's
        passphrase=Secret(PASSPHRASE),
    )

    account = create(repo, vault, alice, data)

    assert (account.user_id, account.name, account.exchange) == (alice, "main", "binance")
    assert (account.sandbox, account.base_url) == (True, "https://testnet.binance.vision")
    assert account.credentials_created_at == T0 and account.credentials_rotated_at is None
    assert account.credentials_key_version == vault.current_version
    assert load_credentials(repo, vault, account.id) == Credentials(
        api_key=Secret(API_KEY), secret=Secret(SECRET), passphrase=Secret(PASSPHRASE)
    )
    assert repo.list_accounts(alice) == [account]
    view = AccountView.of(account)
    assert (view.id, view.name, view.exchange, view.sandbox) == (
        account.id,
        "main",
        "binance",
        True,
    )
    assert view.credentials_fingerprint == account.credentials_fingerprint is not None
    assert (view.credentials_key_version, view.created_at) == (vault.current_version, T0)


def test_a_paper_account_needs_no_key_and_no_master_key(repo: Any, alice: int) -> None:
    account = create(repo, None, alice, AccountInput(name="play", exchange="paper"))

    assert account.exchange == "paper" and not account.has_credentials
    assert repo.list_credentials() == []


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (AccountInput(name="p", exchange="paper", api_key=Secret(API_KEY)), "api_key"),
        (AccountInput(name="p", exchange="paper", secret=Secret(SECRET)), "api_key"),
        (AccountInput(name="p", exchange="paper", passphrase=Secret(PASSPHRASE)), "api_key"),
        (AccountInput(name="p", exchange="paper", base_url="https://x.example"), "base_url"),
        (AccountInput(name="p", exchange="paper", sandbox=True), "sandbox"),
        (live("-dash-first"), "name"),
        (live("has space"), "name"),
        (live("line\n"), "name"),
        (live(""), "name"),
        (live("x" * 65), "name"),
        (live(exchange="nosuchexchange"), "exchange"),
        (live(exchange="Binance"), "exchange"),
        (live(api_key=None), "api_key"),
        (live(api_key=Secret("   ")), "api_key"),
        (live(api_key=Secret("two words")), "api_key"),
        (live(api_key=Secret("key\x00nul")), "api_key"),
        (live(secret=None), "secret"),
        (live(secret=Secret("\n")), "secret"),
        (live(secret=Secret("s" * 9000)), "secret"),
        (live(passphrase=Secret("bell\x07")), "passphrase"),
        (live(base_url="http://testnet.binance.vision"), "base_url"),
        (live(base_url="https://evil.example"), "base_url"),
        (live(base_url="https://testnet.binance.vision.evil.example"), "base_url"),
        (live(base_url="https://testnet.binance.vision:8443"), "base_url"),
        (live(base_url="https://user:pw@testnet.binance.vision"), "base_url"),
        (live(base_url="https://testnet.binance.vision?x=1"), "base_url"),
        (live(base_url="https://testnet.binance.vision#frag"), "base_url"),
        (live(base_url="testnet.binance.vision"), "base_url"),
        (live(base_url="https://testnet.binance.vision/ path"), "base_url"),
    ],
)
def test_bad_input_names_its_field_and_writes_nothing(
    repo: Any, vault: Vault, alice: int, data: AccountInput, field: str
) -> None:
    before = snapshot(repo)

    with pytest.raises(ValidationError) as caught:
        create(repo, vault, alice, data)

    assert caught.value.field == field
    assert snapshot(repo) == before
    for secret in (API_KEY, SECRET, PASSPHRASE):
        assert secret not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "https://testnet.binance.vision",
        "https://TestNet.Binance.VISION/",
        "https://testnet.binance.vision/some/prefix",
        "https://proxy.example.com:8443",  # an allowed entry with its port, in another case
    ],
)
def test_an_allowed_host_is_accepted_whatever_its_case(
    repo: Any, vault: Vault, alice: int, url: str
) -> None:
    account = create(repo, vault, alice, live(base_url=url))

    assert account.base_url == url


def test_no_base_url_is_accepted_when_the_allow_list_is_empty(
    repo: Any, vault: Vault, alice: int
) -> None:
    with pytest.raises(ValidationError, match="accepts no base_url") as caught:
        create_account(
            repo,
            vault,
            alice,
            live(base_url="https://testnet.binance.vision"),
            now=T0,
            allowed_hosts=frozenset(),
        )
    assert caught.value.field == "base_url"


def test_a_name_is_unique_per_user_only(repo: Any, vault: Vault, alice: int, bob: int) -> None:
    first = create(repo, vault, alice, live("main"))
    other_key = live("main", api_key=Secret("another-key-123456"))

    with pytest.raises(ValidationError) as caught:
        create(repo, vault, alice, other_key)
    assert caught.value.field == "name"
    assert repo.list_accounts(alice) == [first]  # its key untouched
    assert load_credentials(repo, vault, first.id).api_key == Secret(API_KEY)  # type: ignore[union-attr]

    theirs = create(repo, vault, bob, other_key)
    assert theirs.user_id == bob and theirs.id != first.id


class LooseNames:
    """A repository whose database compares names without regard to case (a MySQL database
    created with a case-insensitive collation): its upsert finds "main" for "MAIN"."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def upsert_account(self, user_id: int, name: str, **kwargs: Any) -> Any:
        for account in self._inner.list_accounts(user_id):
            if account.name.lower() == name.lower():
                name = account.name
        return self._inner.upsert_account(user_id, name, **kwargs)


def test_a_name_the_database_counts_as_taken_is_refused_not_overwritten(
    repo: Any, vault: Vault, alice: int
) -> None:
    first = create(repo, vault, alice, live("main"))

    with pytest.raises(ValidationError) as caught:
        create(LooseNames(repo), vault, alice, live("MAIN", api_key=Secret("other-key-98765")))

    assert caught.value.field == "name"
    assert repo.list_accounts(alice) == [first]
    assert load_credentials(repo, vault, first.id).api_key == Secret(API_KEY)  # type: ignore[union-attr]


class FailingSave:
    """A repository whose credential write fails after the account row was written."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def save_credentials(self, *args: Any, **kwargs: Any) -> Any:
        raise DatabaseUnavailable("database unavailable during save credentials (test)")


def test_a_failure_after_the_account_row_leaves_nothing(
    repo: Any, vault: Vault, alice: int
) -> None:
    before = snapshot(repo)

    with pytest.raises(DatabaseUnavailable):
        create(FailingSave(repo), vault, alice, live())

    assert snapshot(repo) == before


def test_a_live_account_needs_the_servers_master_key(repo: Any, alice: int) -> None:
    before = snapshot(repo)

    with pytest.raises(MasterKeyProblem, match="no master key"):
        create(repo, None, alice, live())

    assert snapshot(repo) == before


def test_a_master_key_that_cannot_open_the_stored_keys_is_refused(
    repo: Any, vault: Vault, alice: int, bob: int
) -> None:
    theirs = repo.upsert_account(bob, "secret-project", exchange="binance", now=T0)
    store_credentials(
        repo, vault, theirs.id, Credentials(api_key=Secret("k" * 8), secret=Secret("s" * 8)), now=T0
    )
    before = snapshot(repo)

    with pytest.raises(MasterKeyProblem) as caught:
        create(repo, make_vault(), alice, live())

    assert snapshot(repo) == before
    assert "secret-project" not in str(caught.value) and "bob" not in str(caught.value)
    assert "key version 1" in str(caught.value)


def test_a_deleted_or_unknown_user_gets_nothing(repo: Any, vault: Vault, alice: int) -> None:
    repo.delete_user(alice, now=T0)

    for user_id in (alice, alice + 1000):
        with pytest.raises(NotFound):
            create(repo, vault, user_id, live())
    assert repo.list_credentials() == []


def test_listing_and_reading_see_only_the_users_own_accounts(
    repo: Any, vault: Vault, alice: int, bob: int
) -> None:
    mine = create(repo, vault, alice, live("main"))
    paper = create(repo, vault, alice, AccountInput(name="play", exchange="paper"))
    theirs = create(repo, vault, bob, live("main"))

    assert list_accounts(repo, alice) == [mine, paper]
    assert list_accounts(repo, bob) == [theirs]
    assert get_account(repo, alice, mine.id) == mine
    with pytest.raises(NotFound) as other:
        get_account(repo, alice, theirs.id)
    with pytest.raises(NotFound) as missing:
        get_account(repo, alice, theirs.id + 1000)
    # Another user's account reads exactly like one that does not exist.
    assert str(other.value).replace(str(theirs.id), "N") == str(missing.value).replace(
        str(theirs.id + 1000), "N"
    )
