"""The logs of the contracts polyinfra touches, decoded from a receipt and encoded as the contracts emit them. Pure.

A log is ``(address, topics, data)``: topic 0 is keccak256 of the event's canonical signature, the indexed
fields follow as one 32-byte topic each, and the other fields are ``abi.encode``-d into ``data``. Each event
is listed once in :data:`EVENTS` as its Solidity declaration (venue notes: On chain); topic 0, the field
names and which are indexed are derived from it. The neg-risk adapter reuses the CTF's event names with
other fields, so its events are listed under their own keys (``NegRiskPositionSplit``...) with the
on-chain name kept for the topic.

:func:`decode_log` reads a log from a node (anyone's bytes: a topic count that does not fit the event, data
that does not decode, or more than :data:`MAX_LOG_DATA_BYTES` is a
:class:`~polyinfra.errors.MalformedMessageError`; an unknown topic 0 is answered None, because a receipt
holds other contracts' logs too). :func:`encode_log` is the reverse, for the emulated chain, so that
the logs it emits are those the client decodes.
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

from polyinfra.core.chain_calls import from_abi_value, to_abi_value
from polyinfra.core.eip712 import keccak256
from polyinfra.errors import InvalidValueError, MalformedMessageError

__all__ = [
    "EVENTS",
    "MAX_LOG_DATA_BYTES",
    "ChainLog",
    "DecodedEvent",
    "EventSpec",
    "decode_log",
    "encode_log",
    "topic_hex",
]

MAX_LOG_DATA_BYTES: Final = 64 * 1024
"""Log data longer than this is refused before decoding; every event here is a few hundred bytes."""

_DECLARATION: Final = re.compile(r"(\w+)\((.*)\)")
_TOPIC_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class EventField:
    name: str
    kind: str
    indexed: bool


@dataclass(frozen=True, slots=True)
class EventSpec:
    """One event: its on-chain name, fields and topic 0."""

    name: str
    fields: tuple[EventField, ...]
    topic0: bytes

    @classmethod
    def parse(cls, declaration: str) -> EventSpec:
        match = _DECLARATION.fullmatch(declaration)
        if match is None:
            raise InvalidValueError("not an event declaration", declaration=declaration)
        name, body = match.groups()
        fields = []
        for part in body.split(","):
            words = part.split()
            fields.append(EventField(words[-1], words[0], "indexed" in words[1:-1]))
        signature = f"{name}({','.join(field.kind for field in fields)})"
        return cls(name, tuple(fields), keccak256(signature.encode()))

    @property
    def indexed(self) -> tuple[EventField, ...]:
        return tuple(field for field in self.fields if field.indexed)

    @property
    def unindexed(self) -> tuple[EventField, ...]:
        return tuple(field for field in self.fields if not field.indexed)


@dataclass(frozen=True, slots=True)
class ChainLog:
    """A raw log as a node reports it."""

    address: str
    topics: tuple[bytes, ...]
    data: bytes


@dataclass(frozen=True, slots=True)
class DecodedEvent:
    """A decoded log: the key it is listed under in :data:`EVENTS`, the emitting contract and its fields."""

    event: str
    address: str
    fields: Mapping[str, object]


_DECLARATIONS: Final = {
    "Transfer": "Transfer(address indexed from,address indexed to,uint256 value)",
    "Approval": "Approval(address indexed owner,address indexed spender,uint256 value)",
    "TransferSingle": (
        "TransferSingle(address indexed operator,address indexed from,address indexed to,uint256 id,uint256 value)"
    ),
    "TransferBatch": (
        "TransferBatch(address indexed operator,address indexed from,address indexed to,uint256[] ids,uint256[] values)"
    ),
    "ApprovalForAll": "ApprovalForAll(address indexed owner,address indexed operator,bool approved)",
    "ConditionPreparation": (
        "ConditionPreparation(bytes32 indexed conditionId,address indexed oracle,bytes32 indexed questionId,"
        "uint256 outcomeSlotCount)"
    ),
    "ConditionResolution": (
        "ConditionResolution(bytes32 indexed conditionId,address indexed oracle,bytes32 indexed questionId,"
        "uint256 outcomeSlotCount,uint256[] payoutNumerators)"
    ),
    "PositionSplit": (
        "PositionSplit(address indexed stakeholder,address collateralToken,bytes32 indexed parentCollectionId,"
        "bytes32 indexed conditionId,uint256[] partition,uint256 amount)"
    ),
    "PositionsMerge": (
        "PositionsMerge(address indexed stakeholder,address collateralToken,bytes32 indexed parentCollectionId,"
        "bytes32 indexed conditionId,uint256[] partition,uint256 amount)"
    ),
    "PayoutRedemption": (
        "PayoutRedemption(address indexed redeemer,address indexed collateralToken,"
        "bytes32 indexed parentCollectionId,bytes32 conditionId,uint256[] indexSets,uint256 payout)"
    ),
    "NegRiskPositionSplit": "PositionSplit(address indexed stakeholder,bytes32 indexed conditionId,uint256 amount)",
    "NegRiskPositionsMerge": "PositionsMerge(address indexed stakeholder,bytes32 indexed conditionId,uint256 amount)",
    "NegRiskPayoutRedemption": (
        "PayoutRedemption(address indexed redeemer,bytes32 indexed conditionId,uint256[] amounts,uint256 payout)"
    ),
    "PositionsConverted": (
        "PositionsConverted(address indexed stakeholder,bytes32 indexed marketId,uint256 indexed indexSet,"
        "uint256 amount)"
    ),
    "Wrapped": "Wrapped(address indexed caller,address indexed asset,address indexed to,uint256 amount)",
    "Unwrapped": "Unwrapped(address indexed caller,address indexed asset,address indexed to,uint256 amount)",
}

EVENTS: Final[Mapping[str, EventSpec]] = MappingProxyType(
    {key: EventSpec.parse(declaration) for key, declaration in _DECLARATIONS.items()}
)
"""Every event polyinfra decodes, by key (the on-chain name, or ``NegRisk`` + it for the adapter's own)."""

# Topic 0 is shared where two standards declare the same event (ERC-20 and ERC-721 Transfer); none here do, and
# the neg-risk events differ from the CTF's in their field types, hence in their topic 0.
_BY_TOPIC: Final = MappingProxyType({spec.topic0: key for key, spec in EVENTS.items()})


def encode_log(event: str, address: str, **fields: object) -> ChainLog:
    """The log the contract at ``address`` emits for ``event`` with these field values."""
    spec = EVENTS[event]
    if set(fields) != {field.name for field in spec.fields}:
        raise InvalidValueError("event fields do not match", event=event, given=sorted(fields))
    try:
        topics = [spec.topic0]
        for field in spec.indexed:
            topics.append(abi_encode([field.kind], [to_abi_value(field.kind, fields[field.name])]))
        data = abi_encode(
            [field.kind for field in spec.unindexed],
            [to_abi_value(field.kind, fields[field.name]) for field in spec.unindexed],
        )
    except (EncodingError, TypeError, ValueError, OverflowError) as exc:
        raise InvalidValueError(f"cannot encode {event}: {exc}", event=event) from None
    return ChainLog(address, tuple(topics), data)


def decode_log(log: ChainLog) -> DecodedEvent | None:
    """The event of ``log``, None for a topic 0 not listed here; raises
    :class:`~polyinfra.errors.MalformedMessageError` for a listed event whose topics or data do not fit it."""
    if not log.topics:
        return None
    key = _BY_TOPIC.get(bytes(log.topics[0]))
    if key is None:
        return None
    spec = EVENTS[key]
    if len(log.topics) != 1 + len(spec.indexed):
        raise MalformedMessageError("wrong number of topics for the event", event=key, topics=len(log.topics))
    if len(log.data) > MAX_LOG_DATA_BYTES:
        raise MalformedMessageError("log data too long", event=key, length=len(log.data))
    if any(len(topic) != _TOPIC_BYTES for topic in log.topics):
        raise MalformedMessageError("a topic is 32 bytes", event=key)
    try:
        values: dict[str, object] = {}
        for field, topic in zip(spec.indexed, log.topics[1:], strict=True):
            (value,) = abi_decode([field.kind], bytes(topic))
            values[field.name] = from_abi_value(field.kind, value)
        unindexed = abi_decode([field.kind for field in spec.unindexed], bytes(log.data))
    except (DecodingError, ValueError, OverflowError, TypeError) as exc:
        raise MalformedMessageError(f"log of {key} does not decode: {exc}", event=key) from None
    for field, value in zip(spec.unindexed, unindexed, strict=True):
        values[field.name] = from_abi_value(field.kind, value)
    ordered = {field.name: values[field.name] for field in spec.fields}
    return DecodedEvent(key, log.address, MappingProxyType(ordered))


def topic_hex(topics: Sequence[bytes]) -> list[str]:
    """Topics as the ``0x`` hex strings JSON-RPC carries."""
    return ["0x" + topic.hex() for topic in topics]
