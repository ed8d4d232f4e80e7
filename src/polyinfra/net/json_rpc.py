"""JSON-RPC 2.0 to a Polygon node over the shared HTTP pipeline (:mod:`polyinfra.net.http`).

A call is a ``POST`` of ``{"jsonrpc", "id", "method", "params"}``; a batch is an array of them, answered
by an array matched by ``id`` (a node may reorder it). Transport failures, 429s and 5xx go through the
pipeline's limiter, breaker and retry decision like every other host's requests; reads are retried there,
``eth_sendRawTransaction`` is sent as state-changing (never retried blindly: resending a signed transaction
is harmless on chain, but the sender decides, knowing the hash).

An error object in a 200 answer is translated once, here, by the table :data:`_RPC_ERRORS`:

* ``"execution reverted"`` (code 3, or -32000/-32603 with the text): :class:`~polyinfra.errors.TransactionRevertedError`
  with the ``Error(string)`` reason decoded from ``data``;
* ``nonce too low`` / ``already known`` / ``replacement transaction underpriced``:
  :class:`~polyinfra.errors.NonceConflictError`;
* anything else: :class:`~polyinfra.errors.ChainError` with the node's code and message.

An answer that is not JSON-RPC (no ``result`` and no ``error``, a batch of the wrong length, an unknown
id) is a :class:`~polyinfra.errors.MalformedMessageError`: it is never read as an empty result, because a
flaky node answering "0" for an allowance must not look like a missing approval (venue notes: On chain).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any, Final

import msgspec

from polyinfra.core.chain_calls import decode_revert_reason
from polyinfra.core.venue_rate_limits import RPC_LIMITS
from polyinfra.errors import (
    ChainError,
    InvalidValueError,
    MalformedMessageError,
    NonceConflictError,
    PolyinfraError,
    TransactionRevertedError,
)
from polyinfra.net.http import HttpTransport
from polyinfra.net.transport_client import TransportClient
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["DEFAULT_MAX_BATCH", "JsonRpcClient", "RpcCall", "rpc_error"]

DEFAULT_MAX_BATCH: Final = 100
"""Calls per JSON-RPC batch request."""

RpcCall = tuple[str, Sequence[object]]
"""A method and its params."""

_ANSWER: Final[JsonDecoder[Any]] = JsonDecoder(what="JSON-RPC answer", max_bytes=16 * 1024 * 1024)
_REVERT_CODES: Final = frozenset({3, -32000, -32003, -32015, -32603})
_RPC_ERRORS: Final[tuple[tuple[str, type[ChainError]], ...]] = (
    ("nonce too low", NonceConflictError),
    ("already known", NonceConflictError),
    ("replacement transaction underpriced", NonceConflictError),
)
_REVERT_TEXTS: Final = ("execution reverted", "revert", "invalid opcode")


def rpc_error(error: object, *, method: str) -> PolyinfraError:
    """The typed error of a JSON-RPC error object (module notes)."""
    if not isinstance(error, dict):
        return MalformedMessageError("a JSON-RPC error is an object", method=method)
    code, message, data = error.get("code"), str(error.get("message", ""))[:500], error.get("data")
    lowered = message.lower()
    if code in _REVERT_CODES and any(text in lowered for text in _REVERT_TEXTS):
        reason = None
        if isinstance(data, str) and data.startswith("0x"):
            try:
                reason = decode_revert_reason(bytes.fromhex(data[2:]))
            except ValueError:
                reason = None
        return TransactionRevertedError(message, method=method, code=code, reason=reason)
    for text, kind in _RPC_ERRORS:
        if text in lowered:
            return kind(message, method=method, code=code)
    return ChainError(message, method=method, code=code)


class JsonRpcClient(TransportClient):
    """JSON-RPC to the node at ``url`` (module notes); ``transport`` may be given to share a pipeline."""

    def __init__(self, url: str, *, transport: HttpTransport | None = None, max_batch: int = DEFAULT_MAX_BATCH) -> None:
        if max_batch < 1:
            raise InvalidValueError("a batch holds at least one call", max_batch=max_batch)
        self._max_batch = max_batch
        base, _, path = url.partition("://")
        host, slash, rest = path.partition("/")
        self._path = slash + rest or "/"
        super().__init__(transport, lambda: HttpTransport(f"{base}://{host}", rate_limits=RPC_LIMITS))
        self._ids = itertools.count(1)

    async def call(self, method: str, *params: object) -> Any:
        """One call's ``result``, or its typed error."""
        request_id = next(self._ids)
        body = await self._post({"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}, method)
        return _result(body, request_id, method)

    async def batch(self, calls: Sequence[RpcCall]) -> list[Any | PolyinfraError]:
        """Each call's result or typed error, in the order of ``calls``, in batch requests of at most
        ``max_batch`` calls (nodes cap a batch's size: 100 is within every common provider's cap)."""
        results: list[Any | PolyinfraError] = []
        for start in range(0, len(calls), self._max_batch):
            results += await self._one_batch(calls[start : start + self._max_batch])
        return results

    async def _one_batch(self, calls: Sequence[RpcCall]) -> list[Any | PolyinfraError]:
        ids = [next(self._ids) for _ in calls]
        requests = [
            {"jsonrpc": "2.0", "id": request_id, "method": method, "params": list(params)}
            for request_id, (method, params) in zip(ids, calls, strict=True)
        ]
        answers = await self._post(requests, "batch")
        if not isinstance(answers, list) or len(answers) != len(calls):
            raise MalformedMessageError("a JSON-RPC batch answers one object per call", calls=len(calls))
        by_id = {answer.get("id"): answer for answer in answers if isinstance(answer, dict)}
        results: list[Any | PolyinfraError] = []
        for request_id, (method, _params) in zip(ids, calls, strict=True):
            try:
                results.append(_result(by_id.get(request_id), request_id, method))
            except PolyinfraError as exc:
                results.append(exc)
        return results

    async def _post(self, body: object, method: str) -> Any:
        response = await self.transport.request(
            "POST",
            self._path,
            endpoint="POST /rpc",
            content=msgspec.json.encode(body),
            state_changing=method == "eth_sendRawTransaction",
        )
        return _ANSWER.decode(response.content, method=method)


def _result(answer: object, request_id: int, method: str) -> Any:
    if not isinstance(answer, dict) or answer.get("id") != request_id:
        raise MalformedMessageError("no JSON-RPC answer for the request", method=method)
    if "error" in answer:
        raise rpc_error(answer["error"], method=method)
    if "result" not in answer:
        raise MalformedMessageError("a JSON-RPC answer has a result or an error", method=method)
    return answer["result"]
