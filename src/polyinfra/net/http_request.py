"""What one HTTP request through the pipeline (:mod:`polyinfra.net.http_pipeline`) is given and gives back.

Its query parameters and headers (a :class:`~polyinfra.obs.redaction.Secret` header value stays masked until
the request is handed to the socket), the hooks that read a host's answers (:class:`AnswerErrors`,
:data:`ItemsAfter`, the reconcile hooks), the per-attempt :class:`Timeouts`, and the 2xx :class:`Response`,
whose body is left out of its ``repr`` (it carries the API secret when the request created or derived a key).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeAlias, TypeVar

import httpx

from polyinfra.errors import InvalidValueError, PolyinfraError
from polyinfra.net.retry import ReconcileVerdict
from polyinfra.obs.redaction import Secret
from polyinfra.wire.json_decoding import decode_json

__all__ = [
    "AnswerErrors",
    "AsyncReconcileHook",
    "HeaderValues",
    "ItemsAfter",
    "QueryParams",
    "Response",
    "SyncReconcileHook",
    "Timeouts",
]

_T = TypeVar("_T")

QueryParams: TypeAlias = Mapping[str, str | int | Sequence[str]]
"""Query parameters; a sequence value repeats the key (``ids=a&ids=b``)."""

HeaderValues: TypeAlias = Mapping[str, str | Secret]
"""Request headers; a :class:`~polyinfra.obs.redaction.Secret` value is revealed only as the request
is handed to the socket."""

AsyncReconcileHook: TypeAlias = Callable[[PolyinfraError], Awaitable[ReconcileVerdict]]
"""Asked, for a state-changing request whose fate is unknown, whether the venue applied it."""

SyncReconcileHook: TypeAlias = Callable[[PolyinfraError], ReconcileVerdict]
"""The sync facade's :data:`AsyncReconcileHook`."""


class AnswerErrors(Protocol):
    """Turns a host's non-2xx answer into the error a caller can act on: the host's table of error
    answers (:func:`~polyinfra.core.venue_errors.error_from_response` for the CLOB and its APIs)."""

    def __call__(
        self, status: int, body: bytes, *, method: str, endpoint: str, headers: Mapping[str, str] | None = None
    ) -> PolyinfraError: ...


ItemsAfter: TypeAlias = Callable[[bytes], int]
"""Reads from a 2xx answer's body how many items the venue charges after the fact (the orders a
``/cancel-all`` cancelled), on top of the request's ``items``."""


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts, each capped by what is left of the request's deadline.

    ``pool_s`` is the wait for a free pooled connection; ``read_s`` the longest silence while
    reading the answer.
    """

    connect_s: float = 5.0
    read_s: float = 10.0
    write_s: float = 10.0
    pool_s: float = 5.0

    def __post_init__(self) -> None:
        for name in ("connect_s", "read_s", "write_s", "pool_s"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise InvalidValueError("a timeout must be a positive number of seconds", field=name, value=value)

    def capped(self, remaining_s: float) -> httpx.Timeout:
        """These timeouts, none longer than ``remaining_s``."""
        return httpx.Timeout(
            connect=min(self.connect_s, remaining_s),
            read=min(self.read_s, remaining_s),
            write=min(self.write_s, remaining_s),
            pool=min(self.pool_s, remaining_s),
        )


@dataclass(frozen=True, slots=True)
class Response:
    """A 2xx answer. ``headers`` have lower-case names; ``attempts`` counts sends (1 without retries);
    ``rate_limit_wait_s`` and ``retry_wait_s`` are the time spent waiting for the rate limiter and
    sleeping between attempts."""

    status: int
    headers: Mapping[str, str]
    content: bytes = field(repr=False)
    method: str
    path: str
    endpoint: str
    attempts: int = 1
    rate_limit_wait_s: float = 0.0
    retry_wait_s: float = 0.0

    def decode(self, type_: type[_T]) -> _T:
        """The body as ``type_`` (a msgspec-compatible type); :class:`MalformedMessageError` if it
        does not match or is not bounded JSON (:mod:`polyinfra.wire.json_decoding`)."""
        return decode_json(
            self.content, type_, what=f"{self.method} {self.path} body", endpoint=self.path, status=self.status
        )
