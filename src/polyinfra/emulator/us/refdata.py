"""The emulator's HealthAPI and RefDataAPI: the US exchange's reference data, served over gRPC.

``ListInstruments`` pages as the venue does: ``page_size`` defaults to 50 and may not pass 1000, and the
last page says ``eof``. A filter naming a symbol the exchange does not list is NOT_FOUND, "instrument does
not exist", the venue's words; bad arguments are INVALID_ARGUMENT (venue notes: US exchange connections).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Final

import grpc

from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState, instrument_to_wire
from polyinfra.wire.us.polymarket.v1 import health_pb2, health_pb2_grpc, refdata_pb2, refdata_pb2_grpc

__all__ = ["HealthService", "RefDataService"]

DEFAULT_PAGE_SIZE: Final = 50
MAX_PAGE_SIZE: Final = 1000


class HealthService(health_pb2_grpc.HealthAPIServicer):
    async def HealthCheck(  # noqa: N802 (the venue's method name)
        self, request: health_pb2.HealthCheckRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> health_pb2.HealthCheckResponse:
        return health_pb2.HealthCheckResponse(status="ok")


class RefDataService(refdata_pb2_grpc.RefDataAPIServicer):
    """Reference data of ``instruments``: a fixed listing, or a function giving the listing as it is now (the
    emulator's market, whose instruments change state)."""

    def __init__(self, instruments: Sequence[UsInstrument] | Callable[[], Sequence[UsInstrument]]) -> None:
        if callable(instruments):
            self._listing = instruments
        else:
            fixed = tuple(instruments)
            self._listing = lambda: fixed

    @property
    def _instruments(self) -> Sequence[UsInstrument]:
        return self._listing()

    async def ListInstruments(  # noqa: N802
        self, request: refdata_pb2.ListInstrumentsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> refdata_pb2.ListInstrumentsResponse:
        page_size = request.page_size or DEFAULT_PAGE_SIZE
        if not 0 < page_size <= MAX_PAGE_SIZE:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"page_size must be 1 to {MAX_PAGE_SIZE}")
        offset = _offset(request.page_token)
        if offset is None:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid page_token")
        listed = {instrument.symbol for instrument in self._instruments}
        unknown = [symbol for symbol in request.symbols if symbol not in listed]
        if unknown:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"instrument does not exist: {unknown[0][:200]}")
        try:
            states = {UsInstrumentState(state) for state in request.states}
        except ValueError:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown instrument state")
        chosen = [
            instrument
            for instrument in self._instruments
            if (not request.symbols or instrument.symbol in request.symbols)
            and (not states or instrument.state in states)
        ]
        assert offset is not None  # abort() raises; mypy cannot see that
        page = chosen[offset : offset + page_size]
        end = offset + len(page)
        eof = end >= len(chosen)
        return refdata_pb2.ListInstrumentsResponse(
            instruments=[instrument_to_wire(instrument) for instrument in page],
            next_page_token="" if eof else str(end),
            eof=eof,
        )

    async def ListSymbols(  # noqa: N802
        self, request: refdata_pb2.ListSymbolsRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> refdata_pb2.ListSymbolsResponse:
        return refdata_pb2.ListSymbolsResponse(symbols=[instrument.symbol for instrument in self._instruments])

    async def GetInstrumentMetadata(  # noqa: N802
        self, request: refdata_pb2.GetInstrumentMetadataRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> refdata_pb2.GetInstrumentMetadataResponse:
        # The venue does not document what this map holds; the emulator describes its listing.
        leagues = sorted({instrument.metadata.get("league", "") for instrument in self._instruments} - {""})
        return refdata_pb2.GetInstrumentMetadataResponse(
            metadata={
                "venue": "polyinfra emulator",
                "instruments": str(len(self._instruments)),
                "leagues": ",".join(leagues),
            }
        )


def _offset(page_token: str) -> int | None:
    if not page_token:
        return 0
    if len(page_token) > 9 or not page_token.isascii() or not page_token.isdigit():
        return None
    return int(page_token)
