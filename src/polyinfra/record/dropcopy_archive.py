"""The DropCopy archive in SQLite: the four streams' records, each stream's cursor and token-chain ledger.

**Exactly once.** :meth:`DropCopyArchive.commit` writes a batch's records, the stream's new cursor (the
batch's resume token and the newest applied event time) and the batch's :class:`ChainLink` in ONE
transaction (``synchronous=FULL``, WAL): after a ``kill -9`` either all of it is there or none, so a
restart resumes from a token whose batch is durably applied (the venue's rule: persist a token only
after its records). Records are unique by their natural key (an execution by ``id``; a trade by
``(id, state)``; an instrument change by symbol, state and time; a position change by account, symbol
and time) and go in with ``INSERT OR IGNORE``: the at-least-once redelivery of a resumed stream or a
reconciling search counts as duplicates, not rows. A BUSTED trade marks every earlier state of its id
``reversed``.

**One writer per firm and stream, fenced.** :meth:`DropCopyArchive.acquire` takes an exclusive file
lock beside the database (``<db>.dropcopy-<firm>-<stream>.lock``; released by the kernel when the
holder dies, even by ``kill -9``) and then, in a transaction, raises the stream's fencing number and
records it in the cursor row. Every commit checks, inside its transaction, that the cursor's fencing
number is still its own; a holder that was paused past losing its lock (a frozen VM, a stopped process
whose lock file was removed) and wakes to commit finds a higher number and gets
:class:`~polyinfra.errors.FencedOffError`, so it cannot write an older token over a newer one.

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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

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
from polyinfra.errors import FencedOffError, LeaseError, RecorderError, SinkWriteError

__all__ = ["SCHEMA", "Cursor", "DropCopyArchive", "Lease"]

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS dropcopy_executions (
    seq INTEGER PRIMARY KEY, firm TEXT NOT NULL, id TEXT NOT NULL, symbol TEXT NOT NULL, order_id TEXT NOT NULL,
    side TEXT NOT NULL, type TEXT NOT NULL, last_quantity TEXT NOT NULL, last_price TEXT NOT NULL,
    commission TEXT NOT NULL, trade_id TEXT NOT NULL, transact_time_ns INTEGER NOT NULL, message BLOB NOT NULL,
    UNIQUE (firm, id)
);
CREATE TABLE IF NOT EXISTS dropcopy_trades (
    seq INTEGER PRIMARY KEY, firm TEXT NOT NULL, id TEXT NOT NULL, state TEXT NOT NULL, symbol TEXT NOT NULL,
    price TEXT NOT NULL, quantity TEXT NOT NULL, transact_time_ns INTEGER NOT NULL,
    reversed INTEGER NOT NULL DEFAULT 0, message BLOB NOT NULL,
    UNIQUE (firm, id, state)
);
CREATE TABLE IF NOT EXISTS dropcopy_instrument_changes (
    seq INTEGER PRIMARY KEY, firm TEXT NOT NULL, symbol TEXT NOT NULL, state TEXT NOT NULL,
    changed_time_ns INTEGER NOT NULL, message BLOB NOT NULL,
    UNIQUE (firm, symbol, state, changed_time_ns)
);
CREATE TABLE IF NOT EXISTS dropcopy_position_changes (
    seq INTEGER PRIMARY KEY, firm TEXT NOT NULL, account TEXT NOT NULL, symbol TEXT NOT NULL,
    net_position TEXT NOT NULL, cost TEXT NOT NULL, realized TEXT NOT NULL, change_time_ns INTEGER NOT NULL,
    message BLOB NOT NULL,
    UNIQUE (firm, account, symbol, change_time_ns)
);
CREATE TABLE IF NOT EXISTS dropcopy_cursors (
    firm TEXT NOT NULL, stream TEXT NOT NULL, token BLOB, last_time_ns INTEGER,
    fence INTEGER NOT NULL, PRIMARY KEY (firm, stream)
);
CREATE TABLE IF NOT EXISTS dropcopy_chain (
    seq INTEGER PRIMARY KEY, firm TEXT NOT NULL, stream TEXT NOT NULL, fence INTEGER NOT NULL, kind TEXT NOT NULL,
    token_in BLOB NOT NULL, token_out BLOB NOT NULL, events INTEGER NOT NULL, new_events INTEGER NOT NULL,
    responses INTEGER NOT NULL DEFAULT 1, note TEXT NOT NULL
);
"""

_SAFE_NAME: Final = re.compile(r"[^A-Za-z0-9_.-]")


@dataclass(frozen=True, slots=True)
class Cursor:
    """Where a stream resumes: after ``token``, else from ``last_time_ns``; both None: nothing archived."""

    token: bytes | None
    last_time_ns: int | None


@dataclass(slots=True)
class Lease:
    """The right to commit one firm's stream: the held lock file and the fencing number it was granted."""

    firm: str
    stream: DropCopyStream
    fence: int
    _fd: int

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the lock
            self._fd = -1


class DropCopyArchive:
    """The archive in the SQLite file ``path``; blocking calls (the archiver runs them in a thread)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=30.0)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise RecorderError(f"cannot open the DropCopy archive: {exc}", path=str(self.path)) from None

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield self._db
                except BaseException:
                    self._db.execute("ROLLBACK")
                    raise
                self._db.execute("COMMIT")
            except sqlite3.Error as exc:
                raise SinkWriteError(f"DropCopy archive write failed: {exc}", path=str(self.path)) from None

    # --- the lease ----------------------------------------------------------------------------

    def lock_path(self, firm: str, stream: DropCopyStream) -> Path:
        return self.path.with_name(f"{self.path.name}.dropcopy-{_SAFE_NAME.sub('_', firm) or '_'}-{stream}.lock")

    def acquire(self, firm: str, stream: DropCopyStream) -> Lease | None:
        """The lease of ``firm``'s ``stream`` with a new fencing number; None while another process holds it."""
        fd = os.open(self.lock_path(firm, stream), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError as exc:
            os.close(fd)
            raise LeaseError(f"cannot lock the DropCopy stream: {exc}", stream=str(stream)) from None
        try:
            with self._transaction() as db:
                row = db.execute(
                    "SELECT fence FROM dropcopy_cursors WHERE firm = ? AND stream = ?", (firm, str(stream))
                ).fetchone()
                fence = (row[0] if row else 0) + 1
                db.execute(
                    "INSERT INTO dropcopy_cursors (firm, stream, fence) VALUES (?, ?, ?) "
                    "ON CONFLICT (firm, stream) DO UPDATE SET fence = excluded.fence",
                    (firm, str(stream), fence),
                )
        except BaseException:
            os.close(fd)
            raise
        return Lease(firm, stream, fence, fd)

    # --- reading ------------------------------------------------------------------------------

    def cursor(self, firm: str, stream: DropCopyStream) -> Cursor:
        with self._lock:
            row = self._db.execute(
                "SELECT token, last_time_ns FROM dropcopy_cursors WHERE firm = ? AND stream = ?", (firm, str(stream))
            ).fetchone()
        if row is None:
            return Cursor(None, None)
        return Cursor(bytes(row[0]) if row[0] is not None else None, row[1])

    def chain(self, firm: str, stream: DropCopyStream) -> list[ChainLink]:
        """The stream's token-chain ledger, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, token_in, token_out, events, new_events, note FROM dropcopy_chain "
                "WHERE firm = ? AND stream = ? ORDER BY seq",
                (firm, str(stream)),
            ).fetchall()
        return [ChainLink(LinkKind(k), bytes(i), bytes(o), e, n, note) for k, i, o, e, n, note in rows]

    def execution_ids(self, firm: str) -> list[tuple[str, str]]:
        """``(symbol, id)`` of every archived execution in archived order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT symbol, id FROM dropcopy_executions WHERE firm = ? ORDER BY seq", (firm,)
            ).fetchall()
        return [(symbol, id_) for symbol, id_ in rows]

    def trades(self, firm: str) -> list[tuple[str, str, bool]]:
        """``(id, state, reversed)`` of every archived trade record in archived order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, state, reversed FROM dropcopy_trades WHERE firm = ? ORDER BY seq", (firm,)
            ).fetchall()
        return [(id_, state, bool(flag)) for id_, state, flag in rows]

    def count(self, firm: str, stream: DropCopyStream) -> int:
        with self._lock:
            row = self._db.execute(f"SELECT count(*) FROM {_TABLES[stream]} WHERE firm = ?", (firm,)).fetchone()
        return int(row[0])

    # --- writing ------------------------------------------------------------------------------

    def commit(self, lease: Lease, batch: DecodedBatch, link: ChainLink) -> ChainLink:
        """Apply ``batch`` with its cursor and ledger link in one transaction; returns the link with the
        number of new records. :class:`FencedOffError` when another holder took the stream over."""
        firm, stream = lease.firm, lease.stream
        with self._transaction() as db:
            row = db.execute(
                "SELECT fence, last_time_ns FROM dropcopy_cursors WHERE firm = ? AND stream = ?", (firm, str(stream))
            ).fetchone()
            if row is None or row[0] != lease.fence:
                raise FencedOffError(
                    "another archiver took this DropCopy stream over; this one must stop",
                    stream=str(stream),
                    fence=lease.fence,
                    current_fence=row[0] if row else None,
                )
            new = sum(_insert(db, firm, event, message) for event, message in batch.events)
            link = ChainLink(link.kind, link.token_in, link.token_out, link.events, new, link.note)
            last_time = max(row[1] or 0, batch.newest_time_ns or 0) or None
            if link.kind is not LinkKind.GAP:
                db.execute(
                    "UPDATE dropcopy_cursors SET token = ?, last_time_ns = ? WHERE firm = ? AND stream = ?",
                    (link.token_out, last_time, firm, str(stream)),
                )
            else:
                db.execute(
                    "UPDATE dropcopy_cursors SET token = NULL, last_time_ns = ? WHERE firm = ? AND stream = ?",
                    (last_time, firm, str(stream)),
                )
            _record_link(db, lease, link)
        return link


def _record_link(db: sqlite3.Connection, lease: Lease, link: ChainLink) -> None:
    if link.events == 0 and link.kind is LinkKind.CONTINUOUS:
        last = db.execute(
            "SELECT seq, kind, events, token_out FROM dropcopy_chain WHERE firm = ? AND stream = ? "
            "ORDER BY seq DESC LIMIT 1",
            (lease.firm, str(lease.stream)),
        ).fetchone()
        if last is not None and last[1] == LinkKind.CONTINUOUS and last[2] == 0 and bytes(last[3]) == link.token_in:
            db.execute(
                "UPDATE dropcopy_chain SET token_out = ?, responses = responses + 1 WHERE seq = ?",
                (link.token_out, last[0]),
            )
            return
    db.execute(
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


def _insert(db: sqlite3.Connection, firm: str, event: DropCopyEvent, message: bytes) -> int:
    """Store one record unless stored already; 1 when it is new."""
    if isinstance(event, UsExecution):
        cursor = db.execute(
            "INSERT OR IGNORE INTO dropcopy_executions (firm, id, symbol, order_id, side, type, last_quantity, "
            "last_price, commission, trade_id, transact_time_ns, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            for (state,) in db.execute(
                "SELECT state FROM dropcopy_trades WHERE firm = ? AND id = ?", (firm, event.id)
            ).fetchall()
        ]
        effect = trade_effect(stored, event.state)
        if effect is TradeEffect.DUPLICATE:
            return 0
        if effect is TradeEffect.REVERSE:
            db.execute("UPDATE dropcopy_trades SET reversed = 1 WHERE firm = ? AND id = ?", (firm, event.id))
        db.execute(
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
        cursor = db.execute(
            "INSERT OR IGNORE INTO dropcopy_instrument_changes (firm, symbol, state, changed_time_ns, message) "
            "VALUES (?, ?, ?, ?, ?)",
            (firm, event.symbol, event.state.name, event.changed_time_ns, message),
        )
        return cursor.rowcount
    assert isinstance(event, UsPositionChange)
    cursor = db.execute(
        "INSERT OR IGNORE INTO dropcopy_position_changes (firm, account, symbol, net_position, cost, realized, "
        "change_time_ns, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
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
