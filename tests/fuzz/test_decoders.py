"""Hostile frames into every client-side JSON decoder: a typed error or a valid result, nothing else.

The valid documents are the real captures the unit tests decode; :func:`hostile_bytes` plants each
class of poison in them (deep nesting, huge digit strings, huge exponents, wrong types, invalid
UTF-8) and adds raw hostile bytes. Frames arrive as bytes or, from a WebSocket text frame, as
``str`` (which may hold lone surrogates that cannot be encoded back to UTF-8).
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.venue_errors import error_from_response
from polyinfra.errors import MalformedMessageError, PolyinfraError
from polyinfra.wire.clob_user import UserFrameDecoder
from polyinfra.wire.clob_ws import MarketFrameDecoder
from polyinfra.wire.json_decoding import JsonDecoder
from tests.fuzz.hostile import hostile_bytes
from tests.shared_data import NAUTILUS_CAPTURES


def _capture(path: str) -> Any:
    return json.loads((NAUTILUS_CAPTURES / path).read_bytes())


MARKET_FRAMES = [
    _capture(path)
    for path in (
        "ws_messages/book.json",
        "ws_messages/price_change.json",
        "ws_messages/price_change_v2.json",
        "ws_messages/last_trade_price.json",
        "ws_messages/tick_size_change.json",
        "rust_test_data/ws_market_best_bid_ask_msg.json",
        "rust_test_data/ws_market_new_market_msg.json",
        "rust_test_data/ws_market_resolved_msg.json",
    )
]
MARKET_FRAMES.append(MARKET_FRAMES[1:3])  # a frame may be an array of events

USER_FRAMES = [
    _capture(path)
    for path in (
        "ws_messages/order_placement.json",
        "ws_messages/order_cancel.json",
        "ws_messages/user_trade1.json",
        "ws_messages/user_trade4.json",
        "rust_test_data/ws_user_order_fok_killed.json",
    )
]
USER_FRAMES.append(USER_FRAMES[:2])

# Nesting past the recursion limit, as a frame and as text: the case that raised RecursionError.
DEEP = [b"[" * 2000, b"[" * 5000 + b"]" * 5000, b'{"event_type":"book","bids":' + b"[" * 3000]


def _as_text(frame: bytes) -> str:
    # What a text frame can hold: any code point, lone surrogates included.
    return frame.decode("utf-8", "surrogateescape")


@given(frame=hostile_bytes(*MARKET_FRAMES))
def test_market_frames_decode_or_raise_malformed(frame: bytes) -> None:
    decoder = MarketFrameDecoder()
    for given_frame in (frame, _as_text(frame)):
        with contextlib.suppress(MalformedMessageError):
            decoder.decode(given_frame)


@given(frame=hostile_bytes(*USER_FRAMES))
def test_user_frames_decode_or_raise_malformed(frame: bytes) -> None:
    decoder = UserFrameDecoder()
    for given_frame in (frame, _as_text(frame)):
        with contextlib.suppress(MalformedMessageError):
            decoder.decode(given_frame)


@pytest.mark.parametrize("frame", DEEP)
@pytest.mark.parametrize("decoder", [MarketFrameDecoder(), UserFrameDecoder()], ids=["market", "user"])
def test_deeply_nested_frames_are_malformed(decoder: MarketFrameDecoder | UserFrameDecoder, frame: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        decoder.decode(frame)
    with pytest.raises(MalformedMessageError):
        decoder.decode(frame.decode())


@given(text=st.text())
def test_any_text_frame_decodes_or_raises_malformed(text: str) -> None:
    for decoder in (MarketFrameDecoder(), UserFrameDecoder()):
        with contextlib.suppress(MalformedMessageError):
            decoder.decode(text)


@given(body=hostile_bytes({"error": "not enough balance / allowance"}, {"error": "x", "retry_after_seconds": 5}))
def test_venue_error_bodies_always_become_a_typed_error(body: bytes) -> None:
    error = error_from_response(400, body, method="POST", endpoint="/order")
    assert isinstance(error, PolyinfraError)
    str(error)  # its text must build too


@pytest.mark.parametrize("body", DEEP)
def test_a_deeply_nested_error_body_is_still_the_venue_error(body: bytes) -> None:
    assert isinstance(error_from_response(500, body, method="GET", endpoint="/book"), PolyinfraError)


@pytest.mark.parametrize(
    "document",
    [
        b"[" * 32 + b"]" * 32,
        b"[{}," * 32 + b"1" + b"]" * 32,  # arrays and objects as siblings on every level
        b'{"a":' * 32 + b'"' + b"[" * 40 + b'\\"' + b"{" * 40 + b'"' + b"}" * 32,
    ],
)
def test_a_document_of_up_to_32_levels_is_decoded(document: bytes) -> None:
    assert JsonDecoder(what="test body").decode(document) is not None


@given(
    levels=st.integers(1, 40),
    siblings=st.lists(st.integers(0, 3), min_size=40, max_size=40),
    decoys=st.integers(0, 80),
    as_text=st.booleans(),
)
def test_sibling_objects_never_hide_nesting(levels: int, siblings: list[int], decoys: int, as_text: bool) -> None:
    # The depth bound discounts an object opened right after "},": runs of closed siblings before
    # each nested object, and strings full of "},{", must still leave every level counted.
    document = b"".join(
        b"[" + b"{}," * siblings[level] + b'{"s":"' + b"},{}," * decoys + b'","a":' for level in range(levels)
    )
    document += b"1" + b"}]" * levels
    decoder = JsonDecoder(what="test body")
    if 2 * levels > 64:
        with pytest.raises(MalformedMessageError, match="nests deeper than 64 levels"):
            decoder.decode(document.decode() if as_text else document)
    else:
        assert decoder.decode(document.decode() if as_text else document) is not None


def test_a_deep_frame_cannot_crash_a_process_that_raised_its_recursion_limit() -> None:
    # py_ecc (imported by eth-account) sets the limit to 100,000; msgspec then recursed through
    # 200 KB of "[" until the C stack overflowed: a segfault, before the depth bound.
    script = (
        "import sys; sys.setrecursionlimit(100_000)\n"
        "from polyinfra.errors import MalformedMessageError\n"
        "from polyinfra.wire.clob_ws import MarketFrameDecoder\n"
        "try:\n"
        "    MarketFrameDecoder().decode(b'[' * 200_000)\n"
        "except MalformedMessageError as error:\n"
        "    print(error.message)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, "market frame nests deeper than 64 levels")


def test_a_document_over_the_size_limit_is_refused_by_its_size() -> None:
    # Valid JSON, so only the size can refuse it.
    with pytest.raises(MalformedMessageError, match="larger than 8 bytes") as refused:
        JsonDecoder(list[int], what="test body", max_bytes=8).decode(b"[1,2,3,4,5]", endpoint="/x")
    assert refused.value.context == {"size": 11, "endpoint": "/x"}


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"[" * 2000, "nests deeper than 64 levels"),
        (b'{"a":' * 65 + b"1" + b"}" * 65, "nests deeper than 64 levels"),
        # Brackets in strings do not count; an escaped backslash does not escape the closing quote.
        (b'["[[[[","\\\\"]' + b"[" * 70, "nests deeper than 64 levels"),
        (b'"\xff"', "is not JSON"),
        ('"\ud800"', "is not valid Unicode"),
        (b"1" * 5000, "does not match its schema"),
        (b'{"a":1', "is not JSON"),
    ],
)
def test_each_decode_failure_is_malformed_with_its_reason(document: bytes | str, reason: str) -> None:
    with pytest.raises(MalformedMessageError, match=reason):
        JsonDecoder(what="test body").decode(document)
