"""The repository's notification targets (issue 16; see `persistence.repository` for the
contract). URLs come here as ciphertext only: the vault seals and opens them
(`persistence.notify_targets`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from domain.notifications import NotifyEvent
from persistence.records_notify import NotificationTarget, SealedUrl


class NotifyRepository(Protocol):
    """Where a user's notifications go."""

    # --- notification targets (issue 16; ciphertext only, the vault seals and opens) ------
    def save_notification_target(
        self,
        user_id: int,
        name: str,
        *,
        scheme: str,
        sealed: SealedUrl,
        events: frozenset[NotifyEvent],
        enabled: bool,
        now: datetime,
        source: str = "api",
    ) -> NotificationTarget:
        """Create the user's target `name`, or replace it whole (its `created_at` stays).
        `source` "config" or "api" (ValidationError field="source"); NotFound for no user."""
        ...

    def list_notification_targets(
        self, *, user_id: int | None = None, not_key_version: int | None = None
    ) -> list[NotificationTarget]:
        """The targets of one user (None: of every user not deleted), by user then name; with
        `not_key_version`, only those sealed under another master key version, deleted users'
        too (a rotation must move every row before the old key goes)."""
        ...

    def delete_notification_target(self, user_id: int, name: str) -> bool:
        """Delete the user's target `name`; False when it has none of that name."""
        ...

    def reseal_notification_target(
        self, target_id: int, *, expected_ciphertext: str, sealed: SealedUrl
    ) -> bool:
        """Swap the ciphertext if it is still `expected_ciphertext`; False if it changed."""
        ...
