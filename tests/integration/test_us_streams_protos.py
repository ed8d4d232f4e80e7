"""The order, position and DropCopy streams against an emulator serving deliberately renumbered protos: with
``protos="reflection"`` they deliver what they deliver against the ordinary emulator, and with polyinfra's own
numbers they end with ProtoMismatchError instead of reading the renumbered messages as something else."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import grpc
import pytest

from polyinfra.core.us_dropcopy import DropCopyStream
from polyinfra.core.us_order_view import OrderChange
from polyinfra.core.us_orders import UsOrderIntent, UsPosition, UsTimeInForce
from polyinfra.emulator.runner import Emulator
from polyinfra.errors import ProtoMismatchError
from polyinfra.model.numbers import Side
from polyinfra.record.dropcopy_archive import SQLiteDropCopyArchive
from polyinfra.us.client import ProtosChoice, UsExchangeClient
from polyinfra.us.order_entry import UsOrderEntry
from polyinfra.us.order_stream import UsOrderStream
from polyinfra.us.position_stream import UsPositionStream
from polyinfra.wire.us.polymarket.v1 import enums_pb2, orders_pb2, trading_pb2
from tests.integration.us_dropcopy_steps import emulator_archiver, until

MLB = "aec-mlb-nyy-bos-2026-04-10"
ALICE = "firms/emulator/accounts/alice"
BOB = "firms/emulator/accounts/bob"
FIRM = "firm-a"
TIME_SCALE = 0.001
HINT = (
    'use protos="reflection" or load_bundle(...) (us commands: --reflection or --bundle); '
    "compare with: polyinfra us protos diff"
)


@pytest.fixture
async def renumbered() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, seed_books=False, us_renumbered_protos=True) as running:
        running.us_dropcopy.faults.update({"time_scale": TIME_SCALE, "heartbeat_interval_s": 50.0})
        yield running


@pytest.fixture
async def ordinary() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, seed_books=False) as running:
        running.us_dropcopy.faults.update({"time_scale": TIME_SCALE, "heartbeat_interval_s": 50.0})
        yield running


def _intent(side: Side, price: str, quantity: str, tif: UsTimeInForce, account: str) -> UsOrderIntent:
    return UsOrderIntent(MLB, side, Decimal(price), Decimal(quantity), tif, account=account)


async def _trading_seen(emulator: Emulator, protos: ProtosChoice) -> tuple[list[OrderChange], list[UsPosition]]:
    """The order stream's changes and Bob's position changes while Alice rests an order, Bob takes part of it
    and Alice cancels the rest."""
    async with (
        UsExchangeClient(emulator.urls["grpc"], insecure=True, protos=protos) as client,
        UsOrderStream(client, reconnect_initial_s=0.01, reconnect_max_s=0.05) as orders,
        UsPositionStream(client, accounts=[BOB], reconnect_initial_s=0.01, reconnect_max_s=0.05) as held,
    ):
        alice, bob = UsOrderEntry(client, account=ALICE), UsOrderEntry(client, account=BOB)
        resting = await alice.place(_intent(Side.SELL, "0.6", "2", UsTimeInForce.GTC, ALICE), clord_id="alice-1")
        await bob.place(_intent(Side.BUY, "0.6", "1", UsTimeInForce.FOK, BOB), clord_id="bob-1")
        await alice.cancel(order_id=resting.order_id)
        await until(lambda: _state(orders, "alice-1") == "CANCELED" and _state(orders, "bob-1") == "FILLED", "orders")
        await until(lambda: (BOB, MLB) in held.positions, "Bob's position")
        assert orders.last_failure is None and held.last_failure is None
        return orders.drain(), held.drain()


def _state(orders: UsOrderStream, clord_id: str) -> str | None:
    found = orders.view.by_clord_id(clord_id)
    return None if found is None else found.state


async def test_reflection_streams_orders_and_positions_as_from_the_ordinary_emulator(
    renumbered: Emulator, ordinary: Emulator
) -> None:
    expected_orders, expected_positions = await _trading_seen(ordinary, None)
    found_orders, found_positions = await _trading_seen(renumbered, "reflection")
    assert len(expected_orders) >= 4 and [(p.account, p.net) for p in expected_positions] == [(BOB, Decimal(1))]
    assert found_orders == expected_orders
    assert found_positions == expected_positions


async def test_our_numbers_refuse_the_renumbered_order_stream(renumbered: Emulator) -> None:
    async with UsExchangeClient(renumbered.urls["grpc"], insecure=True) as client:
        stream = UsOrderStream(client, reconnect_initial_s=0.01, reconnect_max_s=0.05)
        with pytest.raises(ProtoMismatchError) as refused:
            await stream.start()
    assert str(refused.value.context["field"]).startswith("CreateOrderSubscriptionResponse.#")
    assert refused.value.context["hint"] == HINT
    assert stream.sessions == 1 and stream.last_failure is refused.value


async def test_a_later_message_in_other_numbers_ends_the_stream_after_the_changes_before_it() -> None:
    order = orders_pb2.Order(id="o-1", clord_id="c-1", symbol=MLB, side=enums_pb2.SIDE_BUY, order_qty=1, leaves_qty=1)
    snapshot = trading_pb2.CreateOrderSubscriptionResponse(
        snapshot=trading_pb2.OrderSubscriptionSnapshot(orders=[order])
    )
    # Field 99 (a varint) is no field of ours: a server speaking other numbers.
    sent = [snapshot.SerializeToString(), bytes([0x98, 0x06, 0x01])]

    async def subscription(request: bytes, context: object) -> AsyncIterator[bytes]:
        for message in sent:
            yield message
        await asyncio.Event().wait()  # the venue keeps the stream open

    server = grpc.aio.server()
    server.add_generic_rpc_handlers(
        [
            grpc.method_handlers_generic_handler(
                "polymarket.v1.OrderEntryAPI",
                {"CreateOrderSubscription": grpc.unary_stream_rpc_method_handler(subscription)},
            )
        ]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with (
            UsExchangeClient(f"127.0.0.1:{port}", insecure=True) as client,
            UsOrderStream(client, reconnect_initial_s=0.01, reconnect_max_s=0.05) as orders,
        ):
            seen = []
            with pytest.raises(ProtoMismatchError) as refused:
                async for change in orders.changes():
                    seen.append(change.order.order_id)
            assert orders.drain() == []
    finally:
        await server.stop(None)
    assert seen == ["o-1"]
    assert refused.value.context["field"] == "CreateOrderSubscriptionResponse.#99"
    assert orders.sessions == 1 and orders.last_failure is refused.value


async def test_our_numbers_refuse_the_renumbered_position_stream(renumbered: Emulator) -> None:
    async with UsExchangeClient(renumbered.urls["grpc"], insecure=True) as client:
        stream = UsPositionStream(client, accounts=[BOB])
        with pytest.raises(ProtoMismatchError) as refused:
            await stream.start()
    # The reference data its quantities are read with is refused first; the stream is never opened.
    assert str(refused.value.context["field"]).startswith("ListInstrumentsResponse.#")
    assert refused.value.context["hint"] == HINT and stream.sessions == 0


async def _archived_executions(emulator: Emulator, tmp_path: Path, protos: ProtosChoice) -> list[tuple[str, str]]:
    """The executions the archiver keeps of 30 generated ones; each archived message is the emulator's own."""
    tmp_path.mkdir()
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    archiver = emulator_archiver(emulator, archive, FIRM, time_scale=TIME_SCALE, protos=protos)
    status = archiver.status[DropCopyStream.EXECUTIONS]
    emulator.us_dropcopy.generate(30, seed=3)
    run = asyncio.create_task(archiver.run())
    try:
        await until(lambda: status.new_events >= 30, "executions archived")
    finally:
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
    sent = [entry.message.SerializeToString() for entry in emulator.us_dropcopy.entries(DropCopyStream.EXECUTIONS)]
    with sqlite3.connect(tmp_path / "archive.db") as stored:
        archived = [row[0] for row in stored.execute("SELECT message FROM dropcopy_executions ORDER BY seq")]
    assert archived == sent
    found = archive.execution_ids(FIRM)
    archive.close()
    return found


async def test_reflection_archives_dropcopy_as_from_the_ordinary_emulator(
    renumbered: Emulator, ordinary: Emulator, tmp_path: Path
) -> None:
    expected = await _archived_executions(ordinary, tmp_path / "ordinary", None)
    assert len(expected) == 30
    assert await _archived_executions(renumbered, tmp_path / "renumbered", "reflection") == expected


async def test_our_numbers_stop_the_archiver_before_it_commits_anything(renumbered: Emulator, tmp_path: Path) -> None:
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    archiver = emulator_archiver(renumbered, archive, FIRM, DropCopyStream.EXECUTIONS, time_scale=TIME_SCALE)
    renumbered.us_dropcopy.generate(5, seed=3)
    with pytest.raises(ProtoMismatchError) as refused:
        await archiver.run()
    status = archiver.status[DropCopyStream.EXECUTIONS]
    assert (status.state, status.responses, status.reconnects) == ("refused", 0, 0)
    assert refused.value.context["hint"] == HINT
    assert refused.value.context["stream"] == "executions"
    assert archive.count(FIRM, DropCopyStream.EXECUTIONS) == 0
    archive.close()


@pytest.mark.parametrize(
    ("stream", "message"),
    [
        (DropCopyStream.TRADES, "CreateTradeCaptureReportSubscriptionResponse"),
        (DropCopyStream.POSITIONS, "CreatePositionChangeSubscriptionResponse"),
    ],
)
async def test_a_dropcopy_message_that_does_not_decode_names_its_stream(
    renumbered: Emulator, tmp_path: Path, stream: DropCopyStream, message: str
) -> None:
    archive = SQLiteDropCopyArchive(tmp_path / "archive.db")
    archiver = emulator_archiver(renumbered, archive, FIRM, stream, time_scale=TIME_SCALE)
    renumbered.us_dropcopy.generate(5, seed=3)
    with pytest.raises(ProtoMismatchError) as refused:
        await archiver.run()
    assert refused.value.context["stream"] == stream.value
    assert str(refused.value.context["field"]).startswith(f"{message}.#")
    archive.close()
