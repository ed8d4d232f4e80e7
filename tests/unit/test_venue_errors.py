"""The venue's error answers map to the right error classes, with context and hints, through the one
table of :mod:`polyinfra.core.venue_errors`. Messages are the venue's exact strings
(venue notes: Venue errors; ids and numbers filled in as the venue does)."""

from __future__ import annotations

import json

import pytest

from polyinfra.core.venue_errors import VENUE_ERROR_RULES, VENUE_MESSAGE_LIMIT, error_from_response
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
    MinimumSizeError,
    NotFoundError,
    OrderRejectedError,
    PolyinfraError,
    PriceRangeError,
    RateLimitedError,
    ServiceNotReadyError,
    TickSizeViolationError,
)

ORDER_ID = "0x7d1e5c0d5ae5dbf1e9d1b0a1c8f4ab6f2d7b0e3c4a5968776655443322110099"
ADDRESS = "0x2c1F9fE6D4bF6a2e2D8d0f3E4B5a6C7d8E9f0A1b"
CLOUDFLARE_PAGE = b"""<!DOCTYPE html>
<!--[if lt IE 7]> <html class="no-js ie6 oldie" lang="en-US"> <![endif]-->
<html class="no-js" lang="en-US">
<head>
<title>Attention Required! | Cloudflare</title>
<meta charset="UTF-8" />
</head>
<body><h1>Sorry, you have been blocked</h1><p>You are unable to access polymarket.com</p></body>
</html>
"""


def _error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()


def _post_order_error(status: int, message: str) -> PolyinfraError:
    return error_from_response(status, _error_body(message), method="POST", endpoint="/order")


# (status, venue message, endpoint, expected class) for every order-related string (venue notes: Venue errors).
ORDER_ANSWERS = [
    (400, "invalid signature", InvalidSignatureError),
    (400, "order_version_mismatch", OrderRejectedError),
    (400, "invalid order version, please use the latest clob-client", OrderRejectedError),
    (400, f"order {ORDER_ID} is invalid. Price (0.555) breaks minimum tick size rule: 0.01", TickSizeViolationError),
    (400, f"order {ORDER_ID} is invalid. Size (1) lower than the minimum: 5", MinimumSizeError),
    (
        400,
        "invalid amounts, the buy orders maker amount supports a max accuracy of 4 decimals, "
        "taker amount a max of 2 decimals",
        AmountPrecisionError,
    ),
    (
        400,
        "invalid amounts, the market buy orders maker amount supports a max accuracy of 2 decimals, "
        "taker amount a max of 4 decimals",
        AmountPrecisionError,
    ),
    (
        400,
        "invalid amounts, the taker amount for a $0.22 order of size 19.69 should be '4.3318' but the value "
        "submited is '4.33'",
        AmountPrecisionError,
    ),
    (400, "invalid price (0.999), min: 0.01 - max: 0.99", PriceRangeError),
    (400, "price (1.0), min: 0.01 - max: 0.99", PriceRangeError),
    (400, "not enough balance / allowance", InsufficientBalanceError),
    (400, "the order owner has to be the owner of the API KEY", OrderRejectedError),
    (400, "the order signer address has to be the address of the API KEY", OrderRejectedError),
    (400, "Invalid order payload", InvalidOrderError),
    (400, f"order {ORDER_ID} is invalid. Duplicated.", OrderRejectedError),
    (400, f"order {ORDER_ID} crosses the book", OrderRejectedError),
    (400, "invalid expiration", OrderRejectedError),
    (400, "order canceled in the CTF exchange contract", OrderRejectedError),
    (400, "order match delayed due to market conditions", OrderRejectedError),
    (400, "order couldn't be fully filled. FOK orders are fully filled or killed.", InsufficientLiquidityError),
    (
        400,
        "no orders found to match with FAK order. FAK orders are partially filled or killed if no match is found.",
        InsufficientLiquidityError,
    ),
    (400, "the market is not yet ready to process new orders", OrderRejectedError),
    (400, f"'{ADDRESS}' address banned", OrderRejectedError),
    (400, f"'{ADDRESS}' address in closed only mode", OrderRejectedError),
    (500, "there are no matching orders", InsufficientLiquidityError),
    (500, "FOK orders are filled or killed", InsufficientLiquidityError),
    (500, "the trade contains rounding issues", OrderRejectedError),
    (
        500,
        "the price of the taker's order has a discrepancy greater than allowed with the worst maker order",
        OrderRejectedError,
    ),
    (500, "could not run the execution", HttpServerError),
    (500, "could not insert order", HttpServerError),
]


@pytest.mark.parametrize(("status", "message", "expected"), ORDER_ANSWERS)
def test_order_answers(status: int, message: str, expected: type[PolyinfraError]) -> None:
    error = _post_order_error(status, message)
    assert type(error) is expected
    assert error.context["venue_message"] == message
    assert error.context["status"] == status
    assert (error.context["endpoint"], error.context["method"]) == ("/order", "POST")
    assert message in error.message and "POST /order" in error.message


def test_order_rows_match_case_insensitively() -> None:
    assert type(_post_order_error(400, "NOT ENOUGH BALANCE / ALLOWANCE")) is InsufficientBalanceError
    assert type(_post_order_error(400, "Invalid Signature")) is InvalidSignatureError


def test_hints_where_the_fact_sheet_knows_the_cause() -> None:
    def hint(message: str) -> str:
        text = _post_order_error(400, message).context["hint"]
        assert isinstance(text, str)
        return text

    assert "/balance-allowance/update" in hint("not enough balance / allowance")
    signature_hint = hint("invalid signature")
    assert "signature type" in signature_hint and "funder" in signature_hint and "neg-risk" in signature_hint
    assert "V2" in hint("order_version_mismatch")
    assert "tick size" in hint(f"order {ORDER_ID} is invalid. Price (0.555) breaks minimum tick size rule: 0.01")
    executed = _post_order_error(500, "could not run the execution")
    assert "/data/orders" in str(executed.context["hint"])
    assert "hint" not in _post_order_error(400, f"order {ORDER_ID} crosses the book").context


def test_rate_limited_with_retry_after_header() -> None:
    error = error_from_response(
        429, b'{"error":"Too Many Requests"}', method="GET", endpoint="/book", headers={"Retry-After": "7"}
    )
    assert type(error) is RateLimitedError
    assert error.retriable
    assert error.context["status"] == 429
    assert error.context["retry_after_s"] == 7.0
    assert error.context["venue_message"] == "Too Many Requests"


def test_retry_after_header_is_case_insensitive_and_wins_over_the_body() -> None:
    body = b'{"error":"Too Many Requests","retry_after_seconds":3}'
    from_header = error_from_response(429, body, method="GET", endpoint="/book", headers={"retry-after": "9"})
    assert from_header.context["retry_after_s"] == 9.0
    from_body = error_from_response(429, body, method="GET", endpoint="/book")
    assert from_body.context["retry_after_s"] == 3.0
    # An HTTP date needs a clock this pure function does not read: the body's seconds are used.
    dated = error_from_response(
        429, body, method="GET", endpoint="/book", headers={"Retry-After": "Wed, 21 Oct 2026 07:28:00 GMT"}
    )
    assert dated.context["retry_after_s"] == 3.0
    assert "retry_after_s" not in error_from_response(429, b"", method="GET", endpoint="/book").context


def test_restart_425_plain_text() -> None:
    error = error_from_response(425, b"service not ready", method="POST", endpoint="/order")
    assert type(error) is ServiceNotReadyError
    assert error.retriable
    assert error.context["venue_message"] == "service not ready"
    assert "restart" in str(error.context["hint"])


def test_post_only_mode_after_a_restart() -> None:
    body = (
        b'{"error":"post-only mode: only post-only orders and cancels are allowed",'
        b'"code":"post_only_mode","retry_after_seconds":79}'
    )
    error = error_from_response(503, body, method="POST", endpoint="/order", headers={"Retry-After": "79"})
    assert type(error) is HttpServerError
    assert error.retriable
    assert (error.context["mode"], error.context["venue_code"], error.context["retry_after_s"]) == (
        "post_only",
        "post_only_mode",
        79.0,
    )
    # The code alone is enough to recognise the mode.
    coded = error_from_response(
        503, b'{"error":"unavailable","code":"post_only_mode"}', method="POST", endpoint="/orders"
    )
    assert coded.context["mode"] == "post_only"


@pytest.mark.parametrize(
    ("message", "mode"),
    [
        ("Trading is currently disabled. Check polymarket.com for updates", "trading_disabled"),
        ("Trading is currently cancel-only. New orders are not accepted, but cancels are allowed.", "cancel_only"),
    ],
)
def test_trading_modes(message: str, mode: str) -> None:
    error = error_from_response(503, _error_body(message), method="POST", endpoint="/order")
    assert type(error) is HttpServerError
    assert error.context["mode"] == mode
    assert "polymarket.com" in str(error.context["hint"])


def test_cloudflare_block_page() -> None:
    error = error_from_response(403, CLOUDFLARE_PAGE, method="GET", endpoint="/book?token_id=123")
    assert type(error) is HttpClientError
    assert "Cloudflare" in error.message and "Attention Required! | Cloudflare" in error.message
    hint = str(error.context["hint"])
    assert "geoblock" in hint and "User-Agent" in hint and "cloud" in hint
    assert "<html" not in str(error)
    assert error.context["endpoint"] == "/book", "the query string is dropped"


def test_other_html_pages_are_named_but_not_blamed_on_cloudflare() -> None:
    error = error_from_response(
        502, b"<html><head><title>502 Bad Gateway</title></head></html>", method="GET", endpoint="/book"
    )
    assert type(error) is HttpServerError
    assert error.context["venue_message"] == "HTML page '502 Bad Gateway', not the venue's JSON"


def test_api_key_nonce_errors_are_l1() -> None:
    created = error_from_response(400, _error_body("Could not create api key"), method="POST", endpoint="/auth/api-key")
    assert type(created) is L1AuthError
    assert "nonce" in str(created.context["hint"]) and "derive" in str(created.context["hint"])
    derived = error_from_response(
        400, _error_body("Could not derive api key!"), method="GET", endpoint="/auth/derive-api-key"
    )
    assert type(derived) is L1AuthError
    assert "nonce" in str(derived.context["hint"])


@pytest.mark.parametrize(
    ("endpoint", "expected"),
    [
        ("/auth/api-key", L1AuthError),
        ("/auth/derive-api-key?nonce=0", L1AuthError),
        ("/order", L2AuthError),
        ("/data/orders", L2AuthError),
        ("/auth/api-keys", L2AuthError),
    ],
)
def test_unauthorized_is_l1_or_l2_by_endpoint(endpoint: str, expected: type[PolyinfraError]) -> None:
    error = error_from_response(401, _error_body("Unauthorized/Invalid api key"), method="GET", endpoint=endpoint)
    assert type(error) is expected
    assert error.context["status"] == 401
    assert not error.retriable


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (404, b'{"error":"No orderbook exists for the requested token id"}', NotFoundError),
        (400, b'{"error":"Invalid token id"}', HttpClientError),
        (400, b'{"error":"Payload exceeds the limit"}', HttpClientError),
        (400, b'{"error":"Invalid Heartbeat ID","heartbeat_id":"7f3c"}', HttpClientError),
        (500, b'{"error":"Internal Server Error"}', HttpServerError),
        (502, b"", HttpServerError),
        (503, b'{"error":"Service Unavailable"}', HttpServerError),
        (302, b"", ApiError),
    ],
)
def test_fallback_by_status_class(status: int, body: bytes, expected: type[ApiError]) -> None:
    error = error_from_response(status, body, method="GET", endpoint="/book")
    assert type(error) is expected
    assert isinstance(error, ApiError) and error.status == status
    assert "hint" not in error.context


def test_empty_body_says_the_status_phrase() -> None:
    error = error_from_response(502, b"", method="GET", endpoint="/book")
    assert error.message == "GET /book answered 502: Bad Gateway"
    assert error.context["venue_message"] == ""


def test_bodies_that_are_not_the_venue_json_shape() -> None:
    for body in (b"{not json", b'{"message":"x"}', b'["a"]', b'"OK"', b"\xff\xfe bytes"):
        error = error_from_response(400, body, method="GET", endpoint="/book")
        assert type(error) is HttpClientError
        assert error.context["venue_message"] == body.decode("utf-8", errors="replace").strip()


def test_long_bodies_are_truncated() -> None:
    error = error_from_response(400, _error_body("x" * 5_000), method="GET", endpoint="/book")
    message = str(error.context["venue_message"])
    assert len(message) == VENUE_MESSAGE_LIMIT and message.endswith("…")
    plain = error_from_response(500, b"y" * 5_000, method="GET", endpoint="/book")
    assert len(str(plain.context["venue_message"])) == VENUE_MESSAGE_LIMIT


def test_a_bad_retry_after_seconds_is_ignored() -> None:
    for value in ("-3", '"soon"', "true", "1e999"):
        body = f'{{"error":"Too Many Requests","retry_after_seconds":{value}}}'.encode()
        error = error_from_response(429, body, method="GET", endpoint="/book", headers={"Retry-After": "later"})
        assert type(error) is RateLimitedError
        assert "retry_after_s" not in error.context


def test_refused_cursors_are_pagination_errors() -> None:
    v2 = b'{"error": "cursor filters contradicted: status", "code": "CURSOR_MISMATCH", "retryable": false}'
    error = error_from_response(400, v2, method="GET", endpoint="/v2/positions")
    assert type(error) is CursorRejectedError
    assert (error.context["venue_code"], error.context["reason"]) == ("CURSOR_MISMATCH", "cursor_rejected")
    gamma = b'{"type": "validation error", "error": "invalid cursor"}'
    assert type(error_from_response(422, gamma, method="GET", endpoint="/markets/keyset")) is CursorRejectedError
    other = b'{"error": "at most 20 condition ids", "code": "TOO_MANY_CONDITIONS"}'
    assert type(error_from_response(400, other, method="GET", endpoint="/v2/positions")) is HttpClientError


def test_every_rule_is_exercised() -> None:
    """Each row of the table is the first match of at least one answer tested above."""
    answers: list[tuple[int, str, str]] = [(status, message, "/order") for status, message, _ in ORDER_ANSWERS]
    answers += [
        (429, "Too Many Requests", "/book"),
        (425, "service not ready", "/order"),
        (403, "Cloudflare page 'Attention Required! | Cloudflare', not the venue's JSON", "/book"),
        (400, "cursor expired, restart the walk\nCURSOR_EXPIRED", "/v2/activity"),
        (503, "post-only mode: only post-only orders and cancels are allowed", "/order"),
        (503, "Trading is currently cancel-only. New orders are not accepted, but cancels are allowed.", "/order"),
        (503, "Trading is currently disabled. Check polymarket.com for updates", "/order"),
        (400, "Could not create api key", "/auth/api-key"),
        (400, "Could not derive api key!", "/auth/derive-api-key"),
        (401, "Unauthorized/Invalid api key", "/auth/api-key"),
        (401, "Unauthorized/Invalid api key", "/order"),
    ]
    first_matches = {
        next(index for index, rule in enumerate(VENUE_ERROR_RULES) if rule.matches(status, endpoint, message))
        for status, message, endpoint in answers
    }
    assert first_matches == set(range(len(VENUE_ERROR_RULES)))


def test_no_third_party_exception_escapes() -> None:
    for status in (0, 200, 399, 418, 599, 600, 999):
        for body in (b"", b"{", b"null", b"\x00" * 10, CLOUDFLARE_PAGE):
            assert isinstance(error_from_response(status, body, method="GET", endpoint=""), PolyinfraError)


def test_the_caller_adds_what_it_knows() -> None:
    error = error_from_response(
        400,
        _error_body("not enough balance / allowance"),
        method="POST",
        endpoint="/order",
        token_id="123",
        price="0.55",
        wallet_id="main",
        venue_message="the answer's own message wins",
    )
    assert (error.context["token_id"], error.context["price"], error.context["wallet_id"]) == ("123", "0.55", "main")
    assert error.context["venue_message"] == "not enough balance / allowance"
