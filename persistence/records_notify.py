"""The values the repository hands out about users' notification targets (issue 16).

A target's apprise URL holds a bot token or a password, so it is stored only as AES-GCM
ciphertext (`persistence.vault.Vault.seal_url`), and `NotificationTarget` carries the
ciphertext without ever showing it (repr), beside what may be shown: its name, the URL's
scheme, the events it wants and whether it is enabled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from domain.notifications import NotifyEvent

TARGET_SOURCES = frozenset({"config", "api"})


@dataclass(frozen=True, slots=True, kw_only=True)
class SealedUrl:
    """An apprise URL sealed by the vault; the ciphertext is not shown by repr."""

    ciphertext: str = field(repr=False)
    key_version: int


@dataclass(frozen=True, slots=True, kw_only=True)
class NotificationTarget:
    """One target of one user. `source`: "config" (a config file's sync manages it: it is
    deleted when the file no longer names it) or "api" (the REST API's; a sync leaves it)."""

    id: int
    user_id: int
    name: str
    scheme: str
    events: frozenset[NotifyEvent]
    enabled: bool
    sealed: SealedUrl = field(repr=False)
    created_at: datetime
    updated_at: datetime
    source: str = "api"


def events_text(events: frozenset[NotifyEvent]) -> str:
    """How a target's events are stored: sorted names, comma separated."""
    return ",".join(sorted(e.value for e in events))


def events_of(text: str) -> frozenset[NotifyEvent]:
    """The stored events, skipping any this version does not know (a newer version's)."""
    known = {e.value for e in NotifyEvent}
    return frozenset(NotifyEvent(v) for v in text.split(",") if v in known)
