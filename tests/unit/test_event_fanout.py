"""The consumer side shared by LiveBooks and UserChannel: bounded queues that drop their oldest,
listeners whose exceptions are counted, and a close that can carry the reason the events stopped."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest

from polyinfra.core.config_checks import positive_int, positive_number
from polyinfra.errors import InvalidValueError, L2AuthError
from polyinfra.net.event_stream import EventFanout


async def _drain(stream: AsyncIterator[int]) -> list[int]:
    return [item async for item in stream]


async def test_a_full_queue_drops_its_oldest_and_counts_it() -> None:
    fanout: EventFanout[int] = EventFanout(3, what="test")
    stream = fanout.stream()
    assert fanout.deliver([1, 2]) == 0
    assert fanout.deliver([3, 4, 5]) == 2
    fanout.close()
    assert await _drain(stream) == [3, 4, 5]
    assert (fanout.delivered, fanout.dropped) == (5, 2)


async def test_a_raising_listener_is_counted_and_the_others_still_get_everything() -> None:
    fanout: EventFanout[int] = EventFanout(10, what="test")
    seen: list[int] = []

    def broken(event: int) -> None:
        raise RuntimeError(f"bug on {event}")

    fanout.add_listener(broken)
    remove = fanout.add_listener(seen.append)
    fanout.deliver([1, 2])
    assert seen == [1, 2] and fanout.listener_errors == 2
    remove()
    fanout.deliver([3])
    assert seen == [1, 2] and fanout.listener_errors == 3


async def test_closing_with_an_error_raises_it_after_the_queued_events() -> None:
    fanout: EventFanout[int] = EventFanout(10, what="test")
    stream = fanout.stream()
    fanout.deliver([7])
    refused = L2AuthError("Unauthorized/Invalid api key")
    fanout.close(refused)
    assert await anext(stream) == 7
    with pytest.raises(L2AuthError) as raised:
        await anext(stream)
    assert raised.value is refused
    # Streams asked for after the close end the same way, at once.
    with pytest.raises(L2AuthError):
        await anext(fanout.stream())


def test_settings_must_be_positive_numbers_and_not_bools() -> None:
    assert positive_number("timeout_s", 2) == 2.0 and positive_int("size", 3) == 3
    for bad in (0, -1.5, math.nan, math.inf, True):
        with pytest.raises(InvalidValueError, match="positive number"):
            positive_number("timeout_s", bad)
    for bad_count in (0, -1, 2.0, True):
        with pytest.raises(InvalidValueError):
            positive_int("size", bad_count)  # type: ignore[arg-type]
