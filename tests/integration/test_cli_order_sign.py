"""``polyinfra order sign`` as a real process: JSON lines in, the venue's ``order`` objects out.

The oracle is py-clob-client-v2 (test-only): it signs the same orders (same salt, timestamp and the
amounts polyinfra computed) and its ``order_to_json_v2`` gives the object it would send; the output
line must be those exact bytes. The P6 signing vector (a SELL of 100 at 0.5: makerAmount 100000000,
takerAmount 50000000, the raw amounts of P3 on the SELL side) is reproduced from a plain order line.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from py_clob_client_v2.config import get_contract_config
from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2
from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2, order_to_json_v2
from py_clob_client_v2.order_utils.model.side import Side as OracleSide
from py_clob_client_v2.signer import Signer

from polyinfra.cli.orders import sign_order_lines
from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_builder import OrderStamper
from polyinfra.obs.redaction import SecretScanner

EOA = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
PROXY = "0x1111111111111111111111111111111111111111"
SALT = 479249096354
TIMESTAMP_MS = 1710000000000
ZERO = "0x" + "00" * 32

# Vector P6 (chain 137, exchange_v2, SELL, salt/timestamp above), laid out as the venue's body.
P6_ORDER_LINE = (
    '{"salt":479249096354,"maker":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",'
    '"signer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","tokenId":"1234","makerAmount":"100000000",'
    '"takerAmount":"50000000","side":"SELL","expiration":"0","signatureType":0,"timestamp":"1710000000000",'
    f'"metadata":"{ZERO}","builder":"{ZERO}",'
    '"signature":"0xe72030764d6aa1a7ffa6a188245c11c19adc82b39d21f3123899d140aa2208d0115cc10e1f2a6ea0ca8e4dd264dc3a8ee'
    '363f16374a81af3993fa585fbb6f4581b"}'
)


def _sign(lines: list[str], private_key: str | None) -> subprocess.CompletedProcess[str]:
    env = {name: value for name, value in os.environ.items() if name != "POLYINFRA_PRIVATE_KEY"}
    if private_key is not None:
        env["POLYINFRA_PRIVATE_KEY"] = private_key
    return subprocess.run(
        [sys.executable, "-m", "polyinfra.cli.main", "order", "sign"],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


def _assert_no_secret(scanner: SecretScanner, result: subprocess.CompletedProcess[str]) -> None:
    assert scanner.scan(result.stdout) == []
    assert scanner.scan(result.stderr) == []


def _oracle_order_line(private_key: str, order: dict[str, object], produced: dict[str, object]) -> str:
    """What py-clob-client-v2 sends for the same order, given the amounts polyinfra computed."""
    chain_id = int(order.get("chain_id", 137))  # type: ignore[call-overload]
    config = get_contract_config(chain_id)
    contract = config.neg_risk_exchange_v2 if order["neg_risk"] else config.exchange_v2
    oracle = ExchangeOrderBuilderV2(contract, chain_id, Signer(private_key, chain_id))
    oracle.generate_salt = lambda: str(produced["salt"])
    signed = oracle.build_signed_order(
        OrderDataV2(
            maker=str(produced["maker"]),
            signer=str(produced["signer"]),
            tokenId=str(order["token_id"]),
            makerAmount=str(produced["makerAmount"]),
            takerAmount=str(produced["takerAmount"]),
            side=OracleSide.BUY if order["side"] == "BUY" else OracleSide.SELL,
            signatureType=int(produced["signatureType"]),  # type: ignore[call-overload]
            timestamp=str(produced["timestamp"]),
            metadata=str(order.get("metadata", ZERO)),
            builder=str(order.get("builder", ZERO)),
            expiration=str(order.get("expiration", 0)),
        )
    )
    return json.dumps(order_to_json_v2(signed, "owner", "GTC")["order"], separators=(",", ":"))


def test_reproduces_the_p6_vector_byte_for_byte(known_secrets, secret_scanner: SecretScanner) -> None:
    line = {
        "token_id": "1234",
        "price": "0.5",
        "size": "100",
        "side": "SELL",
        "tick_size": "0.1",
        "neg_risk": False,
        "salt": SALT,
        "timestamp": TIMESTAMP_MS,
    }
    result = _sign([json.dumps(line)], known_secrets.private_key)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == P6_ORDER_LINE + "\n"
    _assert_no_secret(secret_scanner, result)


ORACLE_CASES = [
    {"token_id": "1234", "price": "0.55", "size": "100", "side": "BUY", "tick_size": "0.01", "neg_risk": False},
    {"token_id": "1234", "price": 0.58, "size": 17.5, "side": "SELL", "tick_size": "0.01", "neg_risk": True},
    {
        "token_id": "71321045679252212594626385532706912750332728571942532289631379312455583992563",
        "price": "0.0125",
        "size": "12.34",
        "side": "BUY",
        "tick_size": "0.0025",
        "neg_risk": False,
        "order_type": "GTD",
        "expiration": 4102444800,
        "chain_id": 80002,
        "builder": "0x" + "ab" * 32,
        "metadata": "0x" + "cd" * 32,
    },
    {
        "token_id": "99",
        "price": "0.3",
        "amount": "25",
        "side": "BUY",
        "tick_size": "0.1",
        "neg_risk": False,
        "order_type": "FOK",
        "signature_type": "POLY_PROXY",
        "funder": PROXY,
    },
    {
        "token_id": "99",
        "price": "0.42",
        "size": "5",
        "side": "SELL",
        "tick_size": "0.01",
        "neg_risk": True,
        "signature_type": 2,
        "funder": PROXY,
    },
    {
        "token_id": "1234",
        "price": "0.5",
        "size": "100",
        "side": "BUY",
        "tick_size": "0.1",
        "neg_risk": False,
        "signature_type": 3,
        "funder": PROXY,
        "chain_id": 80002,
    },
]


def test_every_order_matches_the_official_client(known_secrets, secret_scanner: SecretScanner) -> None:
    lines = [json.dumps(case, default=str) for case in ORACLE_CASES]
    # json.dumps writes 0.58 and 17.5 as JSON numbers: they must be read exactly, never as floats.
    assert '"price": 0.58' in lines[1]
    result = _sign(lines, known_secrets.private_key)
    assert (result.returncode, result.stderr) == (0, "")
    outputs = result.stdout.splitlines()
    assert len(outputs) == len(ORACLE_CASES)
    salts = set()
    for case, output in zip(ORACLE_CASES, outputs, strict=True):
        produced = json.loads(output)
        salts.add(produced["salt"])
        assert output == _oracle_order_line(known_secrets.private_key, case, produced), case
    assert len(salts) == len(ORACLE_CASES), "fresh salts never repeat"
    by_price = json.loads(outputs[1])
    # 17.5 shares at 0.58: exactly 10.15 pUSD, where float arithmetic gives 10.149999...
    assert (by_price["makerAmount"], by_price["takerAmount"]) == ("17500000", "10150000")
    proxy = json.loads(outputs[3])
    assert (proxy["maker"], proxy["signer"], proxy["signatureType"]) == (PROXY, EOA, 1)
    deposit = json.loads(outputs[5])
    assert (deposit["maker"], deposit["signer"], deposit["signatureType"]) == (PROXY, PROXY, 3)
    assert len(deposit["signature"]) == 636
    _assert_no_secret(secret_scanner, result)


def test_bad_lines_are_reported_and_the_others_still_signed(known_secrets, secret_scanner: SecretScanner) -> None:
    good = {"token_id": "1234", "price": "0.5", "size": "10", "side": "BUY", "tick_size": "0.1", "neg_risk": False}
    lines = [
        json.dumps(good),
        "not json",
        json.dumps(good | {"price": "0.55"}),
        "",
        json.dumps(good | {"sise": "10"}),
        json.dumps({key: value for key, value in good.items() if key != "neg_risk"}),
        json.dumps(good | {"size": "10.555"}),
        json.dumps(good | {"signature_type": "POLY_PROXY"}),
        json.dumps(good | {"funder": PROXY}),
        json.dumps(good | {"side": "SELL"}),
    ]
    result = _sign(lines, known_secrets.private_key)
    assert result.returncode == 2
    assert [json.loads(output)["side"] for output in result.stdout.splitlines()] == ["BUY", "SELL"]
    errors = result.stderr.splitlines()
    assert [error.split(":")[1].strip() for error in errors] == [
        "line 2",
        "line 3",
        "line 5",
        "line 6",
        "line 7",
        "line 8",
        "line 9",
    ]
    assert all(error.startswith("polyinfra order sign: line ") for error in errors)
    assert "use 0.5 or 0.6" in errors[1]
    assert "unknown key 'sise'" in errors[2]
    assert "missing neg_risk" in errors[3]
    assert "10.555" in errors[4]
    assert "needs funder" in errors[5]
    assert "drop funder" in errors[6]
    assert "Traceback" not in result.stderr
    _assert_no_secret(secret_scanner, result)


def test_without_a_key_one_line_and_exit_2() -> None:
    result = _sign(["{}"], None)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "polyinfra order sign: POLYINFRA_PRIVATE_KEY is not set: export the signing key (0x + 64 hex digits) in it"
    ]


@pytest.mark.parametrize("cut", [1, 2])
def test_a_malformed_key_is_refused_without_being_quoted(
    known_secrets, secret_scanner: SecretScanner, cut: int
) -> None:
    malformed = known_secrets.private_key[:-cut]
    result = _sign(["{}"], malformed)
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1
    assert "64 hex digits" in result.stderr
    assert malformed[2:30] not in result.stderr
    _assert_no_secret(secret_scanner, result)


def test_the_output_names_the_keys_address_not_the_key(known_secrets) -> None:
    line = {"token_id": "1", "price": "0.5", "size": "5", "side": "BUY", "tick_size": "0.1", "neg_risk": False}
    result = _sign([json.dumps(line)], known_secrets.private_key)
    assert json.loads(result.stdout)["maker"] == SigningKey(known_secrets.private_key).address == EOA


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"signature_type": True}, "signature_type must be one of"),  # True == 1 in a dict: not POLY_PROXY
        ({"signature_type": 1.0}, "signature_type must be one of"),  # read as Decimal("1.0") == 1
        ({"signature_type": [0]}, "signature_type must be one of"),
        ({"side": "buy"}, 'side must be "BUY" or "SELL"'),
        ({"order_type": {"GTC": 1}}, "order_type must be one of"),
        ({"tick_size": ["0.01"]}, "tick_size must be a string"),
        ({"order_type": "GTD"}, "a GTD order needs expiration (unix seconds)"),
    ],
)
def test_lookups_take_only_the_exact_json_value(known_secrets, change: dict[str, object], refusal: str) -> None:
    good = {"token_id": "1", "price": "0.5", "size": "5", "side": "BUY", "tick_size": "0.1", "neg_risk": False}
    key = SigningKey(known_secrets.private_key)
    [result] = sign_order_lines([json.dumps(good | change)], key, stamper=OrderStamper(lambda: 1_710_000_000_000))
    assert result.output is None and result.error is not None
    assert refusal in str(result.error)
    assert "expiration_s" not in str(result.error)
