"""Normalised Parquet from a recording: book deltas with snapshot markers, trades, best bid and ask.

The rows are a cache of the raw tape, rebuilt through the same parsers and book machinery as
:class:`~polyinfra.record.replay.Replay` (it is a replay, read record by record): a parser fixed
later is applied by exporting again. Layout under the output directory, partitioned Hive-style
by source and by the UTC date a row was received::

    book_deltas/source=clob/date=2026-12-06/part-000000.parquet
    trades/source=clob/date=2026-12-06/part-000000.parquet
    best_bid_ask/source=clob/date=2026-12-06/part-000000.parquet
    coverage.json

* ``book_deltas``: one row per price level whose size changed in polyinfra's book (``size`` 0:
  the level went away). A snapshot (a ``book`` message, a REST answer, with whatever was buffered
  while it was fetched) is every level of the book after it, marked ``is_snapshot``; a snapshot
  of an empty book is one row without side, price or size.
* ``trades``: the ``last_trade_price`` messages the books took, with the aggressor's side.
* ``best_bid_ask``: a row each time a book's best bid or best ask (price or size) changed.

Prices and sizes are ``decimal128(19, 6)``: the book's micro-units, exact (never a float).
Every row says when and from which record it came (:data:`~polyinfra.record.parquet_tables.ORIGIN_FIELDS`).
``coverage.json`` beside them is the recording's coverage manifest.

``source="us"`` exports a US exchange market-data tape the same way, through
:class:`~polyinfra.record.us_replay.UsReplay` (partitions ``source=us``, ``token_id`` the symbol). Each US
update is the symbol's whole book: the first of a stream session is written as a snapshot, each later one
as the levels that changed from the one before. The US venue sends no trades on this stream: ``trades``
stays empty (the last trade price is on the book).

``source="rtds"`` or ``"polybolt"`` exports a live-data tape instead: its own tables
(:mod:`polyinfra.record.live_data_export`).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from polyinfra.errors import ExportError
from polyinfra.model.book import OrderBook
from polyinfra.model.events import BookEvent, BookUpdated, TradePrinted
from polyinfra.model.numbers import micros_to_decimal
from polyinfra.record.coverage import read_manifest
from polyinfra.record.live_data_export import LIVE_DATA_SOURCES, export_live_data_parquet
from polyinfra.record.parquet_tables import (
    ORIGIN_FIELDS,
    ExportSummary,
    ParquetTable,
    origin_of,
    prepare_output,
    utc_date_of,
)
from polyinfra.record.records import Record
from polyinfra.record.replay import Replay
from polyinfra.record.sink import Sink
from polyinfra.record.us_replay import US_CHANNEL, US_SOURCE, UsReplay

__all__ = ["export_parquet"]

_SOURCE: Final = "clob"
_CHANNEL: Final = "market"
_DECIMAL: Final = pa.decimal128(19, 6)
"""Micro-units up to the largest size a book holds (10**12 shares): 13 digits, then 6."""
_SCHEMAS: Final = {
    "book_deltas": pa.schema(
        [
            ("token_id", pa.string()),
            ("market", pa.string()),
            ("side", pa.string()),
            ("price", _DECIMAL),
            ("size", _DECIMAL),
            ("is_snapshot", pa.bool_()),
            *ORIGIN_FIELDS,
        ]
    ),
    "trades": pa.schema(
        [
            ("token_id", pa.string()),
            ("market", pa.string()),
            ("price", _DECIMAL),
            ("size", _DECIMAL),
            ("side", pa.string()),
            *ORIGIN_FIELDS,
        ]
    ),
    "best_bid_ask": pa.schema(
        [
            ("token_id", pa.string()),
            ("market", pa.string()),
            ("bid_price", _DECIMAL),
            ("bid_size", _DECIMAL),
            ("ask_price", _DECIMAL),
            ("ask_size", _DECIMAL),
            *ORIGIN_FIELDS,
        ]
    ),
}
_BID: Final = "bid"
_ASK: Final = "ask"

Levels = dict[int, int]
"""One side of a book: price -> size, micro-units."""


@dataclass(slots=True)
class _TokenView:
    """What the export last wrote of one token's book: its levels and best prices."""

    bids: Levels = field(default_factory=dict)
    asks: Levels = field(default_factory=dict)
    best: tuple[tuple[int, int] | None, tuple[int, int] | None] = (None, None)


async def export_parquet(
    sink: Sink, out: Path, *, keys: Collection[str] | None = None, source: str = _SOURCE
) -> ExportSummary:
    """Write the recording in ``sink`` under ``out`` (an empty or new directory) as described above;
    ``keys`` limits it to those tokens (None: all); ``source`` is ``clob`` (the market channel) or ``us``,
    or a live-data source (``rtds``, ``polybolt``: :func:`~polyinfra.record.live_data_export.export_live_data_parquet`,
    ``keys`` its wallets, symbols or comment entities)."""
    if source in LIVE_DATA_SOURCES:
        return await export_live_data_parquet(sink, out, source=source, keys=keys)
    channels = {_SOURCE: _CHANNEL, US_SOURCE: US_CHANNEL}
    if source not in channels:
        raise ExportError("no such source to export: clob, us, rtds or polybolt", source=source[:40])
    prepare_output(out)
    tables = {name: ParquetTable(name, schema, out, source) for name, schema in _SCHEMAS.items()}
    views: dict[str, _TokenView] = {}
    replay = Replay(sink, keys=keys) if source == _SOURCE else UsReplay(sink, keys=keys)
    async for record, events in replay.steps():
        if events:
            _rows_of(record, events, replay.books, views, tables)
    for table in tables.values():
        table.flush()
    coverage = out / "coverage.json"
    _write_coverage(coverage, await _coverage_document(sink, keys, source, channels[source]))
    return ExportSummary(
        rows={name: table.rows for name, table in tables.items()},
        files=[*(path for table in tables.values() for path in table.files), coverage],
    )


def _rows_of(
    record: Record,
    events: list[BookEvent],
    books: Mapping[str, OrderBook],
    views: dict[str, _TokenView],
    tables: Mapping[str, ParquetTable],
) -> None:
    """The rows one replayed record made: its trades, then per token it updated, the level changes
    (or the snapshot) and the best prices, read from the book as it stands after the record."""
    date = utc_date_of(record.recv_wall_ns)
    updated: dict[str, tuple[bool, int | None]] = {}
    for event in events:
        if type(event) is TradePrinted:
            tables["trades"].add(
                date,
                {
                    "token_id": event.token_id,
                    "market": event.market,
                    "price": event.price,
                    "size": event.size,
                    "side": None if event.side is None else event.side.value,
                    **origin_of(record, event.venue_timestamp_ms),
                },
            )
        elif type(event) is BookUpdated:
            was_snapshot = updated.get(event.token_id, (False, None))[0]
            updated[event.token_id] = (was_snapshot or event.snapshot, event.venue_timestamp_ms)
    for token_id, (snapshot, venue_ts_ms) in updated.items():
        book = books.get(token_id)
        if book is None:
            continue
        view = views.setdefault(token_id, _TokenView())
        origin = origin_of(record, venue_ts_ms)
        bids, asks = dict(book.bid_levels_micros()), dict(book.ask_levels_micros())
        changes: list[tuple[str | None, int | None, int | None]] = [
            *_changes(_BID, view.bids, bids, snapshot),
            *_changes(_ASK, view.asks, asks, snapshot),
        ]
        if snapshot and not changes:
            changes = [(None, None, None)]
        for side, price, size in changes:
            tables["book_deltas"].add(
                date,
                {
                    "token_id": token_id,
                    "market": book.market,
                    "side": side,
                    "price": _decimal(price),
                    "size": _decimal(size),
                    "is_snapshot": snapshot,
                    **origin,
                },
            )
        view.bids, view.asks = bids, asks
        best = (_best(book.best_bid_micros, bids), _best(book.best_ask_micros, asks))
        if best != view.best:
            view.best = best
            bid_price, bid_size = best[0] or (None, None)
            ask_price, ask_size = best[1] or (None, None)
            tables["best_bid_ask"].add(
                date,
                {
                    "token_id": token_id,
                    "market": book.market,
                    "bid_price": _decimal(bid_price),
                    "bid_size": _decimal(bid_size),
                    "ask_price": _decimal(ask_price),
                    "ask_size": _decimal(ask_size),
                    **origin,
                },
            )


def _changes(side: str, before: Levels, after: Levels, snapshot: bool) -> list[tuple[str, int, int]]:
    """A side's rows: every level of a snapshot, else each level whose size changed (0: removed)."""
    if snapshot:
        return [(side, price, size) for price, size in after.items()]
    changed = [(side, price, size) for price, size in after.items() if before.get(price) != size]
    changed.extend((side, price, 0) for price in before.keys() - after.keys())
    return changed


def _best(price: int | None, levels: Levels) -> tuple[int, int] | None:
    return None if price is None else (price, levels[price])


def _decimal(micros: int | None) -> object:
    return None if micros is None else micros_to_decimal(micros)


async def _coverage_document(sink: Sink, keys: Collection[str] | None, source: str, channel: str) -> dict[str, Any]:
    span = await read_manifest(sink)
    first_ns, last_ns = span.first_wall_ns, span.last_wall_ns
    document: dict[str, Any] = {
        "source": source,
        "channel": channel,
        "first_wall_ns": first_ns,
        "last_wall_ns": last_ns,
        "keys": {},
    }
    if first_ns is None:
        return document
    for key in span.manifest.keys_of(source, channel):
        if keys is not None and key not in keys:
            continue
        found = span.manifest.coverage(key, first_ns, last_ns, source=source, channel=channel)
        document["keys"][key] = {
            "covered": [[interval.start_wall_ns, interval.end_wall_ns] for interval in found.covered],
            "gaps": [[gap.start_wall_ns, gap.end_wall_ns, gap.reason] for gap in found.gaps],
        }
    return document


def _write_coverage(path: Path, document: dict[str, Any]) -> None:
    try:
        path.write_text(json.dumps(document, indent=1) + "\n")
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}", path=str(path)) from exc
