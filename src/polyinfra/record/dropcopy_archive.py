"""The DropCopy archive: the four streams' records, each stream's cursor and token-chain ledger.

In SQLite (:class:`SQLiteDropCopyArchive`) or PostgreSQL
(:class:`~polyinfra.record.dropcopy_archive_pg.PostgresDropCopyArchive`: the same tables and statements);
:func:`open_archive` picks one by URL.

**Exactly once.** :meth:`DropCopyArchive.commit` writes a batch's records, the stream's new cursor (the
batch's resume token and the newest applied event time) and the batch's :class:`ChainLink` in ONE transaction
(SQLite: ``synchronous=FULL``, WAL; PostgreSQL: a synchronous commit): after a ``kill -9`` either all of it is
there or none, so a restart resumes from a token whose batch is durably applied (the venue's rule: persist a
token only after its records). Records are unique by their natural key (an execution by ``id``; a trade by
``(id, state)``; an instrument change by symbol, state and time; a position change by account, symbol and
time) and go in with ``ON CONFLICT DO NOTHING``: the at-least-once redelivery of a resumed stream or a
reconciling search counts as duplicates, not rows. A BUSTED trade marks every earlier state of its id
``reversed``.

**One writer per firm and stream, fenced.** :meth:`DropCopyArchive.acquire` takes an exclusive lock (SQLite: a
file lock beside the database, ``<db>.dropcopy-<firm>-<stream>.lock``; PostgreSQL: a session advisory lock;
either released when the holder dies, even by ``kill -9``) and then, in a transaction, raises the stream's
fencing number and records it in the cursor row (:meth:`DropCopyArchive.claim`). An archive shared by several
machines takes the lease from a NATS JetStream key-value bucket instead
(:mod:`polyinfra.record.dropcopy_fleet`): the key's revision is then the fencing number. Every commit checks,
inside its transaction, that the cursor's fencing number is still its own; a holder that was paused past losing
its lock (a frozen VM, a stopped process whose lock file was removed) and wakes to commit finds a higher number
and gets :class:`~polyinfra.errors.FencedOffError`, so it cannot write an older token over a newer one.

Token-only responses (the heartbeats of a quiet stream) move the cursor and extend the last link
when it is a token-only one too, so a quiet week does not grow the ledger by a row per heartbeat.
Amounts are stored as decimal text, exactly as decoded; every record keeps the venue's message bytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from polyinfra.core.us_dropcopy import (
    ChainLink,
    DecodedBatch,
    DropCopyEvent,
    DropCopyStream,
    LinkKind,
    TradeEffect,
    UsExecution,
    UsInstrumentChange,
    UsPositionChange,
    UsTradeReport,
    trade_effect,
)
from polyinfra.errors import FencedOffError, LeaseError, RecorderError, SinkUrlError, SinkWriteError

__all__ = ["SQLITE_SCHEMA", "Cursor", "DropCopyArchive", "Lease", "SQLiteDropCopyArchive", "open_archive"]


def table_schema(key: str, blob: str) -> str:
    """The tables, with ``key`` the type of an auto-numbered primary key and ``blob`` of bytes."""
    return f"""
CREATE TABLE IF NOT EXISTS dropcopy_executions (
    seq {key}, firm TEXT NOT NULL, id TEXT NOT NULL, symbol TEXT NOT NULL, order_id TEXT NOT NULL,
    side TEXT NOT NULL, type TEXT NOT NULL, last_quantity TEXT NOT NULL, last_price TEXT NOT NULL,
    commission TEXT NOT NULL, trade_id TEXT NOT NULL, transact_time_ns BIGINT NOT NULL, message {blob} NOT NULL,
    UNIQUE (firm, id)
);
CREATE TABLE IF NOT EXISTS dropcopy_trades (
    seq {key}, firm TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, symbol TEXT NOT NULL,
    price TEXT NOT NULL, quantity TEXT NOT NULL, transact_time_ns BIGINT NOT NULL,
    reversed INTEGER NOT NULL DEFAULT 0, message {blob} NOT NULL,
    UNIQUE (firm, id, state)
);
CREATE TABLE IF NOT EXISTS dropcopy_instrument_changes (
    seq {key}, firm TEXT NOT NULL, symbol TEXT NOT NULL, state TEXT NOT NULL,
    changed_time_ns BIGINT NOT NULL, message {blob} NOT NULL,
    UNIQUE (firm, symbol, state, changed_time_ns)
);
CREATE TABLE IF NOT EXISTS dropcopy_position_changes (
    seq {key}, firm TEXT NOT NULL, account TEXT NOT NULL, symbol TEXT NOT NULL,
    net_position TEXT NOT NULL, cost TEXT NOT NULL, realized TEXT NOT NULL, change_time_ns BIGINT NOT NULL,
    message {blob} NOT NULL,
    UNIQUE (firm, account, symbol, change_time_ns)
);
CREATE TABLE IF NOT EXISTS dropcopy_cursors (
    firm TEXT NOT NULL, stream TEXT NOT NULL, token {blob}, last_time_ns BIGINT,
    fence BIGINT NOT NULL, PRIMARY KEY (firm, stream)
);
CREATE TABLE IF NOT EXISTS dropcopy_chain (
    seq {key}, firm TEXT NOT NULL, stream TEXT NOT NULL, fence BIGINT NOT NULL, kind TEXT NOT NULL,
    token_in {blob} NOT NULL, token_out {blob} NOT NULL, events INTEGER NOT NULL, new_events INTEGER NOT NULL,
    responses INTEGER NOT NULL DEFAULT 1, note TEXT NOT NULL
);
"""


SQLITE_SCHEMA: Final = table_schema("INTEGER PRIMARY KEY", "BLOB")
"""The tables in SQLite (``seq`` is the archived order)."""

_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]")
_SQLITE: Final = "sqlite:///"
_POSTGRES: Final = ("postgresql://", "postgres://")


class _Rows(Protocol):
    """What both drivers' cursors give back."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


Execute = Callable[[str, Sequence[object]], _Rows]
"""Runs one statement (``?`` placeholders) inside the current transaction."""


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a stream resumes: after ``token``, else from ``last_time_ns``; both None: nothing archived."""

    token: bytes | None
    last_time_ns: int | None


@dataclass(slots=True)
class Lease:
    """The right to commit one firm's stream: the held lock and the fencing number it was granted."""

    firm: str
    stream: DropCopyStream
    fence: int
    _unlock: Callable[[], None] | None

    def release(self) -> None:
        if self._unlock is not None:
            unlock, self._unlock = self._unlock, None
            unlock()


class DropCopyArchive:
    """The archive's statements over one connection; a backend supplies :meth:`_transaction` and the lock.
    Blocking calls (the archiver runs them in a thread), one at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()

    _driver_errors: tuple[type[Exception], ...] = ()
    """The driver's exception classes, turned into :class:`SinkWriteError` at this boundary."""

    def close(self) -> None:
        raise NotImplementedError

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Execute]:
        """One transaction of the backend: committed when the block ends, rolled back when it raises."""
        raise NotImplementedError
        yield  # pragma: no cover

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[Execute]:
        with self._lock:
            try:
                with self._begin() as execute:
                    yield execute
            except self._driver_errors as exc:
                raise SinkWriteError(f"DropCopy archive write failed: {exc}", archive=self.shown) from None

    @property
    def shown(self) -> str:
        """The archive's location as errors show it (no credentials)."""
        raise NotImplementedError

    def _lock_stream(self, firm: str, stream: DropCopyStream) -> Callable[[], None] | None:
        """Take the stream's exclusive lock without waiting: its release, or None when another holds it."""
        raise NotImplementedError

    # --- the lease ----------------------------------------------------------------------------

    def acquire(self, firm: str, stream: DropCopyStream) -> Lease | None:
        """The lease of ``firm``'s ``stream`` with a new fencing number; None while another process holds it."""
        unlock = self._lock_stream(firm, stream)
        if unlock is None:
            return None
        try:
            return self.claim(firm, stream, unlock=unlock)
        except BaseException:
            unlock()
            raise

    def claim(
        self, firm: str, stream: DropCopyStream, *, fence: int | None = None, unlock: Callable[[], None] | None = None
    ) -> Lease:
        """Record a new fencing number for the stream, so every holder before this one is fenced off: the
        stored one plus 1, or ``fence`` when an outside lease grants it (a fleet's key-value revision), which
        must be larger than the stored one (:class:`FencedOffError` when it is not: a newer holder claimed
        the stream already)."""
        with self._transaction() as execute:
            row = execute(
                "SELECT fence FROM dropcopy_cursors WHERE firm = ? AND stream = ?" + self._for_update,
                (firm, str(stream)),
            ).fetchone()
            stored = row[0] if row else 0
            if fence is None:
                fence = stored + 1
            elif fence <= stored:
                raise FencedOffError(
                    "this DropCopy stream was claimed with a newer fencing number already",
                    stream=str(stream),
                    fence=fence,
                    current_fence=stored,
                )
            execute(
                "INSERT INTO dropcopy_cursors (firm, stream, fence) VALUES (?, ?, ?) "
                "ON CONFLICT (firm, stream) DO UPDATE SET fence = excluded.fence",
                (firm, str(stream), fence),
            )
        return Lease(firm, stream, fence, unlock)

    # --- reading ------------------------------------------------------------------------------

    def cursor(self, firm: str, stream: DropCopyStream) -> Cursor:
        with self._transaction() as execute:
            row = execute(
                "SELECT token, last_time_ns FROM dropcopy_cursors WHERE firm = ? AND stream = ?", (firm, str(stream))
            ).fetchone()
        if row is None:
            return Cursor(None, None)
        return Cursor(bytes(row[0]) if row[0] is not None else None, row[1])

    def chain(self, firm: str, stream: DropCopyStream) -> list[ChainLink]:
        """The stream's token-chain ledger, oldest first."""
        with self._transaction() as execute:
            rows = execute(
                "SELECT kind, token_in, token_out, events, new_events, note FROM dropcopy_chain "
                "WHERE firm = ? AND stream = ? ORDER BY seq",
                (firm, str(stream)),
            ).fetchall()
        return [ChainLink(LinkKind(k), bytes(i), bytes(o), e, n, note) for k, i, o, e, n, note in rows]

    def execution_ids(self, firm: str) -> list[tuple[str, str]]:
        """``(symbol, id)`` of every archived execution in archived order."""
        with self._transaction() as execute:
            rows = execute("SELECT symbol, id FROM dropcopy_executions WHERE firm = ? ORDER BY seq", (firm,)).fetchall()
        return [(symbol, id_) for symbol, id_ in rows]

    def trades(self, firm: str) -> list[tuple[str, str, bool]]:
        """``(id, state, reversed)`` of every archived trade record in archived order."""
        with self._transaction() as execute:
            rows = execute(
                "SELECT id, state, reversed FROM dropcopy_trades WHERE firm = ? ORDER BY seq", (firm,)
            ).fetchall()
        return [(id_, state, bool(flag)) for id_, state, flag in rows]

    def count(self, firm: str, stream: DropCopyStream) -> int:
        with self._transaction() as execute:
            row = execute(f"SELECT count(*) FROM {_TABLES[stream]} WHERE firm = ?", (firm,)).fetchone()
        return int(row[0])

    # --- writing ------------------------------------------------------------------------------

    def commit(self, lease: Lease, batch: DecodedBatch, link: ChainLink) -> ChainLink:
        """Apply ``batch`` with its cursor and ledger link in one transaction; returns the link with the
        number of new records. :class:`FencedOffError` when another holder took the stream over."""
        firm, stream = lease.firm, lease.stream
        with self._transaction() as execute:
            # FOR UPDATE (PostgreSQL; SQLite's transaction is exclusive already) holds concurrent commits of
            # the stream back until this one ends, so the fence read is the fence at commit.
            row = execute(
                "SELECT fence, last_time_ns FROM dropcopy_cursors WHERE firm = ? AND stream = ?" + self._for_update,
                (firm, str(stream)),
            ).fetchone()
            if row is None or row[0] != lease.fence:
                raise FencedOffError(
                    "another archiver took this DropCopy stream over; this one must stop",
                    stream=str(stream),
                    fence=lease.fence,
                    current_fence=row[0] if row else None,
                )
            new = sum(_insert(execute, firm, event, message) for event, message in batch.events)
            link = ChainLink(link.kind, link.token_in, link.token_out, link.events, new, link.note)
            last_time = max(row[1] or 0, batch.newest_time_ns or 0) or None
            # After a gap the stream goes on by time: no token until its next batch.
            token = None if link.kind is LinkKind.GAP else link.token_out
            execute(
                "UPDATE dropcopy_cursors SET token = ?, last_time_ns = ? WHERE firm = ? AND stream = ?",
                (token, last_time, firm, str(stream)),
            )
            _record_link(execute, lease, link)
        return link

    _for_update: str = ""


class SQLiteDropCopyArchive(DropCopyArchive):
    """The archive in the SQLite file ``path`` (WAL, ``synchronous=FULL``)."""

    def __init__(self, path: str | Path) -> None:
        super().__init__()
        self.path = Path(path)
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SQLITE_SCHEMA)
        except sqlite3.Error as exc:
            raise RecorderError(f"cannot open the DropCopy archive: {exc}", path=str(self.path)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    _driver_errors = (sqlite3.Error,)

    @property
    def shown(self) -> str:
        return str(self.path)

    @contextlib.contextmanager
    def _begin(self) -> Iterator[Execute]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._execute
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def _execute(self, statement: str, parameters: Sequence[object]) -> _Rows:
        return self._db.execute(statement, tuple(parameters))

    def lock_path(self, firm: str, stream: DropCopyStream) -> Path:
        return self.path.with_name(f"{self.path.name}.dropcopy-{_SAFE_NAME.sub('_', firm) or '_'}-{stream}.lock")

    def _lock_stream(self, firm: str, stream: DropCopyStream) -> Callable[[], None] | None:
        fd = os.open(self.lock_path(firm, stream), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            raise LeaseError(f"cannot lock the DropCopy stream: {exc}", stream=str(stream)) from None
        return lambda: os.close(fd)  # closing the descriptor drops the lock


def open_archive(url: str) -> DropCopyArchive:
    """The archive a URL names: ``sqlite:///PATH`` or ``postgresql://...``."""
    if url.startswith(_SQLITE) and url.removeprefix(_SQLITE):
        return SQLiteDropCopyArchive(url.removeprefix(_SQLITE))
    if url.startswith(_POSTGRES):
        # Imported here: psycopg is the optional extra "postgres".
        try:
            from polyinfra.record.dropcopy_archive_pg import PostgresDropCopyArchive  # noqa: PLC0415
        except ImportError as exc:
            raise RecorderError(
                "the PostgreSQL archive needs psycopg: pip install 'polyinfra[postgres]'", missing=exc.name
            ) from None
        archive: DropCopyArchive = PostgresDropCopyArchive(url)
        return archive
    raise SinkUrlError(
        "the DropCopy archive is stored to sqlite:///PATH or postgresql://...", scheme=url.partition("://")[0][:20]
    )


def _record_link(execute: Execute, lease: Lease, link: ChainLink) -> None:
    if link.events == 0 and link.kind is LinkKind.CONTINUOUS:
        last = execute(
            "SELECT seq, kind, events, token_out FROM dropcopy_chain WHERE firm = ? AND stream = ? "
            "ORDER BY seq DESC LIMIT 1",
            (lease.firm, str(lease.stream)),
        ).fetchone()
        if last is not None and last[1] == LinkKind.CONTINUOUS and last[2] == 0 and bytes(last[3]) == link.token_in:
            execute(
                "UPDATE dropcopy_chain SET token_out = ?, responses = responses + 1 WHERE seq = ?",
                (link.token_out, last[0]),
            )
            return
    execute(
        "INSERT INTO dropcopy_chain (firm, stream, fence, kind, token_in, token_out, events, new_events, note) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            lease.firm,
            str(lease.stream),
            lease.fence,
            str(link.kind),
            link.token_in,
            link.token_out,
            link.events,
            link.new_events,
            link.note,
        ),
    )


_TABLES: Final = {
    DropCopyStream.EXECUTIONS: "dropcopy_executions",
    DropCopyStream.TRADES: "dropcopy_trades",
    DropCopyStream.INSTRUMENTS: "dropcopy_instrument_changes",
    DropCopyStream.POSITIONS: "dropcopy_position_changes",
}


def _insert(execute: Execute, firm: str, event: DropCopyEvent, message: bytes) -> int:
    """Store one record unless stored already; 1 when it is new."""
    if isinstance(event, UsExecution):
        cursor = execute(
            "INSERT INTO dropcopy_executions (firm, id, symbol, order_id, side, type, last_quantity, last_price, "
            "commission, trade_id, transact_time_ns, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT DO NOTHING",
            (
                firm,
                event.id,
                event.symbol,
                event.order_id,
                event.side,
                event.type,
                str(event.last_quantity),
                str(event.last_price),
                str(event.commission),
                event.trade_id,
                event.transact_time_ns,
                message,
            ),
        )
        return cursor.rowcount
    if isinstance(event, UsTradeReport):
        stored = [
            state
            for (state,) in execute(
                "SELECT state FROM dropcopy_trades WHERE firm = ? AND id = ?", (firm, event.id)
            ).fetchall()
        ]
        effect = trade_effect(stored, event.state)
        if effect is TradeEffect.DUPLICATE:
            return 0
        if effect is TradeEffect.REVERSE:
            execute("UPDATE dropcopy_trades SET reversed = 1 WHERE firm = ? AND id = ?", (firm, event.id))
        execute(
            "INSERT INTO dropcopy_trades (firm, id, state, symbol, price, quantity, transact_time_ns, message) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                firm,
                event.id,
                event.state,
                event.symbol,
                str(event.price),
                str(event.quantity),
                event.transact_time_ns,
                message,
            ),
        )
        return 1
    if isinstance(event, UsInstrumentChange):
        cursor = execute(
            "INSERT INTO dropcopy_instrument_changes (firm, symbol, state, changed_time_ns, message) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            (firm, event.symbol, event.state.name, event.changed_time_ns, message),
        )
        return cursor.rowcount
    assert isinstance(event, UsPositionChange)
    cursor = execute(
        "INSERT INTO dropcopy_position_changes (firm, account, symbol, net_position, cost, realized, "
        "change_time_ns, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        (
            firm,
            event.account,
            event.symbol,
            str(event.net_position),
            str(event.cost),
            str(event.realized),
            event.change_time_ns,
            message,
        ),
    )
    return cursor.rowcount
