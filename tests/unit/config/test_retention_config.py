"""The `retention:` section: defaults, null for keep-for-good, and errors naming the field."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from app.retention import retention_policy
from config.loader import ConfigError
from config.schema import ServiceConfig
from tests.unit.config.conftest import MINIMAL

LoadError = Callable[[str], ConfigError]
NOW = datetime(2024, 7, 1, tzinfo=UTC)


def test_defaults_keep_90_days_of_events_and_a_year_of_audit_rows(
    load_ok: Callable[[str], ServiceConfig],
) -> None:
    retention = load_ok(MINIMAL).retention
    assert (retention.events_days, retention.audit_days) == (90, 365)
    assert retention.enabled and retention.interval_minutes == 60 and retention.batch_rows == 2000
    policy = retention_policy(retention)
    assert policy.cutoffs(NOW) == {
        "events": NOW - timedelta(days=90),
        "audit_log": NOW - timedelta(days=365),
        "signals": NOW - timedelta(days=90),  # webhook signals go with the events
    }
    assert policy.interval_s == 3600


def test_null_keeps_a_table_for_good(load_ok: Callable[[str], ServiceConfig]) -> None:
    config = load_ok(MINIMAL + "retention:\n  events_days: 7\n  audit_days: null\n")
    assert retention_policy(config.retention).cutoffs(NOW) == {
        "events": NOW - timedelta(days=7),
        "signals": NOW - timedelta(days=7),
    }


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("events_days: 0", "retention.events_days: must be at least 1 (days); write null"),
        ("audit_days: -5", "retention.audit_days: must be at least 1 (days)"),
        ("events_days: 1.5", "retention.events_days: Input should be a valid integer"),
        ("events_days: yes", "retention.events_days: must be a whole number, not true/false"),
        ("batch_rows: 10", "retention.batch_rows: Input should be greater than or equal to 100"),
        ("batch_rows: 100000", "retention.batch_rows: Input should be less than or equal to 50000"),
        ("interval_minutes: 0", "retention.interval_minutes: Input should be greater than"),
        ("event_days: 30", "retention.event_days: unknown key 'event_days' (did you mean"),
    ],
)
def test_a_bad_value_names_the_field_and_line(
    load_error: LoadError, body: str, message: str
) -> None:
    error = load_error(MINIMAL + "retention:\n  " + body + "\n")
    assert len(error.problems) == 1, str(error)
    line = len(MINIMAL.strip("\n").splitlines()) + 2
    assert f":{line}: {message}" in str(error)
