"""Each fault knob of the emulator observably does what it says, over real sockets, plus the
``/_emulator/`` control endpoints.

Frames of the exchange's actions are queued when the action runs, so every frame an action
produced (or the lack of one) shows before the ``PONG`` of a later ``PING``: no test sleeps to
prove an absence. Latency is checked as a lower bound only.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
import websockets

from polyinfra.emulator.faults import FaultConfig, FaultDice, HttpFault
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import format_micros
from polyinfra.wire.clob_ws import MarketFrameDecoder
from tests.integration.conftest import EmulatorFactory
from tests.integration.market_channel_steps import (
    WAIT_S,
    add_to_best_bid,
    eventually,
    frames_until_pong,
    raw_frames_until_pong,
    recv,
    subscribe,
)

ADDED_SIZE_MICROS = 7_000_000


def _level_size(price_change: dict[str, Any], token: TokenId) -> str:
    """The new size of the token's level in a price_change: identifies which action it was."""
    (size,) = [entry["size"] for entry in price_change["price_changes"] if entry["asset_id"] == token]
    return str(size)


# --- the config itself --------------------------------------------------------------------------


def test_fault_config_validates_every_assignment() -> None:
    faults = FaultConfig()
    for knob, bad in (
        ("drop_rate", 1.5),
        ("duplicate_rate", -0.1),
        ("reorder_rate", True),
        ("malformed_rate", "0.5"),
        ("drop_every_messages", -1),
        ("drop_every_seconds", float("inf")),
        ("latency_ms", 1.5),
        ("freeze", 1),
        ("http_5xx_status", 404),
        ("seed", None),
    ):
        with pytest.raises(InvalidValueError):
            setattr(faults, knob, bad)
    with pytest.raises(InvalidValueError):
        faults.update({"drop_rate": 0.5, "no_such_knob": 1})
    with pytest.raises(InvalidValueError):
        faults.update({"drop_rate": 0.5, "latency_ms": -5})
    assert faults == FaultConfig(), "a rejected update changes nothing"
    faults.update({"drop_rate": 0.25, "latency_ms": 10})
    assert (faults.drop_rate, faults.latency_ms) == (0.25, 10)


def test_fault_dice_is_reproducible() -> None:
    config = FaultConfig(seed=42, drop_rate=0.3, duplicate_rate=0.3, http_429_rate=0.5)
    first, again = FaultDice(config, "market/1"), FaultDice(config, "market/1")
    assert [first.message_fate() for _ in range(200)] == [again.message_fate() for _ in range(200)]
    assert [first.http_fault() for _ in range(50)] == [again.http_fault() for _ in range(50)]
    other_stream = FaultDice(config, "market/2")
    fates = [other_stream.message_fate() for _ in range(200)]
    assert any(fate.drop for fate in fates) and not all(fate.drop for fate in fates)
    assert fates != [FaultDice(config, "market/1").message_fate() for _ in range(200)]


# --- WebSocket faults ---------------------------------------------------------------------------


async def test_drop_every_messages_aborts_after_that_many_frames(
    emulator_factory: EmulatorFactory,
) -> None:
    emulator = await emulator_factory(faults=FaultConfig(drop_every_messages=3))
    token = emulator.exchange.tokens()[0]
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [token])
        received = await frames_until_pong(ws)  # the dump: data frame 1
        for _ in range(4):
            add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                received.append(json.loads(await recv(ws)))
        assert len(received) == 3
        # Cut like a network failure: no close frame either way.
        assert closed.value.rcvd is None
    assert emulator.stats.market_channel.connections_dropped_by_fault == 1


async def test_drop_every_seconds_aborts_open_connections(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(drop_every_seconds=0.3))
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [], initial_dump=False)
        with pytest.raises(websockets.ConnectionClosed) as closed:
            while True:
                assert await recv(ws) == "PONG"
        assert closed.value.rcvd is None
    assert emulator.stats.market_channel.connections_dropped_by_fault == 1


async def test_freeze_sends_no_data_but_answers_ping(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(freeze=True))
    token = emulator.exchange.tokens()[0]
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [token])
        assert await frames_until_pong(ws) == []  # not even the dump
        add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
        assert await frames_until_pong(ws) == []
        await asyncio.wait_for(await ws.ping(), WAIT_S)
        assert emulator.stats.market_channel.messages_frozen == 2

        emulator.faults.freeze = False
        add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
        assert [frame["event_type"] for frame in await frames_until_pong(ws)] == ["price_change"]


async def test_freeze_can_leave_pings_unanswered(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(freeze=True, freeze_answers_ping=False))
    token = emulator.exchange.tokens()[0]
    stats = emulator.stats.market_channel
    async with (
        websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws,
        httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http,
    ):
        await subscribe(ws, [token], initial_dump=False)
        await ws.send("PING")
        await eventually(lambda: stats.pings_unanswered == 1)
        await ws.ping()
        await eventually(lambda: stats.pings_unanswered == 2)

        response = await http.post("/_emulator/faults", json={"freeze": False})
        assert response.json()["freeze"] is False
        add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
        # Had the first PING been answered, its PONG would come before this price_change.
        assert [frame["event_type"] for frame in await frames_until_pong(ws)] == ["price_change"]
        await asyncio.wait_for(await ws.ping(), WAIT_S)
    assert stats.pongs_sent >= 2


async def test_duplicate_rate_sends_frames_twice(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(duplicate_rate=1.0))
    token = emulator.exchange.tokens()[0]
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [token])
        dump, dump_again = await raw_frames_until_pong(ws)
        assert dump == dump_again
        add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
        change, change_again = await raw_frames_until_pong(ws)
        assert change == change_again
        assert json.loads(change)["event_type"] == "price_change"
    assert emulator.stats.market_channel.messages_duplicated == 2


async def test_drop_rate_one_drops_everything(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(drop_rate=1.0))
    token = emulator.exchange.tokens()[0]
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [token])
        assert await frames_until_pong(ws) == []
        add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
        assert await frames_until_pong(ws) == []
    assert emulator.stats.market_channel.messages_dropped == 2


async def test_drop_rate_is_reproducible_for_a_seed(emulator_factory: EmulatorFactory) -> None:
    async def surviving_sizes() -> list[str]:
        emulator = await emulator_factory(faults=FaultConfig(drop_rate=0.5, seed=99))
        token = emulator.exchange.tokens()[0]
        async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
            await subscribe(ws, [token], initial_dump=False)
            await frames_until_pong(ws)
            for _ in range(30):
                add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
            return [_level_size(frame, token) for frame in await frames_until_pong(ws)]

    first_run, second_run = await surviving_sizes(), await surviving_sizes()
    assert first_run == second_run
    assert 0 < len(first_run) < 30


async def test_reorder_rate_swaps_frames_with_the_next(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(reorder_rate=1.0))
    token = emulator.exchange.tokens()[0]
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [token], initial_dump=False)
        await frames_until_pong(ws)
        in_order = []
        for _ in range(4):
            add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
            level = emulator.exchange.levels(token).bids[-1]
            in_order.append(format_micros(level.size_micros))
        received = [_level_size(frame, token) for frame in await frames_until_pong(ws)]
        assert received == [in_order[1], in_order[0], in_order[3], in_order[2]]
    assert emulator.stats.market_channel.messages_reordered == 2


async def test_malformed_rate_corrupts_frames(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(malformed_rate=1.0, seed=3))
    token = emulator.exchange.tokens()[0]
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [token], initial_dump=False)
        await raw_frames_until_pong(ws)
        for _ in range(12):
            add_to_best_bid(emulator, token, ADDED_SIZE_MICROS)
        frames = await raw_frames_until_pong(ws)
    assert len(frames) == 12
    not_json, broken_schema = 0, 0
    for frame in frames:
        with pytest.raises(MalformedMessageError):
            MarketFrameDecoder().decode(frame)
        try:
            event = json.loads(frame)
        except json.JSONDecodeError:
            not_json += 1
        else:
            assert event["event_type"] == "price_change"
            assert "timestamp" not in event
            broken_schema += 1
    assert not_json > 0 and broken_schema > 0
    assert emulator.stats.market_channel.messages_malformed == 12


async def test_latency_delays_frames_and_responses(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(latency_ms=300))
    loop = asyncio.get_running_loop()
    async with websockets.connect(emulator.urls["ws_market"], ping_interval=None) as ws:
        await subscribe(ws, [], initial_dump=False)
        sent_at = loop.time()
        assert await frames_until_pong(ws) == []
        assert loop.time() - sent_at >= 0.3
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        sent_at = loop.time()
        assert (await http.get("/ok")).status_code == 200
        assert loop.time() - sent_at >= 0.3


# --- HTTP faults --------------------------------------------------------------------------------


async def test_http_faults(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(http_429_rate=1.0, retry_after_s=7))
    token = emulator.exchange.tokens()[0]
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        limited = await http.get("/book", params={"token_id": token})
        assert (limited.status_code, limited.json()) == (429, {"error": "Too Many Requests"})
        assert limited.headers["Retry-After"] == "7"

        emulator.faults.update({"http_429_rate": 0.0, "http_425_rate": 1.0})
        too_early = await http.post("/books", json=[{"token_id": token}])
        # Plain text, as the venue sends it during matching-engine restarts (venue notes: Failure modes).
        assert (too_early.status_code, too_early.text) == (425, "service not ready")

        emulator.faults.update({"http_425_rate": 0.0, "http_5xx_rate": 1.0, "http_5xx_status": 503})
        unavailable = await http.get("/markets")
        assert (unavailable.status_code, unavailable.json()) == (503, {"error": "Service Unavailable"})

        # The control endpoints and the WebSocket upgrades are not part of the venue: never faulted.
        stats = await http.get("/_emulator/stats")
        assert stats.status_code == 200
        http_stats = stats.json()["http"]
        assert (http_stats["injected_429"], http_stats["injected_425"], http_stats["injected_5xx"]) == (1, 1, 1)
        async with websockets.connect(emulator.urls["ws_market"]) as ws:
            await subscribe(ws, [], initial_dump=False)
            assert await frames_until_pong(ws) == []

        emulator.faults.http_5xx_rate = 0.0
        assert (await http.get("/book", params={"token_id": token})).status_code == 200


async def test_http_fault_rates_mix_by_seed(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(faults=FaultConfig(http_429_rate=0.3, http_5xx_rate=0.3, seed=8))
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        statuses = [(await http.get("/ok")).status_code for _ in range(60)]
    assert {200, 429, 500} == set(statuses)
    dice = FaultDice(FaultConfig(http_429_rate=0.3, http_5xx_rate=0.3, seed=8), "http")
    expected = {None: 200, HttpFault.TOO_MANY_REQUESTS: 429, HttpFault.SERVER_ERROR: 500}
    assert statuses == [expected[dice.http_fault()] for _ in range(60)]


# --- control endpoints --------------------------------------------------------------------------


async def test_faults_endpoint_reads_and_patches(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:
        current = await http.get("/_emulator/faults")
        assert current.json() == FaultConfig().as_dict()
        patched = await http.post("/_emulator/faults", json={"drop_rate": 0.5, "latency_ms": 0, "freeze": True})
        assert patched.status_code == 200
        assert (patched.json()["drop_rate"], patched.json()["freeze"]) == (0.5, True)
        assert (emulator.faults.drop_rate, emulator.faults.freeze) == (0.5, True)
        for bad in ({"drop_rate": 2}, {"no_such_knob": 1}, {"freeze": False, "latency_ms": "slow"}, [1, 2]):
            rejected = await http.post("/_emulator/faults", json=bad)
            assert rejected.status_code == 400
            assert set(rejected.json()) == {"error"}
        not_json = await http.post("/_emulator/faults", content=b"{")
        assert not_json.status_code == 400
        assert (await http.get("/_emulator/faults")).json() == patched.json(), "rejected patches change nothing"


async def test_pause_and_resume_the_simulator(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory(rate=200.0)
    async with httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http:

        async def steps() -> int:
            return int((await http.get("/_emulator/stats")).json()["simulator"]["steps"])

        first = await steps()
        while await steps() == first:
            await asyncio.sleep(0.02)
        paused = await http.post("/_emulator/pause")
        assert paused.json() == {"paused": True}
        assert emulator.paused
        at_pause = await steps()
        await asyncio.sleep(0.3)
        assert await steps() == at_pause
        resumed = await http.post("/_emulator/resume")
        assert resumed.json() == {"paused": False}
        async with asyncio.timeout(WAIT_S):
            while await steps() == at_pause:
                await asyncio.sleep(0.02)


async def test_stats_endpoint(emulator_factory: EmulatorFactory) -> None:
    emulator = await emulator_factory()
    async with (
        websockets.connect(emulator.urls["ws_market"]) as ws,
        httpx.AsyncClient(base_url=emulator.urls["rest"], timeout=WAIT_S) as http,
    ):
        await subscribe(ws, emulator.exchange.tokens()[:1])
        assert len(await frames_until_pong(ws)) == 1
        await http.get("/ok")
        stats = (await http.get("/_emulator/stats")).json()
    assert set(stats) == {
        "http",
        "market_channel",
        "user_channel",
        "rtds",
        "polybolt",
        "simulator",
        "rate_limits",
        "signer_rate_limits",
    }
    assert stats["market_channel"]["connections_open"] == 1
    assert stats["market_channel"]["messages_sent"] == 1
    assert stats["market_channel"]["pongs_sent"] == 1
    assert stats["http"]["requests"] == 1
    assert stats["simulator"] == {"paused": False, "steps": 0}
