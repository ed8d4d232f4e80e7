"""``UsPositionStream``: the US exchange's position stream, kept open, as a stream of changed positions.

    async with UsExchangeClient(target, tokens=tokens) as us, UsPositionStream(us, accounts=[account]) as held:
        async for position in held.changes():
            print(position.symbol, position.net)

``CreatePositionSubscription`` sends the accounts' positions, then each position as it changes; like the order
stream it has no resume token (:class:`~polyinfra.us.snapshot_stream.SnapshotStream`), so a reconnect's
snapshot is compared with :attr:`UsPositionStream.positions` and only positions that differ are emitted. A
position carries no scale of its own: quantities are read through the instruments' quantity scales, from
reference data when the stream starts; a position of an instrument listed later is skipped and counted in
:attr:`UsPositionStream.unknown_symbols`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from polyinfra.core.us_instruments import UsInstrument
from polyinfra.core.us_orders import UsPosition, position_from_wire
from polyinfra.us.client import UsExchangeClient
from polyinfra.us.snapshot_stream import SnapshotStream
from polyinfra.wire.us.polymarket.v1 import positions_pb2

__all__ = ["UsPositionStream"]


class UsPositionStream(SnapshotStream[UsPosition, positions_pb2.CreatePositionSubscriptionResponse]):
    """The positions of ``accounts`` (empty: the user's) over ``client``'s channel."""

    _service: ClassVar[str] = "polymarket.v1.PositionAPI"
    _rpc: ClassVar[str] = "CreatePositionSubscription"
    _name: ClassVar[str] = "us-position-stream"

    def __init__(
        self,
        client: UsExchangeClient,
        *,
        accounts: Iterable[str] = (),
        reconnect_initial_s: float = 1.0,
        reconnect_max_s: float = 30.0,
        queue_size: int = 10_000,
    ) -> None:
        super().__init__(
            client,
            positions_pb2.CreatePositionSubscriptionRequest(accounts=list(accounts)),
            positions_pb2.CreatePositionSubscriptionResponse,
            reconnect_initial_s=reconnect_initial_s,
            reconnect_max_s=reconnect_max_s,
            queue_size=queue_size,
        )
        self._instruments: dict[str, UsInstrument] = {}
        self.positions: dict[tuple[str, str], UsPosition] = {}
        """The last known position by ``(account, symbol)``."""
        self.unknown_symbols = 0

    async def start(self) -> None:
        self._instruments = {instrument.symbol: instrument for instrument in await self._client.instruments()}
        await super().start()

    def _on_message(self, message: positions_pb2.CreatePositionSubscriptionResponse) -> None:
        event = message.WhichOneof("event")
        if event == "snapshot":
            self._emit(self._changed(message.snapshot.positions))
            self._snapshot_taken()
        elif event == "update":
            self._emit(self._changed(message.update.positions))

    def _changed(self, messages: Iterable[positions_pb2.Position]) -> list[UsPosition]:
        changed = []
        for message in messages:
            instrument = self._instruments.get(message.symbol)
            if instrument is None:
                self.unknown_symbols += 1
                continue
            position = position_from_wire(message, instrument)
            key = (position.account, position.symbol)
            if self.positions.get(key) != position:
                self.positions[key] = position
                changed.append(position)
        return changed
