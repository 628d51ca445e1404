"""The state and matching engine behind the fake binance server: one spot account.

A MARKET BUY may give quoteOrderQty instead of quantity, as on binance: it buys what that quote
buys at the current price, rounded down to the lot step (executedQty / cummulativeQuoteQty).

It answers the way binance spot does (field names, string decimals, status names, error codes
and messages), because the real ccxt client parses those answers and maps those errors:
-1121 unknown symbol, -1013 "Filter failure: LOT_SIZE|PRICE_FILTER|NOTIONAL", -1111 precision,
-2010 "Duplicate order sent." / "Account has insufficient balance for requested action.",
-2013 "Order does not exist.", -2011 "Unknown order sent.".
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal
from typing import Any

EIGHT = Decimal("0.00000001")


class VenueError(Exception):
    def __init__(self, code: int, msg: str, *, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def s(value: Decimal) -> str:
    """Binance's wire format: fixed 8 decimals."""
    return f"{value.quantize(EIGHT):f}"


@dataclass
class FakeSymbol:
    base: str
    quote: str
    price: Decimal
    tick: Decimal = Decimal("0.01")
    step: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    min_notional: Decimal = Decimal("5")

    @property
    def id(self) -> str:
        return self.base + self.quote

    def info(self) -> dict[str, Any]:
        return {
            "symbol": self.id,
            "status": "TRADING",
            "baseAsset": self.base,
            "baseAssetPrecision": 8,
            "quoteAsset": self.quote,
            "quotePrecision": 8,
            "quoteAssetPrecision": 8,
            "baseCommissionPrecision": 8,
            "quoteCommissionPrecision": 8,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS_LIMIT"],
            "icebergAllowed": True,
            "ocoAllowed": True,
            "quoteOrderQtyMarketAllowed": True,
            "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": s(self.tick),
                    "maxPrice": "1000000.00000000",
                    "tickSize": s(self.tick),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": s(self.min_qty),
                    "maxQty": s(self.max_qty),
                    "stepSize": s(self.step),
                },
                {
                    "filterType": "NOTIONAL",
                    "minNotional": s(self.min_notional),
                    "applyMinToMarket": True,
                    "maxNotional": "9000000.00000000",
                    "applyMaxToMarket": False,
                    "avgPriceMins": 5,
                },
            ],
            "permissions": [],
            "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }


class Venue:
    """Thread-safe: the HTTP server calls it from one thread per request."""

    def __init__(self, *, fee_rate: Decimal = Decimal("0.001")) -> None:
        self.lock = threading.RLock()
        self.symbols: dict[str, FakeSymbol] = {}
        self.balances: dict[str, list[Decimal]] = {}  # asset -> [free, locked]
        self.orders: dict[int, dict[str, Any]] = {}
        self.trades: list[dict[str, Any]] = []
        self.fee_rate = fee_rate
        self._next_order = 1000
        self._next_trade = 5000
        self._last_ms = 0

    # --- set-up and clock ------------------------------------------------------------------

    def add_symbol(self, sym: FakeSymbol) -> None:
        with self.lock:
            self.symbols[sym.id] = sym

    def set_filters(self, symbol_id: str, **changes: Decimal) -> None:
        """The venue changes a symbol's filters while clients run (tick, step, min_qty,
        max_qty, min_notional): exchangeInfo and order checks use the new values at once."""
        with self.lock:
            sym = self._symbol(symbol_id)
            for name, value in changes.items():
                if not hasattr(sym, name) or name in ("base", "quote", "price"):
                    raise AttributeError(f"FakeSymbol has no filter {name!r}")
                setattr(sym, name, value)

    def deposit(self, asset: str, amount: Decimal) -> None:
        with self.lock:
            self.balances.setdefault(asset, [Decimal(0), Decimal(0)])[0] += amount

    def now_ms(self) -> int:
        """Wall-clock ms, but strictly increasing, so every event has its own timestamp."""
        with self.lock:
            self._last_ms = max(int(time.time() * 1000), self._last_ms + 1)
            return self._last_ms

    def _symbol(self, symbol_id: str | None) -> FakeSymbol:
        sym = self.symbols.get(symbol_id or "")
        if sym is None:
            raise VenueError(-1121, "Invalid symbol.")
        return sym

    def _bal(self, asset: str) -> list[Decimal]:
        return self.balances.setdefault(asset, [Decimal(0), Decimal(0)])

    # --- reads ------------------------------------------------------------------------------

    def ticker(self, symbol_id: str | None) -> dict[str, Any]:
        with self.lock:
            sym = self._symbol(symbol_id)
            p = sym.price
            return {
                "symbol": sym.id,
                "priceChange": "0.00000000",
                "priceChangePercent": "0.000",
                "weightedAvgPrice": s(p),
                "lastPrice": s(p),
                "lastQty": "0.00100000",
                "bidPrice": s(p - sym.tick),
                "bidQty": "1.00000000",
                "askPrice": s(p + sym.tick),
                "askQty": "1.00000000",
                "openPrice": s(p),
                "highPrice": s(p),
                "lowPrice": s(p),
                "volume": "0.00000000",
                "quoteVolume": "0.00000000",
                "openTime": self.now_ms() - 86_400_000,
                "closeTime": self.now_ms(),
                "count": 0,
            }

    def account(self) -> dict[str, Any]:
        with self.lock:
            return {
                "canTrade": True,
                "accountType": "SPOT",
                "updateTime": self.now_ms(),
                "balances": [
                    {"asset": a, "free": s(fl[0]), "locked": s(fl[1])}
                    for a, fl in sorted(self.balances.items())
                ],
                "permissions": ["SPOT"],
            }

    def find_order(self, symbol_id: str | None, order_id: str | None, coid: str | None) -> dict:
        """binance searches by orderId first, then by origClientOrderId (newest first)."""
        sym = self._symbol(symbol_id)
        if order_id is not None:
            found = self.orders.get(int(order_id))
            if found is not None and found["symbol"] == sym.id:
                return found
        elif coid is not None:
            for order in sorted(self.orders.values(), key=lambda o: -o["orderId"]):
                if order["symbol"] == sym.id and order["clientOrderId"] == coid:
                    return order
        raise VenueError(-2013, "Order does not exist.")

    def get_order(self, symbol_id: str | None, order_id: str | None, coid: str | None) -> dict:
        with self.lock:
            return self._public(self.find_order(symbol_id, order_id, coid))

    def open_orders(self, symbol_id: str | None) -> list[dict[str, Any]]:
        with self.lock:
            if symbol_id is not None:
                self._symbol(symbol_id)
            return [
                self._public(o)
                for o in sorted(self.orders.values(), key=lambda o: o["orderId"])
                if o["status"] in ("NEW", "PARTIALLY_FILLED")
                and (symbol_id is None or o["symbol"] == symbol_id)
            ]

    def my_trades(
        self, symbol_id: str | None, start: int | None, end: int | None, limit: int | None
    ) -> list[dict[str, Any]]:
        with self.lock:
            sym = self._symbol(symbol_id)
            rows = [
                dict(t)
                for t in self.trades
                if t["symbol"] == sym.id
                and (start is None or t["time"] >= start)
                and (end is None or t["time"] <= end)
            ]
            return rows[: limit or 500]

    # --- writes -----------------------------------------------------------------------------

    def create_order(self, p: dict[str, str]) -> dict[str, Any]:
        with self.lock:
            sym = self._symbol(p.get("symbol"))
            side, otype = p.get("side", ""), p.get("type", "")
            if side not in ("BUY", "SELL") or otype not in ("LIMIT", "MARKET"):
                raise VenueError(-1116, "Invalid orderType.")
            price = Decimal(p["price"]) if otype == "LIMIT" else sym.price
            quote = self._quote_order_qty(p, sym, otype, side)
            if quote is not None:  # binance buys as much as quote buys, down to the lot step
                steps = ((quote / price - sym.min_qty) / sym.step).to_integral_value(ROUND_FLOOR)
                qty = sym.min_qty + steps * sym.step
                if quote < sym.min_notional:
                    raise VenueError(-1013, "Filter failure: NOTIONAL")
            elif "quantity" in p:
                qty = Decimal(p["quantity"])
            else:
                raise VenueError(-1102, "Mandatory parameter 'quantity' was not sent.")
            if -qty.as_tuple().exponent > 8:  # type: ignore[operator]
                raise VenueError(-1111, "Precision is over the maximum defined for this asset.")
            if otype == "LIMIT" and (price <= 0 or price % sym.tick != 0):
                raise VenueError(-1013, "Filter failure: PRICE_FILTER")
            if qty < sym.min_qty or qty > sym.max_qty or (qty - sym.min_qty) % sym.step != 0:
                raise VenueError(-1013, "Filter failure: LOT_SIZE")
            if price * qty < sym.min_notional:
                raise VenueError(-1013, "Filter failure: NOTIONAL")
            coid = p.get("newClientOrderId") or f"x-fake{self._next_order}"
            if any(
                o["clientOrderId"] == coid and o["status"] in ("NEW", "PARTIALLY_FILLED")
                for o in self.orders.values()
            ):
                raise VenueError(-2010, "Duplicate order sent.")
            lock_asset, lock_amount = (sym.quote, price * qty) if side == "BUY" else (sym.base, qty)
            bal = self._bal(lock_asset)
            if bal[0] < lock_amount:
                raise VenueError(-2010, "Account has insufficient balance for requested action.")
            bal[0] -= lock_amount
            bal[1] += lock_amount
            now = self.now_ms()
            self._next_order += 1
            order: dict[str, Any] = {
                "symbol": sym.id,
                "orderId": self._next_order,
                "orderListId": -1,
                "clientOrderId": coid,
                "price": price if otype == "LIMIT" else Decimal(0),
                "origQty": qty,
                "executedQty": Decimal(0),
                "cummulativeQuoteQty": Decimal(0),
                "status": "NEW",
                "timeInForce": p.get("timeInForce", "GTC"),
                "type": otype,
                "side": side,
                "time": now,
                "updateTime": now,
                "_locked": lock_amount,
                "_limit": price,
                "_quote": quote or Decimal(0),
            }
            self.orders[order["orderId"]] = order
            crosses = (side == "BUY" and price >= sym.price) or (
                side == "SELL" and price <= sym.price
            )
            fills = []
            if otype == "MARKET" or crosses:
                fills.append(self._fill(order, sym, sym.price, is_maker=False))
            out = self._public(order)
            out["transactTime"] = now
            out["fills"] = fills
            return out

    @staticmethod
    def _quote_order_qty(
        p: dict[str, str], sym: FakeSymbol, otype: str, side: str
    ) -> Decimal | None:
        if "quoteOrderQty" not in p:
            return None
        if otype != "MARKET" or side != "BUY" or "quantity" in p:
            raise VenueError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        quote = Decimal(p["quoteOrderQty"])
        if quote <= 0 or -quote.as_tuple().exponent > 8:  # type: ignore[operator]
            raise VenueError(-1111, "Precision is over the maximum defined for this asset.")
        return quote

    def cancel(self, symbol_id: str | None, order_id: str | None, coid: str | None) -> dict:
        with self.lock:
            try:
                order = self.find_order(symbol_id, order_id, coid)
            except VenueError:
                raise VenueError(-2011, "Unknown order sent.") from None
            if order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                raise VenueError(-2011, "Unknown order sent.")
            sym = self.symbols[order["symbol"]]
            asset = sym.quote if order["side"] == "BUY" else sym.base
            bal = self._bal(asset)
            bal[1] -= order["_locked"]
            bal[0] += order["_locked"]
            order["_locked"] = Decimal(0)
            order["status"] = "CANCELED"
            order["updateTime"] = self.now_ms()
            out = self._public(order)
            out["origClientOrderId"] = order["clientOrderId"]
            out["clientOrderId"] = f"cancel{order['orderId']}"
            out["transactTime"] = order["updateTime"]
            return out

    def set_price(self, symbol_id: str, price: Decimal) -> int:
        """Move the market; resting limit orders the price trades through fill at their price."""
        with self.lock:
            sym = self._symbol(symbol_id)
            sym.price = price
            filled = 0
            for order in sorted(self.orders.values(), key=lambda o: o["orderId"]):
                if order["symbol"] != sym.id or order["status"] not in ("NEW", "PARTIALLY_FILLED"):
                    continue
                limit = order["_limit"]
                if (order["side"] == "BUY" and price <= limit) or (
                    order["side"] == "SELL" and price >= limit
                ):
                    self._fill(order, sym, limit, is_maker=True)
                    filled += 1
            return filled

    def _fill(self, order: dict, sym: FakeSymbol, price: Decimal, *, is_maker: bool) -> dict:
        qty = order["origQty"] - order["executedQty"]
        quote = price * qty
        base_bal, quote_bal = self._bal(sym.base), self._bal(sym.quote)
        if order["side"] == "BUY":
            quote_bal[1] -= order["_locked"]
            quote_bal[0] += order["_locked"] - quote
            fee, fee_asset = (qty * self.fee_rate).quantize(EIGHT), sym.base
            base_bal[0] += qty - fee
        else:
            base_bal[1] -= order["_locked"]
            fee, fee_asset = (quote * self.fee_rate).quantize(EIGHT), sym.quote
            quote_bal[0] += quote - fee
        order["_locked"] = Decimal(0)
        order["executedQty"] += qty
        order["cummulativeQuoteQty"] += quote
        order["status"] = "FILLED"
        now = self.now_ms()
        order["updateTime"] = now
        self._next_trade += 1
        trade = {
            "symbol": sym.id,
            "id": self._next_trade,
            "orderId": order["orderId"],
            "orderListId": -1,
            "price": s(price),
            "qty": s(qty),
            "quoteQty": s(quote),
            "commission": s(fee),
            "commissionAsset": fee_asset,
            "time": now,
            "isBuyer": order["side"] == "BUY",
            "isMaker": is_maker,
            "isBestMatch": True,
        }
        self.trades.append(trade)
        return {
            "price": s(price),
            "qty": s(qty),
            "commission": s(fee),
            "commissionAsset": fee_asset,
            "tradeId": trade["id"],
        }

    @staticmethod
    def _public(order: dict[str, Any]) -> dict[str, Any]:
        out = {k: v for k, v in order.items() if not k.startswith("_")}
        for key in ("price", "origQty", "executedQty", "cummulativeQuoteQty"):
            out[key] = s(order[key])
        out.update(
            stopPrice="0.00000000",
            icebergQty="0.00000000",
            isWorking=True,
            workingTime=order["time"],
            origQuoteOrderQty=s(order.get("_quote", Decimal(0))),
            selfTradePreventionMode="EXPIRE_MAKER",
        )
        return out
