"""``polyinfra order sign``: offline order signing, JSON lines in, the venue's ``order`` objects out.

Each input line is one JSON object describing an order::

    {"token_id": "1234", "price": "0.55", "size": "100", "side": "BUY", "tick_size": "0.01", "neg_risk": false}

Required: ``token_id``, ``price``, ``side``, ``tick_size``, ``neg_risk`` and ``size`` (shares; for a
FOK/FAK BUY ``amount``, the dollars to spend, instead). Optional: ``order_type`` (GTC, GTD, FOK,
FAK; default GTC), ``expiration`` (unix seconds, GTD only), ``signature_type`` (0-3 or its name;
default EOA), ``funder`` (the wallet holding the funds: required for POLY_PROXY, POLY_GNOSIS_SAFE
and POLY_1271, the key's own address for EOA), ``builder`` and ``metadata`` (bytes32), ``salt`` and
``timestamp`` (ms) to sign exactly those instead of fresh ones, ``chain_id`` (default 137) and
``min_order_size`` (the market's minimum, checked when given; the venue checks it anyway).

Numbers may be JSON strings or JSON numbers: numbers are read as exact decimals (never floats);
token ids are strings (a JSON integer stops at 64 bits). A line is at most 64 KiB.
A size with more than the venue's 2 decimals is refused rather than floored: an offline signer
must sign exactly what it was told or nothing. Unknown keys are refused, so a typo ("sise") cannot
silently drop a field.

Each output line is exactly the ``order`` object of ``POST /order`` (venue notes: Order signing, Test vectors), keys in
the venue's order, signature included. A line that cannot be signed gets one line on stderr naming
its line number, what is wrong and the fix; the other lines are still signed (a batch should not
lose 999 good orders to one typo), and the exit code is then 2. Blank lines are skipped. The key
comes from ``POLYINFRA_PRIVATE_KEY`` only (a flag would leave it in shell history and ``ps``).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Final, TypeVar

import msgspec
import typer

from polyinfra.cli.options import COMMAND_LOG_LEVEL, PRIVATE_KEY_ENV, LogLevelOption, configure_command_logging
from polyinfra.core.eip712 import SigningKey, to_checksum_address
from polyinfra.core.order_builder import OrderStamper, build_order, wall_clock_ms
from polyinfra.core.order_signing import POLYGON_CHAIN_ID, order_payload, sign_order
from polyinfra.errors import InvalidValueError, MalformedMessageError, PolyinfraError
from polyinfra.model.numbers import Side, TickSize
from polyinfra.model.orders import BYTES32_ZERO, SignatureType, TimeInForce
from polyinfra.obs.redaction import Secret
from polyinfra.wire.json_decoding import JsonDecoder

__all__ = [
    "PRIVATE_KEY_ENV",
    "SignedLine",
    "key_from_environment",
    "order_app",
    "renamed_parameters",
    "sign_order_lines",
    "write_signed",
]

_UINT256_LIMIT: Final = 1 << 256
_REQUIRED: Final = ("token_id", "price", "side", "tick_size", "neg_risk")
_REQUIRED_KEYS: Final = frozenset(_REQUIRED)
_KNOWN_KEYS: Final = frozenset(
    {
        *_REQUIRED,
        "size",
        "amount",
        "order_type",
        "expiration",
        "signature_type",
        "funder",
        "builder",
        "metadata",
        "salt",
        "timestamp",
        "chain_id",
        "min_order_size",
    }
)
_ENCODER: Final = msgspec.json.Encoder()
# One order is a few hundred bytes. float_hook=Decimal: a JSON number such as 0.55 is read from its
# text, exactly; NaN and Infinity are not JSON and are refused with the rest.
_LINE: Final[JsonDecoder[object]] = JsonDecoder(what="the line", max_bytes=64 * 1024, float_hook=Decimal)
_UINT256_DIGITS: Final = len(str(_UINT256_LIMIT - 1))


@dataclass(frozen=True, slots=True)
class SignedLine:
    """The outcome for one input line: ``output`` (the JSON ``order`` object) or ``error``."""

    line_number: int
    output: bytes | None = None
    error: PolyinfraError | None = None


def key_from_environment(environ: Mapping[str, str]) -> SigningKey:
    """The signing key from ``POLYINFRA_PRIVATE_KEY``; :class:`InvalidValueError` (never quoting it) otherwise."""
    text = environ.get(PRIVATE_KEY_ENV, "").strip()
    if not text:
        raise InvalidValueError(f"{PRIVATE_KEY_ENV} is not set: export the signing key (0x + 64 hex digits) in it")
    return SigningKey(Secret(text))


def sign_order_lines(lines: Iterable[bytes | str], key: SigningKey, *, stamper: OrderStamper) -> Iterator[SignedLine]:
    """Sign each non-blank line; a line that fails yields its error and the next line goes on.

    Lines may be bytes: the command reads stdin's bytes, so a line that is not UTF-8 is that line's
    error rather than a decoding failure of the whole stream."""
    for line_number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            yield SignedLine(line_number, output=_sign_line(line, key, stamper))
        except PolyinfraError as error:
            yield SignedLine(line_number, error=error)


def _sign_line(line: bytes | str, key: SigningKey, stamper: OrderStamper) -> bytes:
    fields = _decode(line)
    if not fields.keys() <= _KNOWN_KEYS:
        unknown = sorted(fields.keys() - _KNOWN_KEYS)
        raise InvalidValueError(
            f"unknown key {unknown[0]!r}; the keys are: {', '.join(sorted(_KNOWN_KEYS))}", keys=unknown
        )
    if not fields.keys() >= _REQUIRED_KEYS:
        missing = [name for name in _REQUIRED if name not in fields]
        raise InvalidValueError(f"missing {', '.join(missing)}: every order needs {', '.join(_REQUIRED)}")
    signature_type = _signature_type(fields.get("signature_type", SignatureType.EOA.value))
    maker, signer = _maker_and_signer(signature_type, fields.get("funder"), key.address)
    try:
        built = build_order(
            token_id=_token_id(fields["token_id"]),
            side=_side(fields["side"]),
            price=_number(fields["price"], "price"),
            size=_optional_number(fields.get("size"), "size"),
            amount=_optional_number(fields.get("amount"), "amount"),
            maker=maker,
            signer=signer,
            stamper=stamper,
            time_in_force=_time_in_force(fields.get("order_type", "GTC")),
            expiration_s=_uint(fields.get("expiration", 0), "expiration"),
            tick_size=_tick_size(fields["tick_size"]),
            min_order_size=_number(fields.get("min_order_size", 0), "min_order_size"),
            neg_risk=_bool(fields["neg_risk"], "neg_risk"),
            signature_type=signature_type,
            builder=_text(fields.get("builder", BYTES32_ZERO), "builder"),
            metadata=_text(fields.get("metadata", BYTES32_ZERO), "metadata"),
            floor=False,
        )
    except InvalidValueError as error:
        raise renamed_parameters(error, _LINE_KEYS) from None
    order = built.order
    if "salt" in fields:
        order = dataclasses.replace(order, salt=_uint(fields["salt"], "salt"))
    if "timestamp" in fields:
        order = dataclasses.replace(order, timestamp_ms=_uint(fields["timestamp"], "timestamp"))
    chain_id = _uint(fields.get("chain_id", POLYGON_CHAIN_ID), "chain_id")
    return _ENCODER.encode(order_payload(sign_order(order, key, chain_id=chain_id)))


_LINE_KEYS: Final = {"expiration_s": "expiration", "time_in_force": "order_type"}
"""build_order's parameter names as an input line spells them."""


def renamed_parameters(error: InvalidValueError, names: Mapping[str, str]) -> InvalidValueError:
    """``error`` with the library's parameter names (``expiration_s``) in the words of the command
    that called it (``--expiration``), in its message and its context; the same class."""
    message = error.message
    for name, shown in names.items():
        message = message.replace(name, shown)
    context = {names.get(key, key).lstrip("-").replace("-", "_"): value for key, value in error.context.items()}
    return type(error)(message, retriable=error.retriable, **context)


def _decode(line: bytes | str) -> dict[str, object]:
    try:
        value = _LINE.decode(line)
    except MalformedMessageError as error:
        raise InvalidValueError(
            f"{error.message}: each line must be one JSON object, token ids as strings",
            detail=error.context.get("detail"),
        ) from None
    if not isinstance(value, dict):
        raise InvalidValueError('each line must be one JSON object, e.g. {"token_id": "...", ...}')
    return value


def _number(value: object, name: str) -> Decimal | str | int:
    if isinstance(value, bool) or not isinstance(value, Decimal | str | int):
        raise InvalidValueError(f'{name} must be a decimal string such as "0.55"', field=name, value=value)
    return value


def _optional_number(value: object, name: str) -> Decimal | str | int | None:
    return None if value is None else _number(value, name)


def _uint(value: object, name: str) -> int:
    if isinstance(value, str) and len(value) <= _UINT256_DIGITS and value.isascii() and value.isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _UINT256_LIMIT:
        raise InvalidValueError(f"{name} must be a non-negative integer", field=name, value=value)
    return value


def _token_id(value: object) -> str | int:
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidValueError("token_id must be the token's decimal id, as a string", token_id=value)
    return value


def _text(value: object, name: str) -> str:
    if not isinstance(value, str):
        raise InvalidValueError(f"{name} must be a string", field=name, value=value)
    return value


def _bool(value: object, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidValueError(f"{name} must be true or false", field=name, value=value)
    return value


# Lookups by the exact JSON value, built once: a line is read in microseconds, and an enum's
# constructor or a set of its members rebuilt per line cost more than the rest of the parsing.
# Keyed by (type, value): True == 1 and Decimal("1") == 1 in a dict, and neither is a signature type.
_Member = TypeVar("_Member")
_SIDES: Final[Mapping[tuple[type, object], Side]] = {(str, side.value): side for side in Side}
_TICK_SIZES: Final[Mapping[tuple[type, object], TickSize]] = {(str, tick.text): tick for tick in TickSize}
_TIMES_IN_FORCE: Final[Mapping[tuple[type, object], TimeInForce]] = {(str, kind.value): kind for kind in TimeInForce}
_SIGNATURE_TYPES: Final[Mapping[tuple[type, object], SignatureType]] = {
    **{(str, kind.name): kind for kind in SignatureType},
    **{(int, int(kind)): kind for kind in SignatureType},
}


def _member(table: Mapping[tuple[type, object], _Member], value: object) -> _Member | None:
    # Only a str or int can be a member; a list or dict from the line is not even hashable.
    kind = type(value)
    return table.get((kind, value)) if kind is str or kind is int else None


def _side(value: object) -> Side:
    side = _member(_SIDES, value)
    if side is None:
        raise InvalidValueError('side must be "BUY" or "SELL"', side=value)
    return side


def _tick_size(value: object) -> TickSize:
    tick = _member(_TICK_SIZES, value)
    if tick is not None:
        return tick
    if not isinstance(value, str | Decimal):
        raise InvalidValueError('tick_size must be a string such as "0.01"', tick_size=value)
    return TickSize.parse(value)  # other spellings: ".01", "0.010", a JSON number


def _time_in_force(value: object) -> TimeInForce:
    kind = _member(_TIMES_IN_FORCE, value)
    if kind is None:
        raise InvalidValueError(
            f"order_type must be one of {', '.join(kind.value for kind in TimeInForce)}", order_type=value
        )
    return kind


def _signature_type(value: object) -> SignatureType:
    kind = _member(_SIGNATURE_TYPES, value)
    if kind is None:
        names = ", ".join(f"{kind.value} ({kind.name})" for kind in SignatureType)
        raise InvalidValueError(f"signature_type must be one of {names}", signature_type=value)
    return kind


def _maker_and_signer(signature_type: SignatureType, funder: object, key_address: str) -> tuple[str, str | None]:
    """``(maker, signer)`` for :func:`build_order` from the wallet setup (venue notes: Wallets)."""
    if funder is not None and not isinstance(funder, str):
        raise InvalidValueError("funder must be an address string", funder=funder)
    if signature_type is SignatureType.EOA:
        if funder is not None and funder.lower() != key_address.lower():
            raise InvalidValueError(
                f"with signature type EOA the funder is the key's own address {key_address}; drop funder, or "
                "use POLY_PROXY / POLY_GNOSIS_SAFE when the funds are in a proxy or Safe",
                funder=funder,
            )
        return key_address, None
    if funder is None:
        raise InvalidValueError(
            f"signature type {signature_type.name} needs funder: the address of the wallet holding the funds"
        )
    checksummed = to_checksum_address(funder)
    if signature_type is SignatureType.POLY_1271:
        # The deposit wallet is maker and signer; the key is its owner (venue notes: Order signing).
        return checksummed, None
    return checksummed, key_address


def write_signed(
    results: Iterable[SignedLine], *, write_out: Callable[[bytes], object], write_error: Callable[[str], object]
) -> int:
    """Write each order to ``write_out`` and each failure, one line, to ``write_error``; the count of failures."""
    failures = 0
    for result in results:
        if result.output is not None:
            write_out(result.output + b"\n")
        else:
            failures += 1
            write_error(f"polyinfra order sign: line {result.line_number}: {result.error}")
    return failures


order_app = typer.Typer(
    name="order",
    help="Sign orders offline; place, post, cancel, list and get them.",
    no_args_is_help=True,
    rich_markup_mode=None,
)

_SIGN_EPILOG = (
    "\b\nEach input line is one JSON object:\n"
    '  {"token_id": "1234", "price": "0.55", "size": "100", "side": "BUY",\n'
    '   "tick_size": "0.01", "neg_risk": false}\n'
    "Required: token_id, price, side, tick_size, neg_risk, and size (shares)\n"
    "  or, for a FOK/FAK BUY, amount (the dollars to spend).\n"
    "Optional: order_type (GTC, GTD, FOK, FAK; default GTC), expiration (unix\n"
    "  seconds, GTD only), signature_type (0-3 or its name; default EOA),\n"
    "  funder, builder, metadata, salt, timestamp (ms), chain_id (default\n"
    "  137), min_order_size. Unknown keys are refused.\n\n"
    "\b\nNumbers as strings or JSON numbers (read exactly, never as floats).\n"
    "A line that cannot be signed gets one line on stderr; the other lines\n"
    "are still signed, and the exit code is 2.\n\n"
    f"\b\nEnvironment: {PRIVATE_KEY_ENV}, the signing key (required)."
)


@order_app.command("sign", epilog=_SIGN_EPILOG)
def sign(*, log_level: LogLevelOption = COMMAND_LOG_LEVEL) -> None:
    """Sign orders offline: JSON lines in, signed orders out.

    Reads stdin, writes the venue's order objects to stdout.
    """
    configure_command_logging(log_level)
    try:
        key = key_from_environment(os.environ)
    except InvalidValueError as error:
        typer.echo(f"polyinfra order sign: {error}", err=True)
        raise typer.Exit(2) from None
    stamper = OrderStamper(wall_clock_ms)
    out = sys.stdout.buffer
    failures = write_signed(
        sign_order_lines(sys.stdin.buffer, key, stamper=stamper),
        write_out=out.write,
        write_error=lambda text: typer.echo(text, err=True),
    )
    out.flush()
    if failures:
        raise typer.Exit(2)
