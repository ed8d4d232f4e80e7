"""Hostile input into every US auth decoder: a typed error or a valid result, nothing else.

The client's: the token endpoint's answers (granted and refused), the claims read out of an access
token, the exchange's "missing required scope" messages. The emulator's: token requests (JSON and
form-encoded), client registrations (body and ``--us-client`` flag).
"""

from __future__ import annotations

import base64
import urllib.parse
from pathlib import Path

import msgspec
import pytest
from hypothesis import given
from hypothesis import strategies as st

from polyinfra.core.us_auth import (
    AccessToken,
    missing_scope_error,
    parse_token_answer,
    refusal_error,
    token_claims,
)
from polyinfra.emulator.us.clients import registration_from_flag, us_client
from polyinfra.emulator.us.token_endpoint import token_request_from_body
from polyinfra.errors import InvalidValueError, JwtAuthError, MalformedMessageError, MissingScopeError
from polyinfra.obs.redaction import Secret
from polyinfra.wire.us_oauth import CLIENT_REGISTRATION, AccessTokenClaims, ClientRegistration, TokenRequest
from tests.fuzz.hostile import hostile_bytes, invalid_utf8

_TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzY29wZSI6InJlYWQ6bWFya2V0ZGF0YSJ9.c2ln"
_GRANTED = {"access_token": _TOKEN, "token_type": "Bearer", "expires_in": 180}
_REFUSED = {"error": "invalid_client", "error_description": "Client assertion audience is invalid"}
_CLAIMS = {"sub": "firm", "scope": "read:marketdata read:instruments", "exp": 1, "iat": 0, "participant_id": "p"}
_REQUEST = {
    "client_id": "firm",
    "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
    "client_assertion": _TOKEN,
    "audience": "https://api.example",
    "grant_type": "client_credentials",
}
_PUBLIC_PEM = "-----BEGIN PUBLIC KEY-----\nMFww\n-----END PUBLIC KEY-----\n"
_REGISTRATION = {
    "client_id": "firm",
    "public_key_pem": _PUBLIC_PEM,
    "scopes": ["read:marketdata"],
    "participant_id": "firms/f/users/u",
}


def _as_text(body: bytes) -> Secret:
    # As the token manager hands an answer over: bytes that are not UTF-8 survive as lone surrogates.
    return Secret(body.decode("utf-8", "surrogateescape"), register=False)


@given(body=hostile_bytes(_GRANTED, _REFUSED))
def test_token_answers(body: bytes) -> None:
    try:
        token = parse_token_answer(_as_text(body), client_id="firm", now_s=0.0)
    except MalformedMessageError:
        return
    assert isinstance(token, AccessToken) and token.expires_at_s > -1


@given(status=st.integers(min_value=400, max_value=499), body=hostile_bytes(_REFUSED, _GRANTED))
def test_refusals_always_become_a_typed_error(status: int, body: bytes) -> None:
    error = refusal_error(status, body, endpoint="/oauth/token")
    assert isinstance(error, JwtAuthError)
    assert str(error)


def _jwt_around(payload: bytes) -> str:
    return "eyJhbGciOiJIUzI1NiJ9." + base64.urlsafe_b64encode(payload).decode().rstrip("=") + ".sig"


@given(
    token=st.one_of(
        hostile_bytes(_CLAIMS).map(_jwt_around),
        st.text(max_size=200),
        invalid_utf8().map(lambda raw: raw.decode("utf-8", "surrogateescape")),
    )
)
def test_claims_of_any_token(token: str) -> None:
    assert isinstance(token_claims(Secret(token, register=False)), AccessTokenClaims)


@given(message=st.one_of(st.text(max_size=400), st.just("permission denied: missing required scope read:orders")))
def test_missing_scope_messages(message: str) -> None:
    error = missing_scope_error(message)
    assert error is None or (isinstance(error, MissingScopeError) and error.context["scope"])


def _form(document: object) -> bytes:
    if isinstance(document, dict):
        return urllib.parse.urlencode({str(key): str(value) for key, value in document.items()}).encode()
    return msgspec.json.encode(document)


@given(
    body=st.one_of(hostile_bytes(_REQUEST), hostile_bytes(_REQUEST).map(lambda raw: _form(_maybe_json(raw)))),
    form=st.booleans(),
)
def test_token_requests(body: bytes, form: bool) -> None:
    content_type = "application/x-www-form-urlencoded" if form else "application/json"
    try:
        request = token_request_from_body(body, content_type)
    except MalformedMessageError:
        return
    assert isinstance(request, TokenRequest)


def _maybe_json(raw: bytes) -> object:
    try:
        return msgspec.json.decode(raw)
    except (msgspec.DecodeError, RecursionError):
        return raw.decode("latin-1")


@given(body=hostile_bytes(_REGISTRATION))
def test_client_registrations(body: bytes) -> None:
    try:
        registration = CLIENT_REGISTRATION.decode(body)
        us_client(registration)
    except (MalformedMessageError, InvalidValueError):
        return


@pytest.fixture(scope="module")
def public_key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("us-client") / "key.pub"
    path.write_text(_PUBLIC_PEM)
    return path


_FLAG_PARTS = st.sampled_from(["id=firm", "key=KEY", "scopes=read:marketdata read:orders", "participant=firms/f/u"])


@given(
    spec=st.one_of(
        st.lists(st.one_of(_FLAG_PARTS, st.text(max_size=30)), max_size=6).map(",".join),
        st.text(max_size=200),
    )
)
def test_us_client_flags(public_key_file: Path, spec: str) -> None:
    try:
        registration = registration_from_flag(spec.replace("KEY", str(public_key_file)))
    except InvalidValueError:
        return
    assert isinstance(registration, ClientRegistration)
