"""The notifications' vocabulary and texts (domain.notifications)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from domain.notifications import (
    DEFAULT_EVENTS,
    Notify,
    NotifyEvent,
    money_text,
    parse_events,
    render,
    target_name_problem,
    url_scheme,
)

AT = datetime(2024, 1, 1, tzinfo=UTC)


def _notice(event: NotifyEvent, **fields: object) -> Notify:
    base: dict[str, object] = {"user_id": 1, "event": event, "at": AT, "strategy_id": 7}
    base.update(fields)
    return Notify(**base)  # type: ignore[arg-type]


def test_the_defaults_are_every_event_but_safety_filled_and_test() -> None:
    assert NotifyEvent.SAFETY_FILLED not in DEFAULT_EVENTS
    assert NotifyEvent.TEST not in DEFAULT_EVENTS
    assert {NotifyEvent.CYCLE_CLOSED, NotifyEvent.STOP_LOSS, NotifyEvent.KEY_REJECTED} <= (
        DEFAULT_EVENTS
    )


def test_parse_events_names_the_unknown_one_and_refuses_test() -> None:
    assert parse_events(["stop_loss", "cycle_closed"]) == {
        NotifyEvent.STOP_LOSS,
        NotifyEvent.CYCLE_CLOSED,
    }
    with pytest.raises(ValueError, match=r"'stop-loss'.*choose from"):
        parse_events(["stop-loss"])
    with pytest.raises(ValueError, match="'test'"):
        parse_events(["test"])


@pytest.mark.parametrize(
    ("url", "scheme"),
    [
        ("tgram://123456:ABC/42", "tgram"),
        ("JSONS://host/path", "jsons"),
        ("mailtos://user:pw@example.com", "mailtos"),
        ("not a url", None),
        ("://nothing", None),
    ],
)
def test_url_scheme_is_all_of_the_url_that_is_shown(url: str, scheme: str | None) -> None:
    assert url_scheme(url) == scheme


def test_target_names_are_short_plain_words() -> None:
    assert target_name_problem("telegram-main_1") is None
    assert target_name_problem("") is not None
    assert target_name_problem("has space") is not None
    assert target_name_problem("x" * 65) is not None


@pytest.mark.parametrize(
    ("value", "currency", "text"),
    [
        (Decimal("12.3400"), "USDT", "+12.34 USDT"),
        (Decimal("-0.5"), "USDT", "-0.5 USDT"),
        (Decimal("0.000000001"), "USDT", "+0 USDT"),
        (Decimal("3"), None, "+3"),
    ],
)
def test_money_text(value: Decimal, currency: str | None, text: str) -> None:
    assert money_text(value, currency) == text


def test_a_closed_cycle_names_strategy_symbol_cycle_and_profit_with_currency() -> None:
    title, body = render(
        _notice(
            NotifyEvent.CYCLE_CLOSED,
            symbol="BTC/USDT",
            cycle=12,
            profit=Decimal("4.2500"),
            currency="USDT",
        ),
        "btc-dca",
    )
    assert title == "btc-dca: profit +4.25 USDT"
    assert body == "btc-dca (BTC/USDT): cycle 12 closed with +4.25 USDT."


def test_a_stop_loss_says_so_with_the_loss() -> None:
    title, body = render(
        _notice(
            NotifyEvent.STOP_LOSS,
            symbol="ETH/USDT",
            cycle=3,
            profit=Decimal("-10"),
            currency="USDT",
        ),
        "eth",
    )
    assert "stop loss" in title
    assert "cycle 3" in body and "-10 USDT" in body


def test_safety_texts_name_the_level_and_a_missing_name_falls_back_to_the_id() -> None:
    _, body = render(_notice(NotifyEvent.SAFETY_FILLED, symbol="X/Y", cycle=2, level=3), None)
    assert body == "strategy 7 (X/Y): safety order 3 filled in cycle 2."
    title, body = render(_notice(NotifyEvent.SAFETY_EXHAUSTED, cycle=2, level=5), "s")
    assert title == "s: all safety orders used"
    assert "(5)" in body


def test_error_details_are_flattened_and_cut() -> None:
    _, body = render(_notice(NotifyEvent.STRATEGY_DEGRADED, detail="a\n  b " + "x" * 400), "s")
    assert "\n" not in body
    assert len(body) < 400
    assert body.endswith("…")
