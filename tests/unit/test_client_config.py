"""The client's settings: keyword arguments > ``POLYINFRA_*`` environment > TOML file > defaults,
the key and the API credentials as single settings, and no secret in any repr or error."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from polyinfra import AsyncPolymarket, Polymarket, SignatureType
from polyinfra.client.config import (
    ENVIRONMENT_VARIABLES,
    VENUE_RELAYER_URL,
    VENUE_REST_URL,
    VENUE_WS_URL,
    ClientSettings,
    parse_signature_type,
    resolve_config,
)
from polyinfra.client.results import balance_from_wire
from polyinfra.clob.trading import BalanceAllowance
from polyinfra.core.eip712 import SigningKey
from polyinfra.errors import InvalidNumberError, InvalidValueError, UnknownWalletError
from polyinfra.obs.redaction import SecretScanner
from tests.traceback_locals import secrets_in_traceback_locals

ALICE_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
BOB_KEY = "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a"
ALICE = SigningKey(ALICE_KEY).address
BOB = SigningKey(BOB_KEY).address


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "polyinfra.toml"
    path.write_text(text)
    return path


def test_defaults_point_at_the_venue_with_no_wallet() -> None:
    config = resolve_config({}, environ={})
    assert (config.rest_url, config.ws_url, config.chain_id) == (VENUE_REST_URL, VENUE_WS_URL, 137)
    assert config.key is None and config.credentials is None and config.signature_type is SignatureType.EOA


def test_one_rest_url_points_the_sockets_at_the_same_host() -> None:
    assert resolve_config({"rest_url": "http://127.0.0.1:8080/"}, environ={}).ws_url == "ws://127.0.0.1:8080"
    assert resolve_config({"rest_url": "https://emulator.example"}, environ={}).ws_url == "wss://emulator.example"
    explicit = resolve_config({"rest_url": "http://127.0.0.1:8080", "ws_url": "ws://other:1"}, environ={})
    assert explicit.ws_url == "ws://other:1"


def test_keyword_arguments_beat_the_environment_which_beats_the_file(tmp_path: Path) -> None:
    path = _toml(tmp_path, 'rest_url = "http://file:1"\nchain_id = 80002\nfunder = "0xfile"\nsignature_type = 2\n')
    environ = {"POLYINFRA_REST_URL": "http://env:2", "POLYINFRA_CHAIN_ID": "137", "POLYINFRA_SIGNATURE_TYPE": "1"}
    config = resolve_config({"rest_url": "http://kwarg:3"}, environ=environ, config_file=path)
    assert config.rest_url == "http://kwarg:3"  # keyword argument
    assert (config.chain_id, config.signature_type) == (137, SignatureType.POLY_PROXY)  # environment
    assert config.funder == "0xfile"  # file
    assert resolve_config({}, environ={"POLYINFRA_CONFIG": str(path)}).chain_id == 80002  # file named by env


def test_the_key_is_one_setting_whatever_its_form(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(BOB_KEY + "\n")
    path = _toml(tmp_path, f'private_key_file = "{key_file}"\n')
    from_env = resolve_config({}, environ={"POLYINFRA_PRIVATE_KEY": ALICE_KEY}, config_file=path)
    assert from_env.key is not None and SigningKey(from_env.key.read()).address == ALICE
    from_kwarg = resolve_config(
        {"private_key_file": key_file}, environ={"POLYINFRA_PRIVATE_KEY": ALICE_KEY}, config_file=path
    )
    assert from_kwarg.key is not None and SigningKey(from_kwarg.key.read()).address == BOB
    with pytest.raises(InvalidValueError, match="not both"):
        resolve_config({"private_key": ALICE_KEY, "private_key_file": key_file}, environ={})


def test_api_credentials_come_all_together_or_not_at_all() -> None:
    environ = {"POLYINFRA_API_KEY": "key", "POLYINFRA_API_SECRET": "AAAA", "POLYINFRA_API_PASSPHRASE": "pass"}
    credentials = resolve_config({}, environ=environ).credentials
    assert credentials is not None and credentials.api_key == "key"
    with pytest.raises(InvalidValueError, match="missing api_passphrase"):
        resolve_config({"api_key": "key", "api_secret": "AAAA"}, environ=environ)


def test_the_relayer_follows_the_rest_url_and_takes_one_kind_of_auth(
    known_secrets: Any, secret_scanner: SecretScanner
) -> None:
    venue = resolve_config({}, environ={})
    assert venue.relayer_url == VENUE_RELAYER_URL
    assert venue.relayer_api_key is None and venue.builder_credentials is None
    local = resolve_config({"rest_url": "http://127.0.0.1:8080/"}, environ={})
    assert local.relayer_url == "http://127.0.0.1:8080/relayer"
    environ = {
        "POLYINFRA_RELAYER_URL": "https://relayer.example/",
        "POLYINFRA_RELAYER_API_KEY": known_secrets.api_secret,
        "POLYINFRA_BUILDER_API_KEY": "builder",
        "POLYINFRA_BUILDER_SECRET": known_secrets.api_secret,
        "POLYINFRA_BUILDER_PASSPHRASE": known_secrets.api_passphrase,
    }
    config = resolve_config({}, environ=environ)
    assert config.relayer_url == "https://relayer.example"
    assert config.relayer_api_key is not None and config.relayer_api_key.reveal() == known_secrets.api_secret
    assert config.builder_credentials is not None and config.builder_credentials.api_key == "builder"
    assert "relayer_auth=set" in repr(config) and not secret_scanner.scan(repr(config))
    with pytest.raises(InvalidValueError, match="missing builder_passphrase"):
        resolve_config({"builder_api_key": "builder", "builder_secret": "AAAA"}, environ={})
    with pytest.raises(InvalidValueError, match="relayer_url must be a URL"):
        resolve_config({"relayer_url": "ws://relayer"}, environ={})


def test_relayer_polling_comes_from_arguments_the_environment_or_the_file(tmp_path: Path) -> None:
    default = resolve_config({}, environ={})
    assert (default.relayer_poll_interval_s, default.relayer_max_polls) == (2.0, 100)
    environ = {"POLYINFRA_RELAYER_POLL_INTERVAL_S": "0.25", "POLYINFRA_RELAYER_MAX_POLLS": "7"}
    from_environment = resolve_config({}, environ=environ)
    assert (from_environment.relayer_poll_interval_s, from_environment.relayer_max_polls) == (0.25, 7)
    toml = _toml(tmp_path, "relayer_poll_interval_s = 1\nrelayer_max_polls = 3\n")
    from_file = resolve_config({"relayer_max_polls": 5}, environ={}, config_file=toml)
    assert (from_file.relayer_poll_interval_s, from_file.relayer_max_polls) == (1.0, 5)


INTERVAL, POLLS = "relayer_poll_interval_s", "relayer_max_polls"


@pytest.mark.parametrize(
    ("name", "settings", "environ"),
    [
        (INTERVAL, {INTERVAL: 0}, {}),
        (INTERVAL, {INTERVAL: -0.5}, {}),
        (INTERVAL, {INTERVAL: float("nan")}, {}),
        (INTERVAL, {INTERVAL: True}, {}),
        (INTERVAL, {}, {"POLYINFRA_RELAYER_POLL_INTERVAL_S": "inf"}),
        (INTERVAL, {}, {"POLYINFRA_RELAYER_POLL_INTERVAL_S": "2 s"}),
        (POLLS, {POLLS: 0}, {}),
        (POLLS, {POLLS: 2.5}, {}),
        (POLLS, {}, {"POLYINFRA_RELAYER_MAX_POLLS": "-3"}),
    ],
)
def test_relayer_polling_must_be_positive_and_finite(
    name: str, settings: dict[str, Any], environ: dict[str, str]
) -> None:
    with pytest.raises(InvalidValueError, match=f"must be a positive .*field='{name}'"):
        resolve_config(settings, environ=environ)


@pytest.mark.parametrize(
    ("settings", "environ", "message"),
    [
        ({"rest_url": "ftp://x"}, {}, "rest_url must be a URL"),
        ({"ws_url": "http://x"}, {}, "ws_url must be a URL"),
        ({}, {"POLYINFRA_CHAIN_ID": "-1"}, "chain_id must be a positive integer"),
        ({"chain_id": True}, {}, "chain_id must be a positive integer"),
        ({}, {"POLYINFRA_SIGNATURE_TYPE": "7"}, "signature_type must be one of 0 .EOA., 1"),
        ({"rest_urll": "http://x"}, {}, "unknown keyword argument 'rest_urll'"),
        ({"funder": 5}, {}, "funder must be a string"),
    ],
)
def test_bad_settings_are_typed_errors_naming_the_setting(
    settings: dict[str, Any], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(InvalidValueError, match=message):
        resolve_config(settings, environ=environ)


def test_bad_config_files_are_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="cannot read the config file"):
        resolve_config({}, environ={}, config_file=tmp_path / "absent.toml")
    with pytest.raises(InvalidValueError, match="not valid TOML"):
        resolve_config({}, environ={}, config_file=_toml(tmp_path, "rest_url = \n"))
    with pytest.raises(InvalidValueError, match=r"unknown key in .* 'rest'"):
        resolve_config({}, environ={}, config_file=_toml(tmp_path, 'rest = "http://x"\n'))


def test_signature_types_by_number_or_name() -> None:
    assert parse_signature_type("POLY_GNOSIS_SAFE") is SignatureType.POLY_GNOSIS_SAFE
    assert parse_signature_type("poly_proxy") is SignatureType.POLY_PROXY
    assert parse_signature_type(3) is parse_signature_type("3") is SignatureType.POLY_1271


def test_the_configured_key_is_the_default_wallet_and_others_are_added_by_name(tmp_path: Path) -> None:
    client = AsyncPolymarket.from_toml(_toml(tmp_path, f'private_key = "{ALICE_KEY}"\n'), environ={})
    assert client.wallets == ["default"] and client.address() == ALICE
    client.add_wallet("bob", private_key=BOB_KEY, default=True)
    assert client.address() == BOB and client.address("default") == ALICE
    safe = client.add_wallet("safe", private_key=BOB_KEY, signature_type="POLY_GNOSIS_SAFE")
    assert safe.funder is not None and safe.maker != BOB  # the Safe derived from the key
    with pytest.raises(InvalidValueError, match="already added"):
        client.add_wallet("bob", private_key=ALICE_KEY)
    with pytest.raises(UnknownWalletError, match="known wallets: default, bob, safe"):
        client.address("carol")


def test_no_repr_or_error_shows_a_secret(known_secrets: Any, secret_scanner: SecretScanner, tmp_path: Path) -> None:
    environ = {
        "POLYINFRA_PRIVATE_KEY": known_secrets.private_key,
        "POLYINFRA_API_KEY": "key",
        "POLYINFRA_API_SECRET": known_secrets.api_secret,
        "POLYINFRA_API_PASSPHRASE": known_secrets.api_passphrase,
    }
    client = AsyncPolymarket(environ=environ)
    for shown in (repr(client), str(client), repr(client.config), str(client.config)):
        assert not secret_scanner.scan(shown), shown
    assert "key=set" in repr(client.config) and "credentials=set" in repr(client.config)
    with pytest.raises(InvalidValueError) as malformed:
        AsyncPolymarket(private_key=known_secrets.private_key[:-1] + "z", environ={})
    assert not secret_scanner.scan(str(malformed.value) + repr(malformed.value))
    with pytest.raises(InvalidValueError) as wrong_type:
        AsyncPolymarket(api_key="key", api_secret=123, api_passphrase="x", environ={})  # type: ignore[arg-type]
    assert "123" not in str(wrong_type.value)


def test_every_setting_has_its_environment_variable() -> None:
    assert ClientSettings.__optional_keys__ == frozenset(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize("client_class", [AsyncPolymarket, Polymarket])
def test_a_failed_construction_holds_no_secret_in_its_traceback(
    client_class: type[AsyncPolymarket | Polymarket], known_secrets: Any, secret_scanner: SecretScanner
) -> None:
    # A proxy funder that is not the key's own proxy wallet: refused while the key is being set up.
    with pytest.raises(InvalidValueError) as refused:
        client_class(
            private_key=known_secrets.private_key,
            api_key="key",
            api_secret=known_secrets.api_secret,
            api_passphrase=known_secrets.api_passphrase,
            signature_type="POLY_PROXY",
            funder="0x" + "11" * 20,
            environ={},
        )
    assert "expected_funder" in refused.value.context
    assert not secrets_in_traceback_locals(refused.value, secret_scanner)


def test_balances_convert_exactly_and_refuse_what_no_venue_sends() -> None:
    unlimited = str(2**256 - 1)  # 78 digits: every one of them is kept
    answer = BalanceAllowance(balance="10000000000", allowances={"0xspender": unlimited})
    converted = balance_from_wire(answer)
    assert converted.balance == Decimal(10_000)
    assert converted.allowances["0xspender"] == Decimal(f"{unlimited[:-6]}.{unlimited[-6:]}")
    for hostile in ("", "-1", "1.5", "1e6", "٣", "9" * 79):
        with pytest.raises(InvalidNumberError):
            balance_from_wire(BalanceAllowance(balance=hostile))
