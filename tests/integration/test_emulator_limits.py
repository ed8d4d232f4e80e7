"""The emulator as the adversary, over real sockets with raw httpx: the venue's rate limits
(venue notes: Rate limits) in reject, throttle and off modes, a matching-engine restart (425, then post-only
mode, venue notes: Failure modes) and 5xx storms, and the counters that show what happened.

Limits are scaled down (``rate_limit_scale``) so a handful of requests reaches one; the 10 s
windows stay real. No assertion depends on how long anything took: where a test needs time to
pass it polls until the answer changes.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from polyinfra.clob.trading import TradingClient
from polyinfra.core.auth_headers import l2_headers
from polyinfra.core.eip712 import SigningKey
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import CLOB_RATE_LIMITS, RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.net.http import HttpTransport
from polyinfra.obs.redaction import revealed

WAIT_S = 30.0
# /ok is 100 per 10 s: a scale of 0.05 leaves 5, while clob_general (450) and general (750) stay
# far away.
OK_SCALE = 0.05
OK_LIMIT = 5
TOO_MANY_REQUESTS = {"error": "Too Many Requests"}
POST_ONLY_ERROR = "post-only mode: only post-only orders and cancels are allowed"

EmulatorFactory = Callable[..., Awaitable[Emulator]]


@pytest.fixture
async def emulator_factory() -> AsyncIterator[EmulatorFactory]:
    """Starts emulators (3 markets, no simulated activity) and stops them afterwards."""
    started: list[Emulator] = []

    async def start(**options: Any) -> Emulator:
        emulator = Emulator(**({"markets": 3, "seed": 5, "rate": 0} | options))
        await emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        await emulator.stop()


async def _stats(http: httpx.AsyncClient) -> dict[str, Any]:
    response = await http.get("/_emulator/stats")
    assert response.status_code == 200
    stats: dict[str, Any] = response.json()
    return stats


async def _eventually_status(http: httpx.AsyncClient, method: str, path: str, status: int, **kwargs: Any) -> None:
    """Repeat a request until it answers ``status`` (within WAIT_S)."""
    async with asyncio.timeout(WAIT_S):
        while (await http.request(method, path, **kwargs)).status_code != status:
            await asyncio.sleep(0.05)


# --- rate limits --------------------------------------------------------------------------------


async def test_reject_mode_answers_429_with_retry_after(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(rate_limits=RateLimitMode.REJECT, rate_limit_scale=OK_SCALE))
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        for _ in range(OK_LIMIT):
            assert (await http.get("/ok")).status_code == 200
        limited = await http.get("/ok")
        assert (limited.status_code, limited.json()) == (429, TOO_MANY_REQUESTS)
        assert 1 <= int(limited.headers["Retry-After"]) <= 10
        # Other endpoints have their own budget.
        token = emulator.exchange.tokens()[0]
        assert (await http.get("/book", params={"token_id": token})).status_code == 200
        report = (await _stats(http))["rate_limits"]
    assert (report["mode"], report["scale"], report["over_limit"]) == ("reject", OK_SCALE, 1)
    ok = report["scopes"]["ok"]
    assert (ok["requests"], ok["over_limit"], ok["rejected"], ok["throttled"]) == (OK_LIMIT + 1, 1, 1, 0)
    assert ok["windows"] == [{"seconds": 10.0, "limit": OK_LIMIT, "peak": OK_LIMIT}]
    clob = report["scopes"]["clob_general"]
    assert (clob["requests"], clob["over_limit"], clob["rejected"]) == (OK_LIMIT + 2, 0, 0)
    assert clob["windows"][0]["peak"] == OK_LIMIT + 1, "the rejected request used no budget"


async def test_throttle_mode_delays_instead_of_rejecting(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(rate_limit_scale=0.01))  # /ok: 1 per 10 s
    assert emulator.faults.rate_limits is RateLimitMode.THROTTLE, "the venue's behaviour is the default"
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        assert (await http.get("/ok")).status_code == 200
        held = asyncio.create_task(http.get("/ok"))
        async with asyncio.timeout(WAIT_S):
            while (await _stats(http))["rate_limits"]["scopes"]["ok"]["over_limit"] == 0:
                await asyncio.sleep(0.02)
        # The second request arrived over the limit and is being held, not refused: it has no
        # answer until the window has room. Raising the budget lets it through.
        assert not held.done()
        changed = await http.post("/_emulator/faults", json={"rate_limit_scale": 1.0})
        assert changed.status_code == 200
        answer = await asyncio.wait_for(held, WAIT_S)
        assert (answer.status_code, answer.json()) == (200, "OK")
        ok = (await _stats(http))["rate_limits"]["scopes"]["ok"]
    assert (ok["requests"], ok["over_limit"], ok["throttled"], ok["rejected"]) == (2, 1, 1, 0)


async def test_throttled_burst_never_exceeds_a_window(emulator_factory: EmulatorFactory) -> None:
    # /book at this scale: 1,500 * 0.004 = 6 per 10 s; eight requests at once, two must wait for
    # the window to slide (a real 10 s, the one wait this file accepts).
    emulator = await emulator_factory(faults=FaultConfig(rate_limit_scale=0.004))
    token = emulator.exchange.tokens()[0]
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        answers = await asyncio.gather(*(http.get("/book", params={"token_id": token}) for _ in range(8)))
        assert [answer.status_code for answer in answers] == [200] * 8
        book = (await _stats(http))["rate_limits"]["scopes"]["book"]
    assert (book["requests"], book["over_limit"], book["throttled"], book["rejected"]) == (8, 2, 2, 0)
    assert book["windows"] == [{"seconds": 10.0, "limit": 6, "peak": 6}]


async def test_off_mode_lets_everything_through_but_counts(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(rate_limits=RateLimitMode.OFF, rate_limit_scale=OK_SCALE))
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        statuses = [(await http.get("/ok")).status_code for _ in range(OK_LIMIT + 3)]
        ok = (await _stats(http))["rate_limits"]["scopes"]["ok"]
    assert statuses == [200] * (OK_LIMIT + 3)
    assert (ok["over_limit"], ok["throttled"], ok["rejected"]) == (3, 0, 0)
    assert ok["windows"][0]["peak"] == OK_LIMIT + 3


async def test_control_endpoints_and_websockets_are_not_limited(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(rate_limits=RateLimitMode.REJECT, rate_limit_scale=0.0001))
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        for _ in range(20):
            assert (await http.get("/_emulator/faults")).status_code == 200
        report = (await _stats(http))["rate_limits"]
    assert all(scope["requests"] == 0 for scope in report["scopes"].values())


async def test_rate_limit_knobs_through_the_faults_endpoint(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        current = (await http.get("/_emulator/faults")).json()
        assert (current["rate_limits"], current["rate_limit_scale"]) == ("throttle", 1.0)
        patched = await http.post("/_emulator/faults", json={"rate_limits": "reject", "rate_limit_scale": 0.5})
        assert (patched.json()["rate_limits"], patched.json()["rate_limit_scale"]) == ("reject", 0.5)
        assert emulator.faults.rate_limits is RateLimitMode.REJECT
        for bad in ({"rate_limits": "queue"}, {"rate_limit_scale": 0}, {"rate_limit_scale": -1}, {"rate_limits": 1}):
            rejected = await http.post("/_emulator/faults", json=bad)
            assert rejected.status_code == 400
            assert set(rejected.json()) == {"error"}
        report = (await _stats(http))["rate_limits"]
    assert (report["mode"], report["scale"]) == ("reject", 0.5)


async def test_stats_shape(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        await http.get("/ok")
        report = (await _stats(http))["rate_limits"]
    assert set(report) == {"mode", "scale", "over_limit", "scopes"}
    assert list(report["scopes"]) == [scope.name for scope in CLOB_RATE_LIMITS]
    for scope in report["scopes"].values():
        assert set(scope) == {"requests", "over_limit", "throttled", "rejected", "windows"}
        for window in scope["windows"]:
            assert set(window) == {"seconds", "limit", "peak"}
    assert report["scopes"]["post_order"]["windows"] == [
        {"seconds": 10.0, "limit": 5_000, "peak": 0},
        {"seconds": 600.0, "limit": 120_000, "peak": 0},
    ]
    assert report["scopes"]["general"]["requests"] == 1


# --- matching-engine restart --------------------------------------------------------------------


async def test_restart_window_answers_425_then_recovers(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    token = emulator.exchange.tokens()[0]
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        started = await http.post("/_emulator/restart", params={"seconds": 60, "post_only_seconds": 0})
        assert started.status_code == 200
        assert started.json()["restart_remaining_s"] > 0
        for method, path, params in (("GET", "/book", {"token_id": token}), ("GET", "/ok", {}), ("POST", "/order", {})):
            answer = await http.request(method, path, params=params)
            # Plain text, as the venue sends it (venue notes: Failure modes).
            assert (answer.status_code, answer.text) == (425, "service not ready")
        # The control endpoints keep working during the restart.
        assert (await _stats(http))["http"]["restart_425"] == 3
        # A short restart ends by itself.
        await http.post("/_emulator/restart", params={"seconds": 0.3, "post_only_seconds": 0})
        await _eventually_status(http, "GET", "/book", 200, params={"token_id": token})


async def test_restart_prefixes_narrow_the_outage(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    token = emulator.exchange.tokens()[0]
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        await http.post("/_emulator/restart", params=[("seconds", "60"), ("prefix", "/book"), ("prefix", "/price")])
        assert (await http.get("/book", params={"token_id": token})).status_code == 425
        assert (await http.get("/prices-history", params={"market": token, "interval": "1d"})).status_code == 425
        assert (await http.get("/ok")).status_code == 200
        ended = await http.post("/_emulator/restart", params={"seconds": 0, "post_only_seconds": 0})
        assert ended.json()["restart_remaining_s"] == 0.0
        assert (await http.get("/book", params={"token_id": token})).status_code == 200


async def test_post_only_mode_after_the_restart(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    signing_key = SigningKey(secrets.token_hex(32))
    async with HttpTransport(emulator.urls["rest"]) as transport:
        credentials = await TradingClient(transport, signing_key).create_or_derive_api_key()

    def signed(method: str, path: str, body: Any) -> dict[str, Any]:
        content = json.dumps(body).encode()
        headers = revealed(
            l2_headers(
                credentials,
                address=signing_key.address,
                timestamp_s=int(time.time()),
                method=method,
                request_path=path,
                body=content,
            )
        )
        return {"method": method, "url": path, "content": content, "headers": headers}

    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        started = await http.post("/_emulator/restart", params={"seconds": 0, "post_only_seconds": 60})
        assert 0 < started.json()["post_only_remaining_s"] <= 60
        refused = await http.request(**signed("POST", "/order", {"order": {}, "orderType": "GTC", "postOnly": False}))
        assert refused.status_code == 503
        body = refused.json()
        assert (body["error"], body["code"]) == (POST_ONLY_ERROR, "post_only_mode")
        assert 1 <= body["retry_after_seconds"] <= 60
        assert refused.headers["Retry-After"] == str(body["retry_after_seconds"])
        batch = [{"order": {}, "postOnly": True}, {"order": {}, "postOnly": False}]
        assert (await http.request(**signed("POST", "/orders", batch))).status_code == 503
        # Post-only orders, cancels and reads get past the post-only gate: they reach the trading
        # routes, which refuse these invalid orders with 400 rather than 503.
        assert (await http.request(**signed("POST", "/order", {"order": {}, "postOnly": True}))).status_code == 400
        assert (await http.request(**signed("DELETE", "/order", {"orderID": "0x01"}))).status_code == 200
        # The gate reads the orders, so it is behind authentication: a stranger's order is refused 401.
        assert (await http.post("/order", json={"order": {}, "postOnly": False})).status_code == 401
        assert (await http.get("/ok")).status_code == 200
        assert (await _stats(http))["http"]["post_only_503"] == 2
        await http.post("/_emulator/restart", params={"seconds": 0, "post_only_seconds": 0})
        assert (await http.request(**signed("POST", "/order", {"postOnly": False}))).status_code == 400


# --- 5xx storms ---------------------------------------------------------------------------------


async def test_storm_then_recovery(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    token = emulator.exchange.tokens()[0]
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        started = await http.post("/_emulator/storm", params={"status": 502, "seconds": 60})
        assert started.json()["storm_status"] == 502
        for _ in range(5):
            failed = await http.get("/book", params={"token_id": token})
            assert (failed.status_code, failed.json()) == (502, {"error": "Bad Gateway"})
        assert (await _stats(http))["http"]["storm_5xx"] == 5
        await http.post("/_emulator/storm", params={"seconds": 0})
        assert (await http.get("/book", params={"token_id": token})).status_code == 200
        # 503 unless told; a short storm passes by itself.
        started = await http.post("/_emulator/storm", params={"seconds": 0.3})
        assert started.json()["storm_status"] == 503
        await _eventually_status(http, "GET", "/ok", 200)


async def test_outages_from_python(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        emulator.outages.storm(seconds=60, status=500)
        assert (await http.get("/ok")).status_code == 500
        emulator.outages.storm(seconds=0)
        emulator.outages.restart(seconds=60)
        assert (await http.get("/ok")).status_code == 425


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/_emulator/restart", {}),
        ("/_emulator/restart", {"seconds": "soon"}),
        ("/_emulator/restart", {"seconds": "-1"}),
        ("/_emulator/restart", {"seconds": "nan"}),
        ("/_emulator/restart", {"seconds": "5", "prefix": "book"}),
        ("/_emulator/storm", {"seconds": "5", "status": "404"}),
        ("/_emulator/storm", {"seconds": "5", "status": "5xx"}),
        ("/_emulator/storm", {"status": "503"}),
    ],
)
async def test_bad_outage_requests(emulator_factory: EmulatorFactory, path: str, params: dict[str, str]) -> None:
    emulator = await emulator_factory()
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        answer = await http.post(path, params=params)
        assert answer.status_code == 400
        assert set(answer.json()) == {"error"}
        assert (await http.get("/ok")).status_code == 200, "nothing started"


# --- the command line ---------------------------------------------------------------------------


async def test_rate_limit_flags_reach_the_emulator() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "polyinfra.cli.main",
        "emulator",
        "--port",
        "0",
        "--rate",
        "0",
        "--rate-limits",
        "reject",
        "--rate-limit-scale",
        "0.01",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        urls = json.loads(await asyncio.wait_for(process.stdout.readline(), WAIT_S))
        async with httpx.AsyncClient(base_url=urls["rest"], timeout=WAIT_S) as http:
            assert (await http.get("/ok")).status_code == 200
            assert (await http.get("/ok")).status_code == 429
            faults = (await http.get("/_emulator/faults")).json()
            assert (faults["rate_limits"], faults["rate_limit_scale"]) == ("reject", 0.01)
    finally:
        if process.returncode is None:
            process.terminate()
        await asyncio.wait_for(process.communicate(), WAIT_S)
