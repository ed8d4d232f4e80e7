"""Signing CLOB V2 orders (clob.md §5.3): struct hash, order hash (= orderID), signatures, verification.

Pure and fast: the type hashes and each exchange's domain separator are computed once, and one
signature costs two or three keccaks plus one libsecp256k1 ECDSA (bench/order_signing.py). Byte for
byte what py-clob-client-v2 produces (clob.md §6.4; tests/unit/test_signing_differential.py).

Signature types (clob.md §5.1):

* EOA, POLY_PROXY, POLY_GNOSIS_SAFE: the EOA signs the order's EIP-712 digest directly.
* POLY_1271 (deposit wallets): the EOA signs the ERC-7739 ``TypedDataSign`` wrapping of the order
  for the Solady wallet contract, and the signature carries what the contract needs to rebuild it
  (clob.md §5.3): 65-byte ECDSA ‖ app domain separator ‖ contents hash ‖ type string ‖ its length.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType
from typing import Final

from polyinfra.core.eip712 import (
    SIGNATURE_BYTES,
    SigningKey,
    address_word,
    bytes32_word,
    domain_separator,
    keccak256,
    recover_address,
    string_word,
    to_checksum_address,
    type_hash,
)
from polyinfra.errors import InvalidSignatureError, InvalidValueError, MalformedMessageError, SigningError
from polyinfra.model.numbers import Side
from polyinfra.model.orders import SignatureType, UnsignedOrder
from polyinfra.wire.clob_orders import OrderPayload

__all__ = [
    "AMOY_CHAIN_ID",
    "EXCHANGE_CONTRACTS",
    "ORDER_TYPE_HASH",
    "ORDER_TYPE_STRING",
    "POLYGON_CHAIN_ID",
    "ExchangeContracts",
    "ExchangeDomain",
    "SignedOrder",
    "exchange_domain",
    "order_hash",
    "order_payload",
    "order_struct_hash",
    "positions_exchange_domain",
    "recover_order_signer",
    "sign_order",
    "signed_order_from_payload",
    "verify_order_signature",
]

POLYGON_CHAIN_ID: Final = 137
AMOY_CHAIN_ID: Final = 80002

EXCHANGE_NAME: Final = "Polymarket CTF Exchange"

ORDER_TYPE_STRING: Final = (
    "Order(uint256 salt,address maker,address signer,uint256 tokenId,uint256 makerAmount,uint256 takerAmount,"
    "uint8 side,uint8 signatureType,uint256 timestamp,bytes32 metadata,bytes32 builder)"
)
"""The V2 order's EIP-712 encoded type (clob.md §5.3); its field order is the struct hash's."""
ORDER_TYPE_HASH: Final = type_hash(ORDER_TYPE_STRING)

# ERC-7739 nested typed data for the Solady deposit wallet (clob.md §5.3): the wallet's own domain
# is {name "DepositWallet", version "1", chainId, verifyingContract = the wallet, salt 0}.
_TYPED_DATA_SIGN_TYPE_HASH: Final = type_hash(
    "TypedDataSign(Order contents,string name,string version,uint256 chainId,address verifyingContract,bytes32 salt)"
    + ORDER_TYPE_STRING
)
_DEPOSIT_WALLET_NAME_WORD: Final = string_word("DepositWallet")
_DEPOSIT_WALLET_VERSION_WORD: Final = string_word("1")
_ZERO_WORD: Final = bytes(32)
_ORDER_TYPE_TRAILER: Final = ORDER_TYPE_STRING.encode() + len(ORDER_TYPE_STRING).to_bytes(2, "big")
_NESTED_SIGNATURE_BYTES: Final = SIGNATURE_BYTES + 32 + 32 + len(_ORDER_TYPE_TRAILER)

_SIDE_WORDS: Final = {Side.BUY: (0).to_bytes(32, "big"), Side.SELL: (1).to_bytes(32, "big")}
_SIGNATURE_TYPE_WORDS: Final = {kind: int(kind).to_bytes(32, "big") for kind in SignatureType}
_SIGNS_AS_EOA: Final = frozenset({SignatureType.EOA, SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE})


@dataclass(frozen=True, slots=True)
class ExchangeContracts:
    """The CTF exchange contracts of one chain that V2 orders are signed for (clob.md §1.1, V2 1.2.1 config)."""

    exchange_v2: str
    neg_risk_exchange_v2: str
    exchange_v3: str
    """"Polymarket V2 outcomes" exchange, domain version "3", for orders by position id (clob.md §5.3)."""


EXCHANGE_CONTRACTS: Final[Mapping[int, ExchangeContracts]] = MappingProxyType(
    {
        POLYGON_CHAIN_ID: ExchangeContracts(
            exchange_v2="0xE111180000d2663C0091e4f400237545B87B996B",
            neg_risk_exchange_v2="0xe2222d279d744050d28e00520010520000310F59",
            exchange_v3="0xe3333700cA9d93003F00f0F71f8515005F6c00Aa",
        ),
        AMOY_CHAIN_ID: ExchangeContracts(
            exchange_v2="0xE111180000d2663C0091e4f400237545B87B996B",
            neg_risk_exchange_v2="0xe2222d279d744050d28e00520010520000310F59",
            exchange_v3="0x9fE6e61422AdB6F610d8597F9684b16912D50C3D",
        ),
    }
)


@dataclass(frozen=True, slots=True)
class ExchangeDomain:
    """One exchange's EIP-712 domain with its separator computed once."""

    chain_id: int
    verifying_contract: str
    version: str
    separator: bytes


def _contracts(chain_id: int) -> ExchangeContracts:
    contracts = EXCHANGE_CONTRACTS.get(chain_id)
    if contracts is None:
        raise InvalidValueError(
            "no CTF exchange is known on this chain", chain_id=chain_id, known_chains=sorted(EXCHANGE_CONTRACTS)
        )
    return contracts


def _domain(chain_id: int, contract: str, version: str) -> ExchangeDomain:
    return ExchangeDomain(chain_id, contract, version, domain_separator(EXCHANGE_NAME, version, chain_id, contract))


@lru_cache(maxsize=64)
def exchange_domain(chain_id: int, *, neg_risk: bool) -> ExchangeDomain:
    """The V2 exchange domain orders are signed for: the neg-risk exchange for neg-risk markets.

    Signing for the wrong one is a classic "invalid signature" (clob.md §9.1).
    """
    contracts = _contracts(chain_id)
    return _domain(chain_id, contracts.neg_risk_exchange_v2 if neg_risk else contracts.exchange_v2, "2")


@lru_cache(maxsize=16)
def positions_exchange_domain(chain_id: int) -> ExchangeDomain:
    """The V3 ("V2 outcomes") exchange domain, for orders by position id (clob.md §5.3; never neg-risk)."""
    return _domain(chain_id, _contracts(chain_id).exchange_v3, "3")


@dataclass(frozen=True, slots=True)
class SignedOrder:
    """An order with its signature and its hash.

    ``order_hash`` is the EIP-712 digest of the order, ``0x`` + 64 hex: the venue's ``orderID``
    (clob.md §10). ``signature`` is ``0x`` + hex: 65 bytes, or 317 for POLY_1271.
    """

    order: UnsignedOrder
    signature: str
    order_hash: str


def _uint256_words_error(order: UnsignedOrder) -> InvalidValueError:
    # Only reached when int.to_bytes overflowed: find which field, so the error names it.
    for name in ("salt", "token_id", "maker_amount", "taker_amount", "timestamp_ms"):
        value = getattr(order, name)
        if not 0 <= value < 1 << 256:
            return InvalidValueError(f"order {name} does not fit a uint256", field=name, value=value)
    return InvalidValueError("order field does not fit a uint256")


def order_struct_hash(order: UnsignedOrder) -> bytes:
    """``hashStruct(Order)`` of the 11 signed V2 fields; for POLY_1271 also the ``contentsHash``."""
    try:
        encoded = b"".join(
            (
                ORDER_TYPE_HASH,
                order.salt.to_bytes(32, "big"),
                address_word(order.maker),
                address_word(order.signer),
                order.token_id.to_bytes(32, "big"),
                order.maker_amount.to_bytes(32, "big"),
                order.taker_amount.to_bytes(32, "big"),
                _SIDE_WORDS[order.side],
                _SIGNATURE_TYPE_WORDS[order.signature_type],
                order.timestamp_ms.to_bytes(32, "big"),
                bytes32_word(order.metadata),
                bytes32_word(order.builder),
            )
        )
    except OverflowError:
        raise _uint256_words_error(order) from None
    return keccak256(encoded)


def _resolve_domain(order: UnsignedOrder, chain_id: int, domain: ExchangeDomain | None) -> ExchangeDomain:
    if domain is None:
        return exchange_domain(chain_id, neg_risk=order.neg_risk)
    if domain.chain_id != chain_id:
        raise InvalidValueError(
            "exchange domain is for another chain", chain_id=chain_id, domain_chain_id=domain.chain_id
        )
    return domain


def order_hash(order: UnsignedOrder, *, chain_id: int, domain: ExchangeDomain | None = None) -> str:
    """The order's EIP-712 digest, ``0x`` + 64 hex: its ``orderID`` at the venue.

    ``domain`` defaults to the V2 exchange chosen by ``order.neg_risk``; pass
    :func:`positions_exchange_domain` for a V3 order.
    """
    separator = _resolve_domain(order, chain_id, domain).separator
    return "0x" + keccak256(b"\x19\x01" + separator + order_struct_hash(order)).hex()


def _typed_data_sign_digest(separator: bytes, contents_hash: bytes, chain_id: int, wallet: str) -> bytes:
    # ERC-7739 (clob.md §5.3 steps 2-3): the order as `contents` of a TypedDataSign struct under the
    # deposit wallet's own domain fields, signed under the exchange's (the "app") domain.
    struct_hash = keccak256(
        _TYPED_DATA_SIGN_TYPE_HASH
        + contents_hash
        + _DEPOSIT_WALLET_NAME_WORD
        + _DEPOSIT_WALLET_VERSION_WORD
        + chain_id.to_bytes(32, "big")
        + address_word(wallet)
        + _ZERO_WORD
    )
    return keccak256(b"\x19\x01" + separator + struct_hash)


def _check_signer(order: UnsignedOrder, key: SigningKey) -> None:
    # The venue answers all of these with a bare "invalid signature" (clob.md §9.1); say which and why here.
    kind = order.signature_type
    if kind in _SIGNS_AS_EOA:
        if address_word(order.signer) != address_word(key.address):
            raise SigningError(
                f"order signer {order.signer} is not the signing key's address {key.address}: with signature type "
                f"{kind.name} the signer must be the key's EOA. For a Polymarket proxy (POLY_PROXY) or Safe "
                "(POLY_GNOSIS_SAFE) put that wallet in maker (the funder) and the EOA in signer; for a deposit "
                "wallet use POLY_1271",
                expected_signer=key.address,
                order_signer=order.signer,
                maker=order.maker,
                signature_type=kind.name,
            )
        if kind is SignatureType.EOA and address_word(order.maker) != address_word(order.signer):
            raise SigningError(
                f"with signature type EOA the maker must be the signer {order.signer}, not {order.maker}: "
                "if the funds are in a proxy or Safe use POLY_PROXY or POLY_GNOSIS_SAFE",
                maker=order.maker,
                order_signer=order.signer,
                signature_type=kind.name,
            )
    elif address_word(order.maker) != address_word(order.signer):
        raise SigningError(
            f"with signature type POLY_1271 maker and signer must both be the deposit wallet, got maker "
            f"{order.maker} and signer {order.signer}",
            maker=order.maker,
            order_signer=order.signer,
            signature_type=kind.name,
        )


def sign_order(
    order: UnsignedOrder, key: SigningKey, *, chain_id: int, domain: ExchangeDomain | None = None
) -> SignedOrder:
    """Sign ``order`` with ``key`` for the exchange on ``chain_id``.

    The exchange is the V2 one chosen by ``order.neg_risk`` unless ``domain`` says otherwise
    (:func:`positions_exchange_domain` for V3). Raises :class:`SigningError` when the order's
    signer / maker cannot produce a signature the venue accepts: for EOA, POLY_PROXY and
    POLY_GNOSIS_SAFE the signer must be the key's address (and for EOA the maker too); for
    POLY_1271 maker and signer are the deposit wallet whose owner ``key`` is.
    """
    separator = _resolve_domain(order, chain_id, domain).separator
    _check_signer(order, key)
    contents_hash = order_struct_hash(order)
    digest = keccak256(b"\x19\x01" + separator + contents_hash)
    if order.signature_type is SignatureType.POLY_1271:
        inner = key.sign_digest(_typed_data_sign_digest(separator, contents_hash, chain_id, order.signer))
        signature = inner + separator + contents_hash + _ORDER_TYPE_TRAILER
    else:
        signature = key.sign_digest(digest)
    return SignedOrder(order, "0x" + signature.hex(), "0x" + digest.hex())


def _signature_bytes(signature: str) -> bytes:
    try:
        if not signature.startswith("0x"):
            raise ValueError(signature)
        return bytes.fromhex(signature[2:])
    except ValueError:
        raise InvalidSignatureError("signature is not 0x-prefixed hex", length=len(signature)) from None


def recover_order_signer(signed: SignedOrder, *, chain_id: int, domain: ExchangeDomain | None = None) -> str:
    """The checksummed EOA address whose key signed ``signed`` (the emulator's check, clob.md §10).

    The order hash is rebuilt from the fields and must equal ``signed.order_hash``. For POLY_1271
    the nested signature's app domain separator, contents hash and type string must be this
    order's, and the address returned is the deposit wallet's owner, which only the wallet knows.
    Raises :class:`InvalidSignatureError` when any part does not match.
    """
    order = signed.order
    separator = _resolve_domain(order, chain_id, domain).separator
    contents_hash = order_struct_hash(order)
    digest = keccak256(b"\x19\x01" + separator + contents_hash)
    if "0x" + digest.hex() != signed.order_hash.lower():
        raise InvalidSignatureError(
            "order hash does not match the order's fields on this exchange",
            order_hash=signed.order_hash,
            expected_order_hash="0x" + digest.hex(),
        )
    signature = _signature_bytes(signed.signature)
    if order.signature_type is not SignatureType.POLY_1271:
        return recover_address(digest, signature)
    if len(signature) != _NESTED_SIGNATURE_BYTES:
        raise InvalidSignatureError(
            "a POLY_1271 signature must be 317 bytes", length=len(signature), signature_type="POLY_1271"
        )
    inner = signature[:SIGNATURE_BYTES]
    wrapped = signature[SIGNATURE_BYTES:]
    if wrapped[:32] != separator:
        raise InvalidSignatureError("POLY_1271 signature names another exchange domain", signature_type="POLY_1271")
    if wrapped[32:64] != contents_hash:
        raise InvalidSignatureError("POLY_1271 signature wraps another order", signature_type="POLY_1271")
    if wrapped[64:] != _ORDER_TYPE_TRAILER:
        raise InvalidSignatureError("POLY_1271 signature carries another contents type", signature_type="POLY_1271")
    return recover_address(_typed_data_sign_digest(separator, contents_hash, chain_id, order.signer), inner)


def verify_order_signature(signed: SignedOrder, *, chain_id: int, domain: ExchangeDomain | None = None) -> str:
    """Check ``signed`` as the venue does and return the EOA that signed it.

    For EOA / POLY_PROXY / POLY_GNOSIS_SAFE the recovered address must be the order's signer. For
    POLY_1271 the returned owner must still be checked against the deposit wallet by the caller.
    Raises :class:`InvalidSignatureError` naming the recovered and expected addresses.
    """
    recovered = recover_order_signer(signed, chain_id=chain_id, domain=domain)
    order = signed.order
    if order.signature_type in _SIGNS_AS_EOA and address_word(recovered) != address_word(order.signer):
        raise InvalidSignatureError(
            "signature was made by another key than the order's signer",
            recovered_signer=recovered,
            order_signer=to_checksum_address(order.signer),
            signature_type=order.signature_type.name,
        )
    return recovered


def order_payload(signed: SignedOrder) -> OrderPayload:
    """``signed`` as the ``order`` object of ``POST /order`` (clob.md §5.3)."""
    order = signed.order
    return OrderPayload(
        salt=order.salt,
        maker=order.maker,
        signer=order.signer,
        token_id=str(order.token_id),
        maker_amount=str(order.maker_amount),
        taker_amount=str(order.taker_amount),
        side=order.side.value,
        expiration=str(order.expiration_s),
        signature_type=int(order.signature_type),
        timestamp=str(order.timestamp_ms),
        metadata=order.metadata,
        builder=order.builder,
        signature=signed.signature,
    )


def _decimal_field(payload: OrderPayload, name: str) -> int:
    text: str = getattr(payload, name)
    # int() alone would also take "+5", " 5" and "5_000": the venue's decimal strings are digits only.
    if not (text.isascii() and text.isdigit()):
        raise MalformedMessageError("order field is not a decimal string", field=name, value=text)
    return int(text)


def signed_order_from_payload(payload: OrderPayload, *, chain_id: int, neg_risk: bool) -> SignedOrder:
    """A received ``order`` object as a :class:`SignedOrder` (the emulator's side of ``POST /order``).

    ``neg_risk`` is not on the wire: it is the market's, and picks the exchange whose domain the
    order hash is computed under. Raises :class:`MalformedMessageError` for fields that are not
    what the venue accepts; the signature itself is checked by :func:`verify_order_signature`.
    """
    try:
        signature_type = SignatureType(payload.signature_type)
    except ValueError:
        raise MalformedMessageError(
            "unknown signatureType", field="signatureType", value=payload.signature_type
        ) from None
    order = UnsignedOrder(
        salt=payload.salt,
        maker=payload.maker,
        signer=payload.signer,
        token_id=_decimal_field(payload, "token_id"),
        maker_amount=_decimal_field(payload, "maker_amount"),
        taker_amount=_decimal_field(payload, "taker_amount"),
        side=Side(payload.side),
        signature_type=signature_type,
        timestamp_ms=_decimal_field(payload, "timestamp"),
        metadata=payload.metadata,
        builder=payload.builder,
        expiration_s=_decimal_field(payload, "expiration"),
        neg_risk=neg_risk,
    )
    try:
        hash_hex = order_hash(order, chain_id=chain_id)
    except InvalidValueError as error:
        raise MalformedMessageError(f"invalid order: {error}", maker=payload.maker, salt=payload.salt) from None
    return SignedOrder(order, payload.signature, hash_hex)
