"""Ethereum transactions signed with a :class:`~polyinfra.core.eip712.SigningKey`: EIP-1559 (type 2) and legacy
EIP-155, as raw bytes for ``eth_sendRawTransaction``.

Why here and not eth-account's ``sign_transaction``: that one wants the private key itself, and a wallet of the
client keeps only a :class:`~polyinfra.core.eip712.SigningKey`, which signs digests and never shows its key. The
recipes are the standard ones:

* type 2: ``keccak(0x02 ‖ rlp([chainId, nonce, tip, maxFee, gas, to, value, data, []]))`` is signed, and the raw
  transaction is ``0x02 ‖ rlp([...the same nine, yParity, r, s])``;
* legacy (EIP-155): ``keccak(rlp([nonce, gasPrice, gas, to, value, data, chainId, 0, 0]))`` is signed, and the raw
  transaction is ``rlp([nonce, gasPrice, gas, to, value, data, v, r, s])`` with ``v = recid + 35 + 2·chainId``.

Signatures are RFC 6979 and low-s, so the bytes equal eth-account's for the same key and fields.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import rlp

from polyinfra.core.eip712 import SigningKey, keccak256
from polyinfra.errors import InvalidValueError

__all__ = ["UnsignedTransaction", "sign_transaction"]

_TYPE2: Final = 2
_V_OFFSET: Final = 27
_EIP155_OFFSET: Final = 35


@dataclass(frozen=True, slots=True)
class UnsignedTransaction:
    """A contract call's fields. ``max_tip`` None makes it legacy (``max_fee`` is then the gas price)."""

    chain_id: int
    nonce: int
    to: str
    data: bytes
    gas: int
    max_fee: int
    max_tip: int | None = None
    value: int = 0


def sign_transaction(key: SigningKey, tx: UnsignedTransaction) -> bytes:
    """The raw signed transaction (module notes)."""
    to = _address_bytes(tx.to)
    if tx.max_tip is None:
        fields = [tx.nonce, tx.max_fee, tx.gas, to, tx.value, tx.data]
        signature = key.sign_digest(keccak256(rlp.encode([*fields, tx.chain_id, 0, 0])))
        recid = signature[64] - _V_OFFSET
        return bytes(rlp.encode([*fields, recid + _EIP155_OFFSET + 2 * tx.chain_id, *_r_s(signature)]))
    fields = [tx.chain_id, tx.nonce, tx.max_tip, tx.max_fee, tx.gas, to, tx.value, tx.data, []]
    signature = key.sign_digest(keccak256(bytes((_TYPE2,)) + rlp.encode(fields)))
    return bytes((_TYPE2,)) + bytes(rlp.encode([*fields, signature[64] - _V_OFFSET, *_r_s(signature)]))


def _r_s(signature: bytes) -> tuple[int, int]:
    return int.from_bytes(signature[:32]), int.from_bytes(signature[32:64])


def _address_bytes(address: str) -> bytes:
    try:
        raw = bytes.fromhex(address.removeprefix("0x"))
    except ValueError:
        raw = b""
    if len(raw) != 20:
        raise InvalidValueError("a transaction's target is a 20-byte address", to=address)
    return raw
