"""Calldata of every contract call polyinfra makes on chain, encoded and decoded by one table. Pure.

A call is ``selector ‖ abi.encode(arguments)``, the selector being the first four bytes of keccak256 of the
function's signature. :data:`FUNCTIONS` lists each function polyinfra sends or reads (ERC-20, the CTF's
ERC-1155 and position calls, the neg-risk adapter, the pUSD collateral adapters and ramps;
venue notes: On chain), once, as its signature; the selector and the argument types are derived from it, so a typo
cannot make the two disagree. Encoding goes through eth-abi, the field's ABI codec (on-chain calls are
not a hot path, unlike order signing).

:func:`decode_call` is the reverse, for the emulated chain and for previews: it takes calldata from anyone
and answers the function and its arguments, or :class:`~polyinfra.errors.MalformedMessageError` for bytes
no listed function accepts. Calldata is capped at :data:`MAX_CALLDATA_BYTES` before decoding, so a hostile
transaction cannot cost more work than its size.

Several contracts share a signature (``splitPosition`` on the CTF, the collateral adapters and the
neg-risk adapter's CTF-shaped overload): one entry serves them all, and which contract it is sent to says
what it does.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final

from eth_abi.abi import decode as abi_decode
from eth_abi.abi import encode as abi_encode
from eth_abi.exceptions import DecodingError, EncodingError

from polyinfra.core.eip712 import keccak256, to_checksum_address
from polyinfra.errors import InvalidValueError, MalformedMessageError

__all__ = [
    "FUNCTIONS",
    "MAX_CALLDATA_BYTES",
    "MAX_UINT256",
    "ContractCall",
    "ContractFunction",
    "decode_call",
    "decode_revert_reason",
    "encode_call",
    "encode_revert_reason",
    "from_abi_value",
    "function",
    "to_abi_value",
]

MAX_UINT256: Final = (1 << 256) - 1
"""The "unlimited" ERC-20 approval the official flows use."""
MAX_CALLDATA_BYTES: Final = 64 * 1024
"""Calldata longer than this is refused before decoding; every call here is a few hundred bytes."""

_SIGNATURE: Final = re.compile(r"(\w+)\((.*)\)")
_ERROR_SELECTOR: Final = keccak256(b"Error(string)")[:4]
_MAX_REASON_CHARS: Final = 500


@dataclass(frozen=True, slots=True)
class ContractFunction:
    """One function: its name, ABI argument types and 4-byte selector, from its canonical signature."""

    name: str
    arg_types: tuple[str, ...]
    selector: bytes

    @property
    def signature(self) -> str:
        return f"{self.name}({','.join(self.arg_types)})"

    @classmethod
    def parse(cls, signature: str) -> ContractFunction:
        match = _SIGNATURE.fullmatch(signature)
        if match is None:
            raise InvalidValueError("not a function signature", signature=signature)
        name, args = match.groups()
        # Only flat argument lists are listed here (no tuples), so a comma split is the grammar.
        arg_types = tuple(args.split(",")) if args else ()
        return cls(name, arg_types, keccak256(signature.encode())[:4])


@dataclass(frozen=True, slots=True)
class ContractCall:
    """A decoded call: the function and its arguments (addresses checksummed, bytes32 as ``0x`` hex)."""

    function: ContractFunction
    args: tuple[object, ...]


_SIGNATURES: Final = (
    # ERC-20: USDC.e, USDC, pUSD, WCOL.
    "approve(address,uint256)",
    "allowance(address,address)",
    "balanceOf(address)",
    "transfer(address,uint256)",
    "transferFrom(address,address,uint256)",
    "decimals()",
    # ERC-1155 on the CTF (and the neg-risk adapter's proxied views).
    "setApprovalForAll(address,bool)",
    "isApprovedForAll(address,address)",
    "balanceOf(address,uint256)",
    "balanceOfBatch(address[],uint256[])",
    "safeTransferFrom(address,address,uint256,uint256,bytes)",
    # The CTF's conditions and positions; the collateral adapters keep the same shapes.
    "prepareCondition(address,bytes32,uint256)",
    "reportPayouts(bytes32,uint256[])",
    "splitPosition(address,bytes32,bytes32,uint256[],uint256)",
    "mergePositions(address,bytes32,bytes32,uint256[],uint256)",
    "redeemPositions(address,bytes32,bytes32,uint256[])",
    "payoutNumerators(bytes32,uint256)",
    "payoutDenominator(bytes32)",
    "getOutcomeSlotCount(bytes32)",
    # The neg-risk adapter's own forms.
    "splitPosition(bytes32,uint256)",
    "mergePositions(bytes32,uint256)",
    "redeemPositions(bytes32,uint256[])",
    "convertPositions(bytes32,uint256,uint256)",
    # pUSD's ramps: USDC.e (or USDC) in, pUSD out, and back.
    "wrap(address,address,uint256)",
    "unwrap(address,address,uint256)",
)

FUNCTIONS: Final[Mapping[bytes, ContractFunction]] = MappingProxyType(
    {fn.selector: fn for fn in map(ContractFunction.parse, _SIGNATURES)}
)
"""Every function polyinfra encodes or decodes, by selector."""

_BY_SIGNATURE: Final = MappingProxyType({fn.signature: fn for fn in FUNCTIONS.values()})


def function(signature: str) -> ContractFunction:
    """The listed function of ``signature`` (``"approve(address,uint256)"``)."""
    found = _BY_SIGNATURE.get(signature)
    if found is None:
        raise InvalidValueError("not a function polyinfra calls", signature=signature)
    return found


def encode_call(signature: str, *args: object) -> bytes:
    """``selector ‖ abi.encode(args)`` of a listed function; addresses and bytes32 may be ``0x`` hex strings."""
    fn = function(signature)
    if len(args) != len(fn.arg_types):
        raise InvalidValueError("wrong number of arguments", signature=signature, given=len(args))
    values = [to_abi_value(kind, value) for kind, value in zip(fn.arg_types, args, strict=True)]
    try:
        return fn.selector + abi_encode(list(fn.arg_types), values)
    except (EncodingError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidValueError(f"cannot encode the arguments of {fn.name}: {exc}", signature=signature) from None


def decode_call(data: bytes) -> ContractCall:
    """The listed function ``data`` calls and its arguments; raises
    :class:`~polyinfra.errors.MalformedMessageError` for anything else (module notes)."""
    if len(data) > MAX_CALLDATA_BYTES:
        raise MalformedMessageError("calldata too long", length=len(data))
    fn = FUNCTIONS.get(bytes(data[:4]))
    if fn is None:
        raise MalformedMessageError("unknown function selector", selector="0x" + bytes(data[:4]).hex())
    try:
        decoded = abi_decode(list(fn.arg_types), bytes(data[4:]))
    except (DecodingError, ValueError, OverflowError, TypeError) as exc:
        raise MalformedMessageError(f"calldata of {fn.name} does not decode: {exc}") from None
    return ContractCall(
        fn, tuple(from_abi_value(kind, value) for kind, value in zip(fn.arg_types, decoded, strict=True))
    )


def to_abi_value(kind: str, value: object) -> object:
    """``value`` as eth-abi takes a ``kind``: ``0x`` hex strings of bytes32 and bytes become bytes."""
    if kind == "bytes32" and isinstance(value, str):
        raw = bytes.fromhex(value.removeprefix("0x"))
        if len(raw) != 32:
            raise InvalidValueError("a bytes32 is 32 bytes", value=value)
        return raw
    if kind == "bytes" and isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    if kind.endswith("[]") and isinstance(value, Sequence) and not isinstance(value, str | bytes):
        return [to_abi_value(kind[:-2], item) for item in value]
    return value


def from_abi_value(kind: str, value: object) -> object:
    """An eth-abi value of ``kind`` as polyinfra shows it: checksummed addresses, bytes32 as ``0x`` hex."""
    if kind == "address" and isinstance(value, str):
        return to_checksum_address(value)
    if kind == "bytes32" and isinstance(value, bytes):
        return "0x" + value.hex()
    if kind.endswith("[]") and isinstance(value, tuple):
        return tuple(from_abi_value(kind[:-2], item) for item in value)
    return value


def encode_revert_reason(reason: str) -> bytes:
    """A revert's data as Solidity's ``require``/``revert("…")`` produces it: ``Error(string)``."""
    return _ERROR_SELECTOR + abi_encode(["string"], [reason])


def decode_revert_reason(data: bytes) -> str | None:
    """The text of an ``Error(string)`` revert (cut to 500 characters), None for any other data (a custom
    error, a panic, nothing, or bytes that do not decode)."""
    if len(data) > MAX_CALLDATA_BYTES or data[:4] != _ERROR_SELECTOR:
        return None
    try:
        (reason,) = abi_decode(["string"], bytes(data[4:]))
    except (DecodingError, ValueError, OverflowError, TypeError, UnicodeDecodeError):
        return None
    return str(reason)[:_MAX_REASON_CHARS]
