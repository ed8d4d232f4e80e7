"""The transport's configuration and argument checks, and its response type: no sockets needed
(every check runs before anything is sent). The pipeline itself runs over real sockets in
tests/integration/test_transport_resilience.py."""

from __future__ import annotations

import httpx
import pytest

from polyinfra import __version__
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.net.http import DEFAULT_USER_AGENT, HttpTransport, PoolLimits, SyncHttpTransport
from polyinfra.net.http_request import Response, Timeouts
from polyinfra.wire.clob_rest import Midpoint

UNUSED_URL = "http://127.0.0.1:9"


def test_timeouts_are_capped_by_the_time_left() -> None:
    timeouts = Timeouts(connect_s=2.0, read_s=10.0, write_s=5.0, pool_s=1.0)
    assert timeouts.capped(3.0) == httpx.Timeout(connect=2.0, read=3.0, write=3.0, pool=1.0)
    with pytest.raises(InvalidValueError):
        Timeouts(read_s=0.0)
    with pytest.raises(InvalidValueError):
        Timeouts(connect_s=float("inf"))


def test_pool_limits_map_to_httpx() -> None:
    limits = PoolLimits(max_connections=8, max_keepalive=4, keepalive_expiry_s=15.0).httpx_limits()
    assert (limits.max_connections, limits.max_keepalive_connections, limits.keepalive_expiry) == (8, 4, 15.0)


def test_the_user_agent_says_who_we_are() -> None:
    # Cloudflare blocks generic agents in front of the venue (venue notes: Rate limits).
    assert DEFAULT_USER_AGENT.startswith(f"polyinfra/{__version__} ")


def test_responses_decode_into_wire_types_or_say_the_body_is_malformed() -> None:
    response = Response(
        status=200, headers={}, content=b'{"mid": "0.5"}', method="GET", path="/midpoint", endpoint="GET /midpoint"
    )
    assert response.decode(Midpoint) == Midpoint(mid="0.5")
    broken = Response(
        status=200, headers={}, content=b"<html>", method="GET", path="/midpoint", endpoint="GET /midpoint"
    )
    with pytest.raises(MalformedMessageError) as malformed:
        broken.decode(Midpoint)
    assert malformed.value.context["endpoint"] == "/midpoint"
    assert malformed.value.context["status"] == 200


@pytest.mark.parametrize(
    "arguments",
    [
        {"path": "book"},
        {"path": "/book?token_id=1"},  # query strings go in params, which are never logged
        {"path": "/books", "content": b"[]", "json": []},
        {"path": "/books", "json": object()},  # not encodable
        {"path": "/book", "deadline_s": 0.0},
        {"path": "/book", "deadline_s": float("nan")},
    ],
)
async def test_bad_requests_are_refused_before_anything_is_sent(arguments: dict[str, object]) -> None:
    async with HttpTransport(UNUSED_URL) as http:
        with pytest.raises(InvalidValueError):
            await http.request("GET", **arguments)  # type: ignore[arg-type]


def test_the_sync_facade_checks_the_same_way() -> None:
    with SyncHttpTransport(UNUSED_URL) as http, pytest.raises(InvalidValueError):
        http.request("GET", "/book?token_id=1")
