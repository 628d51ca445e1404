"""The new-strategy form with its live ladder preview, and parameter editing.

The preview is `martingale plan`'s: the same services (`preview_strategy`, `update_params`)
check the same rules against the market's rules and price. Every field is checked on its own
first (so several mistakes show at once, each beside its field); then the whole strategy is
checked, and the first problem the services find is shown beside the field it names. Nothing
is written until every check passes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from domain.errors import ConfigurationError
from services import accounts, strategies
from services.dashboard import quote_of
from services.plan import number
from strategy.params import MAX_SAFETY_ORDERS
from web.dashboard.render import page, templates
from web.dashboard.session import CurrentViewer
from web.models import Id
from web.security import Context

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class ParamField:
    name: str
    label: str
    help: str
    required: bool = False
    integer: bool = False
    placeholder: str = ""
    choices: tuple[str, ...] = ()
    text: bool = False  # free text the strategy parses (steps, start condition), not a number


PARAM_FIELDS = (
    ParamField("base_order", "Base order", "quote currency spent by the first buy", True),
    ParamField("safety_order", "Safety order", "quote currency of the first safety order", True),
    ParamField("max_safety_orders", "Max safety orders", f"0 to {MAX_SAFETY_ORDERS}", True, True),
    ParamField("price_deviation", "Price deviation %", "below the entry, first safety", True),
    ParamField(
        "direction",
        "Direction",
        "long buys first; short sells the base first and buys it back lower",
        placeholder="long",
        choices=("long", "short"),
    ),
    ParamField("take_profit", "Take-profit %", "past the average entry; or give steps below"),
    ParamField(
        "take_profit_steps",
        "Take-profit steps",
        "sell in parts: percent:portion pairs, e.g. 1.5:50,3:50",
        text=True,
    ),
    ParamField(
        "trailing_deviation",
        "Trailing take-profit %",
        "follow the price past the take-profit, sell on this pull-back; empty: none",
    ),
    ParamField("step_scale", "Step scale", "each step is this times the last", placeholder="1"),
    ParamField(
        "volume_scale", "Volume scale", "each safety is this times the last", placeholder="1"
    ),
    ParamField("stop_loss", "Stop loss %", "past the average entry, against you; empty: none"),
    ParamField(
        "stop_loss_trailing",
        "Trailing stop",
        "the stop follows the best price since the last buy",
        placeholder="false",
        choices=("false", "true"),
    ),
    ParamField("stop_loss_timeout", "Cycle timeout (h)", "close a cycle this old; empty: never"),
    ParamField(
        "stop_loss_timeout_action",
        "On timeout",
        "market sells now; break_even moves the take-profit to break-even",
        placeholder="market",
        choices=("market", "break_even"),
    ),
    ParamField(
        "reinvest_percent", "Reinvest %", "of each cycle's profit, into the next", placeholder="0"
    ),
    ParamField(
        "start_condition",
        "Start condition",
        "asap; rsi below=30 period=14 timeframe=5m; ma period=50 timeframe=1h; signal",
        placeholder="asap",
        text=True,
    ),
    ParamField(
        "max_active_safety_orders",
        "Active safety orders",
        "resting on the book at once",
        integer=True,
        placeholder="1",
    ),
    ParamField("cooldown", "Cooldown (s)", "between cycles", integer=True, placeholder="0"),
    ParamField("max_cycles", "Max cycles", "empty: no limit", integer=True),
    ParamField(
        "base_order_type",
        "Base order type",
        "market buys at once; limit waits at the price",
        placeholder="market",
        choices=("market", "limit"),
    ),
)
# The preview's start price and funds (a short's quote: its stop-loss buy-back): never stored
CHECK_ONLY = ("price", "balance", "quote_balance")
STRATEGY_FIELDS = ("name", "account", "symbol", "state")
ERROR_SLOTS = STRATEGY_FIELDS[:3] + tuple(f.name for f in PARAM_FIELDS) + CHECK_ONLY
templates.env.globals.update(PARAM_FIELDS=PARAM_FIELDS, ERROR_SLOTS=ERROR_SLOTS)


# Taken exactly as typed: a password may begin or end with spaces, and key material is not ours
# to edit.
VERBATIM = frozenset(
    {
        "password",
        "current_password",
        "new_password",
        "new_password_again",
        "api_key",
        "secret",
        "passphrase",
    }
)


async def form_data(request: Request) -> dict[str, str]:
    """The posted form's text fields, stripped (but VERBATIM ones); empty ones left out (they
    take defaults)."""
    form = await request.form()
    values = {}
    for key, value in form.items():
        if isinstance(value, str) and value.strip():
            values[key] = value if key in VERBATIM else value.strip()
    return values


Form = Annotated[dict[str, str], Depends(form_data)]


def message_of(error: ConfigurationError) -> str:
    text = str(error)
    prefix = f"{error.field}: " if error.field else ""
    return text[len(prefix) :] if prefix and text.startswith(prefix) else text


def field_errors(values: dict[str, str]) -> dict[str, str]:
    """Each number on its own: format, bounds, whole numbers where one is needed."""
    errors = {}
    for f in PARAM_FIELDS:
        value = values.get(f.name)
        if value is None:
            if f.required:
                errors[f.name] = "is required"
            continue
        if f.choices:
            if value not in f.choices:
                errors[f.name] = f"must be one of {', '.join(f.choices)}"
            continue
        if f.text:
            continue  # parsed, and its errors named, by the strategy's own parameters
        try:
            parsed = number(value, f.name)
        except ConfigurationError as error:
            errors[f.name] = message_of(error)
            continue
        if f.integer and parsed != parsed.to_integral_value():
            errors[f.name] = "must be a whole number"
    if "take_profit" not in values and "take_profit_steps" not in values:
        errors["take_profit"] = "is required (or give take-profit steps)"
    for name in CHECK_ONLY:
        if name in values:
            try:
                number(values[name], name)
            except ConfigurationError as error:
                errors[name] = message_of(error)
    return errors


def params_of(values: dict[str, str]) -> dict[str, Any]:
    return {
        name: values[name]
        for name in (*(f.name for f in PARAM_FIELDS), *CHECK_ONLY)
        if name in values
    }


def _input(values: dict[str, str]) -> strategies.StrategyInput:
    return strategies.StrategyInput(
        name=values.get("name", ""),
        account=values.get("account", ""),
        symbol=values.get("symbol", "").upper(),
        params=params_of(values),
        state=values.get("state", "running"),
    )


@router.get("/strategies/new", response_class=HTMLResponse)
def new_strategy(request: Request, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    listed = accounts.list_accounts(ctx.repo, who.user_id)
    context = {"viewer": who, "nav": "new", "accounts": listed, "values": {}, "errors": {}}
    return page(request, "new_strategy.html", context)


@router.post("/ui/preview", response_class=HTMLResponse)
def preview(request: Request, values: Form, who: CurrentViewer, ctx: Context) -> HTMLResponse:
    errors = field_errors(values)
    plan = None
    if not errors:
        try:
            plan = strategies.preview_strategy(
                ctx.repo,
                who.user_id,
                _input(values),
                rules_for=ctx.rules_for,
                price_for=ctx.price_for,
            )
        except ConfigurationError as error:
            errors[error.field or "form"] = message_of(error)
    if "name" not in values:  # the preview runs while the form is being filled in
        errors.pop("name", None)
    context = {"errors": errors, "plan": plan, "quote": quote_of(values.get("symbol", ""))}
    return page(request, "parts/preview.html", context)


@router.post("/ui/strategies", response_class=HTMLResponse)
def create(request: Request, values: Form, who: CurrentViewer, ctx: Context) -> Response:
    errors = field_errors(values)
    if not errors:
        try:
            record, _plan = strategies.create_strategy(
                ctx.repo,
                who.user_id,
                _input(values),
                now=ctx.clock(),
                rules_for=ctx.rules_for,
                price_for=ctx.price_for,
            )
        except ConfigurationError as error:
            errors[error.field or "form"] = message_of(error)
        else:
            return Response(headers={"HX-Redirect": f"/strategies/{record.id}"})
    context = {"errors": errors, "plan": None, "quote": ""}
    return page(request, "parts/preview.html", context, status_code=422)


@router.post("/ui/strategies/{strategy_id}/params", response_class=HTMLResponse)
def edit_params(
    request: Request, strategy_id: Id, values: Form, who: CurrentViewer, ctx: Context
) -> HTMLResponse:
    errors = field_errors(values)
    plan = None
    if not errors:
        try:
            _record, plan = strategies.update_params(
                ctx.repo,
                who.user_id,
                strategy_id,
                params_of(values),
                now=ctx.clock(),
                rules_for=ctx.rules_for,
                price_for=ctx.price_for,
            )
        except ConfigurationError as error:
            errors[error.field or "form"] = message_of(error)
    record = strategies.get_strategy(ctx.repo, who.user_id, strategy_id)
    context = {
        "errors": errors,
        "plan": plan,
        "quote": quote_of(record.symbol),
        "saved": plan is not None,
    }
    return page(request, "parts/params_result.html", context, status_code=422 if errors else 200)
