"""Trading first: a request that arrives while engines are handling a tick waits for them.

The API shares the interpreter (one GIL) with the engines. Python hands the GIL over by turns,
so a request that runs while an engine is on its way to an order lengthens that order's
tick-to-order by its own CPU time. This middleware holds a request, before any of its work
starts, while the service says engines are awake (`actors.metrics.AWAKE`, through the
context's `trading_busy`), for at most `max_wait_s`: a request is late by that much at worst,
never refused. Requests already running are not stopped.

However many requests wait, one task polls (every `POLL_S`) and wakes them all together.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

POLL_S = 0.002


class TradingFirst:
    def __init__(self, app: ASGIApp, *, busy: Callable[[], bool], max_wait_s: float) -> None:
        self.app = app
        self.busy = busy
        self.max_wait_s = max_wait_s
        self._quiet: asyncio.Event | None = None  # set when the engines are done; one poller

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.max_wait_s > 0 and self.busy():
            if self._quiet is None:
                self._quiet = asyncio.Event()
                asyncio.get_running_loop().create_task(self._poll(self._quiet))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._quiet.wait(), self.max_wait_s)
        await self.app(scope, receive, send)

    async def _poll(self, quiet: asyncio.Event) -> None:
        try:
            while self.busy():
                await asyncio.sleep(POLL_S)
        finally:
            self._quiet = None
            quiet.set()
