"""The wallet watch's durable state, kept in a recorder sink (SQLite, PostgreSQL, NATS JetStream).

Four record kinds, all with ``source`` ``wallets`` and ``channel`` ``watch`` and the wallet as key:

* ``wallet fill``: a row the watch delivered (msgpack of the
  :class:`~polyinfra.model.wallet_activity.WalletActivity`). Its event id is the row's identity and
  its receive time the row's venue time, so a row stored twice (a crash between delivering and
  storing a batch repeats that batch) is stored once in every sink; PostgreSQL's uniqueness is the
  pair of both. The venue time also lets a restart read only the fills that can still be re-fetched.
* ``wallet progress``: the watermarks and walks of the wallets whose rows were handed to the
  consumer since the last one (msgpack list of
  :class:`~polyinfra.core.wallet_watch_state.WalletProgress`); the last one per wallet wins.
* ``wallet loss``: a :class:`~polyinfra.core.wallet_watch_state.LossEvent` (its event id names the
  span, so it too is stored once).
* ``wallet requests``: the times (the watch's clock, unix seconds) of the requests sent since the
  last such record, stored with every commit; the record's receive time is its newest request's, so a
  restart reads only the records that can still hold a request inside the budget's window and counts
  those requests against its own budget (:meth:`WalletWatchStore.load`'s ``requests_since_s``).
  Requests sent after the last commit before a crash are not stored: a crash may still spend them twice.

A batch goes in one :meth:`~polyinfra.record.sink.Sink.write`, so progress is never stored without
the rows delivered before it. Restoring reads every progress and loss record (the progress records
are the small part: one per commit, holding only the wallets that moved) and the fills no older than
the oldest watermark less the dedupe window.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Final, TypeVar

import msgspec

from polyinfra.core.wallet_watch_state import LossEvent, WalletProgress
from polyinfra.errors import CorruptRecordError
from polyinfra.model.wallet_activity import WalletActivity
from polyinfra.record.records import Record, RecordKind
from polyinfra.record.sink import Sink

__all__ = ["StoredWatch", "WalletWatchStore"]

SOURCE: Final = "wallets"
CHANNEL: Final = "watch"
_NS: Final = 1_000_000_000
_VENUE_TIMED: Final = (RecordKind.WALLET_FILL, RecordKind.WALLET_LOSS)
"""Kinds whose receive time is a venue time (a row's, a loss span's end); the others' are the watch's clock."""
_T = TypeVar("_T")
_encoder: Final = msgspec.msgpack.Encoder()
_fill_decoder: Final = msgspec.msgpack.Decoder(WalletActivity)
_loss_decoder: Final = msgspec.msgpack.Decoder(LossEvent)
_progress_decoder: Final = msgspec.msgpack.Decoder(list[WalletProgress])
_requests_decoder: Final = msgspec.msgpack.Decoder(list[float])


@dataclass
class StoredWatch:
    """What a store held: each wallet's last progress, the identities (with venue times) of the rows
    delivered that may still be re-fetched, how many loss events each wallet has, and the times of the
    requests sent since ``requests_since_s``."""

    progress: dict[str, WalletProgress] = field(default_factory=dict)
    delivered: dict[str, dict[tuple[str, ...], int]] = field(default_factory=dict)
    losses: dict[str, int] = field(default_factory=dict)
    requests_s: list[float] = field(default_factory=list)


class WalletWatchStore:
    """The wallet watch's state in ``sink`` (which the caller owns and closes)."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self._run_id = uuid.uuid4().hex
        self._index = itertools.count()

    async def commit(
        self,
        fills: Sequence[WalletActivity],
        losses: Sequence[LossEvent],
        progress: Iterable[WalletProgress],
        *,
        now_s: float,
        requests_s: Sequence[float] = (),
    ) -> None:
        """Store one batch durably (returns once the sink acknowledged it); ``requests_s`` are the times
        of the requests sent since the last batch."""
        records = [self._fill(row) for row in fills]
        records += [self._loss(loss) for loss in losses]
        if requests_s:
            event_id = f"{self._run_id}:{SOURCE}.{CHANNEL}.requests:{next(self._index)}"
            newest_ns = int(max(requests_s) * _NS)
            records.append(
                self._record(event_id, "", RecordKind.WALLET_REQUESTS, newest_ns, _encoder.encode(list(requests_s)))
            )
        moved = list(progress)
        if moved:
            now_ns = int(now_s * _NS)
            event_id = f"{self._run_id}:{SOURCE}.{CHANNEL}.0:{next(self._index)}"
            records.append(self._record(event_id, "", RecordKind.WALLET_PROGRESS, now_ns, _encoder.encode(moved)))
        if records:
            await self.sink.write(records)

    async def load(
        self, *, dedupe_window_s: int, default_since_s: int, requests_since_s: float | None = None
    ) -> StoredWatch:
        """Everything stored; fills only as far back as a resumed walk can re-fetch them (wallets
        without progress start at ``default_since_s`` or later); the times of the requests sent after
        ``requests_since_s`` (None: none are read)."""
        stored = StoredWatch()
        if requests_since_s is not None:
            start_ns = max(0, int(requests_since_s * _NS))
            async for record in self.sink.read(start_wall_ns=start_ns, kinds=(RecordKind.WALLET_REQUESTS,)):
                if record.source == SOURCE:
                    sent = _decode(_requests_decoder, record)
                    stored.requests_s += [time_s for time_s in sent if time_s > requests_since_s]
        async for record in self.sink.read(kinds=(RecordKind.WALLET_PROGRESS, RecordKind.WALLET_LOSS)):
            if record.source != SOURCE:
                continue
            if record.kind is RecordKind.WALLET_LOSS:
                loss = _decode(_loss_decoder, record)
                stored.losses[loss.wallet] = stored.losses.get(loss.wallet, 0) + 1
            else:
                for progress in _decode(_progress_decoder, record):
                    stored.progress[progress.wallet] = progress
        floors = {wallet: progress.watermark_s - dedupe_window_s for wallet, progress in stored.progress.items()}
        default_floor = default_since_s - dedupe_window_s
        oldest = min([default_floor, *floors.values()])
        async for record in self.sink.read(start_wall_ns=max(0, oldest) * _NS, kinds=(RecordKind.WALLET_FILL,)):
            if record.source != SOURCE:
                continue
            row = _decode(_fill_decoder, record)
            if row.timestamp_s >= floors.get(row.wallet, default_floor):
                stored.delivered.setdefault(row.wallet, {})[row.key] = row.timestamp_s
        return stored

    def _fill(self, row: WalletActivity) -> Record:
        event_id = f"{SOURCE}.{CHANNEL}:fill:{'|'.join(row.key)}"
        return self._record(event_id, row.wallet, RecordKind.WALLET_FILL, row.timestamp_s * _NS, _encoder.encode(row))

    def _loss(self, loss: LossEvent) -> Record:
        event_id = f"{SOURCE}.{CHANNEL}:loss:{loss.wallet}:{loss.from_s}:{loss.to_s}:{loss.reason.value}"
        return self._record(event_id, loss.wallet, RecordKind.WALLET_LOSS, loss.to_s * _NS, _encoder.encode(loss))

    def _record(self, event_id: str, key: str, kind: RecordKind, wall_ns: int, payload: bytes) -> Record:
        return Record(
            event_id=event_id,
            session_id=self._run_id,
            source=SOURCE,
            channel=CHANNEL,
            key=key,
            kind=kind,
            recv_wall_ns=wall_ns,
            recv_mono_ns=0,
            venue_ts_ms=wall_ns // 1_000_000 if kind in _VENUE_TIMED else None,
            payload=payload,
        )


def _decode(decoder: msgspec.msgpack.Decoder[_T], record: Record) -> _T:
    """The payload of ``record``; :class:`~polyinfra.errors.CorruptRecordError` when it does not decode."""
    try:
        return decoder.decode(record.payload)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise CorruptRecordError(
            f"a stored {record.kind.value} record does not decode", event_id=record.event_id[:100]
        ) from exc
