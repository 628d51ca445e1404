"""The `notifications:` list of a user in the onboarding file (issue 16).

A target's apprise URL holds a bot token or a password, so the file only names where it is:
`url_env` (an environment variable) or `url_file` (a file readable by its owner only), read
by `config.notify_secrets`; a `url:` written in the file is refused like any plaintext secret.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field, field_validator, model_validator

from config.fields import EnvName, SecretFileRef, StrictModel
from domain.notifications import DEFAULT_EVENTS, EVENT_NAMES, parse_events, target_name_problem

# Keys that would put the URL (or a part of it) in the file.
_PLAINTEXT = frozenset({"url", "apprise_url", "token", "password", "secret", "webhook"})


def _refuse_url(data: Any) -> Any:
    if isinstance(data, dict):
        for key in data:
            if key in _PLAINTEXT:
                raise ValueError(
                    f"plaintext secret '{key}' is refused: a notification URL holds a bot token "
                    "or a password, and config files get copied, committed and logged. Put the "
                    "URL in an environment variable and write 'url_env: VAR_NAME', or in a file "
                    "readable only by you and write 'url_file: path/to/file'"
                )
    return data


class NotificationConfig(StrictModel):
    """One target: `events` defaults to every event but `safety_filled` (see
    `domain.notifications.NotifyEvent` for the names)."""

    name: str
    url_env: EnvName | None = None
    url_file: SecretFileRef | None = None
    events: list[str] = Field(default_factory=lambda: sorted(e.value for e in DEFAULT_EVENTS))
    enabled: bool = True

    _no_plaintext = model_validator(mode="before")(_refuse_url)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        problem = target_name_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    @field_validator("events")
    @classmethod
    def _events(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"list at least one event of: {', '.join(EVENT_NAMES)}")
        parse_events(value)
        return value

    @model_validator(mode="after")
    def _one_source(self) -> NotificationConfig:
        if self.url_env is not None and self.url_file is not None:
            raise ValueError("give either url_env or url_file, not both")
        if self.url_env is None and self.url_file is None:
            raise ValueError(
                "a notification target needs url_env (an environment variable name) or "
                "url_file (a file path) holding its apprise URL"
            )
        return self
