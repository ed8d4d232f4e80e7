"""The one error tree of polyinfra.

Every failure a caller can see is a :class:`PolyinfraError`. Branches say *where* it failed
(venue protocol, a value, book sync, transport, HTTP status). Each error carries a ``context``
mapping (endpoint, status, token id, price, venue message, ...) and a ``retriable`` flag, so a
caller can decide what to do without parsing message text. Context never holds secrets: callers
pass identifiers and values, never keys, passphrases or signatures.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

__all__ = [
    "ApiError",
    "BookHashMismatchError",
    "InvalidNumberError",
    "InvalidTickSizeError",
    "InvalidValueError",
    "MalformedMessageError",
    "PolyinfraError",
    "ProtocolError",
    "ResyncRequiredError",
    "TransportError",
]


class PolyinfraError(Exception):
    """Root of every error polyinfra raises."""

    retriable_by_default: ClassVar[bool] = False

    def __init__(self, message: str, *, retriable: bool | None = None, **context: object) -> None:
        super().__init__(message)
        self.message = message
        self.retriable = self.retriable_by_default if retriable is None else retriable
        self.context: Mapping[str, object] = MappingProxyType(
            {key: value for key, value in context.items() if value is not None}
        )

    def __str__(self) -> str:
        if not self.context:
            return self.message
        details = ", ".join(f"{key}={value!r}" for key, value in self.context.items())
        return f"{self.message} ({details})"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, retriable={self.retriable})"


class InvalidValueError(PolyinfraError, ValueError):
    """A value (from a caller or from the venue) is not acceptable where it was given."""


class InvalidNumberError(InvalidValueError):
    """A price, size or amount is not an exact non-negative decimal of the allowed precision."""


class InvalidTickSizeError(InvalidValueError):
    """A tick size is not one the venue uses."""


class ProtocolError(PolyinfraError):
    """The venue sent something that does not follow its protocol."""


class MalformedMessageError(ProtocolError):
    """A frame or body could not be decoded into the venue's schema."""


class ResyncRequiredError(PolyinfraError):
    """Local state no longer provably matches the venue; a fresh snapshot is needed."""

    retriable_by_default = True


class BookHashMismatchError(ResyncRequiredError):
    """A ``book`` message's hash does not match its content."""


class TransportError(PolyinfraError):
    """The connection to the venue failed (connect, reset, timeout)."""

    retriable_by_default = True


class ApiError(PolyinfraError):
    """The venue answered with an HTTP error status.

    5xx, 425 (matching-engine restart) and 429 (rate limited) are retriable; other 4xx are not.
    """

    def __init__(self, message: str, *, status: int, retriable: bool | None = None, **context: object) -> None:
        if retriable is None:
            retriable = status >= 500 or status in (425, 429)
        super().__init__(message, retriable=retriable, status=status, **context)
        self.status = status
