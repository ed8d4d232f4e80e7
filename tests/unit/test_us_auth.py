"""US exchange auth, the pure parts: assertions, request bodies, answers, the refresh decision, the
refusal table read both ways, the emulator's assertion rules and clock, and the credentials' config."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from polyinfra.client.config import UsCredentials, resolve_us_credentials
from polyinfra.core.us_auth import (
    MISSING_SCOPE_MESSAGE,
    OAUTH_REFUSALS,
    AccessToken,
    AssertionFault,
    AudienceForm,
    BodyEncoding,
    OAuthRefusal,
    TokenRequestStyle,
    assertion_audience,
    assertion_claims,
    default_audience,
    load_signing_key,
    missing_scope_error,
    needs_refresh,
    parse_token_answer,
    refusal_error,
    sign_assertion,
    token_request_body,
)
from polyinfra.emulator.us.access_tokens import AcceptedAudience, UsClient, check_assertion
from polyinfra.emulator.us.clients import registration_from_flag
from polyinfra.emulator.us.token_endpoint import UsAuthKnobs, UsClock, UsTokenEndpoint
from polyinfra.errors import (
    AssertionAudienceError,
    AssertionRefusedError,
    InvalidValueError,
    JwtAuthError,
    MalformedMessageError,
    MissingScopeError,
)
from polyinfra.obs.redaction import Secret

TOKEN_URL = "https://tenant.example.com/oauth/token"
NOW_S = 1_800_000_000


@pytest.fixture(scope="module")
def key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _client(key: rsa.RSAPrivateKey) -> UsClient:
    return UsClient("firm", key.public_key(), ("read:marketdata",), None)


def _assertion(key: rsa.RSAPrivateKey, **changes: object) -> str:
    claims = assertion_claims("firm", TOKEN_URL, now_s=NOW_S, jti="j-1", style=TokenRequestStyle()) | changes
    return sign_assertion(key, claims, kid="k1").reveal()


def test_the_assertion_has_the_documented_claims_and_the_kid(key: rsa.RSAPrivateKey) -> None:
    assertion = _assertion(key)
    assert jwt.get_unverified_header(assertion) == {"alg": "RS256", "kid": "k1", "typ": "JWT"}
    claims = jwt.decode(
        assertion, key.public_key(), algorithms=["RS256"], audience=TOKEN_URL, options={"verify_iat": False}
    )
    assert claims == {"iss": "firm", "sub": "firm", "aud": TOKEN_URL, "iat": NOW_S, "exp": NOW_S + 300, "jti": "j-1"}


def test_audience_forms_and_defaults() -> None:
    assert assertion_audience(TOKEN_URL, AudienceForm.TOKEN_URL) == TOKEN_URL
    assert assertion_audience(TOKEN_URL, AudienceForm.DOMAIN) == "https://tenant.example.com/"
    assert default_audience("https://pmx-prod.us.auth0.com/oauth/token") == "https://api.prod.polymarketexchange.com"
    assert default_audience("http://127.0.0.1:9/oauth/token") == "http://127.0.0.1:9"


def test_an_assertion_lives_at_most_five_minutes() -> None:
    assert TokenRequestStyle(lifetime_s=60).lifetime_s == 60
    with pytest.raises(InvalidValueError):
        TokenRequestStyle(lifetime_s=301)


@pytest.mark.parametrize("encoding", list(BodyEncoding))
def test_the_request_body_in_both_encodings(encoding: BodyEncoding) -> None:
    body, content_type = token_request_body("firm", Secret("eyJ.a.b", register=False), audience="A", encoding=encoding)
    assert repr(body) == "Secret([REDACTED])"
    text = body.reveal()
    fields = json.loads(text) if encoding is BodyEncoding.JSON else dict(urllib.parse.parse_qsl(text))
    assert content_type == (
        "application/json" if encoding is BodyEncoding.JSON else "application/x-www-form-urlencoded"
    )
    assert fields == {
        "client_id": "firm",
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": "eyJ.a.b",
        "audience": "A",
        "grant_type": "client_credentials",
    }


def test_a_granted_answer_and_its_scopes(key: rsa.RSAPrivateKey) -> None:
    token = jwt.encode({"scope": "read:marketdata read:orders", "participant_id": "firms/f/users/u"}, "k" * 32)
    answer = json.dumps({"access_token": token, "token_type": "Bearer", "expires_in": 180})
    parsed = parse_token_answer(Secret(answer, register=False), client_id="firm", now_s=100.5)
    assert (parsed.scopes, parsed.participant_id, parsed.expires_at_s) == (
        ("read:marketdata", "read:orders"),
        "firms/f/users/u",
        279.5,
    )
    assert token not in repr(parsed)


@pytest.mark.parametrize(
    "answer",
    [
        {"access_token": "t", "token_type": "mac", "expires_in": 180},
        {"access_token": "t", "token_type": "Bearer", "expires_in": 0},
        {"access_token": "", "token_type": "Bearer", "expires_in": 180},
        {"token_type": "Bearer", "expires_in": 180},
    ],
)
def test_answers_that_are_not_a_token(answer: dict[str, object]) -> None:
    with pytest.raises(MalformedMessageError):
        parse_token_answer(Secret(json.dumps(answer), register=False), client_id="firm", now_s=0)


def test_the_refresh_decision() -> None:
    token = AccessToken(Secret("t" * 10, register=False), "firm", 200.0, 20.0, (), None)
    assert needs_refresh(None, 0)
    assert not needs_refresh(token, 169.9)
    assert needs_refresh(token, 170.0)
    assert needs_refresh(token, 250.0)


@pytest.mark.parametrize("refusal", OAUTH_REFUSALS, ids=lambda row: row.fault.value)
def test_every_refusal_the_emulator_sends_reads_back_as_its_typed_error(refusal: OAuthRefusal) -> None:
    error = refusal_error(refusal.status, json.dumps(refusal.body()).encode())
    assert type(error) is refusal.error_class
    assert error.context["hint"] == refusal.hint and error.context["oauth_error"] == refusal.error


def test_unknown_refusals() -> None:
    assert type(refusal_error(401, b'{"error": "invalid_client", "error_description": "new text"}')) is (
        AssertionRefusedError
    )
    assert type(refusal_error(403, b"<html>no</html>")) is JwtAuthError
    wrong_aud = refusal_error(
        401, b'{"error":"invalid_client","error_description":"Client assertion audience is invalid"}'
    )
    assert isinstance(wrong_aud, AssertionAudienceError) and "not the API URL" in str(wrong_aud)


def test_missing_scope_names_the_scope() -> None:
    error = missing_scope_error(MISSING_SCOPE_MESSAGE.format(scope="write:orders"), granted=("read:orders",))
    assert isinstance(error, MissingScopeError) and error.context["scope"] == "write:orders"
    assert missing_scope_error("permission denied: cross-firm") is None


@pytest.mark.parametrize(
    ("changes", "accepted", "fault"),
    [
        ({}, AcceptedAudience.TOKEN_URL, None),
        ({"aud": "https://tenant.example.com/"}, AcceptedAudience.TOKEN_URL, AssertionFault.WRONG_AUDIENCE),
        ({"aud": "https://tenant.example.com/"}, AcceptedAudience.DOMAIN, None),
        ({"aud": "https://api.example.com"}, AcceptedAudience.BOTH, AssertionFault.WRONG_AUDIENCE),
        ({"sub": "other"}, AcceptedAudience.TOKEN_URL, AssertionFault.WRONG_ISSUER),
        ({"exp": NOW_S - 1}, AcceptedAudience.TOKEN_URL, AssertionFault.EXPIRED),
        ({"exp": NOW_S + 301}, AcceptedAudience.TOKEN_URL, AssertionFault.TOO_LONG),
        ({"jti": "spent"}, AcceptedAudience.TOKEN_URL, AssertionFault.REUSED_JTI),
        ({"jti": 7}, AcceptedAudience.TOKEN_URL, AssertionFault.MALFORMED),
    ],
)
def test_the_emulators_assertion_rules(
    key: rsa.RSAPrivateKey, changes: dict[str, object], accepted: AcceptedAudience, fault: AssertionFault | None
) -> None:
    found, _, _ = check_assertion(
        _assertion(key, **changes),
        _client(key),
        token_url=TOKEN_URL,
        accepted=accepted,
        now_s=NOW_S,
        seen_jti={"spent": 0},
    )
    assert found == fault


def test_a_signature_by_another_key_and_an_unknown_client(key: rsa.RSAPrivateKey) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    signed_by_stranger = check_assertion(
        _assertion(stranger),
        _client(key),
        token_url=TOKEN_URL,
        accepted=AcceptedAudience.BOTH,
        now_s=NOW_S,
        seen_jti={},
    )
    unknown = check_assertion(
        _assertion(key), None, token_url=TOKEN_URL, accepted=AcceptedAudience.BOTH, now_s=NOW_S, seen_jti={}
    )
    assert (signed_by_stranger[0], unknown[0]) == (AssertionFault.BAD_SIGNATURE, AssertionFault.UNKNOWN_CLIENT)


def test_the_us_clock_runs_scaled_and_stays_continuous_across_changes() -> None:
    base = [1000.0]
    clock = UsClock(lambda: base[0])
    base[0] += 10
    assert clock() == 1010.0
    clock.set_scale(100)
    base[0] += 1.8
    assert clock() == pytest.approx(1190.0)
    clock.set_scale(1.0)
    base[0] += 5
    assert clock() == pytest.approx(1195.0)
    with pytest.raises(InvalidValueError):
        clock.set_scale(0)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("time_scale", 0),
        ("time_scale", True),
        ("token_lifetime_s", 0),
        ("early_expiry_s", -1),
        ("accepted_audience", "x"),
    ],
)
def test_knobs_refuse_bad_values_and_change_nothing(name: str, value: object) -> None:
    endpoint = UsTokenEndpoint()
    with pytest.raises(InvalidValueError):
        endpoint.update_knobs({"early_expiry_s": 5, name: value})
    assert endpoint.knobs == UsAuthKnobs() and endpoint.clock.scale == 1.0


def test_the_us_client_flag(tmp_path: Path, key: rsa.RSAPrivateKey) -> None:
    path = tmp_path / "pub.pem"
    path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1))
    registration = registration_from_flag(
        f"id=firm,key={path},scopes=read:marketdata read:orders,participant=firms/f/u"
    )
    assert (registration.client_id, registration.scopes, registration.participant_id) == (
        "firm",
        ["read:marketdata", "read:orders"],
        "firms/f/u",
    )
    for bad in ("id=firm", f"id=firm,key={path},scopes=a,colour=red", f"id=a,id=b,key={path},scopes=x"):
        with pytest.raises(InvalidValueError):
            registration_from_flag(bad)


def test_the_credentials_come_from_arguments_then_the_environment(tmp_path: Path) -> None:
    environ = {
        "POLYINFRA_US_CLIENT_ID": "env-firm",
        "POLYINFRA_US_PRIVATE_KEY_FILE": str(tmp_path / "key.pem"),
        "POLYINFRA_US_PARTICIPANT_ID": "firms/f/users/u",
    }
    assert resolve_us_credentials({}, environ=environ) == UsCredentials(
        "env-firm", tmp_path / "key.pem", "firms/f/users/u"
    )
    assert resolve_us_credentials({"client_id": "arg-firm"}, environ=environ).client_id == "arg-firm"
    with pytest.raises(InvalidValueError, match="POLYINFRA_US_PRIVATE_KEY_FILE"):
        resolve_us_credentials({}, environ={"POLYINFRA_US_CLIENT_ID": "firm"})
    assert "key.pem" not in repr(resolve_us_credentials({}, environ=environ))


def test_an_unreadable_or_wrong_key_is_named_never_shown(tmp_path: Path) -> None:
    with pytest.raises(InvalidValueError, match="cannot read the US private key file"):
        UsCredentials("firm", tmp_path / "missing.pem").read_key()
    not_a_key = "-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n"
    with pytest.raises(InvalidValueError) as refused:
        load_signing_key(Secret(not_a_key, register=False))
    assert "bm90IGEga2V5" not in str(refused.value) and refused.value.__context__ is None
