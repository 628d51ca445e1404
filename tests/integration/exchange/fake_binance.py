"""A fake binance spot REST server on 127.0.0.1 for the real `ccxt.binance` client.

It verifies what binance verifies (X-MBX-APIKEY, HMAC-SHA256 signature of the exact query or
body, timestamp inside recvWindow) and answers with binance's shapes and error codes, so the
adapter is exercised through ccxt's own request signing, parsing and error mapping.

Faults are queued per (method, path) and consumed in order:
- `Fault.status`: an HTTP status with a JSON or HTML body and headers (5xx, 429/418 + Retry-After).
- `Fault.stall`: hold the request past the client's timeout and drop it, not applied.
- `Fault.lost_response`: apply the request, then stall and drop the answer ("create applied but
  response lost"), the case that makes an order's outcome unknown to the client.
- `Fault.garbled`: apply the request, then answer 200 with the given body instead of the real one
  (a venue answer of an unexpected shape).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections import Counter, deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.integration.exchange.fake_binance_venue import Venue, VenueError

API = "/api/v3/"
# The wallet API (sapi) keeps its full path: faults and the request log name it that way.
API_RESTRICTIONS = "/sapi/v1/account/apiRestrictions"
SIGNED = {"account", "order", "openOrders", "myTrades", API_RESTRICTIONS}


@dataclass
class Fault:
    method: str
    path: str  # endpoint after /api/v3/, e.g. "order"
    status: int = 0
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    stall: float = 0.0
    apply: bool = False

    @classmethod
    def http(cls, method: str, path: str, status: int, body: Any = "", **headers: str) -> Fault:
        text = body if isinstance(body, str) else json.dumps(body)
        return cls(method, path, status=status, body=text, headers=headers)

    @classmethod
    def timeout(cls, method: str, path: str, seconds: float) -> Fault:
        return cls(method, path, stall=seconds)

    @classmethod
    def lost_response(cls, method: str, path: str, seconds: float) -> Fault:
        return cls(method, path, stall=seconds, apply=True)

    @classmethod
    def garbled(cls, method: str, path: str, body: Any) -> Fault:
        text = body if isinstance(body, str) else json.dumps(body)
        return cls(method, path, status=200, body=text, apply=True)


class FakeBinance:
    def __init__(self, venue: Venue, *, api_key: str, secret: str) -> None:
        self.venue = venue
        self.api_key = api_key
        self.secret = secret
        self.other_keys: dict[str, str] = {}  # more API keys (other tenants) -> their secrets
        self.faults: deque[Fault] = deque()
        # What GET /sapi/v1/account/apiRestrictions answers for the key (binance's shape).
        self.api_restrictions: dict[str, Any] = {
            "ipRestrict": True,
            "createTime": 1_700_000_000_000,
            "enableReading": True,
            "enableSpotAndMarginTrading": True,
            "enableWithdrawals": False,
            "enableInternalTransfer": False,
            "enableMargin": False,
            "enableFutures": False,
            "permitsUniversalTransfer": False,
            "enableVanillaOptions": False,
            "enablePortfolioMarginTrading": False,
        }
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------

    def start(self) -> str:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

            def do_DELETE(self) -> None:
                fake._handle(self, "DELETE")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        server.block_on_close = False
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, args=(0.02,), name="fake-binance"
        )
        self._thread.daemon = True
        self._thread.start()
        return f"http://127.0.0.1:{server.server_address[1]}"

    def stop(self) -> None:
        self._closing.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- test helpers -------------------------------------------------------------------------

    def inject(self, *faults: Fault) -> None:
        with self._lock:
            self.faults.extend(faults)

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    def count(self, method: str | None = None, path: str | None = None) -> int:
        with self._lock:
            return sum(
                1
                for m, p, _ in self.seen
                if (method is None or m == method) and (path is None or p == path)
            )

    def calls(self) -> Counter[tuple[str, str]]:
        with self._lock:
            return Counter((m, p) for m, p, _ in self.seen)

    def reset_log(self) -> None:
        with self._lock:
            self.seen.clear()

    def add_key(self, api_key: str, secret: str) -> None:
        """Another tenant's key on the same account (and host), for scoping tests."""
        with self._lock:
            self.other_keys[api_key] = secret

    def revoke_key(self) -> None:
        """The account owner deletes the key (or removes this IP from its whitelist): binance
        then answers every signed request with 401 -2015."""
        with self._lock:
            self.api_key = f"revoked-{self.api_key}"

    def restore_key(self, api_key: str) -> None:
        """The owner puts this IP back on the key's whitelist: the key works again."""
        with self._lock:
            self.api_key = api_key

    # --- request handling ---------------------------------------------------------------------

    def _take_fault(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.method == method and fault.path == path:
                    self.faults.remove(fault)
                    return fault
        return None

    def _handle(self, req: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(req.path)
        if method == "POST":
            length = int(req.headers.get("Content-Length") or 0)
            raw = req.rfile.read(length).decode()
        else:
            raw = parts.query
        params = dict(parse_qsl(raw, keep_blank_values=True))
        path = parts.path[len(API) :] if parts.path.startswith(API) else parts.path
        with self._lock:
            self.seen.append((method, path, params))
        fault = self._take_fault(method, path)
        if fault is not None and fault.stall and not fault.apply:
            self._closing.wait(fault.stall)
            return  # the connection closes without an answer
        if fault is not None and fault.status and not fault.apply:
            self._send(req, fault.status, fault.body, fault.headers)
            return
        try:
            if path in SIGNED:
                self._authenticate(req, raw, params)
            status, body = 200, self._route(method, path, params)
        except VenueError as err:
            status, body = err.status, {"code": err.code, "msg": err.msg}
        if fault is not None and fault.apply and fault.status:
            self._send(req, fault.status, fault.body, fault.headers)  # applied, answered oddly
            return
        if fault is not None and fault.apply:
            self._closing.wait(fault.stall)
            return  # applied, but the answer is lost
        self._send(req, status, json.dumps(body), {})

    def _authenticate(self, req: BaseHTTPRequestHandler, raw: str, params: dict[str, str]) -> None:
        key = req.headers.get("X-MBX-APIKEY")
        if not key:
            raise VenueError(-2014, "API-key format invalid.", status=401)
        with self._lock:
            keys = {self.api_key: self.secret, **self.other_keys}
        secret = next((s for k, s in keys.items() if hmac.compare_digest(key, k)), None)
        if secret is None:
            raise VenueError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)
        payload, sep, signature = raw.rpartition("&signature=")
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not sep or not hmac.compare_digest(signature, expected):
            raise VenueError(-1022, "Signature for this request is not valid.")
        window = int(params.get("recvWindow", "5000"))
        if abs(self.venue.now_ms() - int(params.get("timestamp", "0"))) > window:
            raise VenueError(-1021, "Timestamp for this request is outside of the recvWindow.")

    def _route(self, method: str, path: str, p: dict[str, str]) -> Any:
        v = self.venue
        if (method, path) == ("GET", "exchangeInfo"):
            with v.lock:
                symbols = [sym.info() for sym in v.symbols.values()]
            return {
                "timezone": "UTC",
                "serverTime": v.now_ms(),
                "rateLimits": [],
                "exchangeFilters": [],
                "symbols": symbols,
            }
        if (method, path) == ("GET", "ping"):
            return {}
        if (method, path) == ("GET", "time"):
            return {"serverTime": v.now_ms()}
        if (method, path) == ("GET", "ticker/24hr"):
            return v.ticker(p.get("symbol"))
        if (method, path) == ("GET", "account"):
            return v.account()
        if (method, path) == ("GET", API_RESTRICTIONS):
            with self._lock:
                return dict(self.api_restrictions)
        if (method, path) == ("POST", "order"):
            return v.create_order(p)
        if (method, path) == ("GET", "order"):
            return v.get_order(p.get("symbol"), p.get("orderId"), p.get("origClientOrderId"))
        if (method, path) == ("DELETE", "order"):
            return v.cancel(p.get("symbol"), p.get("orderId"), p.get("origClientOrderId"))
        if (method, path) == ("GET", "openOrders"):
            return v.open_orders(p.get("symbol"))
        if (method, path) == ("GET", "myTrades"):
            start, end = p.get("startTime"), p.get("endTime")
            return v.my_trades(
                p.get("symbol"),
                int(start) if start else None,
                int(end) if end else None,
                int(p["limit"]) if p.get("limit") else None,
            )
        raise VenueError(-1100, f"Unknown endpoint {method} {path}.", status=404)

    @staticmethod
    def _send(req: BaseHTTPRequestHandler, status: int, body: str, headers: dict[str, str]) -> None:
        data = body.encode()
        req.send_response(status)
        is_json = body.startswith(("{", "["))
        req.send_header("Content-Type", "application/json" if is_json else "text/html")
        req.send_header("Content-Length", str(len(data)))
        for name, value in headers.items():
            req.send_header(name.replace("_", "-"), value)
        req.end_headers()
        req.wfile.write(data)
