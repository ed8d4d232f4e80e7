"""``polyinfra approve``, ``wrap``, ``unwrap``, ``split``, ``merge``, ``redeem`` and ``convert``: on-chain operations
from the EOA of ``POLYINFRA_PRIVATE_KEY``, or with ``--wallet-type safe|proxy|deposit`` from that key's smart wallet,
gaslessly through the relayer of ``--relayer`` (the wallet is deployed first when it is not yet).

Transactions go to the JSON-RPC node of ``--rpc`` (the local emulator's emulated Polygon by default); the CLOB of
``--rest`` is asked what kind a market is (standard or neg-risk, which picks the adapter) and, after anything that
moved balances, to re-read the chain (``GET /balance-allowance/update``). ``--dry-run`` prints the plan (each
transaction, its gas, what changes) and sends nothing. While a transaction confirms, a progress line goes to
stderr; the result is one JSON object on stdout. Failures are one line on stderr (exit 2 for bad input, 1
otherwise).
"""

from __future__ import annotations

import asyncio
import inspect
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Final, TypeVar

import typer

from polyinfra.cli.options import (
    COMMAND_LOG_LEVEL,
    EMULATOR_REST_URL,
    EMULATOR_RPC_URL,
    KEY_EPILOG,
    ONE_SHOT_RETRY,
    PRIVATE_KEY_ENV,
    LogLevelOption,
    RestOption,
    RpcOption,
    configure_command_logging,
    gathered_options,
    one_line_errors,
)
from polyinfra.cli.order_posting import print_json
from polyinfra.errors import InvalidValueError

if TYPE_CHECKING:
    from polyinfra.chain.operations import ChainOperations, OperationResult
    from polyinfra.chain.relayer import RelayerSender
    from polyinfra.core.approvals import Intent
    from polyinfra.model.orders import SignatureType
    from polyinfra.net.http import HttpTransport
    from polyinfra.net.json_rpc import JsonRpcClient
    from polyinfra.obs.redaction import Secret

__all__ = ["ChainOptions", "chain_options", "register_chain_commands"]

_T = TypeVar("_T")

DryRunOption = Annotated[bool, typer.Option("--dry-run", help="Print the plan (calls, gas, changes); send nothing.")]
LegacyFeesOption = Annotated[
    bool, typer.Option("--legacy-fees", help="Send legacy (type 0) transactions, as the official SDK does.")
]
AmountArgument = Annotated[str, typer.Argument(help="An exact decimal amount, e.g. 25 or 12.5 (6 decimals at most).")]
ConditionArgument = Annotated[str, typer.Argument(help="The market's condition id (0x + 64 hex digits).")]


class WalletChoice(StrEnum):
    """Who makes the calls (``--wallet-type``)."""

    EOA = "eoa"
    SAFE = "safe"
    PROXY = "proxy"
    DEPOSIT = "deposit"


WalletTypeOption = Annotated[
    WalletChoice,
    typer.Option(
        "--wallet-type",
        help="eoa: send from the key's own address (it pays gas). safe, proxy, deposit: act for that smart wallet of "
        "the key, gaslessly through the relayer.",
    ),
]
RelayerOption = Annotated[
    str,
    typer.Option(
        "--relayer",
        metavar="URL",
        envvar="POLYINFRA_RELAYER_URL",
        help="Relayer URL for --wallet-type safe|proxy|deposit (or POLYINFRA_RELAYER_URL); the default is the "
        "local emulator's.",
    ),
]
EMULATOR_RELAYER_URL: Final = f"{EMULATOR_REST_URL}/relayer"
RELAYER_API_KEY_ENV: Final = "POLYINFRA_RELAYER_API_KEY"
BUILDER_ENVS: Final = ("POLYINFRA_BUILDER_API_KEY", "POLYINFRA_BUILDER_SECRET", "POLYINFRA_BUILDER_PASSPHRASE")
GASLESS_EPILOG: Final = (
    "\b\nGasless (--wallet-type safe|proxy|deposit):\n"
    f"  {RELAYER_API_KEY_ENV}  a relayer API key of the key's\n"
    "    address (no daily quota), or\n"
    "  " + ",\n  ".join(BUILDER_ENVS) + "\n"
    "    builder API credentials (a daily quota applies)"
)


@dataclass(frozen=True, slots=True)
class _Via:
    """Who makes the calls: the key's EOA, or one of its smart wallets through the relayer at ``relayer``."""

    wallet_type: str
    relayer: str

    @property
    def signature_type(self) -> SignatureType:
        from polyinfra.model.orders import SignatureType

        return {
            "eoa": SignatureType.EOA,
            "proxy": SignatureType.POLY_PROXY,
            "safe": SignatureType.POLY_GNOSIS_SAFE,
            "deposit": SignatureType.POLY_1271,
        }[self.wallet_type]


_EOA: Final = _Via(WalletChoice.EOA.value, EMULATOR_RELAYER_URL)


@dataclass(frozen=True, slots=True)
class ChainOptions:
    """``--dry-run``, ``--legacy-fees``, ``--wallet-type`` with ``--relayer``, ``--rpc`` and ``--rest`` as given
    to a command declared with :func:`chain_options`, so that they mean the same in every chain command."""

    dry_run: bool
    legacy_fees: bool
    via: _Via
    rpc: str
    rest: str


def _gather(
    *,
    dry_run: bool,
    legacy_fees: bool,
    wallet_type: WalletChoice,
    relayer: str,
    rpc: str,
    rest: str,
    log_level: str,
) -> ChainOptions:
    # Logging is set up before anything else a chain command does, so it is done as its options are read.
    configure_command_logging(log_level)
    return ChainOptions(dry_run, legacy_fees, _Via(wallet_type.value, relayer), rpc, rest)


def _option(name: str, annotation: object, default: object) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


_CHAIN_PARAMETERS: Final = (
    _option("dry_run", DryRunOption, False),
    _option("legacy_fees", LegacyFeesOption, False),
    _option("wallet_type", WalletTypeOption, WalletChoice.EOA),
    _option("relayer", RelayerOption, EMULATOR_RELAYER_URL),
    _option("rpc", RpcOption, EMULATOR_RPC_URL),
    _option("rest", RestOption, EMULATOR_REST_URL),
    _option("log_level", LogLevelOption, COMMAND_LOG_LEVEL),
)


def chain_options(command: Callable[..., None]) -> Callable[..., None]:
    """Declare a command's ``chain: ChainOptions`` parameter as the options every chain command takes, and set up
    its logging from ``--log-level`` (see :func:`~polyinfra.cli.options.gathered_options`)."""
    return gathered_options("chain", _CHAIN_PARAMETERS, _gather)(command)


async def _relayer_sender(via: _Via, node: JsonRpcClient, key: Secret) -> RelayerSender:
    """The relayer sender of the key's ``via`` wallet, authenticated from the environment (relayer key first)."""
    from polyinfra.chain.relayer import RelayerApiKey, RelayerSender, WalletType, daily_quota_of
    from polyinfra.core.auth_headers import ApiCredentials
    from polyinfra.core.eip712 import SigningKey
    from polyinfra.obs.redaction import Secret

    relayer_key = os.environ.get(RELAYER_API_KEY_ENV, "").strip()
    builder = [os.environ.get(name, "").strip() for name in BUILDER_ENVS]
    auth: RelayerApiKey | ApiCredentials
    if relayer_key:
        auth = RelayerApiKey(Secret(relayer_key), SigningKey(key).address)
    elif all(builder):
        auth = ApiCredentials(builder[0], builder[1], builder[2])
    else:
        raise InvalidValueError(
            f"--wallet-type {via.wallet_type} goes through the relayer: set {RELAYER_API_KEY_ENV}, or all of "
            + ", ".join(BUILDER_ENVS)
        )
    sender = RelayerSender(
        via.relayer,
        node,
        key,
        wallet_type=WalletType(via.wallet_type),
        auth=auth,
        daily_quota=daily_quota_of(auth),
    )
    await sender.deploy()
    return sender


@chain_options
def approve(
    *,
    plan: Annotated[bool, typer.Option("--plan", help="List every approval needed and whether it is granted.")] = False,
    amount: Annotated[
        str | None, typer.Option("--amount", help="Exact pUSD/USDC.e allowances instead of unlimited.")
    ] = None,
    legacy_adapter: Annotated[
        bool,
        typer.Option(
            "--legacy-adapter/--no-legacy-adapter",
            help="Also grant the legacy neg-risk adapter (the sources disagree whether neg-risk trading needs it).",
        ),
    ] = True,
    chain: ChainOptions,
) -> None:
    """Grant the approvals Polymarket needs; only missing ones are sent.

    Trading both market kinds, splitting, merging, redeeming, converting and wrapping."""
    from polyinfra.core.approvals import Intent, required_approvals

    intents = list(Intent)
    micros = None if amount is None else _micros(amount)

    async def work(ops: ChainOperations) -> dict[str, object]:
        if plan:
            missing = await ops.missing(intents, at_least_micros=micros or 1)
            needed = required_approvals(intents, legacy_neg_risk_adapter=legacy_adapter)
            return {
                "address": ops.address,
                "approvals": [
                    {
                        "standard": approval.kind.value,
                        "token": approval.token,
                        "spender": approval.spender,
                        "for": approval.reason,
                        "optional": approval.optional,
                        "granted": approval not in missing,
                    }
                    for approval in needed
                ],
            }
        return _result_json(await ops.approve(intents, amount_micros=micros, dry_run=chain.dry_run))

    print_json(_run("approve", chain, work, legacy_adapter=legacy_adapter))


def _collateral_command(operation: str, doc: str) -> Callable[..., None]:
    """``wrap`` or ``unwrap``: an amount, one ramp call (and its approval when missing)."""

    def command(
        amount: AmountArgument,
        *,
        chain: ChainOptions,
    ) -> None:
        micros = _micros(amount)

        async def work(ops: ChainOperations) -> dict[str, object]:
            run = ops.wrap if operation == "wrap" else ops.unwrap
            return _result_json(await run(micros, dry_run=chain.dry_run))

        print_json(_run(operation, chain, work))

    command.__doc__ = doc
    command.__name__ = operation
    return chain_options(command)


wrap = _collateral_command("wrap", "Wrap USDC.e into pUSD (the CLOB's collateral) through the onramp.")
unwrap = _collateral_command("unwrap", "Unwrap pUSD back into USDC.e through the offramp.")


def apply_approvals(command: str, intents: Iterable[Intent], *, rpc: str, rest: str) -> int:
    """Grant what ``intents`` lack from the EOA of the key in the environment (``doctor``'s fix, with this
    module's progress lines and one-line errors); the number of transactions sent."""

    async def work(ops: ChainOperations) -> int:
        return len((await ops.approve(intents)).transactions)

    return _run(command, ChainOptions(dry_run=False, legacy_fees=False, via=_EOA, rpc=rpc, rest=rest), work)


def _position_command(operation: str, doc: str) -> Callable[..., None]:
    """``split`` or ``merge``: the same arguments, one adapter call each."""

    def command(
        condition: ConditionArgument,
        amount: AmountArgument,
        *,
        chain: ChainOptions,
    ) -> None:
        micros = _micros(amount)

        async def work(ops: ChainOperations, neg_risk: bool) -> dict[str, object]:
            run = ops.split if operation == "split" else ops.merge
            return _result_json(await run(condition, micros, neg_risk=neg_risk, dry_run=chain.dry_run))

        print_json(_run_on_market(operation, condition, chain, work))

    command.__doc__ = doc
    command.__name__ = operation
    return chain_options(command)


split = _position_command("split", "Split AMOUNT pUSD into as many YES and NO shares of a market.")
merge = _position_command("merge", "Merge AMOUNT YES and NO shares of a market back into pUSD.")


@chain_options
def redeem(
    condition: Annotated[str | None, typer.Argument(help="The resolved market's condition id.")] = None,
    *,
    redeem_all: Annotated[
        bool, typer.Option("--all", help="Every resolved market of the CLOB where the wallet holds shares.")
    ] = False,
    chain: ChainOptions,
) -> None:
    """Redeem a resolved market's shares (or --all) for pUSD."""
    if (condition is None) == (not redeem_all):
        typer.echo("polyinfra redeem: give a CONDITION or --all, not both", err=True)
        raise typer.Exit(2)
    if condition is not None:

        async def one(ops: ChainOperations, neg_risk: bool) -> dict[str, object]:
            return _result_json(await ops.redeem(condition, neg_risk=neg_risk, dry_run=chain.dry_run))

        print_json(_run_on_market("redeem", condition, chain, one))
        return

    async def every(ops: ChainOperations, transport: HttpTransport) -> dict[str, object]:
        from polyinfra.chain.operations import RedeemCandidate
        from polyinfra.clob.rest import ClobRestClient

        markets = ClobRestClient(transport.base_url, transport=transport)
        candidates = [
            candidate
            async for market in markets.iter_markets()
            if (candidate := RedeemCandidate.of(market)) is not None
        ]
        results = await ops.redeem_all(candidates, dry_run=chain.dry_run)
        return {"redeemed": [_result_json(result) for result in results], "markets_checked": len(candidates)}

    print_json(_run_with_transport("redeem", chain, every))


@chain_options
def convert(
    market_id: Annotated[str, typer.Argument(help="The neg-risk market id (0x + 64 hex digits).")],
    index_set: Annotated[int, typer.Argument(help="Bitmask of the questions whose NO to give up (bit 0: question 0).")],
    amount: AmountArgument,
    *,
    chain: ChainOptions,
) -> None:
    """Convert neg-risk NO shares into YES of the others plus pUSD."""
    micros = _micros(amount)
    runs = lambda ops: _as_json(ops.convert(market_id, index_set, micros, dry_run=chain.dry_run))  # noqa: E731
    print_json(_run("convert", chain, runs))


# --- plumbing ------------------------------------------------------------------------------------


async def _as_json(result: Awaitable[OperationResult]) -> dict[str, object]:
    return _result_json(await result)


def _result_json(result: OperationResult) -> dict[str, object]:
    return {
        "operation": result.plan.operation,
        "dry_run": not result.transactions and bool(result.plan.calls),
        "calls": [
            {"to": call.to, "does": call.description, "gas": None if call.gas is None else str(call.gas)}
            for call in result.plan.calls
        ],
        "estimated_gas": str(result.plan.estimated_gas),
        "changes": list(result.plan.changes),
        "transactions": [
            {"hash": sent.tx_hash, "nonce": sent.nonce, "block": sent.block_number, "gas_used": str(sent.gas_used)}
            for sent in result.transactions
        ],
    }


def _micros(amount: str) -> int:
    from polyinfra.model.numbers import to_micros

    try:
        micros = to_micros(Decimal(amount.strip()) if amount.strip() else amount)
    except (InvalidValueError, ArithmeticError):
        raise typer.BadParameter(f"not an exact amount of at most 6 decimals: {amount!r}") from None
    if micros <= 0:
        raise typer.BadParameter("the amount must be positive")
    return micros


def _run(
    command: str,
    chain: ChainOptions,
    work: Callable[[ChainOperations], Awaitable[_T]],
    *,
    legacy_adapter: bool = True,
) -> _T:
    async def with_transport(ops: ChainOperations, _transport: HttpTransport) -> _T:
        return await work(ops)

    return _run_with_transport(command, chain, with_transport, legacy_adapter=legacy_adapter)


def _run_on_market(
    command: str, condition: str, chain: ChainOptions, work: Callable[[ChainOperations, bool], Awaitable[_T]]
) -> _T:
    """Run ``work`` with the market's kind (neg-risk or not), read from the CLOB."""

    async def on_market(ops: ChainOperations, transport: HttpTransport) -> _T:
        from polyinfra.clob.rest import ClobRestClient

        market = await ClobRestClient(transport.base_url, transport=transport).get_market(condition)
        return await work(ops, market.neg_risk)

    return _run_with_transport(command, chain, on_market)


def _run_with_transport(
    command: str,
    chain: ChainOptions,
    work: Callable[[ChainOperations, HttpTransport], Awaitable[_T]],
    *,
    legacy_adapter: bool = True,
) -> _T:
    """Run ``work`` over the node and the CLOB; failures as one line on stderr (exit 2 bad input, 1 other)."""
    from polyinfra.chain.operations import ChainOperations
    from polyinfra.chain.sender import CallSender, TransactionSender
    from polyinfra.cli.trading_commands import trading_session
    from polyinfra.net.http import HttpTransport
    from polyinfra.net.json_rpc import JsonRpcClient
    from polyinfra.obs.redaction import Secret

    async def main() -> _T:
        # Held wrapped from the first moment: no local of any frame shows the key.
        key = Secret(os.environ.get(PRIVATE_KEY_ENV, "").strip())
        if not key.reveal():
            raise InvalidValueError(f"{PRIVATE_KEY_ENV} is not set: export the signing key (0x + 64 hex digits) in it")
        via = chain.via
        async with HttpTransport(chain.rest, retry=ONE_SHOT_RETRY) as transport, JsonRpcClient(chain.rpc) as node:
            sender: CallSender = TransactionSender(node, key, legacy=chain.legacy_fees)
            if via.wallet_type != "eoa":
                sender = await _relayer_sender(via, node, key)

            async def refresh(tokens: tuple[str, ...]) -> None:
                client = await trading_session(transport, via.signature_type, 0)
                await client.refresh_balances(tokens)

            ops = ChainOperations(
                sender,
                node,
                refresh=refresh,
                legacy_neg_risk_adapter=legacy_adapter,
                on_progress=lambda line: print(f"polyinfra {command}: {line}", file=sys.stderr, flush=True),
            )
            return await work(ops, transport)

    with one_line_errors(command):
        return asyncio.run(main())


def register_chain_commands(app: typer.Typer) -> None:
    """Add ``approve``, ``wrap``, ``unwrap``, ``split``, ``merge``, ``redeem`` and ``convert`` to ``app``."""
    for name, command in (
        ("approve", approve),
        ("wrap", wrap),
        ("unwrap", unwrap),
        ("split", split),
        ("merge", merge),
        ("redeem", redeem),
        ("convert", convert),
    ):
        app.command(name, epilog=KEY_EPILOG + "\n\n" + GASLESS_EPILOG)(command)
