"""What the running strategy's state says of its exits and sizing (`strategy.exits`): the size
scale reinvested profit gives the current cycle, the amount reinvested so far, the trailing
stop's best price and the cycle's timeout. Read from the engine's last snapshot, for the
strategy's JSON and page; None before the strategy has run."""

from __future__ import annotations

from domain import codec
from domain.money import fmt
from persistence.repository import Repository
from strategy.exits import next_wake
from strategy.queries import stop_loss_price
from strategy.state import MartingaleState, Phase


def exit_state(repo: Repository, strategy_id: int) -> dict[str, str] | None:
    """Decimal strings (and an ISO time); the caller has checked the strategy is the user's."""
    snapshot = repo.load_engine_state(strategy_id).snapshot
    if not snapshot:
        return None
    try:
        state = codec.loads(snapshot, MartingaleState)
    except (ValueError, TypeError, KeyError):
        return None  # a snapshot this release cannot read: the page shows no exit figures
    return exit_figures(state)


def exit_figures(state: MartingaleState) -> dict[str, str]:
    out = {"size_scale": fmt(state.size_scale), "reinvested": fmt(state.reinvested)}
    trigger = stop_loss_price(state)
    if trigger is not None:
        out["stop_loss_price"] = fmt(trigger)
    if state.stop_best is not None:
        out["stop_loss_best"] = fmt(state.stop_best)
    if state.phase is Phase.ACTIVE and state.timeout_at is not None:
        wake = next_wake(state)
        out["timeout_at"] = (wake or state.timeout_at).isoformat()
        out["timed_out"] = "true" if state.timed_out else "false"
    return out
