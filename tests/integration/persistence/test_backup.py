"""Backups and restores on both databases: what goes in, what comes out, and what is refused.

The running service's side (a backup while it trades, the restored copy trading on) is the drill
in tests/e2e/test_backup_drill.py; here the database is seeded through the repository.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import inspect, update

from domain import codec
from domain.market import MarketRules
from domain.secrets import Credentials, Secret
from exchange.paper import PaperVenue
from persistence import models as m
from persistence.backup import BackupResult, create_backup, verify
from persistence.backup_archive import BackupError, read_archive, write_archive
from persistence.backup_restore import restore_backup
from persistence.credentials import load_credentials, store_credentials
from persistence.database import make_engine
from persistence.migrate import upgrade
from persistence.provision import mysql_database_exists
from persistence.sql_repository import SqlRepository
from persistence.vault import Vault, generate_key, parse_keyring
from strategy.params import MartingaleParams
from strategy.state import Book, initial_state
from tests.integration.persistence.helpers import T0, at, fill_of, intent, onboard, open_cycle

VAULT = Vault(parse_keyring(generate_key(1), source="test"))
CREDS = Credentials(
    api_key=Secret("PLAINKEY-7f3Qz-backup"), secret=Secret("PLAINSECRET-9kX2-backup")
)
NOW = datetime(2026, 12, 7, 13, 5, 1, tzinfo=UTC)


def _seed(url: str, venue_file: Path) -> dict[str, int]:
    """A user with a sealed live key and a strategy holding one filled base order (snapshot,
    fill and open cycle that agree), and a paper venue file with an account."""
    upgrade(url)
    engine = make_engine(url)
    try:
        repo = SqlRepository(engine)
        uid, _, sid = onboard(repo)
        live = repo.upsert_account(uid, "live", exchange="binance", now=T0)
        store_credentials(repo, VAULT, live.id, CREDS, now=T0)
        params = MartingaleParams.from_mapping(
            {
                "base_order": "10",
                "safety_order": "20",
                "max_safety_orders": 2,
                "price_deviation": "1",
                "take_profit": "1",
            }
        )
        state = initial_state(sid, "ETH/USDT", params, MarketRules(symbol="ETH/USDT"))
        base = intent(sid, 1, "b")
        repo.save_step(
            sid,
            snapshot=codec.dumps(
                replace(state, cycle=1, book=Book(bought=Decimal("0.0999"), spent=Decimal("10")))
            ),
            expected_version=0,
            now=at(1),
            new_orders=[base, intent(sid, 1, "s1", price="95")],
            fills=[fill_of(base.order, "T1", "0.1")],
            cycle=open_cycle(1),
        )
    finally:
        engine.dispose()
    venue = PaperVenue(venue_file)
    venue.open_account("alice/main", balances={"USDT": Decimal("1000")}, fee_rate=Decimal("0.001"))
    venue.close()
    return {"user": uid, "account": live.id, "strategy": sid}


def _backup(url: str, tmp_path: Path) -> BackupResult:
    return create_backup(
        url,
        output=tmp_path / "backups",
        paper_file=tmp_path / "paper.sqlite",
        keep=None,
        version="test",
        now=NOW,
    )


def test_a_backup_restores_whole_into_an_empty_database(
    db_url: str, second_db_url: str, tmp_path: Path
) -> None:
    ids = _seed(db_url, tmp_path / "paper.sqlite")
    result = _backup(db_url, tmp_path)
    assert result.path.name == "martingale-20261207T130501Z.tar.gz"
    manifest = result.manifest
    assert manifest.db_kind == ("sqlite" if db_url.startswith("sqlite") else "mysql")
    assert manifest.tables["fills"] == 1 and manifest.tables["orders"] == 2
    assert manifest.paper_tables is not None and manifest.paper_tables["accounts"] == 1

    venue_copy = tmp_path / "restored" / "paper.sqlite"
    restored = restore_backup(result.path, second_db_url, paper_file=venue_copy)
    assert restored.problems == [] and restored.kept
    assert verify(second_db_url) == []
    engine = make_engine(second_db_url)
    try:  # the ciphertext came back bound to the same user and account: it still opens
        assert load_credentials(SqlRepository(engine), VAULT, ids["account"]) == CREDS
    finally:
        engine.dispose()
    venue = PaperVenue(venue_copy)
    try:
        assert venue.balances("alice/main")["USDT"].free == Decimal("1000")
    finally:
        venue.close()


def test_a_backup_holds_ciphertexts_only(db_url: str, tmp_path: Path) -> None:
    _seed(db_url, tmp_path / "paper.sqlite")
    raw = _backup(db_url, tmp_path).path.read_bytes()
    contents = [raw, gzip.decompress(raw)]
    with tarfile.open(fileobj=io.BytesIO(raw), mode="r:gz") as tar:
        for member in tar:
            handle = tar.extractfile(member)
            assert handle is not None
            contents.append(handle.read())
    for secret in (CREDS.api_key, CREDS.secret):
        plain = secret.reveal().encode()
        assert not any(plain in blob for blob in contents), "a plaintext key is in the backup"
    assert any(b"credentials_ciphertext" in blob for blob in contents)


def test_a_non_empty_target_is_refused_by_name_unless_forced(
    db_url: str, second_db_url: str, tmp_path: Path
) -> None:
    _seed(db_url, tmp_path / "paper.sqlite")
    archive = _backup(db_url, tmp_path).path
    venue_copy = tmp_path / "restored" / "paper.sqlite"
    assert restore_backup(archive, second_db_url, paper_file=venue_copy).problems == []
    with pytest.raises(BackupError, match=r"not empty: it holds .*strategies \(1 rows\)"):
        restore_backup(archive, second_db_url, paper_file=venue_copy)
    forced = restore_backup(archive, second_db_url, paper_file=venue_copy, force=True)
    assert forced.problems == [] and verify(second_db_url) == []


def _tables(url: str) -> list[str]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return sorted(inspect(conn).get_table_names())
    finally:
        engine.dispose()


def _target_is_empty(url: str) -> bool:
    if url.startswith("sqlite"):
        path = Path(url.removeprefix("sqlite:///"))
        return not path.exists() and not any(p.suffix == ".tmp" for p in path.parent.glob("*"))
    return not mysql_database_exists(url) or _tables(url) == []


def test_a_damaged_archive_is_refused_and_nothing_is_restored(
    db_url: str, second_db_url: str, tmp_path: Path
) -> None:
    _seed(db_url, tmp_path / "paper.sqlite")
    archive = _backup(db_url, tmp_path).path
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    venue_copy = tmp_path / "restored" / "paper.sqlite"
    with pytest.raises(BackupError, match="not a readable backup archive"):
        restore_backup(truncated, second_db_url, paper_file=venue_copy)

    # A part changed after the manifest was written: the checksums catch it.
    manifest, parts = read_archive(archive, _dir(tmp_path / "parts"))
    for name, path in parts.items():
        if name != "paper.sqlite":
            path.write_bytes(path.read_bytes().replace(b"alice", b"mallo"))
    altered = write_archive(tmp_path / "altered.tar.gz", manifest, parts)
    with pytest.raises(BackupError, match=r"database\.s\w+ is damaged \(sha256"):
        restore_backup(altered, second_db_url, paper_file=venue_copy)
    assert _target_is_empty(second_db_url) and not venue_copy.exists()


def test_a_restore_that_fails_verification_leaves_nothing_behind(
    db_url: str, second_db_url: str, tmp_path: Path
) -> None:
    _seed(db_url, tmp_path / "paper.sqlite")
    manifest, parts = read_archive(_backup(db_url, tmp_path).path, _dir(tmp_path / "parts"))
    lying = replace(manifest, tables={**manifest.tables, "fills": 2})
    archive = write_archive(tmp_path / "lying.tar.gz", lying, parts)
    venue_copy = tmp_path / "restored" / "paper.sqlite"

    result = restore_backup(archive, second_db_url, paper_file=venue_copy)
    assert result.problems == ["rows: table fills has 1, the backup had 2"]
    assert not result.kept and _target_is_empty(second_db_url) and not venue_copy.exists()

    kept = restore_backup(archive, second_db_url, paper_file=venue_copy, keep_unverified=True)
    assert kept.kept and kept.problems == result.problems and venue_copy.exists()


def test_a_backup_restores_only_into_its_own_kind(db_url: str, tmp_path: Path) -> None:
    _seed(db_url, tmp_path / "paper.sqlite")
    archive = _backup(db_url, tmp_path).path
    other = (
        "mysql+pymysql://root@127.0.0.1:3306/never_made"
        if db_url.startswith("sqlite")
        else f"sqlite:///{tmp_path / 'other.sqlite'}"
    )
    with pytest.raises(BackupError, match=r"holds a \w+ database, and the target is \w+"):
        restore_backup(archive, other, paper_file=tmp_path / "venue.sqlite")
    assert not (tmp_path / "other.sqlite").exists() and not (tmp_path / "venue.sqlite").exists()


def test_verify_names_each_broken_invariant(db_url: str, tmp_path: Path) -> None:
    ids = _seed(db_url, tmp_path / "paper.sqlite")
    assert verify(db_url) == []
    engine = make_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(update(m.FILLS).values(amount=Decimal("0.2")))
            conn.execute(update(m.CYCLES).values(status="closed", realized_profit=Decimal("1")))
    finally:
        engine.dispose()
    problems = verify(db_url)
    sid = ids["strategy"]
    assert f"strategy {sid} (eth): position 0.0999 but its fills add up to 0.1999" in problems
    assert any(p.startswith(f"strategy {sid}: open order mg{sid}c1b") for p in problems)
    assert any(
        p.startswith(f"strategy {sid} cycle 1: profit 1 but its fills make") for p in problems
    )
    # The cycle was closed behind the repository's back: the strategy's totals do not say so.
    assert f"strategy {sid} (eth): totals say 0 closed cycles and 0 profit, its cycles 1 and 1" in (
        problems
    )


def _dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
