"""`martingale doctor`: check a deployment without changing anything.

The exchange clients are built here, in the composition root: a keyless client per venue for
its clock, and one with the account's key for what the key may do. Neither retries (one answer
is what the check needs, and a venue that does not answer should not hold the doctor for a
minute), and neither is ever asked to place or cancel an order.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from app.commands.db_url import add_db_option, database_url
from config.schema import MASTER_KEY_ENV
from domain.secrets import Credentials
from exchange.ccxt_adapter import CcxtConfig, CcxtExchange
from exchange.port import Exchange
from exchange.resilience.retry import NO_RETRY
from services.doctor.run import DoctorInput, VenueClients, diagnose
from services.doctor.venues import Venue, VenueClock

TIMEOUT_MS = 5_000

DESCRIPTION = f"""\
Check a deployment without changing anything: no migration, no write (the
database is opened read-only), no order. One line per check: ok, n/a (does
not apply here), warn (works, but needs action), FAIL (broken or unsafe), or
skip (could not be checked because of a failure above), with what to do.

Checks: the config file (as `martingale run` validates it); the database is
reachable and at the latest migration; on MySQL, every table InnoDB,
innodb_flush_log_at_trx_commit = 1, sync_binlog = 1 when the binary log is on,
wait_timeout above the connection pool's recycle time; the master key
(master_key_file or ${MASTER_KEY_ENV}) is there and decrypts every stored API
key, strategy signal secret and notification target URL (rows that do not are
named, never shown); the key file is private to its
owner, the user running the doctor; each exchange's clock (this machine ahead
by 1 s or behind by 5 s fails, 0.5 s either way warns); each stored key's
permissions where the exchange reports them (can withdraw: FAIL, no IP
restriction: warn).

Exit status: 0 when every check is ok or n/a; 1 when any check warns, fails
or was skipped (anything that needs action); 2 for bad arguments.
"""

EPILOG = f"""\
examples:
  martingale doctor --config config/examples/paper.yaml
  martingale doctor --db mysql+pymysql://bot:pw@127.0.0.1/martingale --json
  {MASTER_KEY_ENV}=... martingale doctor --config live.yaml
"""


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "doctor",
        help="check a deployment (config, database, keys, exchanges) without changing it",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--config",
        metavar="FILE",
        default=None,
        help="the service's config file; its database.url and master_key_file are checked",
    )
    add_db_option(parser)
    parser.add_argument(
        "--master-key-file",
        metavar="FILE",
        default=None,
        help=f"the master key file to check, instead of the config's master_key_file "
        f"(default: the config's, else ${MASTER_KEY_ENV})",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print {"ok": bool, "worst": status, "checks": [{name, status, message, action}]}',
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.config and args.db:
        print(
            "martingale doctor: error: give --config or --db, not both (the config file names "
            "its database)",
            file=sys.stderr,
        )
        return 2
    given = DoctorInput(
        config_path=args.config,
        db_url=None if args.config else database_url(args),
        master_key_file=Path(args.master_key_file) if args.master_key_file else None,
        env=dict(os.environ),
    )
    report = diagnose(given, VenueClients(clock_for=public_clock, keyed_for=keyed_client))
    print(json.dumps(report.as_json(), indent=2) if args.json else report.text())
    return report.exit_status


def public_clock(venue: Venue) -> VenueClock:
    return CcxtExchange(_config(venue), retry=NO_RETRY)


def keyed_client(venue: Venue, credentials: Credentials) -> Exchange:
    return CcxtExchange(_config(venue, credentials), retry=NO_RETRY)


def _config(venue: Venue, credentials: Credentials | None = None) -> CcxtConfig:
    settings: dict[str, Any] = {
        "sandbox": venue.sandbox,
        "base_url": venue.base_url,
        "timeout_ms": TIMEOUT_MS,
    }
    if credentials is None:
        return CcxtConfig(exchange_id=venue.exchange, **settings)
    return CcxtConfig.for_account(venue.exchange, credentials, **settings)
