"""Strategies during an onboarding sync: params follow the file, the state only when the file's
own value changes (the rules are in `services.onboarding`'s docstring).

A strategy missing from the file is stopped once and marked REMOVED in config_state; one the
file never applied a state to (config_state None: created through the REST API) is not the
file's, and a sync leaves it alone. Moving a strategy to another symbol or account is refused
with the file path of the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from config.schema import ServiceConfig
from config.strategy_schema import StrategyConfig
from persistence.records import DesiredState, StrategyRecord
from persistence.repository_trading import TradingRepository
from services.onboarding_keys import Loc, refuse
from services.onboarding_report import Tally

# strategies.config_state of a strategy the file stopped naming (see `StrategySync.removed`).
REMOVED = "removed"


@dataclass(slots=True, kw_only=True)
class StrategySync:
    """One sync run's strategies; `tally` is the report's strategies row."""

    config: ServiceConfig
    repo: TradingRepository
    now: datetime
    tally: Tally

    def strategy(
        self,
        where: Loc,
        *,
        user_id: int,
        disabled: bool,
        strategy: StrategyConfig,
        wanted: dict[str, str],
        found: StrategyRecord | None,
        account_ids: Mapping[str, int],
    ) -> None:
        """Params always follow the file; the desired state only when the file's own value
        changed since the last sync, and never for a disabled user, whose strategies stay
        stopped (see the module docstring)."""
        account_id = account_ids[strategy.account]
        file_state = strategy.config_state
        desired = DesiredState(strategy.desired_state)
        applies = (found is None or found.config_state not in (None, file_state)) and not disabled
        if found is None and disabled:
            desired = DesiredState.STOPPED
        if found is not None:
            _check_strategy_moves(self.config, where, found, strategy, account_id)
            if not applies:
                desired = found.desired_state  # the database's runtime state stays
            if (dict(found.params), found.desired_state, found.config_state) == (
                wanted,
                desired,
                file_state,
            ):
                self.tally.unchanged += 1
                return
        record = self.repo.upsert_strategy(
            user_id,
            strategy.name,
            account_id=account_id,
            symbol=strategy.symbol,
            params=wanted,
            desired_state=desired,
            now=self.now,
            config_state=file_state,
        )
        if found is None:
            self.tally.created += 1
            return
        if applies and found.stop_mode is not None:  # a stop-now's mode does not outlive it
            self.repo.set_desired_state(record.id, desired, now=self.now)
        self.tally.updated += 1

    def removed(self, strategy: StrategyRecord) -> bool:
        """Stop a strategy the file no longer names, once: its state is marked REMOVED, so a
        later sync neither stops it again (a resume by hand stands) nor leaves it stopped when
        the file names it again (that is a change of the file's value). True if stopped here."""
        if strategy.config_state in (REMOVED, None):
            # None: the file never applied a state to it, so it is not the file's: created
            # through the REST API (services.strategies), it stays as its owner left it.
            return False
        self.repo.upsert_strategy(
            strategy.user_id,
            strategy.name,
            account_id=strategy.account_id,
            symbol=strategy.symbol,
            params=strategy.params,
            desired_state=DesiredState.STOPPED,
            now=self.now,
            config_state=REMOVED,
        )
        if strategy.desired_state is DesiredState.STOPPED:
            self.tally.updated += 1
            return False
        self.tally.stopped += 1
        return True


def _check_strategy_moves(
    config: ServiceConfig,
    where: Loc,
    found: StrategyRecord,
    strategy: StrategyConfig,
    account_id: int,
) -> None:
    if found.symbol != strategy.symbol:
        refuse(
            config,
            (*where, "symbol"),
            f"strategy {strategy.name!r} already trades {found.symbol}; its orders and cycles "
            "belong there, so give the new symbol a new strategy name",
        )
    if found.account_id != account_id:
        refuse(
            config,
            (*where, "account"),
            f"strategy {strategy.name!r} already trades on another account; its orders and "
            "cycles belong there, so give it a new strategy name",
        )
