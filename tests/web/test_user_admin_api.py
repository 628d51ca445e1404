"""Issue 13 over HTTP: an admin disables and enables a user (PATCH /users/{id}), and a user
changes its own password (PUT /me/password), on SQLite and MySQL."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

import pytest
import structlog

from domain.events import StopMode
from persistence.records import DesiredState
from services.auth import AuthenticationFailed, authenticate_session, issue_session, set_password
from services.principal import LOGIN_FAILED, TOKEN_FAILED
from tests.integration.persistence.test_auth_storage import dump_database
from tests.web.conftest import CHEAP, PASSWORD, World

NEW = "a brand new passphrase"


def _login(world: World, name: str, password: str) -> int:
    answer = world.client.post("/api/v1/auth/login", json={"name": name, "password": password})
    return answer.status_code


def _patch(world: World, user_id: int, body: dict[str, object]) -> Any:
    return world.call(world.admin, "PATCH", f"/api/v1/users/{user_id}", json=body)


# --- disable / enable ---------------------------------------------------------------------------
def test_a_disabled_user_is_locked_out_and_its_strategies_stop(world: World) -> None:
    alice = world.alice
    assert _login(world, "alice", PASSWORD) == 200  # a session, in the client's cookie jar
    assert world.client.get("/api/v1/me").status_code == 200

    answer = _patch(world, alice.user_id, {"disabled": True})

    assert answer.status_code == 200, answer.text
    assert (answer.json()["disabled"], answer.json()["role"]) == (True, "user")
    strategy = world.repo.get_strategy(alice.strategy_id)
    assert (strategy.desired_state, strategy.stop_mode) == (DesiredState.STOPPED, StopMode.CANCEL)
    refused = world.call(alice, "GET", "/api/v1/me")  # its API token
    assert (refused.status_code, refused.json()) == (401, {"message": TOKEN_FAILED})
    assert world.client.get("/api/v1/me").status_code == 401  # its session
    login = world.client.post("/api/v1/auth/login", json={"name": "alice", "password": PASSWORD})
    assert (login.status_code, login.json()) == (401, {"message": LOGIN_FAILED})
    listed = {
        u["name"]: u["disabled"] for u in world.call(world.admin, "GET", "/api/v1/users").json()
    }
    assert listed == {"alice": True, "bob": False, "root": False}
    assert world.call(world.bob, "GET", "/api/v1/me").status_code == 200


def test_an_enabled_user_logs_in_again_and_its_strategies_stay_stopped(world: World) -> None:
    alice = world.alice
    assert _patch(world, alice.user_id, {"disabled": True}).status_code == 200

    answer = _patch(world, alice.user_id, {"disabled": False})

    assert answer.status_code == 200 and answer.json()["disabled"] is False
    assert world.call(alice, "GET", "/api/v1/me").status_code == 401  # its old token stays revoked
    assert world.repo.get_strategy(alice.strategy_id).desired_state is DesiredState.STOPPED
    login = world.client.post("/api/v1/auth/login", json={"name": "alice", "password": PASSWORD})
    assert login.status_code == 200, login.text
    resumed = world.client.post(
        f"/api/v1/strategies/{alice.strategy_id}/actions/resume",
        headers={"X-CSRF-Token": login.json()["csrf_token"]},
    )
    assert resumed.status_code == 200, resumed.text  # the user resumes them itself
    assert world.repo.get_strategy(alice.strategy_id).desired_state is DesiredState.RUNNING


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "role"),
        ({"disabled": None, "role": None}, "role"),
        ({"disabled": "maybe"}, "body.disabled"),
    ],
)
def test_a_patch_with_nothing_or_nonsense_to_change_is_422_naming_the_field(
    world: World, body: dict[str, object], field: str
) -> None:
    answer = world.call(world.admin, "PATCH", f"/api/v1/users/{world.alice.user_id}", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["field"] == field
    assert not world.repo.get_user(world.alice.user_id).disabled


def test_an_admin_cannot_disable_itself_and_role_and_disabled_go_together(world: World) -> None:
    admin = world.admin
    refused = world.call(admin, "PATCH", f"/api/v1/users/{admin.user_id}", json={"disabled": True})
    assert refused.status_code == 403 and "itself" in refused.json()["message"]

    both = world.call(
        admin,
        "PATCH",
        f"/api/v1/users/{world.bob.user_id}",
        json={"role": "admin", "disabled": True},
    )

    assert both.status_code == 200, both.text
    assert (both.json()["role"], both.json()["disabled"]) == ("admin", True)
    # root is now the only enabled admin: bob, disabled, does not count
    last = world.call(admin, "PATCH", f"/api/v1/users/{admin.user_id}", json={"role": "user"})
    assert last.status_code == 422 and last.json()["errors"][0]["field"] == "role"


# --- change one's own password ------------------------------------------------------------------
def test_a_session_caller_changes_its_password_and_stays_logged_in_alone(world: World) -> None:
    alice = world.alice
    login = world.client.post("/api/v1/auth/login", json={"name": "alice", "password": PASSWORD})
    old_csrf, old_cookie = login.json()["csrf_token"], world.client.cookies["mg_session"]
    other = issue_session(world.repo, alice.user_id, now=datetime.now(UTC))  # another browser

    answer = world.client.put(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW},
        headers={"X-CSRF-Token": old_csrf},
    )

    assert answer.status_code == 204, answer.text
    new_csrf = answer.headers["X-CSRF-Token"]
    assert new_csrf != old_csrf and world.client.cookies["mg_session"] != old_cookie
    assert "HttpOnly" in answer.headers["set-cookie"]
    for ended in (old_cookie, other.secret):
        with pytest.raises(AuthenticationFailed):
            authenticate_session(world.repo, ended, now=datetime.now(UTC))
    assert world.client.get("/api/v1/me").json()["name"] == "alice"  # the fresh cookie
    pause = f"/api/v1/strategies/{alice.strategy_id}/actions/pause"
    assert world.client.post(pause, headers={"X-CSRF-Token": old_csrf}).status_code == 403
    assert world.client.post(pause, headers={"X-CSRF-Token": new_csrf}).status_code == 200
    assert world.call(alice, "GET", "/api/v1/me").status_code == 200  # API tokens stay
    assert _login(world, "alice", PASSWORD) == 401
    assert _login(world, "alice", NEW) == 200


def test_a_token_caller_changes_its_password_without_getting_a_session(world: World) -> None:
    answer = world.call(
        world.bob,
        "PUT",
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": NEW},
    )
    assert answer.status_code == 204, answer.text
    assert "set-cookie" not in answer.headers and "X-CSRF-Token" not in answer.headers
    assert world.call(world.bob, "GET", "/api/v1/me").status_code == 200
    assert _login(world, "bob", NEW) == 200


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"current_password": "not the password", "new_password": NEW}, 401, None),
        ({"current_password": PASSWORD, "new_password": "too short"}, 422, "new_password"),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, 422, "new_password"),
        ({"current_password": PASSWORD}, 422, "body.new_password"),
        ({"current_password": PASSWORD, "new_password": NEW, "extra": 1}, 422, "body.extra"),
    ],
)
def test_a_refused_change_says_why_and_changes_nothing(
    world: World, body: dict[str, object], status: int, field: str | None
) -> None:
    before = world.repo.load_password_hash(world.alice.user_id)
    answer = world.call(world.alice, "PUT", "/api/v1/me/password", json=body)
    assert answer.status_code == status, answer.text
    if field is not None:
        assert answer.json()["errors"][0]["field"] == field
    assert PASSWORD not in answer.text and NEW not in answer.text
    assert world.repo.load_password_hash(world.alice.user_id) == before


def test_wrong_current_passwords_count_as_failed_logins(world: World) -> None:
    wrong = {"current_password": "not the password", "new_password": NEW}
    for _ in range(5):
        assert world.call(world.alice, "PUT", "/api/v1/me/password", json=wrong).status_code == 401
    right = {"current_password": PASSWORD, "new_password": NEW}
    throttled = world.call(world.alice, "PUT", "/api/v1/me/password", json=right)
    assert throttled.status_code == 429 and int(throttled.headers["Retry-After"]) > 0
    assert _login(world, "alice", PASSWORD) == 429


def test_a_password_is_taken_exactly_as_sent_surrounding_spaces_included(world: World) -> None:
    spaced = "  spaces around it  "
    set_password(world.repo, world.alice.user_id, spaced, now=datetime.now(UTC), hasher=CHEAP)
    assert _login(world, "alice", spaced.strip()) == 401
    assert _login(world, "alice", spaced) == 200
    changed = world.call(
        world.alice,
        "PUT",
        "/api/v1/me/password",
        json={"current_password": spaced, "new_password": " " + NEW},
    )
    assert changed.status_code == 204, changed.text
    assert _login(world, "alice", NEW) == 401
    assert _login(world, "alice", " " + NEW) == 200


def test_neither_password_reaches_the_database_the_logs_or_an_answer(
    world: World, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answers = []
    with structlog.testing.capture_logs() as events:
        answers.append(
            world.client.post("/api/v1/auth/login", json={"name": "alice", "password": PASSWORD})
        )
        csrf = {"X-CSRF-Token": answers[0].json()["csrf_token"]}
        for body in (
            {"current_password": NEW, "new_password": PASSWORD},  # wrong current
            {"current_password": PASSWORD, "new_password": PASSWORD},  # the same
            {"current_password": PASSWORD, "new_password": NEW},
        ):
            answers.append(world.client.put("/api/v1/me/password", json=body, headers=csrf))
    assert [a.status_code for a in answers] == [200, 401, 422, 204]

    logged = json.dumps(events, default=str) + caplog.text
    seen = dump_database(db_url) + logged + "".join(a.text + str(a.headers) for a in answers)
    for password in (PASSWORD, NEW):
        assert password not in seen
    assert "argon2id" in dump_database(db_url)  # the dump does hold the users' hashes
