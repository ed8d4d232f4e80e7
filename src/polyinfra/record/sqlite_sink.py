"""The embedded default sink: one SQLite file in WAL mode, one transaction per batch.

Durability: ``synchronous=FULL`` makes every commit reach the disk before :meth:`SQLiteSink.write`
returns, so an acknowledged batch survives a ``kill -9`` of the writer and a power cut alike; a
batch of a thousand records pays one sync. WAL lets a reader (a replay, ``polyinfra coverage``)
work while a recorder writes. ``event_id`` is unique and rows go in with ``INSERT OR IGNORE``: a
restarted writer re-sending records is harmless.

The blocking calls run in a worker thread, one at a time (a lock serialises them), so the event
loop never waits for the disk.
"""

from __future__ import annotations

import asyncio
import functools
import sqlite3
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from pathlib import Path
from typing import Final, TypeVar

from polyinfra.errors import RecorderError, SinkWriteError
from polyinfra.record.records import Record, RecordKind, SessionHeader, SourceChannel
from polyinfra.record.sink import Sink
from polyinfra.record.stored_rows import (
    CONVERTED_ROWS,
    RECORD_COLUMNS,
    SESSION_COLUMNS,
    chunk_query,
    chunks_in_written_order,
    header_of_row,
    records_of_chunk,
    row_of,
)

__all__ = ["SCHEMA", "SQLiteSink", "connect_sqlite"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY,
    event_id TEXT NOT NULL UNIQUE,
    session_id TEXT NOT NULL,
    source TEXT NOT NULL,
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    kind TEXT NOT NULL,
    recv_wall_ns INTEGER NOT NULL,
    recv_mono_ns INTEGER NOT NULL,
    venue_ts_ms INTEGER,
    payload BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    session_id TEXT PRIMARY KEY,
    host_id TEXT NOT NULL,
    started_wall_ns INTEGER NOT NULL,
    started_mono_ns INTEGER NOT NULL,
    clock_source TEXT NOT NULL
);
"""
"""The tables (``seq`` is the written order; the bench writes its anchor into the same schema)."""


def _insert_or_ignore(table: str, columns: str) -> str:
    """The statement that stores a row of ``columns`` into ``table`` unless its unique key is there."""
    placeholders = ", ".join("?" * len(columns.split(", ")))
    return f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({placeholders})"


INSERT_RECORD: Final = _insert_or_ignore("records", RECORD_COLUMNS)
_INSERT_SESSION: Final = _insert_or_ignore("sessions", SESSION_COLUMNS)
_T = TypeVar("_T")


def connect_sqlite(path: str | Path) -> sqlite3.Connection:
    """A connection to the recording at ``path`` with the recorder's settings and schema."""
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")
    connection.executescript(SCHEMA)
    return connection


class SQLiteSink(Sink):
    """Records in the SQLite file at ``path`` (created when missing)."""

    def __init__(self, path: str | Path) -> None:
        self.url = f"sqlite:///{path}"
        self._path = path
        try:
            self._connection = connect_sqlite(path)
        except sqlite3.Error as exc:
            raise RecorderError(f"cannot open the recording: {exc}", path=str(path)) from exc
        self._lock = asyncio.Lock()

    async def write_header(self, header: SessionHeader) -> None:
        row = row_of(header)
        await self._run(lambda: self._connection.execute(_INSERT_SESSION, row), "header")

    async def write(self, records: Sequence[Record]) -> None:
        rows = [row_of(record) for record in records]
        await self._run(lambda: self._insert(rows), "batch")

    def _insert(self, rows: Sequence[tuple[object, ...]]) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            connection.executemany(INSERT_RECORD, rows)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def read_chunks(
        self,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        kinds: Collection[RecordKind] | None = None,
        source_channel: SourceChannel | None = None,
    ) -> AsyncIterator[Sequence[Record]]:
        query = chunk_query("records", "?", start_wall_ns, end_wall_ns, kinds, source_channel=source_channel)
        fetch = functools.partial(self._fetch, *query, source_channel)
        return chunks_in_written_order(lambda after_seq: self._run(functools.partial(fetch, after_seq), "read"))

    def _fetch(
        self, query: str, parameters: tuple[object, ...], source_channel: SourceChannel | None, after_seq: int
    ) -> tuple[list[Record], int | None]:
        """The next chunk after ``after_seq`` as records, and its last ``seq`` (None: it was the last chunk)."""
        cursor = self._connection.execute(query, (after_seq, *parameters))
        return records_of_chunk(iter(functools.partial(cursor.fetchmany, CONVERTED_ROWS), []), source_channel)

    async def headers(self) -> list[SessionHeader]:
        rows = await self._run(
            lambda: self._connection.execute(
                f"SELECT {SESSION_COLUMNS} FROM sessions ORDER BY started_wall_ns"
            ).fetchall(),
            "sessions",
        )
        return [header_of_row(row) for row in rows]

    async def close(self) -> None:
        async with self._lock:
            self._connection.close()

    async def _run(self, call: Callable[[], _T], what: str) -> _T:
        async with self._lock:
            try:
                return await asyncio.to_thread(call)
            except sqlite3.Error as exc:
                error = SinkWriteError if what in ("batch", "header") else RecorderError
                raise error(f"SQLite {what} failed: {exc}", path=str(self._path)) from exc
