"""The one error tree of polyinfra.

Every failure a caller can see is a :class:`PolyinfraError`. Branches say *where* it failed
(venue protocol, a value, book sync, transport, HTTP status). Each error carries a ``context``
mapping (endpoint, status, token id, price, venue message, ...) and a ``retriable`` flag, so a
caller can decide what to do without parsing message text. Context never holds secrets: callers
pass identifiers and values, never keys, passphrases or signatures, and the text of every error
goes through :func:`polyinfra.obs.redaction.redact` as well.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import ClassVar

__all__ = [
    "AmountPrecisionError",
    "ApiError",
    "AssertionAudienceError",
    "AssertionExpiredError",
    "AssertionKeyError",
    "AssertionRefusedError",
    "AssertionReplayedError",
    "AuthError",
    "BookHashMismatchError",
    "CircuitOpenError",
    "CorruptRecordError",
    "CursorRejectedError",
    "DuplicateClientOrderIdError",
    "ExportError",
    "FencedOffError",
    "GrpcAuthError",
    "GrpcNotFoundError",
    "GrpcStatusError",
    "GrpcUnavailableError",
    "HttpClientError",
    "HttpServerError",
    "InstrumentNotTradingError",
    "InsufficientBalanceError",
    "InsufficientLiquidityError",
    "InvalidNumberError",
    "InvalidOrderError",
    "InvalidSignatureError",
    "InvalidTickSizeError",
    "InvalidValueError",
    "JwtAuthError",
    "L1AuthError",
    "L2AuthError",
    "LatencyStopgapError",
    "LeaseError",
    "LedgerError",
    "LiveDataAuthError",
    "MalformedMessageError",
    "MinimumSizeError",
    "MissingExtraError",
    "MissingScopeError",
    "NotFoundError",
    "OrderOutcomeUnknownError",
    "OrderRejectedError",
    "PaginationError",
    "PolicyViolationError",
    "PolyinfraError",
    "PriceRangeError",
    "ProtoBundleError",
    "ProtoBundleHashError",
    "ProtoMismatchError",
    "ProtocolError",
    "RateLimitedError",
    "RecorderError",
    "RequestTimeoutError",
    "ResyncRequiredError",
    "RetiredTopicError",
    "RiskCheckError",
    "SelfMatchPreventionError",
    "ServiceNotReadyError",
    "SigningError",
    "SinkUrlError",
    "SinkWriteError",
    "StaleDataError",
    "StreamBudgetExceededError",
    "StreamClosedError",
    "TickSizeViolationError",
    "TransportError",
    "UnknownOrderError",
    "UnknownWalletError",
    "WrongContextError",
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
        # Imported here: redaction raises InvalidValueError, so a module-level import would be circular.
        from polyinfra.obs.redaction import redact  # noqa: PLC0415

        if not self.context:
            return redact(self.message)
        details = ", ".join(f"{key}={_shown(value)}" for key, value in self.context.items())
        # Context holds identifiers and values by convention, never secrets; redacting the text
        # too means a caller's mistake still cannot print one.
        return redact(f"{self.message} ({details})")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self)!r}, retriable={self.retriable})"


_SHOWN_CHARS = 200


def _shown(value: object) -> str:
    """A context value's repr, cut short: a hostile value (a 20,000-character string, an int past
    Python's 4,300-digit ``str`` limit) must neither make the error's own text fail nor flood a log."""
    try:
        text = repr(value)
    except ValueError:
        return f"<{type(value).__name__} too large to show>"
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "..."


# --- bad values ------------------------------------------------------------------------------------


class InvalidValueError(PolyinfraError, ValueError):
    """A value (from a caller or from the venue) is not acceptable where it was given."""


class InvalidNumberError(InvalidValueError):
    """A price, size or amount is not an exact non-negative decimal of the allowed precision."""


class InvalidTickSizeError(InvalidValueError):
    """A tick size is not one the venue uses."""


class InvalidOrderError(InvalidValueError):
    """An order the venue would refuse, caught before sending or reported by the venue
    (``venue_message`` in the context then). Subclasses say which rule it breaks."""


class TickSizeViolationError(InvalidOrderError):
    """The price is not a whole number of the market's ticks ("breaks minimum tick size rule")."""


class MinimumSizeError(InvalidOrderError):
    """The size is below the market's minimum order size ("lower than the minimum")."""


class PriceRangeError(InvalidOrderError):
    """The price is outside [tick, 1 - tick]."""


class AmountPrecisionError(InvalidOrderError):
    """Maker or taker amount has more decimals than the venue accepts ("invalid amounts")."""


class RetiredTopicError(InvalidValueError):
    """A live-data topic the venue no longer serves (RTDS ``clob_market`` / ``clob_user``, the RTDS
    price topics after their cut-over date); the message names what replaces it."""


class ProtoBundleError(InvalidValueError):
    """A proto bundle (zip or folder) polyinfra will not use: unreadable, unsafe (a path leaving the bundle,
    a zip bomb), without the venue's files, or refused by the compiler."""


class ProtoBundleHashError(ProtoBundleError):
    """The bundle is not the one expected: ``expected_sha256`` and ``actual_sha256`` say both; pass the actual
    one as the expected hash to trust a newer bundle."""


# --- the venue's protocol ------------------------------------------------------------------------------


class ProtocolError(PolyinfraError):
    """The venue sent something that does not follow its protocol."""


class MalformedMessageError(ProtocolError):
    """A frame or body could not be decoded into the venue's schema."""


class ProtoMismatchError(MalformedMessageError):
    """The venue's protos (a bundle, or a server's reflection) lack a message or method polyinfra needs, under
    its documented name."""


class PaginationError(ProtocolError):
    """A paged walk cannot prove it saw every row, so it stops instead of answering short: an offset
    past the route's ceiling with rows still coming, a page that repeats an earlier one (the Data
    API's v1 offset trap), a cursor the venue refused. ``reason`` names which; ``endpoint`` and
    ``offset`` (or ``cursor_age``) say where."""


class CursorRejectedError(PaginationError):
    """The venue refused a v2 cursor (expired, tampered with, or contradicted by the filters sent
    with it): the walk must restart from its last proven point."""


class PolicyViolationError(ProtocolError):
    """PolyBolt closed the socket for a policy violation (close code 4008): the transport stops
    rather than reconnect into the same refusal."""


# --- getting there -------------------------------------------------------------------------------


class TransportError(PolyinfraError):
    """The connection to the venue failed (connect, reset, TLS). The request may not have arrived."""

    retriable_by_default = True


class RequestTimeoutError(TransportError):
    """No complete answer in time. For a request that changes state, the venue may still have
    processed it: reconcile before retrying."""


class StreamClosedError(TransportError):
    """A WebSocket or gRPC stream ended."""


class GrpcUnavailableError(TransportError):
    """The US exchange's gRPC endpoint cannot be reached or dropped the call (status UNAVAILABLE); reconnect
    with backoff."""


# --- the venue's answers ------------------------------------------------------------------------------


class ApiError(PolyinfraError):
    """The venue answered with an HTTP error status; ``status`` and ``venue_message`` say which."""

    def __init__(self, message: str, *, status: int, retriable: bool | None = None, **context: object) -> None:
        super().__init__(message, retriable=retriable, status=status, **context)
        self.status = status


class HttpClientError(ApiError):
    """A 4xx answer: the request itself was refused. Not retriable as it stands."""


class NotFoundError(HttpClientError):
    """404: no such token, market, order or route."""


class ServiceNotReadyError(HttpClientError):
    """425 Too Early: the matching engine is restarting (venue notes: Failure modes); retry with backoff."""

    retriable_by_default = True


class HttpServerError(ApiError):
    """A 5xx answer. Retriable, but a request that changes state may have been applied."""

    retriable_by_default = True


class GrpcStatusError(PolyinfraError):
    """The US exchange answered a gRPC call with an error status: ``code`` (``"INVALID_ARGUMENT"``, ...),
    ``method`` and ``venue_message`` say which."""


class GrpcNotFoundError(GrpcStatusError):
    """NOT_FOUND: no such instrument, order or resource."""


class AuthError(PolyinfraError):
    """Authentication failed, locally (bad credentials) or at the venue (``status`` 401/403)."""


class L1AuthError(AuthError):
    """Private-key (EIP-712 ClobAuth) authentication failed."""


class L2AuthError(AuthError):
    """API-key (HMAC) authentication failed: wrong key, secret, passphrase or stale timestamp."""


class JwtAuthError(AuthError):
    """Private-Key-JWT authentication (Polymarket US) failed."""


class AssertionRefusedError(JwtAuthError):
    """The US token endpoint refused the client assertion (OAuth ``invalid_client`` and kin);
    ``oauth_error`` and ``venue_message`` say what it answered, ``hint`` how to fix it."""


class AssertionAudienceError(AssertionRefusedError):
    """The assertion's ``aud`` is not what the token endpoint expects: it is the token URL, not the
    API URL (venue notes: US exchange token endpoint)."""


class AssertionKeyError(AssertionRefusedError):
    """The assertion's signature does not verify against the public key registered for the client
    id, or the client id is unknown: wrong private key file, or the key of another environment."""


class AssertionReplayedError(AssertionRefusedError):
    """The assertion's ``jti`` was used before; every token request needs a fresh one."""


class AssertionExpiredError(AssertionRefusedError):
    """The assertion's ``exp`` has passed or lies more than 5 minutes after its ``iat``: check the
    machine's clock."""


class MissingScopeError(JwtAuthError):
    """The access token lacks the scope a call needs (``PERMISSION_DENIED`` / 403); ``scope`` names it."""


class GrpcAuthError(AuthError):
    """The US exchange refused a gRPC call's credentials: UNAUTHENTICATED (no token or an expired one: mint a
    fresh token) or PERMISSION_DENIED (a scope the client lacks, or another firm's data); ``code`` says which."""


class LiveDataAuthError(AuthError):
    """PolyBolt refused the CLOB API credentials (an ``auth_*`` error code, or close code 4001);
    ``code`` says which. The transport stops: the same credentials would be refused again."""


class SigningError(PolyinfraError):
    """An order or message could not be signed."""


class InvalidSignatureError(SigningError):
    """The venue (or a local check) finds the signature does not match the order's signer:
    usually signature type, funder or exchange (neg-risk) is wrong (venue notes: Wallets)."""


class OrderRejectedError(PolyinfraError):
    """The venue refused an order for a reason other than its form (crosses the book, FOK not
    filled, market not ready, closed-only mode, ...). ``venue_message`` says which."""


class InsufficientBalanceError(OrderRejectedError):
    """Not enough balance or allowance for the order: the venue's "not enough balance / allowance"
    (venue notes: Venue errors, Failure modes), or the local check against a known balance before sending."""


class InstrumentNotTradingError(OrderRejectedError):
    """The instrument's state takes no orders (the US exchange's "Book is HALTED", or the local check of the
    instrument's state before sending); ``state`` names it. Retry once the instrument is open again."""


class LatencyStopgapError(OrderRejectedError):
    """The US exchange's "Global Rate Limit Exceeded": a short stop-gap on new orders and replaces while its
    latency is high, not a rate limit (cancels are never refused by it). Retriable at once, without backoff."""

    retriable_by_default = True


class DuplicateClientOrderIdError(OrderRejectedError):
    """The client order id is already used by an open order (``clord_id`` says which)."""


class SelfMatchPreventionError(OrderRejectedError):
    """The order would have traded with the same firm's resting order."""


class RiskCheckError(OrderRejectedError):
    """The exchange's pre-trade risk check refused the order; ``venue_message`` holds its detail."""


class UnknownOrderError(OrderRejectedError):
    """A cancel or replace named an order the exchange does not know as open."""


class OrderOutcomeUnknownError(OrderRejectedError):
    """An order was sent but neither its answer nor any later lookup (open orders, the order stream) shows
    what became of it; ``clord_id`` names it. Look it up before placing it again: a blind retry may duplicate it."""


class InsufficientLiquidityError(OrderRejectedError):
    """The book cannot fill a fill-or-kill order (or has nothing to match a FAK order): the venue's
    "FOK orders are fully filled or killed" / "no orders found to match with FAK order", or the local
    market-price discovery finding too little on the opposite side."""


# --- policy -----------------------------------------------------------------------------------------


class RateLimitedError(PolyinfraError):
    """Over a rate limit: the venue answered 429 (``status`` set) or the local limiter could not
    fit the request within its deadline. ``retry_after_s`` says when to try again."""

    retriable_by_default = True


class CircuitOpenError(PolyinfraError):
    """Calls to an endpoint group fail fast while its circuit breaker is open; ``retry_after_s``
    says when it lets a probe through."""


class StreamBudgetExceededError(PolyinfraError):
    """A plan needs more concurrent gRPC streams than the budget allows (the US exchange pools 20 per
    firm); refused before any stream is opened. ``streams`` and ``budget`` say by how much."""


# --- local state -----------------------------------------------------------------------------------


class ResyncRequiredError(PolyinfraError):
    """Local state no longer provably matches the venue; a fresh snapshot is needed."""

    retriable_by_default = True


class BookHashMismatchError(ResyncRequiredError):
    """A ``book`` message's hash does not match its content."""


class StaleDataError(PolyinfraError):
    """Data is older than the caller accepts (a silent stream, a frozen book)."""

    retriable_by_default = True


# --- using the client -------------------------------------------------------------------------------


class UnknownWalletError(InvalidValueError):
    """A trading call named a wallet the client does not have; ``known`` lists the ones it has."""


class WrongContextError(PolyinfraError):
    """A call made where it cannot work: a blocking client method called from inside a running
    event loop (it would freeze that loop), or a client used after it was closed."""


class LedgerError(InvalidValueError):
    """A wallet's activity that no ledger can follow: selling, merging or redeeming more of an outcome
    than the wallet holds (the venue allows no shorts), a conversion with legs that do not add up, or a
    row naming an outcome the market map cannot place. ``context`` names the row (wallet, kind,
    transaction hash, condition, outcome) and the amounts involved."""


class MissingExtraError(PolyinfraError):
    """A feature needs an optional dependency that is not installed; the message names the extra
    (``pip install 'polyinfra[plot]'``)."""


# --- recorder ----------------------------------------------------------------------------------------


class RecorderError(PolyinfraError):
    """The recorder or one of its sinks failed: a store that cannot be opened or written, or a
    recording that cannot be read back."""


class SinkUrlError(RecorderError, InvalidValueError):
    """A sink URL polyinfra cannot open (unknown scheme, missing path)."""


class SinkWriteError(RecorderError):
    """A batch could not be made durable; the recorder keeps it and tries again."""

    retriable_by_default = True


class CorruptRecordError(RecorderError):
    """A stored record cannot be read back (a wrong type, a truncated or undecodable payload)."""


class ExportError(RecorderError):
    """A recording cannot be exported: the output directory is unusable, or pyarrow is missing."""


class FencedOffError(SinkWriteError):
    """A fleet recorder's write refused by the store: another process took over its shard's lease
    (its fencing number is no longer the shard's newest), so nothing of the write was stored."""

    retriable_by_default = False


class LeaseError(RecorderError):
    """A fleet's lease bucket could not be read or updated (the server failed, or a lease in it
    does not decode)."""

    retriable_by_default = True
