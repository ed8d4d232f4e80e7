"""How many orders per second the emulator accepts over real sockets, against a named anchor.

Run: ``python bench/emulator_orders.py [--wallets W] [--orders N] [--senders S] [--profile PATH]``

The emulator runs as ``polyinfra emulator`` in a process of its own (empty books, no simulated
activity, its rate limits off), so it has one core to itself and the client the other. ``W`` fresh
wallets each get ``N`` orders, built and signed before any clock starts (one core signs ~15,000
orders/s: see ``bench/order_signing.py``): nine resting BUYs out of ten on 0.04-0.13, and one in ten
a BUY of either token at Yes-space 0.55 (Yes at 0.55, No at 0.45), which cross each other as mints.

(a) anchor: ``verify_order_signature`` alone over every order, in this process, on payloads decoded
    from the wire as the emulator does: the one check per order the venue cannot skip. The
    emulator's intake is reported as a share of this rate (1.0 would mean everything but the
    signature check is free).
(b) single: ``S`` tasks post the first half of each wallet's orders with ``POST /order``.
(c) batch: ``S`` tasks post the second half with ``POST /orders``, 15 per request (venue notes: Rate limits).

Each of (b) and (c) is reported twice: orders per second of wall time, which on two cores is also
bounded by the client (signing is done before, but httpx's per-request cost is not small), and
orders per second of the emulator process's own CPU time (from ``/proc``, Linux): the intake one
emulator core can sustain, which neither the client nor other load on a shared machine changes.

The client keeps the elite tier's rate-limit table scaled far above these rates: its limiter runs
on every request, as in production, without ever making a request wait. ``--profile PATH`` runs the
emulator under cProfile and writes its statistics to PATH when the run ends.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

import msgspec

from polyinfra.clob.rest import ClobRestClient
from polyinfra.clob.trading import OrderSubmission, TradingClient
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_builder import OrderStamper, build_order
from polyinfra.core.order_signing import (
    POLYGON_CHAIN_ID,
    SignedOrder,
    order_payload,
    sign_order,
    signed_order_from_payload,
    verify_order_signature,
)
from polyinfra.core.venue_rate_limits import clob_limits
from polyinfra.model.market import MarketInfo
from polyinfra.model.numbers import Side, TickSize
from polyinfra.net.http import HttpTransport
from polyinfra.wire.clob_orders import OrderPayload

UNBINDING_RATE_LIMIT_SCALE = 1_000.0
"""Elite-tier limits times this: far above what two cores can send, so no request ever waits."""
CROSSING_EVERY = 10


def _clock_ms() -> int:
    return time.time_ns() // 1_000_000


def wallet_orders(key: SigningKey, market: MarketInfo, count: int, stamper: OrderStamper) -> list[SignedOrder]:
    """``count`` signed GTC orders of one wallet on ``market`` (a 0.01-tick market), see the module docstring."""
    yes, no = (token.token_id for token in market.tokens)
    signed = []
    for number in range(count):
        if number % CROSSING_EVERY:
            token, price = yes, f"0.{4 + number % 10:02d}"
        else:
            token, price = (yes, "0.55") if number // CROSSING_EVERY % 2 else (no, "0.45")
        built = build_order(
            token_id=token,
            side=Side.BUY,
            price=price,
            size=market.min_order_size,
            maker=key.address,
            stamper=stamper,
            market=market,
        )
        signed.append(sign_order(built.order, key, chain_id=POLYGON_CHAIN_ID))
    return signed


def verify_rate(orders: Sequence[SignedOrder], neg_risk: bool) -> float:
    """(a): orders per second through ``verify_order_signature`` from wire payloads."""
    encoded = [msgspec.json.encode(order_payload(order)) for order in orders]
    started = time.perf_counter()
    for body in encoded:
        payload = msgspec.json.decode(body, type=OrderPayload)
        verify_order_signature(
            signed_order_from_payload(payload, chain_id=POLYGON_CHAIN_ID, neg_risk=neg_risk), chain_id=POLYGON_CHAIN_ID
        )
    return len(orders) / (time.perf_counter() - started)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time the process ``pid`` has used so far (Linux ``/proc``)."""
    # The command name (field 2) may hold spaces: the numeric fields start after its ")".
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def post_rate(
    clients: Sequence[TradingClient],
    orders: Sequence[Sequence[SignedOrder]],
    senders: int,
    emulator_pid: int,
    *,
    batch: bool,
) -> tuple[float, float]:
    """(b) or (c): orders accepted per second of wall time and per second of emulator CPU time,
    ``senders`` tasks sharing out the wallets' orders."""
    jobs = [
        (client, list(wallet[start::senders_per_wallet]))
        for client, wallet in zip(clients, orders, strict=True)
        for senders_per_wallet in [max(1, senders // len(clients))]
        for start in range(senders_per_wallet)
    ]

    async def single(client: TradingClient, mine: list[SignedOrder]) -> int:
        for order in mine:
            answer = await client.post_order(order)
            assert answer.success, answer
        return len(mine)

    async def batched(client: TradingClient, mine: list[SignedOrder]) -> int:
        results = await client.post_orders([OrderSubmission(order) for order in mine])
        refused = [result for result in results if isinstance(result, Exception)]
        assert not refused, refused[:3]
        return len(mine)

    send: Callable[[TradingClient, list[SignedOrder]], Awaitable[int]] = batched if batch else single
    started, emulator_started = time.perf_counter(), cpu_seconds(emulator_pid)
    accepted = sum(await asyncio.gather(*(send(client, mine) for client, mine in jobs)))
    wall_s, emulator_s = time.perf_counter() - started, cpu_seconds(emulator_pid) - emulator_started
    return accepted / wall_s, accepted / emulator_s


async def run(wallets: int, per_wallet: int, senders: int, profile: str | None) -> None:
    profiler = ["-m", "cProfile", "-o", profile] if profile else []
    emulator = await asyncio.create_subprocess_exec(
        sys.executable,
        *profiler,
        "-m",
        "polyinfra.cli.main",
        "emulator",
        *("--port", "0", "--markets", "4", "--seed", "5", "--rate", "0", "--no-seed-books"),
        *("--rate-limits", "off", "--log-level", "WARNING"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert emulator.stdout is not None
        rest_url = json.loads(await emulator.stdout.readline())["rest"]
        limits = clob_limits("elite").scaled(UNBINDING_RATE_LIMIT_SCALE)
        async with ClobRestClient(rest_url) as public, HttpTransport(rest_url, rate_limits=limits) as transport:
            infos = [await public.get_clob_market_info(market.condition_id) async for market in public.iter_markets()]
            market = next(info for info in infos if info.tick_size is TickSize.TICK_0_01)
            keys = [SigningKey("0x" + secrets.token_hex(32)) for _ in range(wallets)]
            stamper = OrderStamper(_clock_ms)
            orders = [wallet_orders(key, market, per_wallet, stamper) for key in keys]
            clients = [TradingClient(transport, key) for key in keys]
            for client in clients:
                await client.create_or_derive_api_key()

            anchor = verify_rate([order for wallet in orders for order in wallet], market.neg_risk)
            half = per_wallet // 2
            firsts, seconds = [wallet[:half] for wallet in orders], [wallet[half:] for wallet in orders]
            single = await post_rate(clients, firsts, senders, emulator.pid, batch=False)
            batch = await post_rate(clients, seconds, senders, emulator.pid, batch=True)
    finally:
        emulator.send_signal(signal.SIGINT)
        await emulator.wait()

    print(f"wallets: {wallets} x {per_wallet} orders, {senders} concurrent senders, emulator in its own process")
    print(f"{'approach':<50}{'orders/s':>10}{'x anchor':>10}")
    for name, rate in (
        ("(a) anchor: verify_order_signature alone", anchor),
        ("(b) POST /order, per second of wall time", single[0]),
        ("(b) POST /order, per emulator CPU second", single[1]),
        ("(c) POST /orders (15), per second of wall time", batch[0]),
        ("(c) POST /orders (15), per emulator CPU second", batch[1]),
    ):
        print(f"{name:<50}{rate:>10,.0f}{rate / anchor:>10.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wallets", type=int, default=8)
    parser.add_argument("--orders", type=int, default=4_000, help="orders per wallet, half single, half batched")
    parser.add_argument("--senders", type=int, default=32)
    parser.add_argument("--profile", help="write the emulator's cProfile statistics to this path")
    args = parser.parse_args()
    asyncio.run(run(args.wallets, args.orders, args.senders, args.profile))


if __name__ == "__main__":
    main()
