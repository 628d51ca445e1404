"""A strategy waiting for its start condition, in the engine (actors.engine_start): the alarm
at each candle close, the candles read from the paper venue, restarts, read errors, and
webhook signals (stale ones dropped, a second delivery harmless)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from domain import codec
from domain.errors import ExchangeUnavailable
from domain.events import StopMode, StopRequested
from strategy.state import MartingaleState, Phase
from tests.actors.fakes import PARAMS, EngineWorld

RSI = {**PARAMS, "start_condition": "rsi below=30 period=2 timeframe=1m"}
SIGNAL = {**PARAMS, "start_condition": "signal max_lag=60"}


@pytest.fixture
def rsi_world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path, params=RSI)
    yield w
    w.close()


@pytest.fixture
def signal_world(tmp_path: Path) -> Iterator[EngineWorld]:
    w = EngineWorld(tmp_path, params=SIGNAL)
    yield w
    w.close()


def starts(world: EngineWorld) -> list[tuple[object, str]]:
    return [(at, what) for at, what in world.host.scheduled if what == "start"]


def stored_phase(world: EngineWorld) -> Phase:
    snapshot = world.repo.load_engine_state(world.strategy_id).snapshot
    assert snapshot is not None
    return codec.loads(snapshot, MartingaleState).phase


def test_a_waiting_strategy_looks_at_each_close_and_starts_when_the_rsi_holds(
    rsi_world: EngineWorld,
) -> None:
    w = rsi_world
    engine = w.started()
    assert engine.state is not None and engine.state.phase is Phase.WAITING
    assert engine.waiting == "waiting for rsi2<30 on 1m"
    assert w.venue_orders() == [] and stored_phase(w) is Phase.WAITING  # a state-only step
    t0 = w.clock()
    assert starts(w) == [(t0 + timedelta(minutes=1, seconds=5), "start")]
    engine.on_start_check()  # the venue follows 1m candles from now: none closed yet
    assert engine.state.phase is Phase.WAITING and w.venue_orders() == []
    assert len(starts(w)) == 2  # armed again at the next close
    for price in ("100", "101", "102"):  # rising: the RSI is 100
        w.move(price, 60)
    engine.on_start_check()
    assert engine.state.phase is Phase.WAITING and w.venue_orders() == []
    for price in ("95", "90", "85"):  # falling: the RSI drops below 30
        w.move(price, 60)
    w.move("85", 60)  # the last falling minute closes
    engine.on_start_check()
    assert engine.state.phase is not Phase.WAITING
    assert w.coid(1, "b") in w.db_orders() and w.venue_orders() != []
    assert "start_condition_met" in w.host.kinds()


def test_a_restarted_waiting_engine_arms_its_alarm_again(rsi_world: EngineWorld) -> None:
    w = rsi_world
    w.started()
    w.host.scheduled.clear()
    again = w.engine()  # a restart after a crash: load, reconcile, act
    again.start()
    assert again.state is not None and again.state.phase is Phase.WAITING
    assert len(starts(w)) == 1
    assert w.venue_orders() == []


def test_a_read_error_goes_up_and_places_nothing(rsi_world: EngineWorld) -> None:
    w = rsi_world
    engine = w.started()
    w.host.scheduled.clear()
    w.exchange.outage = ExchangeUnavailable("venue down (test)")
    with pytest.raises(ExchangeUnavailable):
        engine.on_start_check()
    assert starts(w) == []  # the actor retries the start path, which arms the next close
    w.exchange.outage = None
    assert engine.state is not None and engine.state.phase is Phase.WAITING
    assert w.db_orders() == {}


def test_a_fresh_signal_starts_one_cycle_and_a_stale_one_is_dropped(
    signal_world: EngineWorld,
) -> None:
    w = signal_world
    engine = w.started()
    assert engine.state is not None and engine.state.phase is Phase.WAITING
    assert starts(w) == []  # nothing to poll: signals are delivered
    now = w.clock()
    assert engine.deliver_signal(now - timedelta(seconds=61)) is False
    assert "signal_dropped" in w.host.kinds() and w.db_orders() == {}
    assert engine.deliver_signal(now - timedelta(seconds=5)) is True
    assert engine.state.phase is not Phase.WAITING
    assert w.coid(1, "b") in w.db_orders()
    placed = len(w.db_orders())
    assert engine.deliver_signal(now) is False  # delivered twice: ignored during the cycle
    assert "signal_ignored" in w.host.kinds() and len(w.db_orders()) == placed


def test_a_stop_while_waiting_finishes_without_an_order(signal_world: EngineWorld) -> None:
    w = signal_world
    engine = w.started()
    engine.request_stop(StopRequested(at=w.clock(), mode=StopMode.FINISH_CYCLE))
    assert engine.finished and w.db_orders() == {}


def _store(world: EngineWorld, params: dict[str, str]) -> None:
    """What the API writes (`services.strategies.update_params`): the row, nothing else."""
    record = world.repo.get_strategy(world.strategy_id)
    world.repo.upsert_strategy(
        record.user_id,
        record.name,
        account_id=record.account_id,
        symbol=record.symbol,
        params=params,
        desired_state=record.desired_state,
        now=world.clock(),
    )


def test_a_waiting_signal_strategy_changed_to_rsi_arms_its_look_at_once(
    signal_world: EngineWorld,
) -> None:
    w = signal_world
    engine = w.started()
    assert starts(w) == []
    _store(w, RSI)
    engine.start_changed()  # told by the root's poll: no cooldown, no restart
    assert engine.waiting == "waiting for rsi2<30 on 1m"
    t0 = w.clock()
    assert starts(w) == [(t0 + timedelta(minutes=1, seconds=5), "start")]
    engine.on_start_check()  # the look runs: a simulated market is followed from this ask
    assert len(starts(w)) == 2  # and the next one is armed
    for price in ("95", "90", "85", "85"):  # falling minutes: the RSI drops below 30
        w.move(price, 60)
    engine.on_start_check()
    assert engine.state is not None and engine.state.phase is not Phase.WAITING
    assert w.coid(1, "b") in w.db_orders()


def test_a_waiting_rsi_strategy_changed_to_signal_drops_its_look(rsi_world: EngineWorld) -> None:
    w = rsi_world
    engine = w.started()
    assert len(starts(w)) == 1
    _store(w, SIGNAL)
    engine.start_changed()
    assert w.host.unscheduled == ["start"] and len(starts(w)) == 1  # dropped, none armed
    assert engine.waiting == "waiting for a signal (max lag 60s)"
    engine.start_changed()  # told again (a repeated poll): nothing more to do
    assert w.host.unscheduled == ["start"]


def test_a_waiting_strategy_changed_to_asap_starts_its_cycle(rsi_world: EngineWorld) -> None:
    w = rsi_world
    engine = w.started()
    _store(w, PARAMS)
    engine.start_changed()
    assert engine.state is not None and engine.state.phase is not Phase.WAITING
    assert w.coid(1, "b") in w.db_orders()
