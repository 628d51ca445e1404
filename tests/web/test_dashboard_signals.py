"""A strategy's signal URL on its page: whether it has one, revoke, create and rotate it (the
URL and secret shown once, in the answer that made them), and the signals it brought; the
secret and the URL's token reach no later page and no log."""

from __future__ import annotations

import html
import json
import logging
import re
from typing import Any

import pytest
import structlog

from tests.web.dashboard_helpers import Browser
from tests.web.signal_helpers import NOW, SignalWorld, path_of, stamp, sw

__all__ = ["sw"]


def _issued(answer: Any) -> tuple[str, str]:
    """The URL and secret the answer shows (the values of its read-only inputs)."""
    url = re.search(
        r'value="(http[^"]+/api/v1/signals/mgw_[^"]+)" aria-label="the signal URL"', answer.text
    )
    secret = re.search(r'value="(mgs_[^"]+)" aria-label="the signal secret"', answer.text)
    assert url is not None and secret is not None, answer.text
    return path_of(url.group(1)), secret.group(1)


def _browser(sw: SignalWorld) -> Browser:
    return Browser(sw, sw.alice)  # a SignalWorld has the World parts Browser uses


def test_the_page_shows_a_key_exists_and_never_its_secret(sw: SignalWorld) -> None:
    alice = _browser(sw)
    page: Any = alice.get(f"/strategies/{sw.strategy_id}")
    assert page.status_code == 200
    state = re.search(r'id="signal-key-state">([^<]+)<', page.text)
    assert state is not None and "has a signal URL, made 2026-03-02 12:00:00 UTC" in state.group(1)
    assert sw.secret not in page.text and sw.url.rsplit("/", 1)[1] not in page.text
    assert 'id="not-waiting"' not in page.text  # it starts on a signal
    assert "No signal received yet." in page.text
    plain: Any = alice.get(f"/strategies/{sw.alice.strategy_id}")  # starts asap, has no key
    assert 'id="signal-key"' not in plain.text


def test_revoke_create_and_rotate_from_the_page(
    sw: SignalWorld, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = _browser(sw)
    where = f"/ui/strategies/{sw.strategy_id}/signal-key"
    with structlog.testing.capture_logs() as events:
        revoked: Any = alice.post(where + "/revoke")
        assert revoked.status_code == 200 and "Signal URL revoked" in revoked.text
        assert sw.repo.get_signal_key(sw.strategy_id) is None
        assert sw.post({"secret": sw.secret, "time": stamp()}).status_code == 401
        again: Any = alice.post(where + "/revoke")
        assert "no signal URL to revoke" in again.text

        made: Any = alice.post(where)
        assert made.status_code == 200, made.text
        url, secret = _issued(made)
        assert (
            sw.post({"secret": secret, "time": stamp(), "nonce": "a"}, url=url).status_code == 202
        )
        example = re.search(r'value="([^"]+)" aria-label="the alert message"', made.text)
        assert example is not None
        assert json.loads(html.unescape(example.group(1))) == {
            "secret": secret,
            "time": "{{timenow}}",
        }

        twice: Any = alice.post(where)  # a second page that did not know: refused, not replaced
        assert twice.status_code == 422 and "already has a signal URL" in twice.text
        assert (
            sw.post({"secret": secret, "time": stamp(), "nonce": "b"}, url=url).status_code == 202
        )

        rotated: Any = alice.post(where + "/rotate")
        assert rotated.status_code == 200 and "old URL and secret no longer work" in rotated.text
        new_url, new_secret = _issued(rotated)
        assert (new_url, new_secret) != (url, secret)
        assert (
            sw.post({"secret": secret, "time": stamp(), "nonce": "c"}, url=url).status_code == 401
        )
        answer = sw.post({"secret": new_secret, "time": stamp(), "nonce": "d"}, url=new_url)
        assert answer.status_code == 202

        later: Any = alice.get(f"/strategies/{sw.strategy_id}")
        listed: Any = alice.get(f"/ui/strategies/{sw.strategy_id}/signals")
    assert "last rotated 2026-03-02 12:00:00 UTC" in later.text
    assert listed.text.count("<tr data-signal=") == 3  # a, b, d: refused ones are not kept
    for value in (secret, new_secret, url.rsplit("/", 1)[1], new_url.rsplit("/", 1)[1]):
        assert value not in later.text + listed.text
        server_lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
        assert value not in json.dumps(events, default=str) + "\n".join(server_lines)


def test_recent_signals_say_whether_the_strategy_took_them(sw: SignalWorld) -> None:
    first = sw.post({"secret": sw.secret, "time": stamp(-5), "nonce": "1"})
    assert sw.post({"secret": sw.secret, "time": stamp(), "nonce": "2"}).status_code == 202
    sw.repo.consume_signal(first.json()["signal_id"], NOW)
    listed: Any = _browser(sw).get(f"/ui/strategies/{sw.strategy_id}/signals")
    rows = re.findall(
        r"<tr data-signal=\"\d+\"><td>([^<]+)</td><td>([^<]+)</td>\s*<td>([^<]+)</td>", listed.text
    )
    assert [(r[1], r[2].strip()) for r in rows] == [
        ("2026-03-02 12:00:00 UTC", "accepted; waiting for the strategy"),
        ("2026-03-02 11:59:55 UTC", "accepted; taken by the strategy 2026-03-02 12:00:00 UTC"),
    ]


def test_a_strategy_that_does_not_wait_for_a_signal_says_so(sw: SignalWorld) -> None:
    alice = _browser(sw)
    made: Any = alice.post(f"/ui/strategies/{sw.alice.strategy_id}/signal-key")
    assert made.status_code == 200, made.text  # allowed, as in the API: set the condition next
    assert 'id="not-waiting"' in made.text
    page: Any = alice.get(f"/strategies/{sw.alice.strategy_id}")
    assert 'id="signal-key"' in page.text  # shown while a key exists, to revoke it


def test_without_a_master_key_nothing_is_made(sw: SignalWorld) -> None:
    sw.ctx.vault = None
    alice = _browser(sw)
    answer: Any = alice.post(f"/ui/strategies/{sw.strategy_id}/signal-key/rotate")
    assert answer.status_code == 422 and "master key" in answer.text
    assert "mgs_" not in answer.text
