"""The digest of a book's levels that recorder checkpoints store and replay recomputes."""

from __future__ import annotations

import hashlib

from polyinfra.model.book import OrderBook

__all__ = ["levels_digest"]


def levels_digest(book: OrderBook) -> str:
    """SHA-1 (hex) over the bids then the asks, best first, each level as ``price:size``.

    The venue's own book hash covers fields a local book does not keep (its timestamp, the
    minimum order size), so checkpoints hash only what polyinfra's book holds: its levels.
    """
    text = ";".join(f"{level.price}:{level.size}" for level in book.bids())
    text += "|" + ";".join(f"{level.price}:{level.size}" for level in book.asks())
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()
