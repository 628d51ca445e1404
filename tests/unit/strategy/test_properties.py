"""Properties of the machine driven by the simulated exchange over random and real prices."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import codec
from domain.commands import Command, CycleClosed, PlaceOrder
from domain.events import StopMode, StopRequested
from domain.market import MarketRules
from strategy.machine import decide
from strategy.params import MartingaleParams
from strategy.queries import position
from strategy.state import Phase, initial_state
from tests.unit.strategy.sim import SimRun

T0 = datetime(2018, 1, 10, tzinfo=UTC)
# Real candles from ../shared/data, copied into the repo with the example config.
DATA = Path(__file__).resolve().parents[3] / "config" / "examples" / "data"

PARAMS = [
    MartingaleParams.from_mapping(
        {
            "base_order": "10",
            "safety_order": "20",
            "max_safety_orders": 4,
            "price_deviation": "1",
            "step_scale": "1.5",
            "volume_scale": "1.5",
            "take_profit": "1",
            "max_active_safety_orders": 2,
            "cooldown": 300,
        }
    ),
    MartingaleParams.from_mapping(
        {
            "base_order": "15",
            "safety_order": "15",
            "max_safety_orders": 6,
            "price_deviation": "0.7",
            "step_scale": "1.2",
            "volume_scale": "1.3",
            "take_profit": "0.8",
            "stop_loss": "12",
            "max_active_safety_orders": 6,
            "cooldown": 0,
            "base_order_type": "limit",
        }
    ),
    MartingaleParams.from_mapping(
        {
            "base_order": "10",
            "safety_order": "10",
            "max_safety_orders": 2,
            "price_deviation": "2",
            "take_profit": "1.5",
            "max_active_safety_orders": 1,
            "cooldown": 60,
            "max_cycles": 3,
        }
    ),
]
RULES = [
    MarketRules(symbol="ETH/USDT"),
    MarketRules(symbol="ETH/USDT", tick_size=Decimal("0.01"), step_size=Decimal("0.0001")),
    MarketRules(
        symbol="ETH/USDT",
        tick_size=Decimal("0.1"),
        step_size=Decimal("0.001"),
        min_notional=Decimal("5"),
    ),
]


def check_run(run: SimRun, funds: Decimal | None = None) -> None:
    """The properties every run must satisfy; `run` is the finished simulation. `funds` is the
    most a cycle may commit (the plan's max funds unless given: reinvestment scales it)."""
    # Position = buys net of base fees - sells incl. base fees, over the whole run: exact when
    # amounts sit on a step; with no step an amount is a 28-digit quotient and sums round.
    expected = run.buys_net - run.sells_gross
    if run.state.rules.step_size > 0:
        assert position(run.state) == expected
    else:
        assert abs(position(run.state) - expected) < Decimal("1e-20")
    # Funds committed to buy orders in any cycle stay within the plan's total.
    for cycle, committed in run.committed.items():
        assert committed <= (funds or run.state.params.max_funds), (cycle, committed)
    # No client order id repeats within the strategy.
    coids = [c.client_order_id for c in run.commands if isinstance(c, PlaceOrder)]
    assert len(coids) == len(set(coids))
    # Replaying the recorded events from the initial state gives the same states and commands.
    s = run.state
    replay = initial_state(s.strategy_id, s.symbol, s.params, s.rules)
    replayed_cmds: list[Command] = []
    for event, expected_state in zip(run.events, run.states, strict=True):
        replay, cmds = decide(replay, event)
        assert replay == expected_state
        replayed_cmds.extend(cmds)
    assert replayed_cmds == run.commands
    # The snapshot the engine persists resumes exactly.
    assert codec.loads(codec.dumps(run.state)) == run.state


def walk(run: SimRun, steps: list[int], stop: tuple[int, StopMode] | None = None) -> None:
    """Start `run` at 100 and move the price by each step in 0.1 % (so that paths reach the
    safety orders and come back), a candle of 5 minutes apart; `stop` asks the strategy to
    stop (its mode) at that step's index."""
    price = Decimal(100)
    run.start(T0, price)
    for i, step in enumerate(steps):
        price = (price * (1 + Decimal(step) / 1000)).quantize(Decimal("0.01"))
        at = T0 + timedelta(minutes=5 * (i + 1))
        if stop is not None and stop[0] == i:
            run.feed(StopRequested(at=at, mode=stop[1]))
        run.move(at, price)


def walked(
    params: MartingaleParams,
    rules: MarketRules,
    steps: list[int],
    stop: tuple[int, StopMode] | None,
    fee_mode: str,
    split: bool,
    duplicate: bool,
    *,
    reject_rate: float,
    seed: int,
) -> SimRun:
    """A strategy of `params` driven along `steps` (`walk`) by a venue with those quirks; after
    a stop that does not wait for the cycle's end, it is finishing."""
    run = SimRun(
        state=initial_state(7, "ETH/USDT", params, rules),
        fee_mode=fee_mode,
        split_fills=split,
        duplicate_fills=duplicate,
        reject_rate=reject_rate,
        seed=seed,
    )
    walk(run, steps, stop)
    if stop is not None and stop[0] < len(steps) and stop[1] is not StopMode.FINISH_CYCLE:
        assert run.state.phase in (Phase.FINISHED, Phase.SELLING, Phase.CLOSING)
    return run


prices = st.lists(st.integers(min_value=-30, max_value=30), min_size=20, max_size=120)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=prices,
    params=st.sampled_from(PARAMS),
    rules=st.sampled_from(RULES),
    fee_mode=st.sampled_from(["none", "quote", "received", "third"]),
    split=st.booleans(),
    duplicate=st.booleans(),
    reject_rate=st.sampled_from([0.0, 0.0, 0.2]),
    stop=st.none() | st.tuples(st.integers(0, 119), st.sampled_from(list(StopMode))),
    seed=st.integers(0, 2**16),
)
def test_random_price_paths_keep_the_invariants(
    steps: list[int],
    params: MartingaleParams,
    rules: MarketRules,
    fee_mode: str,
    split: bool,
    duplicate: bool,
    reject_rate: float,
    stop: tuple[int, StopMode] | None,
    seed: int,
) -> None:
    run = walked(
        params, rules, steps, stop, fee_mode, split, duplicate, reject_rate=reject_rate, seed=seed
    )
    check_run(run)


def load_candles(name: str) -> list[tuple[datetime, Decimal, Decimal, Decimal, Decimal]]:
    with (DATA / name).open(newline="") as fh:
        return [
            (
                datetime.fromisoformat(row["timestamp"].replace("Z", "+00:00")),
                Decimal(row["open"]),
                Decimal(row["high"]),
                Decimal(row["low"]),
                Decimal(row["close"]),
            )
            for row in csv.DictReader(fh)
        ]


@pytest.mark.parametrize("fee_mode", ["received", "quote"])
def test_real_eth_btc_candles_complete_profitable_cycles(fee_mode: str) -> None:
    """ETH/BTC through the January 2018 crash: cycles close at a profit, invariants hold."""
    params = MartingaleParams.from_mapping(
        {
            "base_order": "0.01",
            "safety_order": "0.02",
            "max_safety_orders": 5,
            "price_deviation": "1.5",
            "step_scale": "1.3",
            "volume_scale": "1.5",
            "take_profit": "1",
            "max_active_safety_orders": 2,
            "cooldown": 600,
        }
    )
    rules = MarketRules(
        symbol="ETH/BTC",
        tick_size=Decimal("0.000001"),
        step_size=Decimal("0.001"),
        min_notional=Decimal("0.0001"),
    )
    candles = load_candles("ETH-BTC-5m.csv")[:2500]
    run = SimRun(
        state=initial_state(3, "ETH/BTC", params, rules),
        fee_mode=fee_mode,
        split_fills=True,
        seed=1,
    )
    run.start(candles[0][0], candles[0][1])
    for at, open_, high, low, close in candles:
        # open -> low -> high -> close, a pessimistic path for a long position
        for k, price in enumerate((open_, low, high, close)):
            run.move(at + timedelta(seconds=k), price)
    closed = [c for c in run.commands if isinstance(c, CycleClosed)]
    assert len(closed) >= 5
    assert all(c.realized_profit > 0 for c in closed if c.reason.value == "take_profit")
    assert run.state.realized_profit == sum(c.realized_profit for c in closed)
    check_run(run)
