"""What a recorded user-channel session stores, and how: the records of :class:`UserChannelRecording`.

A :class:`~polyinfra.clob.user_channel.UserChannel` given a ``recorder`` sends its session to
``recorder.tap("clob", "user")`` as the market channel's does. Each data frame as received, keyed
by the condition id of its messages' market (empty when a frame holds none, or several markets'
messages): the market, not the asset, because markets are what the channel subscribes and
reconciles, so a frame's key is also a coverage key. Sent frames go through the recorder's
redaction hook, which masks the subscription's ``apiKey``, ``secret`` and ``passphrase`` in place.
The venue echoes the API key as the ``owner`` of the user's orders and trades, so received frames
and REST answers are stored with every occurrence of it masked (``[REDACTED]``): the only bytes
stored otherwise than received. Each reconciliation is a ``resync requested`` record (its reason)
and the REST answers it used, as one ``rest response`` with the same fetch id (or ``snapshot
failed``). Coverage keys are the subscribed condition ids (empty: every market): live from a
session's reconciliation until its socket closes, so a disconnect is a gap. A reconciliation's
events are made from its answers
(:func:`~polyinfra.clob.user_reconciliation.reconciliation_events`) only once all are in, right
before they are recorded and offered, so :class:`~polyinfra.clob.user_replay.UserReplay` makes
the same ones from the tape.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

import msgspec

from polyinfra.clob.user_events import venue_timestamp_ms
from polyinfra.clob.user_reconciliation import ReconciliationAnswers
from polyinfra.model.events import SyncState
from polyinfra.obs.redaction import MASK
from polyinfra.record.records import NO_CONNECTION, RecordKind
from polyinfra.record.tap import ChannelTap, frame_bytes
from polyinfra.wire.clob_user import UserEvent

__all__ = ["UserChannelRecording"]

# The recorder's connection id of the channel's socket: one socket, one session after the other.
_RECORDED_CONNECTION: Final = 1
# The coverage key of a channel subscribed to every market.
_EVERY_MARKET: Final = ""

_encode_answers: Final = msgspec.json.Encoder().encode


class UserChannelRecording:
    """The records of one user channel's run, written to its ``tap`` with ``api_key`` masked in
    what the venue sent. ``markets`` arguments are the subscribed condition ids (empty: every market)."""

    __slots__ = ("_api_key", "_tap")

    def __init__(self, tap: ChannelTap, api_key: str) -> None:
        self._tap = tap
        self._api_key = api_key

    def frame_sent(self, frame: str) -> None:
        self._tap.frame_sent(_RECORDED_CONNECTION, frame)

    def markets_changed(self, kind: RecordKind, markets: Sequence[str]) -> None:
        """Markets subscribed or unsubscribed on the open socket (``kind``)."""
        self._tap.tokens(kind, _RECORDED_CONNECTION, markets)

    def every_market_replaced(self) -> None:
        """The subscription to every market ends: the markets named next replace it."""
        self._tap.tokens(RecordKind.UNSUBSCRIBED, _RECORDED_CONNECTION, [_EVERY_MARKET])

    def session_opened(self, session: int, markets: Collection[str]) -> None:
        """Session number ``session`` sent its subscription to ``markets``."""
        kind = RecordKind.RECONNECTED if session > 1 else RecordKind.CONNECTED
        self._tap.lifecycle(kind, _RECORDED_CONNECTION, token_ids=_coverage_keys(markets), session=session)

    def subscribed(self, markets: Collection[str]) -> None:
        """The venue proved it read the session's subscription (its first ``PONG``)."""
        self._tap.tokens(RecordKind.SUBSCRIBED, _RECORDED_CONNECTION, _coverage_keys(markets))

    def session_ended(self, reason: str, code: int | None, markets: Collection[str]) -> None:
        """The session's socket closed: its markets are no longer covered."""
        self._tap.lifecycle(RecordKind.CONNECTION_LOST, _RECORDED_CONNECTION, reason=reason, code=code)
        self.coverage(SyncState.STALE, reason, markets)

    def frame_received(self, frame: str | bytes, messages: Sequence[UserEvent]) -> None:
        """A data frame and the messages it decoded to, keyed by their market, stamped with their venue time."""
        key, venue_ts_ms = _recorded_key_and_time(messages)
        self._tap.frame_received(_RECORDED_CONNECTION, self._without_api_key(frame), venue_ts_ms=venue_ts_ms, key=key)

    def undecoded_frame_received(self, frame: str | bytes) -> None:
        """A data frame that did not decode or convert: stored all the same, the tape holds what the socket said."""
        self._tap.frame_received(_RECORDED_CONNECTION, self._without_api_key(frame))

    def reconciliation_requested(self, fetch_id: int, reason: str, markets: Collection[str]) -> None:
        self._tap.lifecycle(
            RecordKind.RESYNC_REQUESTED,
            NO_CONNECTION,
            key=str(fetch_id),
            token_ids=_coverage_keys(markets),
            reason=reason,
        )

    def reconciliation_answered(self, fetch_id: int, answers: ReconciliationAnswers) -> None:
        self._tap.rest_response(fetch_id, self._without_api_key(_encode_answers(answers)), venue_ts_ms=None)

    def reconciliation_failed(self, fetch_id: int) -> None:
        self._tap.lifecycle(RecordKind.SNAPSHOT_FAILED, NO_CONNECTION, key=str(fetch_id))

    def coverage(self, state: SyncState, reason: str, markets: Collection[str]) -> None:
        """Whether the recording vouches for the subscribed markets from now: the manifest's
        ``state changed`` records, as a market-channel book's."""
        for key in _coverage_keys(markets):
            self._tap.lifecycle(RecordKind.STATE_CHANGED, NO_CONNECTION, key=key, state=state, reason=reason)

    def _without_api_key(self, received: str | bytes) -> bytes:
        """What the venue sent, as it may be stored: the API key it echoes as ``owner`` masked."""
        return frame_bytes(received).replace(self._api_key.encode(), MASK.encode())


def _coverage_keys(markets: Collection[str]) -> list[str]:
    """The recording's keys of the channel's coverage: the subscribed markets, or "" for every market."""
    return [*markets] or [_EVERY_MARKET]


def _recorded_key_and_time(messages: Sequence[UserEvent]) -> tuple[str, int | None]:
    """A received frame's recording key (its messages' one market, else empty) and venue time
    (its first message's that carries one; never local time)."""
    markets = {message.market for message in messages}
    key = markets.pop() if len(markets) == 1 else ""
    times = (venue_timestamp_ms(message.timestamp) for message in messages)
    return key, next((ms for ms in times if ms is not None), None)
