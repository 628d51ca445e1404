"""POST /api/v1/signals/{token}: every answer of the webhook, on SQLite and MySQL, and the row
it leaves for the service's engines (`unconsumed_signals`)."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import pytest
import structlog

from services.signal_limit import SignalLimiter
from tests.integration.persistence.test_auth_storage import dump_database
from tests.web.signal_helpers import MAX_LAG, NOW, SignalWorld, path_of, stamp, sw

__all__ = ["sw"]


def test_the_secret_in_the_body_records_the_signal_for_the_engine(sw: SignalWorld) -> None:
    answer = sw.post({"secret": sw.secret, "time": stamp(-5), "ticker": "ETHBTC"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["accepted"] is True

    [row] = sw.repo.unconsumed_signals([sw.strategy_id])
    assert (row.id, row.strategy_id) == (answer.json()["signal_id"], sw.strategy_id)
    assert (row.signal_at, row.received_at, row.consumed_at) == (
        NOW - timedelta(seconds=5),
        NOW,
        None,
    )
    assert sw.repo.consume_signal(row.id, NOW) is True
    assert sw.repo.unconsumed_signals([sw.strategy_id]) == []


def test_an_hmac_of_the_body_authenticates_without_the_secret_in_it(sw: SignalWorld) -> None:
    answer = sw.signed({"timestamp": int(NOW.timestamp()) - 1, "nonce": "a-1"})
    assert answer.status_code == 202, answer.text
    [row] = sw.repo.unconsumed_signals([sw.strategy_id])
    assert row.nonce == "a-1"
    assert row.signal_at.timestamp() == NOW.timestamp() - 1


@pytest.mark.parametrize(
    "how",
    [
        "wrong secret",
        "no secret",
        "secret not a string",
        "wrong hmac",
        "hmac by another key",
        "bad signature header",
        "unknown token",
        "malformed token",
    ],
)
def test_anything_unauthenticated_is_one_401(sw: SignalWorld, how: str) -> None:
    good = {"secret": sw.secret, "time": stamp()}
    url = sw.url
    headers: dict[str, str] = {}
    payload: dict[str, object] = dict(good)
    if how == "wrong secret":
        payload["secret"] = sw.secret[:-1] + ("A" if sw.secret[-1] != "A" else "B")
    elif how == "no secret":
        del payload["secret"]
    elif how == "secret not a string":
        payload["secret"] = 12345
    elif how == "wrong hmac":
        headers = {"X-Signature": "sha256=" + "0" * 64}
    elif how == "hmac by another key":
        answer = sw.signed({"time": stamp()}, secret="mgs_not-the-secret")
        assert answer.status_code == 401
        return
    elif how == "bad signature header":
        headers = {"X-Signature": sw.secret}
    elif how == "unknown token":
        url = "/api/v1/signals/mgw_" + "x" * 43
    elif how == "malformed token":
        url = "/api/v1/signals/nonsense"

    answer = sw.post(payload, url=url, headers=headers)

    assert answer.status_code == 401, answer.text
    reference = sw.post({"time": stamp()}, url="/api/v1/signals/mgw_" + "y" * 43)
    assert answer.json() == reference.json()  # an unknown URL answers exactly the same
    assert sw.repo.unconsumed_signals([sw.strategy_id]) == []


@pytest.mark.parametrize(
    ("payload", "field", "words"),
    [
        ({"time": stamp(-MAX_LAG - 1)}, "time", "stale"),
        ({"timestamp": int(NOW.timestamp()) - MAX_LAG - 30}, "timestamp", "stale"),
        ({"time": stamp(30)}, "time", "future"),
        ({}, "time", "is required"),
        ({"time": "yesterday"}, "time", "ISO-8601"),
        ({"time": "2026-03-02T12:00:00"}, "time", "time zone"),
        ({"timestamp": "soon"}, "timestamp", "epoch"),
        ({"timestamp": True}, "timestamp", "epoch"),
        ({"time": stamp(), "nonce": ""}, "nonce", "printable"),
        ({"time": stamp(), "id": "x" * 65}, "id", "printable"),
        ({"time": stamp(), "nonce": [1]}, "nonce", "string"),
    ],
)
def test_stale_future_and_malformed_signals_are_422_naming_the_field(
    sw: SignalWorld, payload: dict[str, object], field: str, words: str
) -> None:
    answer = sw.post({"secret": sw.secret, **payload})
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert words in answer.json()["message"]
    assert sw.secret not in answer.text
    assert sw.repo.unconsumed_signals([sw.strategy_id]) == []


def test_a_body_that_is_no_json_object_is_422_on_the_body(sw: SignalWorld) -> None:
    for body in (b"not json", b"[1, 2]", b"\xff\xfe"):
        answer = sw.post(body)
        assert answer.status_code == 422
        assert answer.json()["errors"][0]["field"] == "body"


def test_a_small_clock_skew_ahead_is_accepted(sw: SignalWorld) -> None:
    assert sw.post({"secret": sw.secret, "time": stamp(4)}).status_code == 202
    assert sw.post({"secret": sw.secret, "time": stamp(-MAX_LAG)}).status_code == 202


def test_a_replay_is_409_and_a_new_nonce_is_a_new_signal(sw: SignalWorld) -> None:
    body = {"secret": sw.secret, "time": stamp(-1)}
    assert sw.post(body).status_code == 202
    again = sw.post(body)  # the same body: its SHA-256 is the nonce
    assert again.status_code == 409, again.text
    assert "replay" in again.json()["message"]

    assert sw.post({**body, "nonce": "n-1"}).status_code == 202
    assert sw.post({**body, "time": stamp(-2), "nonce": "n-1"}).status_code == 409
    assert sw.post({**body, "id": 7}).status_code == 202
    assert len(sw.repo.unconsumed_signals([sw.strategy_id])) == 3


def test_a_strategy_that_does_not_start_on_a_signal_answers_400(sw: SignalWorld) -> None:
    made = sw.client.post(
        f"/api/v1/strategies/{sw.alice.strategy_id}/signal-key", headers=sw.owner(sw.alice)
    )
    assert made.status_code == 201 and made.json()["waits_for_signal"] is False
    answer = sw.post(
        {"secret": made.json()["secret"], "time": stamp()}, url=path_of(made.json()["url"])
    )
    assert answer.status_code == 400, answer.text
    assert "start_condition" in answer.json()["message"]
    assert sw.repo.unconsumed_signals([sw.alice.strategy_id]) == []
    # ...and only after authentication: with a wrong secret, the same 401 as anywhere.
    wrong = sw.post({"secret": "mgs_wrong", "time": stamp()}, url=path_of(made.json()["url"]))
    assert wrong.status_code == 401


def test_a_body_over_8_kb_is_413_and_nothing_is_stored(sw: SignalWorld) -> None:
    big = {"secret": sw.secret, "time": stamp(), "pad": "x" * 9000}
    answer = sw.post(big)
    assert answer.status_code == 413
    assert sw.repo.unconsumed_signals([sw.strategy_id]) == []
    chunked = sw.client.post(sw.url, content=iter([b"{", b" " * 9000, b"}"]))  # no length
    assert chunked.status_code == 413


def test_requests_are_limited_per_url_known_or_not(sw: SignalWorld) -> None:
    sw.ctx.signal_limiter = SignalLimiter(limit=2, window_s=60, clock=lambda: 100.0)
    unknown = "/api/v1/signals/mgw_" + "z" * 43
    answers = [sw.post({"time": stamp()}, url=unknown).status_code for _ in range(3)]
    assert answers == [401, 401, 429]
    first = sw.post({"secret": sw.secret, "time": stamp(), "nonce": "1"})
    second = sw.post({"secret": sw.secret, "time": stamp(), "nonce": "2"})
    third = sw.post({"secret": sw.secret, "time": stamp(), "nonce": "3"})
    assert [first.status_code, second.status_code, third.status_code] == [202, 202, 429]
    assert int(third.headers["Retry-After"]) == 60
    assert len(sw.repo.unconsumed_signals([sw.strategy_id])) == 2


def test_a_deleted_or_disabled_owner_is_refused_like_an_unknown_url(sw: SignalWorld) -> None:
    sw.repo.set_user_disabled(sw.alice.user_id, True, now=NOW)
    assert sw.post({"secret": sw.secret, "time": stamp()}).status_code == 401
    sw.repo.set_user_disabled(sw.alice.user_id, False, now=NOW)
    assert sw.post({"secret": sw.secret, "time": stamp()}).status_code == 202


def test_the_secret_and_token_reach_no_log_no_answer_and_not_the_database(
    sw: SignalWorld, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = sw.url.rsplit("/", 1)[1]
    with structlog.testing.capture_logs() as events:
        answers = [
            sw.post({"secret": sw.secret, "time": stamp()}),
            sw.post({"secret": sw.secret, "time": stamp()}),  # replay
            sw.post({"secret": sw.secret, "time": stamp(-999)}),  # stale
            sw.post({"secret": sw.secret + "x", "time": stamp()}),  # wrong
            sw.post({"secret": sw.secret, "time": {"nested": sw.secret}}),  # malformed
            sw.signed({"time": stamp(), "nonce": "s"}),
            sw.post(b'{"secret": "' + sw.secret.encode() + b'", "time": '),  # broken JSON
            sw.client.get(
                f"/api/v1/strategies/{sw.strategy_id}/signal-key", headers=sw.owner(sw.alice)
            ),
        ]
    assert [a.status_code for a in answers] == [202, 409, 422, 401, 422, 202, 422, 200]
    # The test's HTTP client (httpx) logs the URLs it calls; the server logs no URL.
    server_lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    logged = json.dumps(events, default=str) + "\n".join(server_lines)
    shown = "".join(a.text + str(a.headers) for a in answers)
    stored = dump_database(db_url)
    for value in (sw.secret, token):
        assert value not in logged
        assert value not in shown
        assert value not in stored
    assert "mg1:" in stored  # the secret is there, sealed
