"""Hostile input on both sides of JSON-RPC: raw transactions and requests into the emulated node, error objects
and revert data into the client. Each ends as a typed error (or the node's error answer) or a valid result."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.chain_calls import decode_revert_reason, encode_revert_reason
from polyinfra.emulator.accounts import Balances
from polyinfra.emulator.chain.contracts import ChainContracts
from polyinfra.emulator.chain.node import ChainNode, NodeError, _decode_transaction
from polyinfra.emulator.chain.rpc_api import _Methods
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.simulator import generate_markets
from polyinfra.errors import PolyinfraError
from polyinfra.net.json_rpc import rpc_error

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=80),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4),
    max_leaves=12,
)
methods = st.sampled_from(
    [
        "eth_chainId",
        "eth_call",
        "eth_estimateGas",
        "eth_sendRawTransaction",
        "eth_getTransactionReceipt",
        "eth_getTransactionByHash",
        "eth_getTransactionCount",
        "eth_getBlockByNumber",
        "eth_feeHistory",
        "eth_getCode",
        "nope",
        "__init__",
    ]
)


def node() -> ChainNode:
    exchange = Exchange(generate_markets(2, seed=3), clock_ms=lambda: 1_700_000_000_000)
    return ChainNode(ChainContracts(exchange, Balances([])), clock_ms=lambda: 1_700_000_000_000)


NODE = node()
METHODS = _Methods(NODE)


@given(st.binary(max_size=400))
def test_raw_transactions_decode_or_are_refused(raw: bytes) -> None:
    try:
        _decode_transaction(raw)
    except NodeError as exc:
        assert exc.code in {-32000, -32602}


@given(st.sampled_from([b"\x02", b"\xf8", b"\xc9"]), st.binary(max_size=300))
def test_typed_prefixes_with_garbage(prefix: bytes, body: bytes) -> None:
    with contextlib.suppress(NodeError):
        NODE.send_raw(prefix + body)


@given(methods, st.lists(json_values, max_size=4), json_values)
def test_any_request_gets_an_answer(method: str, params: list[Any], request_id: Any) -> None:
    answer = METHODS.answer({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params})
    assert ("result" in answer) != ("error" in answer)


@given(json_values)
def test_any_document_gets_an_answer(document: Any) -> None:
    answer = METHODS.answer(document)
    assert "result" in answer or "error" in answer


@given(json_values, st.sampled_from(["eth_call", "eth_sendRawTransaction"]))
def test_client_error_translation_is_typed(error: Any, method: str) -> None:
    assert isinstance(rpc_error(error, method=method), PolyinfraError)


@given(st.binary(max_size=300))
def test_revert_reasons_decode_or_are_none(data: bytes) -> None:
    reason = decode_revert_reason(data)
    assert reason is None or isinstance(reason, str)


@given(st.text(max_size=600))
def test_revert_reasons_round_trip(text: str) -> None:
    assert decode_revert_reason(encode_revert_reason(text)) == text[:500]
