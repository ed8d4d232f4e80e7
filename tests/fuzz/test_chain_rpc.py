"""Hostile input on both sides of JSON-RPC: raw transactions and requests into the emulated node, error objects
and revert data into the client. Each ends as a typed error (or the node's error answer) or a valid result."""

from __future__ import annotations

import contextlib
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.chain.sender import TransactionSender, _Attempt
from polyinfra.core.chain_calls import FUNCTIONS, decode_revert_reason, encode_revert_reason
from polyinfra.emulator.accounts import Balances
from polyinfra.emulator.chain.contracts import ChainContracts
from polyinfra.emulator.chain.node import ChainNode, NodeError, _decode_transaction
from polyinfra.emulator.chain.rpc_api import _Methods
from polyinfra.emulator.exchange import Exchange
from polyinfra.emulator.simulator import generate_markets
from polyinfra.errors import PolyinfraError
from polyinfra.net.json_rpc import JsonRpcClient, _result, rpc_error

words = st.integers(0, 2**256 - 1).map(lambda value: value.to_bytes(32)) | st.sampled_from(
    [bytes(32), (32).to_bytes(32), (64).to_bytes(32), (1).to_bytes(32), (2).to_bytes(32)]
)
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
        "eth_getLogs",
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


contracts_addresses = st.sampled_from(
    [
        "0x4D97DCd97eC945f40cF65F87097ACe5EA0476045",
        "0xC011a7E12a19f7B1f670d46F03B03f3342E82DFB",
        "0x2791Bca1f2de4661ED88A30C99A7a9449Aa84174",
        "0xAdA100Db00Ca00073811820692005400218FcE1f",
        "0xadA2005600Dec949baf300f4C6120000bDB6eAab",
        "0xd91E80cF2E7be2e162c6513ceD06f1dD0dA35296",
        "0x93070a847efEf7F70739046A929D47a521F5B8ee",
        "0x2957922Eb93258b93368531d39fAcCA3B4dC5854",
        "0x" + "12" * 20,
    ]
)


@given(contracts_addresses, st.sampled_from(sorted(FUNCTIONS)), st.lists(words, max_size=8))
def test_any_call_to_any_contract_answers_or_reverts(to: str, selector: bytes, body: list[bytes]) -> None:
    # Calldata of real selectors with arbitrary words: a simulation either answers or reverts, state untouched.
    try:
        NODE.simulate("0x" + "ab" * 20, to, selector + b"".join(body))
    except NodeError as exc:
        assert exc.code == 3


SENDER = TransactionSender(JsonRpcClient("http://127.0.0.1:9/rpc"), "0x" + "3c" * 32)
hexes = st.binary(max_size=40).map(lambda raw: "0x" + raw.hex())
receipts = st.fixed_dictionaries(
    {},
    optional={
        "transactionHash": hexes | json_values,
        "status": st.sampled_from(["0x1", "0x0", "0x2", "1", ""]) | json_values,
        "gasUsed": hexes | json_values,
        "blockNumber": hexes | json_values,
        "effectiveGasPrice": hexes | json_values,
        "logs": st.lists(
            st.fixed_dictionaries(
                {"address": hexes, "topics": st.lists(hexes | json_values, max_size=4), "data": hexes | json_values}
            )
            | json_values,
            max_size=3,
        )
        | json_values,
    },
)


@given(receipts)
def test_hostile_receipts_settle_or_are_typed(receipt: dict[str, Any]) -> None:
    try:
        settled = SENDER._settled(_Attempt(0), receipt)
    except PolyinfraError:
        return
    assert settled.gas_used >= 0


@given(json_values)
def test_hostile_answers_are_typed(answer: Any) -> None:
    with contextlib.suppress(PolyinfraError):
        _result(answer, 1, "eth_call")
