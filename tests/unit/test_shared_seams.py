"""The shared pieces that several clients, commands and emulator routes stand on: the knob route pair,
the transport ownership rule and the ``us`` commands' endpoint options."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import typer
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from polyinfra.cli.us_commands import EMULATOR_GRPC_TARGET, UsEndpointOptions, endpoint_options
from polyinfra.core.venue_rate_limits import CLOB_LIMITS
from polyinfra.emulator.data.knobs import DataApiKnobs
from polyinfra.emulator.knob_routes import knob_routes
from polyinfra.emulator.us.order_faults import UsOrderFaults
from polyinfra.errors import InvalidValueError
from polyinfra.net.http import HttpTransport
from polyinfra.net.transport_client import TransportClient


async def test_knob_routes_read_change_and_refuse_all_or_nothing() -> None:
    faults = UsOrderFaults()
    app = web.Application()
    app.add_routes(knob_routes("/_knobs", faults, what="test knobs"))
    async with TestClient(TestServer(app)) as client:
        before = await (await client.get("/_knobs")).json()
        assert before == faults.as_dict()

        changed = await client.post("/_knobs", data=b'{"drop_insert_replies": 2}')
        assert changed.status == 200
        assert (await changed.json())["drop_insert_replies"] == 2
        assert faults.drop_insert_replies == 2

        # One bad knob refuses the whole change.
        refused = await client.post("/_knobs", data=b'{"drop_insert_replies": 5, "no_such_knob": 1}')
        assert refused.status == 400
        assert "no_such_knob" in (await refused.json())["error"]
        assert faults.drop_insert_replies == 2

        malformed = await client.post("/_knobs", data=b"[1, 2")
        assert malformed.status == 400
        assert "test knobs" in (await malformed.json())["error"]


async def test_knob_routes_serve_any_knob_object() -> None:
    knobs = DataApiKnobs()
    app = web.Application()
    app.add_routes(knob_routes("/k", knobs, what="data API knobs"))
    async with TestClient(TestServer(app)) as client:
        answer = await client.post("/k", data=b'{"outage_requests": 3}')
        assert answer.status == 200
        assert knobs.outage_requests == 3
        assert (await answer.json()) == knobs.as_dict()


def _transport() -> HttpTransport:
    return HttpTransport("http://127.0.0.1:9", rate_limits=CLOB_LIMITS)


async def test_transport_client_closes_only_a_transport_it_built() -> None:
    async with TransportClient(None, _transport) as owner:
        built = owner.transport
    assert built._client.is_closed

    shared = _transport()
    async with TransportClient(shared, _transport) as borrower:
        assert borrower.transport is shared
    assert not shared._client.is_closed
    await shared.aclose()


def test_endpoint_options_declares_the_connection_and_protos_options_and_gathers_them() -> None:
    seen: list[UsEndpointOptions] = []

    @endpoint_options
    def command(*, symbol: str = "", endpoint: UsEndpointOptions, verbose: bool = False) -> None:
        seen.append(endpoint)

    names = list(inspect.signature(command).parameters)
    assert names == ["symbol", "grpc", "insecure", "live", "token_url", "reflection", "bundle", "sha256", "verbose"]
    command(
        symbol="x",
        grpc="h:1",
        insecure=True,
        live=False,
        token_url=None,
        reflection=True,
        bundle=None,
        sha256=None,
        verbose=True,
    )
    assert seen == [UsEndpointOptions("h:1", True, False, None, True, None, None)]


def test_endpoint_options_resolve_as_before() -> None:
    emulator = UsEndpointOptions(None, False, False, None, False, None, None).resolve()
    assert (emulator.target, emulator.plaintext, emulator.protos) == (EMULATOR_GRPC_TARGET, True, None)
    assert emulator.token_url.endswith("/oauth/token")
    given = UsEndpointOptions("example.com:443", False, False, "https://t.example/token", True, None, None).resolve()
    assert (given.target, given.plaintext, given.token_url) == ("example.com:443", False, "https://t.example/token")
    assert given.protos == "reflection"
    live = UsEndpointOptions(None, False, True, None, False, None, None).resolve()
    assert not live.plaintext and live.target != EMULATOR_GRPC_TARGET
    with pytest.raises(typer.BadParameter):
        UsEndpointOptions("h:1", False, True, None, False, None, None).resolve()
    with pytest.raises(InvalidValueError):
        UsEndpointOptions("no port", False, False, None, False, None, None).resolve()
    with pytest.raises(typer.BadParameter, match="not both"):
        UsEndpointOptions(None, False, False, None, True, Path("bundle.zip"), None).resolve()
