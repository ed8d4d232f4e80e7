"""Against an emulator serving deliberately renumbered protos (everything but the venue's published numbers),
the reflection path reads reference data right and the static path refuses to read it wrong; a bundle of
the right protos works like the compiled-in ones; ``polyinfra us protos diff`` lists the renumbering."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import grpc
import pytest

from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.us.grpc_server import UsGrpcServer
from polyinfra.emulator.us.instruments import US_INSTRUMENTS
from polyinfra.emulator.us.renumbered_protos import renumbered_protos
from polyinfra.errors import ProtoMismatchError
from polyinfra.us.client import UsExchangeClient
from polyinfra.us.proto_bundle import load_bundle
from tests.integration.cli_steps import run_polyinfra

OUR_PROTOS = Path(__file__).resolve().parents[2] / "src" / "polyinfra" / "wire" / "us" / "polymarket" / "v1"


@pytest.fixture
async def renumbered() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, us_renumbered_protos=True) as running:
        yield running


async def test_reflection_reads_a_renumbered_server_right(renumbered: Emulator) -> None:
    async with UsExchangeClient(renumbered.urls["grpc"], insecure=True, protos="reflection") as exchange:
        assert await exchange.instruments() == list(US_INSTRUMENTS)
        suspended = await exchange.instruments(states=[UsInstrumentState.SUSPENDED])
        assert [i.symbol for i in suspended] == ["aec-nba-lal-bos-2026-01-15"]
        assert await exchange.symbols() == [i.symbol for i in US_INSTRUMENTS]
        assert await exchange.health() == "ok"
        protos = await exchange.protos()
    assert protos is not None and protos.source == f"reflection at {renumbered.urls['grpc']}"


async def test_the_static_path_refuses_a_renumbered_server(renumbered: Emulator) -> None:
    async with UsExchangeClient(renumbered.urls["grpc"], insecure=True) as exchange:
        with pytest.raises(ProtoMismatchError) as refused:
            await exchange.instruments()
    assert refused.value.context["field"] == "ListInstrumentsResponse.#101"
    assert "protos diff" in str(refused.value.context["hint"])


async def test_a_bundle_of_the_servers_protos_is_spoken_by_name(tmp_path: Path) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in OUR_PROTOS.glob("*.proto"):
            archive.writestr(f"protos/polymarket/v1/{path.name}", path.read_bytes())
    bundle = tmp_path / "bundle.zip"
    bundle.write_bytes(buffer.getvalue())
    protos = load_bundle(bundle, expected_sha256=hashlib.sha256(buffer.getvalue()).hexdigest())
    async with Emulator(markets=1, rate=0) as emulator:
        async with UsExchangeClient(emulator.urls["grpc"], insecure=True, protos=protos) as exchange:
            assert await exchange.instruments() == list(US_INSTRUMENTS)
        code, _, stderr = await run_polyinfra("us", "protos", "diff", "--bundle", str(bundle), "--sha256", "0" * 64)
    assert code == 2  # a bundle refused is bad input
    assert "is not the one expected" in stderr and hashlib.sha256(buffer.getvalue()).hexdigest() in stderr


async def test_protos_diff_lists_the_renumbering_and_exits_1(renumbered: Emulator) -> None:
    target = renumbered.urls["grpc"]
    code, lines, stderr = await run_polyinfra("us", "protos", "diff", "--grpc", target, "--insecure", "--json")
    assert code == 1, stderr
    found = [json.loads(line) for line in lines.splitlines()]
    assert {
        "kind": "renumbered field",
        "name": "polymarket.v1.Instrument.price_scale",
        "ours": "21",
        "theirs": "121",
    } in found
    assert {
        "kind": "renumbered enum value",
        "name": "polymarket.v1.FilterOperator.FILTER_OPERATOR_EQ",
        "ours": "1",
        "theirs": "51",
    } in found
    assert {d["kind"] for d in found} == {"renumbered field", "renumbered enum value"}
    # The enum itself, not the DropCopy messages whose names contain it.
    published = [d for d in found if d["name"].startswith("polymarket.v1.InstrumentState.")]
    assert not published, "the venue's published enum stays"
    code, table, _ = await run_polyinfra("us", "instruments", "--grpc", target, "--insecure", "--reflection")
    assert code == 0 and table.splitlines()[1].split()[:2] == ["tec-nfl-sbw-2026-02-08-kc", "OPEN"]


async def test_protos_diff_of_an_ordinary_emulator_is_empty() -> None:
    async with Emulator(markets=1, rate=0) as emulator:
        target = emulator.urls["grpc"]
        code, lines, stderr = await run_polyinfra("us", "protos", "diff", "--grpc", target, "--insecure")
    assert (code, lines) == (0, "")
    assert stderr.strip() == f"0 differences from polyinfra's protos (reflection at {target})"


class _MethodCounter(grpc.aio.ServerInterceptor):
    def __init__(self) -> None:
        self.methods: list[str] = []

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        self.methods.append(handler_call_details.method)
        return await continuation(handler_call_details)


async def test_concurrent_first_calls_share_one_reflection_round_trip() -> None:
    counter = _MethodCounter()
    server = UsGrpcServer(US_INSTRUMENTS, interceptors=[counter], protos=renumbered_protos())
    port = await server.start("127.0.0.1", 0)
    try:
        async with UsExchangeClient(f"127.0.0.1:{port}", insecure=True, protos="reflection") as exchange:
            listings = await asyncio.gather(*(exchange.instruments() for _ in range(3)))
    finally:
        await server.stop()
    assert listings == [list(US_INSTRUMENTS)] * 3
    assert counter.methods.count("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo") == 1
    assert counter.methods.count("/polymarket.v1.RefDataAPI/ListInstruments") == 3
