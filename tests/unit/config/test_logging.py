"""No secret reaches the log output, whichever way it is logged and whichever renderer is on."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import structlog
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from config.logging import (
    bind_context,
    bound_context,
    clear_context,
    configure_logging,
    get_logger,
    register_secret,
)
from domain.secrets import Credentials, Secret
from domain.secrets import register_secret as domain_register


class TtyBuffer(io.StringIO):
    def isatty(self) -> bool:
        return True


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


def setup(fmt: str, level: str = "debug") -> io.StringIO:
    out: io.StringIO = TtyBuffer() if fmt == "console" else io.StringIO()
    configure_logging(format=fmt, level=level, stream=out)  # type: ignore[arg-type]
    return out


def strings_in(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield k
            yield from strings_in(v)
    elif isinstance(value, list):
        for v in value:
            yield from strings_in(v)


def json_lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines() if line.strip()]


class Holder:
    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return f"Holder(token={self.token})"


def log_every_way(secret: str) -> None:
    log = get_logger("test")
    log.info("sending", api_key=secret, password=secret, headers={"Authorization": secret})
    log.info("nested", payload={"data": [{"apiKey": secret}, {"ok": f"x {secret} y"}]})
    log.info(f"message text contains {secret} inline")
    log.info("object repr", value=Holder(secret))
    log.info("positional %s args", secret)
    try:
        raise RuntimeError(f"exchange said: invalid key {secret}")
    except RuntimeError:
        log.exception("create failed")
    library = logging.getLogger("urllib3.connectionpool")
    library.debug("GET /api?signature=%s&x=1", secret)
    logging.getLogger("ccxt.base.exchange").warning("key %s rejected", secret)
    try:
        raise ValueError(secret)
    except ValueError:
        logging.getLogger("sqlalchemy.engine").error("commit failed", exc_info=True)


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_registered_secret_never_reaches_the_output(fmt: str) -> None:
    secret = "sk-live-4QbZ8x2LmN7pR"
    register_secret(secret)
    out = setup(fmt)
    log_every_way(secret)
    text = out.getvalue()
    assert secret not in text
    assert text.count("***") >= 10
    assert "exchange said: invalid key ***" in text
    assert "commit failed" in text and "create failed" in text
    if fmt == "json":
        assert len(json_lines(out)) == 9


@pytest.mark.parametrize("fmt", ["json", "console"])
def test_credential_keys_and_pairs_are_masked_without_registration(fmt: str) -> None:
    out = setup(fmt)
    log = get_logger("test")
    log.info("x", api_key="unregistered-aaa", nested={"client_secret": "unregistered-bbb"})
    log.info("url mysql+pymysql://svc:unregistered-ccc@db/prod and apiKey=unregistered-ddd")
    logging.getLogger("uvicorn.error").info('{"password": "unregistered-eee"}')
    creds = Credentials(api_key=Secret("unregistered-fff"), secret=Secret("unregistered-ggg"))
    log.info("creds", value=creds, wrapped=[Secret("unregistered-hhh")])
    text = out.getvalue()
    assert "unregistered" not in text, text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=8, max_size=40),
    around=st.text(max_size=20),
)
def test_any_registered_secret_is_masked_inside_any_text(body: str, around: str) -> None:
    secret = f"sk{body}"
    register_secret(secret)
    for fmt in ("json", "console"):
        out = setup(fmt)
        get_logger("p").info(f"{around}{secret}{around}", detail=[f"{around}{secret}"])
        logging.getLogger("lib").error("%s", secret)
        if fmt == "json":
            for line in json_lines(out):
                assert all(secret not in s for s in strings_in(line))
        else:
            assert secret not in out.getvalue()


def test_json_lines_have_iso_utc_timestamp_level_and_bound_context() -> None:
    out = setup("json", "info")
    log = get_logger("engine")
    with bound_context(user="alice", strategy="eth-dca"):
        bind_context(cycle=3)
        log.info("order placed", order="mg7c3s1", price=Decimal("0.1"))
    clear_context()
    log.info("outside")
    first, second = json_lines(out)
    assert first["event"] == "order placed"
    assert first["level"] == "info"
    assert first["logger"] == "engine"
    assert (first["user"], first["strategy"], first["cycle"], first["order"]) == (
        "alice",
        "eth-dca",
        3,
        "mg7c3s1",
    )
    assert first["price"] == "0.1"  # Decimal as its exact string, never a float
    assert first["timestamp"].endswith("Z") and "T" in first["timestamp"]
    assert "user" not in second and "cycle" not in second


def test_auto_format_is_json_off_a_terminal_and_console_on_one() -> None:
    plain = io.StringIO()
    configure_logging(format="auto", stream=plain)
    get_logger().info("hello")
    assert json.loads(plain.getvalue())["event"] == "hello"
    tty = TtyBuffer()
    configure_logging(format="auto", stream=tty)
    get_logger().info("hello")
    assert "hello" in tty.getvalue()
    with pytest.raises(json.JSONDecodeError):
        json.loads(tty.getvalue())


def test_level_filters_both_structlog_and_stdlib() -> None:
    out = setup("json", "warning")
    get_logger("a").info("quiet")
    logging.getLogger("b").info("quiet too")
    get_logger("a").warning("loud")
    assert [line["event"] for line in json_lines(out)] == ["loud"]


def test_reconfiguring_replaces_the_handler_instead_of_doubling_lines() -> None:
    setup("json")
    out = setup("json")
    get_logger().info("once")
    assert len(json_lines(out)) == 1


def test_unknown_level_is_refused() -> None:
    with pytest.raises(ValueError, match=r"logging.level"):
        configure_logging(level="loud", stream=io.StringIO())


def test_exchange_auth_headers_are_masked_in_any_letter_case() -> None:
    out = setup("json")
    headers = {
        "OK-ACCESS-KEY": "okx-key-aaaa",
        "ok-access-sign": "okx-sign-bbbb",
        "OK-ACCESS-PASSPHRASE": "okx-pass-cccc",
        "CB-ACCESS-KEY": "cb-key-dddd",
        "Cb-Access-Sign": "cb-sign-eeee",
        "API-Sign": "kraken-sign-ffff",
        "KC-API-SIGN": "kucoin-sign-gggg",
    }
    get_logger("t").info("request", headers=headers)
    logging.getLogger("urllib3").warning("sent %s", headers)  # a dict rendered into the text
    logging.getLogger("urllib3").warning(
        "GET /v1/orders?Signature=sig-hhhh&x=1 SIGNATURE: sig-iiii api-sign=kraken-jjjj "
        "OK-ACCESS-SIGN=okx-kkkk cb-access-key: cb-llll"
    )
    text = out.getvalue()
    for value in (*headers.values(), "sig-hhhh", "sig-iiii", "kraken-jjjj", "okx-kkkk", "cb-llll"):
        assert value not in text, value
    assert "OK-ACCESS-KEY" in text  # the header names stay readable, only values go


def test_registering_a_thousand_secrets_compiles_no_pattern_per_secret(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The redactor's matcher is rebuilt once after a batch of registrations, not per value
    (a figure for the time it takes is in config/masking.py's docstring, not a timed test)."""
    out = setup("json")
    compiled: list[str] = []
    real = re.compile

    def counting(pattern: Any, flags: int = 0) -> Any:
        compiled.append(str(pattern)[:20])
        return real(pattern, flags)

    monkeypatch.setattr(re, "compile", counting)
    values = [f"bulk-{secrets.token_hex(12)}" for _ in range(1000)]
    for value in values:
        register_secret(value)
    get_logger("t").info(f"first {values[0]} middle {values[500]} last {values[-1]}")
    get_logger("t").info(f"again {values[999]}")
    assert len(compiled) <= 1, f"{len(compiled)} patterns compiled"
    text = out.getvalue()
    assert "first *** middle *** last ***" in text and "again ***" in text


def test_a_value_registered_in_the_domain_registry_is_masked() -> None:
    """persistence/ registers what the vault decrypts through domain.secrets, not config/."""
    out = setup("json")
    domain_register(Secret("decrypted-key-5e5e5e"))
    get_logger("t").info("using decrypted-key-5e5e5e")
    assert "decrypted-key-5e5e5e" not in out.getvalue()
