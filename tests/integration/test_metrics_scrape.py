"""Scraping ``/metrics`` over HTTP while polyinfra talks to the emulator: the counters move.

The registry is process-wide and other tests feed it too, so every check compares two scrapes.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from polyinfra.clob.market_channel import MarketChannel
from polyinfra.clob.rest import ClobRestClient
from polyinfra.obs.metrics import MetricsServer, serve_metrics
from tests.integration.conftest import EmulatorFactory

WAIT_S = 30.0

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def _scrape(http: httpx.AsyncClient, url: str) -> Samples:
    response = await http.get(url)
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def _value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def _drain(channel: MarketChannel) -> None:
    async for _ in channel.frames():
        pass


async def _until_a_pong(channel: MarketChannel) -> None:
    while channel.pongs_received == 0:
        await asyncio.sleep(0.01)


@pytest.fixture
def metrics_server() -> Iterator[MetricsServer]:
    with serve_metrics(0) as server:
        yield server


async def test_http_and_websocket_counters_move_between_scrapes(
    emulator_factory: EmulatorFactory, metrics_server: MetricsServer
) -> None:
    emulator = await emulator_factory()
    assert metrics_server.port > 0
    token = next(iter(emulator.exchange.markets.values())).tokens[0].token_id
    async with httpx.AsyncClient(timeout=WAIT_S) as http:
        before = await _scrape(http, metrics_server.url)

        async with ClobRestClient(emulator.urls["rest"]) as rest:
            for _ in range(3):
                await rest.get_book(token)
        async with MarketChannel(emulator.urls["ws_market"], [token], ping_interval_s=0.05) as channel:
            # PONGs are consumed (and counted) while frames are read.
            reader = asyncio.create_task(_drain(channel))
            try:
                await asyncio.wait_for(_until_a_pong(channel), WAIT_S)
            finally:
                reader.cancel()
                await asyncio.gather(reader, return_exceptions=True)

        after = await _scrape(http, metrics_server.url)

    requests = "polyinfra_http_requests_total"
    labels = {"endpoint": "/book", "method": "GET", "status": "200"}
    assert _value(after, requests, **labels) - _value(before, requests, **labels) == 3
    latency = "polyinfra_http_request_duration_seconds_count"
    assert _value(after, latency, endpoint="/book") - _value(before, latency, endpoint="/book") == 3
    pongs = {"channel": "market", "event_type": "pong"}
    assert _value(after, "polyinfra_ws_frames_total", **pongs) > _value(before, "polyinfra_ws_frames_total", **pongs)
    # The process collectors are on the same registry.
    assert _value(after, "process_resident_memory_bytes") > 0


async def test_the_emulator_command_serves_metrics_and_says_where() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyinfra.cli.main",
        "emulator",
        "--port",
        "0",
        "--rate",
        "0",
        "--metrics-port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        urls = json.loads(await asyncio.wait_for(process.stdout.readline(), WAIT_S))
        assert list(urls) == [
            "rest", "ws_market", "ws_user", "rtds", "polybolt", "us_token", "grpc", "gamma", "data", "rpc", "relayer",
            "metrics",
        ]  # fmt: skip
        assert urls["metrics"].startswith("http://127.0.0.1:") and urls["metrics"].endswith("/metrics")
        async with httpx.AsyncClient(timeout=WAIT_S) as http:
            samples = await _scrape(http, urls["metrics"])
        assert _value(samples, "process_resident_memory_bytes") > 0
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(process.communicate(), WAIT_S)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, stderr.decode()
    # Logs on stderr are JSON lines (not a terminal), and say where metrics are served.
    events = [json.loads(line)["event"] for line in stderr.decode().splitlines()]
    assert f"serving metrics on {urls['metrics']}" in events


async def test_the_demo_counts_market_events_by_type() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyinfra.cli.main",
        "demo",
        "--markets",
        "2",
        "--duration",
        "20",
        "--metrics-port",
        "0",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        # The metrics URL goes to stderr, so stdout stays the demo's own output.
        announcement = (await asyncio.wait_for(process.stderr.readline(), WAIT_S)).decode()
        assert announcement.startswith("polyinfra demo: Prometheus metrics at http://127.0.0.1:"), announcement
        url = announcement.split(" at ", 1)[1].strip()
        async with httpx.AsyncClient(timeout=WAIT_S) as http:
            # Two markets, two tokens each: the initial dump holds four book snapshots.
            samples = await _scrape(http, url)
            while _value(samples, "polyinfra_ws_frames_total", channel="market", event_type="book") < 4:
                await asyncio.sleep(0.05)
                samples = await _scrape(http, url)
        assert ("polyinfra_stale_books", frozenset()) in samples
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGINT)
        await asyncio.wait_for(process.communicate(), WAIT_S)
    assert process.returncode == 0
