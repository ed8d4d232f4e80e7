"""Transactions from an EOA: estimated, priced, signed, sent once, awaited, replaced when stuck.

One transaction's life in :meth:`TransactionSender.send`::

    estimate gas ──(revert)──▶ TransactionRevertedError, nothing signed, no nonce used
         │
    reserve a nonce (NonceBook) ─▶ price (EIP-1559 by default, legacy by choice) ─▶ sign ─▶ eth_sendRawTransaction
         │                                                         (refused before the node took it: nonce released)
         ▼
    poll eth_getTransactionReceipt every ``poll_interval_s`` for ``receipt_timeout_s``
         │── status 1 ─▶ SentTransaction (logs decoded)
         │── status 0 ─▶ TransactionRevertedError
         │── a gap below its nonce (a nonce the chain waits for that this sender never used) ─▶ filled
         │       with an empty self-transfer, then waited for again
         │── the node forgot it (eth_getTransactionByHash null) ─▶ sent again, same nonce and fees
         └── still pending ─▶ replaced: same nonce, fees bumped (core/chain_fees), up to ``max_replacements``,
                              then TransactionTimeoutError (the last one may still be mined)

A receipt of *any* of the hashes sent for a nonce settles it (the original can be mined after its
replacement was sent). Time is the injected ``sleep``, so a test drives polling without waiting on a clock.

Idempotency: ``send(..., key=...)`` remembers a caller's key with the nonce and hashes it used. The same
key again returns the settled result, or waits for the one in flight, and never signs a second transaction
(the chain's nonce makes a resend of the same signed bytes harmless; a second *signing* would not be).
The key is held as a :class:`~polyinfra.core.eip712.SigningKey`, which signs digests and never shows itself:
transactions are signed by :mod:`polyinfra.core.transaction_signing`. A wallet of the client facade passes its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from polyinfra.chain.nonces import NonceBook
from polyinfra.chain.once_per_key import OncePerKey
from polyinfra.core.chain_events import ChainLog, DecodedEvent, decode_log
from polyinfra.core.chain_fees import Fees, eip1559_fees, legacy_fees, replacement_fees
from polyinfra.core.eip712 import SigningKey, to_checksum_address
from polyinfra.core.transaction_signing import UnsignedTransaction, sign_transaction
from polyinfra.errors import (
    ChainError,
    MalformedMessageError,
    NonceConflictError,
    TransactionDroppedError,
    TransactionRevertedError,
    TransactionTimeoutError,
)
from polyinfra.net.json_rpc import JsonRpcClient
from polyinfra.obs.redaction import Secret

__all__ = ["POLYGON_CHAIN_ID", "CallSender", "SentTransaction", "TransactionSender", "settled_transaction"]

POLYGON_CHAIN_ID: Final = 137
_GAS_MARGIN_PERCENT: Final = 20
_MAX_RESENDS: Final = 3
_TRANSFER_GAS: Final = 21_000


@dataclass(frozen=True, slots=True)
class SentTransaction:
    """A mined, successful transaction: its hash, nonce, block, gas, fee paid and decoded events."""

    tx_hash: str
    nonce: int
    block_number: int
    gas_used: int
    fee_wei: int
    events: tuple[DecodedEvent, ...]


class CallSender(Protocol):
    """What runs an operation's calls: :class:`TransactionSender` from an EOA, or
    :class:`~polyinfra.chain.relayer.RelayerSender` gaslessly from a Safe, proxy or deposit wallet.
    ``address`` is whoever makes the calls and holds the funds."""

    @property
    def address(self) -> str: ...

    async def estimate_gas(self, to: str, data: bytes) -> int: ...

    async def send(
        self, to: str, data: bytes, *, key: str | None = None, gas: int | None = None
    ) -> SentTransaction: ...


@dataclass(slots=True)
class _Attempt:
    nonce: int
    hashes: list[str] = field(default_factory=list)


class TransactionSender:
    """Sends transactions from the EOA of ``private_key`` through ``rpc`` (module notes).

    ``legacy`` sends type-0 (EIP-155) transactions as the official SDK does instead of type 2;
    ``min_tip_wei`` floors the tip; ``sleep`` is what waits between receipt polls (tests inject their own).
    """

    def __init__(
        self,
        rpc: JsonRpcClient,
        private_key: SigningKey | Secret | str,
        *,
        chain_id: int = POLYGON_CHAIN_ID,
        legacy: bool = False,
        min_tip_wei: int = 0,
        poll_interval_s: float = 2.0,
        receipt_timeout_s: float = 120.0,
        max_replacements: int = 3,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._key = private_key if isinstance(private_key, SigningKey) else SigningKey(private_key)
        self._rpc = rpc
        self._chain_id = chain_id
        self._legacy = legacy
        self._min_tip_wei = min_tip_wei
        self._poll_interval_s = poll_interval_s
        self._polls = max(1, int(receipt_timeout_s / poll_interval_s)) if poll_interval_s > 0 else 1
        self._max_replacements = max_replacements
        self._sleep = sleep
        self.nonces = NonceBook(self._pending_count)
        self._runs: OncePerKey[SentTransaction] = OncePerKey()
        self._chain_checked = False

    @property
    def address(self) -> str:
        return self._key.address

    def __repr__(self) -> str:
        return f"TransactionSender(address={self.address}, chain_id={self._chain_id})"

    async def estimate_gas(self, to: str, data: bytes) -> int:
        """The gas the call needs, with a margin; raises :class:`TransactionRevertedError` if it would revert."""
        answer = await self._rpc.call("eth_estimateGas", {"from": self.address, "to": to, "data": "0x" + data.hex()})
        return _quantity(answer) * (100 + _GAS_MARGIN_PERCENT) // 100

    async def current_fees(self) -> Fees:
        if self._legacy:
            return legacy_fees(_quantity(await self._rpc.call("eth_gasPrice")))
        block, tip = await asyncio.gather(
            self._rpc.call("eth_getBlockByNumber", "latest", False), self._rpc.call("eth_maxPriorityFeePerGas")
        )
        if not isinstance(block, dict):
            raise MalformedMessageError("eth_getBlockByNumber answers a block object")
        return eip1559_fees(_quantity(block.get("baseFeePerGas")), _quantity(tip), min_tip_wei=self._min_tip_wei)

    async def send(self, to: str, data: bytes, *, key: str | None = None, gas: int | None = None) -> SentTransaction:
        """Send one call and wait for it to be mined (module notes)."""

        async def once() -> SentTransaction:
            await self._check_chain()
            gas_limit = gas if gas is not None else await self.estimate_gas(to, data)
            attempt = _Attempt(await self.nonces.reserve())
            return await self._send_and_wait(attempt, to_checksum_address(to), data, gas_limit)

        return await self._runs.run(key, once)

    async def _send_and_wait(self, attempt: _Attempt, to: str, data: bytes, gas: int) -> SentTransaction:
        fees = await self.current_fees()
        raw = self._sign(attempt.nonce, to, data, gas, fees)
        try:
            attempt.hashes.append(await self._rpc.call("eth_sendRawTransaction", raw))
        except (NonceConflictError, MalformedMessageError, TransactionRevertedError, ChainError):
            # The node refused it, so the nonce was not used (or is someone else's: resync).
            self.nonces.release(attempt.nonce)
            await self.nonces.resync()
            raise
        self.nonces.commit(attempt.nonce)
        resends = 0
        for replacement in range(self._max_replacements + 1):
            receipt = await self._await_receipt(attempt.hashes)
            if receipt is not None:
                return settled_transaction(receipt, attempt.nonce)
            if await self._fill_gap(attempt.nonce, fees):
                continue
            if await self._rpc.call("eth_getTransactionByHash", attempt.hashes[-1]) is None and resends < _MAX_RESENDS:
                # Evicted from the pool: the very same signed bytes may go again, the nonce is still ours.
                resends += 1
                attempt.hashes.append(await self._rpc.call("eth_sendRawTransaction", raw))
                continue
            if replacement == self._max_replacements:
                break
            fees = replacement_fees(fees, await self.current_fees())
            raw = self._sign(attempt.nonce, to, data, gas, fees)
            try:
                attempt.hashes.append(await self._rpc.call("eth_sendRawTransaction", raw))
            except NonceConflictError:
                # The previous one was mined meanwhile ("nonce too low"): its receipt settles it.
                continue
        if await self._rpc.call("eth_getTransactionByHash", attempt.hashes[-1]) is None:
            raise TransactionDroppedError("the node dropped the transaction", nonce=attempt.nonce, to=to)
        raise TransactionTimeoutError(
            "no receipt within the wait; the last transaction may still be mined",
            nonce=attempt.nonce,
            tx_hash=attempt.hashes[-1],
            to=to,
        )

    async def _fill_gap(self, nonce: int, fees: Fees) -> bool:
        """Send an empty self-transfer for every nonce below ``nonce`` that the chain still waits for and that
        this sender never used (a node that overstated the pending count leaves such a gap, and the node then
        holds ``nonce`` back for good); whether any was sent."""
        latest = _quantity(await self._rpc.call("eth_getTransactionCount", self.address, "latest"))
        filled = False
        for missing in range(latest, nonce):
            if self.nonces.is_ours(missing):
                continue
            raw = self._sign(missing, self.address, b"", _TRANSFER_GAS, fees)
            try:
                await self._rpc.call("eth_sendRawTransaction", raw)
            except NonceConflictError:
                continue  # filled meanwhile by someone else
            self.nonces.commit(missing)
            filled = True
        return filled

    async def _await_receipt(self, hashes: list[str]) -> dict[str, Any] | None:
        for _ in range(self._polls):
            answers = await self._rpc.batch([("eth_getTransactionReceipt", (tx_hash,)) for tx_hash in hashes])
            for answer in answers:
                if isinstance(answer, dict):
                    return answer
            await self._sleep(self._poll_interval_s)
        return None

    def _sign(self, nonce: int, to: str, data: bytes, gas: int, fees: Fees) -> str:
        tip = None if fees.legacy else fees.max_tip
        tx = UnsignedTransaction(self._chain_id, nonce, to, data, gas, fees.max_fee, tip)
        return "0x" + sign_transaction(self._key, tx).hex()

    async def _pending_count(self) -> int:
        return _quantity(await self._rpc.call("eth_getTransactionCount", self.address, "pending"))

    async def _check_chain(self) -> None:
        if not self._chain_checked:
            chain_id = _quantity(await self._rpc.call("eth_chainId"))
            if chain_id != self._chain_id:
                raise ChainError("the node serves another chain", chain_id=chain_id, expected=self._chain_id)
            self._chain_checked = True


def settled_transaction(receipt: dict[str, Any], nonce: int) -> SentTransaction:
    """A mined transaction's receipt as a :class:`SentTransaction` (its logs decoded), or
    :class:`TransactionRevertedError` for status 0; ``nonce`` is the one it was sent with."""
    tx_hash = str(receipt.get("transactionHash"))
    if _quantity(receipt.get("status")) != 1:
        raise TransactionRevertedError("the transaction reverted on chain", tx_hash=tx_hash, nonce=nonce)
    logs = receipt.get("logs") or []
    if not isinstance(logs, list):
        raise MalformedMessageError("a receipt's logs are a list", tx_hash=tx_hash)
    events = []
    for log in logs:
        decoded = decode_log(_chain_log(log))
        if decoded is not None:
            events.append(decoded)
    gas_used = _quantity(receipt.get("gasUsed"))
    return SentTransaction(
        tx_hash=tx_hash,
        nonce=nonce,
        block_number=_quantity(receipt.get("blockNumber")),
        gas_used=gas_used,
        fee_wei=gas_used * _quantity(receipt.get("effectiveGasPrice", "0x0")),
        events=tuple(events),
    )


def _quantity(value: object) -> int:
    if not isinstance(value, str) or not value.startswith("0x") or len(value) > 66:
        raise MalformedMessageError("expected a hex quantity", value=value)
    try:
        return int(value, 16)
    except ValueError:
        raise MalformedMessageError("expected a hex quantity", value=value) from None


def _chain_log(log: object) -> ChainLog:
    if not isinstance(log, dict):
        raise MalformedMessageError("a receipt log is an object")
    try:
        topics = tuple(bytes.fromhex(str(topic)[2:]) for topic in log.get("topics", []))
        return ChainLog(str(log.get("address")), topics, bytes.fromhex(str(log.get("data", "0x"))[2:]))
    except ValueError:
        raise MalformedMessageError("a receipt log's topics and data are hex") from None
