"""The config's `retention:` section as the value persistence and the writer work with."""

from __future__ import annotations

from config.schema import RetentionConfig
from persistence.retention import RetentionPolicy


def retention_policy(settings: RetentionConfig) -> RetentionPolicy:
    return RetentionPolicy(
        events_days=settings.events_days,
        audit_days=settings.audit_days,
        batch_rows=settings.batch_rows,
        interval_s=settings.interval_minutes * 60.0,
    )
