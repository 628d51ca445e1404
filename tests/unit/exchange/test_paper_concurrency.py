"""Many threads trading on one venue while prices move: every account's books still balance."""

from __future__ import annotations

import contextlib
import random
import threading
from decimal import Decimal

from domain.errors import InsufficientFunds, OrderNotFound
from domain.orders import OrderType, Side
from exchange.paper import PaperExchange, PaperVenue, VenueFill

D = Decimal
START = {"BTC": D(5), "ETH": D(50)}


def _trader(port: PaperExchange, seed: int, errors: list[BaseException]) -> None:
    rng = random.Random(seed)
    try:
        for i in range(60):
            side = rng.choice([Side.BUY, Side.SELL])
            price = D(rng.randint(4000, 6000)) / D(100000)
            kind = OrderType.MARKET if rng.random() < 0.2 else OrderType.LIMIT
            try:
                order = port.create_order(
                    client_order_id=f"o{i}",
                    symbol="ETH/BTC",
                    side=side,
                    type=kind,
                    amount=D(rng.randint(1, 3)),
                    price=price if kind is OrderType.LIMIT else None,
                )
            except InsufficientFunds:
                continue
            if rng.random() < 0.3 and order.exchange_order_id is not None:
                # OrderNotFound: a tick filled it first, exactly as on a real venue.
                with contextlib.suppress(OrderNotFound):
                    port.cancel_order("ETH/BTC", exchange_order_id=order.exchange_order_id)
    except BaseException as exc:
        errors.append(exc)


def _ticker(venue: PaperVenue, stop: threading.Event, errors: list[BaseException]) -> None:
    rng = random.Random(99)
    try:
        while not stop.is_set():
            venue.update_price("ETH/BTC", D(rng.randint(4000, 6000)) / D(100000))
    except BaseException as exc:
        errors.append(exc)


def test_concurrent_orders_cancels_and_ticks_keep_every_account_consistent(
    venue: PaperVenue,
) -> None:
    ports = []
    for n in range(8):
        venue.open_account(f"t{n}", balances=START, fee_rate=D("0.001"))
        ports.append(PaperExchange(venue, f"t{n}"))
    errors: list[BaseException] = []
    resting_fills: list[VenueFill] = []
    venue.add_fill_listener(resting_fills.extend)
    stop = threading.Event()
    ticker = threading.Thread(target=_ticker, args=(venue, stop, errors))
    traders = [
        threading.Thread(target=_trader, args=(port, n, errors)) for n, port in enumerate(ports)
    ]
    ticker.start()
    for t in traders:
        t.start()
    for t in traders:
        t.join(timeout=60)
    stop.set()
    ticker.join(timeout=60)
    assert errors == []

    for port in ports:
        balances = port.fetch_balances()
        open_orders = port.fetch_open_orders()
        held_btc = sum((o.amount * (o.price or 0) for o in open_orders if o.side is Side.BUY), D(0))
        held_eth = sum((o.amount for o in open_orders if o.side is Side.SELL), D(0))
        assert balances["BTC"].used == held_btc and balances["ETH"].used == held_eth
        fills = port.fetch_fills("ETH/BTC")
        btc, eth = START["BTC"], START["ETH"]
        for f in fills:
            if f.side is Side.BUY:
                btc, eth = btc - f.cost, eth + f.amount - f.fee
            else:
                btc, eth = btc + f.cost - f.fee, eth - f.amount
        assert balances["BTC"].total == btc and balances["ETH"].total == eth
        assert balances["BTC"].free >= 0 and balances["ETH"].free >= 0
        assert len({f.trade_id for f in fills}) == len(fills)
    assert resting_fills, "ticks should have filled some resting orders"
    assert len(resting_fills) == len({f.fill.trade_id for f in resting_fills})
