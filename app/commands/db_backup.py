"""`martingale db backup | restore | verify`: online backups, restores that check themselves,
and the ledger's invariants on a live database (the logic is in persistence/backup*.py).

The database comes from --db, else a config file's database.url (--config), else
$MARTINGALE_DATABASE_URL, else the default SQLite file; the paper venue's file from
--paper-state, else the config file's paper.state_file. Exit status: 0 done, 2 bad input (a URL,
a config file, an option), 1 anything else, a failed verification included.
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from pathlib import Path
from typing import Any

from app.commands.db_url import add_db_option, url_of
from config.loader import load_config
from config.paper_schema import DEFAULT_PAPER_STATE_FILE
from domain.errors import ConfigurationError, MartingaleError
from persistence.backup import create_backup, verify
from persistence.backup_restore import restore_backup
from services.database import url_problem

DEFAULT_OUTPUT = Path("var/backups")


def register_actions(db_sub: Any) -> None:
    backup: argparse.ArgumentParser = db_sub.add_parser(
        "backup",
        help="write a consistent backup of the database (and paper venue) while trading",
        description=(
            "Write one archive, martingale-<UTC time>.tar.gz, holding the database as of one "
            "instant (SQLite: the online backup API; MySQL: mysqldump --single-transaction, no "
            "table locks, credentials in a private option file), the paper venue's file when "
            "the deployment has one, and a manifest (version, schema revision, database kind, "
            "rows per table, sha256 of each part). The service may keep trading meanwhile. "
            "Credentials are in it only as ciphertext; the master key is never included: keep "
            "it apart. The archive is written under a temporary name and renamed into place."
        ),
        epilog=(
            "examples:\n"
            "  martingale db backup --config config/examples/paper.yaml --keep 14\n"
            "  martingale db backup --db mysql+pymysql://bot:pw@127.0.0.1/martingale "
            "--output /srv/backups/"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _sources(backup)
    backup.add_argument(
        "--output",
        metavar="FILE-or-DIR",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"a directory for a timestamped archive, or a file name ending .tar.gz "
        f"(default: {DEFAULT_OUTPUT}/)",
    )
    backup.add_argument(
        "--keep",
        metavar="N",
        type=_positive_int,
        help="then delete all but the newest N archives named martingale-<time>.tar.gz there",
    )
    backup.set_defaults(handler=handle_backup)

    restore: argparse.ArgumentParser = db_sub.add_parser(
        "restore",
        help="restore a backup into an empty database and verify it",
        description=(
            "Restore FILE into an empty database of the same kind (a non-empty one is refused, "
            "naming what it holds, unless --force) and the paper venue's file to its place, "
            "then verify: schema at the latest revision, rows per table as in the manifest, "
            "and the ledger invariants (see `db verify`). All or nothing: a restore that fails "
            "to load or to verify leaves nothing behind. Stop the service first."
        ),
        epilog="example:\n  martingale db restore var/backups/martingale-20261207T130501Z.tar.gz "
        "--config config/examples/paper.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    restore.add_argument("file", metavar="FILE", type=Path, help="the backup archive")
    _sources(restore)
    restore.add_argument(
        "--force",
        action="store_true",
        help="replace a database (and venue file) that is not empty: what it holds is lost",
    )
    restore.add_argument(
        "--keep-unverified",
        action="store_true",
        help="keep a copy that loaded but failed verification (still exits 1)",
    )
    restore.set_defaults(handler=handle_restore)

    check: argparse.ArgumentParser = db_sub.add_parser(
        "verify",
        help="check the schema and the ledger invariants of a database",
        description=(
            "Check, in one consistent read (safe while the service trades): the schema is at "
            "the latest revision; every strategy's position equals what its fills add up to; "
            "every open order belongs to an open cycle; each closed cycle's profit equals what "
            "its fills make (by the engine's own accounting); each strategy's running totals "
            "(closed cycles, their profit) are those of its cycles. Prints each problem; exit 1 "
            "if any."
        ),
    )
    _sources(check, paper=False)
    check.set_defaults(handler=handle_verify)


def _sources(parser: argparse.ArgumentParser, *, paper: bool = True) -> None:
    add_db_option(parser)
    parser.add_argument(
        "--config",
        metavar="FILE",
        help="take database.url (unless --db) and paper.state_file from this config file",
    )
    if paper:
        parser.add_argument(
            "--paper-state",
            metavar="FILE",
            type=Path,
            help="the paper venue's file (default: the config's paper.state_file; restore "
            f"without --config: {DEFAULT_PAPER_STATE_FILE})",
        )


def _settings(args: argparse.Namespace) -> tuple[str, Path | None]:
    """(database URL, paper venue file or None); raises ConfigurationError for a bad file."""
    paper: Path | None = getattr(args, "paper_state", None)
    config = load_config(args.config) if args.config else None
    if config is not None:
        paper = paper or Path(config.paper.state_file)
    return url_of(args, config), paper


def _target(args: argparse.Namespace, action: str) -> tuple[str, Path | None] | int:
    """(database URL, paper venue file) from the options, or the exit status of the error said
    about them (2: a bad config file or URL)."""
    try:
        url, paper = _settings(args)
    except ConfigurationError as exc:
        return _fail(action, exc, 2)
    if (problem := url_problem(url)) is not None:
        return _fail(action, f"database URL: {problem}", 2)
    return url, paper


def handle_backup(args: argparse.Namespace) -> int:
    target = _target(args, "backup")
    if isinstance(target, int):
        return target
    url, paper = target
    try:
        result = create_backup(
            url,
            output=args.output,
            paper_file=paper,
            keep=args.keep,
            version=_version(),
            now=datetime.now(UTC),
        )
    except (MartingaleError, ValueError, OSError) as exc:
        return _fail("backup", exc, 1)
    manifest = result.manifest
    rows = sum(manifest.tables.values())
    venue = "with" if manifest.paper_tables is not None else "without"
    print(
        f"wrote {result.path} ({result.path.stat().st_size:,} bytes, {manifest.db_kind} at "
        f"revision {manifest.revision}, {rows:,} rows, {venue} the paper venue) "
        f"in {result.seconds:.2f} s"
    )
    for note in manifest.notes:
        print(f"note: {note}")
    for path in result.pruned:
        print(f"deleted {path} (--keep {args.keep})")
    return 0


def handle_restore(args: argparse.Namespace) -> int:
    target = _target(args, "restore")
    if isinstance(target, int):
        return target
    url, paper = target
    try:
        result = restore_backup(
            args.file,
            url,
            paper_file=paper or DEFAULT_PAPER_STATE_FILE,
            force=args.force,
            keep_unverified=args.keep_unverified,
        )
    except (MartingaleError, ValueError, OSError) as exc:
        return _fail("restore", exc, 1)
    manifest = result.manifest
    for problem in result.problems:
        print(f"martingale db restore: verify: {problem}", file=sys.stderr)
    if result.problems:
        kept = "kept (--keep-unverified)" if result.kept else "removed; nothing was restored"
        return _fail("restore", f"verification failed ({len(result.problems)}); the copy {kept}", 1)
    venue = f" and the paper venue to {result.paper_file}" if result.paper_file else ""
    print(
        f"restored {args.file.name} ({manifest.db_kind}, revision {manifest.revision}, "
        f"{sum(manifest.tables.values()):,} rows){venue} in {result.seconds:.2f} s; verified: "
        "schema at head, row counts as backed up, ledger invariants hold"
    )
    return 0


def handle_verify(args: argparse.Namespace) -> int:
    target = _target(args, "verify")
    if isinstance(target, int):
        return target
    url, _ = target
    try:
        problems = verify(url)
    except (MartingaleError, ValueError) as exc:
        return _fail("verify", exc, 1)
    for problem in problems:
        print(problem)
    if problems:
        return _fail("verify", f"{len(problems)} problems", 1)
    print(
        "schema at head; positions equal fills; open orders in open cycles; "
        "profits and totals match"
    )
    return 0


def _version() -> str:
    try:
        return package_version("martingale")
    except PackageNotFoundError:  # pragma: no cover - run from a source tree without install
        return "unknown"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _fail(action: str, exc: Exception | str, status: int) -> int:
    print(f"martingale db {action}: error: {exc}", file=sys.stderr)
    return status
