"""Hostile live-data events into the Parquet row converter (``live_event_row``):
any event, whatever its numbers (any exponent, NaN, infinities, integers past ``int64``), gives a row
that its table's schema writes and reads back with the same values, or an
:class:`~polyinfra.errors.InvalidValueError` (the event is left out); never another exception, and never
a rounded number.

Strings are any valid text: the events' strings come from decoded JSON, which holds no lone surrogate.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.errors import InvalidValueError
from polyinfra.model.live_events import ActivityTrade, CommentEvent, Gap, LiveEvent, PriceTick
from polyinfra.model.numbers import Side
from polyinfra.record.live_data_export import LIVE_DATA_TABLES, live_event_row
from polyinfra.record.parquet_tables import ORIGIN_FIELDS

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_INTS = st.one_of(st.integers(), st.integers(min_value=-(2**64), max_value=2**64))
_DECIMALS = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True),
    st.decimals(places=22, min_value=-(10**16), max_value=10**16),
    st.builds(lambda digits, exponent: Decimal(digits).scaleb(exponent), st.integers(), st.integers(-80, 40)),
)

_EVENTS: st.SearchStrategy[LiveEvent] = st.one_of(
    st.builds(
        ActivityTrade,
        kind=_TEXT,
        wallet=_TEXT,
        side=st.sampled_from(Side),
        price=_DECIMALS,
        size=_DECIMALS,
        token_id=_TEXT,
        condition_id=_TEXT,
        outcome=_TEXT,
        market_slug=_TEXT,
        event_slug=_TEXT,
        title=_TEXT,
        name=_TEXT,
        pseudonym=_TEXT,
        transaction_hash=_TEXT,
        timestamp_s=_INTS,
        sent_ms=_INTS,
    ),
    st.builds(PriceTick, _TEXT, _TEXT, _DECIMALS, _INTS, backfill=st.booleans()),
    st.builds(
        CommentEvent,
        kind=_TEXT,
        comment_id=_TEXT,
        body=_TEXT,
        user_address=_TEXT,
        parent_entity_id=st.none() | _INTS,
        parent_entity_type=_TEXT,
        reaction_type=_TEXT,
        sent_ms=_INTS,
    ),
    st.builds(Gap, _TEXT, _TEXT, _INTS, _INTS, _TEXT),
)
_ORIGIN: dict[str, Any] = {name: None for name, _ in ORIGIN_FIELDS}


@given(_EVENTS)
def test_an_event_is_a_row_read_back_equal_or_is_refused_typed(event: LiveEvent) -> None:
    try:
        name, row, venue_ts_ms = live_event_row(event)
    except InvalidValueError:
        return
    written = pa.Table.from_pylist([{**row, **_ORIGIN, "venue_ts_ms": venue_ts_ms}], schema=LIVE_DATA_TABLES[name])
    read = written.to_pylist()[0]
    assert {column: read[column] for column in row} == row
    assert read["venue_ts_ms"] == venue_ts_ms
    for column, value in row.items():
        if isinstance(value, Decimal):
            assert value == getattr(event, column)  # the event's own number, not a rounding of it
