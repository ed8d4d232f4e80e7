"""Fixtures shared by the integration tests: emulators on free ports, stopped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from polyinfra.emulator.faults import FaultConfig
from polyinfra.emulator.rate_limits import RateLimitMode
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.trading_api import TradingSettings
from polyinfra.net.http import HttpTransport

EmulatorFactory = Callable[..., Awaitable[Emulator]]


@pytest.fixture
async def emulator_factory() -> AsyncIterator[EmulatorFactory]:
    """Starts emulators (3 markets, no simulated activity unless told) and stops them afterwards."""
    started: list[Emulator] = []

    async def start(**options: Any) -> Emulator:
        emulator = Emulator(**({"markets": 3, "seed": 5, "rate": 0} | options))
        await emulator.start()
        started.append(emulator)
        return emulator

    yield start
    for emulator in started:
        await emulator.stop()


FAST_SETTLEMENT = TradingSettings(mined_after_s=0.05, confirmed_after_s=0.1)
"""Trades MINED 0.05 s and CONFIRMED 0.1 s after their match: tests wait for final states quickly."""
SETTLEMENT_PENDING_2_S = TradingSettings(mined_after_s=1.0, confirmed_after_s=2.0)
"""For a test that looks at a trade while it is still settling: a RETRYING trade FAILs 2 s after its
match, not 0.1 s, which a loaded machine can spend between two requests of the test. Pass it to
``emulator`` with ``@pytest.mark.parametrize("emulator", [SETTLEMENT_PENDING_2_S], indirect=True)``."""


@pytest.fixture
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """The trading tests' venue: 3 markets, no simulated activity, trades settled in 0.1 s (other
    timers by indirect parametrization) and its rate limits off (a test module that needs another
    emulator defines its own ``emulator``)."""
    settings = getattr(request, "param", FAST_SETTLEMENT)
    faults = FaultConfig(rate_limits=RateLimitMode.OFF)
    async with Emulator(markets=3, seed=5, rate=0, trading=settings, faults=faults) as running:
        yield running


@pytest.fixture
async def transport(emulator: Emulator) -> AsyncIterator[HttpTransport]:
    """A transport to ``emulator``'s REST API with the default (standard-tier) limits."""
    async with HttpTransport(emulator.urls["rest"]) as opened:
        yield opened
