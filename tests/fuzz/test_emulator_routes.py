"""Every route the emulator serves, under hostile requests, over real sockets.

One emulator runs for the module, in a thread of its own with its own event loop, so that the
property test can send raw HTTP (any method, non-UTF-8 header bytes, any body) with
:mod:`http.client`. The routes are read from the emulator's router: a route added later is
fuzzed without touching this file. Each example sends one hostile request, with or without valid
L2 credentials (an HMAC over the hostile body, so it reaches the body decoders), and asserts the
venue's answer to bad input: a status under 500 and, for a 4xx, the JSON ``{"error": "..."}``
shape; then a normal request must still be served. Between examples the fault knobs and timed
outages a control route may have switched on are reset.
"""

from __future__ import annotations

import asyncio
import http.client
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import msgspec
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from polyinfra.core.auth_headers import (
    POLY_ADDRESS,
    POLY_API_KEY,
    POLY_NONCE,
    POLY_PASSPHRASE,
    POLY_SIGNATURE,
    POLY_TIMESTAMP,
    ApiCredentials,
    l1_headers,
    l2_headers,
)
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_signing import POLYGON_CHAIN_ID
from polyinfra.emulator.data.knobs import DataApiKnobs
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.us.token_endpoint import UsAuthKnobs
from polyinfra.obs.redaction import revealed
from tests.fuzz.hostile import hostile_bytes, hostile_numbers, invalid_utf8, wrong_json_values

_WALLET = "0x" + "ab" * 20
_SERVER_ERROR = 500


@dataclass(frozen=True, slots=True)
class _Served:
    """The running emulator, its event loop, the routes it serves and a wallet with its API key."""

    emulator: Emulator
    loop: asyncio.AbstractEventLoop
    wallet: str
    credentials: ApiCredentials
    routes: tuple[tuple[str, str], ...]

    def call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout=60)


async def _start() -> Emulator:
    emulator = Emulator(markets=3, seed=5, rate=0, faults=FaultConfig(rate_limits=RateLimitMode.OFF))
    await emulator.start()
    return emulator


def _api_key(port: int, signing_key: SigningKey) -> ApiCredentials:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        headers = revealed(l1_headers(signing_key, chain_id=POLYGON_CHAIN_ID, timestamp_s=int(time.time())))
        connection.request("POST", "/auth/api-key", headers=headers)
        body = msgspec.json.decode(connection.getresponse().read())
    finally:
        connection.close()
    return ApiCredentials(body["apiKey"], body["secret"], body["passphrase"])


async def _reset(emulator: Emulator) -> None:
    # A control route may have switched knobs or outages on: every example starts from defaults.
    emulator.faults.update(FaultConfig(rate_limits=RateLimitMode.OFF).as_dict())
    emulator.outages.restart(seconds=0, post_only_seconds=0)
    emulator.outages.storm(seconds=0)
    emulator.resume()
    emulator.us_tokens.update_knobs({"time_scale": 1.0, **UsAuthKnobs().as_dict()})
    emulator.data_apis.knobs.update(DataApiKnobs().as_dict())


@pytest.fixture(scope="module")
def served() -> Iterator[_Served]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="emulator under fuzz", daemon=True)
    thread.start()
    emulator = asyncio.run_coroutine_threadsafe(_start(), loop).result(timeout=60)
    signing_key = SigningKey(secrets.token_hex(32))
    # HEAD answers carry no body to check; aiohttp adds one per GET route.
    routes = tuple(
        sorted(
            (route.method, route.resource.canonical)
            for route in emulator.app.router.routes()
            if route.resource is not None and route.method != "HEAD"
        )
    )
    yield _Served(emulator, loop, signing_key.address, _api_key(emulator.port, signing_key), routes)
    asyncio.run_coroutine_threadsafe(emulator.stop(), loop).result(timeout=60)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=60)
    loop.close()


_QUERY_NAMES = (
    "token_id",
    "side",
    "market",
    "asset_id",
    "startTs",
    "endTs",
    "interval",
    "fidelity",
    "next_cursor",
    "after",
    "before",
    "id",
    "maker_address",
    "asset_type",
    "seconds",
    "post_only_seconds",
    "status",
    "prefix",
    "date",
    "signature_type",
    "ids",
    "order_by",
    "position",
    "no_competition",
)

_BIG_CURSOR = "MTAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAwMDAw"  # base64 of 10**30


# aiohttp's HTTP parser refuses a request line or header line over 8190 bytes before any route
# sees it (a plain-text 400 this test does not cover): values stay under it, 5,000 digits fit.
_LINE_LIMIT = 8_000
_VALUE_LIMIT = 6_000


def _text_values() -> st.SearchStrategy[bytes]:
    """A hostile value for a query parameter, path segment or header, as raw bytes."""
    values = st.one_of(
        hostile_numbers().map(str.encode),
        invalid_utf8(),
        st.just(_BIG_CURSOR.encode()),
        st.just(b"-" + b"9" * 5_000),
        wrong_json_values().map(msgspec.json.encode),
        st.text(max_size=40).map(str.encode),
    )
    return values.map(lambda value: value[:_VALUE_LIMIT])


def _header_values() -> st.SearchStrategy[bytes]:
    """:func:`_text_values` without control characters, which aiohttp's HTTP parser refuses (a
    plain-text 400 before any route); bytes past ASCII, UTF-8 or not, reach the routes."""
    return _text_values().map(lambda value: bytes(byte for byte in value if byte >= 0x20 and byte != 0x7F))


def _valid_documents() -> list[Any]:
    token = "1" * 70
    order = {
        "salt": 1,
        "maker": _WALLET,
        "signer": _WALLET,
        "tokenId": token,
        "makerAmount": "1000000",
        "takerAmount": "2000000",
        "side": "BUY",
        "signatureType": 0,
        "timestamp": "1",
        "metadata": "0x" + "00" * 32,
        "builder": "0x" + "00" * 32,
        "expiration": "0",
        "signature": "0x" + "00" * 65,
    }
    envelope = {"order": order, "owner": "key", "orderType": "GTC", "postOnly": False}
    return [
        [{"token_id": token, "side": "BUY"}],
        envelope,
        [envelope],
        ["0x" + "ab" * 32],
        {"orderID": "0x" + "ab" * 32},
        {"market": "0x" + "cd" * 32, "asset_id": token},
        {"heartbeat_id": ""},
        {"key": "00000000-0000-0000-0000-000000000000"},
        {"collateral": "1.5", "allowances": {_WALLET: "unlimited"}, "tier": "gold", "closed_only": True},
        {"drop_rate": 0.0},
        {
            "client_id": "firm",
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": "eyJhbGciOiJSUzI1NiJ9.eyJpc3MiOiJmaXJtIn0.c2ln",
            "audience": "https://api.example",
            "grant_type": "client_credentials",
        },
        {"client_id": "firm", "public_key_pem": "-----BEGIN PUBLIC KEY-----", "scopes": ["read:marketdata"]},
        {"time_scale": 1.0, "early_expiry_s": 0, "accepted_audience": "both"},
    ]


# Built once: a strategy built per draw makes Hypothesis recompute its properties every example.
_TEXT_VALUES = _text_values()
_HEADER_VALUES = _header_values()
_BODIES = st.one_of(st.just(b""), hostile_bytes(*_valid_documents()))
_HEADER_NAMES = st.sampled_from(
    (POLY_ADDRESS, POLY_API_KEY, POLY_NONCE, POLY_PASSPHRASE, POLY_SIGNATURE, POLY_TIMESTAMP)
)


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    query: tuple[tuple[str, bytes], ...]
    headers: tuple[tuple[str, bytes], ...]
    body: bytes
    credentials: bool

    @property
    def target(self) -> str:
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{name}={urllib.parse.quote(value, safe='')}" for name, value in self.query)


@st.composite
def _requests(draw: st.DrawFn, routes: tuple[tuple[str, str], ...]) -> _Request:
    method, path = draw(st.sampled_from(routes))
    # Now and then a method the route does not serve (405) or a path no route serves (404).
    method = draw(st.sampled_from((method, method, method, "PUT", "PATCH", "OPTIONS")))
    path = draw(st.sampled_from((path, path, path, "/no-such-route/{segment}")))
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        segment = urllib.parse.quote(draw(_TEXT_VALUES), safe="") or "x"
        path = path[:start] + segment + path[end + 1 :]
    query = draw(st.lists(st.tuples(st.sampled_from(_QUERY_NAMES), _TEXT_VALUES), max_size=4))
    headers = draw(st.lists(st.tuples(_HEADER_NAMES, _HEADER_VALUES), max_size=3, unique_by=lambda item: item[0]))
    body = draw(_BODIES)
    request = _Request(method, path, tuple(query), tuple(headers), body, draw(st.booleans()))
    assume(len(request.target) <= _LINE_LIMIT)
    return request


def _send(served: _Served, request: _Request) -> tuple[int, str, bytes]:
    headers: dict[str, str | bytes] = {}
    signed_path = urllib.parse.unquote(request.path)
    if request.credentials and "?" not in signed_path:
        headers.update(
            revealed(
                l2_headers(
                    served.credentials,
                    address=served.wallet,
                    timestamp_s=int(time.time()),
                    method=request.method,
                    request_path=signed_path,
                    body=request.body,
                )
            )
        )
    # The hostile headers replace the credentials' own: a valid key with a broken timestamp, say.
    headers.update(request.headers)
    connection = http.client.HTTPConnection("127.0.0.1", served.emulator.port, timeout=60)
    try:
        connection.putrequest(request.method, request.target, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.putheader("Content-Length", str(len(request.body)))
        connection.endheaders(request.body)
        response = connection.getresponse()
        return response.status, response.getheader("Content-Type", ""), response.read()
    finally:
        connection.close()


def _get_ok(served: _Served) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", served.emulator.port, timeout=60)
    try:
        connection.request("GET", "/ok")
        return connection.getresponse().status
    finally:
        connection.close()


def test_every_route_is_fuzzed(served: _Served) -> None:
    served_paths = {path for _, path in served.routes}
    assert {"/books", "/orders", "/prices-history", "/ws/market", "/_emulator/faults"} <= served_paths
    assert ("DELETE", "/orders") in served.routes
    # The account routes the official client calls besides trading.
    assert {
        ("GET", "/rewards/markets/current"),
        ("GET", "/rewards/markets/{condition_id}"),
        ("GET", "/rewards/user"),
        ("GET", "/rewards/user/total"),
        ("GET", "/rewards/user/percentages"),
        ("GET", "/rewards/user/markets"),
        ("GET", "/markets/live-activity/{condition_id}"),
        ("GET", "/auth/ban-status/closed-only"),
        ("GET", "/notifications"),
        ("DELETE", "/notifications"),
        ("POST", "/auth/readonly-api-key"),
        ("GET", "/auth/readonly-api-keys"),
        ("DELETE", "/auth/readonly-api-key"),
        ("POST", "/auth/builder-api-key"),
        ("GET", "/auth/builder-api-key"),
        ("DELETE", "/auth/builder-api-key"),
    } <= set(served.routes)
    # Gamma and the Data API under their prefixes, and their control routes.
    assert {
        ("GET", "/gamma/markets"),
        ("GET", "/gamma/public-search"),
        ("GET", "/data-api/positions"),
        ("GET", "/data-api/v2/activity"),
        ("POST", "/_emulator/data/knobs"),
        ("POST", "/_emulator/data/redeem"),
        ("POST", "/_emulator/data/transfer"),
    } <= set(served.routes)
    # The US exchange's token endpoint and its control routes.
    assert {("POST", "/oauth/token"), ("POST", "/_emulator/us/clients"), ("POST", "/_emulator/us/auth")} <= set(
        served.routes
    )


@given(data=st.data())
def test_hostile_requests_get_the_venue_error_shape(served: _Served, data: st.DataObject) -> None:
    request = data.draw(_requests(served.routes))
    try:
        status, content_type, body = _send(served, request)
        assert status < _SERVER_ERROR, (status, body[:300])
        if status >= 400:
            assert content_type.startswith("application/json"), (status, content_type, body[:300])
            answer = msgspec.json.decode(body)
            assert isinstance(answer, dict), answer
            assert isinstance(answer.get("error"), str), answer
    finally:
        served.call(_reset(served.emulator))
    assert _get_ok(served) == 200
