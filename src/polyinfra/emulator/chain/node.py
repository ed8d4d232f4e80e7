"""The emulated Polygon node: raw transactions in, a pool, blocks, receipts and the fault knobs.

A transaction's life on this node::

    eth_sendRawTransaction ──▶ decoded, sender recovered, chain id and nonce checked
         │                        (nonce below the account's count: "nonce too low";
         │                         same sender and nonce pooled: a replacement must pay ≥ 10% more)
         ▼
       pool ──▶ mined at once in a block of its own when its nonce is the account's next and its
         │       tip meets the floor (``min_priority_fee_gwei``) and its fee cap the base fee;
         │       otherwise it waits (a nonce gap, or a stuck low-fee transaction) until a
         │       replacement or the missing nonce arrives
         ▼
      receipt (status 1, or 0 for a revert: state untouched, gas charged, logs none)

Blocks carry a fixed base fee (:data:`BASE_FEE_WEI`) and a 97-byte extraData as Polygon's do. Time is the
injected ``clock_ms``. The contracts themselves are :class:`~polyinfra.emulator.chain.contracts.ChainContracts`.

Fault knobs (:class:`ChainKnobs`, ``POST /_emulator/chain/faults``; all off by default):

* ``revert_next``: the next that many mined transactions revert ("emulated revert"), as a failing call would;
* ``drop_next``: the next that many accepted transactions are forgotten (the pool evicted them): their hash
  was answered, no receipt ever comes, and ``eth_getTransactionByHash`` answers null;
* ``nonce_gap_next``: the next that many ``eth_getTransactionCount(…, "pending")`` reads answer one more than
  the truth (a lagging or load-balanced node), so a transaction signed with it waits behind a gap;
* ``min_priority_fee_gwei`` (venue behaviour, 25 by default): the tip floor below which a transaction stays
  stuck in the pool.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Final

import rlp
from eth_account import Account

from polyinfra.core.chain_calls import encode_revert_reason
from polyinfra.core.chain_events import ChainLog, topic_hex
from polyinfra.core.eip712 import address_word, keccak256, to_checksum_address
from polyinfra.emulator.chain.contracts import ChainContracts, Revert
from polyinfra.emulator.faults import knob_count
from polyinfra.emulator.knobs import KnobValidator, ValidatedKnobs

__all__ = ["BASE_FEE_WEI", "CHAIN_ID", "SUGGESTED_TIP_WEI", "ChainKnobs", "ChainNode", "NodeError", "Receipt"]

CHAIN_ID: Final = 137
BASE_FEE_WEI: Final = 30 * 10**9
"""The base fee of every emulated block: 30 gwei."""
GWEI: Final = 10**9
SUGGESTED_TIP_WEI: Final = 30 * GWEI
"""The tip the node suggests (``eth_maxPriorityFeePerGas``), above the default floor."""
MAX_RAW_TRANSACTION_BYTES: Final = 128 * 1024
MAX_LOG_BLOCKS: Final = 10_000
"""The widest ``eth_getLogs`` block range answered (providers cap it too)."""
_FIRST_BLOCK: Final = 65_000_000
_INTRINSIC_GAS: Final = 21_000
_REPLACEMENT_BUMP_PERCENT: Final = 10
_RELAYED_GAS: Final = 1_000_000
"""The gas limit a relayed transaction is recorded with (the relayer pays it; nothing here charges it)."""
_LEGACY_FIELDS: Final = 9
_TYPE2_FIELDS: Final = 12
_TYPE2: Final = 2
# Polygon's extraData is longer than 32 bytes (validator signature): clients that assume mainnet's limit break.
_EXTRA_DATA: Final = "0x" + "d8" * 97


class NodeError(Exception):
    """A JSON-RPC error the node answers: ``code``, ``message`` and optional revert ``data``."""

    def __init__(self, code: int, message: str, data: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.data = data


def _min_fee(name: str, value: object) -> int:
    return knob_count(name, value)


@dataclass(slots=True)
class ChainKnobs(ValidatedKnobs):
    """The emulated chain's fault knobs (module notes)."""

    _validators: ClassVar[dict[str, KnobValidator]] = {
        "revert_next": knob_count,
        "drop_next": knob_count,
        "nonce_gap_next": knob_count,
        "min_priority_fee_gwei": _min_fee,
    }
    _kind: ClassVar[str] = "chain knob"

    revert_next: int = 0
    drop_next: int = 0
    nonce_gap_next: int = 0
    min_priority_fee_gwei: int = 25


@dataclass(slots=True)
class _Transaction:
    hash: bytes
    sender: str
    nonce: int
    to: str
    data: bytes
    gas: int
    max_fee: int
    max_tip: int
    raw_type: int


@dataclass(slots=True)
class Receipt:
    """A mined transaction's receipt."""

    tx: _Transaction
    block_number: int
    status: int
    gas_used: int
    effective_gas_price: int
    logs: list[ChainLog] = field(default_factory=list)
    revert_reason: str | None = None

    def as_json(self) -> dict[str, object]:
        return {
            "transactionHash": "0x" + self.tx.hash.hex(),
            "transactionIndex": "0x0",
            "blockNumber": hex(self.block_number),
            "blockHash": _block_hash(self.block_number),
            "from": self.tx.sender.lower(),
            "to": self.tx.to.lower(),
            "status": hex(self.status),
            "gasUsed": hex(self.gas_used),
            "cumulativeGasUsed": hex(self.gas_used),
            "effectiveGasPrice": hex(self.effective_gas_price),
            "type": hex(self.tx.raw_type),
            "contractAddress": None,
            "logsBloom": "0x" + "00" * 256,
            "logs": [_log_json(self.block_number, self.tx.hash, index, log) for index, log in enumerate(self.logs)],
        }


def _log_json(block: int, tx_hash: bytes, index: int, log: ChainLog) -> dict[str, object]:
    return {
        "address": log.address.lower(),
        "topics": topic_hex(log.topics),
        "data": "0x" + log.data.hex(),
        "blockNumber": hex(block),
        "blockHash": _block_hash(block),
        "transactionHash": "0x" + tx_hash.hex(),
        "logIndex": hex(index),
        "removed": False,
    }


def _block_hash(number: int) -> str:
    return "0x" + keccak256(b"emulated block" + number.to_bytes(8)).hex()


class ChainNode:
    """The node state (module notes): accounts' nonces, the pool, blocks and receipts."""

    def __init__(
        self, contracts: ChainContracts, *, clock_ms: Callable[[], int], knobs: ChainKnobs | None = None
    ) -> None:
        self.contracts = contracts
        self.knobs = knobs if knobs is not None else ChainKnobs()
        self._clock_ms = clock_ms
        self._nonces: dict[str, int] = {}
        self._pool: dict[tuple[str, int], _Transaction] = {}
        self._receipts: dict[bytes, Receipt] = {}
        self._logs: list[tuple[int, bytes, int, ChainLog]] = []
        """Every emitted log: (block, transaction hash, index in its transaction, log), in order."""
        self._block_number = _FIRST_BLOCK
        self._block_times: dict[int, int] = {_FIRST_BLOCK: clock_ms() // 1000}

    @property
    def block_number(self) -> int:
        return self._block_number

    def transaction_count(self, address: str, *, pending: bool) -> int:
        sender = to_checksum_address(address)
        count = self._nonces.get(sender, 0)
        if pending:
            while (sender, count) in self._pool:
                count += 1
            if self.knobs.nonce_gap_next > 0:
                self.knobs.nonce_gap_next -= 1
                count += 1
        return count

    def block(self, number: int | None = None) -> dict[str, object]:
        height = self._block_number if number is None else number
        if not _FIRST_BLOCK <= height <= self._block_number:
            raise NodeError(-32602, "unknown block")
        hashes = ["0x" + r.tx.hash.hex() for r in self._receipts.values() if r.block_number == height]
        return {
            "number": hex(height),
            "hash": _block_hash(height),
            "parentHash": _block_hash(height - 1),
            "timestamp": hex(self._block_times.get(height, self._clock_ms() // 1000)),
            "baseFeePerGas": hex(BASE_FEE_WEI),
            "gasLimit": hex(30_000_000),
            "gasUsed": hex(sum(r.gas_used for r in self._receipts.values() if r.block_number == height)),
            "extraData": _EXTRA_DATA,
            "miner": "0x" + "00" * 20,
            "transactions": hashes,
        }

    def simulate(self, sender: str, to: str, data: bytes) -> tuple[bytes, int]:
        """``eth_call`` / ``eth_estimateGas``: the output and the gas a call would use, state unchanged;
        a revert is the node's error code 3 with the ``Error(string)`` data."""
        try:
            outcome = self.contracts.call(sender, to, data, commit=False)
        except Revert as exc:
            raise NodeError(
                3, f"execution reverted: {exc.reason}", "0x" + encode_revert_reason(exc.reason).hex()
            ) from None
        return outcome.output, _INTRINSIC_GAS + outcome.gas_used

    def send_raw(self, raw: bytes) -> bytes:
        """Accept a signed transaction (module notes); its hash, or :class:`NodeError` as a node refuses."""
        tx = _decode_transaction(raw)
        current = self._nonces.get(tx.sender, 0)
        if tx.nonce < current:
            raise NodeError(-32000, f"nonce too low: next nonce {current}, tx nonce {tx.nonce}")
        if tx.hash in self._receipts or any(pooled.hash == tx.hash for pooled in self._pool.values()):
            raise NodeError(-32000, "already known")
        pooled = self._pool.get((tx.sender, tx.nonce))
        if pooled is not None and not _outbids(tx, pooled):
            raise NodeError(-32000, "replacement transaction underpriced")
        if self.knobs.drop_next > 0:
            self.knobs.drop_next -= 1
            self._pool.pop((tx.sender, tx.nonce), None)
            return tx.hash
        self._pool[tx.sender, tx.nonce] = tx
        self._mine()
        return tx.hash

    def receipt(self, tx_hash: bytes) -> Receipt | None:
        return self._receipts.get(tx_hash)

    def transaction(self, tx_hash: bytes) -> dict[str, object] | None:
        """What ``eth_getTransactionByHash`` answers: the pooled or mined transaction, None when unknown."""
        receipt = self._receipts.get(tx_hash)
        tx = receipt.tx if receipt is not None else next((t for t in self._pool.values() if t.hash == tx_hash), None)
        if tx is None:
            return None
        return {
            "hash": "0x" + tx.hash.hex(),
            "from": tx.sender.lower(),
            "to": tx.to.lower(),
            "nonce": hex(tx.nonce),
            "gas": hex(tx.gas),
            "maxFeePerGas": hex(tx.max_fee),
            "maxPriorityFeePerGas": hex(tx.max_tip),
            "input": "0x" + tx.data.hex(),
            "blockNumber": None if receipt is None else hex(receipt.block_number),
        }

    def _mine(self) -> None:
        floor = self.knobs.min_priority_fee_gwei * GWEI
        progressed = True
        while progressed:
            progressed = False
            for (sender, nonce), tx in list(self._pool.items()):
                if nonce != self._nonces.get(sender, 0):
                    continue
                if min(tx.max_tip, tx.max_fee - BASE_FEE_WEI) < floor:
                    continue
                del self._pool[sender, nonce]
                self._execute(tx)
                progressed = True

    def _execute(self, tx: _Transaction) -> None:
        self._block_number += 1
        self._block_times[self._block_number] = self._clock_ms() // 1000
        self._nonces[tx.sender] = tx.nonce + 1
        price = BASE_FEE_WEI + min(tx.max_tip, tx.max_fee - BASE_FEE_WEI)
        receipt = Receipt(tx, self._block_number, 1, _INTRINSIC_GAS, price)
        try:
            if self.knobs.revert_next > 0:
                self.knobs.revert_next -= 1
                raise Revert("emulated revert")
            # Probed first: out of gas must leave no trace, and a committed call cannot be taken back.
            if _INTRINSIC_GAS + self.contracts.call(tx.sender, tx.to, tx.data, commit=False).gas_used > tx.gas:
                receipt.gas_used = tx.gas
                raise Revert("out of gas")
            outcome = self.contracts.call(tx.sender, tx.to, tx.data, commit=True)
            receipt.gas_used += outcome.gas_used
            receipt.logs = outcome.logs
        except Revert as exc:
            receipt.status, receipt.revert_reason, receipt.logs = 0, exc.reason, []
        self.contracts.charge_gas(tx.sender, receipt.gas_used * price)
        self._receipts[tx.hash] = receipt
        self._logs.extend((receipt.block_number, tx.hash, index, log) for index, log in enumerate(receipt.logs))

    def mine_relayed(
        self, relayer: str, wallet: str, calls: Sequence[tuple[str, bytes]], *, refusal: str | None = None
    ) -> Receipt:
        """Mine, in a block of its own, a transaction the relayer's EOA sends for a smart wallet that makes
        ``calls`` as ``wallet``, all or nothing; ``refusal`` is the revert of a wallet that refused it (a wrong
        signature or nonce), so nothing runs. The receipt's status says whether it reverted."""
        nonce = self._nonces.get(relayer, 0)
        self._nonces[relayer] = nonce + 1
        tx_hash = keccak256(b"relayed" + address_word(relayer)[12:] + nonce.to_bytes(8))
        tx = _Transaction(tx_hash, relayer, nonce, wallet, b"", _RELAYED_GAS, BASE_FEE_WEI, 0, 2)
        self._block_number += 1
        self._block_times[self._block_number] = self._clock_ms() // 1000
        receipt = Receipt(tx, self._block_number, 1, _INTRINSIC_GAS, BASE_FEE_WEI)
        try:
            if refusal is not None:
                raise Revert(refusal)
            if self.knobs.revert_next > 0:
                self.knobs.revert_next -= 1
                raise Revert("emulated revert")
            outcome = self.contracts.call_batch(wallet, calls, commit=True)
            receipt.gas_used += outcome.gas_used
            receipt.logs = outcome.logs
        except Revert as exc:
            receipt.status, receipt.revert_reason, receipt.logs = 0, exc.reason, []
        self._receipts[tx_hash] = receipt
        self._logs.extend((receipt.block_number, tx_hash, index, log) for index, log in enumerate(receipt.logs))
        return receipt

    def report_resolution(self, condition: str) -> None:
        """The oracle's ``reportPayouts`` of a market the simulator resolved: a block holding its
        ``ConditionResolution`` log (the emulator's oracle sends no transaction the clients could see)."""
        log = self.contracts.resolution_log(condition)
        if log is None:
            return
        self._block_number += 1
        self._block_times[self._block_number] = self._clock_ms() // 1000
        oracle_tx = keccak256(b"reportPayouts" + self._block_number.to_bytes(8) + condition.encode())
        self._logs.append((self._block_number, oracle_tx, 0, log))

    def logs(
        self, *, from_block: int, to_block: int, addresses: set[str], topic0: set[bytes]
    ) -> list[dict[str, object]]:
        """``eth_getLogs``: logs of the block range, of ``addresses`` and with a topic 0 in ``topic0`` (empty
        sets: any), as a node answers them."""
        # Nothing exists before the emulated chain's first block, so a range from 0 costs only what exists.
        from_block = max(from_block, _FIRST_BLOCK)
        if to_block - from_block > MAX_LOG_BLOCKS:
            raise NodeError(-32005, f"query exceeds max block range {MAX_LOG_BLOCKS}")
        return [
            _log_json(block, tx_hash, index, log)
            for block, tx_hash, index, log in self._logs
            if from_block <= block <= to_block
            and (not addresses or to_checksum_address(log.address) in addresses)
            and (not topic0 or log.topics[0] in topic0)
        ]


def _outbids(new: _Transaction, old: _Transaction) -> bool:
    bump = 100 + _REPLACEMENT_BUMP_PERCENT
    return new.max_tip * 100 >= old.max_tip * bump and new.max_fee * 100 >= old.max_fee * bump


def _decode_transaction(raw: bytes) -> _Transaction:
    """A signed type-0 (EIP-155) or type-2 transaction; anything else is the node's "invalid transaction"."""
    if not raw or len(raw) > MAX_RAW_TRANSACTION_BYTES:
        raise NodeError(-32602, "invalid transaction: empty or too large")
    try:
        if raw[0] == _TYPE2:
            fields = rlp.decode(raw[1:])
            if len(fields) != _TYPE2_FIELDS:
                raise NodeError(-32602, "invalid transaction: a type-2 transaction has 12 fields")
            chain_id, nonce, tip, fee_cap, gas = (_int(f) for f in fields[:5])
            to, data = bytes(fields[5]), bytes(fields[7])
            raw_type = 2
        elif raw[0] >= 0xC0:
            fields = rlp.decode(raw)
            if len(fields) != _LEGACY_FIELDS:
                raise NodeError(-32602, "invalid transaction: a legacy transaction has 9 fields")
            nonce, gas_price, gas = (_int(f) for f in fields[:3])
            to, data, v = bytes(fields[3]), bytes(fields[5]), _int(fields[6])
            chain_id = (v - 35) // 2 if v >= 35 else 0
            tip, fee_cap, raw_type = gas_price - BASE_FEE_WEI, gas_price, 0
        else:
            raise NodeError(-32602, "invalid transaction: unsupported type")
        sender = Account.recover_transaction(raw)
    except NodeError:
        raise
    except Exception as exc:
        raise NodeError(-32602, f"invalid transaction: {type(exc).__name__}") from None
    if chain_id != CHAIN_ID:
        raise NodeError(-32000, f"invalid chain id {chain_id}: this node is chain {CHAIN_ID}")
    if len(to) != 20:
        raise NodeError(-32000, "contract creation is not supported by the emulated chain")
    return _Transaction(
        keccak256(raw),
        to_checksum_address(sender),
        nonce,
        to_checksum_address("0x" + to.hex()),
        data,
        gas,
        fee_cap,
        tip,
        raw_type,
    )


def _int(item: object) -> int:
    if not isinstance(item, bytes):
        raise NodeError(-32602, "invalid transaction: a number field is a list")
    return int.from_bytes(item)
