"""The ``POST /order`` body of CLOB V2 (venue notes: Order signing), field for field in the venue's key order.

The body is HMAC-signed (venue notes: Authentication), so the bytes sent must be exactly the bytes signed:
:func:`encode_post_order` gives those bytes, compact JSON as the official client sends it. msgspec
writes fields in declaration order, so the declaration order below IS the wire order; names are
the venue's camelCase (``rename="camel"``: ``token_id`` is sent as ``tokenId``).
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import msgspec
from msgspec import Struct

__all__ = ["OrderPayload", "OrderTypeName", "PostOrderBody", "encode_post_order"]

OrderTypeName: TypeAlias = Literal["GTC", "GTD", "FOK", "FAK"]
"""The venue's ``orderType`` values (venue notes: Orders)."""


class OrderPayload(Struct, kw_only=True, rename="camel", gc=False):
    """The signed order as sent: ``salt`` and ``signatureType`` JSON integers, every other number a
    decimal string (venue notes: Order signing). ``expiration`` is sent but not signed in V2."""

    salt: int
    maker: str
    signer: str
    token_id: str
    maker_amount: str
    taker_amount: str
    side: Literal["BUY", "SELL"]
    expiration: str
    signature_type: int
    timestamp: str
    metadata: str
    builder: str
    signature: str


class PostOrderBody(Struct, kw_only=True, rename="camel", gc=False):
    """The ``POST /order`` envelope; ``owner`` is the API key the order is posted under."""

    order: OrderPayload
    owner: str
    order_type: OrderTypeName
    defer_exec: bool = False
    post_only: bool = False


_ENCODER: Final = msgspec.json.Encoder()


def encode_post_order(body: PostOrderBody) -> bytes:
    """The exact request body bytes: compact JSON, UTF-8, keys in the venue's order (venue notes: Order signing).

    Pass these same bytes to the L2 HMAC and to the HTTP request.
    """
    return _ENCODER.encode(body)
