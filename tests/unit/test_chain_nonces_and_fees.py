"""The nonce book under concurrency and release, and the fee policy's offers and replacements."""

from __future__ import annotations

import asyncio

import pytest

from polyinfra.chain.nonces import NonceBook
from polyinfra.core.chain_fees import Fees, eip1559_fees, legacy_fees, replacement_fees
from polyinfra.errors import InvalidValueError

GWEI = 10**9


async def test_concurrent_reserves_are_distinct_and_released_nonces_come_back_first() -> None:
    reads = 0

    async def pending() -> int:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0)
        return 7

    book = NonceBook(pending)
    nonces = await asyncio.gather(*(book.reserve() for _ in range(20)))
    assert sorted(nonces) == list(range(7, 27))
    assert reads == 1
    for nonce in nonces:
        if nonce != 12:
            book.commit(nonce)
    book.release(12)
    book.release(8)  # committed already: not handed out again
    assert await book.reserve() == 12
    assert await book.reserve() == 27


async def test_resync_never_goes_below_a_nonce_in_flight() -> None:
    count = 3

    async def pending() -> int:
        return count

    book = NonceBook(pending)
    first = await book.reserve()
    assert first == 3
    count = 10  # someone else sent from the same key
    await book.resync()
    assert await book.reserve() == 10
    book.commit(first)


def test_fees() -> None:
    offer = eip1559_fees(30 * GWEI, 25 * GWEI, min_tip_wei=30 * GWEI)
    assert offer == Fees(max_fee=90 * GWEI, max_tip=30 * GWEI)
    assert offer.worst_case_wei(21_000) == 21_000 * 90 * GWEI
    bumped = replacement_fees(offer, eip1559_fees(30 * GWEI, 25 * GWEI))
    assert bumped.max_tip * 100 >= offer.max_tip * 110 and bumped.max_fee * 100 >= offer.max_fee * 110
    # A replacement also catches up with a suggestion that rose further.
    assert replacement_fees(offer, eip1559_fees(30 * GWEI, 80 * GWEI)).max_tip == 80 * GWEI
    legacy = replacement_fees(legacy_fees(100 * GWEI), legacy_fees(90 * GWEI))
    assert legacy.legacy and legacy.max_fee == legacy.max_tip == 113 * GWEI
    with pytest.raises(InvalidValueError):
        eip1559_fees(-1, 0)
