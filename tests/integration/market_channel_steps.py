"""Raw market-channel steps for emulator tests: plain websockets and JSON, no polyinfra client.

Frames of the exchange's actions are queued when the action runs, so every frame an action
produced arrives before the ``PONG`` of a later ``PING``: tests prove an absence without sleeping.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.client import ClientConnection

from polyinfra.core.matching import Order
from polyinfra.emulator.runner import Emulator
from polyinfra.model.ids import TokenId
from polyinfra.model.numbers import Side

WAIT_S = 30.0
_order_ids = itertools.count()


def next_order_id() -> str:
    return f"test-{next(_order_ids)}"


async def recv(ws: ClientConnection) -> str:
    frame = await asyncio.wait_for(ws.recv(), WAIT_S)
    assert isinstance(frame, str)
    return frame


async def raw_frames_until_pong(ws: ClientConnection) -> list[str]:
    """Every frame before the answer to a fresh PING, as received."""
    await ws.send("PING")
    frames = []
    while (frame := await recv(ws)) != "PONG":
        frames.append(frame)
    return frames


async def frames_until_pong(ws: ClientConnection) -> list[Any]:
    """Every frame before the answer to a fresh PING, decoded."""
    return [json.loads(frame) for frame in await raw_frames_until_pong(ws)]


async def subscribe(ws: ClientConnection, assets: list[str], **options: object) -> None:
    await ws.send(json.dumps({"assets_ids": assets, "type": "market", **options}))


async def eventually(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(WAIT_S):
        while not condition():
            await asyncio.sleep(0.02)


def add_to_best_bid(emulator: Emulator, token: TokenId, size_micros: int) -> None:
    """One action, one frame for plain subscribers: a price_change growing the best bid level
    (best prices unchanged, so no best_bid_ask)."""
    best_bid = emulator.exchange.best_bid(token)
    assert best_bid is not None
    emulator.exchange.place(
        Order(
            order_id=next_order_id(),
            owner="test",
            token_id=token,
            side=Side.BUY,
            price_micros=best_bid,
            size_micros=size_micros,
        )
    )
