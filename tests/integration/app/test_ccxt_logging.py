"""A real ccxt client at DEBUG: its request dumps (auth headers, signatures) never reach output."""

from __future__ import annotations

import io
import logging
import socket
from collections.abc import Iterator

import pytest
import structlog

from config.logging import clear_context, configure_logging, get_logger
from domain.secrets import Secret
from exchange.ccxt_adapter.client import CcxtConfig, build_client

API_KEY = "ccxt-debug-key-71f3e2"  # never registered: masking by value cannot save it
SECRET = "ccxt-debug-secret-9a8b7c"
PASSPHRASE = "ccxt-debug-pass-5d4e"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root, ccxt = logging.getLogger(), logging.getLogger("ccxt")
    handlers, level, ccxt_level = list(root.handlers), root.level, ccxt.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    ccxt.setLevel(ccxt_level)
    clear_context()
    structlog.reset_defaults()
    logging.captureWarnings(False)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.mark.parametrize(
    ("exchange_id", "call", "header"),
    [
        ("okx", "private_get_account_balance", "OK-ACCESS-KEY"),
        ("binance", "private_get_account", "X-MBX-APIKEY"),
        ("kraken", "private_post_balance", "API-Sign"),
    ],
)
def test_ccxt_debug_requests_never_reach_the_output(
    exchange_id: str, call: str, header: str
) -> None:
    out = io.StringIO()
    configure_logging(format="json", level="debug", stream=out)
    client = build_client(
        CcxtConfig(
            exchange_id=exchange_id,
            api_key=Secret(API_KEY),
            secret=Secret("a2V5" * 16 if exchange_id == "kraken" else SECRET),  # kraken: base64
            password=Secret(PASSPHRASE),
            base_url=f"http://127.0.0.1:{closed_port()}",
            timeout_ms=2000,
        )
    )
    with pytest.raises(Exception):  # nobody listens: any network error will do
        getattr(client, call)()
    get_logger("t").debug("our own debug line still shows")

    text = out.getvalue()
    assert "our own debug line still shows" in text  # DEBUG was on for everyone else
    assert API_KEY not in text
    assert PASSPHRASE not in text
    assert header.lower() not in text.lower()
