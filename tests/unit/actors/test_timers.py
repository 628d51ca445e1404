from __future__ import annotations

import threading

from actors.timers import TimerService


def test_callbacks_run_in_due_order_and_canceled_ones_never_run() -> None:
    timers = TimerService()
    ran: list[str] = []
    done = threading.Event()
    try:
        timers.call_later(0.06, lambda: ran.append("late"))
        canceled = timers.call_later(0.02, lambda: ran.append("canceled"))
        timers.call_later(0.01, lambda: ran.append("early"))
        timers.call_later(0.1, done.set)
        canceled.cancel()
        assert done.wait(5)
    finally:
        timers.stop()
    assert ran == ["early", "late"]


def test_a_failing_callback_does_not_stop_the_timer_thread() -> None:
    timers = TimerService()
    done = threading.Event()

    def boom() -> None:
        raise RuntimeError("boom")

    try:
        timers.call_later(0.0, boom)
        timers.call_later(0.01, done.set)
        assert done.wait(5)
    finally:
        timers.stop()
