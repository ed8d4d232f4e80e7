"""Hostile input, by class: the strategies every fuzz test here draws from.

Each class is one way bytes from a socket or a user have broken a parser before: nesting deep
enough to exhaust the recursion limit, numbers past Python's 4,300-digit ``int`` limit, exponents
that make ``Decimal`` arithmetic run for minutes, values of the wrong JSON type, and bytes that are
not UTF-8. :func:`poisoned` plants one of them at a random place inside a valid document, which is
how the poison reaches code past the first decode.
"""

from __future__ import annotations

from typing import Any

import msgspec
from hypothesis import strategies as st

from polyinfra.emulator.poison import places, replaced

DEPTH_LIMIT_PROBE = 100_000
"""Deeper than any recursion limit, C or Python."""


def deep_nesting() -> st.SearchStrategy[bytes]:
    """Unclosed or closed arrays / objects nested far past any recursion limit."""
    depth = st.integers(min_value=500, max_value=DEPTH_LIMIT_PROBE)
    return st.one_of(
        depth.map(lambda n: b"[" * n),
        depth.map(lambda n: b"[" * n + b"]" * n),
        depth.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    )


def huge_digit_strings() -> st.SearchStrategy[str]:
    """Integers and decimals with thousands of digits (Python's ``int()`` stops at 4,300)."""
    digits = st.integers(min_value=4_000, max_value=20_000)
    return st.one_of(
        digits.map(lambda n: "1" * n),
        digits.map(lambda n: "0." + "1" * n),
        digits.map(lambda n: "9" * n + ".5"),
    )


def huge_exponents() -> st.SearchStrategy[str]:
    """Numbers whose exponent makes exact arithmetic explode or underflow."""
    exponent = st.integers(min_value=60, max_value=999_999)
    return st.one_of(
        exponent.map(lambda e: f"1e{e}"),
        exponent.map(lambda e: f"1E+{e}"),
        exponent.map(lambda e: f"1e-{e}"),
        exponent.map(lambda e: f"-9.99e{e}"),
        st.sampled_from(["NaN", "Infinity", "-Infinity", "-0", "1e-7", "0e999999"]),
    )


def hostile_numbers() -> st.SearchStrategy[str]:
    """Every hostile number class, as text."""
    return st.one_of(huge_digit_strings(), huge_exponents())


def wrong_json_values() -> st.SearchStrategy[Any]:
    """A JSON value of any type, to stand where the schema wants another."""
    leaves = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(min_value=-(10**30), max_value=10**30),
        st.floats(allow_nan=False, allow_infinity=False),
        st.text(max_size=20),
    )
    return st.recursive(
        leaves,
        lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)),
        max_leaves=6,
    )


def invalid_utf8() -> st.SearchStrategy[bytes]:
    """Byte strings that are not valid UTF-8 (a lone continuation byte, a truncated sequence, ...)."""
    bad = st.sampled_from([b"\xff", b"\xfe", b"\x80", b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80"])
    return st.tuples(st.binary(max_size=16), bad, st.binary(max_size=16)).map(b"".join)


def hostile_leaf() -> st.SearchStrategy[Any]:
    """A value to plant inside a document: a hostile number (as a string and as a bare JSON number),
    a wrong-typed value, or a deeply nested array."""
    return st.one_of(
        hostile_numbers(),
        hostile_numbers().map(msgspec.Raw),
        wrong_json_values(),
        st.integers(min_value=500, max_value=5_000).map(lambda n: msgspec.Raw(b"[" * n + b"]" * n)),
    )


@st.composite
def poisoned(draw: st.DrawFn, document: Any) -> bytes:
    """``document`` (decoded JSON) encoded with one hostile value planted at one random place."""
    path, _ = draw(st.sampled_from(places(document)))
    return msgspec.json.encode(replaced(document, path, draw(hostile_leaf())))


def hostile_bytes(*valid: Any) -> st.SearchStrategy[bytes]:
    """Every class at once: raw hostile bytes, random bytes, and each valid document poisoned."""
    strategies: list[st.SearchStrategy[bytes]] = [
        deep_nesting(),
        invalid_utf8(),
        st.binary(max_size=256),
        hostile_numbers().map(str.encode),
    ]
    strategies.extend(poisoned(document) for document in valid)
    return st.one_of(strategies)
