"""The life of a long-running process (`martingale run`, `martingale paper-venue`): start,
wait for SIGTERM/SIGINT (or `done` set by someone else), then stop, whatever happened."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from typing import Any

import structlog

log = structlog.get_logger(__name__)


def run_until_signal(
    start: Callable[[], None],
    stop: Callable[[], None],
    done: threading.Event,
    *,
    on_signal: Callable[[], None] | None = None,
) -> None:
    """`on_signal` runs at once in the signal handler (before the wait loop notices)."""

    def _signal(signum: int, _frame: Any) -> None:
        if on_signal is not None:
            on_signal()
        log.info("signal received; stopping", signal=signal.Signals(signum).name)
        done.set()

    signal.signal(signal.SIGTERM, _signal)
    signal.signal(signal.SIGINT, _signal)
    start()
    try:
        while not done.wait(1.0):
            pass
    finally:
        stop()
