"""A blocking call the health check and the scrape wait on for a bounded time, never longer.

The database or an actor can hang (a half-open MySQL connection waits for its read timeout, a
stuck thread forever), and an HTTP probe that hangs with it is worse than none: the caller's
own timeout fires and it learns nothing. So the call runs on a daemon thread of its own and the
caller waits at most its budget. At most one call is in flight per `BoundedCall`: while one has
not returned, the next look waits on that one instead of starting another thread (a probe every
few seconds against a database that hangs for 30 s must not pile up threads or connections).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class NoAnswer(Exception):
    """The call had not returned when the caller's budget ran out."""

    def __init__(self, waited: float) -> None:
        super().__init__(f"no answer after {waited:.1f}s")
        self.waited = waited


class Run(Generic[T]):
    """One call in flight (or done)."""

    def __init__(self) -> None:
        self.started = time.monotonic()
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None

    def result(self, timeout: float) -> T:
        """The call's value, its exception re-raised, or `NoAnswer` after `timeout` seconds."""
        if not self.done.wait(max(0.0, timeout)):
            raise NoAnswer(time.monotonic() - self.started)
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class BoundedCall(Generic[T]):
    def __init__(self, fn: Callable[[], T], *, name: str) -> None:
        self._fn = fn
        self._name = name
        self._lock = threading.Lock()
        self._run: Run[T] | None = None

    def begin(self) -> Run[T]:
        """Start the call, or join the one still in flight."""
        with self._lock:
            run = self._run
            if run is not None and not run.done.is_set():
                return run
            run = self._run = Run()
        threading.Thread(target=self._work, args=(run,), name=self._name, daemon=True).start()
        return run

    def __call__(self, timeout: float) -> T:
        return self.begin().result(timeout)

    def _work(self, run: Run[T]) -> None:
        try:
            run.value = self._fn()
        except BaseException as exc:  # handed to the waiter, whatever it is
            run.error = exc
        finally:
            run.done.set()
