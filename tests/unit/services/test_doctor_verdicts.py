"""The doctor's verdicts on values as read: MySQL settings, clock skew, key reports, the schema
revision, the key file, and how they add up to an exit status. Pure: no server is needed to
give a setting any value (MySQL's globals cannot be changed safely in a test)."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest

from domain.keys import KeyReport
from persistence.migrate import head_revision
from persistence.readonly import POOL_RECYCLE_S, MysqlSettings
from services.doctor.database import judge_mysql, judge_revision
from services.doctor.keys import key_file_check
from services.doctor.report import Report, Status, fail, na, ok, skip, warn
from services.doctor.venues import judge_key, judge_skew

SANE = MysqlSettings(
    table_engines={"users": "InnoDB", "accounts": "InnoDB"},
    flush_log_at_trx_commit=1,
    log_bin=True,
    sync_binlog=1,
    wait_timeout=28_800,
)


def statuses(settings: MysqlSettings) -> dict[str, Status]:
    return {c.name: c.status for c in judge_mysql(settings)}


def test_a_sane_mysql_server_passes_every_check() -> None:
    assert set(statuses(SANE).values()) == {Status.OK}


def test_a_table_that_is_not_innodb_fails_and_is_named() -> None:
    checks = judge_mysql(replace(SANE, table_engines={"users": "InnoDB", "events": "MyISAM"}))
    (engines,) = [c for c in checks if c.name == "mysql.engines"]
    assert engines.status is Status.FAIL
    assert "events (MyISAM)" in engines.message and "users" not in engines.message


@pytest.mark.parametrize("value", [0, 2])
def test_a_redo_log_not_flushed_at_every_commit_fails(value: int) -> None:
    assert statuses(replace(SANE, flush_log_at_trx_commit=value))["mysql.flush_log"] is Status.FAIL


@pytest.mark.parametrize(
    ("log_bin", "sync", "expected"),
    [
        (True, 0, Status.FAIL),  # the OS decides: any number of commits lost
        (True, 100, Status.WARN),  # at most 99 lost: a trade-off, not a fault
        (True, 1, Status.OK),
        (False, 0, Status.NA),  # no binary log: nothing to sync
    ],
)
def test_sync_binlog_is_judged_only_when_the_binary_log_is_on(
    log_bin: bool, sync: int, expected: Status
) -> None:
    settings = replace(SANE, log_bin=log_bin, sync_binlog=sync)
    assert statuses(settings)["mysql.sync_binlog"] is expected


@pytest.mark.parametrize(
    ("wait_timeout", "expected"),
    [(POOL_RECYCLE_S, Status.WARN), (60, Status.WARN), (POOL_RECYCLE_S + 1, Status.OK)],
)
def test_wait_timeout_must_outlast_the_pools_recycle_time(
    wait_timeout: int, expected: Status
) -> None:
    assert statuses(replace(SANE, wait_timeout=wait_timeout))["mysql.wait_timeout"] is expected
    assert POOL_RECYCLE_S == 1800  # persistence/database.py's MYSQL_POOL_RECYCLE_S


@pytest.mark.parametrize(
    ("skew", "expected"),
    [
        (0.0, Status.OK),
        (0.49, Status.OK),
        (-0.49, Status.OK),
        (0.5, Status.WARN),
        (-0.5, Status.WARN),
        (0.99, Status.WARN),
        (1.0, Status.FAIL),  # ahead by a second: binance refuses signed requests
        (-4.99, Status.WARN),
        (-5.0, Status.FAIL),  # behind by the receive window
    ],
)
def test_clock_skew_bounds(skew: float, expected: Status) -> None:
    check = judge_skew("clock:x", skew, 0.01)
    assert check.status is expected
    assert ("ahead of" if skew >= 0 else "behind") in check.message


def test_key_reports_become_verdicts() -> None:
    def verdict(**flags: bool | None) -> Status:
        report = KeyReport.from_permissions(
            can_trade=flags.get("trade", True),
            can_withdraw=flags.get("withdraw", False),
            ip_restricted=flags.get("ip", True),
        )
        return judge_key("key:a/b", "binance@live", report).status

    assert verdict() is Status.OK
    assert verdict(withdraw=True) is Status.FAIL
    assert verdict(trade=False) is Status.FAIL
    assert verdict(ip=False) is Status.WARN
    assert verdict(ip=None, withdraw=None) is Status.OK  # unknown is not a warning
    assert judge_key("key:a/b", "kraken@live", None).status is Status.NA


def test_the_schema_revision_is_judged_against_this_versions_head() -> None:
    assert judge_revision(head_revision()).status is Status.OK
    behind = judge_revision("0007")
    assert behind.status is Status.FAIL and "martingale db upgrade" in (behind.action or "")
    assert judge_revision(None).status is Status.FAIL
    newer = judge_revision("9999")
    assert newer.status is Status.FAIL and "does not know" in newer.message


def test_the_key_file_must_be_private_and_owned_by_the_user_running_the_check(
    tmp_path: Path,
) -> None:
    key = tmp_path / "master.key"
    assert key_file_check(key).status is Status.FAIL  # missing
    key.write_text("v1:x\n")
    key.chmod(0o640)
    shared = key_file_check(key)
    assert shared.status is Status.FAIL and "640" in shared.message
    key.chmod(0o600)
    assert key_file_check(key).status is Status.OK
    other = key_file_check(key, uid=os.geteuid() + 1)
    assert other.status is Status.FAIL and "owned by uid" in other.message
    assert key_file_check(None).status is Status.NA


def test_exit_status_is_0_only_when_every_check_is_ok_or_not_applicable() -> None:
    assert Report.of([ok("a", "x"), na("b", "y")]).exit_status == 0
    for bad in (warn("c", "z"), fail("c", "z"), skip("c", "z")):
        report = Report.of([ok("a", "x"), bad])
        assert report.exit_status == 1
        assert report.worst is bad.status
        assert report.as_json()["ok"] is False
    assert Report.of([warn("a", "x"), fail("b", "y")]).worst is Status.FAIL


def test_a_line_names_the_status_the_check_and_what_to_do() -> None:
    line = fail("schema", "behind", "run the upgrade").line()
    assert line == "FAIL  schema: behind; run the upgrade"
    assert Report.of([ok("a", "x")]).text().endswith("doctor: all is well (1 ok)")
