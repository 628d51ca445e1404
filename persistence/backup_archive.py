"""The backup archive: one `martingale-<UTC time>.tar.gz` holding a manifest and its parts.

Why one file: a backup is copied, listed and pruned as a unit, and a half-written one must never
look like a good one. It is written under a temporary name in the destination directory and
renamed into place (atomic on one filesystem), so a crash leaves at worst a `.tmp` file that no
listing or pruning takes for a backup. The manifest names every part with its sha256: a restore
checks them before it touches a database, so a truncated or altered archive is refused whole.

Parts: `database.sqlite` (a SQLite copy made with the online backup API) or `database.sql` (a
mysqldump), and `paper.sqlite` (the paper venue's file) when the deployment has one.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import tempfile
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.errors import FatalError

FORMAT = 1
MANIFEST = "manifest.json"
SQLITE_PART = "database.sqlite"
MYSQL_PART = "database.sql"
PAPER_PART = "paper.sqlite"
PARTS = frozenset({SQLITE_PART, MYSQL_PART, PAPER_PART})
NAME_RE = re.compile(r"^martingale-(\d{8}T\d{6}Z)\.tar\.gz$")
_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_CHUNK = 1 << 20


class BackupError(FatalError):
    """A backup or restore that cannot go on; the message names the file and what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Manifest:
    """What a restore checks against: the kind of database, its schema revision and row counts
    (per table, at the instant of the snapshot), and each part's sha256."""

    created_at: str
    version: str
    revision: str | None
    db_kind: str  # "sqlite" or "mysql"
    tables: dict[str, int]
    parts: dict[str, str]  # part name -> sha256
    paper_tables: dict[str, int] | None = None
    format: int = FORMAT
    notes: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True)

    @staticmethod
    def from_json(text: str, where: str) -> Manifest:
        try:
            data: Any = json.loads(text)
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r}, expected {FORMAT}")
            return Manifest(**data)
        except (ValueError, TypeError) as exc:
            raise BackupError(
                f"{where}: its manifest is not one this version reads ({exc})"
            ) from None


def archive_name(at: datetime) -> str:
    """`martingale-20261207T130501Z.tar.gz` for `at` (any timezone; named in UTC)."""
    return f"martingale-{at.astimezone(UTC).strftime(_TIME_FORMAT)}.tar.gz"


def archive_time(name: str) -> datetime | None:
    """The UTC time in a backup's file name; None for a name that is not a backup's."""
    match = NAME_RE.match(name)
    if match is None:
        return None
    return datetime.strptime(match[1], _TIME_FORMAT).replace(tzinfo=UTC)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def write_archive(dest: Path, manifest: Manifest, parts: dict[str, Path]) -> Path:
    """Write `dest` atomically: a temporary file beside it, fsynced, then renamed over it."""
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz", compresslevel=6) as tar:
                body = manifest.to_json().encode("utf-8")
                info = tarfile.TarInfo(MANIFEST)
                info.size, info.mtime, info.mode = (
                    len(body),
                    int(datetime.now(UTC).timestamp()),
                    0o600,
                )
                with tempfile.TemporaryFile() as buffer:
                    buffer.write(body)
                    buffer.seek(0)
                    tar.addfile(info, buffer)
                for name, path in parts.items():
                    tar.add(str(path), arcname=name, recursive=False, filter=_private)
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, dest)
        _fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return dest


def _private(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.mode = 0o600
    return info


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def prune(directory: Path, keep: int) -> list[Path]:
    """Delete all but the newest `keep` backups in `directory` (by the time in their names);
    files not named like a backup are never touched. Returns what was deleted."""
    if keep < 1:
        raise ValueError("keep must be at least 1")
    backups = sorted(p for p in directory.iterdir() if p.is_file() and archive_time(p.name))
    doomed = backups[:-keep]
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def read_archive(path: Path, workdir: Path) -> tuple[Manifest, dict[str, Path]]:
    """Unpack `path` into `workdir` and check it whole: a manifest, only known parts, each one
    the manifest lists present with its sha256. Raises BackupError naming what is wrong."""
    if not path.is_file():
        raise BackupError(f"{path}: no such backup file")
    extracted: dict[str, Path] = {}
    text: str | None = None
    try:
        with tarfile.open(path, mode="r:gz") as tar:
            for member in tar:
                if member.name == MANIFEST and member.isfile():
                    handle = tar.extractfile(member)
                    text = handle.read().decode("utf-8") if handle is not None else None
                    continue
                if member.name not in PARTS or not member.isfile():
                    raise BackupError(f"{path}: unexpected entry {member.name!r}; not a backup")
                target = workdir / member.name
                source = tar.extractfile(member)
                if source is None:  # pragma: no cover - isfile() above
                    continue
                with source, target.open("wb") as out:
                    while chunk := source.read(_CHUNK):
                        out.write(chunk)
                extracted[member.name] = target
    except (tarfile.TarError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise BackupError(
            f"{path}: not a readable backup archive (damaged or not a .tar.gz): {exc}"
        ) from None
    if text is None:
        raise BackupError(f"{path}: has no {MANIFEST}; not a martingale backup")
    manifest = Manifest.from_json(text, str(path))
    for name, expected in manifest.parts.items():
        part = extracted.get(name)
        if part is None:
            raise BackupError(f"{path}: the part {name} its manifest lists is missing")
        if sha256_of(part) != expected:
            raise BackupError(f"{path}: the part {name} is damaged (sha256 differs from manifest)")
    unlisted = sorted(set(extracted) - set(manifest.parts))
    if unlisted:
        raise BackupError(f"{path}: parts not in its manifest: {', '.join(unlisted)}")
    return manifest, extracted
