"""``polyinfra demo``: the embedded emulator with simulated activity, watched live.

Starts the emulator in-process on a free port and runs the ``polyinfra watch`` session
(:func:`~polyinfra.cli.watch.watch_books`) against it over real sockets, on every token of every
simulated market: a live table on a terminal, plain lines otherwise.
"""

from __future__ import annotations

from polyinfra.cli.book_view import WatchedMarket
from polyinfra.cli.watch import Output, run_until_stopped, watch_books
from polyinfra.emulator.runner import Emulator

__all__ = ["run_demo"]


def run_demo(*, markets: int, seed: int, rate: float, duration_s: float, refresh_s: float, output: Output) -> None:
    """Run the demo until ``duration_s`` elapses (0: until Ctrl-C)."""
    run_until_stopped(
        _demo(markets=markets, seed=seed, rate=rate, duration_s=duration_s, refresh_s=refresh_s, output=output)
    )


async def _demo(*, markets: int, seed: int, rate: float, duration_s: float, refresh_s: float, output: Output) -> None:
    async with Emulator(markets=markets, seed=seed, rate=rate) as emulator:
        await watch_books(
            emulator.urls["rest"],
            emulator.urls["ws_market"],
            [WatchedMarket.of(info) for info in emulator.exchange.markets.values()],
            output=output,
            title=f"polyinfra demo · embedded emulator, {markets} markets · Ctrl-C stops",
            duration_s=duration_s,
            refresh_s=refresh_s,
        )
