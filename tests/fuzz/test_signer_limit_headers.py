"""Hostile ``Poly-RateLimit-*`` headers: whatever the venue (or anything between it and us) sends in them,
reading them gives a value or None, and the hold they imply is None or a finite time, never an exception
that would fail the request and leave its rate-limit ticket unsettled."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.net.signer_limit_headers import SignerLimitHeaders
from tests.fuzz.hostile import hostile_numbers

HEADER_NAMES = (
    "poly-ratelimit-tier",
    "poly-ratelimit-remaining",
    "poly-ratelimit-reset",
    "poly-ratelimit-warning",
    "retry-after",
)

# Integers around and far past what a float holds, as the venue would write them, and any other text.
header_values = st.one_of(
    st.integers(min_value=-(10**400), max_value=10**400).map(str),
    st.integers(min_value=-(2**64), max_value=2**64).map(lambda n: f" {n} "),
    hostile_numbers(),
    st.text(max_size=40),
)


@given(
    headers=st.dictionaries(st.sampled_from(HEADER_NAMES), header_values),
    status=st.sampled_from([200, 400, 425, 429, 500]),
    now_unix=st.floats(min_value=0, max_value=4e9),
)
def test_any_signer_headers_give_a_reading_and_a_finite_hold_or_none(
    headers: dict[str, str], status: int, now_unix: float
) -> None:
    limits = SignerLimitHeaders.from_headers(headers)
    # Retry-After alone is any 429's, not the signer bucket's.
    assert (limits is None) == (not any(name.startswith("poly-ratelimit-") for name in headers))
    if limits is None:
        return
    hold_until = limits.hold_until(status, now_unix)
    assert hold_until is None or math.isfinite(hold_until)


def test_a_reset_too_large_for_a_float_is_unreadable() -> None:
    limits = SignerLimitHeaders.from_headers({"poly-ratelimit-reset": "9" * 400, "poly-ratelimit-remaining": "0"})
    assert limits is not None
    assert limits.reset_at is None
    assert limits.hold_until(200, 1_000.0) is None
