"""Redaction masks every secret and nothing else: endpoint paths and error texts stay readable.

The false positives this guards against came from secret-looking words in URL paths
(``GET /auth/api-keys: read timed out`` was logged as ``GET /auth/api-keys: [REDACTED] timed out``):
a path segment, or a piece of a hyphenated word, is not the name of a value.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from polyinfra.obs.redaction import MASK, SecretScanner, redact, secret_forms
from tests.conftest import KNOWN_TEST_SECRETS

# Segments of the venue's endpoint paths, the secret-looking ones first.
_PATH_SEGMENTS = st.sampled_from(
    [
        "auth",
        "api-key",
        "api-keys",
        "derive-api-key",
        "secret",
        "token",
        "signature",
        "passphrase",
        "credentials",
        "private_key",
        "jwt",
        "cookie",
        "order",
        "orders",
        "data",
        "trades",
        "cancel-all",
        "balance-allowance",
        "update",
        "v1",
        "heartbeats",
        "0x" + "ab12" * 16,
    ]
)
_PATHS = st.lists(_PATH_SEGMENTS, min_size=1, max_size=4).map(lambda segments: "/" + "/".join(segments))
_METHODS = st.sampled_from(["GET", "POST", "DELETE", "PUT"])
# What the transport and the venue say when a request fails.
_FAILURES = st.sampled_from(
    [
        "read timed out",
        "connect timed out",
        "pool timed out",
        "write timed out",
        "could not connect",
        "the connection failed",
        "the request is not valid HTTP",
        "the answer's content encoding is broken",
        "Invalid L1 Request headers",
        "Unauthorized/Invalid api key",
        "Could not create api key",
    ]
)
_ERROR_TEXTS = st.one_of(
    st.builds(lambda method, path, failure: f"{method} {path}: {failure}", _METHODS, _PATHS, _FAILURES),
    st.builds(lambda method, path: f"{method} {path} body does not match its schema", _METHODS, _PATHS),
    st.builds(lambda path, failure: f"path={path} error={failure!r}", _PATHS, _FAILURES),
    st.builds(lambda path, failure: f'{{"path": "{path}", "error": "{failure}"}}', _PATHS, _FAILURES),
)


@given(_ERROR_TEXTS)
def test_endpoint_paths_and_error_texts_survive_unchanged(text: str) -> None:
    assert redact(text) == text


# Names values travel under in headers dumps, JSON, reprs, query strings and command lines.
_SECRET_NAMES = st.sampled_from(
    [
        "POLY_PASSPHRASE",
        "POLY_SIGNATURE",
        "POLY_API_KEY",
        "api_secret",
        "secret",
        "passphrase",
        "private_key",
        "privateKey",
        "api-key",
        "X-Api-Key",
        "Authorization",
        "access_token",
    ]
)
# How a named value is written; a masked value keeps its quotes.
_NAMED_VALUE_FORMS = st.sampled_from(
    [
        "{name}: {value}",
        "{name}={value}",
        '"{name}": "{value}"',
        "'{name}': '{value}'",
        "?{name}={value}&limit=5",
        "--{name}={value}",
    ]
)
_VALUES = st.text(
    alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_.~-", min_size=1, max_size=40
)


@given(_ERROR_TEXTS, _SECRET_NAMES, _NAMED_VALUE_FORMS, _VALUES, _FAILURES)
def test_values_under_secret_names_are_masked_next_to_endpoint_paths(
    before: str, name: str, form: str, value: str, after: str
) -> None:
    text = f"{before} {form.format(name=name, value=value)} {after}"
    assert redact(text) == f"{before} {form.format(name=name, value=MASK)} {after}"


_KNOWN = KNOWN_TEST_SECRETS.by_name()
_SCANNER = SecretScanner(_KNOWN)
_KNOWN_FORMS = st.sampled_from(sorted({form for value in _KNOWN.values() for form in secret_forms(value)}))


@given(_ERROR_TEXTS, _KNOWN_FORMS, _FAILURES)
def test_registered_secrets_in_every_form_are_masked_next_to_endpoint_paths(before: str, form: str, after: str) -> None:
    redacted = redact(f"{before} {form} {after}")
    assert _SCANNER.scan(redacted) == []
    assert redacted == f"{before} {MASK} {after}"
