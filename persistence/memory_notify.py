"""In-memory repository, notification targets (issue 16); see `persistence.repository`."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from domain.notifications import NotifyEvent
from persistence.memory_accounts import MemoryAccounts
from persistence.memory_state import utc
from persistence.records_notify import NotificationTarget, SealedUrl
from persistence.sql_notify import checked_source


class MemoryNotifications(MemoryAccounts):
    """Mixed into `MemoryRepository`."""

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
        checked_source(source)
        with self._tx() as s:
            self.get_user(user_id)
            found = next(
                (t for t in s.targets.values() if t.user_id == user_id and t.name == name), None
            )
            record = NotificationTarget(
                id=found.id if found is not None else self._id(),
                user_id=user_id,
                name=name,
                scheme=scheme,
                events=frozenset(events),
                enabled=enabled,
                sealed=sealed,
                created_at=found.created_at if found is not None else utc(now),
                updated_at=utc(now),
                source=source,
            )
            s.targets[record.id] = record
            return record

    def list_notification_targets(
        self, *, user_id: int | None = None, not_key_version: int | None = None
    ) -> list[NotificationTarget]:
        users = self._s.users
        found = [
            t
            for t in self._s.targets.values()
            if (
                t.user_id == user_id
                if user_id is not None
                else not_key_version is not None or not users[t.user_id].deleted
            )
            and (not_key_version is None or t.sealed.key_version != not_key_version)
        ]
        return sorted(found, key=lambda t: (t.user_id, t.name))

    def delete_notification_target(self, user_id: int, name: str) -> bool:
        with self._tx() as s:
            for key, t in s.targets.items():
                if t.user_id == user_id and t.name == name:
                    del s.targets[key]
                    return True
            return False

    def reseal_notification_target(
        self, target_id: int, *, expected_ciphertext: str, sealed: SealedUrl
    ) -> bool:
        with self._tx() as s:
            current = s.targets.get(target_id)
            if current is None or current.sealed.ciphertext != expected_ciphertext:
                return False
            s.targets[target_id] = replace(current, sealed=sealed)
            return True
