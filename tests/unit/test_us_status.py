"""The US exchange's gRPC status codes become typed errors carrying the venue's words and the fix."""

from __future__ import annotations

import grpc
import pytest

from polyinfra.core.us_status import US_STATUS_RULES, error_from_status
from polyinfra.errors import (
    AuthError,
    GrpcAuthError,
    GrpcNotFoundError,
    GrpcStatusError,
    GrpcUnavailableError,
    RateLimitedError,
    RequestTimeoutError,
    TransportError,
)


def test_every_grpc_status_but_ok_has_a_rule() -> None:
    assert set(US_STATUS_RULES) == {code.name for code in grpc.StatusCode} - {"OK"}


@pytest.mark.parametrize(
    ("code", "error", "retriable"),
    [
        ("NOT_FOUND", GrpcNotFoundError, False),
        ("INVALID_ARGUMENT", GrpcStatusError, False),
        ("UNAUTHENTICATED", GrpcAuthError, True),
        ("PERMISSION_DENIED", GrpcAuthError, False),
        ("RESOURCE_EXHAUSTED", RateLimitedError, True),
        ("UNAVAILABLE", GrpcUnavailableError, True),
        ("DEADLINE_EXCEEDED", RequestTimeoutError, True),
        ("INTERNAL", GrpcStatusError, True),
    ],
)
def test_the_table_decides_class_and_retriability(code: str, error: type[Exception], retriable: bool) -> None:
    raised = error_from_status(code, "instrument does not exist", method="RefDataAPI/ListInstruments")
    assert type(raised) is error
    assert raised.retriable is retriable
    assert raised.context["code"] == code
    assert raised.context["venue_message"] == "instrument does not exist"
    assert "RefDataAPI/ListInstruments failed" in str(raised)


def test_families_let_callers_catch_broadly() -> None:
    assert isinstance(error_from_status("UNAUTHENTICATED", "", method="m"), AuthError)
    assert isinstance(error_from_status("UNAVAILABLE", "", method="m"), TransportError)
    assert "hint" in error_from_status("PERMISSION_DENIED", "missing scope", method="m").context


def test_a_huge_venue_message_is_cut_and_an_unknown_code_is_retriable() -> None:
    raised = error_from_status("SOMETHING_NEW", "x" * 10_000, method="m")
    assert type(raised) is GrpcStatusError and raised.retriable
    assert len(str(raised)) < 1000
