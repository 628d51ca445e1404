"""`martingale db upgrade`: bring a database to the schema this version needs (`db backup`,
`db restore` and `db verify` are registered here from `db_backup`, `db prune` from
`db_prune`)."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.commands import db_backup, db_prune
from app.commands.db_url import add_db_option, url_of
from config.loader import load_config
from domain.errors import ConfigurationError, MartingaleError
from persistence.database import parse_url
from persistence.migrate import head_revision, upgrade
from persistence.provision import create_mysql_database
from services.database import url_problem


def register(sub: Any) -> None:
    db: argparse.ArgumentParser = sub.add_parser(
        "db",
        help="database maintenance (migrations, backups, restores, verification, pruning)",
        description="Database maintenance.",
    )
    db_sub = db.add_subparsers(dest="db_command", metavar="ACTION", required=True)
    up: argparse.ArgumentParser = db_sub.add_parser(
        "upgrade",
        help="migrate the database to the latest schema",
        description=(
            "Migrate the database to the schema this version of martingale needs, creating it "
            "if it does not exist (SQLite: the file and its directory; MySQL: the database, "
            "utf8mb4 with a binary collation, which needs the CREATE privilege). Safe to run "
            "again: a database already at the latest revision is left as it is. The service "
            "refuses to start on a database that is behind and tells you to run this."
        ),
        epilog=(
            "examples:\n"
            "  martingale db upgrade\n"
            "  martingale db upgrade --db sqlite:///var/martingale.sqlite\n"
            "  martingale db upgrade --config /etc/martingale/martingale.yaml\n"
            "  MARTINGALE_DATABASE_URL=mysql+pymysql://bot:pw@127.0.0.1/martingale "
            "martingale db upgrade"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_db_option(up)
    up.add_argument(
        "--config",
        metavar="FILE",
        help="take database.url (with database.password_env/_file) from this config file, "
        "unless --db is given",
    )
    up.set_defaults(handler=handle_upgrade)
    db_backup.register_actions(db_sub)
    db_prune.register(db_sub)


def handle_upgrade(args: argparse.Namespace) -> int:
    try:
        url = url_of(args, load_config(args.config) if args.config else None)
    except ConfigurationError as error:
        print(f"martingale db upgrade: error: {error}", file=sys.stderr)
        return 2
    problem = url_problem(url)
    if problem is not None:
        print(f"martingale db upgrade: error: database URL: {problem}", file=sys.stderr)
        return 2
    try:
        if create_mysql_database(url):
            print(f"created the MySQL database {parse_url(url).database!r}")
        revision = upgrade(url)
    except (MartingaleError, ValueError) as error:
        print(f"martingale db upgrade: error: {error}", file=sys.stderr)
        return 1
    print(f"database is at revision {revision} (latest: {head_revision()})")
    return 0
