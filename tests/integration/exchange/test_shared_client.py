"""One ccxt client serves every engine of an account and the reconcile workers at once: what
one thread's answer said must never be read as another's (review of issue 11, item 4)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest

from domain.errors import OrderOutcomeUnknown, RateLimited
from domain.orders import OrderType, Side
from exchange.ccxt_adapter import CcxtExchange
from tests.actors.fakes import wait_until
from tests.integration.exchange.conftest import STALL_S
from tests.integration.exchange.fake_binance import FakeBinance, Fault

Make = Callable[..., CcxtExchange]
SYM = "BTC/USDT"
LIMITED = {"code": -1003, "msg": "Too many requests."}


def test_a_timed_out_create_is_never_judged_by_another_thread_s_429(
    make_adapter: Make, fake: FakeBinance
) -> None:
    ex = make_adapter()
    ex.load_market_rules(SYM)  # markets loaded before the race
    fake.inject(Fault.timeout("POST", "order", STALL_S))
    fake.inject(*[Fault.http("GET", "openOrders", 429, LIMITED) for _ in range(3)])
    outcome: dict[str, BaseException | None] = {}

    def create() -> None:
        try:
            ex.create_order(
                client_order_id="mg9c1b",
                symbol=SYM,
                side=Side.BUY,
                type=OrderType.MARKET,
                amount=Decimal("0.001"),
            )
            outcome["create"] = None
        except BaseException as exc:
            outcome["create"] = exc

    thread = threading.Thread(target=create)
    thread.start()
    wait_until(lambda: fake.count("POST", "order") == 1, what="the create sent")
    with pytest.raises(RateLimited):  # meanwhile, another engine's read is refused with 429
        ex.fetch_open_orders(SYM)
    thread.join(10)
    # The create's own answer never came: its outcome is unknown, not "refused, not placed"
    # (which would let the engine place it again at once, and buy twice).
    assert isinstance(outcome["create"], OrderOutcomeUnknown)
