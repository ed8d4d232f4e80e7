"""US exchange auth end to end: the token manager against the emulator's token endpoint, and the
gRPC interceptors against a tiny grpc.aio server that checks tokens as the emulated US APIs do.

Time is a manual clock: the emulator's US clock runs on it (time-scaled), the manager reads the
emulator's clock, and the token transport's limiter reads the manual one; nothing waits on the wall.
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import httpx
import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from polyinfra.core.us_auth import (
    REFRESH_MARGIN_S,
    AccessToken,
    AudienceForm,
    BodyEncoding,
    TokenRequestStyle,
    assertion_claims,
    sign_assertion,
)
from polyinfra.emulator.runner import Emulator
from polyinfra.emulator.us.token_endpoint import UsTokenEndpoint
from polyinfra.errors import (
    AssertionAudienceError,
    AssertionExpiredError,
    AssertionKeyError,
    AssertionReplayedError,
    JwtAuthError,
    MissingScopeError,
    PolyinfraError,
    TransportError,
)
from polyinfra.net.retry import RetryPolicy
from polyinfra.obs.redaction import Secret, SecretScanner
from polyinfra.us.grpc_auth import auth_interceptors
from polyinfra.us.token_manager import TokenManager, token_endpoint_transport
from tests.conftest import GATE_FRAGMENT_CHARS
from tests.integration.us_auth_steps import (
    CLIENT_ID,
    CYCLES,
    PARTICIPANT,
    SCOPES,
    START_S,
    TIME_SCALE,
    EmulatorFactory,
    Keys,
    ManualClock,
    private_pem,
    registration,
    seconds_at_scale,
    token_manager,
)
from tests.traceback_locals import secrets_in_traceback_locals

CALLERS = 16
FIXED_JTI = "00000000-0000-4000-8000-000000000000"


@pytest.fixture(scope="module")
def keys() -> Keys:
    return Keys()


async def us_emulator(emulator_factory: EmulatorFactory, keys: Keys, base: ManualClock, **knobs: Any) -> Emulator:
    emulator = await emulator_factory(us_clients=[registration(keys)], us_clock_s=base)
    emulator.us_tokens.update_knobs({"time_scale": TIME_SCALE, **knobs})
    return emulator


def seconds_left_at_the_venue(endpoint: UsTokenEndpoint, token: AccessToken) -> float:
    """How long the venue still takes ``token``; never shorter than the manager believes (the
    token's value stays inside this frame, out of assertion messages)."""
    granted = endpoint.verify(token.bearer().reveal())
    assert token.expires_at_s <= granted.expires_at_s
    return granted.expires_at_s - endpoint.clock()


# --- the refresh loop ----------------------------------------------------------------------------


async def test_1800_token_lifetimes_one_request_each_and_never_a_lapsed_token(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base)
    endpoint = emulator.us_tokens
    async with token_manager(emulator, base, Secret(private_pem(keys.client))) as manager:
        for cycle in range(CYCLES):
            first = await asyncio.gather(*(manager.token() for _ in range(CALLERS)))
            assert endpoint.stats.issued == cycle + 1
            assert len({token.value for token in first}) == 1
            assert seconds_left_at_the_venue(endpoint, first[0]) > REFRESH_MARGIN_S
            # 140 s into its life: still fresh, so no request; every caller gets the same token.
            base.advance(seconds_at_scale(140))
            again = await asyncio.gather(*(manager.token() for _ in range(CALLERS)))
            assert endpoint.stats.issued == cycle + 1
            assert all(token is first[0] for token in again)
            assert seconds_left_at_the_venue(endpoint, again[0]) > REFRESH_MARGIN_S
            # 152 s: inside the margin, the next round must refresh.
            base.advance(seconds_at_scale(12))
    assert manager.stats.requests == manager.stats.refreshes == CYCLES
    assert manager.stats.failed_refreshes == manager.stats.replacements == 0
    assert endpoint.stats.refused == {}


async def test_a_failed_refresh_keeps_the_valid_token_and_a_lapsed_one_is_never_handed_out(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base)
    # The same jti every time: the second assertion is refused as a replay.
    async with token_manager(emulator, base, keys.client, new_jti=lambda: FIXED_JTI) as manager:
        issued = await manager.token()
        base.advance(seconds_at_scale(155))  # 25 s left: refresh due, and it fails
        assert await manager.token() is issued
        assert manager.stats.failed_refreshes == 1
        base.advance(seconds_at_scale(25))  # lapsed: the refusal is raised, the token is not handed out
        with pytest.raises(AssertionReplayedError) as refused:
            await manager.token()
    assert "fresh jti" in str(refused.value)
    assert emulator.us_tokens.stats.refused == {"reused_jti": 2}


# --- the token endpoint's refusals, typed and with their fix ---------------------------------------


async def test_a_reused_jti(emulator_factory: EmulatorFactory, keys: Keys) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base)
    async with token_manager(emulator, base, keys.client, new_jti=lambda: FIXED_JTI) as manager:
        issued = await manager.token()
        with pytest.raises(AssertionReplayedError) as refused:
            await manager.replace(issued)
    assert refused.value.context["oauth_error"] == "invalid_client_assertion"
    assert "never resend" in str(refused.value.context["hint"])


async def test_a_wrong_audience_names_the_token_url_and_the_domain_form_fixes_it(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base, accepted_audience="domain")
    async with token_manager(emulator, base, keys.client) as manager:
        with pytest.raises(AssertionAudienceError) as refused:
            await manager.token()
    assert "is the token URL" in str(refused.value) and "not the API URL" in str(refused.value)
    domain_style = TokenRequestStyle(audience_form=AudienceForm.DOMAIN, encoding=BodyEncoding.FORM, kid="key-1")
    async with token_manager(emulator, base, keys.client, style=domain_style) as manager:
        token = await manager.token()
    assert token.scopes == tuple(SCOPES)
    assert token.participant_id == PARTICIPANT


async def test_a_wrong_key(emulator_factory: EmulatorFactory, keys: Keys) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base)
    async with token_manager(emulator, base, keys.stranger) as manager:
        with pytest.raises(AssertionKeyError) as refused:
            await manager.token()
    assert "POLYINFRA_US_PRIVATE_KEY_FILE" in str(refused.value)
    assert refused.value.context["status"] == 401


async def test_an_expired_assertion_points_at_the_clock(emulator_factory: EmulatorFactory, keys: Keys) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base)
    ten_minutes_behind = lambda: emulator.us_tokens.clock() - 600  # noqa: E731
    async with token_manager(emulator, base, keys.client, clock_s=ten_minutes_behind) as manager:
        with pytest.raises(AssertionExpiredError) as refused:
            await manager.token()
    assert "clock" in str(refused.value)


# --- gRPC: the interceptors against a tiny server that checks tokens like the US APIs ---------------

_SERVICE = "polyinfra.test.Tiny"
_NEEDED_SCOPE = "read:marketdata"


class TinyApi:
    """A unary and a server-streaming method that check the bearer token (and its scope) with the
    emulator's token check, answering UNAUTHENTICATED / PERMISSION_DENIED as the venue does."""

    def __init__(self, tokens: UsTokenEndpoint) -> None:
        self._tokens = tokens
        self.seen: list[dict[str, str]] = []

    def handler(self) -> grpc.GenericRpcHandler:
        return grpc.method_handlers_generic_handler(
            _SERVICE,
            {
                "Echo": grpc.unary_unary_rpc_method_handler(self._echo),
                "Watch": grpc.unary_stream_rpc_method_handler(self._watch),
            },
        )

    async def _authorize(self, context: grpc.aio.ServicerContext) -> str:
        metadata = {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}
        self.seen.append(metadata)
        try:
            grant = self._tokens.verify(metadata.get("authorization", ""))
            grant.require(_NEEDED_SCOPE)
        except MissingScopeError as refusal:
            await context.abort(grpc.StatusCode.PERMISSION_DENIED, refusal.message)
        except JwtAuthError as refusal:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, refusal.message)
        return grant.client_id

    async def _echo(self, request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        return (await self._authorize(context)).encode()

    async def _watch(self, request: bytes, context: grpc.aio.ServicerContext) -> AsyncIterator[bytes]:
        client_id = await self._authorize(context)
        for part in (b"one", b"two"):
            yield client_id.encode() + b":" + part


@asynccontextmanager
async def tiny_channel(emulator: Emulator, manager: TokenManager) -> AsyncIterator[tuple[TinyApi, grpc.aio.Channel]]:
    api = TinyApi(emulator.us_tokens)
    server = grpc.aio.server()
    server.add_generic_rpc_handlers((api.handler(),))
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}", interceptors=auth_interceptors(manager)) as channel:
            yield api, channel
    finally:
        await server.stop(grace=None)


def seen_bearer(metadata: dict[str, str]) -> Secret:
    return Secret(metadata["authorization"], register=False)


async def test_the_interceptors_add_the_bearer_token_and_the_participant(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base)
    async with token_manager(emulator, base, keys.client) as manager, tiny_channel(emulator, manager) as (api, channel):
        answer = await channel.unary_unary(f"/{_SERVICE}/Echo")(b"", metadata=(("x-request-tag", "t1"),))
        streamed = [part async for part in channel.unary_stream(f"/{_SERVICE}/Watch")(b"")]
        token = manager.current
    assert answer == CLIENT_ID.encode()
    assert streamed == [f"{CLIENT_ID}:one".encode(), f"{CLIENT_ID}:two".encode()]
    assert token is not None and len(api.seen) == 2
    for metadata in api.seen:
        assert seen_bearer(metadata) == token.bearer()
        assert metadata["x-participant-id"] == PARTICIPANT
    assert api.seen[0]["x-request-tag"] == "t1"


async def test_without_a_participant_only_the_token_is_sent(emulator_factory: EmulatorFactory, keys: Keys) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base)
    async with (
        token_manager(emulator, base, keys.client, participant_id=None) as manager,
        tiny_channel(emulator, manager) as (api, channel),
    ):
        await channel.unary_unary(f"/{_SERVICE}/Echo")(b"")
    assert "authorization" in api.seen[0] and "x-participant-id" not in api.seen[0]


async def test_a_token_that_expires_early_is_replaced_once_for_all_concurrent_calls(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base, early_expiry_s=60)
    async with token_manager(emulator, base, keys.client) as manager, tiny_channel(emulator, manager) as (api, channel):
        first = await manager.token()
        # 140 s into its life: 40 s left, outside the refresh margin, but the venue counts it expired.
        base.advance(seconds_at_scale(140))
        echo = channel.unary_unary(f"/{_SERVICE}/Echo")
        answers = await asyncio.gather(*(echo(b"") for _ in range(8)))
        second = manager.current
    assert answers == [CLIENT_ID.encode()] * 8
    assert second is not None and second.value != first.value
    assert manager.stats.replacements == 1
    assert emulator.us_tokens.stats.issued == 2
    refused = [metadata for metadata in api.seen if seen_bearer(metadata) == first.bearer()]
    accepted = [metadata for metadata in api.seen if seen_bearer(metadata) == second.bearer()]
    assert (len(refused), len(accepted)) == (8, 8)


async def test_a_missing_scope_names_the_scope(emulator_factory: EmulatorFactory, keys: Keys) -> None:
    base = ManualClock()
    emulator = await emulator_factory(us_clients=[registration(keys, ["read:instruments"])], us_clock_s=base)
    async with token_manager(emulator, base, keys.client) as manager, tiny_channel(emulator, manager) as (_, channel):
        with pytest.raises(MissingScopeError) as refused:
            await channel.unary_unary(f"/{_SERVICE}/Echo")(b"")
    assert refused.value.context["scope"] == _NEEDED_SCOPE
    assert refused.value.context["granted"] == "read:instruments"
    assert "grant read:marketdata" in str(refused.value)


# --- secrets -------------------------------------------------------------------------------------------


def key_and_first_assertion(key: rsa.RSAPrivateKey, token_url: str, tokens: Sequence[str] = ()) -> SecretScanner:
    """A scanner for ``key``'s PEM, the first assertion a manager on the test clock with the fixed
    jti signs (RS256 is deterministic) and ``tokens``."""
    claims = assertion_claims(CLIENT_ID, token_url, now_s=int(START_S), jti=FIXED_JTI, style=TokenRequestStyle())
    secrets = {"private key": private_pem(key), "assertion": sign_assertion(key, claims).reveal()}
    secrets |= {f"token {index}": token for index, token in enumerate(tokens)}
    return SecretScanner(secrets, fragment_chars=GATE_FRAGMENT_CHARS)


async def test_no_key_assertion_or_token_in_logs_output_reprs_or_errors(
    emulator_factory: EmulatorFactory,
    keys: Keys,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base, early_expiry_s=60)
    shown: list[str] = []
    tokens: list[str] = []
    async with (
        token_manager(emulator, base, Secret(private_pem(keys.client)), new_jti=lambda: FIXED_JTI) as manager,
        tiny_channel(emulator, manager) as (_, channel),
    ):
        token = await manager.token()
        tokens.append(token.value.reveal())
        shown += [repr(manager), repr(token), str(token.bearer()), repr(auth_interceptors(manager))]
        base.advance(seconds_at_scale(140))
        with pytest.raises(AssertionReplayedError) as replayed:  # the replacement reuses the jti
            await channel.unary_unary(f"/{_SERVICE}/Echo")(b"")
        shown += [str(replayed.value), repr(replayed.value)]
        base.advance(seconds_at_scale(15))  # refresh due, refused, the current token kept (logged)
        await manager.token()
    assert manager.stats.failed_refreshes == 1
    scanner = key_and_first_assertion(keys.client, emulator.urls["us_token"], tokens)
    captured = capsys.readouterr()
    for text in [caplog.text, captured.out, captured.err, *shown]:
        assert scanner.scan(text) == []
    assert "US access token issued" in caplog.text and "refresh failed" in caplog.text


async def test_a_refused_or_unreachable_token_request_leaves_no_secret_in_traceback_locals(
    emulator_factory: EmulatorFactory, keys: Keys
) -> None:
    base = ManualClock()
    emulator = await us_emulator(emulator_factory, keys, base)
    errors: list[PolyinfraError] = []
    # Neither the key's PEM nor the assertion is ever a local here: this frame is in the tracebacks.
    async with token_manager(emulator, base, Secret(private_pem(keys.stranger)), new_jti=lambda: FIXED_JTI) as manager:
        with pytest.raises(AssertionKeyError) as refused:
            await manager.token()
        errors.append(refused.value)
    token_url = emulator.urls["us_token"]
    await emulator.stop()  # nothing listens there any more
    async with (
        token_endpoint_transport(token_url, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01)) as transport,
        TokenManager(
            client_id=CLIENT_ID,
            private_key=Secret(private_pem(keys.stranger)),
            token_url=token_url,
            clock_s=emulator.us_tokens.clock,
            new_jti=lambda: FIXED_JTI,
            transport=transport,
        ) as manager,
    ):
        with pytest.raises(TransportError) as unreachable:
            await manager.token()
        errors.append(unreachable.value)
    scanner = key_and_first_assertion(keys.stranger, token_url)
    for error in errors:
        assert secrets_in_traceback_locals(error, scanner) == []


# --- the command line ------------------------------------------------------------------------------------


@pytest.fixture
def key_file(tmp_path: Path, keys: Keys) -> Iterator[Path]:
    path = tmp_path / "us-key.pem"
    path.write_text(private_pem(keys.client))
    yield path


async def test_us_whoami_shows_client_scopes_participant_and_expiry_never_the_token(
    emulator_factory: EmulatorFactory, keys: Keys, key_file: Path
) -> None:
    emulator = await emulator_factory(us_clients=[registration(keys)])
    environment = os.environ | {
        "POLYINFRA_US_CLIENT_ID": CLIENT_ID,
        "POLYINFRA_US_PRIVATE_KEY_FILE": str(key_file),
        "POLYINFRA_US_PARTICIPANT_ID": PARTICIPANT,
    }
    command = [sys.executable, "-m", "polyinfra.cli.main", "us", "whoami", "--token-url", emulator.urls["us_token"]]
    process = await asyncio.create_subprocess_exec(
        *command, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    out, err = await process.communicate()
    assert process.returncode == 0, err.decode()
    text = out.decode()
    assert f"client:      {CLIENT_ID}" in text
    assert "scopes:      read:marketdata read:instruments" in text
    assert f"participant: {PARTICIPANT}" in text
    assert "expires:" in text and "(in 1" in text
    assert emulator.us_tokens.stats.issued == 1
    assert "eyJ" not in text + err.decode()  # no JWT: neither the token nor the assertion


async def test_clients_and_knobs_over_the_control_routes(emulator_factory: EmulatorFactory, keys: Keys) -> None:
    base = ManualClock()
    emulator = await emulator_factory(us_clock_s=base)
    rest = emulator.urls["rest"]
    async with httpx.AsyncClient() as http:
        unknown = await http.post(emulator.urls["us_token"], json={"client_id": CLIENT_ID})
        registered = await http.post(f"{rest}/_emulator/us/clients", content=msgspec.json.encode(registration(keys)))
        refused = await http.post(f"{rest}/_emulator/us/clients", json={"client_id": "x", "public_key_pem": "no"})
        knobs = await http.post(f"{rest}/_emulator/us/auth", json={"time_scale": 60, "token_lifetime_s": 90})
    assert unknown.status_code == 401 and unknown.json()["error"] == "invalid_client"
    assert registered.json() == {"client_id": CLIENT_ID, "scopes": SCOPES, "participant_id": PARTICIPANT}
    assert refused.status_code == 400 and "RSA public key" in refused.json()["error"]
    assert knobs.json()["time_scale"] == 60 and knobs.json()["token_lifetime_s"] == 90
    async with token_manager(emulator, base, keys.client) as manager:
        token = await manager.token()
        base.advance(1.0)  # 60 emulated seconds
        assert seconds_left_at_the_venue(emulator.us_tokens, token) == pytest.approx(30, abs=1)
    assert token.expires_at_s - token.issued_at_s == 89
