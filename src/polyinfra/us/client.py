"""``UsExchangeClient``: the US exchange's health and reference data over one gRPC channel.

    async with TokenManager(client_id=..., private_key=..., token_url=...) as tokens:
        async with UsExchangeClient("grpc-api.prod.polymarketexchange.com:443", tokens=tokens) as us:
            for instrument in await us.instruments():
                print(instrument.symbol, instrument.price(655))

Instruments come back as :class:`~polyinfra.core.us_instruments.UsInstrument`, whose scales turn the venue's
int64 prices and quantities into exact decimals. ``tokens`` (a :class:`~polyinfra.us.token_manager.TokenManager`)
authenticates every call: the current token goes with each, and a call refused ``UNAUTHENTICATED`` is made
once more with a replaced token (:class:`~polyinfra.us.grpc_auth.CallAuth`); ``call_metadata`` (a coroutine
function returning header pairs) adds headers of the caller's own. Failed calls raise the typed
errors of :mod:`polyinfra.core.us_status`; a message that does not decode into an instrument raises
:class:`~polyinfra.errors.MalformedMessageError`.

``protos`` says whose field numbers to speak (venue notes: US exchange protos). By default polyinfra's
compiled-in ones, right for the emulator and for the market-data file only; ``protos=load_bundle(...)``
speaks the venue's official bundle, and ``protos="reflection"`` asks the server for its descriptors on the
first call. Either way messages are carried across by field name (:class:`DynamicCodec`), and a method the
venue has renamed is found under its newer name (``SearchInstruments`` for ``ListInstruments``). The streams
opened over a client (orders, positions) and the DropCopy archiver speak the same numbering, through
:meth:`UsExchangeClient.method`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Generic, Literal, TypeVar

import grpc
from google.protobuf.message import DecodeError, Message

from polyinfra.core.us_descriptors import UsProtos, first_unknown_field
from polyinfra.core.us_dynamic_codec import DynamicCodec
from polyinfra.core.us_instruments import UsInstrument, UsInstrumentState, instrument_from_wire
from polyinfra.errors import InvalidValueError, MalformedMessageError, ProtoMismatchError
from polyinfra.net.grpc_channel import CallHeaders, CallMetadata, call_unary, open_channel
from polyinfra.net.grpc_reflection import fetch_protos
from polyinfra.us.grpc_auth import CallAuth
from polyinfra.us.token_manager import TokenManager
from polyinfra.wire.us.polymarket.v1 import health_pb2, refdata_pb2

__all__ = ["PRODUCTION_TARGET", "ProtosChoice", "UsExchangeClient", "UsMethod"]

ProtosChoice = UsProtos | Literal["reflection"] | None
ResponseT = TypeVar("ResponseT", bound=Message)
HEALTH_API: Final = "polymarket.v1.HealthAPI"
REFDATA_API: Final = "polymarket.v1.RefDataAPI"
# Newer names the venue's changelog uses for the same reads.
METHOD_ALIASES: Final = {"ListInstruments": ("SearchInstruments",)}

PRODUCTION_TARGET: Final = "grpc-api.prod.polymarketexchange.com:443"
DEFAULT_TIMEOUT_S: Final = 15.0
# The venue's largest page; fewer round trips against its 6-per-minute reference-data limit.
PAGE_SIZE: Final = 1000
# A server that keeps handing out page tokens must not keep a client paging forever.
MAX_PAGES: Final = 1000


class UsExchangeClient:
    """Health and reference data of the US exchange at ``target`` (``HOST:PORT``).

    ``insecure`` is for the emulator (the venue is TLS only); ``timeout_s`` bounds each call; ``protos`` picks
    the field numbers spoken (see the module's text).
    """

    def __init__(
        self,
        target: str = PRODUCTION_TARGET,
        *,
        insecure: bool = False,
        tokens: TokenManager | None = None,
        call_metadata: CallMetadata | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        protos: ProtosChoice = None,
    ) -> None:
        if not timeout_s > 0:
            raise InvalidValueError("timeout_s must be positive", timeout_s=timeout_s)
        if not (protos is None or protos == "reflection" or isinstance(protos, UsProtos)):
            raise InvalidValueError('protos must be None, "reflection" or load_bundle(...)', protos=protos)
        self._target = target
        self._channel = open_channel(target, insecure=insecure)
        self._auth = CallAuth(tokens, call_metadata)
        self._timeout_s = timeout_s
        self._protos = protos
        self._codec: DynamicCodec | None = DynamicCodec(protos) if isinstance(protos, UsProtos) else None
        # Concurrent first calls share one reflection round trip.
        self._reflection_lock = asyncio.Lock()

    async def protos(self) -> UsProtos | None:
        """The descriptors spoken: the bundle's or the server's; None for polyinfra's compiled-in ones."""
        if self._protos == "reflection" and self._codec is None:
            async with self._reflection_lock:
                if self._codec is None:
                    fetched = await self._auth.call(
                        lambda metadata: fetch_protos(
                            self._channel, target=self._target, timeout_s=self._timeout_s, metadata=metadata
                        )
                    )
                    self._codec = DynamicCodec(fetched)
        return self._codec.theirs if self._codec is not None else None

    async def health(self) -> str:
        """The venue's health status (``"ok"``)."""
        answer = await self.call(
            HEALTH_API, "HealthCheck", health_pb2.HealthCheckRequest(), health_pb2.HealthCheckResponse
        )
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
            page = await self.call(REFDATA_API, "ListInstruments", request, refdata_pb2.ListInstrumentsResponse)
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
        answer = await self.call(
            REFDATA_API, "ListSymbols", refdata_pb2.ListSymbolsRequest(), refdata_pb2.ListSymbolsResponse
        )
        return list(answer.symbols)

    async def instrument_metadata(self) -> dict[str, str]:
        """The venue's reference-data metadata map, as sent."""
        answer = await self.call(
            REFDATA_API,
            "GetInstrumentMetadata",
            refdata_pb2.GetInstrumentMetadataRequest(),
            refdata_pb2.GetInstrumentMetadataResponse,
        )
        return dict(answer.metadata)

    @property
    def channel(self) -> grpc.aio.Channel:
        """The client's channel, for the streams of other US clients (order stream) to share."""
        return self._channel

    @property
    def auth(self) -> CallAuth:
        """The client's call authentication, for the streams that share its channel."""
        return self._auth

    async def method(self, service: str, method: str, response: type[ResponseT]) -> UsMethod[ResponseT]:
        """How ``service``/``method`` is spoken under this client's protos: its path (under the venue's newer name
        when renamed), its request's encoding and its answers' decoding. With polyinfra's own numbers an answer
        holding a field number ours lack is refused (:class:`~polyinfra.errors.ProtoMismatchError`): it would
        otherwise read as an empty message. Unary calls and streams alike go through here."""
        await self.protos()
        codec = self._codec
        if codec is None:
            return UsMethod(
                f"/{service}/{method}",
                _serialize,
                lambda data: _known_fields_only(data, response),
            )
        path, their_input, their_output = _their_method(codec.theirs, service, method)
        return UsMethod(
            path,
            lambda request: codec.encode(request, as_type=their_input),
            lambda data: codec.decode(data, response, as_type=their_output),
        )

    async def call(self, service: str, method: str, request: Message, response: type[ResponseT]) -> ResponseT:
        """One unary call of ``service`` (``"polymarket.v1.OrderEntryAPI"``), spoken as :meth:`method` says;
        failures raise the typed errors of :mod:`polyinfra.core.us_status`.

        The answer is decoded here, not by gRPC's deserializer hook: gRPC swallows what that hook raises.
        """
        rpc = await self.method(service, method, response)
        payload = rpc.encode(request)
        multicallable: Callable[..., Any] = self._channel.unary_unary(rpc.path)  # bytes in, bytes out

        async def attempt(metadata: CallHeaders) -> bytes:
            return await call_unary(  # type: ignore[no-any-return]
                multicallable,
                payload,
                name=rpc.name,
                timeout_s=self._timeout_s,
                metadata=metadata,
            )

        return rpc.decode(await self._auth.call(attempt))

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


@dataclass(frozen=True, slots=True)
class UsMethod(Generic[ResponseT]):
    """One RPC as the client's protos speak it: the ``path`` to call, ``encode`` for our request and ``decode``
    for an answer (or each streamed message), which raises :class:`~polyinfra.errors.MalformedMessageError`
    for bytes that are not one."""

    path: str
    encode: Callable[[Message], bytes]
    decode: Callable[[bytes], ResponseT]

    @property
    def name(self) -> str:
        """``"OrderEntryAPI/CreateOrderSubscription"``: the RPC as errors and logs name it."""
        return self.path.removeprefix("/polymarket.v1.")


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _their_method(theirs: UsProtos, service: str, method: str) -> tuple[str, str, str]:
    """Their path, request type and response type for our ``service``/``method``, under a newer name if need be."""
    try:
        found = theirs.pool.FindServiceByName(service).methods_by_name
    except KeyError:
        found = {}
    for name in (method, *METHOD_ALIASES.get(method, ())):
        if name in found:
            their = found[name]
            return f"/{service}/{name}", their.input_type.full_name, their.output_type.full_name
    raise ProtoMismatchError(
        f"{theirs.source} protos have no {service}/{method}",
        method=method,
        hint="compare them with ours: polyinfra us protos diff",
    )


def _known_fields_only(data: bytes, response: type[ResponseT]) -> ResponseT:
    """``data`` as a ``response``, refused when it holds field numbers ours lack: a server speaking other
    numbers than ours (the real venue, for every file but market data) would otherwise read as empty answers."""
    try:
        answer = response.FromString(data)
    except DecodeError:
        raise MalformedMessageError("an answer does not decode", message_type=response.DESCRIPTOR.full_name) from None
    unknown = first_unknown_field(answer)
    if unknown is not None:
        raise ProtoMismatchError(
            "the server sent a field number our protos do not have: its numbers are not ours",
            field=unknown,
            hint=(
                'use protos="reflection" or load_bundle(...) (us commands: --reflection or --bundle); '
                "compare with: polyinfra us protos diff"
            ),
        )
    return answer
