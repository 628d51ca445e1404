"""BootGate bounds concurrent boots and lets a cancelled waiter go; Liveness reports waits."""

from __future__ import annotations

import threading
import time

import pytest

from actors import admission
from actors.admission import BootGate, Liveness


def test_the_gate_never_admits_more_than_its_slots() -> None:
    gate = BootGate(3)
    inside = 0
    most = 0
    lock = threading.Lock()
    admitted_all: list[bool] = []

    def boot() -> None:
        nonlocal inside, most
        with gate.admit(lambda: False) as admitted:
            admitted_all.append(admitted)
            with lock:
                inside += 1
                most = max(most, inside)
            time.sleep(0.02)
            with lock:
                inside -= 1

    threads = [threading.Thread(target=boot) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    assert admitted_all == [True] * 12
    assert most == 3
    assert gate.waiting == 0


def test_a_cancelled_waiter_leaves_without_a_slot_and_takes_none() -> None:
    gate = BootGate(1)
    cancelled = threading.Event()
    outcome: list[bool] = []
    with gate.admit(lambda: False) as held:
        assert held

        def waiter() -> None:
            with gate.admit(cancelled.is_set) as admitted:
                outcome.append(admitted)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.05)
        assert gate.waiting == 1 and outcome == []
        cancelled.set()
        gate.wake_all()
        t.join(timeout=5)
    assert outcome == [False]
    # the one slot came back, and the cancelled waiter did not release a slot it never held
    with gate.admit(lambda: False) as again:
        assert again
    with pytest.raises(ValueError):
        BootGate(0)


def test_liveness_names_the_innermost_wait_and_clears_after_it() -> None:
    live = Liveness()
    assert live.waiting_on() is None
    with live.waiting("boot slot"):
        with live.waiting("database"):
            what, seconds = live.waiting_on() or ("", -1.0)
            assert what == "database" and seconds >= 0
        assert (live.waiting_on() or ("",))[0] == "boot slot"
    assert live.waiting_on() is None


def test_the_gate_marks_the_wait_but_not_the_time_a_slot_is_held() -> None:
    gate = BootGate(1)
    live = Liveness()
    seen: list[str | None] = []
    with gate.admit(lambda: False) as held:
        assert held

        def waiter() -> None:
            with gate.admit(lambda: False, liveness=live):
                wait = live.waiting_on()
                seen.append(wait[0] if wait else None)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.05)
        assert (live.waiting_on() or ("",))[0] == "boot slot"
    t.join(timeout=5)
    assert seen == [None]


def test_liveness_tells_how_long_the_current_message_has_taken() -> None:
    live = Liveness()
    assert live.busy_for() is None
    with live.busy():
        time.sleep(0.02)
        busy = live.busy_for()
        assert busy is not None and busy >= 0.02
    assert live.busy_for() is None
    with pytest.raises(RuntimeError), live.busy():
        raise RuntimeError("a failing message still ends")
    assert live.busy_for() is None


def test_a_known_wait_restarts_the_work_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """A boot that queued a minute for its slot is not a minute into its work once admitted."""
    clock = [100.0]
    monkeypatch.setattr(admission.time, "monotonic", lambda: clock[0])
    live = Liveness()
    with live.busy():
        clock[0] += 1
        with live.waiting("boot slot"):
            with live.waiting("repository"):  # nested: only the outermost end restarts it
                clock[0] += 60
            assert live.busy_for() == 61
            assert live.waiting_on() == ("boot slot", 60)
        assert live.waiting_on() is None
        assert live.busy_for() == 0
        clock[0] += 2
        assert live.busy_for() == 2
    assert live.busy_for() is None
