"""The emulator's DropCopyAPI and report search over real sockets, with the generated stubs alone: resume by token
and by time, token refusals, retention, the stream cap, slow replays against short deadlines, the search's
required page size and rate limit, the firm's stream budget pooled with market data, the control routes and the
scope checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import httpx
import pytest

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.core.us_instruments import UsInstrumentState
from polyinfra.emulator.runner import Emulator
from polyinfra.wire.us.polymarket.v1 import (
    dropcopy_pb2,
    dropcopy_pb2_grpc,
    marketdatasubscription_pb2,
    marketdatasubscription_pb2_grpc,
    positions_pb2,
    positions_pb2_grpc,
    report_pb2,
    report_pb2_grpc,
    trading_pb2,
    trading_pb2_grpc,
)
from tests.integration.us_dropcopy_steps import until

KC = "tec-nfl-sbw-2026-02-08-kc"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0) as running:
        running.us_dropcopy.faults.update({"time_scale": 0.001, "batch_size": 4})
        yield running


@pytest.fixture
async def channel(emulator: Emulator) -> AsyncIterator[grpc.aio.Channel]:
    async with grpc.aio.insecure_channel(emulator.urls["grpc"]) as opened:
        yield opened


def _from_time(time_ns: int = 1) -> dropcopy_pb2.CreateDropCopySubscriptionRequest:
    request = dropcopy_pb2.CreateDropCopySubscriptionRequest()
    request.resume_time.FromNanoseconds(time_ns)
    return request


async def _read(
    call: grpc.aio.UnaryStreamCall, responses: int
) -> list[dropcopy_pb2.CreateDropCopySubscriptionResponse]:  # type: ignore[type-arg]
    read = []
    async for response in call:
        read.append(response)
        if len(read) == responses:
            break
    call.cancel()
    return read


async def test_replay_by_time_then_resume_after_a_token_then_heartbeats(
    emulator: Emulator, channel: grpc.aio.Channel
) -> None:
    emulator.us_dropcopy.generate(10, seed=1)
    stub = dropcopy_pb2_grpc.DropCopyAPIStub(channel)
    first = await _read(stub.CreateDropCopySubscription(_from_time()), 2)
    assert [len(response.executions) for response in first] == [4, 4]
    resumed = await _read(
        stub.CreateDropCopySubscription(
            dropcopy_pb2.CreateDropCopySubscriptionRequest(resume_token=first[1].resume_token)
        ),
        2,
    )
    assert [execution.id for execution in resumed[0].executions] == ["exec-8", "exec-9"]
    # Nothing more: a token-only response, whose token resumes at the same place.
    assert not resumed[1].executions and resumed[1].resume_token


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("expire", grpc.StatusCode.FAILED_PRECONDITION),
        ("refuse", grpc.StatusCode.FAILED_PRECONDITION),
        ("prune", grpc.StatusCode.OUT_OF_RANGE),
        ("garbage", grpc.StatusCode.INVALID_ARGUMENT),
    ],
)
async def test_refused_tokens(
    emulator: Emulator, channel: grpc.aio.Channel, action: str, code: grpc.StatusCode
) -> None:
    history = emulator.us_dropcopy
    history.generate(3, seed=1)
    stub = dropcopy_pb2_grpc.DropCopyAPIStub(channel)
    (response,) = await _read(stub.CreateDropCopySubscription(_from_time()), 1)
    token = response.resume_token
    if action == "expire":
        async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as rest:
            assert (await rest.post("/_emulator/us/dropcopy/expire-tokens")).status_code == 200
    elif action == "refuse":
        history.faults.refuse_tokens = True
    elif action == "prune":
        # Retention: everything older than 1 ms (scaled) goes, the token's position with it.
        history.faults.update({"time_scale": 1.0, "retention_s": 0.000_001})
        history.generate(1, seed=2)
        token = history.token(0)
    else:
        token = b"not a token"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _read(
            stub.CreateDropCopySubscription(dropcopy_pb2.CreateDropCopySubscriptionRequest(resume_token=token)), 1
        )
    assert refused.value.code() == code


async def test_token_and_time_together_are_refused(channel: grpc.aio.Channel) -> None:
    request = _from_time()
    request.resume_token = b"x"
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _read(dropcopy_pb2_grpc.DropCopyAPIStub(channel).CreateDropCopySubscription(request), 1)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_a_slow_replay_never_finishes_within_a_short_deadline(
    emulator: Emulator, channel: grpc.aio.Channel
) -> None:
    emulator.us_dropcopy.generate(40, seed=1)
    emulator.us_dropcopy.faults.update({"time_scale": 1.0, "replay_delay_s": 0.1})
    stub = dropcopy_pb2_grpc.DropCopyAPIStub(channel)
    read = 0
    with pytest.raises(grpc.aio.AioRpcError) as cut:
        async for response in stub.CreateDropCopySubscription(_from_time(), timeout=0.35):
            read += len(response.executions)
    assert cut.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert read < 40


async def test_the_twenty_first_stream_of_a_firm_is_refused(emulator: Emulator, channel: grpc.aio.Channel) -> None:
    emulator.us_market_data_faults.streams_per_firm = 2
    stub = dropcopy_pb2_grpc.DropCopyAPIStub(channel)
    emulator.us_dropcopy.faults.update({"heartbeat_interval_s": 10.0})
    open_calls = [stub.CreateDropCopySubscription(_from_time()) for _ in range(2)]
    for call in open_calls:
        await call.read()  # the heartbeat says the stream is open
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _read(stub.CreateDropCopySubscription(_from_time()), 1)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    for call in open_calls:
        call.cancel()


async def test_search_requires_a_page_size_pages_and_is_rate_limited(
    emulator: Emulator, channel: grpc.aio.Channel
) -> None:
    emulator.us_dropcopy.generate(5, seed=1)
    emulator.us_dropcopy.faults.update({"time_scale": 1.0, "search_per_minute": 3})
    report = report_pb2_grpc.ReportAPIStub(channel)
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await report.SearchExecutions(report_pb2.SearchExecutionsRequest())
    assert refused.value.code() == grpc.StatusCode.OUT_OF_RANGE
    page = await report.SearchExecutions(report_pb2.SearchExecutionsRequest(page_size=3))
    assert [e.id for e in page.executions] == ["exec-0", "exec-1", "exec-2"] and not page.eof
    rest = await report.SearchExecutions(
        report_pb2.SearchExecutionsRequest(page_size=3, page_token=page.next_page_token)
    )
    assert [e.id for e in rest.executions] == ["exec-3", "exec-4"] and rest.eof
    with pytest.raises(grpc.aio.AioRpcError) as limited:
        await report.SearchExecutions(report_pb2.SearchExecutionsRequest(page_size=3))
    assert limited.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    trades = await report.SearchTrades(
        report_pb2.SearchTradesRequest(page_size=10, symbol=page.executions[0].order.symbol)
    )
    assert trades.trade and all(t.aggressor.order.symbol == page.executions[0].order.symbol for t in trades.trade)


async def test_control_routes_validate_and_act(emulator: Emulator) -> None:
    async with httpx.AsyncClient(base_url=emulator.urls["rest"]) as rest:
        assert (await rest.post("/_emulator/us/dropcopy/faults", json={"batch_size": 0})).status_code == 400
        assert (await rest.post("/_emulator/us/dropcopy/faults", json={"nope": 1})).status_code == 400
        knobs = (await rest.post("/_emulator/us/dropcopy/faults", json={"drop_chance": 0.5})).json()
        assert knobs["drop_chance"] == 0.5
        assert (await rest.post("/_emulator/us/dropcopy/generate", json={"executions": 2})).json()["executions"] == 2
        assert (await rest.post("/_emulator/us/dropcopy/generate", json={"executions": -1})).status_code == 400
        assert (await rest.post("/_emulator/us/dropcopy/bust", json={"trade_id": "trade-1"})).status_code == 200
        assert (await rest.post("/_emulator/us/dropcopy/bust", json={"trade_id": "nope"})).status_code == 404
        assert (
            await rest.post("/_emulator/us/instruments/state", json={"symbol": KC, "state": "HALTED"})
        ).status_code == 200
        assert (await rest.post("/_emulator/us/dropcopy/drop")).json() == {"dropped": 0}
    assert len(emulator.us_dropcopy.entries(DropCopyStream.TRADES)) == 3  # two NEW, one BUSTED
    assert len(emulator.us_dropcopy.entries(DropCopyStream.INSTRUMENTS)) == 1


async def test_market_data_dropcopy_order_and_position_streams_draw_from_one_pooled_budget(
    emulator: Emulator, channel: grpc.aio.Channel
) -> None:
    emulator.us_market_data_faults.streams_per_firm = 3
    emulator.us_dropcopy.faults.update({"heartbeat_interval_s": 10.0})
    dropcopy = dropcopy_pb2_grpc.DropCopyAPIStub(channel)
    market_data = marketdatasubscription_pb2_grpc.MarketDataSubscriptionAPIStub(channel)
    request = marketdatasubscription_pb2.CreateMarketDataSubscriptionRequest(symbols=[KC])
    books = market_data.CreateMarketDataSubscription(request)
    executions = dropcopy.CreateDropCopySubscription(_from_time())
    orders = trading_pb2_grpc.OrderEntryAPIStub(channel).CreateOrderSubscription(
        trading_pb2.CreateOrderSubscriptionRequest()
    )
    for call in (books, executions, orders):
        await call.read()  # open: its first message came
    assert emulator.us_stream_budget.held("") == 3
    for fourth in (
        dropcopy.CreateInstrumentStateChangeSubscription(dropcopy_pb2.CreateInstrumentStateChangeSubscriptionRequest()),
        market_data.CreateMarketDataSubscription(request),
        positions_pb2_grpc.PositionAPIStub(channel).CreatePositionSubscription(
            positions_pb2.CreatePositionSubscriptionRequest()
        ),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await fourth.read()
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert refused.value.details() == "at most 3 concurrent streams per firm"
    assert emulator.us_stream_budget.refused == 3
    books.cancel()
    # The market-data stream's slot is back for a DropCopy stream.
    await until(lambda: emulator.us_market_data.open_streams == 0, "the books stream closed")
    positions = dropcopy.CreatePositionChangeSubscription(dropcopy_pb2.CreatePositionChangeSubscriptionRequest())
    assert len(await _read(positions, 1)) == 1
    executions.cancel()
    orders.cancel()


async def test_dropcopy_and_reports_need_a_token_when_the_emulator_checks_them() -> None:
    async with Emulator(markets=1, rate=0, us_require_auth=True) as checking:
        opened = grpc.aio.insecure_channel(checking.urls["grpc"])
        try:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await _read(dropcopy_pb2_grpc.DropCopyAPIStub(opened).CreateDropCopySubscription(_from_time()), 1)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await report_pb2_grpc.ReportAPIStub(opened).SearchTrades(report_pb2.SearchTradesRequest(page_size=1))
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        finally:
            await opened.close()


async def test_the_instrument_stream_opens_with_every_current_state_then_changes(
    emulator: Emulator, channel: grpc.aio.Channel
) -> None:
    emulator.us_orders.set_state(KC, UsInstrumentState.HALTED)
    listed = len(emulator.us_market.instruments)
    stub = dropcopy_pb2_grpc.DropCopyAPIStub(channel)
    call = stub.CreateInstrumentStateChangeSubscription(dropcopy_pb2.CreateInstrumentStateChangeSubscriptionRequest())
    seen: dict[str, int] = {}
    while len(seen) < listed:
        response = await call.read()
        seen.update({instrument.symbol: instrument.state for instrument in response.instruments})
    assert seen[KC] == UsInstrumentState.HALTED
    emulator.us_orders.set_state(KC, UsInstrumentState.OPEN)
    response = await call.read()
    while not response.instruments:  # heartbeats until the change
        response = await call.read()
    assert [(i.symbol, i.state) for i in response.instruments] == [(KC, UsInstrumentState.OPEN)]
    call.cancel()
