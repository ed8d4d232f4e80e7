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
from typing import Any, Final, TypeVar

from msgspec.structs import astuple

from polyinfra.errors import CorruptRecordError, RecorderError, SinkWriteError
from polyinfra.record.records import Record, RecordKind, SessionHeader
from polyinfra.record.sink import Sink

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

INSERT_RECORD: Final = (
    "INSERT OR IGNORE INTO records (event_id, session_id, source, channel, key, kind, recv_wall_ns, recv_mono_ns,"
    " venue_ts_ms, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_COLUMNS: Final = "event_id, session_id, source, channel, key, kind, recv_wall_ns, recv_mono_ns, venue_ts_ms, payload"
# Rows fetched per trip to the worker thread while reading: large enough that the hop is cheap,
# small enough that a long recording is never held in memory whole.
_READ_CHUNK_ROWS: Final = 2_000
_KINDS: Final = {kind.value: kind for kind in RecordKind}
# seq, then the record's fields as the table stores them (with and without a venue time).
_ROW_TYPES: Final = frozenset(
    {
        (int, str, str, str, str, str, str, int, int, int, bytes),
        (int, str, str, str, str, str, str, int, int, type(None), bytes),
    }
)
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
        row = (
            header.session_id,
            header.host_id,
            header.started_wall_ns,
            header.started_mono_ns,
            header.clock_source,
        )
        await self._run(
            lambda: self._connection.execute("INSERT OR IGNORE INTO sessions VALUES (?, ?, ?, ?, ?)", row), "header"
        )

    async def write(self, records: Sequence[Record]) -> None:
        # A record's fields are the table's columns, in order (its kind is a str: a StrEnum).
        rows = [astuple(record) for record in records]
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

    async def read_chunks(
        self,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        kinds: Collection[RecordKind] | None = None,
    ) -> AsyncIterator[Sequence[Record]]:
        conditions = ["seq > ?"]
        parameters: list[object] = []
        if start_wall_ns is not None:
            conditions.append("recv_wall_ns >= ?")
            parameters.append(start_wall_ns)
        if end_wall_ns is not None:
            conditions.append("recv_wall_ns < ?")
            parameters.append(end_wall_ns)
        if kinds is not None:
            conditions.append(f"kind IN ({', '.join('?' * len(kinds))})")
            parameters.extend(kind.value for kind in kinds)
        where = " AND ".join(conditions)
        query = f"SELECT seq, {_COLUMNS} FROM records WHERE {where} ORDER BY seq LIMIT {_READ_CHUNK_ROWS}"
        fetch = functools.partial(self._fetch, query, tuple(parameters))
        last_seq: int | None = 0
        while last_seq is not None:
            records, last_seq = await self._run(functools.partial(fetch, last_seq), "read")
            yield records

    def _fetch(self, query: str, parameters: tuple[object, ...], after_seq: int) -> tuple[list[Record], int | None]:
        """The next chunk after ``after_seq`` as records, and its last ``seq`` (None: it was the last chunk)."""
        rows = self._connection.execute(query, (after_seq, *parameters)).fetchall()
        last_seq = rows[-1][0] if len(rows) == _READ_CHUNK_ROWS else None
        return [_record_of(row) for row in rows], last_seq

    async def headers(self) -> list[SessionHeader]:
        rows = await self._run(
            lambda: self._connection.execute(
                "SELECT session_id, host_id, started_wall_ns, started_mono_ns, clock_source"
                " FROM sessions ORDER BY started_wall_ns"
            ).fetchall(),
            "sessions",
        )
        try:
            return [SessionHeader(*row) for row in rows]
        except TypeError as exc:
            raise CorruptRecordError("a session header cannot be read back", path=str(self._path)) from exc

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


def _record_of(row: tuple[Any, ...]) -> Record:
    """A stored row as a :class:`Record`, every column's type checked (the file may have been edited)."""
    # One tuple comparison of the columns' types: this runs for every record a replay reads.
    types = tuple(map(type, row))
    if types not in _ROW_TYPES or row[6] not in _KINDS:
        raise CorruptRecordError("a stored record cannot be read back", event_id=str(row[1])[:100], seq=row[0])
    return Record(row[1], row[2], row[3], row[4], row[5], _KINDS[row[6]], row[7], row[8], row[9], row[10])
