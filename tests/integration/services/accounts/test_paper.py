"""Paper accounts through the API's use case: their starting balances and fee rate are checked
like the config file's, their venue account is opened before the row commits, and nothing is
written when the server has no paper venue or the opening fails."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from domain.errors import ExchangeUnavailable, ValidationError
from persistence.errors import NotFound
from persistence.vault import Vault
from services.account_input import MAX_PAPER_ASSETS
from services.accounts import AccountInput, create_account
from services.users import create_user
from tests.integration.services.accounts.conftest import ALLOWED, T0, FakeOpener, live


def create(repo: Any, user_id: int, data: AccountInput, opener: FakeOpener | None) -> Any:
    return create_account(
        repo, None, user_id, data, now=T0, allowed_hosts=ALLOWED, open_paper=opener
    )


def rows(repo: Any) -> list[Any]:
    return [a for u in repo.list_users(include_deleted=True) for a in repo.list_accounts(u.id)]


def paper(**values: Any) -> AccountInput:
    return AccountInput(name="play", exchange="paper", **values)


def test_a_paper_account_opens_its_venue_account_with_its_balances_and_fee(
    repo: Any, opener: FakeOpener
) -> None:
    bob = create_user(repo, "bob", now=T0).id
    balances = {"BTC": Decimal("0.5"), "USDT": Decimal("1000.25")}

    account = create(repo, bob, paper(balances=balances, fee_rate=Decimal("0.00075")), opener)

    assert opener.opened == [("bob/play", balances, Decimal("0.00075"))]
    assert rows(repo) == [account]
    assert account.exchange == "paper" and not account.has_credentials


def test_the_fee_rate_defaults_to_the_config_files_and_no_balances_is_an_empty_account(
    repo: Any, alice: int, opener: FakeOpener
) -> None:
    create(repo, alice, paper(), opener)

    assert opener.opened == [("alice/play", {}, Decimal("0.001"))]


def test_without_a_paper_venue_a_paper_account_is_refused_and_nothing_written(
    repo: Any, alice: int
) -> None:
    with pytest.raises(ValidationError) as caught:
        create(repo, alice, paper(balances={"BTC": Decimal(1)}), None)

    assert caught.value.field == "exchange"
    assert "no paper exchange" in str(caught.value)
    assert rows(repo) == []


def test_a_failed_opening_writes_no_row_and_a_retry_succeeds(
    repo: Any, alice: int, opener: FakeOpener
) -> None:
    opener.failure = ExchangeUnavailable("paper venue: disk I/O error (test)")

    with pytest.raises(ExchangeUnavailable):
        create(repo, alice, paper(balances={"BTC": Decimal(1)}), opener)
    assert rows(repo) == []

    opener.failure = None
    account = create(repo, alice, paper(balances={"BTC": Decimal(2)}), opener)
    assert rows(repo) == [account]
    assert opener.opened == [("alice/play", {"BTC": Decimal(2)}, Decimal("0.001"))]


def test_a_name_taken_or_a_deleted_user_never_reaches_the_venue(
    repo: Any, alice: int, bob: int, opener: FakeOpener
) -> None:
    first = create(repo, alice, paper(balances={"BTC": Decimal(1)}), opener)
    opener.opened.clear()

    with pytest.raises(ValidationError) as taken:
        create(repo, alice, paper(balances={"BTC": Decimal(9)}, fee_rate=Decimal(0)), opener)
    repo.delete_user(bob, now=T0)
    with pytest.raises(NotFound):
        create(repo, bob, paper(), opener)

    assert taken.value.field == "name"
    assert opener.opened == []  # the existing venue account's fee rate was not touched
    assert rows(repo) == [first]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        (live(balances={"BTC": Decimal(1)}), "balances"),
        (live(fee_rate=Decimal("0.001")), "fee_rate"),
        (paper(balances={"btc": Decimal(1)}), "balances"),
        (paper(balances={"BTC-X": Decimal(1)}), "balances"),
        (paper(balances={"A" * 17: Decimal(1)}), "balances"),
        (paper(balances={"": Decimal(1)}), "balances"),
        (paper(balances={"BTC": Decimal("-0.1")}), "balances"),
        (paper(balances={"BTC": 1.5}), "balances"),  # a float: already inexact
        (paper(balances={"BTC": "1"}), "balances"),
        (paper(balances={"BTC": Decimal("NaN")}), "balances"),
        (paper(balances={"BTC": Decimal("Infinity")}), "balances"),
        (paper(balances={"BTC": Decimal("1e18")}), "balances"),  # past DECIMAL(36,18)
        (paper(balances={"BTC": Decimal("1e-19")}), "balances"),
        (paper(balances={"BTC": Decimal("1." + "1" * 40)}), "balances"),
        (paper(balances=[("BTC", Decimal(1))]), "balances"),
        (paper(balances={f"C{n}": Decimal(1) for n in range(MAX_PAPER_ASSETS + 1)}), "balances"),
        (paper(fee_rate=Decimal(1)), "fee_rate"),
        (paper(fee_rate=Decimal("-0.001")), "fee_rate"),
        (paper(fee_rate=0.001), "fee_rate"),
        (paper(fee_rate=Decimal("NaN")), "fee_rate"),
    ],
)
def test_bad_balances_or_fee_rates_are_refused_naming_the_field(
    repo: Any, vault: Vault, alice: int, opener: FakeOpener, data: AccountInput, field: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        create_account(repo, vault, alice, data, now=T0, allowed_hosts=ALLOWED, open_paper=opener)

    assert caught.value.field == field
    assert opener.opened == [] and rows(repo) == []


def test_the_limits_themselves_are_accepted(repo: Any, alice: int, opener: FakeOpener) -> None:
    many = {f"C{n}": Decimal(n) for n in range(MAX_PAPER_ASSETS)}
    many["BTC"] = Decimal("99999999999999999.999999999999999999")  # 36 digits, < 1e18
    many.pop("C0")
    data = paper(balances=many, fee_rate=Decimal("0.999"))

    create(repo, alice, data, opener)

    assert opener.opened == [("alice/play", many, Decimal("0.999"))]


def test_a_long_bad_value_is_cut_short_in_the_message(repo: Any, alice: int) -> None:
    huge = Decimal("1" * 500)

    with pytest.raises(ValidationError) as caught:
        create(repo, alice, paper(balances={"BTC": huge}), FakeOpener())

    assert len(str(caught.value)) < 200
