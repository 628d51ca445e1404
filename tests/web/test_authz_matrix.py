"""Every object is scoped to its owner: another user's strategy, account, token or
notification target answers 404 for every verb, exactly as an id that does not exist; lists
never show others' rows. The same holds for the dashboard's pages and forms, which also need a
session and (to change anything) the page's CSRF token.

The endpoint tables below are checked against the app's routes, so a new endpoint or page with
an id in its path cannot be added without joining the matrix.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from services.principal import TOKEN_FAILED
from tests.web.app_routes import app_routes
from tests.web.conftest import PASSWORD, Seeded, World, later
from tests.web.dashboard_helpers import Browser
from web.dashboard import NOT_PAGES

MISSING = 987654321

PARAMS = {
    "base_order": "0.002",
    "safety_order": "0.004",
    "max_safety_orders": 3,
    "price_deviation": "1.5",
    "take_profit": "1.5",
}
CREDENTIALS = {"api_key": "k" * 24, "secret": "s" * 32}

# (method, path, body): every endpoint that names an owned object in its path.
OWNED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/strategies/{strategy_id}", None),
    ("PUT", "/api/v1/strategies/{strategy_id}/params", PARAMS),
    ("POST", "/api/v1/strategies/{strategy_id}/actions/pause", None),
    ("POST", "/api/v1/strategies/{strategy_id}/actions/resume", None),
    ("POST", "/api/v1/strategies/{strategy_id}/actions/stop", None),
    ("POST", "/api/v1/strategies/{strategy_id}/actions/stop-now", None),
    ("POST", "/api/v1/strategies/{strategy_id}/actions/close-now", None),
    ("DELETE", "/api/v1/strategies/{strategy_id}", None),
    ("GET", "/api/v1/strategies/{strategy_id}/orders", None),
    ("GET", "/api/v1/strategies/{strategy_id}/fills", None),
    ("GET", "/api/v1/strategies/{strategy_id}/cycles", None),
    ("GET", "/api/v1/strategies/{strategy_id}/events", None),
    ("GET", "/api/v1/strategies/{strategy_id}/logs", None),
    ("GET", "/api/v1/strategies/{strategy_id}/signal-key", None),
    ("POST", "/api/v1/strategies/{strategy_id}/signal-key", None),
    ("GET", "/api/v1/accounts/{account_id}", None),
    ("PUT", "/api/v1/accounts/{account_id}/credentials", CREDENTIALS),
    ("GET", "/api/v1/accounts/{account_id}/key-report", None),
    ("GET", "/api/v1/accounts/{account_id}/balances", None),
    ("DELETE", "/api/v1/tokens/{token_id}", None),
    ("DELETE", "/api/v1/notifications/{target_name}", None),
    ("POST", "/api/v1/notifications/{target_name}/test", None),
]
# Admin-only endpoints: a user gets 403 whatever the id.
ADMIN: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/v1/users", None),
    ("POST", "/api/v1/users", {"name": "carol"}),
    ("GET", "/api/v1/users/{user_id}", None),
    ("PATCH", "/api/v1/users/{user_id}", {"role": "admin"}),
    ("PATCH", "/api/v1/users/{user_id}", {"disabled": True}),
    ("DELETE", "/api/v1/users/{user_id}", None),
]
LISTS = [
    "/api/v1/strategies",
    "/api/v1/accounts",
    "/api/v1/tokens",
    "/api/v1/status",
    "/api/v1/profit",
    "/api/v1/me",
    "/api/v1/notifications",
]
# The webhook authenticates with its URL token and secret (tests/web/test_signals.py).
PUBLIC = {("POST", "/api/v1/auth/login"), ("POST", "/api/v1/signals/{token}")}


def _path(template: str, owner: Seeded | None) -> str:
    ids = (
        {
            "strategy_id": MISSING,
            "account_id": MISSING,
            "token_id": MISSING,
            "user_id": MISSING,
            "target_name": "no-such-target",
        }
        if owner is None
        else {
            "strategy_id": owner.strategy_id,
            "account_id": owner.account_id,
            "token_id": owner.token_id,
            "user_id": owner.user_id,
            "target_name": f"{owner.name}-hook",
        }
    )
    return template.format(**ids)


def _bobs_rows(world: World) -> dict[str, Any]:
    """What bob has, read from the database: nothing alice does may change it."""
    repo, bob = world.repo, world.bob
    strategy = repo.get_strategy(bob.strategy_id)
    account = repo.get_account(bob.account_id)
    tokens = repo.list_tokens(bob.user_id)
    return {
        "strategy": (strategy.desired_state, strategy.params, strategy.version, strategy.name),
        "account": (account.credentials_fingerprint, account.name),
        "tokens": [(t.id, t.revoked_at) for t in tokens],
        "targets": repo.list_notification_targets(user_id=bob.user_id),
    }


def test_the_matrix_covers_every_endpoint_with_an_id_in_its_path(world: World) -> None:
    routes = {
        (method, path)
        for method, path in app_routes(world.client.app)  # type: ignore[arg-type]
        if path.startswith("/api/v1")
    }
    assert ("GET", "/api/v1/strategies/{strategy_id}") in routes
    with_ids = {(m, p) for m, p in routes if "{" in p} - PUBLIC
    listed = {(m, p.replace("/actions/pause", "/actions/{action}")) for m, p, _ in OWNED + ADMIN}
    listed |= {(m, p) for m, p, _ in OWNED + ADMIN}
    assert with_ids <= listed, f"endpoints missing from the matrix: {with_ids - listed}"


@pytest.mark.parametrize(
    ("method", "template", "body"), OWNED, ids=[f"{m} {p}" for m, p, _ in OWNED]
)
def test_another_users_object_answers_404_like_a_missing_one(
    world: World, method: str, template: str, body: dict[str, Any] | None
) -> None:
    before = _bobs_rows(world)
    theirs = world.call(world.alice, method, _path(template, world.bob), json=body)
    missing = world.call(world.alice, method, _path(template, None), json=body)
    assert theirs.status_code == 404, theirs.text
    assert missing.status_code == 404, missing.text
    assert theirs.json() == missing.json() == {"message": "not found"}
    assert _bobs_rows(world) == before
    # and the owner can: the same call as bob does not answer 404
    mine = world.call(world.bob, method, _path(template, world.bob), json=body)
    assert mine.status_code != 404, mine.text


def test_an_account_of_another_user_named_in_a_body_answers_404(world: World) -> None:
    body = {
        "name": "sneaky",
        "account": world.bob.account_name,
        "symbol": "ETH/BTC",
        "params": PARAMS,
    }
    for dry_run in ("false", "true"):
        answer = world.call(world.alice, "POST", f"/api/v1/strategies?dry_run={dry_run}", json=body)
        assert answer.status_code == 404, answer.text
        assert answer.json()["message"] == "not found"
    assert [s.name for s in world.repo.list_strategies(user_id=world.alice.user_id)] == [
        "alice-eth"
    ]


@pytest.mark.parametrize("path", LISTS)
def test_lists_never_show_another_users_rows(world: World, path: str) -> None:
    answer = world.call(world.alice, "GET", path)
    assert answer.status_code == 200, answer.text
    text = json.dumps(answer.json())
    for secret_of_bob in ("bob-eth", "bob-main", "bob-token", "bob@example.com", "bob"):
        assert secret_of_bob not in text


def test_a_user_without_the_admin_role_cannot_manage_users(world: World) -> None:
    for method, template, body in ADMIN:
        answer = world.call(world.alice, method, _path(template, world.bob), json=body)
        assert answer.status_code == 403, (method, template, answer.text)
    assert world.repo.get_user(world.bob.user_id).role == "user"
    assert not world.repo.get_user(world.bob.user_id).disabled
    assert world.repo.find_user("carol") is None


def test_an_admin_manages_users(world: World) -> None:
    listed = world.call(world.admin, "GET", "/api/v1/users").json()
    assert {u["name"] for u in listed} >= {"alice", "bob", "root"}
    created = world.call(world.admin, "POST", "/api/v1/users", json={"name": "carol"})
    assert created.status_code == 201 and created.json()["role"] == "user"
    promoted = world.call(
        world.admin, "PATCH", f"/api/v1/users/{created.json()['id']}", json={"role": "admin"}
    )
    assert promoted.status_code == 200 and promoted.json()["role"] == "admin"


@pytest.mark.parametrize(
    ("method", "template", "body"),
    OWNED
    + ADMIN
    + [("GET", p, None) for p in LISTS]
    + [
        ("POST", "/api/v1/tokens", {"name": "x"}),
        ("PUT", "/api/v1/me/password", {"current_password": PASSWORD, "new_password": "x" * 12}),
    ],
)
def test_every_endpoint_but_login_needs_authentication(
    world: World, method: str, template: str, body: dict[str, Any] | None
) -> None:
    answer = world.call(None, method, _path(template, world.bob), json=body)
    assert answer.status_code == 401, answer.text
    bad = world.client.request(
        method, _path(template, world.bob), json=body, headers={"Authorization": "Bearer mgt_nope"}
    )
    assert bad.status_code == 401
    assert bad.json() == {"message": TOKEN_FAILED}  # unknown, expired and revoked alike


def test_an_expired_or_revoked_token_is_refused(world: World) -> None:
    created = world.call(
        world.alice, "POST", "/api/v1/tokens", json={"name": "short", "expires_at": later(1)}
    )
    assert created.status_code == 201, created.text
    secret, token_id = created.json()["secret"], created.json()["token"]["id"]
    ok = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert ok.status_code == 200 and ok.json()["name"] == "alice"
    assert world.call(world.alice, "DELETE", f"/api/v1/tokens/{token_id}").status_code == 204
    gone = world.client.get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert gone.status_code == 401
    listed = world.call(world.alice, "GET", "/api/v1/tokens").json()
    assert secret not in json.dumps(listed)


def test_a_session_cookie_needs_its_csrf_token_to_change_anything(world: World) -> None:
    login = world.client.post("/api/v1/auth/login", json={"name": "alice", "password": PASSWORD})
    assert login.status_code == 200, login.text
    csrf = login.json()["csrf_token"]
    cookie = login.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    path = f"/api/v1/strategies/{world.alice.strategy_id}/actions/pause"
    assert world.client.get("/api/v1/me").status_code == 200  # reads need no CSRF token
    refused = world.client.post(path)
    assert refused.status_code == 403
    assert world.repo.get_strategy(world.alice.strategy_id).desired_state.value == "running"
    done = world.client.post(path, headers={"X-CSRF-Token": csrf})
    assert done.status_code == 200, done.text
    assert world.repo.get_strategy(world.alice.strategy_id).desired_state.value == "paused"


# --- the dashboard: the same rules for its pages and forms (session cookie + CSRF token) ---

# Every dashboard route that names an owned object in its path (a strategy, an account, a
# token, a notification target).
OWNED_PAGES = [
    ("GET", "/strategies/{strategy_id}"),
    ("GET", "/ui/strategies/{strategy_id}/summary"),
    ("GET", "/ui/strategies/{strategy_id}/events"),
    ("GET", "/ui/strategies/{strategy_id}/chart"),
    ("GET", "/ui/strategies/{strategy_id}/signals"),
    ("POST", "/ui/strategies/{strategy_id}/actions/{action}"),
    ("POST", "/ui/strategies/{strategy_id}/params"),
    ("POST", "/ui/strategies/{strategy_id}/delete"),
    ("POST", "/ui/strategies/{strategy_id}/signal-key"),
    ("POST", "/ui/strategies/{strategy_id}/signal-key/rotate"),
    ("POST", "/ui/strategies/{strategy_id}/signal-key/revoke"),
    ("POST", "/ui/accounts/{account_id}/credentials"),
    ("GET", "/ui/accounts/{account_id}/balances"),
    ("GET", "/ui/accounts/{account_id}/key-report"),
    ("POST", "/ui/tokens/{token_id}/revoke"),
    ("POST", "/ui/notifications/{target_name}/test"),
    ("POST", "/ui/notifications/{target_name}/delete"),
]
PAGE_FORM = {**{k: str(v) for k, v in PARAMS.items()}, **CREDENTIALS}
NO_SESSION_NEEDED = {("GET", "/login"), ("POST", "/login")}


def _dashboard_routes(world: World) -> set[tuple[str, str]]:
    return {
        (method, path)
        for method, path in app_routes(world.client.app)  # type: ignore[arg-type]
        if not path.startswith(NOT_PAGES) and not path.startswith("/redoc")
    }


def _page_path(template: str, owner: Seeded | None) -> str:
    return _path(template.replace("{action}", "pause").replace("{change}", "disable"), owner)


def _bobs_page_rows(world: World) -> dict[str, Any]:
    return {**_bobs_rows(world), "signal_key": world.repo.get_signal_key(world.bob.strategy_id)}


def test_the_dashboard_matrix_names_every_route_with_an_id(world: World) -> None:
    with_ids = {(m, p) for m, p in _dashboard_routes(world) if "{" in p and "/admin/" not in p}
    assert with_ids == set(OWNED_PAGES)


@pytest.mark.parametrize(
    ("method", "template"), OWNED_PAGES, ids=[f"{m} {p}" for m, p in OWNED_PAGES]
)
@pytest.mark.parametrize("viewer", ["alice", "admin"])
def test_another_users_object_is_not_found_on_every_page(
    world: World, method: str, template: str, viewer: str
) -> None:
    """As in the API, an admin too: the admin pages manage users, not their strategies."""
    bob = world.bob
    before = _bobs_page_rows(world)
    other = Browser(world, getattr(world, viewer))
    for owner in (bob, None):  # bob's object, and one that does not exist: the same answer
        path = _page_path(template, owner)
        answer: Any = other.get(path) if method == "GET" else other.post(path, PAGE_FORM)
        assert answer.status_code == 404, answer.text
        assert "bob-" not in answer.text
    assert _bobs_page_rows(world) == before
    mine: Any = Browser(world, bob)  # and the owner can: the same call does not answer 404
    path = _page_path(template, bob)
    answer = mine.get(path) if method == "GET" else mine.post(path, PAGE_FORM)
    assert answer.status_code != 404, answer.text


def test_every_dashboard_route_needs_a_session(world: World) -> None:
    routes = sorted(_dashboard_routes(world) - NO_SESSION_NEEDED)
    assert ("POST", "/ui/notifications") in routes and ("GET", "/settings") in routes
    for method, template in routes:
        path = _page_path(template, world.alice)
        answer = world.client.request(method, path, headers={"HX-Request": "true"})
        assert answer.status_code == 401, (method, path, answer.text)
        assert answer.headers["HX-Redirect"] == "/login"


def test_every_dashboard_form_needs_the_csrf_token(world: World) -> None:
    """Without the page's CSRF token a post changes nothing (403), whatever it would do."""
    before = world.repo.list_notification_targets(user_id=world.alice.user_id)
    alice = Browser(world, world.alice)
    routes = sorted((m, p) for m, p in _dashboard_routes(world) if m == "POST")
    routes = [(m, p) for m, p in routes if (m, p) not in NO_SESSION_NEEDED]
    assert ("POST", "/ui/strategies/{strategy_id}/signal-key/revoke") in routes
    for _method, template in routes:
        path = _page_path(template, world.alice)
        answer: Any = alice.post(path, {**PAGE_FORM, "name": "x", "url": "json://h/p"}, csrf=False)
        assert answer.status_code == 403, (path, answer.text)
    assert world.repo.list_notification_targets(user_id=world.alice.user_id) == before
    assert world.repo.get_signal_key(world.alice.strategy_id) is None
    assert world.repo.get_strategy(world.alice.strategy_id).desired_state.value == "running"
