"""``polyinfra keys derive``, ``order place | post | cancel | list | get``, ``balance``, ``trades``
and ``doctor``.

Every command talks to the emulator at ``http://127.0.0.1:8080`` unless ``--rest`` names another
host (the venue: ``https://clob.polymarket.com``). The signing key comes from
``POLYINFRA_PRIVATE_KEY`` only (a flag would leave it in shell history and ``ps``). API credentials
come from ``POLYINFRA_API_KEY`` / ``POLYINFRA_API_SECRET`` / ``POLYINFRA_API_PASSPHRASE`` when all
three are set, and are otherwise created or derived from the key (venue notes: API keys).

Output is JSON on stdout, one object per line (``trades`` without ``--json``: one plain line per
trade); failures are one line on stderr (exit 2 for bad input, 1 otherwise, 130 for Ctrl-C during
``order place``, which names the order that may be live). Only ``keys derive --show-secret`` ever
prints a secret, and only to stdout. Commands run once, so they do not retry a host that never
answered (a wrong ``--rest`` or a stopped emulator is said at once, with the cause).

``doctor`` checks a wallet setup against the two refusals users meet most (venue notes: Wallets, Failure modes):
"invalid signature" (signature type vs funder, the API key's address, the exchange an order must
be signed for) and "not enough balance / allowance" (balance vs open orders, allowances to the V2
spenders, the venue's balance cache). A BUY spends through the exchange it is signed for, so with
``--token`` only that market's exchange allowance is checked (the neg-risk exchange's matters only
for neg-risk markets); without it, both are. Each finding says what is wrong and how to fix it; the
exit code is 0 when there is none and 1 otherwise.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, TypeVar

import typer

from polyinfra.cli.options import (
    API_KEY_ENV,
    API_PASSPHRASE_ENV,
    API_SECRET_ENV,
    COMMAND_LOG_LEVEL,
    EMULATOR_REST_URL,
    EMULATOR_RPC_URL,
    KEY_EPILOG,
    ONE_SHOT_RETRY,
    JsonOption,
    LogLevelOption,
    RestOption,
    RpcOption,
    configure_command_logging,
    credentials_from_environment,
)
from polyinfra.cli.order_posting import (
    answer_fields,
    exact_units,
    explained_balance_refusal,
    post_signed_lines,
    print_json,
)
from polyinfra.cli.orders import key_from_environment, order_app, renamed_parameters
from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.eip712 import SigningKey, to_checksum_address
from polyinfra.core.order_builder import OrderStamper, build_order, wall_clock_ms
from polyinfra.core.order_signing import EXCHANGE_CONTRACTS, POLYGON_CHAIN_ID, sign_order
from polyinfra.core.wallet_addresses import derived_maker, proxy_wallet, safe_wallet
from polyinfra.errors import (
    AuthError,
    InsufficientBalanceError,
    InvalidValueError,
    PolyinfraError,
)
from polyinfra.model.numbers import MICROS, Side
from polyinfra.model.orders import SignatureType, TimeInForce
from polyinfra.wire.clob_user import TradeRecord

if TYPE_CHECKING:
    # httpx and eth-abi come with these: imported where a command runs, not to build --help.
    from polyinfra.clob.trading import BalanceAllowance, CancelResult, OpenOrder, TradingClient
    from polyinfra.core.approvals import Intent
    from polyinfra.net.http import HttpTransport

__all__ = ["Finding", "WalletSetup", "register_trading_commands", "setup_findings"]

_T = TypeVar("_T")


_SIGNATURE_TYPE_HELP = "0 EOA, 1 POLY_PROXY (Magic/email), 2 POLY_GNOSIS_SAFE (browser wallet), 3 POLY_1271."
_FUNDER_HELP = (
    "Address holding the funds: the deposit wallet for 3; for 1 and 2 the proxy / Safe derived from the key "
    "(the default); omit for EOA."
)

SignatureTypeOption = Annotated[int, typer.Option("--signature-type", help=_SIGNATURE_TYPE_HELP)]
FunderOption = Annotated[str | None, typer.Option("--funder", help=_FUNDER_HELP)]
NonceOption = Annotated[int, typer.Option("--nonce", help="API-key nonce: 0 unless the key has several API keys.")]

keys_app = typer.Typer(name="keys", help="API keys (L1).", no_args_is_help=True, rich_markup_mode=None)


# --- sessions ----------------------------------------------------------------------------------


def _signature_type(value: int) -> SignatureType:
    try:
        return SignatureType(value)
    except ValueError:
        raise InvalidValueError("--signature-type must be 0, 1, 2 or 3", signature_type=value) from None


async def trading_session(
    transport: HttpTransport, signature_type: SignatureType, nonce: int, key: SigningKey | None = None
) -> TradingClient:
    """A client with credentials: from the environment, else created or derived from the key."""
    from polyinfra.clob.trading import TradingClient

    key = key if key is not None else key_from_environment(os.environ)
    credentials = credentials_from_environment(os.environ)
    client = TradingClient(transport, key, credentials=credentials, signature_type=signature_type)
    if credentials is None:
        await client.create_or_derive_api_key(nonce)
    return client


def _run(command: str, rest: str, work: Callable[[HttpTransport], Awaitable[_T]]) -> _T:
    """Run ``work`` over a transport to ``rest``; failures as one line on stderr (exit 2 bad input, 1 other)."""
    from polyinfra.net.http import HttpTransport

    async def main() -> _T:
        async with HttpTransport(rest, retry=ONE_SHOT_RETRY) as transport:
            return await work(transport)

    try:
        return asyncio.run(main())
    except InvalidValueError as error:
        typer.echo(f"polyinfra {command}: {error}", err=True)
        raise typer.Exit(2) from None
    except PolyinfraError as error:
        typer.echo(f"polyinfra {command}: {error}", err=True)
        raise typer.Exit(1) from None


# --- keys ------------------------------------------------------------------------------------


@keys_app.command("derive", epilog=KEY_EPILOG)
def derive(
    *,
    rest: RestOption = EMULATOR_REST_URL,
    nonce: NonceOption = 0,
    show_secret: Annotated[
        bool, typer.Option("--show-secret", help="Also print the secret and passphrase (to stdout only).")
    ] = False,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Print the API key of POLYINFRA_PRIVATE_KEY.

    Created, or derived when it exists; the secrets only with --show-secret.
    """
    from polyinfra.clob.trading import TradingClient

    configure_command_logging(log_level)

    async def work(transport: HttpTransport) -> ApiCredentials:
        client = TradingClient(transport, key_from_environment(os.environ))
        return await client.create_or_derive_api_key(nonce)

    credentials = _run("keys derive", rest, work)
    shown = {"api_key": credentials.api_key}
    if show_secret:
        shown |= {"secret": credentials.secret.reveal(), "passphrase": credentials.passphrase.reveal()}
    print_json(shown)


# --- orders ----------------------------------------------------------------------------------


def place(
    *,
    token: Annotated[str, typer.Option("--token", help="Token id of the outcome.")],
    side: Annotated[Side, typer.Option("--side", help="BUY or SELL.")],
    price: Annotated[str, typer.Option("--price", help="Limit (or worst) price, e.g. 0.55.")],
    size: Annotated[str, typer.Option("--size", help="Shares; for a FOK/FAK BUY, dollars to spend.")],
    order_type: Annotated[TimeInForce, typer.Option("--type", help="GTC, GTD, FOK or FAK.")] = TimeInForce.GTC,
    post_only: Annotated[bool, typer.Option("--post-only", help="Refuse to take liquidity.")] = False,
    expiration: Annotated[int, typer.Option("--expiration", help="Unix seconds (GTD only).")] = 0,
    signature_type: SignatureTypeOption = 0,
    funder: FunderOption = None,
    rest: RestOption = EMULATOR_REST_URL,
    nonce: NonceOption = 0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Build, sign and post one order; prints the venue's answer."""
    from polyinfra.clob.rest import ClobRestClient

    configure_command_logging(log_level)
    kind = _signature_type(signature_type)
    # Market orders spend dollars on a BUY (venue notes: Amounts); the one number given is read as such.
    dollars = not order_type.rests and side is Side.BUY
    in_flight: list[str] = []
    """The order's hash once it is signed: known before anything is sent, so an interrupted post
    can say which order to look for."""

    async def work(transport: HttpTransport) -> dict[str, object]:
        key = key_from_environment(os.environ)
        client = await trading_session(transport, kind, nonce, key)
        async with ClobRestClient(rest, transport=transport) as public:
            market = await public.get_clob_market_info(await public.get_market_by_token(token))
        # Without --funder, the only wallet the venue accepts for the signature type (a deposit wallet is not derived).
        maker = to_checksum_address(funder) if funder else derived_maker(kind, key.address, chain_id=client.chain_id)
        if maker is None:
            raise InvalidValueError("--signature-type 3 (POLY_1271) needs --funder: the deposit wallet with the funds")
        try:
            built = build_order(
                token_id=token,
                side=side,
                price=price,
                size=None if dollars else size,
                amount=size if dollars else None,
                maker=maker,
                signer=None if kind in (SignatureType.EOA, SignatureType.POLY_1271) else client.address,
                signature_type=kind,
                time_in_force=order_type,
                post_only=post_only,
                expiration_s=expiration,
                market=market,
                stamper=OrderStamper(wall_clock_ms),
                floor=False,
            )
        except InvalidValueError as error:
            raise renamed_parameters(error, _PLACE_FLAGS) from None
        signed = sign_order(built.order, key, chain_id=client.chain_id)
        in_flight.append(signed.order_hash)
        try:
            answer = await client.post_order(signed, order_type=order_type, post_only=post_only)
        except InsufficientBalanceError as refusal:
            raise await explained_balance_refusal(client, signed, refusal) from None
        return answer_fields(answer)

    try:
        print_json(_run("order place", rest, work))
    except KeyboardInterrupt:
        _report_interrupted_place(in_flight, rest)


_PLACE_FLAGS: Final = {"expiration_s": "--expiration", "post_only": "--post-only", "time_in_force": "--type"}
"""build_order's parameter names as ``order place`` spells them: a user never sees the Python API."""

_INTERRUPTED: Final = 130
"""The shell's exit code for a command ended by SIGINT (128 + 2)."""


def _report_interrupted_place(in_flight: list[str], rest: str) -> None:
    """What Ctrl-C during ``order place`` leaves behind: the order may be live if it was sent."""
    if not in_flight:
        typer.echo("polyinfra order place: interrupted before the order was sent", err=True)
        raise typer.Exit(_INTERRUPTED)
    where = "" if rest == EMULATOR_REST_URL else f" --rest {rest}"
    order_hash = in_flight[0]
    typer.echo(
        f"polyinfra order place: interrupted while posting order {order_hash}: it may be live. "
        f"Check with: polyinfra order get {order_hash}{where} (or polyinfra order list{where}); "
        f"cancel with: polyinfra order cancel {order_hash}{where}",
        err=True,
    )
    raise typer.Exit(_INTERRUPTED)


def post(
    *,
    file: Annotated[
        Path | None,
        typer.Option("--file", help="Read the orders from this file, not stdin.", exists=True, dir_okay=False),
    ] = None,
    order_type: Annotated[TimeInForce, typer.Option("--type", help="GTC, GTD, FOK or FAK.")] = TimeInForce.GTC,
    post_only: Annotated[bool, typer.Option("--post-only", help="Refuse to take liquidity.")] = False,
    rest: RestOption = EMULATOR_REST_URL,
    nonce: NonceOption = 0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Post the orders `order sign` wrote, 15 per request.

    One signed order per line in; one JSON result per order out.
    """
    configure_command_logging(log_level)
    from polyinfra.clob.rest import ClobRestClient

    async def work(transport: HttpTransport) -> tuple[int, int]:
        client = await trading_session(transport, SignatureType.EOA, nonce)
        async with ClobRestClient(rest, transport=transport) as public:
            if file is None:
                return await post_signed_lines(sys.stdin.buffer, client, public, order_type, post_only)
            with file.open("rb") as lines:
                return await post_signed_lines(lines, client, public, order_type, post_only)

    unreadable, refused = _run("order post", rest, work)
    if unreadable:
        raise typer.Exit(2)
    if refused:
        raise typer.Exit(1)


def cancel(
    *,
    order_id: Annotated[str | None, typer.Argument(help="The order id (hash) to cancel.")] = None,
    all_orders: Annotated[bool, typer.Option("--all", help="Cancel every open order of the key.")] = False,
    market: Annotated[str | None, typer.Option("--market", help="Cancel every order of this condition id.")] = None,
    rest: RestOption = EMULATOR_REST_URL,
    nonce: NonceOption = 0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Cancel one order, all (--all) or a market's (--market).

    Prints what was cancelled; exits 1 when the venue did not cancel one.
    """
    configure_command_logging(log_level)
    if sum((order_id is not None, all_orders, market is not None)) != 1:
        typer.echo("polyinfra order cancel: give exactly one of ORDER_ID, --all, --market", err=True)
        raise typer.Exit(2)

    async def work(transport: HttpTransport) -> CancelResult:
        client = await trading_session(transport, SignatureType.EOA, nonce)
        if all_orders:
            return await client.cancel_all()
        if market is not None:
            return await client.cancel_market(market=market)
        assert order_id is not None  # exactly one of the three, checked above
        return await client.cancel(order_id)

    result = _run("order cancel", rest, work)
    print_json({"canceled": result.canceled, "not_canceled": result.not_canceled})
    for refused_id, reason in result.not_canceled.items():
        typer.echo(f"polyinfra order cancel: {refused_id} not canceled: {reason}", err=True)
    if result.not_canceled:
        raise typer.Exit(1)


def list_orders(
    *,
    market: Annotated[str | None, typer.Option("--market", help="Only this condition id.")] = None,
    token: Annotated[str | None, typer.Option("--token", help="Only this token id.")] = None,
    rest: RestOption = EMULATOR_REST_URL,
    nonce: NonceOption = 0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Print every open order of the key, one JSON object per line."""
    configure_command_logging(log_level)

    async def work(transport: HttpTransport) -> list[OpenOrder]:
        client = await trading_session(transport, SignatureType.EOA, nonce)
        return [order async for order in client.iter_open_orders(market=market, asset_id=token)]

    for order in _run("order list", rest, work):
        print_json(_order_fields(order))


def get_order(
    *,
    order_id: Annotated[str, typer.Argument(help="The order id (hash).")],
    rest: RestOption = EMULATOR_REST_URL,
    nonce: NonceOption = 0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Print one order of the key (open, filled or cancelled) as JSON."""
    configure_command_logging(log_level)

    async def work(transport: HttpTransport) -> OpenOrder:
        client = await trading_session(transport, SignatureType.EOA, nonce)
        return await client.get_order(order_id)

    print_json(_order_fields(_run("order get", rest, work)))


def _order_fields(order: OpenOrder) -> dict[str, object]:
    return {
        "id": order.id,
        "market": order.market,
        "asset_id": order.asset_id,
        "side": order.side,
        "price": order.price,
        "original_size": order.original_size,
        "size_matched": order.size_matched,
        "status": order.status,
    }


# --- balances and trades -----------------------------------------------------------------------


def balance(
    *,
    token: Annotated[str | None, typer.Option("--token", help="Also this token's shares.")] = None,
    signature_type: SignatureTypeOption = 0,
    rest: RestOption = EMULATOR_REST_URL,
    nonce: NonceOption = 0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Print the wallet's balance and allowances, exact.

    pUSD, and with --token the token's shares too.
    """
    configure_command_logging(log_level)
    from polyinfra.clob.trading import AssetType

    kind = _signature_type(signature_type)

    async def work(transport: HttpTransport) -> list[dict[str, object]]:
        client = await trading_session(transport, kind, nonce)
        held = [("pUSD", await client.get_balance_allowance(AssetType.COLLATERAL))]
        if token is not None:
            held.append((token, await client.get_balance_allowance(AssetType.CONDITIONAL, token_id=token)))
        # Read here, inside _run: an amount the venue garbled is a one-line error like any other.
        return [
            {
                "asset": asset,
                "balance": exact_units(amounts.balance, "balance"),
                "allowances": {
                    spender: exact_units(allowance, "allowance") for spender, allowance in amounts.allowances.items()
                },
            }
            for asset, amounts in held
        ]

    for row in _run("balance", rest, work):
        print_json(row)


def trades(
    *,
    market: Annotated[str | None, typer.Option("--market", help="Only this condition id.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="At most this many trades.")] = 100,
    json_output: JsonOption = False,
    rest: RestOption = EMULATOR_REST_URL,
    nonce: NonceOption = 0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Print the key's trades: a line each, or JSON with --json."""
    configure_command_logging(log_level)

    async def work(transport: HttpTransport) -> list[TradeRecord]:
        client = await trading_session(transport, SignatureType.EOA, nonce)
        found: list[TradeRecord] = []
        async for trade in client.iter_trades(market=market):
            found.append(trade)
            if len(found) == limit:
                break
        return found

    for trade in _run("trades", rest, work):
        if json_output:
            print_json(
                {
                    "id": trade.id,
                    "market": trade.market,
                    "asset_id": trade.asset_id,
                    "side": trade.side,
                    "price": trade.price,
                    "size": trade.size,
                    "status": trade.status,
                    "trader_side": trade.trader_side,
                    "fee_rate_bps": trade.fee_rate_bps,
                    "match_time": trade.match_time,
                }
            )
        else:
            typer.echo(
                f"{trade.match_time} {trade.side:<4} {trade.size} @ {trade.price} {trade.status} "
                f"{trade.trader_side.lower()} {trade.asset_id} {trade.id}"
            )


# --- doctor ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WalletSetup:
    """What ``doctor`` looked at. Amounts are micro-units (6 decimals) as the venue reports them."""

    signer: str
    signature_type: SignatureType
    funder: str | None
    api_key_address_matches: bool | None
    """Whether the API credentials in use belong to ``signer`` (None: not checked)."""
    collateral: BalanceAllowance
    refreshed_collateral: BalanceAllowance
    """The same after ``GET /balance-allowance/update``: a difference means the cache was stale."""
    reserved_collateral_micros: int
    """pUSD that open BUY orders hold: ``(original_size - size_matched) x price`` each."""
    open_orders: int
    neg_risk: bool | None = None
    """The token's market is neg-risk (None: no token given)."""
    exchange: str | None = None
    """The exchange the user signs for (None: not given)."""
    chain_id: int = POLYGON_CHAIN_ID


@dataclass(frozen=True, slots=True)
class Finding:
    """One reason the venue would refuse: its answer, what is wrong, how to fix it."""

    refusal: str
    problem: str
    fix: str
    approvals: tuple[Intent, ...] = ()
    """The intents whose missing approvals are the fix (``doctor --fix`` grants them from an EOA)."""


_INVALID_SIGNATURE: Final = "invalid signature"
_NOT_ENOUGH: Final = "not enough balance / allowance"


def setup_findings(setup: WalletSetup) -> list[Finding]:
    """Every reason, found in ``setup``, for "invalid signature" or "not enough balance / allowance"."""
    return [*_signature_findings(setup), *_balance_findings(setup)]


def _signature_findings(setup: WalletSetup) -> list[Finding]:
    findings: list[Finding] = []
    kind, funder, signer = setup.signature_type, setup.funder, setup.signer
    funder_is_signer = funder is not None and funder.lower() == signer.lower()
    if kind is SignatureType.EOA and funder is not None and not funder_is_signer:
        findings.append(
            Finding(
                _INVALID_SIGNATURE,
                f"signature type 0 (EOA) with funder {funder}: an EOA order's maker must be the signer {signer}",
                "drop --funder to trade the EOA's own funds, or use --signature-type 1 (Magic/email proxy) or 2 "
                "(browser-wallet Safe) when the funds are in that proxy / Safe",
            )
        )
    if kind is SignatureType.POLY_1271 and funder is None:
        findings.append(
            Finding(
                _INVALID_SIGNATURE,
                "signature type 3 (POLY_1271) without a funder: the maker must be the deposit wallet holding the funds",
                "pass --funder with the deposit wallet address shown on polymarket.com (Settings)",
            )
        )
    if kind in (SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE):
        findings.extend(_derived_wallet_findings(kind, signer, funder, setup.chain_id))
    if setup.api_key_address_matches is False:
        findings.append(
            Finding(
                _INVALID_SIGNATURE,
                f"the API credentials in use do not belong to the signer {signer} (the venue answers 401, or "
                "'the order signer address has to be the address of the API KEY')",
                f"derive the key of this signer (polyinfra keys derive), or unset {API_KEY_ENV}/{API_SECRET_ENV}/"
                f"{API_PASSPHRASE_ENV}",
            )
        )
    if setup.neg_risk is not None and setup.exchange is not None:
        contracts = EXCHANGE_CONTRACTS[setup.chain_id]
        expected = contracts.neg_risk_exchange_v2 if setup.neg_risk else contracts.exchange_v2
        if setup.exchange.lower() != expected.lower():
            market_kind = "neg-risk" if setup.neg_risk else "normal (not neg-risk)"
            findings.append(
                Finding(
                    _INVALID_SIGNATURE,
                    f"the token's market is {market_kind}, so orders must be signed for exchange {expected}, "
                    f"not {setup.exchange}",
                    "read neg_risk from GET /neg-risk (or the market) before signing; polyinfra's build_order does",
                )
            )
    return findings


def _derived_wallet_findings(kind: SignatureType, signer: str, funder: str | None, chain_id: int) -> list[Finding]:
    """A proxy or Safe order is the venue's only when its maker is the wallet derived from the signer."""
    wallet, derive = ("proxy wallet", proxy_wallet) if kind is SignatureType.POLY_PROXY else ("Safe", safe_wallet)
    try:
        expected = derive(signer, chain_id=chain_id)
    except InvalidValueError as error:
        return [
            Finding(
                _INVALID_SIGNATURE,
                f"signature type {int(kind)} ({kind.name}) on chain {chain_id}: {error.message}",
                "use the signature type of the wallet that holds the funds on this chain",
            )
        ]
    if funder is None:
        problem = f"signature type {int(kind)} ({kind.name}) without a funder: the maker must be the signer's {wallet}"
    elif funder.lower() != expected.lower():
        problem = (
            f"funder {funder} is not the {wallet} of signer {signer}: the venue takes a {kind.name} order only "
            f"from the {wallet} derived from its signer, {expected}"
        )
    else:
        return []
    return [
        Finding(
            _INVALID_SIGNATURE,
            problem,
            f"use --funder {expected}; funds held elsewhere (another signer's wallet, a Safe deployed through "
            "another factory) cannot be traded with this key and signature type",
        )
    ]


def _balance_findings(setup: WalletSetup) -> list[Finding]:
    from polyinfra.core.approvals import Intent

    findings: list[Finding] = []
    before, after = setup.collateral, setup.refreshed_collateral
    if (before.balance, before.allowances) != (after.balance, after.allowances):
        findings.append(
            Finding(
                _NOT_ENOUGH,
                f"the venue's balance cache was stale: it said {exact_units(before.balance)} pUSD, the chain "
                f"{exact_units(after.balance)} pUSD",
                "doctor refreshed it (GET /balance-allowance/update); call it after deposits and fills, then retry",
            )
        )
    balance = int(after.balance)
    available = balance - setup.reserved_collateral_micros
    if available <= 0:
        findings.append(
            Finding(
                _NOT_ENOUGH,
                f"balance {exact_units(balance)} pUSD, of which {exact_units(setup.reserved_collateral_micros)} is "
                f"held by {setup.open_orders} open orders: nothing is left for a new BUY",
                "cancel open orders (polyinfra order cancel --all) or deposit pUSD to the funder",
            )
        )
    contracts = EXCHANGE_CONTRACTS[setup.chain_id]
    allowances = {spender.lower(): amount for spender, amount in after.allowances.items()}
    exchanges = (
        ("exchange", contracts.exchange_v2, False),
        ("neg-risk exchange", contracts.neg_risk_exchange_v2, True),
    )
    for name, spender, for_neg_risk in exchanges:
        # A BUY spends through the exchange it is signed for, so with a token given only that
        # market's exchange matters; without one, both may (venue notes: Hosts and contracts).
        if setup.neg_risk is not None and setup.neg_risk is not for_neg_risk:
            continue
        allowance = int(allowances.get(spender.lower(), "0"))
        if allowance < balance or allowance == 0:
            markets = "neg-risk" if for_neg_risk else "normal (not neg-risk)"
            findings.append(
                Finding(
                    _NOT_ENOUGH,
                    f"pUSD allowance to the V2 {name} {spender} is {exact_units(allowance)}, below the balance "
                    f"{exact_units(balance)}: BUYs on {markets} markets needing more are refused",
                    f"approve pUSD for {spender} from the funder: `polyinfra approve` does it for an EOA (and "
                    "refreshes the venue's cache); Polymarket's site does it on a smart wallet's first trade; "
                    "V1 allowances do not carry over to V2",
                    (Intent.TRADE_NEG_RISK if for_neg_risk else Intent.TRADE,),
                )
            )
    return findings


async def _inspect(
    transport: HttpTransport,
    *,
    signature_type: SignatureType,
    funder: str | None,
    token: str | None,
    exchange: str | None,
    nonce: int,
    rest: str,
) -> WalletSetup:
    from polyinfra.clob.rest import ClobRestClient
    from polyinfra.clob.trading import AssetType, BalanceAllowance, TradingClient

    key = key_from_environment(os.environ)
    client = await trading_session(transport, signature_type, nonce, key)
    matches: bool | None = None
    if credentials_from_environment(os.environ) is not None:
        # Credentials from elsewhere: the key this signer derives must be the one in use.
        own = TradingClient(transport, key)
        try:
            matches = (await own.derive_api_key(nonce)).api_key == client.credentials.api_key  # type: ignore[union-attr]
        except AuthError:
            matches = False
    try:
        collateral = await client.get_balance_allowance(AssetType.COLLATERAL)
    except AuthError:
        # Credentials the venue refuses: nothing more can be read with them.
        collateral = BalanceAllowance("0")
        matches = False
        return WalletSetup(key.address, signature_type, funder, matches, collateral, collateral, 0, 0)
    await client.update_balance_allowance(AssetType.COLLATERAL)
    refreshed = await client.get_balance_allowance(AssetType.COLLATERAL)
    reserved, count = 0, 0
    async for order in client.iter_open_orders():
        count += 1
        if order.side == Side.BUY.value:
            remaining = Decimal(order.original_size) - Decimal(order.size_matched)
            reserved += int(remaining * Decimal(order.price) * MICROS)
    neg_risk = None
    if token is not None:
        async with ClobRestClient(rest, transport=transport) as public:
            neg_risk = await public.get_neg_risk(token)
    return WalletSetup(
        signer=key.address,
        signature_type=signature_type,
        funder=funder,
        api_key_address_matches=matches,
        collateral=collateral,
        refreshed_collateral=refreshed,
        reserved_collateral_micros=reserved,
        open_orders=count,
        neg_risk=neg_risk,
        exchange=exchange,
        chain_id=client.chain_id,
    )


def doctor(
    *,
    signature_type: SignatureTypeOption = 0,
    funder: FunderOption = None,
    token: Annotated[str | None, typer.Option("--token", help="A token you trade: checks its exchange.")] = None,
    exchange: Annotated[
        str | None, typer.Option("--exchange", help="The exchange address your orders are signed for.")
    ] = None,
    fix: Annotated[
        bool,
        typer.Option(
            "--fix",
            help="Apply the fix found for a missing approval (an EOA sends the approvals over --rpc); without it, "
            "doctor asks first when run in a terminal.",
        ),
    ] = False,
    rest: RestOption = EMULATOR_REST_URL,
    rpc: RpcOption = EMULATOR_RPC_URL,
    nonce: NonceOption = 0,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Explain "invalid signature" and "not enough balance".

    Checks the wallet setup against the venue's two most common refusals, with the fix for each; a missing
    approval it can apply itself (--fix, or yes at its question in a terminal), then checks again.
    """
    configure_command_logging(log_level)
    kind = _signature_type(signature_type)

    async def work(transport: HttpTransport) -> WalletSetup:
        return await _inspect(
            transport, signature_type=kind, funder=funder, token=token, exchange=exchange, nonce=nonce, rest=rest
        )

    from polyinfra.core.approvals import Intent

    findings = _diagnose(_run("doctor", rest, work))
    intents = tuple(intent for intent in Intent if any(intent in finding.approvals for finding in findings))
    if intents and _fix_wanted(kind, intents, asked=fix):
        from polyinfra.cli.chain_commands import apply_approvals

        sent = apply_approvals("doctor", intents, rpc=rpc, rest=rest)
        typer.echo(f"fixed: {sent} approval transactions sent; checking again")
        findings = _diagnose(_run("doctor", rest, work))
    if findings:
        raise typer.Exit(1)
    typer.echo("healthy: no reason for invalid signature or not enough balance / allowance")


def _diagnose(setup: WalletSetup) -> list[Finding]:
    """Print the wallet's state and every finding; return the findings."""
    kind = setup.signature_type
    typer.echo(
        f"signer {setup.signer}, signature type {int(kind)} ({kind.name}), funder {setup.funder or '(none)'}, "
        f"balance {exact_units(setup.refreshed_collateral.balance)} pUSD, {setup.open_orders} open orders holding "
        f"{exact_units(setup.reserved_collateral_micros)} pUSD"
    )
    findings = setup_findings(setup)
    for finding in findings:
        typer.echo(f'would answer "{finding.refusal}": {finding.problem}\n  fix: {finding.fix}')
    return findings


def _fix_wanted(kind: SignatureType, intents: tuple[Intent, ...], *, asked: bool) -> bool:
    """Whether to grant ``intents``' approvals now: with ``--fix``, or on a yes in a terminal (never a question
    where no one can answer it: a pipe or a script gets the hint instead)."""
    what = ", ".join(intent.value.replace("-", " ") for intent in intents)
    if kind is not SignatureType.EOA:
        typer.echo(f"the approvals for {what} of a {kind.name} wallet are granted through its wallet, not by doctor")
        return False
    if asked:
        return True
    if sys.stdin.isatty() and sys.stdout.isatty():
        return typer.confirm(f"send the approvals for {what} from this EOA now?", default=False)
    typer.echo(f"`polyinfra doctor --fix` grants the approvals for {what} from this EOA")
    return False


def register_trading_commands(app: typer.Typer) -> None:
    """Add ``keys derive``, ``order place | post | cancel | list | get``, ``balance``, ``trades`` and
    ``doctor`` to ``app``."""
    app.add_typer(keys_app)
    order_app.command("place", epilog=KEY_EPILOG)(place)
    order_app.command("post", epilog=KEY_EPILOG)(post)
    order_app.command("cancel", epilog=KEY_EPILOG)(cancel)
    order_app.command("list", epilog=KEY_EPILOG)(list_orders)
    order_app.command("get", epilog=KEY_EPILOG)(get_order)
    app.command("balance", epilog=KEY_EPILOG)(balance)
    app.command("trades", epilog=KEY_EPILOG)(trades)
    app.command("doctor", epilog=KEY_EPILOG)(doctor)
