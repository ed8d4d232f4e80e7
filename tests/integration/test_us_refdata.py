"""The US exchange's reference data end to end: the emulator's gRPC server on a free port, real sockets,
the client, the command line, reflection and the venue's status codes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import Any

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.us.grpc_server import UsGrpcServer
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.errors import GrpcNotFoundError, GrpcStatusError, GrpcUnavailableError
from polyinfra.net.grpc_channel import call_unary, open_channel
from polyinfra.us.client import UsExchangeClient
from polyinfra.wire.us.polymarket.v1 import refdata_pb2, refdata_pb2_grpc
from tests.integration.cli_steps import run_polyinfra


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0) as running:
        yield running


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[UsExchangeClient]:
    async with UsExchangeClient(emulator.urls["grpc"], insecure=True) as opened:
        yield opened


async def test_the_emulator_announces_its_grpc_port_beside_rest(emulator: Emulator) -> None:
    host, port = emulator.urls["grpc"].rsplit(":", 1)
    assert host == "127.0.0.1" and int(port) not in (0, emulator.port)


async def test_instruments_arrive_with_exact_scales(client: UsExchangeClient) -> None:
    assert await client.health() == "ok"
    listed = await client.instruments()
    assert listed == list(US_INSTRUMENTS)
    kc = await client.instrument("tec-nfl-sbw-2026-02-08-kc")
    assert (kc.price_scale, kc.tick_size, kc.quantity_scale) == (1000, Decimal("0.001"), 100)
    assert kc.price(655) == Decimal("0.655") and kc.price_units("0.655") == 655
    assert await client.symbols() == [i.symbol for i in US_INSTRUMENTS]
    assert (await client.instrument_metadata())["instruments"] == str(len(US_INSTRUMENTS))


async def test_filters_by_symbol_and_state(client: UsExchangeClient) -> None:
    picked = await client.instruments(["aec-mlb-nyy-bos-2026-04-10", "aec-nba-lal-bos-2026-01-15"])
    assert [i.symbol for i in picked] == ["aec-mlb-nyy-bos-2026-04-10", "aec-nba-lal-bos-2026-01-15"]
    suspended = await client.instruments(states=[UsInstrumentState.SUSPENDED])
    assert [i.symbol for i in suspended] == ["aec-nba-lal-bos-2026-01-15"]


async def test_an_unknown_symbol_is_not_found_in_the_venues_words(client: UsExchangeClient) -> None:
    with pytest.raises(GrpcNotFoundError) as missing:
        await client.instrument("aec-nfl-nope-2026-01-01")
    assert missing.value.context["venue_message"] == "instrument does not exist: aec-nfl-nope-2026-01-01"
    assert not missing.value.retriable


async def test_bad_arguments_are_invalid_argument(emulator: Emulator) -> None:
    channel = open_channel(emulator.urls["grpc"], insecure=True)
    stub = refdata_pb2_grpc.RefDataAPIStub(channel)
    try:
        for request in (
            refdata_pb2.ListInstrumentsRequest(page_size=1001),
            refdata_pb2.ListInstrumentsRequest(page_token="not-a-token"),
        ):
            with pytest.raises(GrpcStatusError) as refused:
                await call_unary(stub.ListInstruments, request, name="RefDataAPI/ListInstruments", timeout_s=30)
            assert refused.value.context["code"] == "INVALID_ARGUMENT"
        # The server pages: 4 then 2, the last page marked eof.
        first = await stub.ListInstruments(refdata_pb2.ListInstrumentsRequest(page_size=4), timeout=30)
        second = await stub.ListInstruments(
            refdata_pb2.ListInstrumentsRequest(page_size=4, page_token=first.next_page_token), timeout=30
        )
        assert (len(first.instruments), first.eof, len(second.instruments), second.eof) == (4, False, 2, True)
    finally:
        await channel.close()


class _RecordingInterceptor(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> Any:
        self.seen.append(dict(handler_call_details.invocation_metadata))  # type: ignore[arg-type]
        return await continuation(handler_call_details)


async def test_the_client_pages_and_sends_fresh_metadata_on_every_call() -> None:
    # More instruments than the client's 1000-per-page request, so that it must follow a page token.
    many = [replace(US_INSTRUMENTS[0], symbol=f"aec-test-{n:04d}") for n in range(1001)]
    interceptor = _RecordingInterceptor()
    server = UsGrpcServer(many, interceptors=[interceptor])
    port = await server.start("127.0.0.1", 0)
    calls = 0

    async def headers() -> list[tuple[str, str]]:
        nonlocal calls
        calls += 1
        return [("authorization", f"Bearer token-{calls}"), ("x-participant-id", "firm-1")]

    try:
        async with UsExchangeClient(f"127.0.0.1:{port}", insecure=True, call_metadata=headers) as exchange:
            listed = await exchange.instruments()
    finally:
        await server.stop()
    assert [i.symbol for i in listed] == [i.symbol for i in many]
    assert [seen["authorization"] for seen in interceptor.seen] == ["Bearer token-1", "Bearer token-2"]
    assert {seen["x-participant-id"] for seen in interceptor.seen} == {"firm-1"}


async def test_nothing_listening_is_unavailable() -> None:
    server = UsGrpcServer(US_INSTRUMENTS)
    port = await server.start("127.0.0.1", 0)
    await server.stop()  # the port was just free; now nothing answers on it
    async with UsExchangeClient(f"127.0.0.1:{port}", insecure=True, timeout_s=30) as exchange:
        with pytest.raises(GrpcUnavailableError) as down:
            await exchange.health()
    assert down.value.retriable


async def test_reflection_lists_the_services(emulator: Emulator) -> None:
    channel = open_channel(emulator.urls["grpc"], insecure=True)
    try:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        answers = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
        services = {service.name async for answer in answers for service in answer.list_services_response.service}
    finally:
        await channel.close()
    assert {"polymarket.v1.HealthAPI", "polymarket.v1.RefDataAPI"} <= services


async def test_us_instruments_command_prints_a_table_and_json(emulator: Emulator) -> None:
    target = emulator.urls["grpc"]
    code, table, _ = await run_polyinfra("us", "instruments", "--grpc", target, "--insecure")
    assert code == 0
    header, *rows = table.splitlines()
    assert header.split() == ["symbol", "state", "price", "scale", "tick", "qty", "scale", "min", "qty", "expires"]
    assert rows[2].split() == ["aec-mlb-nyy-bos-2026-04-10", "OPEN", "1000", "0.005", "100", "0.01", "2026-04-10"]
    code, lines, _ = await run_polyinfra(
        "us", "instruments", "--grpc", target, "--insecure", "--json", "--symbol", "aec-nba-lal-bos-2026-01-15"
    )
    assert code == 0
    (record,) = [json.loads(line) for line in lines.splitlines()]
    assert record["state"] == "SUSPENDED"
    assert (record["price_scale"], record["tick_size"], record["quantity_scale"]) == (100, "0.01", 1)
    code, _, stderr = await run_polyinfra("us", "instruments", "--grpc", target, "--insecure", "--symbol", "nope")
    assert code == 1
    assert stderr.strip() == (
        "polyinfra us instruments: RefDataAPI/ListInstruments failed: NOT_FOUND: instrument does not exist: nope "
        "(code='NOT_FOUND', method='RefDataAPI/ListInstruments', venue_message='instrument does not exist: nope')"
    )


async def test_the_readme_example_runs_against_the_emulator(emulator: Emulator) -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("\n## The Polymarket US exchange\n") :]
    code = section[section.index("```python\n") + len("```python\n") :]
    code = code[: code.index("```")].replace('"127.0.0.1:8081"', repr(emulator.urls["grpc"]))
    body = "".join(f"    {line}\n" for line in code.splitlines())
    namespace: dict[str, Any] = {}
    exec(f"async def example():\n{body}    return locals()\n", namespace)
    done = await namespace["example"]()
    assert [i.symbol for i in done["open_now"]][:1] == ["tec-nfl-sbw-2026-02-08-kc"]
