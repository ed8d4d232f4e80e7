"""The contract every recorder sink keeps (SQLite, PostgreSQL, NATS JetStream).

* :meth:`Sink.write` returns only once the batch is durable: that is what "acknowledged" means.
  The recorder moves its acknowledged watermark after it returns, never before.
* Writing is idempotent by ``event_id``: a record written twice (a writer restarted after a crash
  re-sends what it cannot prove was stored) is stored once.
* :meth:`Sink.read_chunks` yields records in the order they were written, which for one recording
  session is the order the recorder's queue received them (the monotonic order).
* A stored row that cannot be read back raises :class:`~polyinfra.errors.CorruptRecordError`
  naming it; nothing else escapes but :class:`~polyinfra.errors.RecorderError`.

The methods are coroutines because the network sinks are; an embedded sink runs its blocking
calls in a worker thread so that the event loop (and the socket readers on it) never waits for a
disk. ``tests/record/test_sink_conformance.py`` is the suite every sink must pass.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Collection, Sequence

from polyinfra.record.records import Record, RecordKind, SessionHeader, SourceChannel

__all__ = ["Sink"]


class Sink(ABC):
    """Durable storage of records and session headers."""

    url: str
    """Where the sink stores, as given to :func:`~polyinfra.record.sink_urls.open_sink` with any
    password masked (it is shown in status lines and errors)."""

    @abstractmethod
    async def write_header(self, header: SessionHeader) -> None:
        """Store a session's header (again: idempotent by ``session_id``)."""

    @abstractmethod
    async def write(self, records: Sequence[Record]) -> None:
        """Store the batch durably, each ``event_id`` once; raises
        :class:`~polyinfra.errors.SinkWriteError` when the batch is not durable."""

    @abstractmethod
    def read_chunks(
        self,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        kinds: Collection[RecordKind] | None = None,
        source_channel: SourceChannel | None = None,
    ) -> AsyncIterator[Sequence[Record]]:
        """Records in written order, received in ``[start_wall_ns, end_wall_ns)``, of ``kinds`` and
        of one ``(source, channel)`` (None: all), a chunk at a time (what one trip to the store
        brought; a chunk may hold no record)."""

    async def read(
        self,
        *,
        start_wall_ns: int | None = None,
        end_wall_ns: int | None = None,
        kinds: Collection[RecordKind] | None = None,
        source_channel: SourceChannel | None = None,
    ) -> AsyncIterator[Record]:
        """As :meth:`read_chunks`, one record at a time."""
        chunks = self.read_chunks(
            start_wall_ns=start_wall_ns, end_wall_ns=end_wall_ns, kinds=kinds, source_channel=source_channel
        )
        async for chunk in chunks:
            for record in chunk:
                yield record

    @abstractmethod
    async def headers(self) -> list[SessionHeader]:
        """Every session's header, in the order the sessions started."""

    @abstractmethod
    async def close(self) -> None:
        """Release the storage; written records stay durable."""
