"""The paper venue over HTTP: what `martingale paper-venue` serves to the service processes
(`exchange.paper.remote.RemoteVenue` is the client; `exchange.paper.wire` the format).

One route, ``POST /v1/{operation}``, JSON in and out. Every request carries the shared token
(``Authorization: Bearer ...``), compared in constant time; a missing or wrong one is 401 and
is logged without the token. The venue's calls block (each waits for its group commit), so they
run on the server's thread pool, as many at once as there are threads: the venue's own lock and
journal order them.
"""

from __future__ import annotations

import hmac
import json
import time
from collections.abc import Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from decimal import Decimal
from typing import Any

import anyio
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from domain.errors import ExchangeUnavailable, MartingaleError
from domain.orders import OrderType, Side
from domain.secrets import Secret
from exchange.paper import PaperVenue, wire

log = structlog.get_logger(__name__)

THREADS = 64  # venue calls at once; the rest wait for a thread

Args = Mapping[str, Any]


def _text(args: Args, name: str) -> str:
    value = args.get(name)
    if not isinstance(value, str):
        raise ValueError(f"{name}: expected a string")
    return value


def _optional_text(args: Args, name: str) -> str | None:
    return None if args.get(name) is None else _text(args, name)


def _int(args: Args, name: str) -> int:
    value = args.get(name)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name}: expected an integer")
    return value


def _money(args: Args, name: str) -> Decimal:
    return wire.decode_decimal(args.get(name), name)


def _optional_money(args: Args, name: str) -> Decimal | None:
    return None if args.get(name) is None else _money(args, name)


def _optional_time(args: Args, name: str) -> datetime | None:
    return None if args.get(name) is None else wire.decode_time(args.get(name), name)


def _place(venue: PaperVenue, args: Args) -> Any:
    return venue.place(
        _text(args, "account"),
        client_order_id=_text(args, "client_order_id"),
        symbol=_text(args, "symbol"),
        side=wire.decode(Side, args.get("side")),
        type=wire.decode(OrderType, args.get("type")),
        amount=_money(args, "amount"),
        price=_optional_money(args, "price"),
        cost=_optional_money(args, "cost"),
    )


def _open_account(venue: PaperVenue, args: Args) -> None:
    venue.open_account(
        _text(args, "account"),
        balances=wire.decode(dict[str, Decimal], args.get("balances") or {}),
        fee_rate=_money(args, "fee_rate"),
        fee_in_quote=wire.decode(bool, args.get("fee_in_quote", False)),
    )


def _by_id(call: Callable[..., Any]) -> Callable[[PaperVenue, Args], Any]:
    """cancel and order: by exchange order id or client order id."""

    def run(venue: PaperVenue, args: Args) -> Any:
        exchange_order_id = _optional_text(args, "exchange_order_id")
        coid = _optional_text(args, "client_order_id")
        if exchange_order_id is None and coid is None:
            raise ValueError("give exchange_order_id or client_order_id")
        return call(venue, _text(args, "account"), _text(args, "symbol"), exchange_order_id, coid)

    return run


OPERATIONS: dict[str, Callable[[PaperVenue, Args], Any]] = {
    "ping": lambda venue, _: venue.name,
    "market_rules": lambda venue, a: venue.market_rules(_text(a, "symbol")),
    "ticker": lambda venue, a: venue.ticker(_text(a, "symbol")),
    "balances": lambda venue, a: venue.balances(_text(a, "account")),
    "fee_rate": lambda venue, a: venue.fee_rate(_text(a, "account")),
    "place": _place,
    "cancel": _by_id(PaperVenue.cancel),
    "order": _by_id(PaperVenue.order),
    "open_orders": lambda venue, a: venue.open_orders(
        _text(a, "account"), _optional_text(a, "symbol")
    ),
    "candles": lambda venue, a: venue.candles(
        _text(a, "symbol"), _int(a, "seconds"), _int(a, "limit")
    ),
    "fills": lambda venue, a: venue.fills(
        _text(a, "account"),
        _text(a, "symbol"),
        _optional_time(a, "since"),
        None if a.get("limit") is None else _int(a, "limit"),
    ),
    "open_account": _open_account,
    "deposit": lambda venue, a: venue.deposit(
        _text(a, "account"), _text(a, "currency"), _money(a, "amount")
    ),
}


def venue_app(venue: PaperVenue, token: Secret) -> FastAPI:
    """The ASGI app serving `venue` to holders of `token`."""
    expected = f"Bearer {token.reveal()}".encode()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        anyio.to_thread.current_default_thread_limiter().total_tokens = THREADS
        yield

    app = FastAPI(
        title="martingale paper venue", docs_url=None, redoc_url=None, openapi_url=None,
        lifespan=lifespan,
    )  # fmt: skip

    @app.post("/v1/{operation}")
    async def call(operation: str, request: Request) -> Response:
        received = time.monotonic()
        given = request.headers.get("authorization", "").encode()
        if not hmac.compare_digest(given, expected):
            log.warning("paper venue: request refused (missing or wrong token)", op=operation)
            return _error(401, wire.UNAUTHORIZED, "missing or wrong token")
        handler = OPERATIONS.get(operation)
        if handler is None:
            return _error(404, wire.BAD_REQUEST, f"no operation {operation!r}")
        try:
            args = json.loads(await request.body())
            if not isinstance(args, dict):
                raise ValueError("the body must be a JSON object")
        except ValueError as exc:
            return _error(400, wire.BAD_REQUEST, str(exc))
        return await run_in_threadpool(_run, venue, operation, handler, args, received)

    return app


def _run(
    venue: PaperVenue,
    operation: str,
    handler: Callable[[PaperVenue, Args], Any],
    args: Args,
    received: float,
) -> Response:
    budget = args.get("budget_s")
    if isinstance(budget, int | float) and time.monotonic() - received > budget:
        # The caller has given up on this place, or is about to: it will look the order up by
        # its client order id, and must find that nothing was placed behind its back.
        return _failure(ExchangeUnavailable(f"{operation}: waited past its budget; not done"))
    try:
        result = handler(venue, args)
    except MartingaleError as exc:
        return _failure(exc)
    except (ValueError, TypeError, KeyError) as exc:
        return _error(400, wire.BAD_REQUEST, f"{operation}: {exc}")
    except Exception as exc:  # a bug in the venue: its outcome is unknown to the caller
        log.exception("paper venue: operation failed", op=operation)
        return _failure(exc)
    return JSONResponse({"result": wire.encode(result)})


def _failure(exc: BaseException) -> Response:
    status, body = wire.error_body(exc)
    return JSONResponse(body, status_code=status)


def _error(status: int, code: str, message: str) -> Response:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)
