"""The US exchange's reject texts: every sentence of the catalogue maps to its typed error, fix and retry."""

from __future__ import annotations

import pytest

from polyinfra.core.us_rejects import REJECT_TEXTS, US_REJECT_RULES, RejectRetry, reject_error, rule_for
from polyinfra.errors import (
    DuplicateClientOrderIdError,
    GrpcNotFoundError,
    InstrumentNotTradingError,
    InsufficientBalanceError,
    InvalidOrderError,
    LatencyStopgapError,
    MinimumSizeError,
    OrderRejectedError,
    PriceRangeError,
    RateLimitedError,
    RiskCheckError,
    SelfMatchPreventionError,
    TickSizeViolationError,
    UnknownOrderError,
)

# The venue's own examples, verbatim, and each of the catalogue's formats filled in.
EXPECTED = [
    ("Low price limit is 0.5, given 0.49", PriceRangeError, RejectRetry.AFTER_FIX),
    ("High price limit is 0.99, given 0.995", PriceRangeError, RejectRetry.AFTER_FIX),
    ("Minimum trade quantity is 100, given 99", MinimumSizeError, RejectRetry.AFTER_FIX),
    ("1000 USD available, requested 1000.098", InsufficientBalanceError, RejectRetry.AFTER_FIX),
    ("Self Match Prevention", SelfMatchPreventionError, RejectRetry.AFTER_FIX),
    ("ClOrdID already in use by an open order", DuplicateClientOrderIdError, RejectRetry.NEVER),
    ("Book is CLOSED", InstrumentNotTradingError, RejectRetry.WHEN_OPEN),
    ("Book is SUSPENDED", InstrumentNotTradingError, RejectRetry.WHEN_OPEN),
    ("Book is HALTED", InstrumentNotTradingError, RejectRetry.WHEN_OPEN),
    (
        "failed risk check: rpc error: code = FailedPrecondition desc = position limit",
        RiskCheckError,
        RejectRetry.AFTER_FIX,
    ),
    ("Unknown order", UnknownOrderError, RejectRetry.NEVER),
    ("Price increment doesn't match tick size", TickSizeViolationError, RejectRetry.AFTER_FIX),
    ("Global Rate Limit Exceeded", LatencyStopgapError, RejectRetry.AT_ONCE),
    ("instrument does not exist", GrpcNotFoundError, RejectRetry.NEVER),
    ("Order type not supported", InvalidOrderError, RejectRetry.AFTER_FIX),
]


@pytest.mark.parametrize(("text", "error", "retry"), EXPECTED)
def test_every_reject_text_maps_to_its_class(text: str, error: type[Exception], retry: RejectRetry) -> None:
    found = reject_error(text, reason="EXCHANGE_OPTION", symbol="aec-x", clord_id="c-1")
    assert type(found) is error
    assert found.context["venue_message"] == text
    assert found.context["retry"] == retry.value
    assert found.context["hint"]
    assert found.context["clord_id"] == "c-1"


def test_every_format_of_the_catalogue_is_read_by_its_rule() -> None:
    filled = {
        name: text.format(
            limit="0.5", given="0.49", minimum=100, available=10, requested=20, state="HALTED", detail="x"
        )
        for name, text in REJECT_TEXTS.items()
    }
    for name, text in filled.items():
        assert rule_for(text) is not None, name
    classes = {type(reject_error(text)) for text in filled.values()}
    # Each rule is reachable by some catalogue text.
    assert {rule.error for rule in US_REJECT_RULES} <= classes


def test_global_rate_limit_is_a_latency_stopgap_not_a_rate_limit() -> None:
    found = reject_error("Global Rate Limit Exceeded")
    assert isinstance(found, LatencyStopgapError)
    assert not isinstance(found, RateLimitedError)
    assert found.retriable


def test_an_unknown_text_keeps_the_sentence_and_a_hostile_one_is_cut() -> None:
    found = reject_error("something new the venue says")
    assert type(found) is OrderRejectedError
    assert found.context["venue_message"] == "something new the venue says"
    assert not found.retriable
    long = reject_error("Book is HALTED" + "x" * 100_000)
    assert isinstance(long, InstrumentNotTradingError)
    assert len(str(long.context["venue_message"])) <= 300
