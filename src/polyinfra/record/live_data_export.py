"""Normalised Parquet from an RTDS or PolyBolt tape: the wallets' trades, the price ticks, the
comments and the gaps.

The rows are the events :class:`~polyinfra.record.rtds_replay.RtdsReplay` or
:class:`~polyinfra.record.polybolt_replay.PolyBoltReplay` yields (the live client's own feeds, fed
again with the recorded frames): one row per event, in the order live delivered them, so a feed fixed
later is applied by exporting again. Layout under the output directory, as
:mod:`polyinfra.record.export` partitions (by source and the UTC date a record was received)::

    activity/source=rtds/date=2026-12-06/part-000000.parquet
    prices/source=rtds/date=2026-12-06/part-000000.parquet
    comments/source=rtds/date=2026-12-06/part-000000.parquet
    gaps/source=rtds/date=2026-12-06/part-000000.parquet

* ``activity``: each :class:`~polyinfra.model.live_events.ActivityTrade` (``trades``: the taker and
  every maker; ``orders_matched``: the taker), every field of the event; ``venue_ts_ms`` is when the
  venue sent it, ``timestamp_s`` when it says the trade happened. The venue sends no USDC amount on
  this topic: the notional is ``price * size``, exact in any engine that multiplies decimals.
* ``prices``: each :class:`~polyinfra.model.live_events.PriceTick` (``topic``: the live-data topic it
  came on, e.g. ``crypto_prices``; ``venue_ts_ms``: the price's own time; ``backfill``: a point a
  subscription sent first).
* ``comments``: each :class:`~polyinfra.model.live_events.CommentEvent` (RTDS only).
* ``gaps``: each :class:`~polyinfra.model.live_events.Gap`, ``from_ms`` to ``to_ms`` of its ``topic``:
  where the tape cannot vouch for the stream (events sent then may be missing).

Numbers are exact, never a float: ``decimal128(38, 22)``. The venue's finest prices are the E18
integers of Chainlink and TWAP (18 decimals), and activity prices and sizes come as JSON numbers,
whose shortest text has at most 17 significant digits: 22 decimals hold every such number from
``10**-6`` up, and 16 digits before the point are past any number polyinfra accepts (15). An event
with a number the column cannot hold exactly (or an integer past ``int64``), which no venue sends, is
left out and counted (:attr:`~polyinfra.record.parquet_tables.ExportSummary.left_out`), never rounded.
"""

from __future__ import annotations

from collections.abc import Collection
from decimal import Context, Decimal
from pathlib import Path
from typing import Any, Final

import pyarrow as pa

from polyinfra.errors import ExportError, InvalidNumberError, InvalidValueError
from polyinfra.model.live_events import ActivityTrade, CommentEvent, Gap, LiveEvent, PriceTick
from polyinfra.record.live_data_replay import LiveDataReplay
from polyinfra.record.parquet_tables import (
    ORIGIN_FIELDS,
    ExportSummary,
    ParquetTable,
    origin_of,
    prepare_output,
    utc_date_of,
)
from polyinfra.record.polybolt_replay import POLYBOLT_SOURCE, PolyBoltReplay
from polyinfra.record.rtds_replay import RTDS_SOURCE, RtdsReplay
from polyinfra.record.sink import Sink

__all__ = ["LIVE_DATA_DECIMAL", "LIVE_DATA_SOURCES", "LIVE_DATA_TABLES", "export_live_data_parquet", "live_event_row"]

LIVE_DATA_SOURCES: Final[dict[str, type[LiveDataReplay]]] = {RTDS_SOURCE: RtdsReplay, POLYBOLT_SOURCE: PolyBoltReplay}
"""The live-data sources exported, with the replay each is read through."""

_SCALE: Final = 22
LIVE_DATA_DECIMAL: Final = pa.decimal128(38, _SCALE)
"""The type of every price and size (see the module docstring)."""
_WHOLE_DIGITS: Final = 38 - _SCALE
_QUANTUM: Final = Decimal(1).scaleb(-_SCALE)
# Precise enough to write out any number the quantum allows: nothing the column holds is rounded.
_EXACT: Final = Context(prec=60)
_INT64: Final = range(-(2**63), 2**63)

LIVE_DATA_TABLES: Final[dict[str, pa.Schema]] = {
    "activity": pa.schema(
        [
            ("kind", pa.string()),
            ("wallet", pa.string()),
            ("side", pa.string()),
            ("price", LIVE_DATA_DECIMAL),
            ("size", LIVE_DATA_DECIMAL),
            ("token_id", pa.string()),
            ("condition_id", pa.string()),
            ("outcome", pa.string()),
            ("market_slug", pa.string()),
            ("event_slug", pa.string()),
            ("title", pa.string()),
            ("name", pa.string()),
            ("pseudonym", pa.string()),
            ("transaction_hash", pa.string()),
            ("timestamp_s", pa.int64()),
            *ORIGIN_FIELDS,
        ]
    ),
    "prices": pa.schema(
        [
            ("topic", pa.string()),
            ("symbol", pa.string()),
            ("price", LIVE_DATA_DECIMAL),
            ("backfill", pa.bool_()),
            *ORIGIN_FIELDS,
        ]
    ),
    "comments": pa.schema(
        [
            ("kind", pa.string()),
            ("comment_id", pa.string()),
            ("body", pa.string()),
            ("user_address", pa.string()),
            ("parent_entity_id", pa.int64()),
            ("parent_entity_type", pa.string()),
            ("reaction_type", pa.string()),
            *ORIGIN_FIELDS,
        ]
    ),
    "gaps": pa.schema(
        [
            ("topic", pa.string()),
            ("from_ms", pa.int64()),
            ("to_ms", pa.int64()),
            ("reason", pa.string()),
            *ORIGIN_FIELDS,
        ]
    ),
}
"""Each table's name and schema (see the module docstring)."""


async def export_live_data_parquet(
    sink: Sink,
    out: Path,
    *,
    source: str,
    topics: Collection[str] | None = None,
    keys: Collection[str] | None = None,
) -> ExportSummary:
    """Write the ``source`` (``rtds`` or ``polybolt``) tape in ``sink`` under ``out`` (an empty or new
    directory) as described above; ``topics`` and ``keys`` narrow the events as the replay's do (gaps
    concern every key of their topic and stay)."""
    replay_of = LIVE_DATA_SOURCES.get(source)
    if replay_of is None:
        raise ExportError("no such live-data source to export: rtds or polybolt", source=source[:40])
    prepare_output(out)
    tables = {name: ParquetTable(name, schema, out, source) for name, schema in LIVE_DATA_TABLES.items()}
    left_out = 0
    async for record, events in replay_of(sink, topics=topics, keys=keys).steps():
        date = utc_date_of(record.recv_wall_ns)
        for event in events:
            try:
                name, row, venue_ts_ms = live_event_row(event)
            except InvalidValueError:
                left_out += 1
                continue
            row.update(origin_of(record, venue_ts_ms))
            tables[name].add(date, row)
    for table in tables.values():
        table.flush()
    return ExportSummary(
        rows={name: table.rows for name, table in tables.items()},
        files=[path for table in tables.values() for path in table.files],
        left_out=left_out,
    )


def live_event_row(event: LiveEvent) -> tuple[str, dict[str, Any], int | None]:
    """The table ``event`` goes to, its row there (without the record's columns) and its venue time;
    :class:`~polyinfra.errors.InvalidValueError` when a value does not fit its column exactly."""
    if isinstance(event, ActivityTrade):
        return (
            "activity",
            {
                "kind": event.kind,
                "wallet": event.wallet,
                "side": event.side.value,
                "price": _exact(event.price),
                "size": _exact(event.size),
                "token_id": event.token_id,
                "condition_id": event.condition_id,
                "outcome": event.outcome,
                "market_slug": event.market_slug,
                "event_slug": event.event_slug,
                "title": event.title,
                "name": event.name,
                "pseudonym": event.pseudonym,
                "transaction_hash": event.transaction_hash,
                "timestamp_s": _int64(event.timestamp_s),
            },
            _int64(event.sent_ms),
        )
    if isinstance(event, PriceTick):
        row = {"topic": event.source, "symbol": event.symbol, "price": _exact(event.price), "backfill": event.backfill}
        return "prices", row, _int64(event.timestamp_ms)
    if isinstance(event, CommentEvent):
        return (
            "comments",
            {
                "kind": event.kind,
                "comment_id": event.comment_id,
                "body": event.body,
                "user_address": event.user_address,
                "parent_entity_id": None if event.parent_entity_id is None else _int64(event.parent_entity_id),
                "parent_entity_type": event.parent_entity_type,
                "reaction_type": event.reaction_type,
            },
            _int64(event.sent_ms),
        )
    if isinstance(event, Gap):
        row = {"topic": event.topic, "from_ms": _int64(event.from_ms), "to_ms": _int64(event.to_ms)}
        return "gaps", {**row, "reason": event.reason}, None
    raise InvalidValueError("not a live-data event", type=type(event).__name__)


def _exact(value: Decimal) -> Decimal:
    """``value`` when :data:`LIVE_DATA_DECIMAL` holds it exactly (trailing zeros past the scale are
    dropped, the number is the same); :class:`InvalidNumberError` otherwise."""
    if not value.is_finite() or value.adjusted() >= _WHOLE_DIGITS:
        raise InvalidNumberError(f"not finite, or {_WHOLE_DIGITS} digits or more before the point")
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent >= -_SCALE:
        return value
    # Only the adjusted exponent was checked above: quantize's result has at most 38 digits here.
    fitted = value.quantize(_QUANTUM, context=_EXACT)
    if fitted != value:
        raise InvalidNumberError(f"more than {_SCALE} decimals")
    return fitted


def _int64(value: int) -> int:
    if value not in _INT64:
        raise InvalidValueError("an integer past int64", bits=value.bit_length())
    return value
