"""``certkeeper backup`` / ``restore`` for the embedded mode: a consistent snapshot of the
SQLite database (the sqlite3 online backup API, safe while all-in-one runs) and the key file,
in one tar archive.

The archive holds ``manifest.json``, ``certkeeper.db`` and, when the keys live in the data
directory, ``encryption.keys``. It is written 0600: with the key file inside, it opens every
stored private key. Keys given in ``CERTKEEPER_ENCRYPTION_KEYS`` are not in the archive;
back them up where they are kept.
"""

from __future__ import annotations

import io
import json
import os
import sqlite3
import tarfile
import tempfile
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.engine import make_url

from shared.config import Settings
from shared.crypto import KEY_FILE_NAME
from shared.db import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE
from shared.version import VERSION

MANIFEST = "manifest.json"
DATABASE = "certkeeper.db"
FORMAT = 1
_MEMBERS = {MANIFEST, DATABASE, KEY_FILE_NAME}


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class EmbeddedFiles:
    database: Path
    key_file: Path

    @classmethod
    def of(cls, settings: Settings) -> EmbeddedFiles:
        if not settings.embedded_database:
            raise BackupError(
                "backup and restore are for the embedded mode (SQLite); back up Postgres with "
                "pg_dump and keep CERTKEEPER_ENCRYPTION_KEYS in your secret store"
            )
        database = make_url(settings.sqlalchemy_url).database
        if not database or database == ":memory:":
            raise BackupError("the embedded database is in memory: nothing to back up")
        return cls(Path(database), settings.data_dir / KEY_FILE_NAME)


def backup_path(target: Path, now: datetime) -> Path:
    """``target`` itself, or a timestamped archive inside it when it is a directory."""
    if target.is_dir():
        return target / f"certkeeper-backup-{now.strftime('%Y%m%dT%H%M%SZ')}.tar"
    return target


def create_backup(settings: Settings, target: Path, now: datetime) -> Path:
    files = EmbeddedFiles.of(settings)
    if not _is_database(files.database):
        raise BackupError(f"no database at {files.database}")
    output = backup_path(target, now)
    with tempfile.TemporaryDirectory(prefix="certkeeper-backup-") as scratch:
        snapshot = Path(scratch) / DATABASE
        _snapshot(files.database, snapshot)
        manifest = {
            "format": FORMAT,
            "certkeeper_version": VERSION,
            "created_at": now.astimezone(UTC).isoformat(),
            "schema_revision": _schema_revision(snapshot),
            "key_file": files.key_file.is_file(),
        }
        try:
            fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        except FileExistsError:
            raise BackupError(f"{output} exists; choose another name") from None
        except OSError as exc:
            raise BackupError(f"cannot write {output}: {exc.strerror}") from None
        with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w") as archive:
            _add_bytes(archive, MANIFEST, json.dumps(manifest, indent=2).encode())
            archive.add(snapshot, arcname=DATABASE)
            if files.key_file.is_file():
                _add_bytes(archive, KEY_FILE_NAME, files.key_file.read_bytes())
    return output


def restore_backup(settings: Settings, archive_path: Path, *, force: bool) -> dict[str, object]:
    """Put the archive's database (and key file) in place; returns its manifest. Refuses to
    replace a database that holds data, or a different key file, unless ``force``."""
    files = EmbeddedFiles.of(settings)
    members = _read_archive(archive_path)
    manifest = json.loads(members[MANIFEST])
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{archive_path}: unknown backup format {manifest.get('format')!r}")
    if not force and _is_database(files.database):
        raise BackupError(
            f"{files.database} holds a database; stop Certkeeper and restore with --force "
            "to replace it"
        )
    new_keys = members.get(KEY_FILE_NAME)
    if (new_keys is not None and not force and files.key_file.is_file()
            and files.key_file.read_bytes() != new_keys):
        raise BackupError(f"{files.key_file} holds other keys; restore with --force to replace")
    files.database.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    staged = _stage(files.database, members[DATABASE])
    for leftover in _sidecars(files.database):
        leftover.unlink(missing_ok=True)  # an old -wal would be replayed into the restored file
    os.replace(staged, files.database)
    if new_keys is not None:
        os.replace(_stage(files.key_file, new_keys), files.key_file)
    return dict(manifest)


def _is_database(path: Path) -> bool:
    """A database with content (the server creates an empty file before its first start)."""
    return path.is_file() and path.stat().st_size > 0


def _sidecars(database: Path) -> list[Path]:
    return [Path(f"{database}{suffix}") for suffix in ("-wal", "-shm", "-journal")]


def _snapshot(source: Path, destination: Path) -> None:
    """One consistent copy, even while other connections write (sqlite3 backup API)."""
    try:
        with (
            closing(sqlite3.connect(source, timeout=30)) as src,
            closing(sqlite3.connect(destination)) as dst,
        ):
            src.backup(dst)
            _check_integrity(dst, str(source))
    except sqlite3.Error as exc:
        raise BackupError(f"cannot read {source}: {exc}") from None


def _check_integrity(connection: sqlite3.Connection, what: str) -> None:
    (verdict,) = connection.execute("PRAGMA integrity_check").fetchone()
    if verdict != "ok":
        raise BackupError(f"{what} fails SQLite's integrity check: {verdict}")


def _schema_revision(database: Path) -> str | None:
    with closing(sqlite3.connect(database)) as connection:
        try:
            row = connection.execute("SELECT version_num FROM alembic_version").fetchone()
        except sqlite3.Error:
            row = None
    return None if row is None else str(row[0])


def _add_bytes(archive: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), PRIVATE_FILE_MODE
    archive.addfile(info, io.BytesIO(data))


def _read_archive(path: Path) -> dict[str, bytes]:
    """The archive's known members as bytes; nothing is extracted to a path it names."""
    try:
        with tarfile.open(path, mode="r") as archive:
            members: dict[str, bytes] = {}
            for member in archive.getmembers():
                if member.name not in _MEMBERS or not member.isfile():
                    raise BackupError(f"{path}: unexpected member {member.name!r}")
                stream = archive.extractfile(member)
                if stream is not None:
                    members[member.name] = stream.read()
    except (OSError, tarfile.TarError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from None
    if MANIFEST not in members or DATABASE not in members:
        raise BackupError(f"{path} is not a Certkeeper backup (no manifest or database)")
    return members


def _stage(final: Path, data: bytes) -> Path:
    """``data`` in a 0600 file beside ``final`` (same file system, so the rename is atomic);
    a database is checked before it may replace anything."""
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.name}.", suffix=".restore")
    staged = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(staged, PRIVATE_FILE_MODE)
        if final.name != KEY_FILE_NAME:
            with closing(sqlite3.connect(staged)) as connection:
                _check_integrity(connection, "the backup's database")
    except (sqlite3.Error, BackupError) as exc:
        staged.unlink(missing_ok=True)
        raise BackupError(f"the backup's database is damaged: {exc}") from None
    except BaseException:
        staged.unlink(missing_ok=True)
        raise
    return staged
