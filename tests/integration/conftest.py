"""Fixtures shared by the integration tests: emulators on free ports, stopped afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from polyinfra.emulator.runner import Emulator

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
