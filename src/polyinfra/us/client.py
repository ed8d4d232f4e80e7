"""``UsExchangeClient``: the US exchange's health and reference data over one gRPC channel.

    async with UsExchangeClient("grpc-api.prod.polymarketexchange.com:443", call_metadata=token_headers) as us:
        for instrument in await us.instruments():
            print(instrument.symbol, instrument.price(655))

Instruments come back as :class:`~polyinfra.core.us_instruments.UsInstrument`, whose scales turn the venue's
int64 prices and quantities into exact decimals. ``call_metadata`` (a coroutine function returning header
pairs) is asked before every call: that is where authentication plugs in. Failed calls raise the typed
errors of :mod:`polyinfra.core.us_status`; a message that does not decode into an instrument raises
:class:`~polyinfra.errors.MalformedMessageError`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Final

from google.protobuf.message import Message

from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState, instrument_from_wire
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.net.grpc_channel import CallMetadata, call_unary, open_channel
from polyinfra.wire.us.polymarket.v1 import health_pb2, health_pb2_grpc, refdata_pb2, refdata_pb2_grpc

__all__ = ["PRODUCTION_TARGET", "UsExchangeClient"]

PRODUCTION_TARGET: Final = "grpc-api.prod.polymarketexchange.com:443"
DEFAULT_TIMEOUT_S: Final = 15.0
# The venue's largest page; fewer round trips against its 6-per-minute reference-data limit.
PAGE_SIZE: Final = 1000
# A server that keeps handing out page tokens must not keep a client paging forever.
MAX_PAGES: Final = 1000


class UsExchangeClient:
    """Health and reference data of the US exchange at ``target`` (``HOST:PORT``).

    ``insecure`` is for the emulator (the venue is TLS only); ``timeout_s`` bounds each call.
    """

    def __init__(
        self,
        target: str = PRODUCTION_TARGET,
        *,
        insecure: bool = False,
        call_metadata: CallMetadata | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        if not timeout_s > 0:
            raise InvalidValueError("timeout_s must be positive", timeout_s=timeout_s)
        self._channel = open_channel(target, insecure=insecure)
        self._call_metadata = call_metadata
        self._timeout_s = timeout_s
        self._health = health_pb2_grpc.HealthAPIStub(self._channel)
        self._refdata = refdata_pb2_grpc.RefDataAPIStub(self._channel)

    async def health(self) -> str:
        """The venue's health status (``"ok"``)."""
        answer = await self._call(self._health.HealthCheck, health_pb2.HealthCheckRequest(), "HealthAPI/HealthCheck")
        return str(answer.status)

    async def instruments(
        self, symbols: Iterable[str] = (), *, states: Iterable[UsInstrumentState] = ()
    ) -> list[UsInstrument]:
        """Every listed instrument, or those of ``symbols`` and in ``states``; all pages, in the venue's order."""
        request = refdata_pb2.ListInstrumentsRequest(
            page_size=PAGE_SIZE, symbols=list(symbols), states=[f"INSTRUMENT_STATE_{state.name}" for state in states]
        )
        found: list[UsInstrument] = []
        for _ in range(MAX_PAGES):
            page = await self._call(self._refdata.ListInstruments, request, "RefDataAPI/ListInstruments")
            found.extend(instrument_from_wire(instrument) for instrument in page.instruments)
            if page.eof or not page.next_page_token:
                return found
            if page.next_page_token == request.page_token:
                raise MalformedMessageError("ListInstruments returned the same page token again")
            request.page_token = page.next_page_token
        raise MalformedMessageError(f"ListInstruments did not end within {MAX_PAGES} pages")

    async def instrument(self, symbol: str) -> UsInstrument:
        """One instrument; :class:`~polyinfra.errors.GrpcNotFoundError` when the venue does not list it."""
        found = [instrument for instrument in await self.instruments([symbol]) if instrument.symbol == symbol]
        if len(found) != 1:
            raise MalformedMessageError("ListInstruments did not return the one instrument asked for", symbol=symbol)
        return found[0]

    async def symbols(self) -> list[str]:
        """Every listed symbol."""
        answer = await self._call(self._refdata.ListSymbols, refdata_pb2.ListSymbolsRequest(), "RefDataAPI/ListSymbols")
        return list(answer.symbols)

    async def instrument_metadata(self) -> dict[str, str]:
        """The venue's reference-data metadata map, as sent."""
        answer = await self._call(
            self._refdata.GetInstrumentMetadata,
            refdata_pb2.GetInstrumentMetadataRequest(),
            "RefDataAPI/GetInstrumentMetadata",
        )
        return dict(answer.metadata)

    async def _call(self, method: Callable[..., Any], request: Message, name: str) -> Any:
        return await call_unary(
            method, request, name=name, timeout_s=self._timeout_s, call_metadata=self._call_metadata
        )

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> UsExchangeClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()
