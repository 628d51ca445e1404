"""Exchange accounts: list, add, replace the key (rotation while strategies run), balances and
the key's permissions with their warnings.

Key material only travels inwards: it is sealed as the form is handled, the forms never echo
it (password inputs, not refilled after an error), and the page shows only the key's
fingerprint. Balances and key reports ask the exchange, so they load after the page (htmx
`load`), each on its own, and an exchange that does not answer shows an error in its place.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from domain.errors import MartingaleError, ValidationError
from domain.secrets import Secret
from services import accounts
from services.plan import number
from web.context import WebContext
from web.dashboard.render import page
from web.dashboard.session import CurrentViewer, Viewer
from web.dashboard.strategy_forms import Form, message_of
from web.errors import describe
from web.models import Id
from web.security import Context

router = APIRouter(include_in_schema=False)

MAX_BALANCES = 50


def _listing(who: Viewer, ctx: WebContext) -> list[accounts.AccountView]:
    return [accounts.AccountView.of(a) for a in accounts.list_accounts(ctx.repo, who.user_id)]


@router.get("/accounts", response_class=HTMLResponse)
def accounts_page(request: Request, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    context = {"viewer": who, "nav": "accounts", "accounts": _listing(who, ctx), "errors": {}}
    return page(request, "accounts.html", context)


def parse_balances(text: str) -> dict[str, Decimal]:
    """`USDT=1000, BTC=0.5` (commas or new lines) into asset -> amount."""
    found: dict[str, Decimal] = {}
    for part in text.replace("\n", ",").split(","):
        if not part.strip():
            continue
        asset, sep, amount = part.partition("=")
        asset = asset.strip().upper()
        if not sep or not asset or not asset.isalnum() or len(asset) > 16:
            raise ValidationError(
                f"write ASSET=AMOUNT, got {part.strip()[:40]!r}", field="balances"
            )
        value = number(amount.strip(), "balances")
        if value < 0:
            raise ValidationError(f"{asset} must be >= 0", field="balances")
        found[asset] = value
    if len(found) > MAX_BALANCES:
        raise ValidationError(f"at most {MAX_BALANCES} assets", field="balances")
    return found


def _secret(values: dict[str, str], name: str) -> Secret | None:
    value = values.get(name)
    return None if value is None else Secret(value)


@router.post("/ui/accounts", response_class=HTMLResponse)
def add_account(request: Request, values: Form, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    errors: dict[str, str] = {}
    try:
        fee = values.get("fee_rate")
        data = accounts.AccountInput(
            name=values.get("name", ""),
            exchange=values.get("exchange", "").lower(),
            sandbox=values.get("sandbox") == "on",
            base_url=values.get("base_url"),
            api_key=_secret(values, "api_key"),
            secret=_secret(values, "secret"),
            passphrase=_secret(values, "passphrase"),
            balances=parse_balances(values.get("balances", "")),
            fee_rate=None if fee is None else number(fee, "fee_rate"),
        )
        accounts.create_account(
            ctx.repo,
            ctx.vault,
            who.user_id,
            data,
            now=ctx.clock(),
            allowed_hosts=ctx.allowed_hosts,
            open_paper=ctx.open_paper,
        )
    except ValidationError as error:
        errors[error.field or "form"] = message_of(error)
    except MartingaleError as error:  # no master key here, a key the exchange refused...
        errors["form"] = str(describe(error)[1]["message"])
    safe = {k: v for k, v in values.items() if k in ("name", "exchange", "base_url", "balances")}
    context: dict[str, Any] = {
        "viewer": who,
        "accounts": _listing(who, ctx),
        "errors": errors,
        "values": safe if errors else {},
        "added": not errors,
    }
    return page(request, "parts/accounts.html", context, status_code=422 if errors else 200)


@router.post("/ui/accounts/{account_id}/credentials", response_class=HTMLResponse)
def rotate(
    request: Request, account_id: Id, values: Form, who: CurrentViewer, ctx: Context
) -> HTMLResponse:
    """Replace the key and secret; the account's strategies keep running, and the running
    service swaps in a client with the new key at its next poll."""
    error = ""
    try:
        for name in ("api_key", "secret"):
            if not values.get(name):
                raise ValidationError("is required", field=name)
        accounts.replace_credentials(
            ctx.repo,
            ctx.vault,
            who.user_id,
            account_id,
            api_key=Secret(values["api_key"]),
            secret=Secret(values["secret"]),
            passphrase=_secret(values, "passphrase"),
            now=ctx.clock(),
        )
    except MartingaleError as problem:
        status, body, _headers = describe(problem)
        if status == 404:
            raise
        error = str(body["message"])
    view = accounts.AccountView.of(accounts.get_account(ctx.repo, who.user_id, account_id))
    context = {"account": view, "rotate_error": error, "rotated": not error}
    return page(request, "parts/account_key.html", context, status_code=422 if error else 200)


@router.get("/ui/accounts/{account_id}/balances", response_class=HTMLResponse)
def balances(request: Request, account_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    context: dict[str, Any] = {"balances": None, "error": ""}
    try:
        if ctx.exchange_for is None:
            raise ValidationError("exchange clients are not available in this process")
        context["balances"] = sorted(
            accounts.balances(ctx.repo, who.user_id, account_id, ctx.exchange_for).items()
        )
    except MartingaleError as problem:
        if describe(problem)[0] == 404:
            raise
        context["error"] = str(describe(problem)[1]["message"])
    return page(request, "parts/balances.html", context)


@router.get("/ui/accounts/{account_id}/key-report", response_class=HTMLResponse)
def key_report(request: Request, account_id: Id, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    context: dict[str, Any] = {"report": None, "known": False, "error": ""}
    try:
        if ctx.exchange_for is None:
            raise ValidationError("exchange clients are not available in this process")
        report = accounts.key_report(ctx.repo, who.user_id, account_id, ctx.exchange_for)
        context.update(report=report, known=report is not None)
    except MartingaleError as problem:
        if describe(problem)[0] == 404:
            raise
        context["error"] = str(describe(problem)[1]["message"])
    return page(request, "parts/key_report.html", context)
