"""Times as the paper venue keeps them: integer microseconds since the epoch, UTC, so they sort
and compare exactly (in its file and in memory alike)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch; a naive datetime is taken as UTC."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - EPOCH) // _US


def from_us(micros: int) -> datetime:
    return EPOCH + timedelta(microseconds=micros)
