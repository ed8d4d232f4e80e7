"""What US exchange auth costs per call, against anchors measured in the same run.

Run: ``python bench/us_token_overhead.py [--calls N] [--repeat R]``

(a) ``TokenManager.token()`` while the token is fresh (what every call pays), against the anchor
    ``await`` of a coroutine that returns a cached object: the least any async token source costs.
(b) a unary gRPC call through :func:`~polyinfra.us.grpc_auth.auth_interceptors` (token, metadata,
    the status check that drives the replace-once rule), against the anchor: the same call on a
    channel without interceptors, to the same in-process ``grpc.aio`` echo server.

Tokens come from the emulator's token endpoint (one request; none during the timed loops). Each
repetition alternates the approaches; best and median per call are shown, with the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable

import grpc
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from polyinfra.emulator.runner import Emulator
from polyinfra.us.grpc_auth import auth_interceptors
from polyinfra.us.token_manager import TokenManager
from polyinfra.wire.us_oauth import ClientRegistration

_METHOD = "/polyinfra.bench.Echo/Echo"


async def _echo(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
    return request


async def _timed(loop_body: Callable[[], Awaitable[object]], calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        await loop_body()
    return (time.perf_counter() - started) / calls


def _row(name: str, samples: list[float], anchor: list[float] | None) -> str:
    best, median = min(samples), statistics.median(samples)
    ratio = "" if anchor is None else f"  {median / statistics.median(anchor):6.2f}x anchor (median)"
    return f"{name:<44} best {best * 1e6:9.2f} us  median {median * 1e6:9.2f} us{ratio}"


async def main(calls: int, repeat: int) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    client = ClientRegistration(client_id="bench", public_key_pem=public.decode(), scopes=["read:marketdata"])
    async with Emulator(markets=1, rate=0, us_clients=[client]) as emulator:
        async with TokenManager(client_id="bench", private_key=key, token_url=emulator.urls["us_token"]) as tokens:
            server = grpc.aio.server()
            server.add_generic_rpc_handlers(
                (
                    grpc.method_handlers_generic_handler(
                        "polyinfra.bench.Echo", {"Echo": grpc.unary_unary_rpc_method_handler(_echo)}
                    ),
                )
            )
            target = f"127.0.0.1:{server.add_insecure_port('127.0.0.1:0')}"
            await server.start()
            cached = await tokens.token()

            async def anchor_token() -> object:
                return cached

            async with (
                grpc.aio.insecure_channel(target) as plain,
                grpc.aio.insecure_channel(target, interceptors=auth_interceptors(tokens)) as authed,
            ):
                plain_call, authed_call = plain.unary_unary(_METHOD), authed.unary_unary(_METHOD)
                await plain_call(b"warm")
                await authed_call(b"warm")
                results: dict[str, list[float]] = {"anchor token": [], "token": [], "anchor grpc": [], "grpc": []}
                for _ in range(repeat):
                    results["anchor token"].append(await _timed(anchor_token, calls * 10))
                    results["token"].append(await _timed(tokens.token, calls * 10))
                    results["anchor grpc"].append(await _timed(lambda: plain_call(b"x"), calls))
                    results["grpc"].append(await _timed(lambda: authed_call(b"x"), calls))
            await server.stop(grace=None)
        assert emulator.us_tokens.stats.issued == 1, "a token request during the timed loops"
    print(f"{calls * 10} token() calls and {calls} unary gRPC calls per repetition, {repeat} repetitions")
    print(_row("anchor: await a cached object", results["anchor token"], None))
    print(_row("TokenManager.token(), fresh token", results["token"], results["anchor token"]))
    print(_row("anchor: unary gRPC call, no interceptors", results["anchor grpc"], None))
    print(_row("unary gRPC call with auth_interceptors", results["grpc"], results["anchor grpc"]))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.calls, arguments.repeat))
