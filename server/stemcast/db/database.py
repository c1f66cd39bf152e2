"""The SQLite file: opening it and applying versioned migrations at start.

Migrations are the `NNN_name.sql` files beside this module, applied in order, each in
its own transaction together with its row in `schema_version`, so a crash mid-way
leaves the file at the previous version, never half-migrated.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import aiosqlite

from stemcast.db.busy import DEFAULT_BUSY_TIMEOUT_S

log = logging.getLogger(__name__)

_MIGRATION_NAME = re.compile(r"^(\d{3})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str


class MigrationError(RuntimeError):
    pass


def utc_now() -> str:
    """Timestamps are ISO 8601 UTC strings with a Z, as in the seeds' callbacks."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def load_migrations() -> list[Migration]:
    folder = resources.files("stemcast.db.migrations")
    migrations = []
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            migrations.append(Migration(int(match.group(1)), entry.name, entry.read_text()))
    migrations.sort(key=lambda m: m.version)
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise MigrationError(f"migrations must be numbered 001, 002, ... without gaps: {versions}")
    return migrations


async def current_version(conn: aiosqlite.Connection) -> int:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT MAX(version) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


async def migrate(conn: aiosqlite.Connection, migrations: list[Migration] | None = None) -> int:
    """Bring the file up to the newest schema; returns the version it is at."""
    migrations = load_migrations() if migrations is None else migrations
    version = await current_version(conn)
    await conn.commit()
    newest = migrations[-1].version if migrations else 0
    if version > newest:
        raise MigrationError(
            f"the database is at schema version {version}, newer than this stemcast "
            f"knows ({newest}); upgrade stemcast or use another --data-dir"
        )
    for migration in migrations:
        if migration.version <= version:
            continue
        log.info("applying database migration %s", migration.name)
        # executescript would commit on its own; run statements one by one inside
        # an explicit transaction so the migration and its version row land together.
        await conn.execute("BEGIN")
        try:
            for statement in _split_statements(migration.sql):
                await conn.execute(statement)
            await conn.execute(
                "INSERT INTO schema_version (version, name, applied_at) VALUES (?, ?, ?)",
                (migration.version, migration.name, utc_now()),
            )
            await conn.commit()
        except Exception as exc:
            await conn.rollback()
            raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
        version = migration.version
    return version


def _split_statements(sql: str) -> list[str]:
    # Our migrations hold no triggers or string literals with ';', so a plain split
    # on statement ends is enough; sqlite3.complete_statement guards the assumption.
    import sqlite3

    statements, buffer = [], ""
    for line in sql.splitlines():
        stripped = line.split("--", 1)[0]
        buffer += stripped + "\n"
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip():
        raise MigrationError(f"unterminated SQL statement in migration: {buffer.strip()[:80]}")
    return statements


async def open_database(path: Path,
                        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S) -> aiosqlite.Connection:
    """Open (creating if needed) and migrate the database file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = aiosqlite.Row
    # WAL lets `stemcast add` write while a server reads; busy_timeout waits out the
    # short write locks instead of failing (longer ones: stemcast.db.busy).
    await conn.execute("PRAGMA journal_mode=WAL")
    await conn.execute(f"PRAGMA busy_timeout={round(busy_timeout_s * 1000)}")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA synchronous=NORMAL")
    await migrate(conn)
    return conn


async def run_script(conn: aiosqlite.Connection, script: str) -> None:
    """A "BEGIN; ...; COMMIT;" script run as one transaction on a shared connection (no
    other coroutine's statement runs in between); rolled back if any statement fails."""
    try:
        await conn.executescript(script)
    except Exception:
        if conn.in_transaction:
            await conn.execute("ROLLBACK")
        raise
