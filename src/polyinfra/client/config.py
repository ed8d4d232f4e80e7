"""Where a :class:`~polyinfra.client.async_client.AsyncPolymarket` connects and which wallet it
starts with: keyword arguments, ``POLYINFRA_*`` environment variables, a TOML file, defaults.

Each setting is taken from the first of these that gives it:

1. keyword arguments (``Polymarket(rest_url=...)``);
2. environment variables (:data:`ENVIRONMENT_VARIABLES`: ``POLYINFRA_REST_URL``, ...);
3. the TOML file named by ``config=`` or, without it, by ``POLYINFRA_CONFIG`` (top-level keys
   spelled as the keyword arguments);
4. the defaults: the real venue, Polygon, no wallet.

The key is one setting whichever form it takes: ``private_key`` or ``private_key_file`` from a
higher layer replaces both from a lower one. So do the three API-credential values, which are
given all together or not at all. ``ws_url`` left unset follows ``rest_url``: the venue's socket
host for the venue, the same host and port (``ws://`` / ``wss://``) for anything else, which is
where the emulator serves both. ``rpc_url`` (the Polygon JSON-RPC node of the on-chain operations)
follows it too: the official SDK's default public node for the venue, ``/rpc`` on the same host for
anything else, which is where the emulator serves its emulated Polygon. So does ``relayer_url`` (the
relayer that runs a proxy, Safe or deposit wallet's on-chain operations): the venue's relayer, or
``/relayer`` on the same host. The relayer is authenticated by ``relayer_api_key`` or by the builder
credentials ``builder_api_key``, ``builder_secret`` and ``builder_passphrase``, given all together.
``relayer_poll_interval_s`` and ``relayer_max_polls`` are how often and how many times a relayed
transaction's state is asked for before it counts as timed out (2 s and 100 by default; a positive finite
number and a positive integer, also as text from the environment).

Pure: the environment and the file are read only where :func:`resolve_config` is called, and
secrets are kept as :class:`~polyinfra.obs.redaction.Secret` (masked in every ``repr``) from the
moment they are read.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, TypedDict, cast

from polyinfra.core.auth_headers import ApiCredentials
from polyinfra.core.config_checks import positive_int, positive_number
from polyinfra.core.order_signing import POLYGON_CHAIN_ID
from polyinfra.core.relayer_polling import DEFAULT_RELAYER_MAX_POLLS, DEFAULT_RELAYER_POLL_INTERVAL_S
from polyinfra.errors import InvalidValueError
from polyinfra.model.orders import SignatureType
from polyinfra.obs.redaction import Secret

__all__ = [
    "CONFIG_FILE_VARIABLE",
    "ENVIRONMENT_VARIABLES",
    "US_ENVIRONMENT_VARIABLES",
    "VENUE_RELAYER_URL",
    "VENUE_REST_URL",
    "VENUE_RPC_URL",
    "VENUE_WS_URL",
    "ClientConfig",
    "ClientSettings",
    "KeySource",
    "UsCredentials",
    "key_source",
    "parse_signature_type",
    "resolve_config",
    "resolve_us_credentials",
    "same_host_relayer_url",
    "same_host_rpc_url",
    "same_host_websocket_url",
    "secrets_wrapped",
    "wrap_secret",
]

VENUE_REST_URL: Final = "https://clob.polymarket.com"
VENUE_WS_URL: Final = "wss://ws-subscriptions-clob.polymarket.com"
"""The venue's WebSocket host; the market and user channels are at ``/ws/market`` and ``/ws/user``."""
VENUE_RPC_URL: Final = "https://polygon.drpc.org"
"""The public Polygon node the official SDK uses by default (rate-limited: give your own for real use)."""
EMULATOR_RPC_PATH: Final = "/rpc"
VENUE_RELAYER_URL: Final = "https://relayer-v2.polymarket.com"
"""The venue's relayer, which pays the gas of a proxy, Safe or deposit wallet's transactions."""
EMULATOR_RELAYER_PATH: Final = "/relayer"

ENVIRONMENT_VARIABLES: Final[Mapping[str, str]] = {
    "rest_url": "POLYINFRA_REST_URL",
    "ws_url": "POLYINFRA_WS_URL",
    "rpc_url": "POLYINFRA_RPC_URL",
    "chain_id": "POLYINFRA_CHAIN_ID",
    "private_key": "POLYINFRA_PRIVATE_KEY",
    "private_key_file": "POLYINFRA_PRIVATE_KEY_FILE",
    "signature_type": "POLYINFRA_SIGNATURE_TYPE",
    "funder": "POLYINFRA_FUNDER",
    "api_key": "POLYINFRA_API_KEY",
    "api_secret": "POLYINFRA_API_SECRET",
    "api_passphrase": "POLYINFRA_API_PASSPHRASE",
    "relayer_url": "POLYINFRA_RELAYER_URL",
    "relayer_api_key": "POLYINFRA_RELAYER_API_KEY",
    "builder_api_key": "POLYINFRA_BUILDER_API_KEY",
    "builder_secret": "POLYINFRA_BUILDER_SECRET",
    "builder_passphrase": "POLYINFRA_BUILDER_PASSPHRASE",
    "relayer_poll_interval_s": "POLYINFRA_RELAYER_POLL_INTERVAL_S",
    "relayer_max_polls": "POLYINFRA_RELAYER_MAX_POLLS",
}
"""Each setting's environment variable (the CLI reads the key and API credentials from the same)."""
CONFIG_FILE_VARIABLE: Final = "POLYINFRA_CONFIG"

US_ENVIRONMENT_VARIABLES: Final[Mapping[str, str]] = {
    "client_id": "POLYINFRA_US_CLIENT_ID",
    "private_key_file": "POLYINFRA_US_PRIVATE_KEY_FILE",
    "participant_id": "POLYINFRA_US_PARTICIPANT_ID",
}
"""The US exchange credentials' environment variables (a keyword argument of the same name wins)."""
_MAX_US_KEY_BYTES: Final = 64 * 1024


class ClientSettings(TypedDict, total=False):
    """The settings a client takes as keyword arguments, each also read from its environment
    variable (:data:`ENVIRONMENT_VARIABLES`) and from the TOML file under the same name."""

    rest_url: str
    """The CLOB REST host (default: the venue)."""
    ws_url: str
    """The WebSocket host, without ``/ws/market`` or ``/ws/user`` (default: follows ``rest_url``)."""
    rpc_url: str
    """The Polygon JSON-RPC node of the on-chain operations (default: follows ``rest_url``)."""
    chain_id: int
    private_key: str | Secret
    """The signing key (0x + 64 hex digits) of the wallet ``"default"``; or ``private_key_file``."""
    private_key_file: str | Path
    signature_type: SignatureType | int | str
    """0 EOA, 1 POLY_PROXY, 2 POLY_GNOSIS_SAFE, 3 POLY_1271 (the number or the name)."""
    funder: str
    """The address holding the funds, for signature types 1-3."""
    api_key: str
    api_secret: str | Secret
    api_passphrase: str | Secret
    relayer_url: str
    """The relayer of a smart wallet's on-chain operations (default: follows ``rest_url``)."""
    relayer_api_key: str | Secret
    """A relayer API key of the wallets' signer (no daily quota); or the three builder settings."""
    builder_api_key: str
    builder_secret: str | Secret
    builder_passphrase: str | Secret
    relayer_poll_interval_s: float | str
    """Seconds between two polls of a relayed transaction's state (default 2)."""
    relayer_max_polls: int | str
    """Polls of a relayed transaction's state before it counts as timed out (default 100)."""


_SETTINGS: Final = frozenset(ENVIRONMENT_VARIABLES)
_KEY_SETTINGS: Final = ("private_key", "private_key_file")
_CREDENTIAL_SETTINGS: Final = ("api_key", "api_secret", "api_passphrase")
_BUILDER_SETTINGS: Final = ("builder_api_key", "builder_secret", "builder_passphrase")
_SECRET_SETTINGS: Final = ("private_key", "api_secret", "api_passphrase", "relayer_api_key", *_BUILDER_SETTINGS[1:])
_MAX_CONFIG_BYTES: Final = 1 << 20


@dataclass(frozen=True, slots=True)
class KeySource:
    """A private key, given inline (kept as a :class:`Secret`) or as the path of a file holding it."""

    private_key: Secret | None = None
    private_key_file: Path | None = None

    def __post_init__(self) -> None:
        if (self.private_key is None) == (self.private_key_file is None):
            raise InvalidValueError("give private_key or private_key_file, exactly one")

    def read(self) -> Secret:
        """The key; a file is read now, and an unreadable one is named, never its content."""
        if self.private_key is not None:
            return self.private_key
        path = self.private_key_file
        assert path is not None  # by __post_init__
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as error:
            raise InvalidValueError(
                "cannot read the private key file; it must hold the key as 0x + 64 hex digits",
                path=str(path),
                reason=type(error).__name__,
            ) from None
        return Secret(text.strip())


@dataclass(frozen=True, slots=True)
class ClientConfig:
    """The resolved settings. ``repr`` shows where the client connects, never a secret."""

    rest_url: str = VENUE_REST_URL
    ws_url: str = VENUE_WS_URL
    rpc_url: str = VENUE_RPC_URL
    chain_id: int = POLYGON_CHAIN_ID
    key: KeySource | None = field(default=None, repr=False)
    signature_type: SignatureType = SignatureType.EOA
    funder: str | None = None
    credentials: ApiCredentials | None = field(default=None, repr=False)
    relayer_url: str = VENUE_RELAYER_URL
    relayer_api_key: Secret | None = field(default=None, repr=False)
    builder_credentials: ApiCredentials | None = field(default=None, repr=False)
    relayer_poll_interval_s: float = DEFAULT_RELAYER_POLL_INTERVAL_S
    relayer_max_polls: int = DEFAULT_RELAYER_MAX_POLLS

    def __repr__(self) -> str:
        # The key and credentials are masked by their own reprs; saying only whether they are set is
        # shorter and shows no file path either.
        return (
            f"ClientConfig(rest_url={self.rest_url!r}, ws_url={self.ws_url!r}, rpc_url={self.rpc_url!r}, "
            f"chain_id={self.chain_id}, "
            f"key={'set' if self.key else 'none'}, signature_type={self.signature_type.name}, "
            f"funder={self.funder!r}, credentials={'set' if self.credentials else 'none'}, "
            f"relayer_url={self.relayer_url!r}, "
            f"relayer_auth={'set' if self.relayer_api_key or self.builder_credentials else 'none'})"
        )


def resolve_config(
    settings: Mapping[str, object],
    *,
    environ: Mapping[str, str],
    config_file: str | Path | None = None,
) -> ClientConfig:
    """The settings from ``settings`` (keyword arguments; None means unset), ``environ`` and the
    TOML file, in that order of precedence (module docstring)."""
    _check_names(settings, "keyword argument")
    kwargs = {name: value for name, value in settings.items() if value is not None}
    from_environment = {
        name: text for name, variable in ENVIRONMENT_VARIABLES.items() if (text := environ.get(variable, "").strip())
    }
    path = config_file if config_file is not None else environ.get(CONFIG_FILE_VARIABLE) or None
    from_file = _read_toml(Path(path)) if path is not None else {}
    layers = (kwargs, from_environment, from_file)

    rest_url = _url(_first(layers, "rest_url", VENUE_REST_URL), "rest_url", ("http://", "https://"))
    ws_default = VENUE_WS_URL if rest_url == VENUE_REST_URL else same_host_websocket_url(rest_url)
    return ClientConfig(
        rest_url=rest_url,
        ws_url=_url(_first(layers, "ws_url", ws_default), "ws_url", ("ws://", "wss://")),
        rpc_url=_url(_first(layers, "rpc_url", same_host_rpc_url(rest_url)), "rpc_url", ("http://", "https://")),
        chain_id=_chain_id(_first(layers, "chain_id", POLYGON_CHAIN_ID)),
        key=key_source(_group(layers, _KEY_SETTINGS)),
        signature_type=parse_signature_type(_first(layers, "signature_type", SignatureType.EOA)),
        funder=_optional_text(_first(layers, "funder", None), "funder"),
        credentials=_credentials(_group(layers, _CREDENTIAL_SETTINGS), _CREDENTIAL_SETTINGS),
        relayer_url=_url(
            _first(layers, "relayer_url", same_host_relayer_url(rest_url)), "relayer_url", ("http://", "https://")
        ),
        relayer_api_key=_optional_secret(_first(layers, "relayer_api_key", None), "relayer_api_key"),
        builder_credentials=_credentials(_group(layers, _BUILDER_SETTINGS), _BUILDER_SETTINGS),
        relayer_poll_interval_s=_positive_seconds(
            _first(layers, "relayer_poll_interval_s", DEFAULT_RELAYER_POLL_INTERVAL_S), "relayer_poll_interval_s"
        ),
        relayer_max_polls=_positive_count(
            _first(layers, "relayer_max_polls", DEFAULT_RELAYER_MAX_POLLS), "relayer_max_polls"
        ),
    )


def same_host_rpc_url(rest_url: str) -> str:
    """Where the on-chain operations' node is by default for ``rest_url`` (module notes)."""
    return VENUE_RPC_URL if rest_url == VENUE_REST_URL else rest_url.rstrip("/") + EMULATOR_RPC_PATH


def same_host_relayer_url(rest_url: str) -> str:
    """Where the relayer is by default for ``rest_url`` (module notes)."""
    return VENUE_RELAYER_URL if rest_url == VENUE_REST_URL else rest_url.rstrip("/") + EMULATOR_RELAYER_PATH


def wrap_secret(value: object) -> object:
    """A secret given as text, wrapped at once; anything else is left for the settings to refuse."""
    return Secret(value) if isinstance(value, str) else value


def secrets_wrapped(settings: ClientSettings) -> ClientSettings:
    """``settings`` with the key and the API secrets wrapped as :class:`Secret`: a caller rebinds its
    own name to this first, so that no frame of a later traceback holds them in clear."""
    wrapped = dict(settings)
    for name in _SECRET_SETTINGS:
        if name in wrapped:
            wrapped[name] = wrap_secret(wrapped[name])
    return cast(ClientSettings, wrapped)


def same_host_websocket_url(rest_url: str) -> str:
    """The WebSocket URL of the host serving REST at ``rest_url`` (http -> ws, https -> wss): where
    the emulator serves both. The venue's sockets are on another host (:data:`VENUE_WS_URL`)."""
    return "ws" + rest_url.removeprefix("http")


def parse_signature_type(value: object) -> SignatureType:
    """A :class:`SignatureType`, its number (0-3, as int or text) or its name (``"POLY_PROXY"``)."""
    if isinstance(value, SignatureType):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.upper() in SignatureType.__members__:
            return SignatureType[text.upper()]
        if text.isascii() and text.isdigit() and len(text) == 1:
            value = int(text)
    if isinstance(value, int) and not isinstance(value, bool) and value in set(SignatureType):
        return SignatureType(value)
    names = ", ".join(f"{kind.value} ({kind.name})" for kind in SignatureType)
    raise InvalidValueError(f"signature_type must be one of {names}", signature_type=value)


def _check_names(settings: Mapping[str, object], where: str) -> None:
    unknown = sorted(set(settings) - _SETTINGS)
    if unknown:
        raise InvalidValueError(
            f"unknown {where} {unknown[0]!r}; the settings are: {', '.join(sorted(_SETTINGS))}", names=unknown
        )


def _read_toml(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as file:
            data = file.read(_MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise InvalidValueError("cannot read the config file", path=str(path), reason=type(error).__name__) from None
    if len(data) > _MAX_CONFIG_BYTES:
        raise InvalidValueError("the config file is larger than 1 MiB", path=str(path))
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        # The decoder's message quotes a line and column, never a value: safe to show.
        raise InvalidValueError(f"the config file is not valid TOML: {error}", path=str(path)) from None
    _check_names(parsed, f"key in {path}")
    return parsed


def _first(layers: tuple[Mapping[str, object], ...], name: str, default: object) -> object:
    for layer in layers:
        if name in layer:
            return layer[name]
    return default


def _group(layers: tuple[Mapping[str, object], ...], names: tuple[str, ...]) -> dict[str, object]:
    """The settings of ``names`` from the first layer that gives any of them: one setting in parts."""
    for layer in layers:
        given = {name: layer[name] for name in names if name in layer}
        if given:
            return given
    return {}


def _url(value: object, name: str, schemes: tuple[str, ...]) -> str:
    if not isinstance(value, str) or not value.startswith(schemes) or len(value) > 2048:
        raise InvalidValueError(f"{name} must be a URL starting with {' or '.join(schemes)}", field=name, value=value)
    return value.rstrip("/")


def _chain_id(value: object) -> int:
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidValueError("chain_id must be a positive integer (137: Polygon)", chain_id=value)
    return value


def _positive_seconds(value: object, name: str) -> float:
    """A positive finite number of seconds; text (an environment variable's) is read as a number first."""
    if isinstance(value, str):
        text = value
        try:
            value = float(text)
        except ValueError:
            raise InvalidValueError("must be a positive number of seconds", field=name, value=text[:40]) from None
    return positive_number(name, value)  # type: ignore[arg-type]  # refuses what is not a number


def _positive_count(value: object, name: str) -> int:
    """A positive integer; text (an environment variable's) of decimal digits is read as one first."""
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 12:
        value = int(value)
    return positive_int(name, value)  # type: ignore[arg-type]  # refuses what is not an int


def _optional_text(value: object, name: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidValueError(f"{name} must be a string", field=name)


def _secret(value: object, name: str) -> Secret:
    if isinstance(value, Secret):
        return value
    if isinstance(value, str):
        return Secret(value.strip())
    # The value is never quoted: it may be the secret in the wrong type.
    raise InvalidValueError(f"{name} must be a string", field=name, type=type(value).__name__)


def _optional_secret(value: object, name: str) -> Secret | None:
    return None if value is None else _secret(value, name)


def key_source(given: Mapping[str, object]) -> KeySource | None:
    """The key from ``private_key`` (text or :class:`Secret`) or ``private_key_file`` (a path), at
    most one of them; None for neither. A value of another type is refused, never quoted."""
    if not given:
        return None
    if len(given) > 1:
        raise InvalidValueError("give private_key or private_key_file, not both")
    if "private_key" in given:
        return KeySource(private_key=_secret(given["private_key"], "private_key"))
    path = given["private_key_file"]
    if not isinstance(path, str | Path):
        raise InvalidValueError("private_key_file must be a path", field="private_key_file")
    return KeySource(private_key_file=Path(path))


def _credentials(given: Mapping[str, object], names: tuple[str, str, str]) -> ApiCredentials | None:
    """The key, secret and passphrase settings ``names`` (the CLOB's or the builder's), all or none."""
    if not given:
        return None
    missing = [name for name in names if name not in given]
    if missing:
        raise InvalidValueError(
            f"API credentials come as {names[0]}, {names[1]} and {names[2]} together; missing {', '.join(missing)}"
        )
    key_name, secret_name, passphrase_name = names
    api_key = given[key_name]
    if not isinstance(api_key, str):
        raise InvalidValueError(f"{key_name} must be a string", field=key_name)
    return ApiCredentials(
        api_key.strip(), _secret(given[secret_name], secret_name), _secret(given[passphrase_name], passphrase_name)
    )


@dataclass(frozen=True, slots=True)
class UsCredentials:
    """The US exchange credentials: the client id, the file holding its RSA private key (PEM) and,
    for account-scoped calls, the participant id given at onboarding. ``repr`` shows no path."""

    client_id: str
    private_key_file: Path = field(repr=False)
    participant_id: str | None = None

    def read_key(self) -> Secret:
        """The private key's PEM text; an unreadable file is named, never its content."""
        try:
            with self.private_key_file.open("rb") as file:
                data = file.read(_MAX_US_KEY_BYTES + 1)
            text = data.decode("ascii") if len(data) <= _MAX_US_KEY_BYTES else None
        except (OSError, UnicodeDecodeError) as error:
            reason: str | None = type(error).__name__
        else:
            if text is not None:
                return Secret(text.strip())
            reason = "larger than 64 KiB"
        raise InvalidValueError(
            f"cannot read the US private key file ({US_ENVIRONMENT_VARIABLES['private_key_file']}); "
            "it must hold an RSA private key in PEM",
            path=str(self.private_key_file),
            reason=reason,
        )


def resolve_us_credentials(settings: Mapping[str, object], *, environ: Mapping[str, str]) -> UsCredentials:
    """The US credentials from ``settings`` (keyword arguments; None means unset), else ``environ``
    (:data:`US_ENVIRONMENT_VARIABLES`). The client id and the key file are required."""
    unknown = sorted(set(settings) - set(US_ENVIRONMENT_VARIABLES))
    if unknown:
        raise InvalidValueError(f"unknown US credential setting {unknown[0]!r}", names=unknown)
    given = {name: value for name, value in settings.items() if value is not None}
    from_environment = {
        name: text for name, variable in US_ENVIRONMENT_VARIABLES.items() if (text := environ.get(variable, "").strip())
    }
    layers = (given, from_environment)
    missing = [
        US_ENVIRONMENT_VARIABLES[name]
        for name in ("client_id", "private_key_file")
        if _first(layers, name, None) is None
    ]
    if missing:
        raise InvalidValueError(f"the US exchange credentials need {' and '.join(missing)}")
    client_id = _first(layers, "client_id", None)
    path = _first(layers, "private_key_file", None)
    participant = _optional_text(_first(layers, "participant_id", None), "participant_id")
    if not isinstance(client_id, str) or not client_id.strip():
        raise InvalidValueError("client_id must be a non-empty string", field="client_id")
    if not isinstance(path, str | Path):
        raise InvalidValueError("private_key_file must be a path", field="private_key_file")
    return UsCredentials(client_id.strip(), Path(path), participant.strip() if participant else None)
