"""Token ids in requests to a venue-shaped server, read as the venue reads them: one from a query
string, or a batch body ``[{"token_id": "...", "side": "BUY"}]``, refused with the venue's errors
as :class:`~polyinfra.errors.ApiError` (venue notes: REST routes, Responses).

Shared by everything that answers the venue's book routes (the emulator, the replay server), so
both refuse the same input with the same words.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Final

import msgspec

from polyinfra.errors import ApiError, InvalidValueError, MalformedMessageError
from polyinfra.model.ids import TokenId, token_id
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "BATCH_LIMIT",
    "NO_ORDERBOOK",
    "TokenRequest",
    "requested_batch",
    "requested_token",
]

BATCH_LIMIT: Final = 500
"""Tokens per batch request (``/last-trades-prices`` documents 500; used for all)."""

NO_ORDERBOOK: Final = "No orderbook exists for the requested token id"
_INVALID_TOKEN: Final = "Invalid token id"
_INVALID_PAYLOAD: Final = "Invalid payload"
_PAYLOAD_TOO_LARGE: Final = "Payload exceeds the limit"


class TokenRequest(msgspec.Struct):
    """An item of the batch bodies (``side`` only for ``/prices``)."""

    token_id: TokenId
    side: str | None = None


_decode_batch: Final[JsonDecoder[list[TokenRequest]]] = JsonDecoder(list[TokenRequest], what="batch body")


def requested_token(text: str | None) -> TokenId:
    """The token id of a query parameter, or the venue's 400 ``Invalid token id``."""
    if text is None:
        raise ApiError(_INVALID_TOKEN, status=HTTPStatus.BAD_REQUEST)
    try:
        return token_id(text)
    except InvalidValueError as exc:
        raise ApiError(_INVALID_TOKEN, status=HTTPStatus.BAD_REQUEST, token_id=text) from exc


def requested_batch(body: bytes) -> list[TokenRequest]:
    """The items of a batch body, or the venue's 400: ``Invalid payload`` (not a list of valid token
    ids), ``Payload exceeds the limit`` (over :data:`BATCH_LIMIT`)."""
    try:
        items = _decode_batch.decode(body)
        for item in items:
            token_id(item.token_id)
    except (MalformedMessageError, InvalidValueError) as exc:
        raise ApiError(_INVALID_PAYLOAD, status=HTTPStatus.BAD_REQUEST) from exc
    if len(items) > BATCH_LIMIT:
        raise ApiError(_PAYLOAD_TOO_LARGE, status=HTTPStatus.BAD_REQUEST, limit=BATCH_LIMIT)
    return items
