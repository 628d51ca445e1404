"""Settings, notifications: a target is added, listed, tested and deleted through the page's
forms (the services of `/api/v1/notifications` and `martingale notify test`, against a real
HTTP server on loopback), and its URL reaches no answer and no log, not even after an error."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
import structlog

from domain.notifications import NotifyEvent
from tests.notify_hook import Hook
from tests.web.conftest import World
from tests.web.dashboard_helpers import Browser

TOKEN = "AAGsecretDashboardToken42"


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook(200)
    try:
        yield server
    finally:
        server.close()


def _slot(html: str, name: str) -> str:
    found = re.search(rf'id="err-notify-{name}">([^<]*)<', html)
    assert found is not None, f"the form has an error slot for {name}"
    return found.group(1)


def _targets(world: World) -> dict[str, Any]:
    return {t.name: t for t in world.repo.list_notification_targets(user_id=world.alice.user_id)}


def test_a_target_is_added_listed_tested_and_deleted(world: World, hook: Hook) -> None:
    alice = Browser(world, world.alice)
    url = hook.url(f"hook/{TOKEN}", userinfo=f"user:{TOKEN}@")
    form = {"name": "phone", "url": url, "event_cycle_closed": "on", "event_stop_loss": "on"}
    added: Any = alice.post("/ui/notifications", {**form, "enabled": "on"})
    assert added.status_code == 200, added.text
    assert "Target phone added" in added.text
    assert re.search(r'<tr data-target="phone"><td>phone</td><td><code>json://', added.text)
    stored = _targets(world)["phone"]
    assert stored.events == {NotifyEvent.CYCLE_CLOSED, NotifyEvent.STOP_LOSS}
    assert stored.enabled and stored.scheme == "json" and stored.source == "api"

    page: Any = alice.get("/settings")
    assert page.status_code == 200 and 'data-target="phone"' in page.text
    assert 'data-target="alice-hook"' in page.text and "bob-hook" not in page.text

    tested: Any = alice.post("/ui/notifications/phone/test")
    assert tested.status_code == 200, tested.text
    assert re.search(
        r'data-result="phone"><b>phone</b> <small>json</small>: <span class="gain">', tested.text
    )
    assert [b.get("type") for b in hook.bodies] == ["info"]  # the one test message
    assert "test" in json.dumps(hook.bodies[0]).lower()

    everyone: Any = alice.post("/ui/notifications/test")  # alice-hook's port has no listener
    assert "1 of 2 went out" in everyone.text
    assert re.search(r'data-result="alice-hook">.*class="loss">failed</span> — \w', everyone.text)
    assert len(hook.bodies) == 2

    replaced: Any = alice.post("/ui/notifications", {**form, "event_stop_loss": ""})
    assert replaced.status_code == 200 and "Target phone replaced" in replaced.text
    assert _targets(world)["phone"].events == {NotifyEvent.CYCLE_CLOSED}
    assert not _targets(world)["phone"].enabled  # the box was left unticked

    deleted: Any = alice.post("/ui/notifications/phone/delete")
    assert deleted.status_code == 200 and "Target phone deleted." in deleted.text
    assert "phone" not in _targets(world)
    again: Any = alice.post("/ui/notifications/phone/delete")
    assert again.status_code == 404

    for answer in (added, page, tested, everyone, replaced, deleted):
        assert TOKEN not in answer.text
        assert f"127.0.0.1:{hook.port}" not in answer.text


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"url": f"foo://{TOKEN}/x"}, "url", "apprise cannot use this foo:// URL"),
        ({"url": f"discord://{TOKEN}"}, "url", "apprise cannot use this discord:// URL"),
        ({"url": f"just {TOKEN} text"}, "url", "must be an apprise URL"),
        ({"url": ""}, "url", "is required"),
        ({"name": "bad name!"}, "name", "letters, digits"),
        ({"event_cycle_closed": ""}, "events", "list at least one event"),
    ],
)
def test_bad_input_names_the_field_and_never_echoes_the_url(
    world: World,
    caplog: pytest.LogCaptureFixture,
    form: dict[str, str],
    field: str,
    message: str,
) -> None:
    caplog.set_level(logging.DEBUG)
    alice = Browser(world, world.alice)
    before = _targets(world)
    good = {"name": "phone", "url": f"json://127.0.0.1:9/{TOKEN}", "event_cycle_closed": "on"}
    with structlog.testing.capture_logs() as events:
        answer: Any = alice.post("/ui/notifications", {**good, **form})
    assert answer.status_code == 422, answer.text
    assert message in _slot(answer.text, field)
    for other in {"name", "url", "events"} - {field}:
        assert _slot(answer.text, other) == ""
    assert _targets(world) == before  # nothing stored
    assert TOKEN not in answer.text
    # the form is given back without the URL: it is typed again, never echoed
    url_input = re.search(r'<input name="url"[^>]*>', answer.text)
    assert url_input is not None and "value=" not in url_input.group(0)
    if field != "name":
        assert 'value="phone"' in answer.text  # the rest is kept
    server_lines = [r.getMessage() for r in caplog.records if not r.name.startswith("httpx")]
    assert TOKEN not in json.dumps(events, default=str) + "\n".join(server_lines)


def test_a_server_without_a_master_key_says_so(world: World) -> None:
    world.ctx.vault = None
    alice = Browser(world, world.alice)
    answer: Any = alice.post(
        "/ui/notifications",
        {"name": "phone", "url": f"json://127.0.0.1:9/{TOKEN}", "event_cycle_closed": "on"},
    )
    assert answer.status_code == 422
    assert re.search(r'class="error" role="alert">[^<]*master key', answer.text)
    tested: Any = alice.post("/ui/notifications/test")
    assert tested.status_code == 422 and "master key" in tested.text
    assert TOKEN not in answer.text + tested.text
    assert "phone" not in _targets(world)
