"""The `notifications:` entries of a user in the config file (issue 16)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from config.notify_schema import NotificationConfig
from domain.notifications import DEFAULT_EVENTS

URL = "tgram://123456789:AAsecretInTheFile/42"


def test_the_defaults_are_every_event_but_safety_filled_and_enabled() -> None:
    target = NotificationConfig.model_validate({"name": "tg", "url_env": "TG_URL"})
    assert set(target.events) == {e.value for e in DEFAULT_EVENTS}
    assert target.enabled is True


@pytest.mark.parametrize("key", ["url", "token", "password", "webhook"])
def test_a_url_or_token_in_the_file_is_refused_without_repeating_it(key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        NotificationConfig.model_validate({"name": "tg", key: URL})
    message = "; ".join(e["msg"] for e in caught.value.errors())
    assert f"plaintext secret '{key}'" in message and "url_env" in message
    assert URL not in message


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"name": "tg"}, "needs url_env"),
        ({"name": "tg", "url_env": "A", "url_file": "f"}, "not both"),
        ({"name": "tg", "url_env": "A", "events": ["nope"]}, "unknown event 'nope'"),
        ({"name": "tg", "url_env": "A", "events": []}, "at least one event"),
        ({"name": "two words", "url_env": "A"}, "letters, digits"),
    ],
)
def test_bad_entries_say_what_is_wrong(entry: dict[str, object], problem: str) -> None:
    with pytest.raises(ValidationError, match=problem):
        NotificationConfig.model_validate(entry)
