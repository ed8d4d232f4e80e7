"""Condition, collection and position ids of the Conditional Tokens (CTF) contract, computed as the chain does. Pure.

Every Polymarket outcome token is an ERC-1155 position of the CTF, and its CLOB ``token_id`` is that
position's id. Three derivations lead there (venue notes: On chain)::

    conditionId  = keccak256(oracle ‖ questionId ‖ uint256 outcomeSlotCount)
    collectionId = a point of the alt_bn128 curve derived from keccak256(conditionId ‖ uint256 indexSet)
    positionId   = uint256(keccak256(collateral ‖ collectionId))

The collection id is not a plain hash: the CTF hashes (condition, index set) to a curve x-coordinate,
walks x upwards until x³ + 3 has a square root modulo the field prime, and packs the parity of that root
into bit 254. Collection ids of nested conditions are then added as curve points, which is why the CTF
took the trouble; Polymarket never nests (the parent collection is always zero), but a non-zero parent is
computed here too, by the same point addition. Because the prime is 3 mod 4, a square root is a single
modular power, so nothing beyond integer arithmetic is needed.

Which collateral goes into a position id is the trap of the V2 migration: standard markets' positions are
over USDC.e and neg-risk markets' over the neg-risk adapter's wrapped collateral (WCOL). pUSD, what users
hold and trade with, is never in a position id: the ids computed with it belong to no one, and a redeem
with them succeeds and pays nothing. :func:`position_id` refuses pUSD with
:class:`~polyinfra.errors.PositionCollateralError` for that reason.

Index sets are bitmasks of outcome slots: for a binary market YES is slot 0 (index set 1, ``0b01``) and NO
slot 1 (index set 2, ``0b10``), and the partition every Polymarket split, merge and redeem uses is
``[1, 2]``. Neg-risk markets group binary questions under a market id whose low byte is zero; question
``i`` has id ``marketId + i`` and its condition's oracle is the neg-risk adapter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from functools import lru_cache
from typing import Final

from polyinfra.core.chain_contracts import NEG_RISK_ADAPTER, PUSD, USDC_E, WCOL
from polyinfra.core.eip712 import address_word, bytes32_word, keccak256, to_checksum_address, uint256_word
from polyinfra.errors import InvalidValueError, PositionCollateralError

__all__ = [
    "ALT_BN128_P",
    "BINARY_PARTITION",
    "BinaryPositions",
    "Outcome",
    "binary_positions",
    "check_partition",
    "collection_id",
    "condition_id",
    "neg_risk_condition_id",
    "neg_risk_market_id",
    "neg_risk_question_id",
    "position_collateral",
    "position_id",
]

ALT_BN128_P: Final = 21888242871839275222246405745257275088696311157297823662689037894645226208583
"""The field prime of the alt_bn128 curve y² = x³ + 3 the CTF puts collection ids on."""
_CURVE_B: Final = 3
_SQRT_POWER: Final = (ALT_BN128_P + 1) // 4
_ODD_FLAG: Final = 1 << 254
_TOP_BIT: Final = 1 << 255
_ZERO32: Final = b"\x00" * 32
_MIN_SLOTS: Final = 2
_MAX_SLOTS: Final = 256
_MAX_QUESTION_INDEX: Final = 255

BINARY_PARTITION: Final = (1, 2)
"""YES (index set 0b01) and NO (0b10): the partition of every Polymarket split, merge and redeem."""


class Outcome(IntEnum):
    """The two outcomes of a binary condition, valued as their index sets."""

    YES = 1
    NO = 2


@dataclass(frozen=True, slots=True)
class BinaryPositions:
    """The YES and NO position ids (the CLOB token ids) of a binary condition, and their collateral."""

    condition_id: str
    collateral: str
    yes: int
    no: int

    def of(self, outcome: Outcome) -> int:
        return self.yes if outcome is Outcome.YES else self.no


def condition_id(oracle: str, question_id: str, outcome_slot_count: int) -> str:
    """``keccak256(oracle ‖ questionId ‖ uint256 slots)`` as ``0x`` + 64 hex digits (the CTF's ``getConditionId``)."""
    if not _MIN_SLOTS <= outcome_slot_count <= _MAX_SLOTS:
        raise InvalidValueError("a condition has 2 to 256 outcome slots", outcome_slot_count=outcome_slot_count)
    packed = address_word(oracle)[12:] + bytes32_word(question_id) + uint256_word(outcome_slot_count)
    return "0x" + keccak256(packed).hex()


def collection_id(condition: str, index_set: int, *, parent_collection_id: str | None = None) -> str:
    """The collection id of ``index_set`` of ``condition`` under ``parent_collection_id`` (zero when None),
    as ``0x`` + 64 hex digits (the CTF's ``getCollectionId``)."""
    if not 0 < index_set < _TOP_BIT:
        raise InvalidValueError("an index set is a non-empty bitmask of outcome slots", index_set=index_set)
    return "0x" + _collection(bytes32_word(condition), index_set, _parent(parent_collection_id)).hex()


def position_collateral(*, neg_risk: bool) -> str:
    """The collateral inside a market's position ids: WCOL for neg-risk markets, USDC.e otherwise."""
    return WCOL if neg_risk else USDC_E


def position_id(collateral: str, collection: str) -> int:
    """``uint256(keccak256(collateral ‖ collectionId))``, the ERC-1155 id; pUSD is refused (module notes)."""
    checksummed = to_checksum_address(collateral)
    if checksummed == PUSD:
        raise PositionCollateralError(
            "no position id contains pUSD: standard markets' positions are over USDC.e and neg-risk markets' "
            "over the wrapped collateral; a redeem with a pUSD position id succeeds on chain and pays 0",
            collateral=checksummed,
        )
    return int.from_bytes(keccak256(address_word(checksummed)[12:] + bytes32_word(collection)))


def binary_positions(condition: str, *, neg_risk: bool) -> BinaryPositions:
    """The YES and NO position ids of a binary market's condition, over the collateral its kind uses."""
    collateral = position_collateral(neg_risk=neg_risk)
    word = bytes32_word(condition)
    yes = _position(collateral, _collection(word, Outcome.YES, _ZERO32))
    no = _position(collateral, _collection(word, Outcome.NO, _ZERO32))
    return BinaryPositions("0x" + word.hex(), collateral, yes, no)


def check_partition(partition: tuple[int, ...] | list[int], outcome_slot_count: int) -> bool:
    """Whether ``partition`` is a valid CTF partition of a condition with ``outcome_slot_count`` slots, and
    if so whether it is full (covers every slot, so a split or merge moves collateral rather than a parent
    position). Raises :class:`~polyinfra.errors.InvalidValueError` for what the contract reverts on: fewer
    than two sets, an empty or out-of-range set, or two sets sharing a slot."""
    if not _MIN_SLOTS <= outcome_slot_count <= _MAX_SLOTS:
        raise InvalidValueError("a condition has 2 to 256 outcome slots", outcome_slot_count=outcome_slot_count)
    if len(partition) < _MIN_SLOTS:
        raise InvalidValueError("a partition has at least two index sets", partition=list(partition))
    full = (1 << outcome_slot_count) - 1
    union = 0
    for index_set in partition:
        if not 0 < index_set < full + 1 or index_set == full:
            raise InvalidValueError("an index set must be a proper, non-empty subset of the slots", index_set=index_set)
        if union & index_set:
            raise InvalidValueError("index sets of a partition must be disjoint", partition=list(partition))
        union |= index_set
    return union == full


def neg_risk_market_id(oracle: str, fee_bips: int, metadata: bytes) -> str:
    """A neg-risk market id: ``keccak256(abi.encode(oracle, feeBips, metadata))`` with its low byte cleared,
    so question ids ``marketId + i`` (i < 256) stay inside the market."""
    # abi.encode of (address, uint256, bytes): two head words, the offset of the bytes, then its length and data.
    tail = uint256_word(len(metadata)) + metadata + b"\x00" * (-len(metadata) % 32)
    encoded = address_word(oracle) + uint256_word(fee_bips) + uint256_word(3 * 32) + tail
    return "0x" + (keccak256(encoded)[:31] + b"\x00").hex()


def neg_risk_question_id(market_id: str, question_index: int) -> str:
    """The id of question ``question_index`` of a neg-risk market: the market id plus the index."""
    word = bytes32_word(market_id)
    if word[31] != 0:
        raise InvalidValueError("a neg-risk market id ends in a zero byte", market_id=market_id)
    if not 0 <= question_index <= _MAX_QUESTION_INDEX:
        raise InvalidValueError("a neg-risk market has at most 256 questions", question_index=question_index)
    return "0x" + (word[:31] + bytes([question_index])).hex()


def neg_risk_condition_id(question_id: str) -> str:
    """The condition of a neg-risk question: the neg-risk adapter is its oracle, with two outcome slots."""
    return condition_id(NEG_RISK_ADAPTER, question_id, 2)


def _parent(parent_collection_id: str | None) -> bytes:
    return _ZERO32 if parent_collection_id is None else bytes32_word(parent_collection_id)


def _position(collateral: str, collection: bytes) -> int:
    return int.from_bytes(keccak256(address_word(collateral)[12:] + collection))


@lru_cache(maxsize=4096)
def _collection(condition: bytes, index_set: int, parent: bytes) -> bytes:
    x = int.from_bytes(keccak256(condition + uint256_word(index_set)))
    odd = bool(x & _TOP_BIT)
    y = 0
    while True:
        x = (x + 1) % ALT_BN128_P
        yy = (x * x * x + _CURVE_B) % ALT_BN128_P
        y = pow(yy, _SQRT_POWER, ALT_BN128_P)
        if y * y % ALT_BN128_P == yy:
            break
    if (y & 1) != odd:
        y = ALT_BN128_P - y
    if parent != _ZERO32:
        x, y = _add_points((x, y), _decompress(parent))
    return (x | (_ODD_FLAG if y & 1 else 0)).to_bytes(32)


def _decompress(collection: bytes) -> tuple[int, int]:
    """A collection id back to its curve point (the CTF's decompression of a parent collection)."""
    packed = int.from_bytes(collection)
    odd = bool(packed & _ODD_FLAG)
    x = packed & (_ODD_FLAG - 1)
    if x >= ALT_BN128_P:
        raise InvalidValueError("not a collection id: x is outside the field", collection_id="0x" + collection.hex())
    yy = (x * x * x + _CURVE_B) % ALT_BN128_P
    y = pow(yy, _SQRT_POWER, ALT_BN128_P)
    if y * y % ALT_BN128_P != yy:
        raise InvalidValueError("not a collection id: no curve point", collection_id="0x" + collection.hex())
    if (y & 1) != odd:
        y = ALT_BN128_P - y
    return x, y


def _add_points(first: tuple[int, int], second: tuple[int, int]) -> tuple[int, int]:
    """Affine addition on y² = x³ + 3 over the field (what the CTF's call to precompile 0x06 does)."""
    (x1, y1), (x2, y2) = first, second
    if x1 == x2:
        if (y1 + y2) % ALT_BN128_P == 0:
            raise InvalidValueError("the collections cancel out: the sum is the point at infinity")
        slope = 3 * x1 * x1 * pow(2 * y1, -1, ALT_BN128_P) % ALT_BN128_P
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, ALT_BN128_P) % ALT_BN128_P
    x3 = (slope * slope - x1 - x2) % ALT_BN128_P
    return x3, (slope * (x1 - x3) - y1) % ALT_BN128_P
