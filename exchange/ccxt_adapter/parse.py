"""ccxt structures -> domain types, Decimal end to end.

ccxt's unified numbers are floats, so wherever the venue's raw strings are available (binance's
``info``: price, origQty, executedQty, cummulativeQuoteQty, qty, commission, filters) we read
those. The generic fallback converts a float through ``str()``, which recovers the shortest
decimal that round-trips (0.1 -> "0.1"), never ``Decimal(float)`` and its binary tail.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from domain.market import Balance, Candle, MarketRules, Ticker
from domain.money import ZERO
from domain.orders import Fill, Order, OrderState, OrderType, Side

# ccxt precisionMode constants (ccxt.base.decimal_to_precision)
DECIMAL_PLACES = 2
SIGNIFICANT_DIGITS = 3
TICK_SIZE = 4

_BINANCE_STATES = {
    "NEW": OrderState.OPEN,
    "PENDING_NEW": OrderState.OPEN,
    "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
    "PENDING_CANCEL": OrderState.OPEN,
    "FILLED": OrderState.FILLED,
    "CANCELED": OrderState.CANCELED,
    "EXPIRED": OrderState.CANCELED,
    "EXPIRED_IN_MATCH": OrderState.CANCELED,
    "REJECTED": OrderState.REJECTED,
}
_CCXT_STATES = {
    "open": OrderState.OPEN,
    "closed": OrderState.FILLED,
    "canceled": OrderState.CANCELED,
    "cancelled": OrderState.CANCELED,
    "expired": OrderState.CANCELED,
    "rejected": OrderState.REJECTED,
}


def dec(value: Any, *, field: str = "value") -> Decimal | None:
    """None/'' -> None; str/int/Decimal exactly; float via str() (see module docstring)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError(f"{field}: expected a number, got a bool")
    try:
        result = value if isinstance(value, Decimal) else Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field}: {value!r} is not a number") from None
    if not result.is_finite():
        raise ValueError(f"{field}: {value!r} is not finite")
    return result


def dec0(value: Any, *, field: str = "value") -> Decimal:
    found = dec(value, field=field)
    return ZERO if found is None else found


def plain(value: Decimal) -> Decimal:
    """Drop trailing zeros ('0.01000000' -> '0.01') without exponent notation for integers."""
    if value == 0:
        return ZERO
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    return normal.quantize(Decimal(1)) if isinstance(exponent, int) and exponent > 0 else normal


def ms_to_datetime(ms: Any) -> datetime | None:
    if ms is None or ms == "":
        return None
    return datetime.fromtimestamp(int(ms) / 1000, tz=UTC)


def server_time(ms: Any) -> datetime:
    """ccxt `fetch_time`'s answer (epoch milliseconds); a venue that gives none is unreadable."""
    when = ms_to_datetime(ms)
    if when is None:
        raise ValueError("the venue gave no time")
    return when


def precision_to_step(value: Any, mode: int) -> Decimal:
    """ccxt market precision -> tick/step size. Zero means "unknown": no local rounding."""
    if value is None:
        return ZERO
    if mode == TICK_SIZE:
        return plain(dec0(value, field="precision"))
    if mode == DECIMAL_PLACES:
        places = int(value)
        return Decimal(1).scaleb(-places)
    # SIGNIFICANT_DIGITS has no fixed step; the venue rounds, and we cannot pre-check it.
    return ZERO


def _filters(info: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    raw = info.get("filters") if isinstance(info, Mapping) else None
    if not isinstance(raw, list):
        return {}
    return {f["filterType"]: f for f in raw if isinstance(f, Mapping) and "filterType" in f}


def market_rules(market: Mapping[str, Any], precision_mode: int) -> MarketRules:
    symbol = str(market["symbol"])
    filters = _filters(market.get("info") or {})
    if filters:  # binance-style raw filters: exact strings
        price_f = filters.get("PRICE_FILTER", {})
        lot_f = filters.get("LOT_SIZE", {})
        notional_f = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
        return MarketRules(
            symbol=symbol,
            tick_size=plain(dec0(price_f.get("tickSize"), field="tickSize")),
            step_size=plain(dec0(lot_f.get("stepSize"), field="stepSize")),
            min_amount=plain(dec0(lot_f.get("minQty"), field="minQty")),
            max_amount=plain(dec0(lot_f.get("maxQty"), field="maxQty")),
            min_notional=plain(dec0(notional_f.get("minNotional"), field="minNotional")),
            maker_fee_rate=maker_fee_rate(market),
        )
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    return MarketRules(
        symbol=symbol,
        tick_size=precision_to_step(precision.get("price"), precision_mode),
        step_size=precision_to_step(precision.get("amount"), precision_mode),
        min_amount=plain(dec0((limits.get("amount") or {}).get("min"), field="limits.amount.min")),
        max_amount=plain(dec0((limits.get("amount") or {}).get("max"), field="limits.amount.max")),
        min_notional=plain(dec0((limits.get("cost") or {}).get("min"), field="limits.cost.min")),
        maker_fee_rate=maker_fee_rate(market),
    )


def maker_fee_rate(market: Mapping[str, Any]) -> Decimal:
    """ccxt's `maker` rate of the market (the venue's listed rate, not the account's own tier:
    a break-even exit priced with it is exact at the listed rate). Zero when the venue does not
    say; a negative rate (a rebate) is kept, and a figure that is not a rate in (-1, 1) reads as
    zero rather than stop every strategy on that market."""
    try:
        rate = dec0(market.get("maker"), field="maker")
    except ValueError:
        return ZERO
    return plain(rate) if -1 < rate < 1 else ZERO


def ticker(symbol: str, raw: Mapping[str, Any]) -> Ticker:
    info = raw.get("info") or {}
    last = dec(info.get("lastPrice")) or dec(raw.get("last")) or dec(raw.get("close"))
    if last is None or last <= 0:
        raise ValueError(f"ticker {symbol}: the venue sent no last price > 0")
    return Ticker(
        symbol=symbol,
        last=last,
        bid=dec(info.get("bidPrice")) or dec(raw.get("bid")),
        ask=dec(info.get("askPrice")) or dec(raw.get("ask")),
        timestamp=ms_to_datetime(raw.get("timestamp")),
    )


def candles(rows: Sequence[Any], *, seconds: int, now: datetime) -> list[Candle]:
    """ccxt OHLCV rows ([ms, open, high, low, close, volume], oldest first) as the closed
    candles among them: a row whose close time is after `now` is still forming, dropped."""
    out = []
    span = timedelta(seconds=seconds)
    for row in rows:
        opened = ms_to_datetime(row[0])
        if opened is None or opened + span > now:
            continue
        out.append(
            Candle(
                timestamp=opened,
                open=dec0(row[1], field="open"),
                high=dec0(row[2], field="high"),
                low=dec0(row[3], field="low"),
                close=dec0(row[4], field="close"),
                volume=dec0(row[5] if len(row) > 5 else None, field="volume"),
            )
        )
    return out


def balances(raw: Mapping[str, Any]) -> dict[str, Balance]:
    """Non-zero balances; binance's raw free/locked strings when present."""
    out: dict[str, Balance] = {}
    info = raw.get("info") or {}
    rows = info.get("balances") if isinstance(info, Mapping) else None
    if isinstance(rows, list):
        for row in rows:
            free, used = dec0(row.get("free")), dec0(row.get("locked"))
            if free or used:
                out[str(row["asset"])] = Balance(currency=str(row["asset"]), free=free, used=used)
        return out
    for currency, entry in raw.items():
        if currency in {"info", "free", "used", "total", "timestamp", "datetime"}:
            continue
        if not isinstance(entry, Mapping):
            continue
        free, used = dec0(entry.get("free")), dec0(entry.get("used"))
        if free or used:
            out[currency] = Balance(currency=currency, free=free, used=used)
    return out


def order(raw: Mapping[str, Any], *, client_order_id: str | None = None) -> Order:
    """A ccxt order -> domain Order. A cancel answer names the order in origClientOrderId."""
    info = raw.get("info") or {}
    coid = (
        info.get("origClientOrderId")
        or info.get("clientOrderId")
        or raw.get("clientOrderId")
        or client_order_id
    )
    if not coid:
        raise ValueError(f"order {raw.get('id')}: the venue sent no client order id")
    amount = dec(info.get("origQty")) or dec0(raw.get("amount"), field="amount")
    filled = dec(info.get("executedQty"))
    if filled is None:
        filled = dec0(raw.get("filled"), field="filled")
    cost = dec(info.get("cummulativeQuoteQty"))
    if cost is None:
        cost = dec0(raw.get("cost"), field="cost")
    order_type = OrderType.MARKET if str(raw.get("type")).lower() == "market" else OrderType.LIMIT
    price = dec(info.get("price")) if "price" in info else dec(raw.get("price"))
    if order_type is OrderType.MARKET or price == 0:
        price = None
    raw_status = info.get("status")
    state = _BINANCE_STATES.get(str(raw_status)) if raw_status else None
    if state is None:
        state = _CCXT_STATES.get(str(raw.get("status")), OrderState.OPEN)
    if state is OrderState.OPEN and filled > 0:
        state = OrderState.PARTIALLY_FILLED
    created = ms_to_datetime(info.get("time") or info.get("transactTime") or raw.get("timestamp"))
    updated = ms_to_datetime(
        info.get("updateTime") or info.get("transactTime") or raw.get("lastUpdateTimestamp")
    )
    return Order(
        client_order_id=str(coid),
        symbol=str(raw["symbol"]),
        side=Side(str(raw["side"]).lower()),
        type=order_type,
        amount=amount,
        price=price,
        filled=filled,
        cost=cost,
        state=state,
        exchange_order_id=str(raw["id"]) if raw.get("id") is not None else None,
        created_at=created,
        updated_at=updated or created,
    )


def fill(raw: Mapping[str, Any], *, client_order_id: str) -> Fill:
    info = raw.get("info") or {}
    fee = raw.get("fee") or {}
    commission = dec(info.get("commission"))
    return Fill(
        trade_id=str(raw["id"]),
        client_order_id=client_order_id,
        symbol=str(raw["symbol"]),
        side=Side(str(raw["side"]).lower()),
        price=dec(info.get("price")) or dec0(raw.get("price"), field="price"),
        amount=dec(info.get("qty")) or dec0(raw.get("amount"), field="amount"),
        fee=commission if commission is not None else dec0(fee.get("cost"), field="fee"),
        fee_currency=info.get("commissionAsset") or fee.get("currency"),
        exchange_order_id=str(raw["order"]) if raw.get("order") is not None else None,
        timestamp=ms_to_datetime(raw.get("timestamp")),
        extra={"maker": str(raw.get("takerOrMaker") == "maker").lower()},
    )


def trades_in_order(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Oldest first; every trade must name its order (that is how its client id is found)."""
    for row in rows:
        if row.get("order") is None:
            raise ValueError(f"trade {row.get('id')} names no order")
    return sorted(rows, key=lambda r: (r.get("timestamp") or 0, str(r.get("id"))))
