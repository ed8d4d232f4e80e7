"""The ``POST /order`` body of CLOB V2 (clob.md §5.3, §6.11), field for field in the venue's key order.

The body is HMAC-signed (clob.md §2.2), so the bytes sent must be exactly the bytes signed:
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
"""The venue's ``orderType`` values (clob.md §5.1)."""


class OrderPayload(Struct, kw_only=True, rename="camel", gc=False):
    """The signed order as sent: ``salt`` and ``signatureType`` JSON integers, every other number a
    decimal string (clob.md §10). ``expiration`` is sent but not signed in V2."""

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
    """The exact request body bytes: compact JSON, UTF-8, keys in the venue's order (clob.md §6.11).

    Pass these same bytes to the L2 HMAC and to the HTTP request.
    """
    return _ENCODER.encode(body)
