"""The one table from the venue's error answers to polyinfra's error classes, sans-I/O.

:func:`error_from_response` turns an HTTP error answer of the CLOB (status, body, headers) into
the :mod:`polyinfra.errors` class a caller can act on. The venue's bodies come in three forms:

* JSON ``{"error": "<message>"}``, optionally with ``code`` and ``retry_after_seconds``
  (venue notes: Responses, Venue errors);
* plain text, e.g. the 425 ``service not ready`` of a matching-engine restart (venue notes: Failure modes);
* Cloudflare's HTML block page ("Attention Required! | Cloudflare", venue notes: Failure modes), not the venue at all.

:data:`VENUE_ERROR_RULES` decides the class: its rows are tried in order and the first that matches
the status, the endpoint and the message (case-insensitively) wins; an answer no row matches falls
back to its status class (404, other 4xx, 5xx). Every error carries ``endpoint``, ``method``,
``status`` and ``venue_message`` in its context, ``hint`` where the venue notes know the usual
cause, and ``retry_after_s`` when the venue said when to come back.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Final

from polyinfra.errors import (
    AmountPrecisionError,
    ApiError,
    CursorRejectedError,
    HttpClientError,
    HttpServerError,
    InsufficientBalanceError,
    InsufficientLiquidityError,
    InvalidOrderError,
    InvalidSignatureError,
    L1AuthError,
    L2AuthError,
    MalformedMessageError,
    MinimumSizeError,
    NotFoundError,
    OrderRejectedError,
    PolyinfraError,
    PriceRangeError,
    RateLimitedError,
    ServiceNotReadyError,
    TickSizeViolationError,
)
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["L1_ENDPOINTS", "VENUE_ERROR_RULES", "VENUE_MESSAGE_LIMIT", "VenueErrorRule", "error_from_response"]

VENUE_MESSAGE_LIMIT: Final = 300
"""Characters of the venue's message kept in an error; longer bodies are cut (an HTML page is not a message)."""

L1_ENDPOINTS: Final = frozenset({"/auth/api-key", "/auth/derive-api-key"})
"""Endpoints authenticated with L1 (private-key) headers; every other authenticated one uses L2."""

_SERVER_ERRORS: Final = frozenset(range(500, 600))


@dataclass(frozen=True, slots=True)
class VenueErrorRule:
    """One row of :data:`VENUE_ERROR_RULES`.

    A row matches an answer when ``pattern`` (a regular expression, searched case-insensitively in
    the venue's message and its ``code``) is found, the status is in ``statuses`` and the endpoint
    is in ``endpoints``. An empty pattern, ``statuses`` or ``endpoints`` matches anything.
    ``context`` is added to the error's context (e.g. the trading mode of a 503).
    """

    pattern: str
    error: type[PolyinfraError]
    hint: str | None = None
    statuses: frozenset[int] = frozenset()
    endpoints: frozenset[str] = frozenset()
    context: Mapping[str, str] = field(default_factory=dict)

    def matches(self, status: int, endpoint: str, text: str) -> bool:
        """Whether this row applies to an answer; ``text`` is the venue's message and code."""
        return (
            (not self.statuses or status in self.statuses)
            and (not self.endpoints or endpoint in self.endpoints)
            and (not self.pattern or re.search(self.pattern, text, re.IGNORECASE) is not None)
        )


# The hints are shown to users, so they name no document; what they rest on is in the venue notes
# (venue notes: Authentication, Orders, Venue errors, Failure modes, Rate limits).
_RATE_LIMIT_HINT: Final = (
    "over the venue's rate limit; wait Retry-After, then slow down (the limits are per IP, "
    "sliding 10 s windows, plus 10 min windows on trading endpoints)"
)
_RESTART_HINT: Final = (
    "the matching engine is restarting (~90 s, weekly); retry with backoff from 1-2 s, doubling, capped at 30 s"
)
_CLOUDFLARE_HINT: Final = (
    "Cloudflare blocked the request before it reached the venue: the IP may be geoblocked "
    "(check GET https://polymarket.com/api/geoblock) or a cloud/datacenter IP, or the User-Agent is generic; "
    "send a descriptive User-Agent and keep query strings small"
)
_POST_ONLY_HINT: Final = (
    "post-only mode after a matching-engine restart (2 minutes): only post-only orders and "
    "cancels are accepted until Retry-After"
)
_CANCEL_ONLY_HINT: Final = "the venue accepts cancels but no new orders; check polymarket.com for updates"
_TRADING_DISABLED_HINT: Final = "trading is disabled venue-wide; check polymarket.com for updates"
_API_KEY_NONCE_HINT: Final = (
    "an API key already exists for this address and nonce: derive it with "
    "GET /auth/derive-api-key and the same nonce, or create one with a new nonce"
)
_DERIVE_NONCE_HINT: Final = (
    "no API key exists for this address and nonce: use the nonce the key was created "
    "with, or create one with POST /auth/api-key"
)
_L1_AUTH_HINT: Final = (
    "L1 headers refused: POLY_ADDRESS must be the signing key's address, the EIP-712 "
    "ClobAuth signature over chain id, timestamp and nonce must match, and the clock must be close to GET /time"
)
_L2_AUTH_HINT: Final = (
    "L2 headers refused: check API key, secret and passphrase, POLY_ADDRESS (the EOA the key "
    "belongs to) and the clock (compare with GET /time); newly created keys can answer 401 for ~2 minutes"
)
_SIGNATURE_HINT: Final = (
    "the recovered signer does not match: check the signature type and funder (EOA: 0 with "
    "funder = EOA; email/Magic: 1 with the proxy as funder; browser wallet: 2 with the Safe as funder) and "
    "that neg-risk markets are signed for the neg-risk exchange"
)
_ORDER_VERSION_HINT: Final = (
    "the order is signed in the V1 format; since the CLOB V2 cutover (2026-04-28) orders must be V2"
)
_BALANCE_HINT: Final = (
    "the venue's balance/allowance cache may be stale after fills or transfers: refresh it "
    "with GET /balance-allowance/update, and check the allowances to the V2 exchange spenders"
)
_LIQUIDITY_HINT: Final = (
    "the book could not fill the order at its price: FOK needs the whole size at once; use FAK to take "
    "what there is, a smaller size, or a worse limit price"
)
_TICK_SIZE_HINT: Final = (
    "the market's tick size may have changed (tick_size_change); refresh it from GET /tick-size or /book "
    "instead of a cached value"
)
_MINIMUM_SIZE_HINT: Final = "the size is below the market's min_order_size (GET /book or /clob-markets)"
_AMOUNT_PRECISION_HINT: Final = (
    "maker/taker amounts have too many decimals for the price: shares at most 2 "
    "decimals, collateral at most the price's decimals + 2; market buys 2 and 4"
)
_PRICE_RANGE_HINT: Final = "the price must lie within [tick size, 1 - tick size] of the market"
_API_KEY_OWNER_HINT: Final = (
    "the order's owner must be the API key of the L2 credentials and its signer the address the key was created for"
)
_CURSOR_HINT: Final = (
    "the venue refused a paging cursor (expired, or its filters contradicted): restart the walk from the "
    "last row you hold, sending the same filters on every page"
)
_UNCERTAIN_EXECUTION_HINT: Final = (
    "the venue failed while executing; the order may or may not exist: reconcile with GET /data/orders and "
    "/data/trades before placing it again"
)

# Checked in order, first match wins: status-only rows (429, 425) come first because their bodies
# say nothing more; then Cloudflare's page, the 503 trading modes, and specific strings before the
# general 401 rows. Messages are the venue's (venue notes: Venue errors) with ids and numbers as wildcards.
VENUE_ERROR_RULES: Final[tuple[VenueErrorRule, ...]] = (
    VenueErrorRule("", RateLimitedError, _RATE_LIMIT_HINT, statuses=frozenset({HTTPStatus.TOO_MANY_REQUESTS})),
    VenueErrorRule("", ServiceNotReadyError, _RESTART_HINT, statuses=frozenset({HTTPStatus.TOO_EARLY})),
    VenueErrorRule("cloudflare", HttpClientError, _CLOUDFLARE_HINT, statuses=frozenset({HTTPStatus.FORBIDDEN})),
    # The Data API v2's and Gamma keyset's cursor refusals (venue notes: Data API, Gamma API).
    VenueErrorRule(
        "cursor",
        CursorRejectedError,
        _CURSOR_HINT,
        statuses=frozenset({HTTPStatus.BAD_REQUEST, HTTPStatus.UNPROCESSABLE_ENTITY}),
        context={"reason": "cursor_rejected"},
    ),
    VenueErrorRule(
        "post-only mode|post_only_mode",
        HttpServerError,
        _POST_ONLY_HINT,
        statuses=_SERVER_ERRORS,
        context={"mode": "post_only"},
    ),
    VenueErrorRule(
        "trading is currently cancel-only",
        HttpServerError,
        _CANCEL_ONLY_HINT,
        statuses=_SERVER_ERRORS,
        context={"mode": "cancel_only"},
    ),
    VenueErrorRule(
        "trading is currently disabled",
        HttpServerError,
        _TRADING_DISABLED_HINT,
        statuses=_SERVER_ERRORS,
        context={"mode": "trading_disabled"},
    ),
    VenueErrorRule("could not create api key", L1AuthError, _API_KEY_NONCE_HINT),
    VenueErrorRule("could not derive api key", L1AuthError, _DERIVE_NONCE_HINT),
    VenueErrorRule(
        "", L1AuthError, _L1_AUTH_HINT, statuses=frozenset({HTTPStatus.UNAUTHORIZED}), endpoints=L1_ENDPOINTS
    ),
    VenueErrorRule("", L2AuthError, _L2_AUTH_HINT, statuses=frozenset({HTTPStatus.UNAUTHORIZED})),
    VenueErrorRule("invalid signature", InvalidSignatureError, _SIGNATURE_HINT),
    VenueErrorRule("order_version_mismatch|invalid order version", OrderRejectedError, _ORDER_VERSION_HINT),
    VenueErrorRule("breaks minimum tick size rule", TickSizeViolationError, _TICK_SIZE_HINT),
    VenueErrorRule("lower than the minimum", MinimumSizeError, _MINIMUM_SIZE_HINT),
    VenueErrorRule("invalid amounts", AmountPrecisionError, _AMOUNT_PRECISION_HINT),
    # Not in the venue's error reference: the official clients' own range check (clob-client#191,
    # py-clob-client#120) words it so; kept in case a venue answer uses the same words.
    VenueErrorRule(r"price \(.*\), min: .* - max: ", PriceRangeError, _PRICE_RANGE_HINT),
    VenueErrorRule("not enough balance", InsufficientBalanceError, _BALANCE_HINT),
    VenueErrorRule(
        "has to be the owner of the api key|has to be the address of the api key",
        OrderRejectedError,
        _API_KEY_OWNER_HINT,
    ),
    VenueErrorRule(
        "could not run the execution|could not insert order",
        HttpServerError,
        _UNCERTAIN_EXECUTION_HINT,
        statuses=_SERVER_ERRORS,
    ),
    VenueErrorRule("invalid order payload", InvalidOrderError),
    VenueErrorRule(
        "fok orders are|no orders found to match with fak order|there are no matching orders",
        InsufficientLiquidityError,
        _LIQUIDITY_HINT,
    ),
    VenueErrorRule(
        "crosses the book|not yet ready to process new orders|closed only mode"
        "|address banned|is invalid\\. duplicated|invalid expiration|canceled in the ctf exchange contract"
        "|match delayed|rounding issues|discrepancy greater than allowed",
        OrderRejectedError,
    ),
)


def error_from_response(
    status: int,
    body: bytes,
    *,
    method: str,
    endpoint: str,
    headers: Mapping[str, str] | None = None,
    **extra_context: object,
) -> PolyinfraError:
    """The error for an HTTP error answer of the venue.

    ``endpoint`` is the request path (a query string is dropped: it is not part of the endpoint and
    may carry identifiers that do not belong in logs); ``headers`` are the answer's headers, looked
    up case-insensitively (``Retry-After``). ``extra_context`` is what the caller knows about the
    request (``token_id``, ``price``, ``wallet_id``, ... — never a secret); it is added to the
    error's context under what the answer itself says. Never raises: an unreadable body becomes
    its text.
    """
    path = endpoint.split("?", 1)[0]
    answer = _parse_body(body)
    searched = f"{answer.message}\n{answer.code}" if answer.code else answer.message
    rule = next((row for row in VENUE_ERROR_RULES if row.matches(status, path, searched)), None)
    context: dict[str, object] = {
        **extra_context,
        "endpoint": path,
        "method": method,
        "venue_message": answer.message,
        "venue_code": answer.code,
        "retry_after_s": _retry_after_s(headers, answer.retry_after_s),
    }
    error_class: type[PolyinfraError]
    if rule is None:
        error_class = _class_of_status(status)
    else:
        error_class = rule.error
        context["hint"] = rule.hint
        context.update(rule.context)
    summary = answer.message or _phrase(status)
    return error_class(f"{method} {path} answered {status}: {summary}", retriable=None, status=status, **context)


@dataclass(frozen=True, slots=True)
class _Answer:
    message: str
    code: str | None = None
    retry_after_s: float | None = None


_ERROR_BODY: Final[JsonDecoder[object]] = JsonDecoder(what="error body")
_TITLE: Final = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)


def _parse_body(body: bytes) -> _Answer:
    text = body.decode("utf-8", errors="replace").strip()
    if text.startswith("{"):
        try:
            decoded = _ERROR_BODY.decode(body)
        except MalformedMessageError:
            return _Answer(_truncated(text))
        if isinstance(decoded, dict) and isinstance(decoded.get("error"), str):
            code = decoded.get("code")
            return _Answer(
                _truncated(decoded["error"]),
                code=_truncated(code) if isinstance(code, str) else None,
                retry_after_s=_seconds(decoded.get("retry_after_seconds")),
            )
        return _Answer(_truncated(text))
    if text[:15].lower().startswith(("<!doctype html", "<html")):
        return _Answer(_html_summary(text))
    return _Answer(_truncated(text))


def _html_summary(page: str) -> str:
    # An HTML error page is not the venue speaking: Cloudflare's block page is the usual one.
    found = _TITLE.search(page)
    title = " ".join(html.unescape(found.group(1)).split()) if found else ""
    origin = "Cloudflare page" if "cloudflare" in page.lower() else "HTML page"
    return _truncated(f"{origin} {title!r}, not the venue's JSON" if title else f"{origin}, not the venue's JSON")


def _truncated(text: str) -> str:
    return text if len(text) <= VENUE_MESSAGE_LIMIT else text[: VENUE_MESSAGE_LIMIT - 1] + "…"


def _seconds(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    seconds = float(value)
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def _retry_after_s(headers: Mapping[str, str] | None, from_body: float | None) -> float | None:
    # The header wins over the body's retry_after_seconds (they agree on the venue). Only the
    # delta-seconds form is read: the venue sends seconds, and an HTTP date would need a clock.
    for name, value in (headers or {}).items():
        if name.lower() == "retry-after":
            try:
                return _seconds(float(value.strip()))
            except ValueError:
                break
    return from_body


def _class_of_status(status: int) -> type[ApiError]:
    if status == HTTPStatus.NOT_FOUND:
        return NotFoundError
    if 400 <= status < 500:
        return HttpClientError
    if 500 <= status < 600:
        return HttpServerError
    return ApiError


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "no message"
