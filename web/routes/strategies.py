"""Strategies of the caller: create (validated and previewed like `martingale plan`), list,
get, change parameters for the next cycle, lifecycle actions, delete when stopped.

A strategy id of another user answers 404, exactly like one that does not exist, in every
verb; so does an account of another user named in a body.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import Field, TypeAdapter

from persistence.records import StrategyRecord
from services import plan as plans
from services import strategies
from services.control import Action, apply_action
from services.status import waiting_for
from services.strategy_exits import exit_state
from web.models import Id, Input, Json, Output, when
from web.security import Context, CurrentUser

router = APIRouter(tags=["strategies"])

Number = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,30}(\.[0-9]{1,30})?$",
        max_length=62,
        description="a decimal number as a string (money never travels as a float)",
    ),
]
Count = Annotated[int, Field(ge=0, le=1000)]


class StepIn(Input):
    percent: Number = Field(description="percent past the average entry")
    portion: Number = Field(description="percent of the position sold at this step")


class StartIn(Input):
    type: Literal["asap", "rsi", "ma", "signal"]
    period: Annotated[int, Field(ge=2, le=500)] | None = None
    timeframe: Literal["1m", "5m", "15m", "30m", "1h", "4h", "1d"] | None = None
    below: Number | None = Field(default=None, description="rsi only: the level (0-100)")
    max_lag: Annotated[int, Field(ge=1, le=3600)] | None = Field(
        default=None, description="signal only: seconds a signal may be old"
    )


class ParamsIn(Input):
    """The `martingale plan` parameters; omitted optional ones take their defaults."""

    base_order: Number
    safety_order: Number
    max_safety_orders: Count
    price_deviation: Number
    take_profit: Number | None = Field(
        default=None, description="required unless take_profit_steps is given"
    )
    direction: Literal["long", "short"] | None = None
    take_profit_steps: Annotated[list[StepIn], Field(max_length=10)] | None = None
    trailing_deviation: Number | None = None
    stop_loss_trailing: bool | None = None
    stop_loss_timeout: Number | None = Field(default=None, description="hours")
    stop_loss_timeout_action: Literal["market", "break_even"] | None = None
    reinvest_percent: Number | None = None
    start_condition: StartIn | None = None
    step_scale: Number | None = None
    volume_scale: Number | None = None
    stop_loss: Number | None = None
    max_active_safety_orders: Count | None = None
    cooldown: Number | None = None
    max_cycles: Annotated[int, Field(ge=1, le=10**9)] | None = None
    base_order_type: Literal["market", "limit"] | None = None
    price: Number | None = Field(
        default=None,
        description="start price of the preview (not stored); default: the market's price now",
    )
    balance: Number | None = Field(
        default=None,
        description="funds the whole ladder must fit in (checked, not stored): quote for a "
        "long, base for a short",
    )
    quote_balance: Number | None = Field(
        default=None,
        description="the account's quote (checked, not stored): a short with a stop loss must "
        "keep what its stop-loss buy-back costs beyond its sells' proceeds; a long's max funds",
    )

    def mapping(self) -> dict[str, Any]:
        """Values for `MartingaleParams.from_mapping`: numbers as their text, true/false as
        text, the steps and the start condition as plain lists and mappings."""
        return {
            k: ("true" if v else "false")
            if isinstance(v, bool)
            else v
            if isinstance(v, list | dict)
            else str(v)
            for k, v in self.model_dump(exclude_none=True).items()
        }


class StrategyIn(Input):
    name: Annotated[str, Field(min_length=1, max_length=64)]
    account: Annotated[str, Field(min_length=1, max_length=64, description="account name")]
    symbol: Annotated[str, Field(min_length=3, max_length=32, examples=["ETH/BTC"])]
    params: ParamsIn
    state: Literal["running", "paused", "stopped"] = "running"


class StrategyOut(Output):
    id: int
    name: str
    account_id: Id
    symbol: str
    params: dict[str, Any]
    desired_state: str
    actual_state: str
    waiting_for: str | None = Field(
        default=None, description='state "waiting": its start condition, e.g. rsi14<30 on 5m'
    )
    stop_mode: str | None
    restart_count: int
    last_error: str | None
    last_heartbeat: str | None
    created_at: str | None
    updated_at: str | None
    exits: dict[str, str] | None = Field(
        default=None,
        description="one strategy's GET: the current cycle's size scale, the profit reinvested, "
        "the stop-loss price (a trailing stop's best price) and the cycle's timeout",
    )


class CreatedOut(Output):
    strategy: StrategyOut | None = Field(description="null for a dry run")
    plan: dict[str, Any]


class ActionOut(Output):
    strategy: StrategyOut
    action: str
    desired_state: str


def strategy_out(record: StrategyRecord, exits: dict[str, str] | None = None) -> StrategyOut:
    return StrategyOut(
        exits=exits,
        id=record.id,
        name=record.name,
        account_id=record.account_id,
        symbol=record.symbol,
        params={k: v if isinstance(v, list | dict) else str(v) for k, v in record.params.items()},
        desired_state=record.desired_state.value,
        actual_state=record.actual_state.value,
        waiting_for=waiting_for(record),
        stop_mode=record.stop_mode.value if record.stop_mode else None,
        restart_count=record.restart_count,
        last_error=record.last_error,
        last_heartbeat=when(record.last_heartbeat),
        created_at=when(record.created_at),
        updated_at=when(record.updated_at),
    )


_STRATEGIES = TypeAdapter(list[StrategyOut])


@router.get("/strategies", response_model=list[StrategyOut])
def list_strategies(principal: CurrentUser, ctx: Context) -> Json:
    listed = strategies.list_strategies(ctx.repo, principal.user_id)
    return Json(_STRATEGIES, [strategy_out(s) for s in listed])


@router.post("/strategies", response_model=CreatedOut, status_code=201)
def create_strategy(
    body: StrategyIn,
    principal: CurrentUser,
    ctx: Context,
    response: Response,
    dry_run: Annotated[bool, Query(description="validate and preview only")] = False,
) -> CreatedOut:
    """Validate every level of the ladder against the market's rules and create the strategy
    (or, with `dry_run`, only answer the preview `martingale plan` prints)."""
    data = strategies.StrategyInput(
        name=body.name,
        account=body.account,
        symbol=body.symbol,
        params=body.params.mapping(),
        state=body.state,
    )
    if dry_run:
        plan = strategies.preview_strategy(
            ctx.repo, principal.user_id, data, rules_for=ctx.rules_for, price_for=ctx.price_for
        )
        response.status_code = 200
        return CreatedOut(strategy=None, plan=plans.plan_json(plan))
    record, plan = strategies.create_strategy(
        ctx.repo,
        principal.user_id,
        data,
        now=ctx.clock(),
        rules_for=ctx.rules_for,
        price_for=ctx.price_for,
    )
    return CreatedOut(strategy=strategy_out(record), plan=plans.plan_json(plan))


@router.get("/strategies/{strategy_id}", response_model=StrategyOut)
def get_strategy(strategy_id: Id, principal: CurrentUser, ctx: Context) -> StrategyOut:
    record = strategies.get_strategy(ctx.repo, principal.user_id, strategy_id)
    return strategy_out(record, exit_state(ctx.repo, record.id))


@router.put("/strategies/{strategy_id}/params", response_model=CreatedOut)
def update_params(
    strategy_id: Id, body: ParamsIn, principal: CurrentUser, ctx: Context
) -> CreatedOut:
    """New parameters apply from the strategy's next cycle: the cycle in progress keeps the
    ladder it was opened with, and no resting order moves."""
    record, plan = strategies.update_params(
        ctx.repo,
        principal.user_id,
        strategy_id,
        body.mapping(),
        now=ctx.clock(),
        rules_for=ctx.rules_for,
        price_for=ctx.price_for,
    )
    return CreatedOut(strategy=strategy_out(record), plan=plans.plan_json(plan))


@router.post("/strategies/{strategy_id}/actions/{action}", response_model=ActionOut)
def act(strategy_id: Id, action: Action, principal: CurrentUser, ctx: Context) -> ActionOut:
    """pause, resume, stop (after the cycle), stop-now (cancel, keep the position) or
    close-now (cancel, sell at market). Recorded as the desired state; the running service
    applies it within seconds."""
    record = strategies.get_strategy(ctx.repo, principal.user_id, strategy_id)
    result = apply_action(ctx.repo, record, action, now=ctx.clock())
    after = strategies.get_strategy(ctx.repo, principal.user_id, strategy_id)
    return ActionOut(
        strategy=strategy_out(after), action=action.value, desired_state=result.desired.value
    )


@router.delete("/strategies/{strategy_id}", status_code=204)
def delete_strategy(strategy_id: Id, principal: CurrentUser, ctx: Context) -> Response:
    """Only a stopped strategy; its orders, fills and cycles stay in the history."""
    strategies.delete_strategy(ctx.repo, principal.user_id, strategy_id, now=ctx.clock())
    return Response(status_code=204)
