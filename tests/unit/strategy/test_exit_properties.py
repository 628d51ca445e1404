"""Properties of the trailing stop, the cycle timeout and reinvestment over random and real
prices, driven by the simulated exchange (`sim.SimRun`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain import codec
from domain.commands import Command, CycleClosed, PlaceOrder
from domain.events import (
    CooldownElapsed,
    Event,
    OrderAccepted,
    OrderCanceled,
    OrderRejected,
    PriceTicked,
)
from domain.market import MarketRules
from domain.money import ZERO
from domain.orders import OrderType, Side
from strategy.machine import decide
from strategy.params import MartingaleParams
from strategy.queries import average_price, position, stop_loss_price
from strategy.state import MartingaleState, Phase, initial_state
from tests.unit.strategy.sim import SimRun, _Resting
from tests.unit.strategy.test_properties import RULES, load_candles, walk

T0 = datetime(2018, 1, 10, tzinfo=UTC)

COMMON = {
    "base_order": "10",
    "safety_order": "15",
    "max_safety_orders": 4,
    "price_deviation": "1",
    "step_scale": "1.4",
    "volume_scale": "1.5",
    "take_profit": "1",
    "max_active_safety_orders": 2,
    "cooldown": 300,
}
VARIANTS = [
    {"stop_loss": "6", "stop_loss_trailing": True},
    {"stop_loss": "9", "stop_loss_trailing": True, "max_active_safety_orders": 4},
    {"stop_loss_timeout": "1.5"},
    {"stop_loss_timeout": "0.75", "stop_loss_timeout_action": "break_even"},
    {"reinvest_percent": "100", "cooldown": 0},
    {"reinvest_percent": "40", "stop_loss": "9", "stop_loss_trailing": True},
    {"reinvest_percent": "70", "stop_loss_timeout": "1", "stop_loss_timeout_action": "break_even"},
]
PARAMS = [MartingaleParams.from_mapping({**COMMON, **v}) for v in VARIANTS]


class ExitSim(SimRun):
    """The shared simulation, plus: the scale each cycle was sized with, the balance passed
    at each cycle start, and a take-profit at break-even (not above the average) allowed."""

    balance: Decimal | None = None
    scales: dict[int, Decimal]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.scales = {}

    def move(self, at: datetime, price: Decimal) -> None:
        self.now, self.price = at, price
        if self.finished:
            return
        for coid in list(self.resting):
            r = self.resting.get(coid)
            if r is None or r.cmd.price is None:
                continue
            crosses = price <= r.cmd.price if r.cmd.side is Side.BUY else price >= r.cmd.price
            if crosses:
                self._fill_all(r, r.cmd.price)
        for coid in self.cancels:
            if self.resting.pop(coid, None) is not None:
                self._run(OrderCanceled(at=at, client_order_id=coid))
        self.cancels = []
        if self.wake_at is not None and at >= self.wake_at:
            self.wake_at = None
            self._run(CooldownElapsed(at=at, price=price, balance=self.balance))
        self._run(PriceTicked(at=at, price=price))

    def _place(self, cmd: PlaceOrder) -> list[Event]:
        assert self.now is not None
        if cmd.side is Side.BUY:
            notional = cmd.amount * (cmd.price if cmd.price is not None else self.price)
            self.committed[cmd.cycle] = self.committed.get(cmd.cycle, ZERO) + notional
            self.scales.setdefault(cmd.cycle, self.state.size_scale)
            assert self.scales[cmd.cycle] == self.state.size_scale  # fixed for the cycle
        elif cmd.order_type is OrderType.LIMIT:
            average = average_price(self.state)
            assert average is not None and cmd.price is not None
            assert cmd.price >= average if self.state.timed_out else cmd.price > average
        if cmd.leg != "b" and self.rng.random() < self.reject_rate:
            return [OrderRejected(at=self.now, client_order_id=cmd.client_order_id, reason="sim")]
        out: list[Event] = [
            OrderAccepted(at=self.now, client_order_id=cmd.client_order_id, exchange_order_id="e")
        ]
        r = _Resting(cmd=cmd)
        self.resting[cmd.client_order_id] = r
        if cmd.order_type is OrderType.MARKET:
            out.extend(self._fills(r, self.price))
        return out


def check_exit_run(run: ExitSim) -> None:
    s = run.state
    # Position = buys - sells (exact on a step; to 20 places without one).
    expected = run.buys_net - run.sells_gross
    if s.rules.step_size > 0:
        assert position(s) == expected
    else:
        assert abs(position(s) - expected) < Decimal("1e-20")
    # Funds committed in a cycle never exceed its scaled plan; the scale never shrinks the plan
    # and, given a balance, fits the plan in it.
    for cycle, committed in run.committed.items():
        scale = run.scales[cycle]
        assert scale >= 1
        assert committed <= s.params.max_funds * scale, (cycle, committed, scale)
        if run.balance is not None and scale > 1:
            assert s.params.max_funds * scale <= run.balance
    # The trailing trigger never falls while the position is unchanged by buys.
    if s.params.stop_loss_trailing:
        previous: MartingaleState | None = None
        for state in run.states:
            if (
                previous is not None
                and previous.cycle == state.cycle
                and previous.book.bought == state.book.bought
            ):
                before, after = stop_loss_price(previous), stop_loss_price(state)
                if before is not None and after is not None:
                    assert after >= before, (before, after)
            previous = state
    # Reinvested never goes below zero.
    assert all(state.reinvested >= 0 for state in run.states)
    coids = [c.client_order_id for c in run.commands if isinstance(c, PlaceOrder)]
    assert len(coids) == len(set(coids))
    # The same events replayed give the same states and commands.
    replay = initial_state(s.strategy_id, s.symbol, s.params, s.rules)
    replayed: list[Command] = []
    for event, expected_state in zip(run.events, run.states, strict=True):
        replay, cmds = decide(replay, event)
        assert replay == expected_state
        replayed.extend(cmds)
    assert replayed == run.commands
    assert codec.loads(codec.dumps(s)) == s


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(st.integers(min_value=-30, max_value=30), min_size=20, max_size=150),
    params=st.sampled_from(PARAMS),
    rules=st.sampled_from(RULES),
    fee_mode=st.sampled_from(["none", "quote", "received"]),
    split=st.booleans(),
    reject_rate=st.sampled_from([0.0, 0.0, 0.2]),
    balance=st.none() | st.sampled_from([Decimal("60"), Decimal("130"), Decimal("1000")]),
    seed=st.integers(0, 2**16),
)
def test_random_paths_keep_the_invariants_with_each_exit(
    steps: list[int],
    params: MartingaleParams,
    rules: MarketRules,
    fee_mode: str,
    split: bool,
    reject_rate: float,
    balance: Decimal | None,
    seed: int,
) -> None:
    run = ExitSim(
        state=initial_state(7, "ETH/USDT", params, rules),
        fee_mode=fee_mode,
        split_fills=split,
        reject_rate=reject_rate,
        seed=seed,
    )
    run.balance = balance
    walk(run, steps)
    check_exit_run(run)


def _real_run(variant: dict[str, object]) -> ExitSim:
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
            **variant,
        }
    )
    rules = MarketRules(
        symbol="ETH/BTC",
        tick_size=Decimal("0.000001"),
        step_size=Decimal("0.001"),
        min_notional=Decimal("0.0001"),
    )
    candles = load_candles("ETH-BTC-5m.csv")[:2500]
    run = ExitSim(state=initial_state(3, "ETH/BTC", params, rules), fee_mode="quote", seed=1)
    run.start(candles[0][0], candles[0][1])
    for at, open_, high, low, close in candles:
        for k, price in enumerate((open_, low, high, close)):
            run.move(at + timedelta(seconds=k), price)
    check_exit_run(run)
    return run


def _reasons(run: ExitSim) -> list[str]:
    return [c.reason.value for c in run.commands if isinstance(c, CycleClosed)]


def test_real_candles_with_a_trailing_stop() -> None:
    """The trail locks gains in: some of its stops close a cycle at a profit, which a stop
    from the average never does."""
    variant = {"stop_loss": "4", "take_profit": "5", "max_safety_orders": 2}
    run = _real_run({**variant, "stop_loss_trailing": True})
    stops = [
        c.realized_profit
        for c in run.commands
        if isinstance(c, CycleClosed) and c.reason.value == "stop_loss"
    ]
    assert stops and any(p > 0 for p in stops)
    plain = _real_run(variant)
    assert all(
        c.realized_profit < 0
        for c in plain.commands
        if isinstance(c, CycleClosed) and c.reason.value == "stop_loss"
    )


def test_real_candles_with_a_timeout_at_market_and_at_break_even() -> None:
    market = _real_run({"stop_loss_timeout": "6"})
    assert "timeout" in _reasons(market)
    even = _real_run({"stop_loss_timeout": "6", "stop_loss_timeout_action": "break_even"})
    assert "timeout" in _reasons(even)
    assert even.state.phase is not Phase.FINISHED


def test_real_candles_reinvest_raises_the_sizes() -> None:
    run = _real_run({"reinvest_percent": "100"})
    assert run.state.reinvested > 0 and max(run.scales.values()) > 1
