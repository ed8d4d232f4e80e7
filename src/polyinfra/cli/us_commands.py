"""``polyinfra us``: the Polymarket US exchange on the command line.

``us whoami`` fetches an access token with the US credentials (``POLYINFRA_US_CLIENT_ID``,
``POLYINFRA_US_PRIVATE_KEY_FILE``, ``POLYINFRA_US_PARTICIPANT_ID``) and shows who it proves:
the client id, the scopes granted, the participant and when the token expires. Never the token.

``us watch`` shows live books (the table, lines or JSON lines of ``polyinfra watch``). It and ``us
instruments`` authenticate with the same credentials when they are set (a token from ``--token-url``,
the venue's for ``--live``, else the emulator's, refreshed and replaced as the
:class:`~polyinfra.us.token_manager.TokenManager` does) and go without a token when they are not, as the
emulator allows unless started with ``--us-require-auth``.
``us instruments`` lists the exchange's instruments with the scales that make its int64 prices and
quantities exact: the emulator's by default (``polyinfra emulator`` serves gRPC on ``--port`` + 1), the
venue's with ``--live``, any other endpoint with ``--grpc HOST:PORT`` (TLS unless ``--insecure``), in the
numbering of polyinfra's protos, the server's (``--reflection``) or the venue's bundle (``--bundle``).
``us dropcopy`` archives DropCopy's four streams exactly once into ``--store`` (resume tokens, a
token-chain ledger, one consumer per firm and stream), with a status line.
``us protos diff`` lists how a server's protos (reflection) or a bundle's differ from polyinfra's.

The token manager (cryptography, pyjwt, httpx) and gRPC are imported inside the commands, so ``polyinfra
--help`` does not pay for them.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Final, TypeVar

import typer

from polyinfra.cli.options import (
    COMMAND_LOG_LEVEL,
    EMULATOR_DEFAULT_PORT,
    EMULATOR_REST_URL,
    STREAM_LOG_LEVEL,
    DurationOption,
    JsonOption,
    LogLevelOption,
    RefreshOption,
    configure_command_logging,
    gathered_options,
    one_line_errors,
)
from polyinfra.cli.order_posting import print_json

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from polyinfra.core.us_auth import TokenRequestStyle
    from polyinfra.core.us_instruments import UsInstrument
    from polyinfra.us.client import ProtosChoice, UsExchangeClient
    from polyinfra.us.token_manager import TokenManager

__all__ = [
    "EMULATOR_GRPC_TARGET",
    "SymbolOption",
    "UsEndpoint",
    "UsEndpointOptions",
    "endpoint_options",
    "register_us_commands",
    "us_app",
]

T = TypeVar("T")

# `polyinfra emulator` serves gRPC one port above its REST port.
EMULATOR_GRPC_TARGET: Final = f"127.0.0.1:{EMULATOR_DEFAULT_PORT + 1}"

_EMULATOR_TOKEN_URL: Final = f"{EMULATOR_REST_URL}/oauth/token"
_CREDENTIALS_EPILOG: Final = (
    "Credentials: POLYINFRA_US_CLIENT_ID (the client id given at onboarding), POLYINFRA_US_PRIVATE_KEY_FILE "
    "(the RSA private key in PEM whose public key was registered), POLYINFRA_US_PARTICIPANT_ID "
    "(firms/<firm>/users/<user>, for account-scoped calls)."
)
_CALLS_EPILOG: Final = (
    _CREDENTIALS_EPILOG + " When POLYINFRA_US_CLIENT_ID or POLYINFRA_US_PRIVATE_KEY_FILE is set, every call "
    "carries an access token from --token-url; otherwise calls go without one (the emulator's default)."
)

us_app = typer.Typer(
    name="us",
    help="The Polymarket US exchange: instruments, books, orders, positions.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@us_app.command(epilog=_CREDENTIALS_EPILOG)
def whoami(
    *,
    env: Annotated[
        str | None,
        typer.Option("--env", metavar="ENV", help="The exchange environment: preprod or prod (default: the emulator)."),
    ] = None,
    token_url: Annotated[
        str | None,
        typer.Option(
            "--token-url", metavar="URL", help=f"The token endpoint (default: --env's, else {_EMULATOR_TOKEN_URL})."
        ),
    ] = None,
    audience: Annotated[
        str | None, typer.Option("--audience", metavar="URL", help="The API the token is for (default: the env's).")
    ] = None,
    form: Annotated[
        bool, typer.Option("--form", help="Send the token request form-encoded (default: JSON, as documented).")
    ] = False,
    domain_audience: Annotated[
        bool,
        typer.Option("--domain-audience", help="The assertion's aud is https://<domain>/ (default: the token URL)."),
    ] = False,
    kid: Annotated[
        str | None, typer.Option("--kid", metavar="KEY_ID", help="Put this key id in the assertion's header.")
    ] = None,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """Show the client, scopes and token expiry (never the token).

    Fetches an access token with the US credentials and shows who it proves: the client id, the
    scopes granted, the participant and when the token expires.
    """
    import asyncio
    import os

    configure_command_logging(log_level)
    with one_line_errors("us whoami"):
        from polyinfra.client.config import resolve_us_credentials
        from polyinfra.core.us_auth import US_ENVIRONMENTS, AudienceForm, BodyEncoding, TokenRequestStyle
        from polyinfra.errors import InvalidValueError

        if env is not None and env not in US_ENVIRONMENTS:
            raise InvalidValueError(f"--env is one of {', '.join(US_ENVIRONMENTS)}", env=env)
        environment = US_ENVIRONMENTS.get(env) if env is not None else None
        url = token_url or (environment.token_url if environment is not None else _EMULATOR_TOKEN_URL)
        style = TokenRequestStyle(
            encoding=BodyEncoding.FORM if form else BodyEncoding.JSON,
            audience_form=AudienceForm.DOMAIN if domain_audience else AudienceForm.TOKEN_URL,
            kid=kid,
        )
        credentials = resolve_us_credentials({}, environ=os.environ)
        manager = _token_manager(url, audience=audience, style=style)
        assert manager is not None  # resolve_us_credentials raised unless both are set
        lines = asyncio.run(_whoami(manager, credentials.participant_id))
    for line in lines:
        typer.echo(line)


def _token_manager(
    token_url: str, *, audience: str | None = None, style: TokenRequestStyle | None = None
) -> TokenManager | None:
    """A token manager for the credentials in the environment (see the epilog), None when neither the client
    id nor the key file is set; one without the other is an :class:`~polyinfra.errors.InvalidValueError`."""
    import os

    from polyinfra.client.config import US_ENVIRONMENT_VARIABLES, resolve_us_credentials
    from polyinfra.us.token_manager import TokenManager

    required = (US_ENVIRONMENT_VARIABLES["client_id"], US_ENVIRONMENT_VARIABLES["private_key_file"])
    if not any(os.environ.get(variable, "").strip() for variable in required):
        return None
    credentials = resolve_us_credentials({}, environ=os.environ)
    return TokenManager(
        client_id=credentials.client_id,
        private_key=credentials.read_key(),
        token_url=token_url,
        audience=audience,
        participant_id=credentials.participant_id,
        style=style,
    )


def _calls_token_url(token_url: str | None, *, live: bool) -> str:
    """Where ``us instruments`` and ``us watch`` get tokens: ``--token-url``, the venue's with ``--live``,
    else the emulator's."""
    from polyinfra.core.us_auth import US_ENVIRONMENTS

    if token_url is not None:
        return token_url
    return US_ENVIRONMENTS["prod"].token_url if live else _EMULATOR_TOKEN_URL


async def _whoami(manager: TokenManager, participant_id: str | None) -> list[str]:
    import time
    from datetime import UTC, datetime

    async with manager:
        token = await manager.token()
    expires_at = datetime.fromtimestamp(token.expires_at_s, UTC).isoformat(timespec="seconds")
    return [
        f"client:      {token.client_id}",
        f"scopes:      {' '.join(token.scopes) or '(none in the token)'}",
        f"participant: {token.participant_id or participant_id or '(none)'}",
        f"token URL:   {manager.token_url}",
        f"expires:     {expires_at} (in {int(token.remaining_s(time.time()))} s)",
    ]


GrpcOption = Annotated[
    str | None,
    typer.Option(
        "--grpc",
        metavar="HOST:PORT",
        help=f"The exchange's gRPC endpoint (TLS unless --insecure). Default: the emulator, {EMULATOR_GRPC_TARGET}.",
    ),
]
InsecureOption = Annotated[bool, typer.Option("--insecure", help="Plaintext gRPC, for an emulator given with --grpc.")]
UsLiveOption = Annotated[bool, typer.Option("--live", help="The venue's production endpoint, over TLS.")]
BundleOption = Annotated[
    Path | None,
    typer.Option("--bundle", metavar="PATH", help="The venue's proto bundle (zip or folder), compiled at start."),
]
Sha256Option = Annotated[
    str | None,
    typer.Option(
        "--sha256",
        metavar="HEX",
        help="The bundle's expected sha256 (default: the known bundle's), to trust a newer one.",
    ),
]

TokenUrlOption = Annotated[
    str | None,
    typer.Option(
        "--token-url",
        metavar="URL",
        help=f"Where tokens come from when credentials are set (default: the venue's with --live, else "
        f"{_EMULATOR_TOKEN_URL}).",
    ),
]

SymbolOption = Annotated[
    list[str] | None, typer.Option("--symbol", metavar="SYMBOL", help="Only this instrument (repeatable).")
]
ReflectionOption = Annotated[
    bool, typer.Option("--reflection", help="Speak the server's field numbers, read by server reflection.")
]

protos_app = typer.Typer(
    name="protos",
    help="Compare polyinfra's protos with a server's or a bundle's.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
us_app.add_typer(protos_app)


@dataclass(frozen=True, slots=True)
class UsEndpoint:
    """Where a ``us`` command calls and where its tokens come from, resolved from its options by
    :meth:`UsEndpointOptions.resolve`."""

    target: str
    plaintext: bool
    token_url: str
    protos: ProtosChoice

    def token_manager(self) -> TokenManager | None:
        """A new token manager for the credentials in the environment, None without them (see
        :func:`_token_manager`); whoever takes it closes it."""
        return _token_manager(self.token_url)

    def run(self, work: Callable[[UsExchangeClient], Awaitable[T]]) -> T:
        """Run ``work`` with a client on this endpoint, then close the client and its token manager."""
        import asyncio

        from polyinfra.us.client import UsExchangeClient

        tokens = self.token_manager()

        async def run() -> T:
            try:
                async with UsExchangeClient(
                    self.target, insecure=self.plaintext, tokens=tokens, protos=self.protos
                ) as exchange:
                    return await work(exchange)
            finally:
                if tokens is not None:
                    await tokens.aclose()

        return asyncio.run(run())


@dataclass(frozen=True, slots=True)
class UsEndpointOptions:
    """``--grpc``, ``--insecure``, ``--live``, ``--token-url`` and whose protos to speak (``--reflection``,
    ``--bundle``, ``--sha256``) as given to a command declared with :func:`endpoint_options`, so that they
    mean the same in every ``us`` command."""

    grpc: str | None
    insecure: bool
    live: bool
    token_url: str | None
    reflection: bool
    bundle: Path | None
    sha256: str | None

    def resolve(self) -> UsEndpoint:
        """The emulator (plaintext) unless told otherwise; ``--live`` is the venue over TLS, alone.
        A malformed ``--grpc`` is an :class:`~polyinfra.errors.InvalidValueError`; a bundle is loaded
        (and its sha256 checked) here."""
        from polyinfra.net.grpc_channel import parse_target
        from polyinfra.us.client import PRODUCTION_TARGET

        if self.live and (self.grpc is not None or self.insecure):
            raise typer.BadParameter(
                "--live is the venue over TLS: leave out --grpc and --insecure", param_hint="--live"
            )
        if self.live:
            target, plaintext = PRODUCTION_TARGET, False
        elif self.grpc is None:
            target, plaintext = EMULATOR_GRPC_TARGET, True
        else:
            target, plaintext = self.grpc, self.insecure
        parse_target(target)
        protos = _protos_choice(self.reflection, self.bundle, self.sha256)
        return UsEndpoint(target, plaintext, _calls_token_url(self.token_url, live=self.live), protos)


_ENDPOINT_PARAMETERS: Final = (
    inspect.Parameter("grpc", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=GrpcOption),
    inspect.Parameter("insecure", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=InsecureOption),
    inspect.Parameter("live", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=UsLiveOption),
    inspect.Parameter("token_url", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=TokenUrlOption),
    inspect.Parameter("reflection", inspect.Parameter.KEYWORD_ONLY, default=False, annotation=ReflectionOption),
    inspect.Parameter("bundle", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=BundleOption),
    inspect.Parameter("sha256", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Sha256Option),
)


def endpoint_options(command: Callable[..., None]) -> Callable[..., None]:
    """Declare a command's ``endpoint: UsEndpointOptions`` parameter as the connection and protos options
    (see :func:`~polyinfra.cli.options.gathered_options`)."""
    return gathered_options("endpoint", _ENDPOINT_PARAMETERS, UsEndpointOptions)(command)


def _symbols(options: list[str] | None) -> list[str]:
    """The symbols of repeatable, comma-separated ``--symbols`` options."""
    return [symbol for option in options or () for symbol in option.split(",") if symbol]


def _protos_choice(reflection: bool, bundle: Path | None, sha256: str | None) -> ProtosChoice:
    """Which protos to speak: polyinfra's, the server's (reflection) or the venue's bundle."""
    from polyinfra.us.proto_bundle import load_bundle

    if reflection and bundle is not None:
        raise typer.BadParameter("--reflection or --bundle, not both", param_hint="--reflection")
    if bundle is not None:
        return load_bundle(bundle, expected_sha256=sha256)
    return "reflection" if reflection else None


def _record(instrument: UsInstrument) -> dict[str, object]:
    from polyinfra.model.numbers import decimal_text

    expires = instrument.expiration_date
    return {
        "symbol": instrument.symbol,
        "state": instrument.state.name,
        "description": instrument.description,
        "price_scale": instrument.price_scale,
        "tick_size": decimal_text(instrument.tick_size),
        "quantity_scale": instrument.quantity_scale,
        "minimum_quantity": decimal_text(instrument.minimum_quantity),
        "settlement_currency": instrument.settlement_currency,
        "settlement_price_scale": instrument.settlement_price_scale,
        "expiration_date": expires.isoformat() if expires is not None else None,
        "metadata": dict(instrument.metadata),
    }


_COLUMNS: Final = (
    "symbol",
    "state",
    "price_scale",
    "tick_size",
    "quantity_scale",
    "minimum_quantity",
    "expiration_date",
)
_HEADINGS: Final = ("symbol", "state", "price scale", "tick", "qty scale", "min qty", "expires")


def _table(records: list[dict[str, object]]) -> str:
    rows = [_HEADINGS, *(tuple("-" if record[c] is None else str(record[c]) for c in _COLUMNS) for record in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    )


@us_app.command("instruments", epilog=_CALLS_EPILOG)
@endpoint_options
def instruments(
    *,
    symbol: SymbolOption = None,
    json_output: JsonOption = False,
    endpoint: UsEndpointOptions,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """List instruments with their scales, ticks and states."""

    configure_command_logging(log_level)
    with one_line_errors("us instruments"):
        found = endpoint.resolve().run(lambda exchange: exchange.instruments(symbol or ()))
    records = [_record(instrument) for instrument in found]
    if json_output:
        for record in records:
            print_json(record)
    else:
        typer.echo(_table(records) if records else "no instrument listed")


_DIFF_EPILOG = (
    "Exit status: 0 when the protos agree, 1 when they differ (or on an error), 2 for bad arguments. Kinds: "
    "renumbered field, retyped field, renumbered enum value (the dangerous ones: the bytes still parse, into the "
    "wrong fields), missing ... (ours only), extra ... (theirs only)."
)


@protos_app.command("diff", epilog=_DIFF_EPILOG + " " + _CALLS_EPILOG)
def diff(
    *,
    grpc: Annotated[
        str | None,
        typer.Option("--grpc", metavar="HOST:PORT", help="A server to read by reflection (TLS unless --insecure)."),
    ] = None,
    insecure: InsecureOption = False,
    bundle: BundleOption = None,
    sha256: Sha256Option = None,
    token_url: TokenUrlOption = None,
    json_output: JsonOption = False,
    log_level: LogLevelOption = COMMAND_LOG_LEVEL,
) -> None:
    """List fields and enum values numbered differently from ours.

    Reflection is called with a token when credentials are set (as for the other us commands).
    """
    import asyncio

    from polyinfra.core.us_descriptors import UsProtos, diff_protos, static_protos
    from polyinfra.net.grpc_channel import open_channel
    from polyinfra.net.grpc_reflection import fetch_protos
    from polyinfra.us.grpc_auth import CallAuth
    from polyinfra.us.proto_bundle import load_bundle

    configure_command_logging(log_level)
    if (grpc is None) == (bundle is None):
        raise typer.BadParameter("give --grpc HOST:PORT or --bundle PATH", param_hint="--grpc")

    async def reflected(target: str, tokens: TokenManager | None) -> UsProtos:
        channel = open_channel(target, insecure=insecure)
        try:
            # The same rule as every authenticated call: the current token, replaced once if refused.
            return await CallAuth(tokens).call(
                lambda metadata: fetch_protos(channel, target=target, timeout_s=30.0, metadata=metadata)
            )
        finally:
            await channel.close()
            if tokens is not None:
                await tokens.aclose()

    with one_line_errors("us protos diff"):
        if bundle is not None:
            theirs = load_bundle(bundle, expected_sha256=sha256)
        else:
            assert grpc is not None  # one of the two, checked above
            theirs = asyncio.run(reflected(grpc, _token_manager(_calls_token_url(token_url, live=False))))
        differences = diff_protos(static_protos(), theirs)
    for difference in differences:
        if json_output:
            record = {
                "kind": difference.kind,
                "name": difference.name,
                "ours": difference.ours,
                "theirs": difference.theirs,
            }
            print_json(record)
        else:
            sides = f"  ours {difference.ours or '-'}  theirs {difference.theirs or '-'}"
            typer.echo(
                f"{difference.kind}: {difference.name}" + (sides if difference.ours or difference.theirs else "")
            )
    if not json_output:
        typer.echo(f"{len(differences)} differences from polyinfra's protos ({theirs.source})", err=True)
    if differences:
        raise typer.Exit(1)


@us_app.command("watch", epilog=_CALLS_EPILOG)
@endpoint_options
def watch(
    *,
    symbols: Annotated[
        list[str] | None,
        typer.Option("--symbols", metavar="SYMBOL[,SYMBOL...]", help="Instruments to watch (repeatable)."),
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, metavar="N", help="Also the first N OPEN instruments.")] = 0,
    jsonl: Annotated[bool, typer.Option("--jsonl", help="Print a JSON line per change instead of the table.")] = False,
    depth: Annotated[
        int,
        typer.Option(
            "--depth", min=0, max=1000, metavar="N", help="Levels per side subscribed (0: 10), shown in JSON lines."
        ),
    ] = 0,
    raw_orders: Annotated[
        bool,
        typer.Option(
            "--raw-orders", help="Subscribe to raw orders (--depth orders a side), summed into the levels shown."
        ),
    ] = False,
    record: Annotated[
        str | None,
        typer.Option(
            "--record",
            metavar="SINK",
            help="Also record the market data into this sink (sqlite:///PATH, postgresql://..., nats://HOST/STREAM); "
            "replay it with polyinfra replay --channel us.",
        ),
    ] = None,
    duration: DurationOption = 0.0,
    refresh_s: RefreshOption = 1.0,
    endpoint: UsEndpointOptions,
    log_level: LogLevelOption = STREAM_LOG_LEVEL,
) -> None:
    """Watch live US exchange books; --record keeps a tape of them."""
    from polyinfra.cli.us_watch import run_us_watch
    from polyinfra.cli.watch import Output

    configure_command_logging(log_level)
    with one_line_errors("us watch"):
        resolved = endpoint.resolve()
        run_us_watch(
            target=resolved.target,
            insecure=resolved.plaintext,
            protos=resolved.protos,
            tokens=resolved.token_manager(),
            symbols=_symbols(symbols),
            top=top,
            output=Output.JSONL if jsonl else Output.for_stdout(),
            depth=depth,
            duration_s=duration,
            refresh_s=refresh_s,
            raw_orders=raw_orders,
            record_url=record,
        )


_DROPCOPY_EPILOG: Final = (
    _CALLS_EPILOG
    + " The archive (sqlite:///PATH or postgresql://...) keeps every record once, each stream's resume token and its "
    "token-chain ledger; a restart resumes from the stored token; a second archiver for the same firm and stream "
    "waits until the first one stops. Archivers on several machines sharing one archive take the streams' leases "
    "from NATS JetStream with --lease nats://HOST[:PORT]/FLEET: a survivor takes over when a holder's lease expires "
    "(--lease-s), and a holder paused past its lease cannot commit any more."
)


@us_app.command("dropcopy", epilog=_DROPCOPY_EPILOG)
@endpoint_options
def dropcopy(
    *,
    store: Annotated[
        str, typer.Option("--store", metavar="URL", help="Where the archive lives: sqlite:///PATH or postgresql://...")
    ],
    firm: Annotated[
        str,
        typer.Option("--firm", metavar="FIRM", help="The firm the archive is kept for (one consumer per stream)."),
    ] = "default",
    streams: Annotated[
        str,
        typer.Option(
            "--streams",
            metavar="NAME[,NAME...]",
            help="Streams to archive: executions, trades, instruments, positions.",
        ),
    ] = "executions,trades,instruments,positions",
    symbols: Annotated[
        list[str] | None,
        typer.Option("--symbols", metavar="SYMBOL[,SYMBOL...]", help="Only these instruments (default: all)."),
    ] = None,
    live_only: Annotated[
        bool, typer.Option("--live-only", help="A first start takes live records only, not the venue's history.")
    ] = False,
    lease: Annotated[
        str | None,
        typer.Option(
            "--lease",
            metavar="nats://HOST[:PORT]/FLEET",
            help="Take the streams' leases from this NATS fleet (an archive several machines share).",
        ),
    ] = None,
    lease_s: Annotated[
        float, typer.Option("--lease-s", min=1.0, help="With --lease: seconds a lease lasts unrenewed.")
    ] = 15.0,
    member: Annotated[
        str | None, typer.Option("--member", metavar="ID", help="With --lease: this process's name (default host-pid).")
    ] = None,
    duration: DurationOption = 0.0,
    refresh_s: RefreshOption = 1.0,
    endpoint: UsEndpointOptions,
    log_level: LogLevelOption = STREAM_LOG_LEVEL,
) -> None:
    """Archive DropCopy's four streams exactly once (status line)."""
    from polyinfra.cli.us_dropcopy import DropCopyCommand, run_us_dropcopy
    from polyinfra.core.us_dropcopy import DropCopyStream

    configure_command_logging(log_level)
    names = [name.strip() for name in streams.split(",") if name.strip()]
    unknown = [name for name in names if name not in set(DropCopyStream)]
    if unknown or not names:
        raise typer.BadParameter(f"unknown stream(s): {', '.join(unknown) or '(none)'}", param_hint="--streams")
    with one_line_errors("us dropcopy"):
        resolved = endpoint.resolve()
        command = DropCopyCommand(
            target=resolved.target,
            insecure=resolved.plaintext,
            tokens=resolved.token_manager(),
            store=store,
            firm=firm,
            streams=[DropCopyStream(name) for name in names],
            symbols=_symbols(symbols),
            live_only=live_only,
            duration_s=duration,
            refresh_s=refresh_s,
            lease_url=lease,
            lease_s=lease_s,
            member_id=member,
            protos=resolved.protos,
        )
        run_us_dropcopy(command, typer.echo)


def register_us_commands(app: typer.Typer) -> None:
    """Add ``polyinfra us`` to ``app``."""
    app.add_typer(us_app)
