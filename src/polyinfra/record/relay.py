"""The relay: a durable JetStream consumer that copies a recording into another sink (PostgreSQL)
exactly once, so databases and book builders on other machines follow the fleet's streams.

The life of one batch::

    fetch (up to batch_size, from the durable consumer) ──> decode ──> target.write_header / write
         ▲                                                                     │ returns = committed
         └──────────────── ack every message of the batch  <──────────────────┘

* **Acked only after the commit.** A message is acknowledged once the target stored it durably
  (:meth:`~polyinfra.record.sink.Sink.write` returned): a relay killed anywhere before that leaves
  the batch unacknowledged, and the server delivers it again after ``ack_wait_s``, to this relay or
  to the next one started with the same ``durable`` name.
* **Stored once.** A relay killed after the commit and before its acks reach the server gets the
  batch again; the target stores each ``event_id`` once (the sink contract), so the second copy
  stores nothing. Session headers are idempotent the same way.
* **In the stream's order.** The target's written order is the order a replay reads, so it must be
  the recording's: the consumer has at most one batch unacknowledged (``max_ack_pending`` is the
  batch size). After a crash the server delivers nothing newer until the batch it redelivers, in
  stream order, is acknowledged. (With more in flight, a restarted relay stored the new messages
  first and the redelivered ones after them: every record once, but out of order.)
* **A failing target never loses a batch.** A write that fails is retried with a backoff, the batch
  held (and unacknowledged) meanwhile.
* **A fleet recording** (``STREAM-shard-N`` streams) gets one durable consumer per shard stream,
  all under ``durable``; the relay takes a batch from each in turn.
* A message that does not decode is logged, counted and acknowledged (it can never be stored, and
  must not stall everything behind it); a fleet's takeover markers are acknowledged unstored.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from polyinfra.core.backoff import Backoff
from polyinfra.core.config_checks import positive_int, positive_number
from polyinfra.errors import CorruptRecordError, InvalidValueError, RecorderError
from polyinfra.obs.logging import get_logger
from polyinfra.record.jetstream_sink import JetStreamSink, stored_message
from polyinfra.record.records import Record, SessionHeader
from polyinfra.record.sink import Sink

__all__ = ["Relay", "RelayStats"]

_log = get_logger(__name__)

_DURABLE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,64}")
_IDLE_FETCH_S: Final = 1.0
"""How long a round of fetches waits for messages when no stream has any new (then it starts again)."""


@dataclass(slots=True)
class RelayStats:
    """Counters of a :class:`Relay`."""

    records: int = 0
    """Records written to the target (a redelivered record counts again: the target stored it once)."""
    headers: int = 0
    batches: int = 0
    corrupt: int = 0
    """Messages that did not decode (acknowledged, not stored)."""
    write_failures: int = 0


class Relay:
    """Copies the recording of ``source`` into ``target`` through the durable consumer ``durable``."""

    def __init__(
        self,
        source: JetStreamSink,
        target: Sink,
        *,
        durable: str = "polyinfra-relay",
        batch_size: int = 1_000,
        ack_wait_s: float = 30.0,
        retry_initial_s: float = 0.5,
        retry_max_s: float = 10.0,
    ) -> None:
        if not _DURABLE_NAME.fullmatch(durable):
            raise InvalidValueError("a durable consumer name is 1 to 64 letters, digits, '_' or '-'", durable=durable)
        self._source = source
        self._target = target
        self._durable = durable
        self._batch_size = positive_int("batch_size", batch_size)
        self._ack_wait_s = positive_number("ack_wait_s", ack_wait_s)
        self._backoff = Backoff(initial_s=retry_initial_s, max_s=retry_max_s, random=lambda: 0.0)
        self.stats = RelayStats()

    async def run(self) -> None:
        """Relay until cancelled."""
        subscriptions = await self._subscribe()
        if not subscriptions:
            raise RecorderError(
                "no recording of that name on the server yet: start the relay once it has records",
                url=self._source.url,
            )
        # A round of streams with nothing new waits about _IDLE_FETCH_S in all, not that per stream.
        idle_fetch_s = _IDLE_FETCH_S / len(subscriptions)
        while True:
            for subscription in subscriptions:
                await self._relay_batch(subscription, idle_fetch_s)

    async def _subscribe(self) -> list[JetStreamContext.PullSubscription]:
        subscriptions = []
        for jetstream, stream in await self._source.read_streams():
            config = ConsumerConfig(
                durable_name=self._durable,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=self._ack_wait_s,
                max_ack_pending=self._batch_size,
            )
            try:
                subscriptions.append(
                    await jetstream.pull_subscribe(
                        f"polyinfra.{stream}.>", durable=self._durable, stream=stream, config=config
                    )
                )
            except (nats.errors.Error, OSError, TimeoutError) as exc:
                raise RecorderError(
                    f"cannot open the relay's durable consumer: {type(exc).__name__}: {exc}"[:300],
                    retriable=True,
                    stream=stream,
                ) from exc
        return subscriptions

    async def _relay_batch(self, subscription: JetStreamContext.PullSubscription, idle_fetch_s: float) -> None:
        try:
            messages = await subscription.fetch(self._batch_size, timeout=idle_fetch_s)
        except (nats.errors.TimeoutError, TimeoutError):
            return  # nothing new in this stream
        except (nats.errors.Error, OSError) as exc:
            _log.warning("relay fetch failed; trying again", error=f"{type(exc).__name__}: {exc}"[:300])
            await asyncio.sleep(self._backoff.next_delay_s())
            return
        headers, records = self._decoded(messages)
        while True:
            try:
                for header in headers:
                    await self._target.write_header(header)
                if records:
                    await self._target.write(records)
            except RecorderError as exc:
                self.stats.write_failures += 1
                delay_s = self._backoff.next_delay_s()
                _log.warning("relay target write failed; retrying", error=exc.message[:300], retry_in_s=delay_s)
                await asyncio.sleep(delay_s)
            else:
                break
        self._backoff.reset()
        await self._ack(messages)
        self.stats.records += len(records)
        self.stats.headers += len(headers)
        self.stats.batches += 1

    def _decoded(self, messages: Sequence[Msg]) -> tuple[list[SessionHeader], list[Record]]:
        headers: list[SessionHeader] = []
        records: list[Record] = []
        for message in messages:
            try:
                stored = stored_message(message)
            except CorruptRecordError as exc:
                self.stats.corrupt += 1
                _log.error("relay skipped a message that does not decode", **exc.context)
                continue
            if isinstance(stored, Record):
                records.append(stored)
            elif isinstance(stored, SessionHeader):
                headers.append(stored)
        return headers, records

    async def _ack(self, messages: Sequence[Msg]) -> None:
        """Acknowledge the batch. An ack that does not reach the server only means a redelivery,
        which the target stores nothing of."""
        try:
            for message in messages:
                await message.ack()
        except (nats.errors.Error, OSError) as exc:
            _log.warning("relay acknowledgement failed; the batch comes again", error=type(exc).__name__)
