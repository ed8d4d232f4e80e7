"""Setup mistakes fail at once and say what to fix: a closed port, https:// to a plain HTTP port,
a URL without a scheme. Each over real sockets, through the REST client and the CLI.

Attempts are counted (the error's ``attempts``, the test server's accepts), never timed.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

from polyinfra.clob.market_channel import MarketChannel
from polyinfra.clob.rest import ClobRestClient, SyncClobRestClient
from polyinfra.errors import CircuitOpenError, InvalidValueError, TransportError
from polyinfra.net.breaker import BreakerConfig, CircuitBreakers
from polyinfra.net.http import HttpTransport
from polyinfra.net.retry import RetryPolicy
from tests.closed_ports import closed_port

ONE_SHOT = RetryPolicy(first_contact_attempts=1)


@asynccontextmanager
async def _plain_http_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server that answers anything with a plain-HTTP 400, as any HTTP server answers a TLS
    ClientHello; yields its https:// URL and a list that grows by one per accepted connection."""
    accepted: list[int] = []

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        await reader.read(4096)
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"https://127.0.0.1:{port}", accepted


async def _cli(*args: str) -> tuple[int, str, str]:
    environment = {name: value for name, value in os.environ.items() if not name.startswith("POLYINFRA_")}
    environment["POLYINFRA_PRIVATE_KEY"] = "0x" + "11" * 32
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyinfra.cli.main",
        *args,
        env=environment,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


def _failure_line(stderr: str) -> str:
    """The command's one failure line (log lines may come before it), never a traceback."""
    assert "Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines[-1].startswith("polyinfra ")
    return lines[-1]


async def test_a_closed_port_names_the_url_and_the_cause_after_one_attempt() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    async with ClobRestClient(url, retry=ONE_SHOT) as rest:
        with pytest.raises(TransportError) as refused:
            await rest.get_ok()
    error = refused.value
    assert f"cannot connect to {url}: connection refused: is the emulator running?" in str(error)
    assert error.context["attempts"] == 1
    assert (error.context["url"], error.retriable) == (url, True)


async def test_a_long_running_client_still_retries_a_refused_first_connection() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    patient = RetryPolicy(base_delay_s=0.001, max_delay_s=0.001, max_attempts=3)
    async with HttpTransport(url, retry=patient) as http:
        with pytest.raises(TransportError) as refused:
            await http.request("GET", "/ok")
    assert refused.value.context["attempts"] == 3
    assert "connection refused" in str(refused.value)


async def test_the_open_breaker_says_what_opened_it() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    breakers = CircuitBreakers(BreakerConfig(failure_threshold=2, open_duration_s=3600.0))
    async with HttpTransport(url, retry=ONE_SHOT, breakers=breakers) as http:
        for _ in range(2):
            with pytest.raises(TransportError):
                await http.request("GET", "/ok")
        with pytest.raises(CircuitOpenError) as failing_fast:
            await http.request("GET", "/ok")
    message = str(failing_fast.value)
    assert "is open; failing fast: last failure: GET /ok: cannot connect to" in message
    assert "connection refused: is the emulator running?" in message


async def test_https_to_a_plain_http_port_is_one_attempt_that_says_so() -> None:
    async with _plain_http_server() as (url, accepted):
        # The default policy: a TLS mismatch never heals, so even a patient client does not retry.
        async with ClobRestClient(url) as rest:
            with pytest.raises(TransportError) as failed:
                await rest.get_ok()
        assert len(accepted) == 1
    error = failed.value
    assert f"cannot connect to {url}: TLS handshake failed: is this an http:// URL?" in str(error)
    assert (error.retriable, error.context["attempts"]) == (False, 1)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("127.0.0.1:8080", "URL has no scheme: use http://... or https://..."),
        ("localhost:8080", "URL has no scheme: use http://... or https://..."),
        ("ftp://127.0.0.1:8080", "URL scheme 'ftp' is not http or https"),
        ("ws://127.0.0.1:8080", "URL scheme 'ws' is not http or https"),
        ("http://", "URL has no host"),
        ("http://127.0.0.1:99999", "URL is not valid"),
    ],
)
def test_a_rest_url_that_cannot_work_is_refused_when_the_client_is_built(url: str, expected: str) -> None:
    with pytest.raises(InvalidValueError) as refused:
        SyncClobRestClient(url)
    assert expected in str(refused.value)
    assert refused.value.context["url"] == url


def test_a_websocket_url_needs_ws_or_wss() -> None:
    with pytest.raises(InvalidValueError, match=r"URL has no scheme: use ws://\.\.\. or wss://\.\.\."):
        MarketChannel("127.0.0.1:8080/ws/market", ["1"])
    with pytest.raises(InvalidValueError, match="URL scheme 'http' is not ws or wss"):
        MarketChannel("http://127.0.0.1:8080/ws/market", ["1"])


async def test_the_cli_fails_at_once_on_aclosed_port() -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    code, stdout, stderr = await _cli("order", "list", "--rest", url)
    assert (code, stdout) == (1, "")
    line = _failure_line(stderr)
    assert line.startswith(f"polyinfra order list: POST /auth/api-key: cannot connect to {url}: connection refused")
    assert "is the emulator running?" in line
    assert "attempts=1" in line


async def test_the_cli_says_when_an_https_url_names_a_plain_http_port() -> None:
    async with _plain_http_server() as (url, accepted):
        code, _, stderr = await _cli("order", "list", "--rest", url)
        assert len(accepted) == 1
    assert code == 1
    line = _failure_line(stderr)
    assert "TLS handshake failed: is this an http:// URL?" in line and url in line


async def test_the_cli_refuses_a_url_without_a_scheme() -> None:
    code, _, stderr = await _cli("order", "list", "--rest", "127.0.0.1:8080")
    assert code == 2  # a usage error, before anything is attempted
    assert "Traceback" not in stderr
    assert "Invalid value for '--rest': URL has no scheme: use http://... or https://..." in stderr


async def test_the_market_channel_names_the_url_and_the_cause() -> None:
    url = f"ws://127.0.0.1:{closed_port()}/ws/market"
    with pytest.raises(TransportError) as refused:
        async with MarketChannel(url, ["1"]):
            pass
    assert f"cannot connect to the market channel at {url}: connection refused: is the emulator running?" in str(
        refused.value
    )
    async with _plain_http_server() as (https_url, accepted):
        tls_url = https_url.replace("https://", "wss://") + "/ws/market"
        with pytest.raises(TransportError) as mismatched:
            async with MarketChannel(tls_url, ["1"]):
                pass
        assert len(accepted) == 1
    assert "TLS handshake failed: is this a ws:// URL?" in str(mismatched.value)
    assert mismatched.value.retriable is False
