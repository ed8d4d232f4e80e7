"""No failed authenticated request leaves a secret among its traceback's locals.

Error trackers (Sentry by default) record every local of every frame of an exception's traceback
and of its cause / context chain. For each way an L1 and an L2 request fails over real sockets (the
venue's 401, 5xx after retries, connection refused, a read timeout), every such local is searched
for the private key, the API secret, the passphrase and the request's signatures, in every form.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Iterator
from typing import Any

import pytest

from polyinfra.clob.trading import TradingClient
from polyinfra.core.auth_headers import ApiCredentials, hmac_signature, l1_headers, l2_headers
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_signing import POLYGON_CHAIN_ID
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import L1AuthError, L2AuthError, PolyinfraError, RequestTimeoutError, TransportError
from polyinfra.net.breaker import BreakerConfig, CircuitBreakers
from polyinfra.net.http import HttpTransport, SyncHttpTransport
from polyinfra.net.http_request import Timeouts
from polyinfra.net.retry import RetryPolicy
from polyinfra.obs.redaction import SecretScanner, revealed
from tests.conftest import GATE_FRAGMENT_CHARS
from tests.traceback_locals import secrets_in_traceback_locals

STALE_TIMESTAMP_S = 1_700_000_000
"""Long past: the venue refuses it (401), and it makes every signature of the test known in advance."""

API_KEY = "00000000-0000-0000-0000-000000000000"
FAST_RETRY = RetryPolicy(base_delay_s=0.01, max_delay_s=0.02, max_attempts=3)
# Ten times what the client waits. The client's read deadline and the venue's held reply are timers
# of the same event loop, which fire in deadline order, so the read times out first whatever the
# machine's speed. Kept short because stopping the emulator waits for the handler still holding it.
VENUE_LATENCY_MS = 1_000
READ_TIMEOUT_S = 0.1


@pytest.fixture
def scanner(known_secrets: Any) -> SecretScanner:
    """The known test secrets plus the signatures the test's requests carry."""
    key = SigningKey(known_secrets.private_key)
    l1_signature = revealed(l1_headers(key, chain_id=POLYGON_CHAIN_ID, timestamp_s=STALE_TIMESTAMP_S))
    l2_signature = hmac_signature(
        known_secrets.random_api_secret,
        timestamp=str(STALE_TIMESTAMP_S),
        method="GET",
        request_path="/auth/api-keys",
        body=None,
    )
    secrets = known_secrets.by_name() | {
        "L1 signature": l1_signature["POLY_SIGNATURE"],
        "L2 signature": l2_signature,
    }
    return SecretScanner(secrets, fragment_chars=GATE_FRAGMENT_CHARS)


def _credentials(known_secrets: Any) -> ApiCredentials:
    return ApiCredentials(API_KEY, known_secrets.random_api_secret, known_secrets.api_passphrase)


def _client(transport: HttpTransport, known_secrets: Any) -> TradingClient:
    return TradingClient(
        transport,
        SigningKey(known_secrets.private_key),
        credentials=_credentials(known_secrets),
        clock_s=lambda: STALE_TIMESTAMP_S,
    )


def _patient_breakers() -> CircuitBreakers:
    return CircuitBreakers(BreakerConfig(failure_threshold=100))


@pytest.fixture
def refused_url() -> Iterator[str]:
    """A port bound but not listening: every connection to it is refused, for certain."""
    with socket.socket() as bound:
        bound.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{bound.getsockname()[1]}"


async def _raised(request: Awaitable[object]) -> PolyinfraError:
    try:
        await request
    except PolyinfraError as error:
        return error
    raise AssertionError("the request succeeded")


def _request(client: TradingClient, level: str) -> Awaitable[object]:
    return client.create_api_key() if level == "L1" else client.get_api_keys()


LEVELS = ["L1", "L2"]


@pytest.mark.parametrize("level", LEVELS)
async def test_a_refused_request(level: str, emulator: Emulator, known_secrets: Any, scanner: SecretScanner) -> None:
    async with HttpTransport(emulator.urls["rest"]) as transport:
        error = await _raised(_request(_client(transport, known_secrets), level))
    assert isinstance(error, L1AuthError if level == "L1" else L2AuthError)
    assert error.context["status"] == 401
    assert secrets_in_traceback_locals(error, scanner) == []


@pytest.mark.parametrize("level", LEVELS)
async def test_server_errors_after_retries(
    level: str, emulator: Emulator, known_secrets: Any, scanner: SecretScanner
) -> None:
    emulator.faults.http_5xx_rate = 1.0
    async with HttpTransport(emulator.urls["rest"], retry=FAST_RETRY, breakers=_patient_breakers()) as transport:
        error = await _raised(_request(_client(transport, known_secrets), level))
    assert error.context["status"] == 500
    assert error.context["attempts"] == FAST_RETRY.max_attempts
    assert secrets_in_traceback_locals(error, scanner) == []


@pytest.mark.parametrize("level", LEVELS)
async def test_connection_refused(level: str, refused_url: str, known_secrets: Any, scanner: SecretScanner) -> None:
    async with HttpTransport(refused_url, retry=FAST_RETRY, breakers=_patient_breakers()) as transport:
        error = await _raised(_request(_client(transport, known_secrets), level))
    assert isinstance(error, TransportError)
    assert error.context["request_sent"] is False
    assert secrets_in_traceback_locals(error, scanner) == []


@pytest.mark.parametrize("level", LEVELS)
async def test_read_timeout(level: str, emulator: Emulator, known_secrets: Any, scanner: SecretScanner) -> None:
    emulator.faults.latency_ms = VENUE_LATENCY_MS
    async with HttpTransport(
        emulator.urls["rest"],
        retry=RetryPolicy(max_attempts=1),
        timeouts=Timeouts(read_s=READ_TIMEOUT_S),
        breakers=_patient_breakers(),
    ) as transport:
        error = await _raised(_request(_client(transport, known_secrets), level))
    assert isinstance(error, RequestTimeoutError)
    assert error.context["phase"] == "read"
    assert secrets_in_traceback_locals(error, scanner) == []


@pytest.mark.parametrize("level", LEVELS)
async def test_a_request_cancelled_in_flight(
    level: str, emulator: Emulator, known_secrets: Any, scanner: SecretScanner
) -> None:
    emulator.faults.latency_ms = VENUE_LATENCY_MS
    async with HttpTransport(emulator.urls["rest"], breakers=_patient_breakers()) as transport:
        task = asyncio.ensure_future(_request(_client(transport, known_secrets), level))
        for _ in range(6_000):  # until the venue holds the request, so the client is inside its send
            if emulator.stats.http.requests:
                break
            await asyncio.sleep(0.01)
        assert emulator.stats.http.requests == 1
        task.cancel()
        with pytest.raises(asyncio.CancelledError) as cancelled:
            await task
    assert secrets_in_traceback_locals(cancelled.value, scanner) == []


def test_the_sync_transport_refused(refused_url: str, known_secrets: Any, scanner: SecretScanner) -> None:
    headers = l2_headers(
        _credentials(known_secrets),
        address=SigningKey(known_secrets.private_key).address,
        timestamp_s=STALE_TIMESTAMP_S,
        method="GET",
        request_path="/auth/api-keys",
    )
    with (
        SyncHttpTransport(refused_url, retry=FAST_RETRY, breakers=_patient_breakers()) as transport,
        pytest.raises(TransportError) as failed,
    ):
        transport.request("GET", "/auth/api-keys", headers=headers)
    assert secrets_in_traceback_locals(failed.value, scanner) == []
