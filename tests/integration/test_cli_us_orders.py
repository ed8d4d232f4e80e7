"""``polyinfra us order place | cancel | list`` and ``polyinfra us positions`` against the emulator."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import pytest

from polyinfra.emulator.runner import Emulator
from tests.integration.cli_steps import run_polyinfra

MLB = "aec-mlb-nyy-bos-2026-04-10"


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(markets=1, rate=0, seed_books=False) as running:
        yield running


async def test_place_list_and_cancel(emulator: Emulator) -> None:
    endpoint = ("--grpc", emulator.urls["grpc"], "--insecure")
    code, placed, _ = await run_polyinfra("us", "order", "place", MLB, "buy", "0.655", "3.12", *endpoint)
    assert code == 0, placed
    order_id = placed.split()[1]
    [made] = emulator.us_orders.open_orders()
    assert (made.id, made.price, made.order_qty) == (order_id, 655, 312)
    code, listed, _ = await run_polyinfra("us", "order", "list", "--json", *endpoint)
    assert code == 0
    [record] = [json.loads(line) for line in listed.splitlines()]
    assert (record["order_id"], record["price"], record["quantity"], record["state"]) == (
        order_id,
        "0.655",
        "3.12",
        "NEW",
    )
    code, canceled, _ = await run_polyinfra("us", "order", "cancel", order_id, *endpoint)
    assert (code, canceled.strip()) == (0, f"canceled {order_id}")
    assert emulator.us_orders.open_orders() == []


async def test_refusals_and_positions(emulator: Emulator) -> None:
    endpoint = ("--grpc", emulator.urls["grpc"], "--insecure")
    code, _, stderr = await run_polyinfra(
        "us", "order", "place", "aec-nba-lal-bos-2026-01-15", "buy", "0.5", "1", *endpoint
    )
    assert code == 1
    assert "takes no orders: it is SUSPENDED" in stderr
    code, shown, _ = await run_polyinfra("us", "positions", *endpoint)
    assert code == 0
    assert shown.strip() == "balance 100000 USD, buying power 100000 USD"


async def test_a_server_of_other_field_numbers_is_spoken_with_reflection_and_refused_without() -> None:
    async with Emulator(markets=1, rate=0, seed_books=False, us_renumbered_protos=True) as renumbered:
        endpoint = ("--grpc", renumbered.urls["grpc"], "--insecure")
        code, _, stderr = await run_polyinfra("us", "order", "place", MLB, "buy", "0.655", "3.12", *endpoint)
        assert code == 1 and "its numbers are not ours" in stderr and "protos diff" in stderr, stderr
        assert renumbered.us_orders.open_orders() == []
        code, placed, stderr = await run_polyinfra(
            "us", "order", "place", MLB, "buy", "0.655", "3.12", *endpoint, "--reflection"
        )
        assert code == 0, stderr
        [made] = renumbered.us_orders.open_orders()
        assert (made.id, made.price, made.order_qty) == (placed.split()[1], 655, 312)
        code, shown, stderr = await run_polyinfra("us", "positions", "--json", *endpoint, "--reflection")
        assert code == 0, stderr
        assert json.loads(shown.splitlines()[-1])["balance"] == "100000"
