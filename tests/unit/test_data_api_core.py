"""The sans-I/O parts of the Data API client: the fail-closed offset walk, the activity row
conversion and how far a page proves a wallet's history, with hand-computed cases."""

from __future__ import annotations

from decimal import Decimal

import httpx
import pytest

from polyinfra.core.offset_walk import OffsetWalk
from polyinfra.core.wallet_activity_rows import activity_from_v1, activity_from_v2, complete_through_s
from polyinfra.data.data_api import DataApiClient
from polyinfra.errors import MalformedMessageError, PaginationError
from polyinfra.model.numbers import Side
from polyinfra.model.wallet_activity import ActivityKind
from polyinfra.wire.data_api import DataApiActivity, V2Activity

_WALLET = "0xAB" + "cd" * 19


def test_a_short_page_ends_the_walk() -> None:
    walk = OffsetWalk("/activity", limit=3, max_offset=100)
    walk.accept(["a", "b", "c"])
    assert (walk.offset, walk.done) == (3, False)
    walk.accept(["d"])
    assert walk.done


def test_a_full_page_at_the_ceiling_refuses_to_answer_short() -> None:
    walk = OffsetWalk("/activity", limit=5, max_offset=5)
    walk.accept("abcde")
    with pytest.raises(PaginationError) as refused:
        walk.accept("fghij")
    assert refused.value.context["reason"] == "offset_ceiling"
    assert refused.value.context["offset"] == 5


def test_a_page_repeating_rows_is_the_offset_trap() -> None:
    walk = OffsetWalk("/trades", limit=2, max_offset=100)
    walk.accept(["a", "b"])
    with pytest.raises(PaginationError) as refused:
        walk.accept(["b", "c"])
    assert refused.value.context["reason"] == "repeated_rows"


def _v2(**changes: object) -> V2Activity:
    fields: dict[str, object] = {
        "proxy_wallet": _WALLET,
        "timestamp": 1_700_000_000,
        "type": "TRADE",
        "size": Decimal("10.5"),
        "usdc_size": Decimal("5.25"),
        "transaction_hash": "0xAA",
        "condition_id": "0xCC",
        "asset": "123",
        "side": "BUY",
        "price": Decimal("0.5"),
        "outcome_index": 0,
    }
    return V2Activity(**(fields | changes))  # type: ignore[arg-type]


def test_v2_rows_convert_exactly_and_lower_case() -> None:
    row = activity_from_v2(_v2())
    assert (row.wallet, row.condition_id, row.transaction_hash) == (_WALLET.lower(), "0xcc", "0xaa")
    assert (row.kind, row.side, row.size, row.usdc_size, row.price) == (
        ActivityKind.TRADE,
        Side.BUY,
        Decimal("10.5"),
        Decimal("5.25"),
        Decimal("0.5"),
    )


def test_a_redeem_row_has_no_price_and_999_is_no_outcome() -> None:
    row = activity_from_v2(_v2(type="REDEEM", side=None, price=Decimal(0), outcome_index=999))
    assert (row.price, row.outcome_index, row.side) == (None, None, None)


@pytest.mark.parametrize(
    "changes",
    [{"type": "GIFT"}, {"side": "HOLD"}, {"size": Decimal("1e999999")}, {"timestamp": -1}],
)
def test_values_no_activity_row_holds_are_typed_errors(changes: dict[str, object]) -> None:
    with pytest.raises(MalformedMessageError):
        activity_from_v2(_v2(**changes))


def test_v1_rows_convert_like_v2_rows() -> None:
    v1 = DataApiActivity(
        proxy_wallet=_WALLET,
        timestamp=1_700_000_000,
        type="TRADE",
        size=Decimal("10.5"),
        usdc_size=Decimal("5.25"),
        transaction_hash="0xAA",
        condition_id="0xCC",
        price=Decimal("0.5"),
        asset="123",
        side="BUY",
        outcome_index=0,
    )
    assert activity_from_v1(v1) == activity_from_v2(_v2())


@pytest.mark.parametrize(
    ("newest", "more", "expected"),
    [
        (None, False, 989),  # the walk is over: proven up to the last whole second older than the lag
        (995, False, 989),  # never past that, whatever the rows say
        (950, True, 949),  # more to come: up to the second before the newest row
        (None, True, 99),  # more to come and no row: nothing proven
        (50, True, 99),  # never before the walk's start
    ],
)
def test_complete_through(newest: int | None, more: bool, expected: int) -> None:
    assert complete_through_s(start_s=100, now_s=1000, lag_allowance_s=10, newest_row_s=newest, more=more) == expected


async def test_a_cursor_sent_round_in_a_circle_ends_the_walk() -> None:
    page = b'{"data": [], "pagination": {"next_cursor": "same", "has_more": true}}'
    served: list[str] = []

    def venue(request: httpx.Request) -> httpx.Response:
        served.append(request.url.params.get("cursor", ""))
        return httpx.Response(200, content=page)

    async with DataApiClient("http://data.test") as client:
        client.transport._client = httpx.AsyncClient(base_url="http://data.test", transport=httpx.MockTransport(venue))
        with pytest.raises(PaginationError) as looped:
            await client.leaderboard_v2()
    assert looped.value.context["reason"] == "cursor_loop"
    assert served == ["", "same"]
