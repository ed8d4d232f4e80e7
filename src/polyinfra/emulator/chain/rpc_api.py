"""The emulated chain's HTTP face on the emulator's REST port: Polygon JSON-RPC and its control routes.

* ``POST /rpc``: JSON-RPC 2.0, one request or a batch (at most :data:`MAX_BATCH`), the subset of methods
  wallets and the official SDK use (venue notes: On chain): ``eth_chainId``, ``net_version``,
  ``eth_blockNumber``, ``eth_getBlockByNumber``, ``eth_gasPrice``, ``eth_maxPriorityFeePerGas``,
  ``eth_feeHistory``, ``eth_getTransactionCount``, ``eth_getBalance``, ``eth_getCode``, ``eth_call``,
  ``eth_estimateGas``, ``eth_sendRawTransaction``, ``eth_getTransactionReceipt``,
  ``eth_getTransactionByHash``, ``eth_getLogs`` (a market the simulator resolves shows as the CTF's
  ``ConditionResolution`` in a block of its own). A revert answers ``{"code": 3, "message": "execution reverted: …",
  "data": "0x08c379a0…"}``; an unknown method -32601; bad parameters -32602. Announced as ``"rpc"`` in the
  emulator's URLs.
* ``GET /_emulator/chain/faults``: the chain's knobs (:class:`~polyinfra.emulator.chain.node.ChainKnobs`);
  ``POST`` with a JSON object of knobs to change (all-or-nothing, 400 ``{"error": …}``), answered with the knobs.
* ``POST /_emulator/chain/accounts/{address}``: the faucet, ``{"usdc_e": "250", "usdc": "0", "wcol": "0",
  "fresh": true}`` (all optional; decimal strings of at most 6 decimals): sets those token balances, and
  ``fresh`` makes the wallet new to Polymarket: no pUSD and no pUSD allowances, as a wallet that has only
  bridged USDC.e. Answered ``{"address", "usdc_e", "usdc", "wcol", "pusd", "pol"}``.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any, Final

import msgspec
from aiohttp import web

from polyinfra.core.chain_contracts import PUSD, USDC, USDC_E, WCOL
from polyinfra.core.eip712 import to_checksum_address
from polyinfra.emulator.accounts import Balances
from polyinfra.emulator.chain.node import BASE_FEE_WEI, CHAIN_ID, SUGGESTED_TIP_WEI, ChainNode, NodeError
from polyinfra.errors import InvalidNumberError, InvalidValueError, MalformedMessageError
from polyinfra.model.numbers import parse_micros
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = ["MAX_BATCH", "RPC_PATH", "chain_routes"]

RPC_PATH: Final = "/rpc"
MAX_BATCH: Final = 100
_MAX_RPC_BYTES: Final = 1024 * 1024
_REQUEST: Final[JsonDecoder[Any]] = JsonDecoder(what="JSON-RPC request", max_bytes=_MAX_RPC_BYTES)
_KNOB_CHANGES: Final[JsonDecoder[dict[str, object]]] = JsonDecoder(dict[str, object], what="chain knobs")
_encode: Final = msgspec.json.Encoder().encode
_CONTRACT_CODE: Final = "0x6080"


class _Faucet(msgspec.Struct, forbid_unknown_fields=True):
    usdc_e: str | None = None
    usdc: str | None = None
    wcol: str | None = None
    fresh: bool = False


_FAUCET: Final[JsonDecoder[_Faucet]] = JsonDecoder(_Faucet, what="faucet request")


def chain_routes(node: ChainNode, balances: Balances) -> list[web.RouteDef]:
    """The routes above over ``node``; ``balances`` are the CLOB's (a fresh wallet's pUSD is zeroed there)."""
    methods = _Methods(node)

    async def rpc(request: web.Request) -> web.Response:
        try:
            body = _REQUEST.decode(await request.read())
        except MalformedMessageError as exc:
            return _json(_error(None, -32700, f"parse error: {exc.message}"))
        if isinstance(body, list):
            if not body or len(body) > MAX_BATCH:
                return _json(_error(None, -32600, f"a batch holds 1 to {MAX_BATCH} requests"))
            return _json([methods.answer(item) for item in body])
        return _json(methods.answer(body))

    async def get_faults(request: web.Request) -> web.Response:
        return _json(node.knobs.as_dict())

    async def set_faults(request: web.Request) -> web.Response:
        try:
            node.knobs.update(_KNOB_CHANGES.decode(await request.read()))
        except (MalformedMessageError, InvalidValueError) as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        return _json(node.knobs.as_dict())

    async def faucet(request: web.Request) -> web.Response:
        try:
            address = to_checksum_address(request.match_info["address"])
            change = _FAUCET.decode(await request.read() or b"{}")
            amounts = {
                token: _micros(text)
                for token, text in ((USDC_E, change.usdc_e), (USDC, change.usdc), (WCOL, change.wcol))
                if text is not None
            }
        except (MalformedMessageError, InvalidValueError) as exc:
            return _json({"error": str(exc)}, status=HTTPStatus.BAD_REQUEST)
        for token, micros in amounts.items():
            node.contracts.fund(address, token, micros)
        if change.fresh:
            spenders = balances.on_chain(address, "").allowances
            balances.set_funds(address, collateral_micros=0, allowances=dict.fromkeys(spenders, 0))
        contracts = node.contracts
        return _json(
            {
                "address": address,
                "usdc_e": str(contracts.balance_of(USDC_E, address)),
                "usdc": str(contracts.balance_of(USDC, address)),
                "wcol": str(contracts.balance_of(WCOL, address)),
                "pusd": str(contracts.balance_of(PUSD, address)),
                "pol": str(contracts.native_balance(address)),
            }
        )

    return [
        web.post(RPC_PATH, rpc),
        web.get("/_emulator/chain/faults", get_faults),
        web.post("/_emulator/chain/faults", set_faults),
        web.post("/_emulator/chain/accounts/{address}", faucet),
    ]


class _Methods:
    """One JSON-RPC request in, one response object out; nothing a client sends escapes as an exception."""

    def __init__(self, node: ChainNode) -> None:
        self._node = node

    def answer(self, request: object) -> dict[str, object]:
        if not isinstance(request, dict) or not isinstance(request.get("method"), str):
            return _error(None, -32600, "invalid request")
        request_id = request.get("id")
        params = request.get("params", [])
        if not isinstance(params, list):
            return _error(request_id, -32602, "params must be an array")
        handler = getattr(self, "_" + request["method"], None)
        if handler is None or not request["method"].startswith(("eth_", "net_")):
            return _error(request_id, -32601, f"the method {request['method']} does not exist/is not available")
        try:
            result = handler(*params)
        except NodeError as exc:
            return _error(request_id, exc.code, exc.message, exc.data)
        except (TypeError, ValueError, InvalidValueError, MalformedMessageError) as exc:
            return _error(request_id, -32602, f"invalid params: {type(exc).__name__}")
        return {"jsonrpc": "2.0", "id": request_id, "result": result}

    def _eth_chainId(self) -> str:  # noqa: N802 - the JSON-RPC method's name
        return hex(CHAIN_ID)

    def _net_version(self) -> str:
        return str(CHAIN_ID)

    def _eth_blockNumber(self) -> str:  # noqa: N802
        return hex(self._node.block_number)

    def _eth_getBlockByNumber(self, tag: str, full: bool = False) -> dict[str, object]:  # noqa: N802
        return self._node.block(None if tag in {"latest", "pending", "safe", "finalized"} else _quantity(tag))

    def _eth_gasPrice(self) -> str:  # noqa: N802
        return hex(BASE_FEE_WEI + self._tip())

    def _eth_maxPriorityFeePerGas(self) -> str:  # noqa: N802
        return hex(self._tip())

    def _eth_feeHistory(self, count: object, newest: str, percentiles: list[object] | None = None) -> dict[str, object]:  # noqa: N802
        blocks = max(1, min(1024, _quantity(count) if isinstance(count, str) else int(str(count))))
        return {
            "oldestBlock": hex(max(0, self._node.block_number - blocks + 1)),
            "baseFeePerGas": [hex(BASE_FEE_WEI)] * (blocks + 1),
            "gasUsedRatio": [0.5] * blocks,
            "reward": [[hex(self._tip())] * len(percentiles or [])] * blocks,
        }

    def _eth_getTransactionCount(self, address: str, tag: str = "latest") -> str:  # noqa: N802
        return hex(self._node.transaction_count(address, pending=tag == "pending"))

    def _eth_getBalance(self, address: str, tag: str = "latest") -> str:  # noqa: N802
        return hex(self._node.contracts.native_balance(address))

    def _eth_getCode(self, address: str, tag: str = "latest") -> str:  # noqa: N802
        return _CONTRACT_CODE if self._node.contracts.is_contract(address) else "0x"

    def _eth_call(self, call: dict[str, object], tag: str = "latest") -> str:
        output, _gas = self._node.simulate(*_call_fields(call))
        return "0x" + output.hex()

    def _eth_estimateGas(self, call: dict[str, object], tag: str = "latest") -> str:  # noqa: N802
        _output, gas = self._node.simulate(*_call_fields(call))
        return hex(gas)

    def _eth_sendRawTransaction(self, raw: str) -> str:  # noqa: N802
        return "0x" + self._node.send_raw(_hex_bytes(raw)).hex()

    def _eth_getTransactionReceipt(self, tx_hash: str) -> dict[str, object] | None:  # noqa: N802
        receipt = self._node.receipt(_hex_bytes(tx_hash))
        return None if receipt is None else receipt.as_json()

    def _eth_getTransactionByHash(self, tx_hash: str) -> dict[str, object] | None:  # noqa: N802
        return self._node.transaction(_hex_bytes(tx_hash))

    def _eth_getLogs(self, query: dict[str, object]) -> list[dict[str, object]]:  # noqa: N802
        if not isinstance(query, dict):
            raise NodeError(-32602, "invalid params: a filter object")
        latest = self._node.block_number
        address = query.get("address") or []
        topics = query.get("topics") or []
        first = topics[0] if isinstance(topics, list) and topics else None
        return self._node.logs(
            from_block=_block_tag(query.get("fromBlock", "latest"), latest),
            to_block=_block_tag(query.get("toBlock", "latest"), latest),
            addresses={
                to_checksum_address(str(item)) for item in (address if isinstance(address, list) else [address])
            },
            topic0={_hex_bytes(str(item)) for item in (first if isinstance(first, list) else [first] if first else [])},
        )

    def _tip(self) -> int:
        # The node's suggestion does not follow the floor knob: raising the floor is how a test makes the
        # suggested fee too low, the way a busy network leaves a transaction stuck.
        return SUGGESTED_TIP_WEI


def _call_fields(call: object) -> tuple[str, str, bytes]:
    if not isinstance(call, dict) or not isinstance(call.get("to"), str):
        raise NodeError(-32602, "invalid params: a call object needs 'to'")
    sender = call.get("from") or "0x" + "00" * 20
    data = call.get("data", call.get("input", "0x"))
    return str(sender), str(call["to"]), _hex_bytes(str(data))


def _hex_bytes(text: str) -> bytes:
    if not isinstance(text, str) or not text.startswith("0x") or len(text) > 2 * 256 * 1024:
        raise NodeError(-32602, "invalid params: expected 0x-prefixed hex")
    try:
        return bytes.fromhex(text[2:])
    except ValueError:
        raise NodeError(-32602, "invalid params: expected 0x-prefixed hex") from None


def _quantity(text: object) -> int:
    if not isinstance(text, str) or not text.startswith("0x") or not 2 < len(text) <= 66:
        raise NodeError(-32602, "invalid params: expected a hex quantity")
    try:
        return int(text, 16)
    except ValueError:
        raise NodeError(-32602, "invalid params: expected a hex quantity") from None


def _listed(value: object) -> list[object]:
    """A filter field: one value, a list of alternatives, or nothing (null: any)."""
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _first_topic(topics: object) -> object:
    return topics[0] if isinstance(topics, list) and topics else None


def _block_tag(tag: object, latest: int) -> int:
    return latest if tag in ("latest", "pending", "safe", "finalized") else _quantity(tag)


def _micros(text: str) -> int:
    try:
        return parse_micros(text)
    except InvalidNumberError as exc:
        raise InvalidValueError(f"{exc.message}: amounts are decimal strings", value=text) from None


def _error(request_id: object, code: int, message: str, data: str | None = None) -> dict[str, object]:
    error: dict[str, object] = {"code": code, "message": message}
    if data is not None:
        error["data"] = data
    return {"jsonrpc": "2.0", "id": request_id, "error": error}


def _json(body: object, *, status: int = HTTPStatus.OK) -> web.Response:
    return web.Response(body=_encode(body), status=status, content_type="application/json")
