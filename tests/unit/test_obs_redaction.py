"""Redaction: every form of a registered secret, the always-secret patterns, and what must stay readable."""

from __future__ import annotations

import base64
import copy
import json
import logging
import math
import pickle
import re
import urllib.parse
from collections.abc import Iterable

import pytest

from polyinfra.errors import InvalidValueError, L2AuthError, PolyinfraError
from polyinfra.obs import redaction
from polyinfra.obs.redaction import (
    MASK,
    Secret,
    SecretScanner,
    SecretSighting,
    is_secret_key,
    redact,
    redact_mapping,
    redact_url,
    redact_url_credentials,
    register_secret,
    secret_forms,
    url_without_credentials,
)

# Registered only in this module; distinct from the session's known secrets so that a failure
# here cannot be a side effect of the conftest's registration.
PRIVATE_KEY = "0x4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
API_SECRET = "Zm9vYmFyLWJhei1xdXV4LXNlY3JldC0xMjM0NTY3OD9-_w=="
PASSPHRASE = "5e7cf5a0e5c2f3c7d1b0a9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8"
ORDER_HASH = "0x3f0e5e2b9a7c1d4f6e8a0b2c4d6e8f0a1b3c5d7e9f1a3b5c7d9e1f3a5b7c9d1e"
CONDITION_ID = "0xbd31dc8a20211944f6b70f31557f1001557b59905b7738480ca09bd4532f84af"
JWT = (
    "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1bml0LXRlc3QiLCJleHAiOjE3MDAwMDAwMDB9."
    "c2lnbmF0dXJlLWJ5dGVzLWZvci10aGUtdW5pdC10ZXN0"
)


@pytest.fixture(scope="module", autouse=True)
def _registered() -> None:
    for value in (PRIVATE_KEY, API_SECRET, PASSPHRASE):
        register_secret(value)


def _private_key_bytes() -> bytes:
    return bytes.fromhex(PRIVATE_KEY[2:])


def _api_secret_bytes() -> bytes:
    return base64.urlsafe_b64decode(API_SECRET)


def _every_encoding(data: bytes) -> list[str]:
    standard = base64.b64encode(data).decode()
    url_safe = base64.urlsafe_b64encode(data).decode()
    hex_lower = data.hex()
    return [
        standard,
        standard.rstrip("="),
        url_safe,
        url_safe.rstrip("="),
        hex_lower,
        hex_lower.upper(),
        "0x" + hex_lower,
        "0x" + hex_lower.upper(),
    ]


REGISTERED_FORMS = [
    PRIVATE_KEY,
    PRIVATE_KEY[2:],
    PRIVATE_KEY.upper().replace("0X", "0x"),
    PRIVATE_KEY[2:].upper(),
    *_every_encoding(_private_key_bytes()),
    *_every_encoding(PRIVATE_KEY.encode()),
    API_SECRET,
    API_SECRET.rstrip("="),
    *_every_encoding(_api_secret_bytes()),
    *_every_encoding(API_SECRET.encode()),
    PASSPHRASE,
    *_every_encoding(PASSPHRASE.encode()),
    *_every_encoding(bytes.fromhex(PASSPHRASE)),
    urllib.parse.quote(API_SECRET, safe=""),
    urllib.parse.quote(base64.b64encode(_api_secret_bytes()).decode(), safe=""),
]


@pytest.mark.parametrize("form", REGISTERED_FORMS)
def test_every_form_of_a_registered_secret_is_masked_inside_longer_text(form: str) -> None:
    text = f"signing with {form}, then sending"
    assert redact(text) == f"signing with {MASK}, then sending"


@pytest.mark.parametrize("form", REGISTERED_FORMS)
def test_every_form_is_masked_in_json_urls_and_header_dumps(form: str) -> None:
    document = json.dumps({"note": form, "nested": [{"value": form}]})
    # URL-encoded forms are forms of their own (in REGISTERED_FORMS): each goes in as it is.
    url = f"https://clob.polymarket.com/data/orders?x={form}&next_cursor=MA=="
    headers = f"X-Debug: {form}\r\nContent-Type: application/json"
    for text in (document, url, headers):
        redacted = redact(text)
        assert form not in redacted
        assert MASK in redacted


def test_the_encodings_are_the_expected_strings() -> None:
    forms = secret_forms(API_SECRET)
    decoded = _api_secret_bytes()
    assert forms[API_SECRET] == "as given"
    assert forms[decoded.hex()] == "hex of the decoded base64"
    assert forms["0x" + decoded.hex().upper()] == "0x upper-case hex of the decoded base64"
    assert forms[base64.b64encode(decoded).decode()] == "base64 of the decoded base64"
    private_key_forms = secret_forms(PRIVATE_KEY)
    assert private_key_forms[base64.b64encode(_private_key_bytes()).decode()] == "base64 of the decoded hex"


def test_degenerate_encodings_are_not_registered() -> None:
    # 32 zero bytes (the official test secret) are 64 zeros in hex: the zero hash is not a secret.
    forms = secret_forms("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    assert "0" * 64 not in forms
    assert "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=" in forms


def test_order_hashes_condition_ids_and_token_ids_stay_readable() -> None:
    token_id = "71321045679252212594626385532706912750332728571942532289631379312455583992563"
    text = (
        f"order {ORDER_HASH} on market {CONDITION_ID} token_id={token_id}"
        f' {{"hash": "{ORDER_HASH}", "condition_id": "{CONDITION_ID}", "token_id": "123", "asset_id": "456"}}'
    )
    assert redact(text) == text


def test_short_text_is_returned_unchanged() -> None:
    assert redact("info") == "info"


def test_jwts_are_masked_without_registration() -> None:
    assert redact(f"assertion ready: {JWT} (expires soon)") == f"assertion ready: {MASK} (expires soon)"
    unsigned = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
    assert redact(f"token {unsigned}") == f"token {MASK}"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Bearer abc.def-ghi", f"Authorization: {MASK}"),
        (f"Authorization: Bearer {JWT}", f"Authorization: {MASK}"),
        ('{"Authorization": "Bearer abc"}', f'{{"Authorization": "{MASK}"}}'),
        ("sent with bearer QWxhZGRpbjpvcGVu and waited", f"sent with bearer {MASK} and waited"),
        ("proxy said Basic QWxhZGRpbjpvcGVu", f"proxy said Basic {MASK}"),
    ],
)
def test_auth_headers_and_schemes_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # L2 and L1 headers as a raw dump, a Python dict repr and JSON.
        (
            "POLY_ADDRESS: 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\r\nPOLY_SIGNATURE: ZwAdJKvoYRlEKDkN=\r\n"
            "POLY_TIMESTAMP: 1000000\r\nPOLY_API_KEY: 000000000-0000-0000-0000-000000000000\r\n"
            "POLY_PASSPHRASE: hunter2hunter2",
            "POLY_ADDRESS: 0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266\r\nPOLY_SIGNATURE: [REDACTED]\r\n"
            "POLY_TIMESTAMP: 1000000\r\nPOLY_API_KEY: [REDACTED]\r\nPOLY_PASSPHRASE: [REDACTED]",
        ),
        (
            "{'POLY_SIGNATURE': 'ZwAdJKvoYRlEKDkN=', 'POLY_NONCE': '0'}",
            "{'POLY_SIGNATURE': '[REDACTED]', 'POLY_NONCE': '0'}",
        ),
        (
            '{"apiKey": "k", "secret": "c2VjcmV0", "passphrase": "p4ss", "note": "ok"}',
            '{"apiKey": "[REDACTED]", "secret": "[REDACTED]", "passphrase": "[REDACTED]", "note": "ok"}',
        ),
        # JSON inside a JSON string.
        ('{"body": "{\\"secret\\": \\"c2VjcmV0\\"}"}', '{"body": "{\\"secret\\": \\"[REDACTED]\\"}"}'),
        ("loaded private_key=0xdeadbeef from env", "loaded private_key=[REDACTED] from env"),
        ("GET /x?api_secret=abc&limit=5", "GET /x?api_secret=[REDACTED]&limit=5"),
        ("signature_type=2 token_id=123 tokens=3", "signature_type=2 token_id=123 tokens=3"),
        ("http://x/?secret=abc", f"http://x/?secret={MASK}"),
        # A secret-looking path segment or piece of a hyphenated word names no value; a flag does.
        ("GET /auth/api-keys: read timed out", "GET /auth/api-keys: read timed out"),
        ("GET /auth/derive-api-key: could not connect", "GET /auth/derive-api-key: could not connect"),
        ("polyinfra --api-key=abc --secret=xyz", f"polyinfra --api-key={MASK} --secret={MASK}"),
    ],
)
def test_values_under_secret_names_are_masked(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_redacting_twice_changes_nothing() -> None:
    text = f"POLY_SIGNATURE: abc= secret='x' Authorization: Bearer y {JWT} {API_SECRET}"
    once = redact(text)
    assert redact(once) == once


@pytest.mark.parametrize(
    ("key", "secret"),
    [
        ("secret", True),
        ("api_secret", True),
        ("apiSecret", True),
        ("passphrase", True),
        ("POLY_PASSPHRASE", True),
        ("private_key", True),
        ("privateKey", True),
        ("signature", True),
        ("POLY_SIGNATURE", True),
        ("Authorization", True),
        ("jwt", True),
        ("token", True),
        ("access_token", True),
        ("api_key", True),
        ("token_id", False),
        ("tokens", False),
        ("clobTokenIds", False),
        ("signature_type", False),
        ("signatureType", False),
        ("asset_id", False),
        ("hash", False),
        ("owner", False),
        (3, False),
    ],
)
def test_secret_key_names(key: object, secret: bool) -> None:
    assert is_secret_key(key) is secret


def test_redact_mapping_masks_secret_keys_at_every_depth() -> None:
    payload = {
        "order": {"tokenId": "123", "signature": "0xsig", "signatureType": 2, "salt": 7},
        "owner": "000000000-0000-0000-0000-000000000000",
        "creds": [{"apiKey": "k", "secret": "s", "passphrase": None}],
        "token_id": "456",
        "note": f"signed with {API_SECRET}",
        "pair": ("token", JWT),
    }
    assert redact_mapping(payload) == {
        "order": {"tokenId": "123", "signature": MASK, "signatureType": 2, "salt": 7},
        "owner": "000000000-0000-0000-0000-000000000000",
        "creds": [{"apiKey": MASK, "secret": MASK, "passphrase": None}],
        "token_id": "456",
        "note": f"signed with {MASK}",
        "pair": ("token", MASK),
    }
    assert payload["order"]["signature"] == "0xsig", "the input is not modified"  # type: ignore[index]


def test_register_secret_refuses_values_too_short_to_redact() -> None:
    with pytest.raises(InvalidValueError):
        register_secret("abc")


# --- Secret -----------------------------------------------------------------------------------------


def test_secret_never_shows_its_value() -> None:
    secret = Secret("s3cr3t-v4lue-for-the-unit-test")
    value = secret.reveal()
    assert value == "s3cr3t-v4lue-for-the-unit-test"
    shown_forms = (str(secret), repr(secret), f"{secret}", f"{secret!r}", f"{secret:>40}", format(secret, ""))
    for shown in (*shown_forms, str([secret]), str({"s": secret})):
        assert value not in shown
        assert MASK in shown


def test_secret_never_shows_in_exception_args_or_text() -> None:
    secret = Secret("exception-secret-value-123")
    error = PolyinfraError("login failed", passphrase=secret)
    plain = ValueError(secret)
    for text in (str(error), repr(error), str(plain), repr(plain), str(error.context)):
        assert secret.reveal() not in text


def test_secret_never_shows_in_log_records_even_unconfigured(caplog: pytest.LogCaptureFixture) -> None:
    secret = Secret("logged-secret-value-456")
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("polyinfra.test").warning("credentials %s %r", secret, {"k": secret})
    assert secret.reveal() not in caplog.text
    assert MASK in caplog.text


def test_secret_cannot_be_pickled_but_copies_are_itself() -> None:
    secret = Secret("pickled-secret-value-789")
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(secret)
    with pytest.raises(TypeError):
        pickle.dumps({"nested": [secret]})
    assert copy.copy(secret) is secret
    assert copy.deepcopy({"s": secret})["s"] is secret


def test_secret_equality_compares_values() -> None:
    assert Secret("same-value-123") == Secret("same-value-123")
    assert Secret("same-value-123") != Secret("other-value-456")
    assert len({Secret("same-value-123"), Secret("same-value-123")}) == 1


def test_a_secret_is_registered_so_its_revealed_value_is_redacted() -> None:
    secret = Secret("revealed-secret-value-000")
    assert redact(f"oops {secret.reveal()}") == f"oops {MASK}"
    assert redact(f"oops {base64.b64encode(secret.reveal().encode()).decode()}") == f"oops {MASK}"


# --- SecretScanner (the leak gate's detector) -------------------------------------------------------


def test_scanner_finds_planted_leaks_in_every_form_and_names_them() -> None:
    scanner = SecretScanner({"private_key": PRIVATE_KEY, "api_secret": API_SECRET})
    planted = {
        PRIVATE_KEY: "as given",
        base64.b64encode(_private_key_bytes()).decode(): "base64 of the decoded hex",
        _api_secret_bytes().hex(): "hex of the decoded base64",
        base64.b64encode(API_SECRET.encode()).decode(): "base64 of the text",
        urllib.parse.quote(API_SECRET, safe=""): "URL-encoded as given",
        # The API secret is url-safe base64 with "-" and "_": its standard base64 has "+" and "/".
        base64.b64encode(_api_secret_bytes()).decode().rstrip("="): "unpadded base64 of the decoded base64",
    }
    for leak, form in planted.items():
        text = f"line before\nsomething {leak} after"
        sightings = scanner.scan(text)
        assert [(sighting.form, sighting.position) for sighting in sightings] == [(form, text.index(leak))], leak


def test_scanner_reports_each_secret_once_per_place_and_nothing_in_clean_text() -> None:
    scanner = SecretScanner({"private_key": PRIVATE_KEY, "api_secret": API_SECRET})
    assert scanner.scan(f"order {ORDER_HASH} market {CONDITION_ID} {MASK}") == []
    text = f"a {PRIVATE_KEY} b {API_SECRET}"
    assert scanner.scan(text) == [
        SecretSighting("private_key", "as given", text.index(PRIVATE_KEY), text.index(PRIVATE_KEY) + len(PRIVATE_KEY)),
        SecretSighting("api_secret", "as given", text.index(API_SECRET), len(text)),
    ]


def test_scanner_finds_what_redaction_removes() -> None:
    scanner = SecretScanner({"api_secret": API_SECRET, "passphrase": PASSPHRASE})
    text = f"headers={{'POLY_PASSPHRASE': '{PASSPHRASE}', 'X': '{API_SECRET.rstrip('=')}'}}"
    assert {sighting.secret_name for sighting in scanner.scan(text)} == {"api_secret", "passphrase"}
    assert scanner.scan(redact(text)) == []


def test_scanner_with_fragments_finds_every_run_of_23_characters() -> None:
    scanner = SecretScanner({"private_key": PRIVATE_KEY}, fragment_chars=12)
    for start in range(len(PRIVATE_KEY) - 23 + 1):
        piece = PRIVATE_KEY[start : start + 23]
        sightings = scanner.scan(f"cut: {piece} :cut")
        assert [sighting.secret_name for sighting in sightings] == ["private_key"], piece
    assert SecretScanner({"private_key": PRIVATE_KEY}).scan(f"cut: {PRIVATE_KEY[5:40]} :cut") == []


def test_scanner_with_fragments_finds_a_secret_in_a_message_with_its_middle_cut_out() -> None:
    # How websockets logs a long frame: the first 50 and the last 25 characters.
    message = json.dumps({"type": "user", "markets": [], "auth": {"apiKey": "k", "passphrase": PASSPHRASE}})
    logged = f"> TEXT '{message[:50]}...{message[-25:]}' [{len(message)} bytes]"
    assert PASSPHRASE not in logged
    [sighting] = SecretScanner({"passphrase": PASSPHRASE}, fragment_chars=12).scan(logged)
    assert sighting.secret_name == "passphrase"
    assert sighting.form.startswith("a fragment (")
    # Consecutive chunks of the tail are one sighting, covering every chunk-aligned character.
    assert logged[sighting.position : sighting.end] in PASSPHRASE
    assert sighting.end - sighting.position >= 12


def test_scanner_ignores_fragments_with_too_few_distinct_characters() -> None:
    scanner = SecretScanner({"passphrase": "a" * 64}, fragment_chars=12)
    assert scanner.scan("a" * 40) == []
    assert [sighting.form for sighting in scanner.scan("a" * 64)] == ["as given"]


def test_error_text_is_redacted_even_when_a_caller_puts_a_secret_in_its_context() -> None:
    secret = "Zm9vYmFyLXNlY3JldC12YWx1ZS0xMjM0NTY3ODkw"
    register_secret(secret)
    error = L2AuthError(f"bad secret {secret}", endpoint="/order", api_secret=secret)
    assert secret not in str(error)
    assert secret not in repr(error)
    assert "/order" in str(error)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://bob:pw@db:5432/x", f"postgresql://bob:{MASK}@db:5432/x"),
        ("postgresql://bob@db/x", "postgresql://bob@db/x"),
        ("postgresql://db/x?password=pw&sslmode=require", f"postgresql://db/x?password={MASK}&sslmode=require"),
        # A raw "@" or "/" in a password: everything up to the last "@" is hidden.
        ("postgresql://bob:p@ss/w@db/x", f"postgresql://bob:{MASK}@db/x"),
        ("postgresql://b/ob:pw@db/x", f"postgresql://{MASK}@db/x"),
        ("nats://tok:secret-value@127.0.0.1:4222", f"nats://tok:{MASK}@127.0.0.1:4222"),
    ],
)
def test_a_urls_credentials_are_masked(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_a_text_quoting_a_url_or_its_password_is_masked() -> None:
    url = "postgresql://bob:p%40w@db/x?sslpassword=k3y"
    text = f'invalid percent-encoded token: "p%40w"; p@w; k3y; in URI: "{url}"'
    redacted = redact_url_credentials(text, url)
    assert "p%40w" not in redacted
    assert "p@w" not in redacted
    assert "k3y" not in redacted
    assert "postgresql://bob:" in redacted


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("nats://user:pass-word@host:4222/STREAM", "nats://[REDACTED]@host:4222/STREAM"),
        ("nats://s3cr3t-token@host/STREAM", "nats://[REDACTED]@host/STREAM"),
        ("nats://a@b:c@host/x@y", "nats://[REDACTED]@host/x@y"),
        ("nats://host:4222/user@example", "nats://host:4222/user@example"),
        ("user:pass@host", "[REDACTED]@host"),
        ("sqlite:///tape.db", "sqlite:///tape.db"),
    ],
)
def test_url_without_credentials_masks_the_userinfo_only(url: str, shown: str) -> None:
    assert url_without_credentials(url) == shown


def test_pem_private_keys_are_masked_whole_quoted_or_cut_public_keys_are_not() -> None:
    body = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7\nq8mJcX0yT2Hn4Z\n"
    pem = f"-----BEGIN PRIVATE KEY-----\n{body}-----END PRIVATE KEY-----\n"
    rsa_pem = pem.replace("PRIVATE KEY", "RSA PRIVATE KEY")
    for text in (f"loaded {pem} done", f"key={rsa_pem!r}", f"cut short: {pem[:60]}"):
        assert "MIIEvQIBADANBgkq" not in redact(text)
    assert redact(f"loaded {pem} done").endswith(" done")
    public = "-----BEGIN PUBLIC KEY-----\nMFwwDQYJKoZIhvcNAQEBBQADSwAwSAJBAK\n-----END PUBLIC KEY-----"
    assert redact(public) == public


def test_secrets_registered_one_by_one_stay_masked_and_cost_logarithmic_compiles(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A process that registers secrets for weeks (an API key per emulated account, a wallet at a
    # time) with log lines in between: every secret stays masked, and each form is compiled into a
    # pattern about log2(N) times, not once per later registration (which was quadratic).
    compiled_forms: list[int] = []
    compile_forms = redaction._any_of

    def counting(texts: Iterable[str]) -> re.Pattern[str] | None:
        forms = list(texts)
        compiled_forms.append(len(forms))
        return compile_forms(forms)

    monkeypatch.setattr(redaction, "_any_of", counting)
    registry = redaction._Registry()
    values = [f"registered-secret-{index:04d}-{'q' * 12}" for index in range(128)]
    for value in values:
        registry.add(value)
        assert registry.patterns  # a log line between registrations compiles what is pending
    forms = len(registry._forms)
    assert forms >= len(values)
    assert sum(compiled_forms) <= forms * (math.log2(len(values)) + 2)
    assert len(registry.patterns) <= math.log2(len(values)) + 1
    for value in (values[0], values[63], values[-1]):
        text = f"message with {value} inside"
        for pattern in registry.patterns:
            text = pattern.sub(MASK, text)
        assert text == f"message with {MASK} inside"
