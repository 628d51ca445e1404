"""The running service prunes old journal events and audit rows on its writer, while its
engines trade and write beside it, and keeps everything newer and the ledger."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from app.bootstrap import Service, Tuning
from config.loader import load_config
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.records import AuditEntry, EventRecord, JournalEntry
from persistence.sql_repository import SqlRepository
from services.onboarding import sync_config
from tests.integration.app.conftest import SIMULATED_ETH_BTC, alice_eth_btc, wait
from tests.integration.persistence.helpers import TestEvent


def test_the_service_prunes_old_rows_while_it_trades(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    path = tmp_path / "service.yaml"
    body = alice_eth_btc(SIMULATED_ETH_BTC, paper=tmp_path / "paper.sqlite")
    retention = "retention:\n  events_days: 30\n  audit_days: 60\n  batch_rows: 100\n"
    path.write_text(f"database:\n  url: {url}\n{retention}{body}", encoding="utf-8")
    upgrade(url)
    engine = make_engine(url)
    try:
        repo = SqlRepository(engine)
        config = load_config(path)
        now = datetime.now(UTC)
        sync_config(config, repo, None, now=now)
        (strategy,) = repo.list_strategies()
        old = [now - timedelta(days=90, minutes=i) for i in range(450, 0, -1)]
        repo.append_events(
            [
                JournalEntry(
                    strategy_id=strategy.id, event=TestEvent(name="old", price=Decimal(1)),
                    occurred_at=t,
                )
                for t in old
            ]
        )  # fmt: skip
        audits = [now - timedelta(days=45), now - timedelta(days=70)]
        repo.append_audit(
            [AuditEntry(at=t, level="info", event="old", message="m") for t in audits]
        )
        service = Service(config, vault=None, tuning=Tuning(poll_interval=0.2, prune_first_after=0))
        service.start()
        try:
            wait(lambda: repo.count_rows("events") < 450, "the first prune batches")
            wait(lambda: len(repo.list_orders(strategy.id)) > 0, "the engine to trade")
            wait(
                lambda: all(e.occurred_at > now - timedelta(days=30) for e in _events(repo)),
                "every old event to be pruned",
            )
            wait(lambda: _old_audits(repo) == [audits[0]], "the 70-day-old audit row to go")
        finally:
            service.stop()
        assert _events(repo), "the engine's own events were kept"
        assert repo.list_orders(strategy.id) and repo.get_strategy(strategy.id).last_error is None
    finally:
        engine.dispose()


def _events(repo: SqlRepository) -> list[EventRecord]:
    (strategy,) = repo.list_strategies()
    return repo.recent_events(strategy.id, limit=10_000)


def _old_audits(repo: SqlRepository) -> list[datetime]:
    return [r.entry.at for r in repo.recent_audit(limit=10_000) if r.entry.event == "old"]


def test_no_pruning_when_disabled_or_every_table_is_kept(tmp_path: Path) -> None:
    for retention in ("enabled: false", "events_days: null\n  audit_days: null"):
        path = tmp_path / "service.yaml"
        path.write_text(f"retention:\n  {retention}\n", encoding="utf-8")
        assert Service(load_config(path), vault=None)._pruning() is None
