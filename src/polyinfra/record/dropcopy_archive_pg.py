"""The DropCopy archive in PostgreSQL: ``postgresql://USER:PASSWORD@HOST:PORT/DATABASE`` (any libpq URL;
``?options=-csearch_path%3DSCHEMA`` keeps the tables in a schema of their own). Needs the ``postgres`` extra.

The tables and statements are :mod:`polyinfra.record.dropcopy_archive`'s; what differs is kept here:

* the stream's lock is a session-level advisory lock (``pg_try_advisory_lock``) on a connection of the lease's
  own, keyed by a hash of the firm and the stream: the server drops it when that connection ends, so a holder
  that dies (``kill -9``, a lost network) frees the stream for the next one;
* a commit reads the cursor row ``FOR UPDATE``, so a commit of a holder fenced off meanwhile waits for the new
  holder's claim and then sees its higher fencing number;
* ``synchronous_commit`` is set ``on`` if the server defaults it ``off``: a commit must not be answered
  before its WAL is on disk, or a crash could lose a batch whose token the archiver already resumed after.

The tables are created under a transaction-scoped advisory lock: ``CREATE TABLE IF NOT EXISTS`` alone can race
with another archiver starting at the same moment.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Final

import psycopg

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.errors import LeaseError, RecorderError
from polyinfra.obs.redaction import url_without_credentials
from polyinfra.record.dropcopy_archive import DropCopyArchive, Execute, table_schema

__all__ = ["POSTGRES_SCHEMA", "PostgresDropCopyArchive"]

POSTGRES_SCHEMA: Final = table_schema("BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "BYTEA")
_SCHEMA_LOCK: Final = "polyinfra dropcopy schema"


class PostgresDropCopyArchive(DropCopyArchive):
    """The archive in the PostgreSQL database at ``url``."""

    _for_update = " FOR UPDATE"

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        self._shown = url_without_credentials(url)
        self._db = self._connect()
        try:
            with self._db.transaction():
                self._db.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (_SCHEMA_LOCK,))
                self._db.execute(POSTGRES_SCHEMA)
        except psycopg.Error as exc:
            self._db.close()
            raise RecorderError(f"cannot create the DropCopy tables: {exc}", url=self._shown) from None

    def _connect(self) -> psycopg.Connection:
        try:
            connection = psycopg.connect(self._url, autocommit=True, connect_timeout=10)
            if connection.execute("SHOW synchronous_commit").fetchone() == ("off",):
                connection.execute("SET synchronous_commit TO on")
        except psycopg.Error as exc:
            raise RecorderError(f"cannot connect to the DropCopy archive: {exc}", url=self._shown) from None
        return connection

    def close(self) -> None:
        with self._lock:
            self._db.close()

    _driver_errors = (psycopg.Error,)

    @property
    def shown(self) -> str:
        return self._shown

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Execute]:
        with self._db.transaction():
            yield self._execute

    def _execute(self, statement: str, parameters: Sequence[object]) -> psycopg.Cursor:
        return self._db.execute(statement.replace("?", "%s"), tuple(parameters))

    def _lock_stream(self, firm: str, stream: DropCopyStream) -> Callable[[], None] | None:
        # A connection of the lease's own: the lock lives as long as it, and the archive's shared connection
        # can be closed or fail without handing the stream to another archiver behind this one's back.
        connection = self._connect()
        key = f"polyinfra dropcopy {firm}/{stream}"
        try:
            row = connection.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (key,)).fetchone()
        except psycopg.Error as exc:
            connection.close()
            raise LeaseError(f"cannot lock the DropCopy stream: {exc}", stream=str(stream)) from None
        if not (row and row[0]):
            connection.close()
            return None
        guard = threading.Lock()

        def unlock() -> None:
            with guard, contextlib.suppress(psycopg.Error):
                connection.close()  # ends the session, and its advisory lock with it

        return unlock
