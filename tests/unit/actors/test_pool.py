"""actors.pool: pooled actors keep pykka's promises on a few shared threads."""

from __future__ import annotations

import threading
import time
from typing import Any

import pykka
import pytest

from actors.pool import ActorPool, PooledActor


def _until(check: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        time.sleep(0.005)


class Recorder(PooledActor):
    def __init__(
        self,
        pool: ActorPool | None,
        lane: Any,
        log: list[Any],
        *,
        gauge: Gauge | None = None,
        heavy: bool = False,
        block: threading.Event | None = None,
    ) -> None:
        super().__init__()
        self.use_pool(pool, lane)
        self.log = log
        self.gauge = gauge
        self.heavy = heavy
        self.block = block

    @property
    def pool_heavy(self) -> bool:
        return self.heavy

    def on_start(self) -> None:
        self.log.append(("start", threading.current_thread().name))

    def on_receive(self, message: Any) -> Any:
        if message == "boom":
            raise RuntimeError("boom")
        if self.gauge is not None:
            self.gauge.enter(self.heavy)
        try:
            if self.block is not None and message != "started":
                self.block.wait(10)
            else:
                time.sleep(0.002)
        finally:
            if self.gauge is not None:
                self.gauge.leave(self.heavy)
        self.heavy = False
        self.log.append(message)
        return message

    def on_failure(self, *exc: Any) -> None:
        self.log.append("failed")

    def on_stop(self) -> None:
        self.log.append("stopped")

    def where(self) -> str:
        return threading.current_thread().name


class Gauge:
    """The most turns seen at once: all, and heavy ones."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.now = self.most = self.heavy_now = self.heavy_most = 0

    def enter(self, heavy: bool) -> None:
        with self._lock:
            self.now += 1
            self.most = max(self.most, self.now)
            if heavy:
                self.heavy_now += 1
                self.heavy_most = max(self.heavy_most, self.heavy_now)

    def leave(self, heavy: bool) -> None:
        with self._lock:
            self.now -= 1
            if heavy:
                self.heavy_now -= 1


@pytest.fixture
def pool() -> Any:
    made = ActorPool(4, per_lane=2, heavy_slots=1, batch=3, name="t")
    yield made
    pykka.ActorRegistry.stop_all()
    made.close()


def test_messages_run_in_order_on_the_pool_not_on_threads_of_their_own(pool: ActorPool) -> None:
    before = threading.active_count()
    logs = [[] for _ in range(40)]  # type: list[list[Any]]
    refs = [Recorder.start(pool, index % 5, logs[index]) for index in range(40)]
    for n in range(20):
        for ref in refs:
            ref.tell(n)
    answers = [ref.ask(99) for ref in refs]
    assert answers == [99] * 40
    for log in logs:
        assert log[0][0] == "start" and log[0][1].startswith("t-")
        assert log[1:] == [*range(20), 99]  # on_start first, then the order told
    assert threading.active_count() - before <= 4  # four workers, not forty threads
    assert refs[0].proxy().where().get().startswith("t-")


def test_a_lane_runs_at_most_per_lane_actors_at_once(pool: ActorPool) -> None:
    gauge = Gauge()
    refs = [Recorder.start(pool, "one user", [], gauge=gauge) for _ in range(6)]
    for _ in range(10):
        for ref in refs:
            ref.tell("tick")
    for ref in refs:
        ref.ask("done")
    assert gauge.most == 2


def test_a_blocked_lane_leaves_the_other_lanes_their_workers(pool: ActorPool) -> None:
    block = threading.Event()
    stuck = [Recorder.start(pool, "slow user", [], block=block) for _ in range(3)]
    for ref in stuck:
        ref.tell("hang")
    others = [Recorder.start(pool, lane, []) for lane in range(10)]
    try:
        assert [ref.ask("ok", timeout=5) for ref in others] == ["ok"] * 10
        assert pool.counts()["threads"] <= 4
    finally:
        block.set()


def test_heavy_turns_are_admitted_one_slot_at_a_time_in_arrival_order(pool: ActorPool) -> None:
    gauge = Gauge()
    order: list[Any] = []
    lock = threading.Lock()

    class Booting(Recorder):
        def on_receive(self, message: Any) -> Any:
            if self.heavy:
                with lock:
                    order.append(message)
            return super().on_receive(message)

    hold = threading.Event()
    holder = Booting.start(pool, "holder", [], gauge=gauge, block=hold)
    heavy = [Booting.start(pool, n, [], gauge=gauge) for n in range(8)]
    for ref in [holder, *heavy]:
        ref.ask("started")
        ref.proxy().heavy = True
    holder.tell("holds the slot")
    _until(lambda: pool.counts()["heavy_running"] == 1)
    for index, ref in enumerate(heavy):
        ref.tell(index)
    _until(lambda: pool.counts()["heavy_waiting"] == 8)
    light = Recorder.start(pool, "light", [], gauge=gauge)
    assert light.ask("light", timeout=5) == "light"  # not behind the heavy queue
    hold.set()
    for ref in heavy:
        ref.ask("after")
    assert gauge.heavy_most == 1
    assert order == ["holds the slot", *range(8)]
    _until(lambda: pool.heavy_idle)


def test_a_failure_reaches_on_failure_and_the_inbox_is_refused(pool: ActorPool) -> None:
    log: list[Any] = []
    ref = Recorder.start(pool, 1, log)
    ref.tell("boom")
    _until(lambda: not ref.is_alive())
    assert "failed" in log
    with pytest.raises(pykka.ActorDeadError):
        ref.ask("late")


def test_an_ask_that_raises_answers_the_caller_and_the_actor_lives_on(pool: ActorPool) -> None:
    ref = Recorder.start(pool, 1, [])
    with pytest.raises(RuntimeError, match="boom"):
        ref.ask("boom")
    assert ref.ask("alive") == "alive"


def test_stop_runs_on_stop_and_refuses_what_was_left(pool: ActorPool) -> None:
    block = threading.Event()
    log: list[Any] = []
    ref = Recorder.start(pool, 1, log, block=block)
    ref.tell("first")
    stopped = ref.stop(block=False)
    late = ref.ask("after the stop", block=False)
    block.set()
    stopped.get(timeout=5)
    assert log[1:] == ["first", "stopped"]
    with pytest.raises(pykka.ActorDeadError):
        late.get(timeout=5)
    assert not pykka.ActorRegistry.get_by_urn(ref.actor_urn)


def test_without_a_pool_it_is_a_thread_of_its_own() -> None:
    log: list[Any] = []
    ref = Recorder.start(None, 1, log)
    try:
        assert ref.ask("x") == "x"
        assert not ref.proxy().where().get().startswith("t-")
    finally:
        ref.stop()


def test_a_closed_pool_takes_no_actor() -> None:
    made = ActorPool(1, name="closed")
    made.close()
    with pytest.raises(RuntimeError, match="closed"):
        Recorder.start(made, 1, [])
    assert not pykka.ActorRegistry.get_all()


def test_an_actor_whose_pool_cannot_start_a_worker_is_not_left_behind(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    made = ActorPool(2, name="no-threads")

    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(threading.Thread, "start", refuse)
    with pytest.raises(RuntimeError, match="new thread"):
        Recorder.start(made, 1, [])
    monkeypatch.undo()
    assert not pykka.ActorRegistry.get_all()
    assert made.counts()["ready"] == 0  # a later worker will not run the dead actor's turn
    ref = Recorder.start(made, 1, [])
    assert ref.ask("alive", timeout=5) == "alive"
    ref.stop()
    made.close()
