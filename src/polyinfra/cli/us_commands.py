"""``polyinfra us``: the Polymarket US exchange on the command line.

``us whoami`` fetches an access token with the US credentials (``POLYINFRA_US_CLIENT_ID``,
``POLYINFRA_US_PRIVATE_KEY_FILE``, ``POLYINFRA_US_PARTICIPANT_ID``) and shows who it proves:
the client id, the scopes granted, the participant and when the token expires. Never the token.

The token manager (cryptography, pyjwt, httpx) is imported inside the commands, so ``polyinfra
--help`` does not pay for it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Final

import typer

from polyinfra.cli.options import (
    COMMAND_LOG_LEVEL,
    EMULATOR_REST_URL,
    LogLevelOption,
    configure_command_logging,
    one_line_errors,
)

if TYPE_CHECKING:
    from polyinfra.client.config import UsCredentials
    from polyinfra.core.us_auth import TokenRequestStyle

__all__ = ["register_us_commands", "us_app"]

_EMULATOR_TOKEN_URL: Final = f"{EMULATOR_REST_URL}/oauth/token"
_CREDENTIALS_EPILOG: Final = (
    "Credentials: POLYINFRA_US_CLIENT_ID (the client id given at onboarding), POLYINFRA_US_PRIVATE_KEY_FILE "
    "(the RSA private key in PEM whose public key was registered), POLYINFRA_US_PARTICIPANT_ID "
    "(firms/<firm>/users/<user>, for account-scoped calls)."
)

us_app = typer.Typer(
    name="us",
    help="The Polymarket US exchange (gRPC, Private-Key-JWT auth).",
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
        lines = asyncio.run(_whoami(credentials, url, audience, style))
    for line in lines:
        typer.echo(line)


async def _whoami(
    credentials: UsCredentials, token_url: str, audience: str | None, style: TokenRequestStyle
) -> list[str]:
    import time
    from datetime import UTC, datetime

    from polyinfra.us.token_manager import TokenManager

    async with TokenManager(
        client_id=credentials.client_id,
        private_key=credentials.read_key(),
        token_url=token_url,
        audience=audience,
        participant_id=credentials.participant_id,
        style=style,
    ) as manager:
        token = await manager.token()
    expires_at = datetime.fromtimestamp(token.expires_at_s, UTC).isoformat(timespec="seconds")
    return [
        f"client:      {token.client_id}",
        f"scopes:      {' '.join(token.scopes) or '(none in the token)'}",
        f"participant: {token.participant_id or credentials.participant_id or '(none)'}",
        f"token URL:   {token_url}",
        f"expires:     {expires_at} (in {int(token.remaining_s(time.time()))} s)",
    ]


def register_us_commands(app: typer.Typer) -> None:
    """Add ``polyinfra us`` to ``app``."""
    app.add_typer(us_app)
