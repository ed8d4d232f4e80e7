"""Async REST client for the CLOB's public market-data endpoints (clob.md §3.1).

Third-party errors stop here: transport failures become :class:`TransportError`, non-200 answers
:class:`ApiError` with the venue's message, undecodable bodies :class:`MalformedMessageError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import Final, Self, TypeVar

import httpx
import msgspec

from polyinfra.errors import ApiError, MalformedMessageError, TransportError
from polyinfra.wire.clob_rest import OrderBookSummary

__all__ = ["ClobRestClient"]

_T = TypeVar("_T")

# POST /books and friends refuse bigger payloads ("Payload exceeds the limit", clob.md §8).
BOOKS_PER_REQUEST: Final = 500


class ClobRestClient:
    """Market-data REST calls against the venue or the emulator (``base_url`` without a trailing slash)."""

    def __init__(self, base_url: str, *, timeout_s: float = 10.0) -> None:
        self._http = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_s))
        self._encode = msgspec.json.Encoder().encode

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get_book(self, token_id: str) -> OrderBookSummary:
        """``GET /book``: one token's book summary."""
        return await self._request("GET", "/book", OrderBookSummary, params={"token_id": token_id})

    async def get_books(self, token_ids: Sequence[str]) -> list[OrderBookSummary]:
        """``POST /books``: many books in as few requests as the venue allows, in the order asked."""
        books: list[OrderBookSummary] = []
        for start in range(0, len(token_ids), BOOKS_PER_REQUEST):
            chunk = token_ids[start : start + BOOKS_PER_REQUEST]
            body = self._encode([{"token_id": token} for token in chunk])
            books.extend(await self._request("POST", "/books", list[OrderBookSummary], content=body))
        return books

    async def _request(
        self,
        method: str,
        path: str,
        response_type: type[_T],
        *,
        params: dict[str, str] | None = None,
        content: bytes | None = None,
    ) -> _T:
        headers = {"Content-Type": "application/json"} if content is not None else None
        try:
            response = await self._http.request(method, path, params=params, content=content, headers=headers)
        except httpx.HTTPError as exc:
            raise TransportError(f"{method} {path} failed: {type(exc).__name__}", endpoint=path) from exc
        if response.status_code != 200:
            raise ApiError(
                f"{method} {path} answered {response.status_code}",
                status=response.status_code,
                endpoint=path,
                venue_message=_venue_message(response),
            )
        try:
            return msgspec.json.decode(response.content, type=response_type)
        except msgspec.DecodeError as exc:
            raise MalformedMessageError(f"{method} {path} body does not match its schema", endpoint=path) from exc


def _venue_message(response: httpx.Response) -> str:
    """The venue's ``{"error": ...}`` text when there is one, else the start of the body."""
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return response.text[:200]
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return response.text[:200]
