"""`martingale db prune` end to end on both databases: ages from options or the config file."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from app.cli import main
from persistence.database import make_engine
from persistence.records import AuditEntry, JournalEntry
from persistence.sql_repository import SqlRepository
from tests.integration.persistence.helpers import TestEvent, onboard


@pytest.fixture
def history(db_url: str) -> Iterator[SqlRepository]:
    """Events and audit rows 400, 100, 40, 10 and 1 days old (the CLI prunes by today's date)."""
    assert main(["db", "upgrade", "--db", db_url]) == 0
    engine = make_engine(db_url)
    repo = SqlRepository(engine)
    uid, _, sid = onboard(repo)
    now = datetime.now(UTC)
    times = [now - timedelta(days=d) for d in (400, 100, 40, 10, 1)]
    repo.append_events(
        [
            JournalEntry(
                strategy_id=sid, event=TestEvent(name="e", price=Decimal(1)), occurred_at=t
            )
            for t in times
        ]
    )
    repo.append_audit(
        [AuditEntry(at=t, level="info", event="e", message="m", user_id=uid) for t in times]
    )
    try:
        yield repo
    finally:
        engine.dispose()


def test_ages_from_the_options(
    history: SqlRepository, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["db", "prune", "--db", db_url, "--events-days", "30", "--batch-rows", "2"])
    out = capsys.readouterr().out
    assert code == 0
    assert "events: deleted 3 row(s) older than" in out
    assert "audit_log: deleted 1 row(s) older than" in out  # the default: 365 days
    assert history.count_rows("events") == 2 and history.count_rows("audit_log") == 4
    assert history.count_rows("fills") == 0 and history.count_rows("strategies") == 1


def test_ages_from_the_config_file(
    history: SqlRepository, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "service.yaml"
    config.write_text(
        f"database:\n  url: {db_url}\nretention:\n  events_days: null\n  audit_days: 5\n"
    )
    assert main(["db", "prune", "--config", str(config)]) == 0
    out = capsys.readouterr().out
    assert "audit_log: deleted 4 row(s)" in out and "events:" not in out
    assert history.count_rows("events") == 5 and history.count_rows("audit_log") == 1


def test_bad_input_is_refused_before_anything_is_deleted(
    history: SqlRepository, db_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["db", "prune", "--db", db_url, "--events-days", "0"])
    assert exit_info.value.code == 2
    assert "argument --events-days: must be a whole number of days" in capsys.readouterr().err
    config = tmp_path / "service.yaml"
    config.write_text(f"database:\n  url: {db_url}\nretention:\n  events_days: 0\n")
    assert main(["db", "prune", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("martingale db prune: error: ") and "retention.events_days" in err
    assert history.count_rows("events") == 5 and history.count_rows("audit_log") == 5


def test_a_missing_or_unreachable_database_is_an_error_without_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["db", "prune", "--db", f"sqlite:///{tmp_path}/none.sqlite"]) == 1
    assert "the database does not exist yet" in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite").exists()
    url = "mysql+pymysql://bot:hunter2-secret@127.0.0.1:1/martingale"
    assert main(["db", "prune", "--db", url]) == 1
    err = capsys.readouterr().err
    assert err.startswith("martingale db prune: error: ") and "hunter2" not in err
