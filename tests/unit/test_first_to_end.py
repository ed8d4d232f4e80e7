"""``first_to_end``: the first job to end stops the others, and its error surfaces."""

from __future__ import annotations

import asyncio

import pytest

from polyinfra.errors import FencedOffError
from polyinfra.net.first_to_end import first_to_end


async def test_the_job_that_fails_cancels_the_others_and_raises() -> None:
    cancelled = asyncio.Event()
    lost = asyncio.Event()

    async def forever() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def lease_lost() -> None:
        await lost.wait()
        raise FencedOffError("taken over")

    race = asyncio.create_task(first_to_end(forever(), lease_lost()))
    await asyncio.sleep(0)
    lost.set()
    with pytest.raises(FencedOffError):
        await race
    assert cancelled.is_set()


async def test_cancelling_the_race_cancels_every_job() -> None:
    started = [asyncio.Event(), asyncio.Event()]
    ended: list[int] = []

    async def job(index: int) -> None:
        started[index].set()
        try:
            await asyncio.Event().wait()
        finally:
            ended.append(index)

    race = asyncio.create_task(first_to_end(job(0), job(1)))
    await asyncio.gather(*(event.wait() for event in started))
    race.cancel()
    with pytest.raises(asyncio.CancelledError):
        await race
    assert sorted(ended) == [0, 1]
