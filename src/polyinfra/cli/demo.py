"""``polyinfra demo``: the embedded emulator with simulated activity, watched live.

Starts the emulator in-process on a free port and runs the ``polyinfra watch`` session
(:func:`~polyinfra.cli.watch.watch_books`) against it over real sockets, on every token of every
simulated market: a live table on a terminal, plain lines otherwise.
"""

from __future__ import annotations

from polyinfra.cli.book_view import WatchedMarket
from polyinfra.cli.watch import Output, run_until_stopped, watch_books
from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.runner import Emulator

__all__ = ["run_demo"]


def run_demo(
    *, markets: int, seed: int, rate: float, duration_s: float, refresh_s: float, poison_rate: float, output: Output
) -> None:
    """Run the demo until ``duration_s`` elapses (0: until Ctrl-C).

    ``poison_rate`` makes the emulator plant a hostile value in that share of its market-channel
    frames and REST answers: the status line then counts what the books refused.
    """
    faults = FaultConfig(poison_rate=poison_rate, poison_http_rate=poison_rate)
    run_until_stopped(
        _demo(
            markets=markets,
            seed=seed,
            rate=rate,
            duration_s=duration_s,
            refresh_s=refresh_s,
            faults=faults,
            output=output,
        )
    )


async def _demo(
    *, markets: int, seed: int, rate: float, duration_s: float, refresh_s: float, faults: FaultConfig, output: Output
) -> None:
    async with Emulator(markets=markets, seed=seed, rate=rate, faults=faults) as emulator:
        await watch_books(
            emulator.urls["rest"],
            emulator.urls["ws_market"],
            [WatchedMarket.of(info) for info in emulator.exchange.markets.values()],
            output=output,
            title=f"polyinfra demo · embedded emulator, {markets} markets · Ctrl-C stops",
            duration_s=duration_s,
            refresh_s=refresh_s,
        )
