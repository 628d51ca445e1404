"""Exchange accounts of the caller: create, list, get, replace the key, key report, balances.

Keys travel only inwards: they are sealed under the master key as the request is handled, and
no answer ever carries a key, a secret or a passphrase (only the key's fingerprint). A key can
be replaced while the account's strategies run: the running service swaps in a client with the
new key at its next poll.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import Field

from domain.errors import ExchangeUnavailable
from domain.secrets import Secret
from exchange.port import Exchange
from services import accounts
from web.context import WebContext
from web.models import Id, Input, Output, money, when
from web.security import Context, CurrentUser

router = APIRouter(tags=["accounts"])

KeyText = Annotated[str, Field(min_length=1, max_length=512)]
Asset = Annotated[str, Field(min_length=1, max_length=16)]
Amount = Annotated[
    str,
    Field(pattern=r"^[0-9]{1,30}(\.[0-9]{1,30})?$", max_length=62, description="a decimal string"),
]


class AccountIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    exchange: Annotated[str, Field(min_length=1, max_length=64, examples=["paper", "binance"])]
    sandbox: bool = False
    base_url: Annotated[str | None, Field(max_length=255)] = None
    api_key: KeyText | None = Field(default=None, repr=False)
    secret: KeyText | None = Field(default=None, repr=False)
    passphrase: KeyText | None = Field(default=None, repr=False)
    balances: dict[Asset, Amount] = Field(
        default_factory=dict,
        max_length=50,
        description='paper only: starting balances, e.g. {"USDT": "1000"}',
    )
    fee_rate: Amount | None = Field(default=None, description='paper only: e.g. "0.001"')


class CredentialsIn(Input):
    api_key: KeyText = Field(repr=False)
    secret: KeyText = Field(repr=False)
    passphrase: KeyText | None = Field(default=None, repr=False)


class AccountOut(Output):
    id: int
    name: str
    exchange: str
    sandbox: bool
    base_url: str | None
    has_key: bool
    key_fingerprint: str | None
    key_version: int | None
    key_created_at: str | None
    key_rotated_at: str | None
    created_at: str | None


class KeyWarningOut(Output):
    level: str
    message: str


class KeyReportOut(Output):
    known: bool = Field(description="false: this exchange does not tell a key's permissions")
    can_trade: bool | None = None
    can_withdraw: bool | None = None
    ip_restricted: bool | None = None
    warnings: list[KeyWarningOut] = []


def account_out(view: Any) -> AccountOut:
    return AccountOut(
        id=view.id,
        name=view.name,
        exchange=view.exchange,
        sandbox=view.sandbox,
        base_url=view.base_url,
        has_key=view.credentials_fingerprint is not None,
        key_fingerprint=view.credentials_fingerprint,
        key_version=view.credentials_key_version,
        key_created_at=when(view.credentials_created_at),
        key_rotated_at=when(view.credentials_rotated_at),
        created_at=when(view.created_at),
    )


def _secret(value: str | None) -> Secret | None:
    return None if value is None else Secret(value)


@router.get("/accounts", response_model=list[AccountOut])
def list_accounts(principal: CurrentUser, ctx: Context) -> list[AccountOut]:
    return [account_out(a) for a in accounts.list_accounts(ctx.repo, principal.user_id)]


@router.post("/accounts", response_model=AccountOut, status_code=201)
def create_account(body: AccountIn, principal: CurrentUser, ctx: Context) -> AccountOut:
    data = accounts.AccountInput(
        name=body.name,
        exchange=body.exchange,
        sandbox=body.sandbox,
        base_url=body.base_url,
        api_key=_secret(body.api_key),
        secret=_secret(body.secret),
        passphrase=_secret(body.passphrase),
        balances={asset: Decimal(amount) for asset, amount in body.balances.items()},
        fee_rate=None if body.fee_rate is None else Decimal(body.fee_rate),
    )
    record = accounts.create_account(
        ctx.repo,
        ctx.vault,
        principal.user_id,
        data,
        now=ctx.clock(),
        allowed_hosts=ctx.allowed_hosts,
        open_paper=ctx.open_paper,
    )
    return account_out(record)


@router.get("/accounts/{account_id}", response_model=AccountOut)
def get_account(account_id: Id, principal: CurrentUser, ctx: Context) -> AccountOut:
    return account_out(accounts.get_account(ctx.repo, principal.user_id, account_id))


@router.put("/accounts/{account_id}/credentials", response_model=AccountOut)
def replace_credentials(
    account_id: Id, body: CredentialsIn, principal: CurrentUser, ctx: Context
) -> AccountOut:
    """Replace the key and secret; the account's strategies keep running."""
    record = accounts.replace_credentials(
        ctx.repo,
        ctx.vault,
        principal.user_id,
        account_id,
        api_key=Secret(body.api_key),
        secret=Secret(body.secret),
        passphrase=_secret(body.passphrase),
        now=ctx.clock(),
    )
    return account_out(record)


def _exchange_for(ctx: WebContext) -> Callable[[int], Exchange]:
    if ctx.exchange_for is None:
        raise ExchangeUnavailable("exchange clients are not available in this process")
    return ctx.exchange_for


@router.get("/accounts/{account_id}/key-report", response_model=KeyReportOut)
def key_report(account_id: Id, principal: CurrentUser, ctx: Context) -> KeyReportOut:
    """The key's permissions where the exchange tells them (binance: apiRestrictions).
    Withdrawals enabled is a "danger" warning; no IP restriction a "warning"."""
    report = accounts.key_report(ctx.repo, principal.user_id, account_id, _exchange_for(ctx))
    if report is None:
        return KeyReportOut(known=False)
    return KeyReportOut(
        known=True,
        can_trade=report.can_trade,
        can_withdraw=report.can_withdraw,
        ip_restricted=report.ip_restricted,
        warnings=[KeyWarningOut(level=w.level, message=w.message) for w in report.warnings],
    )


@router.get("/accounts/{account_id}/balances")
def balances(account_id: Id, principal: CurrentUser, ctx: Context) -> dict[str, Any]:
    found = accounts.balances(ctx.repo, principal.user_id, account_id, _exchange_for(ctx))
    return {
        "balances": {
            asset: {"free": money(b.free), "used": money(b.used), "total": money(b.total)}
            for asset, b in sorted(found.items())
        }
    }
