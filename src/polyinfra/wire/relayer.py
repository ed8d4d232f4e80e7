"""The relayer's JSON shapes, byte for byte (venue notes: Relayer): the ``/submit`` body and the answers.

Numbers travel as decimal strings (nonces, gas, values, deadlines). ``/submit`` takes one envelope for every
wallet kind; which optional members it carries depends on the kind (``signatureParams`` for SAFE, SAFE-CREATE and
PROXY, ``depositWalletParams`` for WALLET, nothing to sign for WALLET-CREATE). Two polling shapes coexist: the
legacy ``GET /transaction?id=`` (an array of camelCase records) and the SDK's ``GET
/v1/account/transactions/{id}`` (one snake_case object); polyinfra polls the second.

Every decoder goes through :class:`~polyinfra.wire.json_decoding.JsonDecoder`, so a hostile body ends as
:class:`~polyinfra.errors.MalformedMessageError`; :func:`decimal_field` reads a numeric string with a length bound.
"""

from __future__ import annotations

from typing import Final

import msgspec

from polyinfra.errors import MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "ACCOUNT_TRANSACTION",
    "ERROR_BODY",
    "MAX_RELAYER_BODY_BYTES",
    "NONCE_ANSWER",
    "RELAY_PAYLOAD",
    "STATE_CONFIRMED",
    "STATE_EXECUTED",
    "STATE_FAILED",
    "STATE_INVALID",
    "STATE_MINED",
    "STATE_NEW",
    "SUBMIT_ANSWER",
    "SUBMIT_REQUEST",
    "TERMINAL_STATES",
    "AccountTransaction",
    "BatchCall",
    "DepositWalletParams",
    "ErrorBody",
    "NonceAnswer",
    "RelayPayload",
    "SubmitAnswer",
    "SubmitRequest",
    "decimal_field",
    "encode_submit",
]

MAX_RELAYER_BODY_BYTES: Final = 256 * 1024
"""A relayer body is a few KB (a batch of calls); anything past this is refused by its length."""
_MAX_DIGITS: Final = 78
"""A uint256 has at most 78 decimal digits."""

STATE_NEW: Final = "STATE_NEW"
STATE_EXECUTED: Final = "STATE_EXECUTED"
STATE_MINED: Final = "STATE_MINED"
STATE_CONFIRMED: Final = "STATE_CONFIRMED"
STATE_FAILED: Final = "STATE_FAILED"
STATE_INVALID: Final = "STATE_INVALID"
TERMINAL_STATES: Final = frozenset({STATE_CONFIRMED, STATE_FAILED, STATE_INVALID})


class BatchCall(msgspec.Struct, frozen=True):
    target: str
    value: str
    data: str


class DepositWalletParams(msgspec.Struct, frozen=True, rename="camel"):
    deposit_wallet: str
    deadline: str
    calls: list[BatchCall]


class SubmitRequest(msgspec.Struct, frozen=True, omit_defaults=True, rename="camel"):
    """The ``POST /submit`` body. ``from`` is a Python keyword, hence ``sender`` renamed on the wire."""

    type: str
    sender: str = msgspec.field(name="from")
    to: str = ""
    proxy_wallet: str | None = None
    data: str | None = None
    nonce: str | None = None
    signature: str | None = None
    signature_params: dict[str, str] | None = None
    deposit_wallet_params: DepositWalletParams | None = None
    value: str | None = None
    metadata: str | None = None


class SubmitAnswer(msgspec.Struct, frozen=True):
    transaction_id: str = msgspec.field(name="transactionID")
    state: str = ""
    transaction_hash: str | None = msgspec.field(default=None, name="transactionHash")


class AccountTransaction(msgspec.Struct, frozen=True):
    """``GET /v1/account/transactions/{id}``: the hash is null or empty until the transaction is broadcast."""

    transaction_id: str
    state: str
    transaction_hash: str | None = None
    error_msg: str | None = None


class NonceAnswer(msgspec.Struct, frozen=True):
    """``GET /nonce`` and ``GET /v1/account/transactions/params`` (which also names the wallet)."""

    nonce: str
    address: str | None = None


class RelayPayload(msgspec.Struct, frozen=True):
    """``GET /relay-payload``: the GSN relay to sign for and the proxy's nonce."""

    address: str
    nonce: str


class ErrorBody(msgspec.Struct, frozen=True):
    error: str


SUBMIT_REQUEST: Final[JsonDecoder[SubmitRequest]] = JsonDecoder(
    SubmitRequest, what="relayer submit body", max_bytes=MAX_RELAYER_BODY_BYTES
)
SUBMIT_ANSWER: Final[JsonDecoder[SubmitAnswer]] = JsonDecoder(
    SubmitAnswer, what="relayer submit answer", max_bytes=MAX_RELAYER_BODY_BYTES
)
ACCOUNT_TRANSACTION: Final[JsonDecoder[AccountTransaction]] = JsonDecoder(
    AccountTransaction, what="relayer transaction answer", max_bytes=MAX_RELAYER_BODY_BYTES
)
NONCE_ANSWER: Final[JsonDecoder[NonceAnswer]] = JsonDecoder(
    NonceAnswer, what="relayer nonce answer", max_bytes=MAX_RELAYER_BODY_BYTES
)
RELAY_PAYLOAD: Final[JsonDecoder[RelayPayload]] = JsonDecoder(
    RelayPayload, what="relayer relay-payload answer", max_bytes=MAX_RELAYER_BODY_BYTES
)
ERROR_BODY: Final[JsonDecoder[ErrorBody]] = JsonDecoder(
    ErrorBody, what="relayer error body", max_bytes=MAX_RELAYER_BODY_BYTES
)

_ENCODER: Final = msgspec.json.Encoder()


def encode_submit(request: SubmitRequest) -> bytes:
    """The exact bytes sent, and signed by the builder HMAC (the relayer verifies over the raw body)."""
    return _ENCODER.encode(request)


def decimal_field(text: str, *, what: str) -> int:
    """A non-negative decimal string as an int; :class:`MalformedMessageError` for anything else."""
    if not 0 < len(text) <= _MAX_DIGITS or not text.isascii() or not text.isdigit():
        raise MalformedMessageError(f"the relayer's {what} is not a decimal number", value=text[:_MAX_DIGITS])
    return int(text)
