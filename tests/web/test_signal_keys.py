"""/api/v1/strategies/{id}/signal-key: the owner creates, rotates and looks at a strategy's
signal URL; the secret is in the creating answer only, and another user's strategy is 404."""

from __future__ import annotations

import pytest

from domain.errors import ValidationError
from services.signal_intake import accept_signal
from tests.web.signal_helpers import NOW, SignalWorld, path_of, stamp, sw

__all__ = ["sw"]


def test_the_owner_sees_that_a_key_exists_never_its_secret(sw: SignalWorld) -> None:
    shown = sw.client.get(
        f"/api/v1/strategies/{sw.strategy_id}/signal-key", headers=sw.owner(sw.alice)
    )
    assert shown.status_code == 200
    assert shown.json() == {
        "exists": True,
        "waits_for_signal": True,
        "created_at": NOW.isoformat(),
        "rotated_at": None,
    }
    assert sw.secret not in shown.text
    none = sw.client.get(
        f"/api/v1/strategies/{sw.alice.strategy_id}/signal-key", headers=sw.owner(sw.alice)
    )
    assert none.json()["exists"] is False and none.json()["waits_for_signal"] is False


def test_a_second_create_is_409_and_a_rotation_retires_the_old_url(sw: SignalWorld) -> None:
    where = f"/api/v1/strategies/{sw.strategy_id}/signal-key"
    again = sw.client.post(where, headers=sw.owner(sw.alice))
    assert again.status_code == 409 and "rotate" in again.json()["message"]

    rotated = sw.client.post(where, params={"rotate": "true"}, headers=sw.owner(sw.alice))
    assert rotated.status_code == 201, rotated.text
    new_url, new_secret = path_of(rotated.json()["url"]), rotated.json()["secret"]
    assert new_url != sw.url and new_secret != sw.secret
    assert rotated.json()["rotated_at"] == NOW.isoformat()
    assert rotated.json()["example"] == {"secret": new_secret, "time": "{{timenow}}"}

    assert sw.post({"secret": sw.secret, "time": stamp()}).status_code == 401
    answer = sw.post({"secret": new_secret, "time": stamp(), "nonce": "r"}, url=new_url)
    assert answer.status_code == 202, answer.text
    # The old secret on the new URL does not work either: both were replaced.
    assert sw.post({"secret": sw.secret, "time": stamp()}, url=new_url).status_code == 401


def test_another_users_strategy_is_404_for_every_verb(sw: SignalWorld) -> None:
    where = f"/api/v1/strategies/{sw.strategy_id}/signal-key"
    assert sw.client.get(where, headers=sw.owner(sw.bob)).status_code == 404
    assert sw.client.post(where, headers=sw.owner(sw.bob)).status_code == 404
    assert (
        sw.client.post(where, params={"rotate": "true"}, headers=sw.owner(sw.bob)).status_code
        == 404
    )
    missing = "/api/v1/strategies/999999/signal-key"
    assert sw.client.get(missing, headers=sw.owner(sw.bob)).status_code == 404
    assert sw.client.get(where).status_code == 401  # no login
    # Alice's URL still works: bob's attempts changed nothing.
    assert sw.post({"secret": sw.secret, "time": stamp()}).status_code == 202


def test_a_server_without_a_master_key_cannot_make_or_check_one(sw: SignalWorld) -> None:
    sw.ctx.vault = None
    made = sw.client.post(
        f"/api/v1/strategies/{sw.alice.strategy_id}/signal-key", headers=sw.owner(sw.alice)
    )
    assert made.status_code == 503 and "master key" in made.json()["message"]
    answer = sw.post({"secret": sw.secret, "time": stamp()})
    assert answer.status_code == 503 and sw.secret not in answer.text


def test_accept_signal_never_quotes_the_body(sw: SignalWorld) -> None:
    """The service's own errors (what a caller other than the route would see)."""
    body = b'{"secret": "' + sw.secret.encode() + b'", "time": 5}'
    token = sw.url.rsplit("/", 1)[1]
    with pytest.raises(ValidationError) as err:
        accept_signal(sw.repo, sw.ctx.vault, token, body, signature=None, now=NOW)
    assert err.value.field == "time"
    assert sw.secret not in str(err.value) and sw.secret not in repr(err.value)
