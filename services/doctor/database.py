"""The doctor's look at the database: reachable, at the migration head, and on MySQL set up so
that a committed row survives a crash.

What counts as sane on MySQL, and why (DESIGN rule 3: an order's intent is committed before the
exchange is called, so a commit the server forgets is an order the service no longer knows of):

- every table InnoDB: the only engine here with transactions and crash recovery; a MyISAM table
  would make "whole or nothing" writes half-written after an error or a crash;
- innodb_flush_log_at_trx_commit = 1: the redo log is flushed to disk at every commit. With 2 an
  OS crash or power loss forgets about the last second of commits, with 0 a mysqld crash does;
- sync_binlog = 1 when the binary log is on: the binlog feeds replicas and point-in-time
  recovery; 0 leaves flushing to the OS (a crash can lose any amount), so a replica promoted
  after a crash can lack orders the service placed: FAIL. N > 1 loses at most N-1 commits,
  a trade-off some operators make on purpose with a battery-backed disk cache: warn;
- wait_timeout above the pool's recycle time (`POOL_RECYCLE_S`): the pool replaces a
  connection after that long anyway; a shorter wait_timeout makes the server close idle pooled
  connections first. Pre-ping hides it (a reconnect, and an "aborted connection" in the server
  log each time), so it is a warning. The service lock's own connection raises its session
  timeout itself and is not affected.
"""

from __future__ import annotations

from domain.errors import MartingaleError
from persistence.migrate import head_revision, is_known_revision
from persistence.readonly import POOL_RECYCLE_S, MysqlSettings, ReadOnlyDatabase
from services.database import missing_database, url_problem
from services.doctor.report import Check, fail, na, ok, skip, warn

UPGRADE = "run `martingale db upgrade --db URL` (after a backup)"
MYSQL_CONFIG = "in the [mysqld] section of the server's config, and SET GLOBAL it for now"


def open_database(url: str) -> tuple[list[Check], ReadOnlyDatabase | None]:
    """The database and schema checks, and the database opened read-only for the checks that
    read rows (None when it cannot be used)."""
    problem = url_problem(url)
    if problem is not None:
        return [fail("database", f"database URL: {problem}"), skip("schema", "no database")], None
    try:
        missing = missing_database(url)
    except MartingaleError as error:
        return [_unreachable(error), skip("schema", "database unreachable")], None
    if missing is not None:
        return [fail("database", missing), skip("schema", "no database")], None
    database = ReadOnlyDatabase(url)
    try:
        revision = database.revision()
    except MartingaleError as error:
        database.close()
        return [_unreachable(error), skip("schema", "database unreachable")], None
    kind = "SQLite file" if database.backend == "sqlite" else "MySQL server"
    checks = [ok("database", f"reachable ({kind}, opened read-only)"), judge_revision(revision)]
    return checks, database


def _unreachable(error: MartingaleError) -> Check:
    return fail(
        "database",
        f"cannot read the database: {error}",
        "check that the server is up and the URL's host, user and password are right",
    )


def judge_revision(revision: str | None) -> Check:
    head = head_revision()
    if revision == head:
        return ok("schema", f"at the latest migration ({head})")
    if revision is None:
        return fail("schema", f"the database has no schema yet (latest: {head})", UPGRADE)
    if not is_known_revision(revision):
        return fail(
            "schema",
            f"the database is at revision {revision}, which this version does not know: a newer "
            "martingale migrated it",
            "run the martingale version that migrated it (never downgrade in place)",
        )
    return fail(
        "schema", f"the database is at revision {revision}, this version needs {head}", UPGRADE
    )


def mysql_checks(database: ReadOnlyDatabase) -> list[Check]:
    if database.backend != "mysql":
        return [na("mysql", "a SQLite database: the MySQL server settings do not apply")]
    try:
        settings = database.mysql_settings()
    except MartingaleError as error:
        return [fail("mysql", f"cannot read the server's settings: {error}")]
    return judge_mysql(settings)


def judge_mysql(settings: MysqlSettings, *, pool_recycle_s: int = POOL_RECYCLE_S) -> list[Check]:
    """The verdicts on settings as read (pure: tests give it any values)."""
    return [
        _engines(settings.table_engines),
        _flush_log(settings.flush_log_at_trx_commit),
        _sync_binlog(settings.log_bin, settings.sync_binlog),
        _wait_timeout(settings.wait_timeout, pool_recycle_s),
    ]


def _engines(table_engines: dict[str, str]) -> Check:
    name = "mysql.engines"
    if not table_engines:
        return skip(name, "the database has no tables yet")
    others = {t: e for t, e in table_engines.items() if e.lower() != "innodb"}
    if not others:
        return ok(name, f"all {len(table_engines)} tables are InnoDB")
    listed = ", ".join(f"{t} ({e or 'unknown'})" for t, e in sorted(others.items()))
    return fail(
        name,
        f"{len(others)} table(s) not InnoDB, so without transactions or crash recovery: {listed}",
        "after a backup, ALTER TABLE <table> ENGINE=InnoDB for each, and set "
        "default_storage_engine=InnoDB",
    )


def _flush_log(value: int) -> Check:
    name = "mysql.flush_log"
    if value == 1:
        return ok(name, "innodb_flush_log_at_trx_commit = 1: every commit is on disk")
    loses = "an OS crash or power loss" if value == 2 else "a crash of mysqld"
    return fail(
        name,
        f"innodb_flush_log_at_trx_commit = {value}: {loses} can lose about a second of "
        "committed rows, order intents among them",
        f"set innodb_flush_log_at_trx_commit = 1 {MYSQL_CONFIG}",
    )


def _sync_binlog(log_bin: bool, value: int) -> Check:
    name = "mysql.sync_binlog"
    if not log_bin:
        return na(name, "the binary log is off (no replica or point-in-time recovery to feed)")
    if value == 1:
        return ok(name, "sync_binlog = 1: the binary log is on disk at every commit")
    action = f"set sync_binlog = 1 {MYSQL_CONFIG}"
    if value == 0:
        return fail(
            name,
            "sync_binlog = 0: the OS decides when the binary log reaches the disk, so after a "
            "crash a replica or a point-in-time restore can lack any number of committed orders",
            action,
        )
    return warn(
        name,
        f"sync_binlog = {value}: a crash can lose up to {value - 1} commits from the binary log "
        "(sane only with a battery-backed disk cache)",
        action,
    )


def _wait_timeout(value: int, pool_recycle_s: int) -> Check:
    name = "mysql.wait_timeout"
    if value > pool_recycle_s:
        return ok(
            name, f"wait_timeout = {value} s, above the pool's {pool_recycle_s} s recycle time"
        )
    return warn(
        name,
        f"wait_timeout = {value} s is not above the pool's {pool_recycle_s} s recycle time: the "
        "server closes idle pooled connections, each replaced by a reconnect",
        f"set wait_timeout to more than {pool_recycle_s} (e.g. 28800, the default) {MYSQL_CONFIG}",
    )
