"""What a proxy wallet, a Safe or a deposit wallet owner signs for a relayed transaction, and where those wallets live.
Pure.

The relayer pays the gas of a transaction that a contract wallet executes on its owner's behalf; the wallet (or
its factory) checks the owner's signature over exactly the call it runs. Each wallet kind has its own recipe
(venue notes: On chain, Relayer), and a signature made by the wrong recipe is refused on chain, not by the relayer:

    kind       what the relayer submits                       what is signed                         signature
    ───────    ────────────────────────────────────────────   ────────────────────────────────────   ──────────────
    SAFE       execTransaction(to, data, operation) on the     EIP-712 SafeTx, domain {chainId,        eth_sign of the
               Safe; several calls → MultiSend, DELEGATECALL   Safe} (no name, no version)            digest, v + 4
    PROXY      proxy([(CALL, to, value, data)…]) on the       keccak("rlx:" ‖ from ‖ factory ‖ data   eth_sign (v 27/28)
               proxy factory, through a GSN v1 relay           ‖ fee ‖ gasPrice ‖ gasLimit ‖ nonce
                                                               ‖ relayHub ‖ relay)
    WALLET     a Batch of calls on the deposit wallet,         EIP-712 Batch{wallet, nonce, deadline,  plain EIP-712
               through the deposit-wallet factory              calls}, domain DepositWallet v1         (v 27/28)
    SAFE-CREATE the Safe factory deploys the owner's Safe      EIP-712 CreateProxy(0, 0, 0), domain    plain EIP-712
                                                               "Polymarket Contract Proxy Factory"

"eth_sign" is the EIP-191 personal-message hash of the 32-byte digest. A Safe tells that form apart from a plain
EIP-712 signature by v: 31/32 instead of 27/28, hence the +4.

Every function here is pure, so the emulated wallets verify with the same recipes the client signs with
(:func:`recover_safe_signer`, :func:`recover_proxy_signer`, :func:`recover_batch_signer`), and each recipe is
checked against the official clients' vectors in the tests.

Deposit wallets are CREATE2 clones made by their factory (ERC-1967 proxies carrying ``(factory, owner)`` as
immutable arguments): :func:`deposit_wallet` derives the address from the owner without the chain, for either the
UUPS implementation or the beacon the factory may use. Proxy and Safe addresses come from
:mod:`polyinfra.core.wallet_addresses`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError

from polyinfra.core.chain_calls import MAX_CALLDATA_BYTES
from polyinfra.core.eip712 import (
    SigningKey,
    address_word,
    domain_separator,
    keccak256,
    recover_address,
    string_word,
    to_checksum_address,
    type_hash,
    typed_data_digest,
    uint256_word,
)
from polyinfra.core.wallet_addresses import WALLET_FACTORIES
from polyinfra.errors import InvalidValueError, MalformedMessageError

__all__ = [
    "DEPOSIT_WALLET_BEACON",
    "DEPOSIT_WALLET_FACTORY",
    "DEPOSIT_WALLET_IMPLEMENTATION",
    "MULTISEND",
    "PROXY_FACTORY",
    "RELAY_HUB",
    "SAFE_FACTORY",
    "Call",
    "Operation",
    "SafeTransaction",
    "batch_digest",
    "decode_multisend",
    "decode_proxy_calls",
    "deposit_wallet",
    "encode_multisend",
    "encode_proxy_calls",
    "eth_sign_digest",
    "proxy_relay_hash",
    "recover_batch_signer",
    "recover_proxy_signer",
    "recover_safe_create_signer",
    "recover_safe_signer",
    "safe_create_digest",
    "safe_transaction",
    "safe_tx_digest",
    "sign_batch",
    "sign_proxy",
    "sign_safe",
    "sign_safe_create",
]

_POLYGON: Final = 137
_ZERO_ADDRESS: Final = "0x" + "00" * 20

MULTISEND: Final = "0xA238CBeb142c10Ef7Ad8442C6D1f9E89e07e7761"
"""Safe's MultiSend: several calls of one Safe transaction run as a DELEGATECALL into it."""
RELAY_HUB: Final = "0xD216153c06E857cD7f72665E0aF1d7D82172F494"
"""The GSN v1 relay hub through which the relayer calls the proxy-wallet factory."""
SAFE_FACTORY: Final = WALLET_FACTORIES[_POLYGON].safe.address
PROXY_FACTORY: Final = "0xaB45c5A4B0c941a2F231C04C3f49182e1A254052"
DEPOSIT_WALLET_FACTORY: Final = "0x00000000000Fb5C9ADea0298D729A0CB3823Cc07"
"""The deposit-wallet factory, the same on Polygon and Amoy: the ``to`` of every WALLET transaction."""
DEPOSIT_WALLET_IMPLEMENTATION: Final = "0x58CA52ebe0DadfdF531Cde7062e76746de4Db1eB"
DEPOSIT_WALLET_BEACON: Final = "0x7A18EDfe055488A3128f01F563e5B479D92ffc3a"

_SAFE_DOMAIN_TYPE_HASH: Final = type_hash("EIP712Domain(uint256 chainId,address verifyingContract)")
_SAFE_TX_TYPE_HASH: Final = type_hash(
    "SafeTx(address to,uint256 value,bytes data,uint8 operation,uint256 safeTxGas,uint256 baseGas,"
    "uint256 gasPrice,address gasToken,address refundReceiver,uint256 nonce)"
)
_CREATE_DOMAIN_TYPE_HASH: Final = type_hash("EIP712Domain(string name,uint256 chainId,address verifyingContract)")
_CREATE_PROXY_TYPE_HASH: Final = type_hash("CreateProxy(address paymentToken,uint256 payment,address paymentReceiver)")
_SAFE_FACTORY_NAME: Final = "Polymarket Contract Proxy Factory"
_CALL_TYPE: Final = "Call(address target,uint256 value,bytes data)"
_CALL_TYPE_HASH: Final = type_hash(_CALL_TYPE)
_BATCH_TYPE_HASH: Final = type_hash("Batch(address wallet,uint256 nonce,uint256 deadline,Call[] calls)" + _CALL_TYPE)
_DEPOSIT_WALLET_DOMAIN: Final = ("DepositWallet", "1")

_MULTISEND_SELECTOR: Final = keccak256(b"multiSend(bytes)")[:4]
_PROXY_SELECTOR: Final = keccak256(b"proxy((uint8,address,uint256,bytes)[])")[:4]
_PROXY_CALLS_TYPE: Final = "(uint8,address,uint256,bytes)[]"
_PROXY_CALL: Final = 1
"""typeCode 1 = CALL in the proxy wallet's call list (2 would be DELEGATECALL, which polyinfra never sends)."""
_RELAY_PREFIX: Final = b"rlx:"
_PERSONAL_PREFIX: Final = b"\x19Ethereum Signed Message:\n32"
_SAFE_ETH_SIGN_V_SHIFT: Final = 4
_MULTISEND_HEADER: Final = 1 + 20 + 32 + 32

# The init code of a Solady ERC-1967 clone with immutable arguments: prefix (its 2-byte length slot is the
# arguments' length), then the implementation (or beacon) address, then fixed runtime bytes, then the arguments.
_UUPS_PREFIX: Final = 0x61003D3D8160233D3973
_UUPS_TAIL: Final = bytes.fromhex(
    "6009"
    "5155f3363d3d373d3d363d7f360894a13ba1a3210667c828492db98dca3e2076"
    "cc3735a920a3ca505d382bbc545af43d6000803e6038573d6000fd5b3d6000f3"
)
_BEACON_PREFIX: Final = 0x6100523D8160233D3973
_BEACON_TAIL: Final = bytes.fromhex(
    "60195155f3363d3d373d3d363d602036600436635c60da"
    "1b60e01b36527fa3f0ad74e5423aebfd80d3ef4346578335a9a72aeaee59ff6c"
    "b3582b35133d50545afa5036515af43d6000803e604d573d6000fd5b3d6000f3"
)
_ARGS_LENGTH_SHIFT: Final = 56


class Operation(IntEnum):
    """A Safe transaction's operation."""

    CALL = 0
    DELEGATECALL = 1


@dataclass(frozen=True, slots=True)
class Call:
    """One contract call a wallet makes: its target, calldata and the native value sent (always 0 here)."""

    to: str
    data: bytes
    value: int = 0


@dataclass(frozen=True, slots=True)
class SafeTransaction:
    """What a Safe executes for a list of calls: the target, calldata and operation it signs over."""

    to: str
    data: bytes
    operation: Operation


# --- Safe ---------------------------------------------------------------------------------------------------------


def encode_multisend(calls: Sequence[Call]) -> bytes:
    """``multiSend(bytes)`` calldata over ``operation ‖ to ‖ value ‖ length ‖ data`` of each call (all CALLs)."""
    packed = b"".join(
        bytes((Operation.CALL,))
        + address_word(call.to)[12:]
        + uint256_word(call.value)
        + uint256_word(len(call.data))
        + call.data
        for call in calls
    )
    return _MULTISEND_SELECTOR + abi_encode(["bytes"], [packed])


def decode_multisend(data: bytes) -> list[Call]:
    """The calls inside ``multiSend`` calldata; :class:`MalformedMessageError` for anything else, including a
    DELEGATECALL inside (the emulated Safe runs plain calls only, as polyinfra sends them)."""
    if len(data) > MAX_CALLDATA_BYTES or data[:4] != _MULTISEND_SELECTOR:
        raise MalformedMessageError("not multiSend(bytes) calldata", length=len(data))
    try:
        (packed,) = abi_decode(["bytes"], data[4:], strict=False)
    except (DecodingError, ValueError, OverflowError):
        raise MalformedMessageError("multiSend calldata does not decode") from None
    calls = []
    offset = 0
    while offset < len(packed):
        header = packed[offset : offset + _MULTISEND_HEADER]
        if len(header) < _MULTISEND_HEADER:
            raise MalformedMessageError("a multiSend entry is cut short", offset=offset)
        if header[0] != Operation.CALL:
            raise MalformedMessageError("a multiSend entry is not a CALL", operation=header[0])
        length = int.from_bytes(header[53:85])
        body = packed[offset + _MULTISEND_HEADER : offset + _MULTISEND_HEADER + length]
        if len(body) != length:
            raise MalformedMessageError("a multiSend entry's data is cut short", offset=offset, length=length)
        calls.append(Call(to_checksum_address("0x" + header[1:21].hex()), body, int.from_bytes(header[21:53])))
        offset += _MULTISEND_HEADER + length
    return calls


def safe_transaction(calls: Sequence[Call]) -> SafeTransaction:
    """One call is executed directly; several go through MultiSend by DELEGATECALL."""
    if not calls:
        raise InvalidValueError("a relayed transaction makes at least one call")
    if len(calls) == 1:
        return SafeTransaction(to_checksum_address(calls[0].to), calls[0].data, Operation.CALL)
    return SafeTransaction(MULTISEND, encode_multisend(calls), Operation.DELEGATECALL)


def safe_tx_digest(transaction: SafeTransaction, *, safe: str, nonce: int, chain_id: int = _POLYGON) -> bytes:
    """The EIP-712 digest of a SafeTx with every gas and refund field zero, as the relayer's Safes run them."""
    separator = keccak256(_SAFE_DOMAIN_TYPE_HASH + uint256_word(chain_id) + address_word(safe))
    zero_address = address_word(_ZERO_ADDRESS)
    struct_hash = keccak256(
        _SAFE_TX_TYPE_HASH
        + address_word(transaction.to)
        + uint256_word(0)
        + keccak256(transaction.data)
        + uint256_word(transaction.operation)
        + uint256_word(0) * 3
        + zero_address * 2
        + uint256_word(nonce)
    )
    return typed_data_digest(separator, struct_hash)


def eth_sign_digest(digest: bytes) -> bytes:
    """The EIP-191 personal-message hash of a 32-byte digest: what ``eth_sign`` / ``personal_sign`` signs."""
    return keccak256(_PERSONAL_PREFIX + digest)


def sign_safe(key: SigningKey, digest: bytes) -> bytes:
    """The packed r ‖ s ‖ v Safe signature of a SafeTx digest: eth_sign style, v shifted to 31/32."""
    signature = key.sign_digest(eth_sign_digest(digest))
    return signature[:64] + bytes((signature[64] + _SAFE_ETH_SIGN_V_SHIFT,))


def recover_safe_signer(digest: bytes, signature: bytes) -> str:
    """The owner a Safe would recover from ``signature``: v 31/32 means eth_sign of the digest, v 27/28 a plain
    signature of it. :class:`InvalidSignatureError` otherwise."""
    if len(signature) == 65 and signature[64] in (31, 32):
        return recover_address(eth_sign_digest(digest), signature[:64] + bytes((signature[64] - 4,)))
    return recover_address(digest, signature)


def safe_create_digest(*, factory: str = SAFE_FACTORY, chain_id: int = _POLYGON) -> bytes:
    """The EIP-712 digest the owner signs to have the Safe factory deploy its Safe (no payment)."""
    separator = keccak256(
        _CREATE_DOMAIN_TYPE_HASH + string_word(_SAFE_FACTORY_NAME) + uint256_word(chain_id) + address_word(factory)
    )
    zero_address = address_word(_ZERO_ADDRESS)
    struct_hash = keccak256(_CREATE_PROXY_TYPE_HASH + zero_address + uint256_word(0) + zero_address)
    return typed_data_digest(separator, struct_hash)


def sign_safe_create(key: SigningKey, *, factory: str = SAFE_FACTORY, chain_id: int = _POLYGON) -> bytes:
    return key.sign_digest(safe_create_digest(factory=factory, chain_id=chain_id))


def recover_safe_create_signer(signature: bytes, *, factory: str = SAFE_FACTORY, chain_id: int = _POLYGON) -> str:
    return recover_address(safe_create_digest(factory=factory, chain_id=chain_id), signature)


# --- proxy wallets --------------------------------------------------------------------------------------------------


def encode_proxy_calls(calls: Sequence[Call]) -> bytes:
    """``proxy((uint8 typeCode, address to, uint256 value, bytes data)[])`` calldata, every call a CALL."""
    if not calls:
        raise InvalidValueError("a relayed transaction makes at least one call")
    rows = [(_PROXY_CALL, to_checksum_address(call.to), call.value, call.data) for call in calls]
    return _PROXY_SELECTOR + abi_encode([_PROXY_CALLS_TYPE], [rows])


def decode_proxy_calls(data: bytes) -> list[Call]:
    """The calls inside ``proxy(...)`` calldata; :class:`MalformedMessageError` for anything else (a
    DELEGATECALL included)."""
    if len(data) > MAX_CALLDATA_BYTES or data[:4] != _PROXY_SELECTOR:
        raise MalformedMessageError("not proxy((uint8,address,uint256,bytes)[]) calldata", length=len(data))
    try:
        (rows,) = abi_decode([_PROXY_CALLS_TYPE], data[4:], strict=False)
    except (DecodingError, ValueError, OverflowError):
        raise MalformedMessageError("proxy calldata does not decode") from None
    calls = []
    for type_code, to, value, body in rows:
        if type_code != _PROXY_CALL:
            raise MalformedMessageError("a proxy call is not a CALL", type_code=type_code)
        calls.append(Call(to_checksum_address(to), bytes(body), value))
    return calls


def proxy_relay_hash(
    *, signer: str, data: bytes, gas_limit: int, nonce: int, relay: str, factory: str = PROXY_FACTORY
) -> bytes:
    """The GSN v1 relay request hash over raw bytes; relayer fee and gas price are zero for Polymarket's relayer."""
    return keccak256(
        _RELAY_PREFIX
        + address_word(signer)[12:]
        + address_word(factory)[12:]
        + data
        + uint256_word(0)
        + uint256_word(0)
        + uint256_word(gas_limit)
        + uint256_word(nonce)
        + address_word(RELAY_HUB)[12:]
        + address_word(relay)[12:]
    )


def sign_proxy(key: SigningKey, relay_hash: bytes) -> bytes:
    """eth_sign of the relay hash, v 27/28."""
    return key.sign_digest(eth_sign_digest(relay_hash))


def recover_proxy_signer(relay_hash: bytes, signature: bytes) -> str:
    return recover_address(eth_sign_digest(relay_hash), signature)


# --- deposit wallets ------------------------------------------------------------------------------------------------


def batch_digest(*, wallet: str, nonce: int, deadline: int, calls: Sequence[Call], chain_id: int = _POLYGON) -> bytes:
    """The EIP-712 digest of a deposit wallet's Batch of calls, valid until ``deadline`` (unix seconds)."""
    call_hashes = b"".join(
        keccak256(_CALL_TYPE_HASH + address_word(call.to) + uint256_word(call.value) + keccak256(call.data))
        for call in calls
    )
    struct_hash = keccak256(
        _BATCH_TYPE_HASH + address_word(wallet) + uint256_word(nonce) + uint256_word(deadline) + keccak256(call_hashes)
    )
    name, version = _DEPOSIT_WALLET_DOMAIN
    return typed_data_digest(domain_separator(name, version, chain_id, wallet), struct_hash)


def sign_batch(key: SigningKey, digest: bytes) -> bytes:
    """A plain EIP-712 signature of the Batch digest."""
    return key.sign_digest(digest)


def recover_batch_signer(digest: bytes, signature: bytes) -> str:
    return recover_address(digest, signature)


def deposit_wallet(
    owner: str,
    *,
    factory: str = DEPOSIT_WALLET_FACTORY,
    implementation: str = DEPOSIT_WALLET_IMPLEMENTATION,
    beacon: str | None = None,
) -> str:
    """The deposit wallet the factory deploys for ``owner`` (checksummed): the UUPS clone of ``implementation``,
    or with ``beacon`` the beacon clone (the factory's choice when its ``BEACON()`` is set and the UUPS address has
    no code yet)."""
    args = abi_encode(["address", "bytes32"], [to_checksum_address(factory), address_word(owner)])
    if beacon is None:
        init_code = _clone_init_code(_UUPS_PREFIX, implementation, _UUPS_TAIL, args)
    else:
        init_code = _clone_init_code(_BEACON_PREFIX, beacon, _BEACON_TAIL, args)
    digest = keccak256(b"\xff" + address_word(factory)[12:] + keccak256(args) + keccak256(init_code))
    return to_checksum_address("0x" + digest[12:].hex())


def _clone_init_code(prefix: int, target: str, tail: bytes, args: bytes) -> bytes:
    return (prefix + (len(args) << _ARGS_LENGTH_SHIFT)).to_bytes(10) + address_word(target)[12:] + tail + args
