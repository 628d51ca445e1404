"""Strategy control: pause, resume, stop, stop now, close now, for the CLI and the API alike.

A control action is written to the database as the strategy's desired state (and stop mode),
and counted (`command_seq`): a running service picks it up within a couple of seconds (the root
supervisor polls those rows), a stopped one at its next start. Every action counts, even one
that repeats the desired state: a resume of a finished or faulted strategy already wanted
running restarts it in the running service too. The same row is written whoever asks, the CLI,
the API or another process, so every path behaves the same. The database, not the config file,
is the source of truth for it: `run`/`onboard` apply the file's `state:` only when the file's
value itself changes.

`resume` is refused for a strategy the config file disables (`enabled: false`): the file says
it must not run. `resume` and `pause` (which runs the engine, paused) are refused for a strategy
of a disabled user (`services.users.set_disabled`): an admin enables the user first; a stop of
any kind is always taken. A finished or faulted strategy is left alone by a (re)start until a person
resumes it; `resume` therefore also clears that mark (its actual state becomes stopped).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from domain.errors import ValidationError
from domain.events import StopMode
from persistence.records import ActualState, DesiredState, StrategyRecord
from persistence.repository import Repository

DISABLED = "disabled"  # strategies.config_state of `enabled: false` (services.onboarding)
# Actual states a (re)start does not run until someone resumes the strategy (actors.root).
LEFT_ALONE = (ActualState.FINISHED, ActualState.FAULTED)


class Action(enum.StrEnum):
    PAUSE = "pause"
    RESUME = "resume"
    STOP = "stop"
    STOP_NOW = "stop-now"
    CLOSE_NOW = "close-now"


@dataclass(frozen=True, slots=True)
class ActionSpec:
    desired: DesiredState
    stop_mode: StopMode | None
    help: str


ACTIONS: dict[Action, ActionSpec] = {
    Action.PAUSE: ActionSpec(
        DesiredState.PAUSED, None, "place nothing and leave resting orders alone"
    ),
    Action.RESUME: ActionSpec(
        DesiredState.RUNNING,
        None,
        "resume a paused, stopped or finished strategy (a position a stop kept is carried "
        "into its next cycle and sold with that cycle's take-profit)",
    ),
    Action.STOP: ActionSpec(
        DesiredState.STOPPED,
        StopMode.FINISH_CYCLE,
        "stop after the current cycle closes (no new cycle)",
    ),
    Action.STOP_NOW: ActionSpec(
        DesiredState.STOPPED,
        StopMode.CANCEL,
        "cancel the open orders now and keep the position (status shows it as held; a "
        "resume carries it into the next cycle)",
    ),
    Action.CLOSE_NOW: ActionSpec(
        DesiredState.STOPPED,
        StopMode.SELL,
        "cancel the open orders now and sell the position at market",
    ),
}


class ActionRefused(ValidationError):
    """The action cannot apply to this strategy as it stands (e.g. resume of a disabled one)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ControlResult:
    before: StrategyRecord  # the strategy as it was when the action was recorded
    desired: DesiredState


def apply_action(
    repo: Repository, strategy: StrategyRecord, action: Action, *, now: datetime
) -> ControlResult:
    """Record `action` for `strategy` (already scoped to its owner by the caller)."""
    spec = ACTIONS[action]
    if spec.desired is DesiredState.RUNNING and strategy.config_state == DISABLED:
        raise ActionRefused(
            f"strategy {strategy.name} is disabled in the config file (enabled: false); "
            "enable it there and run `martingale onboard`",
            field="action",
        )
    if spec.desired is not DesiredState.STOPPED and repo.get_user(strategy.user_id).disabled:
        raise ActionRefused(
            f"the user of strategy {strategy.name} is disabled; an admin must enable it "
            "(`martingale users enable NAME`) before its strategies run again",
            field="action",
        )
    with repo.transaction():
        repo.set_desired_state(strategy.id, spec.desired, now=now, stop_mode=spec.stop_mode)
        if spec.desired is DesiredState.RUNNING and strategy.actual_state in LEFT_ALONE:
            # "a person has to look first" (actors.root): this resume is that look.
            repo.set_actual_state(
                strategy.id, ActualState.STOPPED, now=now, last_error=strategy.last_error
            )
    return ControlResult(before=strategy, desired=spec.desired)


def find_strategy(repo: Repository, user_id: int, name: str) -> StrategyRecord | None:
    """The user's strategy called `name`, or None (never another user's)."""
    found = [s for s in repo.list_strategies(user_id=user_id) if s.name == name]
    return found[0] if found else None
