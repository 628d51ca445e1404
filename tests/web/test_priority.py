"""web.priority.TradingFirst: requests wait while engines handle a tick, up to a bound, and are
never refused; however many wait, one task polls."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from web import priority
from web.priority import TradingFirst


class Engines:
    """Busy for the first `polls` questions, then idle; counts the questions."""

    def __init__(self, polls: int) -> None:
        self.polls = polls
        self.asked = 0

    def busy(self) -> bool:
        self.asked += 1
        return self.asked <= self.polls


def _app(engines: Engines, max_wait_s: float, log: list[int]) -> TradingFirst:
    async def hello(_request: Request) -> PlainTextResponse:
        log.append(engines.asked)  # how many questions had been asked when the work began
        return PlainTextResponse("ok")

    return TradingFirst(
        Starlette(routes=[Route("/", hello)]), busy=engines.busy, max_wait_s=max_wait_s
    )


async def _get(app: TradingFirst, count: int = 1) -> list[int]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        answers = await asyncio.gather(*(client.get("/") for _ in range(count)))
    return [a.status_code for a in answers]


@pytest.mark.anyio
async def test_a_request_starts_once_the_engines_are_done() -> None:
    engines, log = Engines(polls=5), []
    assert await _get(_app(engines, max_wait_s=10, log=log)) == [200]
    assert log == [6]  # asked until the sixth question said idle; only then the work ran


@pytest.mark.anyio
async def test_a_request_is_late_at_most_by_the_bound_never_refused() -> None:
    engines, log = Engines(polls=10**9), []  # busy for ever
    assert await _get(_app(engines, max_wait_s=0.02, log=log)) == [200]
    assert len(log) == 1


@pytest.mark.anyio
async def test_with_no_bound_the_engines_are_not_even_asked() -> None:
    engines, log = Engines(polls=10**9), []
    assert await _get(_app(engines, max_wait_s=0, log=log)) == [200]
    assert engines.asked == 0


@pytest.mark.anyio
async def test_many_waiting_requests_share_one_poller(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority, "POLL_S", 0.001)
    engines, log = Engines(polls=20), []
    assert await _get(_app(engines, max_wait_s=10, log=log), count=30) == [200] * 30
    # Each request asks once on arrival; then one poller asks until idle. Thirty pollers
    # would have asked hundreds of times.
    assert engines.asked <= 30 + 20 + 2
    assert len(log) == 30


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
