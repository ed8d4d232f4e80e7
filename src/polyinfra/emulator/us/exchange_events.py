"""The seam between the emulated US exchange's order handling and everything that reports what it did.

The order engine (order entry, matching, halts) says what happened through a :class:`UsExchangeEvents`; the
DropCopy history (executions, trade capture reports, instrument state changes, position changes, each with
resume tokens) is one listener, the order and position streams are others. The engine never knows who
listens, so each side is tested on its own and the emulator's runner connects them.

Every argument is the venue's own message (``polymarket.v1``), exactly as a stream would carry it.
"""

from __future__ import annotations

from typing import Protocol

from polyinfra.wire.us.polymarket.v1 import dropcopy_pb2, orders_pb2, refdata_pb2

__all__ = ["UsExchangeEvents"]


class UsExchangeEvents(Protocol):
    """What the exchange reports, in the order it happened. Calls are made from the emulator's event loop
    and must not block it."""

    def execution(self, execution: orders_pb2.Execution) -> None: ...

    def trade(self, trade: orders_pb2.Trade) -> None: ...

    def instrument_state_change(self, instrument: refdata_pb2.Instrument) -> None: ...

    def position_change(self, change: dropcopy_pb2.PositionChange) -> None: ...
