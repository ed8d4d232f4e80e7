"""The emulated US exchange's pooled stream budget: concurrent gRPC streams per firm, across every RPC.

The venue allows a firm 20 concurrent streams, pooled across all stream types
(venue notes: US exchange market data): market data, the four DropCopy streams, the order and position streams
all draw from the same 20, and the 21st open of any kind is refused with RESOURCE_EXHAUSTED. One
:class:`StreamBudget` per emulator is shared by every streaming servicer; each stream holds a slot for as long
as it runs::

    async with budget.stream(context):   # over the budget: the call ends RESOURCE_EXHAUSTED, the venue's text
        ...serve the stream...           # the slot is back when the block ends, however it ends

(:meth:`StreamBudget.hold` is the same for code that ends its calls its own way: it raises
:class:`OverBudgetError`.)

The limit is read at each open from ``limit`` (the market-data fault knob ``streams_per_firm``), so a test
lowers it to 2 and sees the 3rd open refused, whatever RPCs the first two were. The firm is the
``x-participant-id`` the call carries (none: one anonymous firm).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, Final

import grpc

__all__ = ["PARTICIPANT_HEADER", "OverBudgetError", "StreamBudget", "firm_of"]

PARTICIPANT_HEADER: Final = "x-participant-id"
"""The call metadata naming the participant, and so the firm, a call is made for."""


def firm_of(context: grpc.aio.ServicerContext[Any, Any]) -> str:
    """The firm a call is made for: its ``x-participant-id`` (none: one anonymous firm)."""
    return str(dict(context.invocation_metadata() or ()).get(PARTICIPANT_HEADER, ""))


class OverBudgetError(Exception):
    """A stream over the firm's budget: the call ends with :attr:`code` and :attr:`details`."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED

    def __init__(self, limit: int) -> None:
        self.details = f"at most {limit} concurrent streams per firm"
        super().__init__(self.details)


class StreamBudget:
    """Slots of concurrent streams per firm, at most ``limit()`` each (see the module docstring)."""

    def __init__(self, limit: Callable[[], int]) -> None:
        self._limit = limit
        self._held: Counter[str] = Counter()
        self.refused = 0

    def held(self, firm: str) -> int:
        """The streams ``firm`` holds now, of every kind."""
        return self._held[firm]

    @contextlib.contextmanager
    def hold(self, firm: str) -> Iterator[None]:
        """One slot of ``firm``'s budget for the block; :class:`OverBudgetError` when none is free."""
        self._take(firm)
        try:
            yield
        finally:
            self._held[firm] -= 1

    @contextlib.asynccontextmanager
    async def stream(self, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[None]:
        """A slot for the streaming call ``context`` (of :func:`firm_of` it) for the block; a call over the
        budget is ended with RESOURCE_EXHAUSTED and the venue's text instead."""
        firm = firm_of(context)
        try:
            self._take(firm)
        except OverBudgetError as over:
            await context.abort(over.code, over.details)
        try:
            yield
        finally:
            self._held[firm] -= 1

    def _take(self, firm: str) -> None:
        limit = self._limit()
        if self._held[firm] >= limit:
            self.refused += 1
            raise OverBudgetError(limit)
        self._held[firm] += 1
