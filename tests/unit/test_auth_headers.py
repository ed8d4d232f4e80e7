"""L1 / L2 auth headers against vectors H1-H17, A1-A4 and the body (venue notes: Test vectors); secrets never print."""

from __future__ import annotations

import pickle

import pytest

from polyinfra.core.auth_headers import (
    ApiCredentials,
    clob_auth_digest,
    hmac_signature,
    l1_headers,
    l2_headers,
    recover_l1_signer,
    verify_hmac,
)
from polyinfra.core.eip712 import SigningKey
from polyinfra.errors import InvalidValueError, L1AuthError, L2AuthError
from polyinfra.obs.redaction import MASK, Secret, revealed
from tests.traceback_locals import secrets_in_traceback_locals

ADDRESS = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
ZERO_SECRET = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
DICT_BODY = '{"hash": "0x123"}'  # str() of the dict {"hash": "0x123"} after the clients' quote replacement

# (vector, ts, method, path, body, signature). Dict / list / bool / int bodies of the official tests
# are given as the text the official client signs for them: str(body) with ' replaced by ".
HMAC_VECTORS = [
    ("H1", "1000000", "test-sign", "/orders", '{"hash": "0x123"}', "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="),
    ("H2", "1000000", "test-sign", "/orders", "{'hash': '0x123'}", "ZwAdJKvoYRlEKDkNMwd5BuwNNtg93kNaR_oU2HrfVvc="),
    ("H3", "1000000", "test-sign", "/orders", '{"hash":"0x123"}', "4gJVbox-R6XlDK4nlaicig0_ANVL1qdcahiL8CXfXLM="),
    ("H4", "1000000", "test-sign", "/orders", None, "MJr-p2bluLi29SYDJMqY0bWepw-jS6pq3QvpMLL92LU="),
    ("H4-empty", "1000000", "test-sign", "/orders", "", "MJr-p2bluLi29SYDJMqY0bWepw-jS6pq3QvpMLL92LU="),
    ("H4-bytes", "1000000", "test-sign", "/orders", b"", "MJr-p2bluLi29SYDJMqY0bWepw-jS6pq3QvpMLL92LU="),
    ("H5", "1000000", "GET", "/orders", DICT_BODY, "GQHNTiB-epxhQLyAFuOIz4bUz1psTPzCWTEZ3VN-qgA="),
    ("H6", "1000000", "POST", "/orders", DICT_BODY, "wdXSC4akzPKG0yFk9FJrIb7-rg73v_M7QDxIBp-P1CQ="),
    ("H7", "1000001", "test-sign", "/orders", DICT_BODY, "Ri0rxhstfW72jtfQY2eoW-mjIDJS-12lo2KYLM8hk_o="),
    ("H8", "1000000", "test-sign", "/api/v1/orders", DICT_BODY, "nNMPJEySmWfcr7lK_nouwHNdKR416OeoRZzWwlkV0No="),
    ("H9", "1000000", "test-sign", "/orders", "[1, 2, 3]", "G2O_onqd04nDi_9gpKe_8VY3YzEovBXF_02LI4OUZI8="),
    ("H10", "1000000", "test-sign", "/orders", '{"emoji": "😃"}', "P8tLv1GVJ1M_rhl27gMAx28BDbRXiqwHZ0k6Ht4ibBY="),
    (
        "H10-bytes",
        "1000000",
        "test-sign",
        "/orders",
        '{"emoji": "😃"}'.encode(),
        "P8tLv1GVJ1M_rhl27gMAx28BDbRXiqwHZ0k6Ht4ibBY=",
    ),
    ("H11", "1000000", "test-sign", "/orders", "True", "sozjU0dFEI2pPlxbQPok-BFQEN4JLY-m3_5zOFJcqsw="),
    ("H12", "1000000", "test-sign", "/orders", "42", "cu0dXs--rTv9KglzjwziIYH0BOwQskyxA_suaYPFwyY="),
    ("H13", "1", "GET", "/", None, "eHaylCwqRSOa2LFD77Nt_SaTpbsxzN8eTEI3LryhEj4="),
    ("H14", "1", "POST", "/path", '{"foo":"bar"}', "LfDCNtn1UpSrqOtTbfdnEtHZWxu5koaW4p7bQ0PvN2E="),
    ("H15", "1700000000", "GET", "/data/orders", None, "m6lGS9WyES7JjpAYNd7zIdW5bfHxAAI_pIa1St9vLO4="),
    ("H16", "1700000000", "DELETE", "/order", '{"orderID":"0xabc"}', "ebd_Mp184tE7Z6KPR1h4np8gSxcgEPZ7MeKtDjVwf2g="),
]


@pytest.mark.parametrize(("name", "timestamp", "method", "path", "body", "expected"), HMAC_VECTORS)
def test_hmac_vectors(
    name: str, timestamp: str, method: str, path: str, body: str | bytes | None, expected: str
) -> None:
    assert hmac_signature(ZERO_SECRET, timestamp=timestamp, method=method, request_path=path, body=body) == expected


def test_hmac_vector_h17_other_secret() -> None:
    secret = "BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB="
    signature = hmac_signature(secret, timestamp="1000000", method="test-sign", request_path="/orders", body=DICT_BODY)
    assert signature == "AeGGg7Z3F7p99NDRYNpaIFF4TGQwTk4RMJPT2kQ6SPY="


def test_hmac_body_is_used_verbatim() -> None:
    def sign(body: str) -> str:
        return hmac_signature(ZERO_SECRET, timestamp="1", method="POST", request_path="/o", body=body)

    assert sign('{"x":1, "y":2}') != sign('{"x":1,"y":2}')
    assert sign('{"y":2,"x":1}') != sign('{"x":1,"y":2}')


def test_bad_secret_and_query_string_are_refused() -> None:
    with pytest.raises(InvalidValueError) as raised:
        hmac_signature("!!!notbase64!!!", timestamp="1", method="GET", request_path="/", body=None)
    assert "!!!notbase64!!!" not in str(raised.value)
    with pytest.raises(InvalidValueError, match="query string"):
        hmac_signature(
            ZERO_SECRET, timestamp="1", method="GET", request_path="/data/orders?next_cursor=MA==", body=None
        )


@pytest.fixture
def credentials(known_secrets) -> ApiCredentials:
    return ApiCredentials(
        "00000000-0000-0000-0000-000000000000", known_secrets.api_secret, known_secrets.api_passphrase
    )


def test_l2_headers_and_post_order_hmac(credentials: ApiCredentials, known_secrets) -> None:
    # The HMAC of the exact POST /order body of P3.
    from tests.unit.test_order_signing import P3_BODY  # noqa: PLC0415 - one source for the body bytes

    wrapped = l2_headers(
        credentials, address=ADDRESS.lower(), timestamp_s=1710000000, method="POST", request_path="/order", body=P3_BODY
    )
    # The passphrase and the signature stay wrapped until the transport sends them.
    assert all(isinstance(wrapped[name], Secret) for name in ("POLY_SIGNATURE", "POLY_PASSPHRASE"))
    assert MASK in repr(wrapped)
    headers = revealed(wrapped)
    assert headers == {
        "POLY_ADDRESS": ADDRESS,
        "POLY_SIGNATURE": "k7Ub6m4siRzXHzqX0UA8Che3Mt8VQKth1noOI05ynpQ=",
        "POLY_TIMESTAMP": "1710000000",
        "POLY_API_KEY": "00000000-0000-0000-0000-000000000000",
        "POLY_PASSPHRASE": known_secrets.api_passphrase,
    }
    verify_hmac(
        credentials,
        headers["POLY_SIGNATURE"],
        timestamp="1710000000",
        method="POST",
        request_path="/order",
        body=P3_BODY,
    )
    with pytest.raises(L2AuthError):
        verify_hmac(
            credentials,
            headers["POLY_SIGNATURE"],
            timestamp="1710000001",
            method="POST",
            request_path="/order",
            body=P3_BODY,
        )
    with pytest.raises(L2AuthError):
        verify_hmac(
            credentials,
            headers["POLY_SIGNATURE"],
            timestamp="1710000000",
            method="POST",
            request_path="/order",
            body=P3_BODY + b" ",
        )


def test_a_malformed_secret_is_refused_without_a_trace(known_secrets, secret_scanner) -> None:
    with pytest.raises(InvalidValueError) as raised:
        ApiCredentials("k", known_secrets.random_api_secret[:-1] + "!", known_secrets.api_passphrase)
    assert secrets_in_traceback_locals(raised.value, secret_scanner) == []
    half_built = ApiCredentials.__new__(ApiCredentials)
    assert repr(half_built) == f"ApiCredentials(api_key=None, secret={MASK}, passphrase={MASK})"


def test_credentials_never_show_secrets(credentials: ApiCredentials, known_secrets, secret_scanner) -> None:
    same = ApiCredentials(credentials.api_key, Secret(known_secrets.api_secret), Secret(known_secrets.api_passphrase))
    assert same == credentials
    assert hash(same) == hash(credentials)
    for text in (repr(credentials), str(credentials), f"{credentials}", repr([credentials]), repr(credentials.secret)):
        assert secret_scanner.scan(text) == []
    assert credentials.api_key in repr(credentials)
    with pytest.raises(TypeError):
        pickle.dumps(credentials)
    with pytest.raises(InvalidValueError) as raised:
        ApiCredentials("k", "not base64 at all!", known_secrets.api_passphrase)
    assert "not base64" not in str(raised.value)


# (vector, chain, timestamp, nonce, digest, signature) (venue notes: Test vectors).
L1_VECTORS = [
    (
        "A1",
        80002,
        10000000,
        23,
        "8f442df8073c9cf2e36d7b20ca9d64d1a9352e982cc82a293b7de2df57920610",
        "0xf62319a987514da40e57e2f4d7529f7bac38f0355bd88bb5adbb3768d80de6c1682518e0af677d5260366425f4361e7b70c25ae232aff0ab2331e2b164a1aedc1b",
    ),
    (
        "A2",
        137,
        100000,
        0,
        "49b2a2283c0ac60de47fce5c2c36a647b7efb65ee9dc135cd30a4117992b0e6a",
        "0xfdfb5abf512e439ea61c8595c18e527e718bf16010acf57cef51d09e15893098275d3c6f73038f36ec0cd0ce55436fca14dc64b11611f4dce896e354207508cc1b",
    ),
    (
        "A3",
        137,
        1700000000,
        0,
        "c85352894b3c41f3ea6152479d64b9233fbaf2de87eabc7e4bba3a161fd28493",
        "0x659ed4b28ae28e0f038fdf0023c00863c9559caacb9ebc83f44eea87059a099a36f1e1dee110e7faa1c4f65d17489b2da1333ebef78bbe2116d81207b975052d1c",
    ),
    (
        "A4",
        80002,
        1700000000,
        0,
        "3cf40a91a1351b316b50c843804e3994e78a9f5dbfda51a5ce242a15ace4e063",
        "0xd5b20a55fe51f11c940c58e655bab4f75f22d5e182b8cc8d61f428940c72f6f02025751a47308c46c07fbf48ad31a3e79a06c9d339c7de674368a7253c6c50631b",
    ),
]


@pytest.fixture(scope="module")
def key(known_secrets) -> SigningKey:
    return SigningKey(known_secrets.private_key)


@pytest.mark.parametrize(("name", "chain_id", "timestamp", "nonce", "digest", "signature"), L1_VECTORS)
def test_l1_vectors(
    key: SigningKey, name: str, chain_id: int, timestamp: int, nonce: int, digest: str, signature: str
) -> None:
    assert clob_auth_digest(ADDRESS, chain_id=chain_id, timestamp=str(timestamp), nonce=nonce).hex() == digest
    wrapped = l1_headers(key, chain_id=chain_id, timestamp_s=timestamp, nonce=nonce)
    assert isinstance(wrapped["POLY_SIGNATURE"], Secret)
    headers = revealed(wrapped)
    assert headers == {
        "POLY_ADDRESS": ADDRESS,
        "POLY_SIGNATURE": signature,
        "POLY_TIMESTAMP": str(timestamp),
        "POLY_NONCE": str(nonce),
    }
    assert recover_l1_signer(headers, chain_id=chain_id) == ADDRESS


def test_l1_verification_rejects_tampering(key: SigningKey) -> None:
    headers = revealed(l1_headers(key, chain_id=137, timestamp_s=1700000000))
    assert recover_l1_signer({k: v for k, v in headers.items() if k != "POLY_NONCE"}, chain_id=137) == ADDRESS
    tampered = [
        {**headers, "POLY_TIMESTAMP": "1700000001"},
        {**headers, "POLY_NONCE": "1"},
        {**headers, "POLY_NONCE": "-1"},
        {**headers, "POLY_ADDRESS": "0x995c9b1f779c04e65AF8ea3360F96c43b5e62316"},
        {**headers, "POLY_SIGNATURE": "0xzz"},
        {**headers, "POLY_SIGNATURE": headers["POLY_SIGNATURE"][:-2] + "1d"},
        {k: v for k, v in headers.items() if k != "POLY_SIGNATURE"},
    ]
    for bad in tampered:
        with pytest.raises(L1AuthError):
            recover_l1_signer(bad, chain_id=137)
    with pytest.raises(L1AuthError):
        recover_l1_signer(headers, chain_id=80002)
