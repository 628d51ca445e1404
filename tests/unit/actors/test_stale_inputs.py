"""Inputs that go stale while the service runs (review of issue 11): a feed's last price, and
an account's environment changed since the root read it."""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import pytest

from actors import root as root_module
from actors.engine_actor import EngineActor
from actors.engine_market import PRICE_MAX_AGE
from actors.feed import PriceBoard
from actors.root import RootSupervisor
from actors.root_users import UserChild
from actors.supervision import RestartPolicy
from actors.timers import TimerService
from domain.market import Ticker
from persistence.records import AccountRecord, ActualState, DesiredState, StrategyRecord

NOW = datetime(2024, 1, 1, tzinfo=UTC)


def test_a_price_older_than_its_limit_is_not_used() -> None:
    board = PriceBoard()
    board.set("binance@live", "BTC/USDT", Decimal(100), NOW)
    assert board.get("binance@live", "BTC/USDT", max_age=60, now=NOW + timedelta(seconds=59))
    assert (
        board.get("binance@live", "BTC/USDT", max_age=60, now=NOW + timedelta(seconds=61)) is None
    )
    assert board.get("binance@live", "BTC/USDT") == Decimal(100)  # no limit asked


class _Ticker:
    exchange_id = "binance"

    def fetch_ticker(self, symbol: str) -> Ticker:
        return Ticker(symbol=symbol, last=Decimal(250))


def test_an_engine_sizes_from_the_venue_when_its_feed_price_is_stale() -> None:
    board = PriceBoard()
    stale = datetime.now(UTC) - timedelta(seconds=PRICE_MAX_AGE + 5)
    board.set("binance@live", "BTC/USDT", Decimal(100), stale)  # the feed went quiet
    actor = EngineActor(
        strategy_id=1,
        user_id=1,
        account_id=1,
        symbol="BTC/USDT",
        venue="binance@live",
        exchange=cast(Any, _Ticker()),
        repo=cast(Any, None),
        parent=cast(Any, None),
        feed=None,
        timers=cast(Any, None),
        prices=board,
        fence=threading.Event(),
    )
    assert actor._current_price() == Decimal(250)


class _Repo:
    def __init__(self, accounts: list[AccountRecord], strategies: list[StrategyRecord]) -> None:
        self.accounts, self.strategies = accounts, strategies

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        if method == "list_strategies":
            return self.strategies
        if method == "list_accounts":
            return self.accounts
        if method == "get_account":
            return next(a for a in self.accounts if a.id == args[0])
        raise AssertionError(method)


def test_a_restarted_user_reads_its_accounts_environment_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    live = AccountRecord(id=1, user_id=1, name="main", exchange="binance", created_at=NOW)
    strategy = StrategyRecord(
        id=7,
        user_id=1,
        account_id=1,
        name="s",
        symbol="BTC/USDT",
        params={},
        desired_state=DesiredState.RUNNING,
        actual_state=ActualState.RUNNING,
        restart_count=0,
        version=1,
        created_at=NOW,
        updated_at=NOW,
    )
    timers = TimerService()
    try:
        root = RootSupervisor(
            repo=cast(Any, None),
            feeds=[],
            exchange_for=cast(Any, None),
            timers=timers,
            prices=PriceBoard(),
            policy=RestartPolicy(),
        )
        root._accounts[1] = live  # read at boot: live
        root.repo = cast(Any, _Repo([replace(live, sandbox=True)], [strategy]))  # changed since
        started: list[Any] = []
        monkeypatch.setattr(
            root_module.UserActor, "start", lambda **kw: started.append(kw["specs"]) or object()
        )
        root._spawn(UserChild(user_id=1))  # a restart of the user: records read again
        (specs,) = started
        assert [s.venue for s in specs] == ["binance@sandbox"]
    finally:
        timers.stop()
