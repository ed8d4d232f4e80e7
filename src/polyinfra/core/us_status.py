"""The one table from the US exchange's gRPC status codes to polyinfra's error classes, sans-I/O.

The venue answers a refused gRPC call with a status code and a message
(venue notes: US exchange connections). :data:`US_STATUS_RULES` says, per code, which
:mod:`polyinfra.errors` class a caller gets, whether a retry can help and, where the usual cause is
known, a hint with the fix. Codes are the names gRPC gives them (``"NOT_FOUND"``), so this module
needs no gRPC import; ``net/grpc_channel.py`` looks calls' failures up here. A code missing from the
table (none today; a future runtime may add one) is a plain, retriable :class:`GrpcStatusError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from polyinfra.errors import (
    GrpcAuthError,
    GrpcNotFoundError,
    GrpcStatusError,
    GrpcUnavailableError,
    PolyinfraError,
    RateLimitedError,
    RequestTimeoutError,
    StreamClosedError,
)

__all__ = ["US_STATUS_RULES", "StatusRule", "error_from_status"]

MAX_VENUE_MESSAGE_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class StatusRule:
    error: type[PolyinfraError]
    retriable: bool
    hint: str | None = None


US_STATUS_RULES: Final[Mapping[str, StatusRule]] = MappingProxyType(
    {
        "INVALID_ARGUMENT": StatusRule(GrpcStatusError, retriable=False),
        "OUT_OF_RANGE": StatusRule(GrpcStatusError, retriable=False),
        "FAILED_PRECONDITION": StatusRule(GrpcStatusError, retriable=False),
        "ALREADY_EXISTS": StatusRule(GrpcStatusError, retriable=False),
        "NOT_FOUND": StatusRule(GrpcNotFoundError, retriable=False),
        "UNIMPLEMENTED": StatusRule(
            GrpcStatusError,
            retriable=False,
            hint="the server has no such method: compare its protos with ours (polyinfra us protos diff)",
        ),
        "UNAUTHENTICATED": StatusRule(GrpcAuthError, retriable=True, hint="mint a fresh access token and retry"),
        "PERMISSION_DENIED": StatusRule(
            GrpcAuthError, retriable=False, hint="the credentials lack the scope this call needs"
        ),
        "RESOURCE_EXHAUSTED": StatusRule(
            RateLimitedError,
            retriable=True,
            hint="over a limit: 20 concurrent streams per firm, 100 messages/s per firm, or message size",
        ),
        "UNAVAILABLE": StatusRule(GrpcUnavailableError, retriable=True, hint="reconnect with backoff"),
        "DEADLINE_EXCEEDED": StatusRule(RequestTimeoutError, retriable=True),
        "CANCELLED": StatusRule(StreamClosedError, retriable=True),
        "ABORTED": StatusRule(GrpcStatusError, retriable=True),
        "INTERNAL": StatusRule(GrpcStatusError, retriable=True),
        "UNKNOWN": StatusRule(GrpcStatusError, retriable=True),
        "DATA_LOSS": StatusRule(GrpcStatusError, retriable=True),
    }
)

_FALLBACK: Final = StatusRule(GrpcStatusError, retriable=True)


def error_from_status(code: str, venue_message: str, *, method: str) -> PolyinfraError:
    """The typed error for a call to ``method`` that ended with status ``code`` and ``venue_message``."""
    rule = US_STATUS_RULES.get(code, _FALLBACK)
    shown = venue_message[:MAX_VENUE_MESSAGE_CHARS]
    return rule.error(
        f"{method} failed: {code}: {shown}" if shown else f"{method} failed: {code}",
        retriable=rule.retriable,
        code=code,
        method=method,
        venue_message=shown or None,
        hint=rule.hint,
    )
