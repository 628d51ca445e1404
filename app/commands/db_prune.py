"""`martingale db prune`: delete journal events and audit rows older than the retention ages.

The service prunes by itself (its database writer, every `retention.interval_minutes`); this
is the same prune on demand, for a service that runs with `retention.enabled: false`, or a
first clean-up of a large database before the service's small passes take over. It may run
while the service does: each transaction deletes at most `--batch-rows` rows, so the service's
writer waits for one short transaction at most (on SQLite for the write lock, on MySQL for
nothing: new rows are never in the deleted id range).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime
from typing import Any

from app.commands.db_url import add_db_option, url_of
from app.retention import retention_policy
from config.loader import load_config
from config.schema import RetentionConfig
from domain.errors import ConfigurationError, MartingaleError
from persistence.database import make_engine
from persistence.migrate import check_at_head
from persistence.retention import PruneRun
from persistence.sql_retention import SqlPruner
from services.database import missing_database, url_problem

PROGRESS_EVERY_S = 30.0
NAME = "martingale db prune"


def register(db_sub: Any) -> None:
    parser: argparse.ArgumentParser = db_sub.add_parser(
        "prune",
        help="delete events and audit rows older than the retention ages",
        description=(
            "Delete the strategies' journal events and the audit log rows older than their "
            "retention age, a few thousand rows per transaction, so it can run beside the "
            "service. Cycles, orders and fills (the ledger) are never deleted. The ages come "
            "from --events-days / --audit-days, else from the config file's `retention:` "
            "section (--config), else the defaults (events 90 days, audit rows 365 days); a "
            "table whose age is null in the config is kept."
        ),
        epilog=(
            "examples:\n"
            "  martingale db prune --config config/examples/paper.yaml\n"
            "  martingale db prune --db sqlite:///var/martingale.sqlite --events-days 30\n"
            "  MARTINGALE_DATABASE_URL=mysql+pymysql://bot:pw@127.0.0.1/martingale "
            "martingale db prune"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db_option(parser)
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="read database.url (unless --db is given) and the retention: ages from this file",
    )
    parser.add_argument("--events-days", type=_days, metavar="N", help="keep N days of events")
    parser.add_argument("--audit-days", type=_days, metavar="N", help="keep N days of audit rows")
    parser.add_argument(
        "--batch-rows",
        type=_rows,
        metavar="N",
        help="rows per transaction (default: the config's retention.batch_rows, else 2000)",
    )
    parser.set_defaults(handler=handle_prune)


def _days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of days, at least 1: {text!r}")
    return int(text)


def _rows(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 50_000:
        raise argparse.ArgumentTypeError(f"must be a whole number from 1 to 50000: {text!r}")
    return int(text)


def handle_prune(args: argparse.Namespace) -> int:
    try:
        settings, url = _settings(args)
    except ConfigurationError as exc:
        return _fail(exc, 2)
    problem = url_problem(url)
    if problem is not None:
        return _fail(f"database URL: {problem}", 2)
    policy = retention_policy(settings)
    cutoffs = policy.cutoffs(datetime.now(UTC))
    if not cutoffs:
        print("nothing to prune: every table is kept for good (retention ages are null)")
        return 0
    try:
        missing = missing_database(url)
        if missing is not None:
            return _fail(missing, 1)
        check_at_head(url)
        engine = make_engine(url)
        try:
            _prune(PruneRun(SqlPruner(engine, batch_rows=policy.batch_rows), cutoffs))
        finally:
            engine.dispose()
    except MartingaleError as exc:
        return _fail(exc, 1)
    return 0


def _settings(args: argparse.Namespace) -> tuple[RetentionConfig, str]:
    """The retention settings and the database URL, from the options over the config file."""
    config = load_config(args.config) if args.config is not None else None
    settings = config.retention if config is not None else RetentionConfig()
    url = url_of(args, config)
    changes = {
        key: value
        for key, value in (
            ("events_days", args.events_days),
            ("audit_days", args.audit_days),
            ("batch_rows", args.batch_rows),
        )
        if value is not None
    }
    return settings.model_copy(update=changes), url


def _prune(run: PruneRun) -> None:
    """Every batch of the run, a progress line now and then, and a summary per table."""
    cutoffs = dict(run.cutoffs)
    started = last = time.perf_counter()
    while run.step():
        now = time.perf_counter()
        if now - last >= PROGRESS_EVERY_S:
            last = now
            so_far = ", ".join(f"{table} {n:,}" for table, n in run.deleted.items())
            print(f"... {so_far} rows deleted so far", flush=True)
    elapsed = max(time.perf_counter() - started, 1e-9)
    for table, cutoff in cutoffs.items():
        print(
            f"{table}: deleted {run.deleted[table]:,} row(s) older than "
            f"{cutoff.isoformat(timespec='seconds')}"
        )
    total = sum(run.deleted.values())
    print(
        f"{run.batches} transaction(s) in {elapsed:.1f} s ({total / elapsed:,.0f} rows/s); "
        f"longest transaction {run.longest_s * 1000:.1f} ms"
    )


def _fail(exc: Exception | str, status: int) -> int:
    print(f"{NAME}: error: {exc}", file=sys.stderr)
    return status
