"""Multi-user isolation under the real actor tree: one user's rejected keys, another account's
crash loop, and everybody else keeps trading.

The tree is built as the composition root builds it (RootSupervisor, repository, feed, users,
engines over the paper venue), with one difference: `exchange_for` hands two accounts a
rigged client. bob's venue rejects his keys (what a live exchange does with a revoked key);
carol's second account has a client that fails with a bug on every call, so that engine
crashes each time it starts.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, cast

import pykka
import pytest

from actors.feed import PriceBoard
from actors.root import FeedSpec, RootSupervisor
from actors.supervision import RestartPolicy
from actors.timers import TimerService
from app.bootstrap import PAPER, paper_account_key
from config.loader import load_config
from config.schema import CsvMarket, PaperAccount, ServiceConfig
from domain.errors import AuthenticationFailed
from exchange.feeds.csv_replay import CsvReplaySource
from exchange.paper import PaperExchange, PaperVenue
from exchange.port import Exchange
from persistence.records import ActualState, DesiredState
from tests.e2e.configs import market
from tests.e2e.harness import onboard, read_db, repository, wait_for, write_config

PARAMS = {
    "base_order": "20",
    "safety_order": "20",
    "max_safety_orders": 4,
    "price_deviation": "0.3",
    "take_profit": "0.3",
    "max_active_safety_orders": 2,
    "cooldown": 0,
}
POLICY = RestartPolicy(max_restarts=2, window=300.0, base_delay=0.05, max_delay=0.2)


class RejectedKeys:
    """An exchange client whose every call is refused as a live exchange refuses a bad key."""

    def __init__(self, inner: Exchange) -> None:
        self._inner = inner
        self.calls = 0

    @property
    def exchange_id(self) -> str:
        return self._inner.exchange_id

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        def refuse(*_args: Any, **_kwargs: Any) -> NoReturn:
            self.calls += 1
            raise AuthenticationFailed("binance: Invalid API-key, IP, or permissions for action")

        return refuse

    def close(self) -> None:
        self._inner.close()


class Buggy:
    """An exchange client with a bug: every call fails with an error nobody handles."""

    def __init__(self, inner: Exchange) -> None:
        self._inner = inner

    @property
    def exchange_id(self) -> str:
        return self._inner.exchange_id

    def __getattr__(self, name: str) -> Callable[..., NoReturn]:
        def fail(*_args: Any, **_kwargs: Any) -> NoReturn:
            raise KeyError(f"simulated bug in {name}")

        return fail

    def close(self) -> None:
        self._inner.close()


def strategy(name: str, account: str = "main") -> dict[str, Any]:
    return {"name": name, "account": account, "symbol": "BTC/USDT", **PARAMS}


def account(name: str = "main") -> dict[str, Any]:
    return {"name": name, "exchange": "paper", "balances": {"USDT": "100000"}}


def isolation_config(tmp_path: Path, db_url: str) -> Path:
    return write_config(
        tmp_path / "service.yaml",
        {
            "database": {"url": db_url},
            "paper": {"state_file": "paper.sqlite"},
            "markets": {"BTC/USDT": market(tmp_path, "BTC/USDT", "30000", 40, moving=True)},
            "users": [
                {
                    "name": "alice",
                    "email": "alice@example.com",
                    "accounts": [account()],
                    "strategies": [strategy("a1"), strategy("a2")],
                },
                {
                    "name": "bob",
                    "email": "bob@example.com",
                    "accounts": [account()],
                    "strategies": [strategy("b1"), strategy("b2")],
                },
                {
                    "name": "carol",
                    "email": "carol@example.com",
                    "accounts": [account(), account("buggy")],
                    "strategies": [strategy("c-good"), strategy("c-crash", "buggy")],
                },
            ],
        },
    )


@contextmanager
def actor_tree(
    config: ServiceConfig, rigged: dict[str, Callable[[Exchange], Any]]
) -> Iterator[pykka.ActorRef[RootSupervisor]]:
    """The composition root's tree; accounts named in `rigged` ("user/account") get wrapped."""
    venue = PaperVenue(Path(config.paper.state_file), name=PAPER)
    timers = TimerService()
    with repository(config.database.url) as repo:
        for symbol in config.markets:
            rules = config.market_rules(symbol)
            assert rules is not None
            venue.set_market_rules(rules)
        for user in config.users:
            for acc in user.accounts:
                assert isinstance(acc, PaperAccount)
                venue.open_account(paper_account_key(user.name, acc.name), balances=acc.balances)

        def exchange_for(account_id: int) -> Exchange:
            record = repo.get_account(account_id)
            key = paper_account_key(repo.get_user(record.user_id).name, record.name)
            client: Exchange = PaperExchange(venue, key)
            wrap = rigged.get(key)
            return client if wrap is None else cast(Exchange, wrap(client))

        feeds = []
        for symbol, spec in config.markets.items():
            assert isinstance(spec, CsvMarket)
            source = partial(CsvReplaySource, spec.path, symbol=symbol, speed=float(spec.speed))
            feeds.append(FeedSpec(venue=PAPER, symbol=symbol, source=source, paper=venue))
        root = RootSupervisor.start(
            repo=repo,
            feeds=feeds,
            exchange_for=exchange_for,
            timers=timers,
            prices=PriceBoard(),
            policy=POLICY,
            poll_interval=0.5,
            heartbeat_interval=1.0,
        )
        try:
            yield root
        finally:
            root.stop(timeout=120)
            timers.stop()
            venue.close()
    assert pykka.ActorRegistry.get_all() == [], "actors alive after shutdown"


def orders_by_strategy(db_url: str) -> dict[str, int]:
    db = read_db(db_url)
    names = {
        sid: f"{db.account_of[sid].split('/')[0]}/{s.name}" for sid, s in db.strategies.items()
    }
    counts = dict.fromkeys(names.values(), 0)
    for _, sid, _ in db.orders:
        counts[names[sid]] += 1
    return counts


def states(db_url: str) -> dict[str, tuple[ActualState, DesiredState, str | None]]:
    with repository(db_url) as repo:
        users = {u.id: u.name for u in repo.list_users()}
        return {
            f"{users[s.user_id]}/{s.name}": (s.actual_state, s.desired_state, s.last_error)
            for s in repo.list_strategies()
        }


@pytest.fixture
def rigged_tree(tmp_path: Path, db_url: str) -> Iterator[tuple[str, Any]]:
    path = isolation_config(tmp_path, db_url)
    onboard(path)
    config = load_config(path)
    rigged: dict[str, Callable[[Exchange], Any]] = {"bob/main": RejectedKeys, "carol/buggy": Buggy}
    with actor_tree(config, rigged) as root:
        yield db_url, root


@pytest.mark.slow
def test_rejected_keys_and_a_crash_loop_leave_everybody_else_trading(
    rigged_tree: tuple[str, Any],
) -> None:
    db_url, _root = rigged_tree

    def settled(seen: dict[str, tuple[ActualState, DesiredState, str | None]]) -> bool:
        return (
            seen["bob/b1"][0] is ActualState.STOPPED
            and seen["bob/b2"][0] is ActualState.STOPPED
            and seen["carol/c-crash"][0] is ActualState.FAULTED
        )

    seen = wait_for(lambda: states(db_url), settled, what="bob stopped, c-crash faulted")

    for name in ("bob/b1", "bob/b2"):
        _, desired, error = seen[name]
        assert desired is DesiredState.STOPPED  # not restarted, not resumed by a restart
        assert error is not None and "rejected the API key" in error
        assert "Invalid API-key" in error
    _, desired, error = seen["carol/c-crash"]
    assert error is not None and "simulated bug" in error and "crashed 3 times" in error
    assert desired is DesiredState.RUNNING  # FAULTED is the engine's state, not the user's wish

    # Everybody else trades on, after the failures were settled: more orders than before.
    before = orders_by_strategy(db_url)
    others = ("alice/a1", "alice/a2", "carol/c-good")
    wait_for(
        lambda: orders_by_strategy(db_url),
        lambda now: all(now[n] >= before[n] + 3 for n in others),
        what="the other strategies to keep placing orders",
        timeout=90,
    )
    after = states(db_url)
    for name in others:
        assert after[name][0] is ActualState.RUNNING, after[name]
        assert after[name][2] is None
    # The failed ones stay where they ended and place nothing more.
    assert {n: after[n][0] for n in ("bob/b1", "bob/b2", "carol/c-crash")} == {
        "bob/b1": ActualState.STOPPED,
        "bob/b2": ActualState.STOPPED,
        "carol/c-crash": ActualState.FAULTED,
    }
    now = orders_by_strategy(db_url)
    assert (now["bob/b1"], now["bob/b2"], now["carol/c-crash"]) == (
        before["bob/b1"],
        before["bob/b2"],
        before["carol/c-crash"],
    )
