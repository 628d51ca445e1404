"""SQL repository, notification targets (issue 16): ciphertext in, ciphertext out; the vault
seals and opens (`persistence.notify_targets`)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, select, update

from domain.errors import ValidationError
from domain.notifications import NotifyEvent
from persistence import models as m
from persistence.records_notify import (
    TARGET_SOURCES,
    NotificationTarget,
    SealedUrl,
    events_of,
    events_text,
)
from persistence.sql_base import SqlBase, get_row

_TARGETS = m.NOTIFICATION_TARGETS


def checked_source(source: str) -> str:
    if source not in TARGET_SOURCES:
        raise ValidationError(
            f"source must be one of {sorted(TARGET_SOURCES)}, got {source!r}", field="source"
        )
    return source


def target(row: m.NotificationTarget | Any) -> NotificationTarget:
    return NotificationTarget(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        scheme=row.scheme,
        events=events_of(row.events),
        enabled=bool(row.enabled),
        sealed=SealedUrl(ciphertext=row.url_ciphertext, key_version=row.url_key_version),
        created_at=row.created_at.astimezone(UTC),
        updated_at=row.updated_at.astimezone(UTC),
        source=row.source,
    )


class SqlNotifications(SqlBase):
    """Mixed into `SqlRepository`; see `persistence.repository` for the contract."""

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
        with self._write("save notification target") as s:
            get_row(s, m.User, user_id, "user")
            row = s.scalar(
                select(m.NotificationTarget).where(
                    m.NotificationTarget.user_id == user_id, m.NotificationTarget.name == name
                )
            )
            if row is None:
                row = m.NotificationTarget(user_id=user_id, name=name, created_at=now)
                s.add(row)
            row.scheme = scheme
            row.url_ciphertext = sealed.ciphertext
            row.url_key_version = sealed.key_version
            row.events = events_text(events)
            row.enabled = enabled
            row.source = source
            row.updated_at = now
            s.flush()
            return target(row)

    def list_notification_targets(
        self, *, user_id: int | None = None, not_key_version: int | None = None
    ) -> list[NotificationTarget]:
        with self._rows("list notification targets") as conn:
            query = select(_TARGETS).order_by(_TARGETS.c.user_id, _TARGETS.c.name)
            if user_id is not None:
                query = query.where(_TARGETS.c.user_id == user_id)
            elif not_key_version is None:
                query = query.join(m.USERS, m.USERS.c.id == _TARGETS.c.user_id).where(
                    m.USERS.c.deleted_at.is_(None)
                )
            if not_key_version is not None:
                query = query.where(_TARGETS.c.url_key_version != not_key_version)
            return [target(r) for r in conn.execute(query)]

    def delete_notification_target(self, user_id: int, name: str) -> bool:
        with self._write("delete notification target") as s:
            result = s.execute(
                delete(m.NotificationTarget)
                .where(m.NotificationTarget.user_id == user_id, m.NotificationTarget.name == name)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]

    def reseal_notification_target(
        self, target_id: int, *, expected_ciphertext: str, sealed: SealedUrl
    ) -> bool:
        with self._write("reseal notification target") as s:
            result = s.execute(
                update(m.NotificationTarget)
                .where(
                    m.NotificationTarget.id == target_id,
                    m.NotificationTarget.url_ciphertext == expected_ciphertext,
                )
                .values(url_ciphertext=sealed.ciphertext, url_key_version=sealed.key_version)
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount == 1)  # type: ignore[attr-defined]
