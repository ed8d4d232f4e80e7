"""The recorder's data model: one :class:`Record` per thing that happened on a connection, and the
:class:`SessionHeader` that says where and with which clock a recording session was made.

A record keeps the payload *raw*, as received (or as sent, after redaction): replay runs
polyinfra's own parsers over it, so a parser fixed later can be re-applied to an old tape.
Control traffic is recorded too, because replaying a book exactly needs to know when the client
subscribed, when a session was proven, which tokens a REST snapshot was requested for and when
it answered.

Times: ``recv_mono_ns`` (``time.monotonic_ns()``) is the ordering key within a session; wall
time (``recv_wall_ns``) is metadata. ``venue_ts_ms`` is the venue's own timestamp when the message
carries one and None otherwise, never backfilled from a local clock.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final, TypeVar

import msgspec

from polyinfra.errors import CorruptRecordError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "NO_CONNECTION",
    "Record",
    "RecordKind",
    "SessionHeader",
    "SourceChannel",
    "connection_number",
    "decode_stored",
]

_T = TypeVar("_T")

NO_CONNECTION: Final = 0
"""The connection id of records that belong to no socket (REST answers, the recorder's own gaps)."""


class RecordKind(StrEnum):
    """What a record says happened. Lifecycle payloads are small JSON objects (fields below)."""

    FRAME_RECEIVED = "frame received"
    """A data frame as received (the payload), on the connection named in the event id."""
    FRAME_SENT = "frame sent"
    """A frame the client sent (subscribe, unsubscribe), after the sent-frame redaction hook."""
    REST_RESPONSE = "rest response"
    """The answer to a REST snapshot request used for a book sync (``POST /books``: its body exactly
    as received); ``key`` is the request's fetch id.
    The user channel's: the REST answers one reconciliation used (open orders, trades, orders looked
    up), as one JSON object, with the fetch id of its ``resync requested`` record."""
    CONNECTED = "connected"
    """A connection's first session opened: ``{"token_ids": [...]}`` (the user channel: its
    coverage keys, the subscribed condition ids, or ``[""]`` for every market)."""
    RECONNECTED = "reconnected"
    """A later session of the connection opened: ``{"token_ids": [...], "session": n}``."""
    CONNECTION_LOST = "connection lost"
    """The connection closed or was found dead: ``{"reason": ..., "code": close code or null}``."""
    SUBSCRIBED = "subscribed"
    """Tokens were assigned to the connection: ``{"token_ids": [...]}``. PolyBolt's: a subscription key
    (channel and filter) now serves these live-data topics too: ``{"subscription": ..., "topics": [...]}``."""
    UNSUBSCRIBED = "unsubscribed"
    """Tokens were dropped: ``{"token_ids": [...]}``. PolyBolt's: a subscription key no longer serves these
    topics (unsubscribed or refused; with none left, it is dropped): ``{"subscription": ..., "topics": [...]}``."""
    SNAPSHOT_REQUESTED = "snapshot requested"
    """A REST snapshot batch went out: ``key`` is its fetch id, ``{"token_ids": [...]}``."""
    SNAPSHOT_FAILED = "snapshot failed"
    """The batch with fetch id ``key`` could not be used (no answer, or one that did not apply); for
    the user channel, the reconciliation with that fetch id failed (it is retried)."""
    RESYNC_REQUESTED = "resync requested"
    """The client asked for fresh snapshots on its own timers: ``{"token_ids": [...], "reason": ...}``.
    The user channel's reconciliations: ``key`` is the fetch id, ``token_ids`` its markets."""
    STATE_CHANGED = "state changed"
    """Token ``key`` (the user channel: market) changed sync state: ``{"state": ..., "reason": ...}``
    (the stale windows)."""
    CHECKPOINT = "checkpoint"
    """Token ``key``'s book as the live client held it at this point: its exact levels and their
    digest (a :class:`~polyinfra.record.book_checkpoint.BookCheckpoint`, msgpack)."""
    GAP = "gap"
    """Records the recorder could not keep, for every key of the source and channel:
    ``{"reason": ..., "dropped": n, "from_wall_ns": ..., "to_wall_ns": ...}``."""
    CLOCK_SAMPLE = "clock sample"
    """``{"wall_minus_monotonic_ns": ...}``, taken periodically (the clock-offset samples)."""
    WALLET_FILL = "wallet fill"
    """A row the wallet watch delivered (``key``: the wallet), stored so a restart never delivers it
    again; the payload and event id are :mod:`polyinfra.wallets.watch_store`'s."""
    WALLET_PROGRESS = "wallet progress"
    """The wallet watch's watermarks and cursors, for the rows delivered before it."""
    WALLET_LOSS = "wallet loss"
    """A span of one wallet's activity the wallet watch could not prove complete."""
    WALLET_REQUESTS = "wallet requests"
    """Times of requests the wallet watch sent, so a restart within the budget's window counts them."""


class Record(msgspec.Struct, frozen=True, gc=False):
    """One recorded thing. ``key`` is a token id (the user channel: a market's condition id), a
    fetch id for REST answers and snapshot requests, or empty for a whole connection.

    ``event_id`` is ``<session id>:<source>.<channel>.<connection>:<index>``: the recording
    session, the connection (the client's own number, 0 for what belongs to no socket) and the
    record's index on that connection, so it is unique and stable across a writer's restarts.
    """

    event_id: str
    session_id: str
    source: str
    channel: str
    key: str
    kind: RecordKind
    recv_wall_ns: int
    recv_mono_ns: int
    venue_ts_ms: int | None
    payload: bytes


SourceChannel = tuple[str, str]
"""A recorded ``(source, channel)``, such as ``("clob", "market")``: what a replay reads."""


class SessionHeader(msgspec.Struct, frozen=True):
    """Where and how a recording session was made (its clock provenance)."""

    session_id: str
    host_id: str
    started_wall_ns: int
    """When the recording session started (its recorder was made), wall clock."""
    started_mono_ns: int
    """The same moment on the monotonic clock: the origin of the session's ``recv_mono_ns``."""
    clock_source: str
    """The wall clock's implementation as the OS reports it (``time.get_clock_info``); the offset
    samples that follow are :attr:`RecordKind.CLOCK_SAMPLE` records of the session."""


def connection_number(event_id: str) -> int:
    """The connection number inside an ``event_id`` (``session:source.channel.N:index``);
    :class:`~polyinfra.errors.CorruptRecordError` when it names none."""
    prefix = event_id.rpartition(":")[0]
    try:
        return int(prefix.rpartition(".")[2])
    except ValueError as exc:
        raise CorruptRecordError("a record's event id names no connection", event_id=event_id[:100]) from exc


def decode_stored(decoder: JsonDecoder[_T], record: Record, problem: str) -> _T:
    """``record``'s JSON payload decoded; :class:`~polyinfra.errors.CorruptRecordError` saying ``problem``
    when it does not decode (the client wrote it from a value it held: the stored copy is damaged)."""
    try:
        return decoder.decode(record.payload)
    except MalformedMessageError as exc:
        raise CorruptRecordError(problem, event_id=record.event_id[:100]) from exc
