"""The onboarding file's strategies: the Martingale parameters a strategy may set, by the names
of the `martingale plan` options (part of `config.schema`, which re-exports these names).
Parameters left out take `MartingaleParams`' defaults; ranges are checked there, via
`config.checks`."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import model_validator

from config.fields import Dec, Int, Name, StrictModel

# The Martingale parameters, named exactly as the `martingale plan` options.
PARAMETER_NAMES = (
    "base_order",
    "safety_order",
    "max_safety_orders",
    "price_deviation",
    "step_scale",
    "volume_scale",
    "take_profit",
    "stop_loss",
    "max_active_safety_orders",
    "cooldown",
    "max_cycles",
    "base_order_type",
    "direction",
    "take_profit_steps",
    "trailing_deviation",
    "stop_loss_trailing",
    "stop_loss_timeout",
    "stop_loss_timeout_action",
    "reinvest_percent",
    "start_condition",
)


class TakeProfitStepConfig(StrictModel):
    percent: Dec
    portion: Dec


class StartConditionConfig(StrictModel):
    """`asap` (the default), or an indicator or signal; ranges are checked by the strategy."""

    type: Literal["asap", "rsi", "ma", "signal"]
    period: Int | None = None
    timeframe: str | None = None
    below: Dec | None = None
    max_lag: Int | None = None


class StrategyConfig(StrictModel):
    """Parameters left out take `MartingaleParams`' defaults; their ranges are checked there
    (one source of truth for the CLI, this file and the API), via `config.checks`."""

    name: Name
    account: Name
    symbol: str
    enabled: bool = True
    state: Literal["running", "paused", "stopped"] | None = None

    base_order: Dec | None = None
    safety_order: Dec | None = None
    max_safety_orders: Int | None = None
    price_deviation: Dec | None = None
    step_scale: Dec | None = None
    volume_scale: Dec | None = None
    take_profit: Dec | None = None
    stop_loss: Dec | None = None
    max_active_safety_orders: Int | None = None
    cooldown: Dec | None = None
    max_cycles: Int | None = None
    base_order_type: Literal["market", "limit"] | None = None
    direction: Literal["long", "short"] | None = None
    take_profit_steps: list[TakeProfitStepConfig] | None = None
    trailing_deviation: Dec | None = None
    stop_loss_trailing: bool | None = None
    stop_loss_timeout: Dec | None = None
    stop_loss_timeout_action: Literal["market", "break_even"] | None = None
    reinvest_percent: Dec | None = None
    start_condition: Literal["asap", "signal"] | StartConditionConfig | None = None

    @model_validator(mode="after")
    def _enabled_agrees_with_state(self) -> StrategyConfig:
        if not self.enabled and self.state not in (None, "stopped"):
            raise ValueError(f"enabled: false contradicts state: {self.state}")
        return self

    @property
    def desired_state(self) -> Literal["running", "paused", "stopped"]:
        """`enabled: false` is shorthand for `state: stopped`; the default is running."""
        if self.state is not None:
            return self.state
        return "running" if self.enabled else "stopped"

    @property
    def config_state(self) -> Literal["running", "paused", "stopped", "disabled"]:
        """The file's own value, as the sync records it: `enabled: false` is "disabled" (a
        stop that `martingale strategy resume` refuses to undo), else `desired_state`."""
        return "disabled" if not self.enabled else self.desired_state

    def parameters(self) -> dict[str, Any]:
        """The parameters given in the file, for `MartingaleParams.from_mapping`."""
        out: dict[str, Any] = {}
        for name in PARAMETER_NAMES:
            value = getattr(self, name)
            if value is None:
                continue
            if name == "take_profit_steps":
                value = [step.model_dump() for step in value]
            elif isinstance(value, StartConditionConfig):
                value = value.model_dump(exclude_none=True)
            out[name] = value
        return out
