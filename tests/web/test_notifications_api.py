"""The notification targets' API (issue 16): a URL goes in and never comes out (only its
scheme), bad input names the field without repeating the URL, and a test send reports each
target's outcome, against a real HTTP server on loopback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from domain.notifications import DEFAULT_EVENTS
from persistence.vault import Vault, generate_key, parse_keyring
from tests.notify_hook import Hook
from tests.web.conftest import World

TOKEN = "778899001:AAGsecretBotTokenForApiTests"


@pytest.fixture
def hooks() -> Iterator[tuple[Hook, Hook]]:
    good, bad = Hook(200), Hook(500)
    try:
        yield good, bad
    finally:
        good.close()
        bad.close()


@pytest.fixture
def api(world: World) -> World:
    world.ctx.vault = Vault(parse_keyring(generate_key(1), source="test"))
    for target in world.repo.list_notification_targets():  # sealed by the seed's own vault
        world.repo.delete_notification_target(target.user_id, target.name)
    return world


def test_a_url_goes_in_and_only_its_scheme_comes_out(api: World) -> None:
    url = f"tgram://{TOKEN}/-1001234"
    made = api.call(api.alice, "POST", "/api/v1/notifications", json={"name": "tg", "url": url})
    assert made.status_code == 200, made.text
    assert made.json()["scheme"] == "tgram"
    assert made.json()["events"] == sorted(e.value for e in DEFAULT_EVENTS)
    assert "safety_filled" not in made.json()["events"]
    replaced = api.call(
        api.alice,
        "POST",
        "/api/v1/notifications",
        json={"name": "tg", "url": url + "9", "events": ["stop_loss"], "enabled": False},
    )
    assert replaced.status_code == 200
    assert (replaced.json()["events"], replaced.json()["enabled"]) == (["stop_loss"], False)
    listed = api.call(api.alice, "GET", "/api/v1/notifications")
    assert [t["name"] for t in listed.json()] == ["tg"]
    assert api.call(api.bob, "GET", "/api/v1/notifications").json() == []
    for answer in (made, replaced, listed):
        assert TOKEN not in answer.text and "AAGsecret" not in answer.text
        assert "1001234" not in answer.text

    assert api.call(api.alice, "DELETE", "/api/v1/notifications/tg").status_code == 204
    assert api.call(api.alice, "DELETE", "/api/v1/notifications/tg").status_code == 404
    assert api.call(api.alice, "GET", "/api/v1/notifications").json() == []


def test_bad_input_names_the_field_and_never_repeats_the_url(api: World) -> None:
    no_scheme = api.call(
        api.alice,
        "POST",
        "/api/v1/notifications",
        json={"name": "tg", "url": f"just {TOKEN} text"},
    )
    assert no_scheme.status_code == 422
    assert no_scheme.json()["errors"][0]["field"] == "url"
    assert TOKEN not in no_scheme.text
    bad_event = api.call(
        api.alice,
        "POST",
        "/api/v1/notifications",
        json={"name": "tg", "url": f"tgram://{TOKEN}/1", "events": ["everything"]},
    )
    assert bad_event.status_code == 422
    assert bad_event.json()["errors"][0]["field"] == "events"
    assert TOKEN not in bad_event.text
    assert api.repo.list_notification_targets(user_id=api.alice.user_id) == []


def test_without_a_master_key_a_target_cannot_be_stored(world: World) -> None:
    world.ctx.vault = None
    answer = world.call(
        world.alice, "POST", "/api/v1/notifications", json={"name": "x", "url": "json://h/p"}
    )
    assert answer.status_code == 503
    assert "master key" in answer.json()["message"]


def test_a_test_send_reports_each_target_without_its_url(
    api: World, hooks: tuple[Hook, Hook]
) -> None:
    good, bad = hooks
    for name, hook in (("good", good), ("bad", bad)):
        made = api.call(
            api.alice,
            "POST",
            "/api/v1/notifications",
            json={"name": name, "url": hook.url(f"hook/{TOKEN}")},
        )
        assert made.status_code == 200, made.text

    everyone = api.call(api.alice, "POST", "/api/v1/notifications/test")
    one = api.call(api.alice, "POST", "/api/v1/notifications/good/test")

    assert everyone.status_code == 200, everyone.text
    results = {r["target"]: r for r in everyone.json()["results"]}
    assert results["good"]["ok"] is True and results["good"]["scheme"] == "json"
    assert results["bad"]["ok"] is False and results["bad"]["reason"]
    assert [r["target"] for r in one.json()["results"]] == ["good"]
    assert len(good.bodies) == 2 and "test" in good.bodies[0]["title"]
    assert len(bad.bodies) == 1  # a test is tried once
    for answer in (everyone, one):
        assert TOKEN not in answer.text and "127.0.0.1" not in answer.text
