"""V2 order signing against vectors P1-P9 (venue notes: Test vectors), verification, signer checks, wire body."""

from __future__ import annotations

import dataclasses

import msgspec
import pytest

from polyinfra.core.eip712 import SigningKey
from polyinfra.core.order_signing import (
    AMOY_CHAIN_ID,
    ORDER_TYPE_HASH,
    POLYGON_CHAIN_ID,
    SignedOrder,
    exchange_domain,
    order_hash,
    order_payload,
    positions_exchange_domain,
    recover_order_signer,
    sign_order,
    signed_order_from_payload,
    verify_order_signature,
)
from polyinfra.errors import InvalidSignatureError, InvalidValueError, MalformedMessageError, SigningError
from polyinfra.model.numbers import Side
from polyinfra.model.orders import SignatureType, UnsignedOrder
from polyinfra.wire.clob_orders import OrderPayload, PostOrderBody, encode_post_order

EOA = "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
DEPOSIT_WALLET = "0x1111111111111111111111111111111111111111"
OTHER = "0x995c9b1f779c04e65AF8ea3360F96c43b5e62316"

# The vectors' base data.
BASE = UnsignedOrder(
    salt=479249096354,
    maker=EOA,
    signer=EOA,
    token_id=1234,
    maker_amount=100000000,
    taker_amount=50000000,
    side=Side.BUY,
    signature_type=SignatureType.EOA,
    timestamp_ms=1710000000000,
)


@pytest.fixture(scope="module")
def key(known_secrets) -> SigningKey:
    return SigningKey(known_secrets.private_key)


def test_order_type_hash() -> None:
    assert ORDER_TYPE_HASH.hex() == "bb86318a2138f5fa8ae32fbe8e659f8fcf13cc6ae4014a707893055433818589"


@pytest.mark.parametrize(
    ("chain_id", "neg_risk", "separator"),
    [
        (80002, False, "a440cbd865bc0c6243d7a8df9a8bf48a8827b0a4abbb61c30e96d305423af148"),
        (80002, True, "1468e39841f0a0e05d3762b235cb7acecabf8cd7b6d3a672965a5d415bf9378e"),
        (137, False, "3264e159346253e26a64e00b69032db0e7d32f94628de3e6eecb50304d7af3d2"),
        (137, True, "9b858f53327b0bd13af8ec14cfb35234fb9eb7b0504d1a4e61f433840d30e81a"),
    ],
)
def test_exchange_domain_separators(chain_id: int, neg_risk: bool, separator: str) -> None:
    assert exchange_domain(chain_id, neg_risk=neg_risk).separator.hex() == separator


def test_v3_domain_separator() -> None:
    domain = positions_exchange_domain(137)
    assert (domain.version, domain.verifying_contract) == ("3", "0xe3333700cA9d93003F00f0F71f8515005F6c00Aa")
    assert domain.separator.hex() == "466c63910185bbd55e8679264200c4e0abdcbb0c6264eb3d41d13326022e095b"


# (vector, order, chain, order hash, signature) (venue notes: Test vectors).
STANDARD_VECTORS = [
    (
        "P1",
        BASE,
        80002,
        "0x962c97b18bea292cc94b9479272aa74fb59a905e84a621a40eb339131e9fb6ba",
        "0x518472f1b081f6bd713d638bb11d1bf0720ed577e93c52eb00ec9f5f325f7d510c65cbfdfe9130de2602185f4a500863d777d8b838cb28abc75ecc1b5330315d1c",
    ),
    (
        "P2",
        dataclasses.replace(BASE, neg_risk=True),
        80002,
        "0xde77d067d3067ed5b48bb9b27b963fa4f377ee1ae8725791f133e70dae6ce183",
        "0x661efce33ffabbc517ef77ef58ec5fe7ebc38f372dc3213430c3033faa5870a33b0d0e4c3f9626291925573b7b708cc6eb646b06ae0a10e728d90e14edf461d41b",
    ),
    (
        "P3",
        BASE,
        137,
        "0x10124949f84e9f7438c88d02bfd546ceb27ed6eb1fdb0175137af535b6e2513d",
        "0x42c7b4857d51e344045fcfde17b37cf1290d784471ffe618c22aa56ea5ddcf0009015b87ffb299813f5597e86d4ad56f40d634558d915edb719e6fc71dbc0d891c",
    ),
    (
        "P4",
        dataclasses.replace(BASE, neg_risk=True),
        137,
        "0x9c2976657c4b229cc8e467a32ce9e3281ef40a70aee31cdc4619ebf51e4a7274",
        "0x79d82a92bd020329c6b9afad40b742c8cfaebdd992219b57e4282b6cfd53a66f2c97471d3297fa001f3eac2ead5f709c6e266893f19cef37633511420542a63b1b",
    ),
    (
        "P6",
        dataclasses.replace(BASE, side=Side.SELL),
        137,
        "0x16a0f09f7aa884818f4dc44ec7fe687f3d9455b7cd3f2f009ac813c0cdc9dfe8",
        "0xe72030764d6aa1a7ffa6a188245c11c19adc82b39d21f3123899d140aa2208d0115cc10e1f2a6ea0ca8e4dd264dc3a8ee363f16374a81af3993fa585fbb6f4581b",
    ),
    (
        "P7",
        dataclasses.replace(BASE, builder="0x" + "ab" * 32),
        137,
        "0x158a10fa99ef5699a7010a03804d54107417fa17f79abe4daef02867f15924b2",
        "0x8aad124d7f7b5a99c16145270bfc166ec125010d7ece443ba217c4d66157c612071c4212d581b06c93ac1665183d6fcbff94e1ddf04b5cb97a4ea408d1db5ad91c",
    ),
    (
        "P8",
        dataclasses.replace(BASE, signature_type=SignatureType.POLY_GNOSIS_SAFE),
        137,
        "0x48164026dd94e1996597a3e3ce4ad54792470c6e90473f63ca9df9c732fdffb5",
        "0x1bf874ed602ba05a4cc2fc3c24beadf3c20a24bdcc3d32ff43eac72823d3972322a1e0f127b796c7208fd581a20e7a40c959a902a8cb2258aa93721602890e2e1c",
    ),
]


@pytest.mark.parametrize(("name", "order", "chain_id", "expected_hash", "expected_signature"), STANDARD_VECTORS)
def test_standard_signature_vectors(
    key: SigningKey, name: str, order: UnsignedOrder, chain_id: int, expected_hash: str, expected_signature: str
) -> None:
    signed = sign_order(order, key, chain_id=chain_id)
    assert (signed.order_hash, signed.signature) == (expected_hash, expected_signature), name
    assert order_hash(order, chain_id=chain_id) == expected_hash
    assert verify_order_signature(signed, chain_id=chain_id) == EOA


def test_v3_vector_p5(key: SigningKey) -> None:
    domain = positions_exchange_domain(137)
    signed = sign_order(BASE, key, chain_id=137, domain=domain)
    assert signed.order_hash == "0x0d34966f6a42e3b8bec3d0d0dcca74d762695a3bd4cdf1d6a1fc2201bf9daa87"
    assert signed.signature == (
        "0x22a4e68028c7984ff9b19217dee3a8491614e97a84ca42d53fe73e7a50745fd6"
        "6706b966fa16ce911a3217958a5471343c47f2fd56ea9392522a4c1c156eac701c"
    )
    assert verify_order_signature(signed, chain_id=137, domain=domain) == EOA
    with pytest.raises(InvalidSignatureError):
        verify_order_signature(signed, chain_id=137)


P9_SIGNATURE = (
    "0xa3a093c83b6c20c83355c16ce94c92e6e9fcbdeb840618cc74f6c57a42ad145b"
    "2b98db73d2c73cbf1f2b6af288566ae81960ddbc3a13921027358a8bff3be6ff1c"
    "a440cbd865bc0c6243d7a8df9a8bf48a8827b0a4abbb61c30e96d305423af148"
    "d23d42d3ad94e65d78258cecaf8dcbaddac0f73dc085040f2c12bb595dd83804"
    "4f726465722875696e743235362073616c742c61646472657373206d616b65722c"
    "61646472657373207369676e65722c75696e7432353620746f6b656e49642c75"
    "696e74323536206d616b6572416d6f756e742c75696e743235362074616b6572"
    "416d6f756e742c75696e743820736964652c75696e7438207369676e61747572"
    "65547970652c75696e743235362074696d657374616d702c6279746573333220"
    "6d657461646174612c62797465733332206275696c6465722900ba"
)
P9_ORDER = dataclasses.replace(
    BASE, maker=DEPOSIT_WALLET, signer=DEPOSIT_WALLET, signature_type=SignatureType.POLY_1271
)


def test_poly_1271_vector_p9(key: SigningKey) -> None:
    signed = sign_order(P9_ORDER, key, chain_id=AMOY_CHAIN_ID)
    assert len(P9_SIGNATURE) == 636
    assert signed.signature == P9_SIGNATURE
    assert signed.order_hash == "0x2afca94626db91b2d556c351584a4cd93e13da32e377dc48c7983e43afa5ab47"
    # The owner EOA is recovered from the nested digest; the deposit wallet decides whether it owns it.
    assert verify_order_signature(signed, chain_id=AMOY_CHAIN_ID) == EOA


@pytest.mark.parametrize(
    ("start", "end"),
    [(132, 196), (196, 260), (260, 270), (632, 636)],
    ids=["app-domain", "contents-hash", "type-string", "type-length"],
)
def test_poly_1271_tampered_wrapper_is_rejected(key: SigningKey, start: int, end: int) -> None:
    signed = sign_order(P9_ORDER, key, chain_id=AMOY_CHAIN_ID)
    tampered = signed.signature[:start] + "f" * (end - start) + signed.signature[end:]
    with pytest.raises(InvalidSignatureError):
        recover_order_signer(dataclasses.replace(signed, signature=tampered), chain_id=AMOY_CHAIN_ID)
    with pytest.raises(InvalidSignatureError):
        recover_order_signer(dataclasses.replace(signed, signature=signed.signature[:-4]), chain_id=AMOY_CHAIN_ID)


def test_tampered_orders_are_rejected(key: SigningKey) -> None:
    signed = sign_order(BASE, key, chain_id=POLYGON_CHAIN_ID)
    # Changed field: the recomputed hash no longer matches the claimed one.
    with pytest.raises(InvalidSignatureError, match="order hash"):
        verify_order_signature(
            dataclasses.replace(signed, order=dataclasses.replace(BASE, maker_amount=100000001)),
            chain_id=POLYGON_CHAIN_ID,
        )
    # Wrong exchange (neg-risk market signed for the normal exchange): the classic "invalid signature".
    with pytest.raises(InvalidSignatureError):
        verify_order_signature(
            dataclasses.replace(signed, order=dataclasses.replace(BASE, neg_risk=True)), chain_id=POLYGON_CHAIN_ID
        )
    # A consistent hash with someone else's signature.
    other_key = SigningKey("0x" + "11" * 32)
    foreign_signature = other_key.sign_digest(bytes.fromhex(signed.order_hash[2:]))
    forged = SignedOrder(BASE, "0x" + foreign_signature.hex(), signed.order_hash)
    with pytest.raises(InvalidSignatureError) as raised:
        verify_order_signature(forged, chain_id=POLYGON_CHAIN_ID)
    assert raised.value.context["recovered_signer"] == other_key.address
    with pytest.raises(InvalidSignatureError):
        verify_order_signature(dataclasses.replace(signed, signature="42"), chain_id=POLYGON_CHAIN_ID)


@pytest.mark.parametrize(
    "signature_type", [SignatureType.EOA, SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE]
)
def test_foreign_signer_names_both_addresses_and_the_fix(key: SigningKey, signature_type: SignatureType) -> None:
    order = dataclasses.replace(BASE, maker=OTHER, signer=OTHER, signature_type=signature_type)
    with pytest.raises(SigningError) as raised:
        sign_order(order, key, chain_id=POLYGON_CHAIN_ID)
    text = str(raised.value)
    assert EOA in text
    assert OTHER in text
    assert "maker" in text
    assert "funder" in text
    assert raised.value.context["expected_signer"] == EOA


def test_proxy_and_safe_sign_for_another_maker(key: SigningKey) -> None:
    for kind in (SignatureType.POLY_PROXY, SignatureType.POLY_GNOSIS_SAFE):
        signed = sign_order(dataclasses.replace(BASE, maker=OTHER, signature_type=kind), key, chain_id=137)
        assert verify_order_signature(signed, chain_id=137) == EOA


def test_eoa_maker_must_be_the_signer(key: SigningKey) -> None:
    with pytest.raises(SigningError, match="POLY_PROXY or POLY_GNOSIS_SAFE"):
        sign_order(dataclasses.replace(BASE, maker=OTHER), key, chain_id=137)


def test_poly_1271_maker_must_be_the_wallet(key: SigningKey) -> None:
    with pytest.raises(SigningError, match="deposit wallet"):
        sign_order(dataclasses.replace(P9_ORDER, maker=EOA), key, chain_id=AMOY_CHAIN_ID)


def test_signer_check_ignores_address_case(key: SigningKey) -> None:
    lower = dataclasses.replace(BASE, maker=EOA.lower(), signer=EOA.lower())
    assert sign_order(lower, key, chain_id=137).signature == sign_order(BASE, key, chain_id=137).signature


@pytest.mark.parametrize(
    "change",
    [
        {"salt": -1},
        {"token_id": 2**256},
        {"maker_amount": -5},
        {"timestamp_ms": 2**256},
        {"metadata": "0x12"},
        {"builder": ""},
        {"maker": "0x123"},
    ],
)
def test_out_of_range_fields_are_rejected(key: SigningKey, change: dict[str, object]) -> None:
    with pytest.raises(InvalidValueError) as raised:
        sign_order(dataclasses.replace(BASE, **change), key, chain_id=137)  # type: ignore[arg-type]
    field = next(iter(change))
    if field not in ("metadata", "builder", "maker"):
        assert raised.value.context["field"] == field


def test_unknown_chain_and_mismatched_domain(key: SigningKey) -> None:
    with pytest.raises(InvalidValueError, match="chain"):
        sign_order(BASE, key, chain_id=1)
    with pytest.raises(InvalidValueError, match="another chain"):
        sign_order(BASE, key, chain_id=137, domain=exchange_domain(80002, neg_risk=False))


# The exact bytes sent (and HMAC-signed) for P3.
P3_BODY = (
    b'{"order":{"salt":479249096354,"maker":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",'
    b'"signer":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","tokenId":"1234","makerAmount":"100000000",'
    b'"takerAmount":"50000000","side":"BUY","expiration":"0","signatureType":0,"timestamp":"1710000000000",'
    b'"metadata":"0x0000000000000000000000000000000000000000000000000000000000000000",'
    b'"builder":"0x0000000000000000000000000000000000000000000000000000000000000000",'
    b'"signature":"0x42c7b4857d51e344045fcfde17b37cf1290d784471ffe618c22aa56ea5ddcf0009015b87ffb299813f5597e86d4ad56f40d634558d915edb719e6fc71dbc0d891c"},'
    b'"owner":"00000000-0000-0000-0000-000000000000","orderType":"GTC","deferExec":false,"postOnly":false}'
)


def test_post_order_body_bytes(key: SigningKey) -> None:
    signed = sign_order(BASE, key, chain_id=POLYGON_CHAIN_ID)
    body = PostOrderBody(order=order_payload(signed), owner="00000000-0000-0000-0000-000000000000", order_type="GTC")
    assert encode_post_order(body) == P3_BODY


def test_payload_round_trip_for_the_emulator(key: SigningKey) -> None:
    order = dataclasses.replace(BASE, side=Side.SELL, expiration_s=1720000000, neg_risk=True)
    signed = sign_order(order, key, chain_id=POLYGON_CHAIN_ID)
    received = msgspec.json.decode(
        encode_post_order(PostOrderBody(order=order_payload(signed), owner="k", order_type="GTD", post_only=True)),
        type=PostOrderBody,
    )
    assert (received.order_type, received.post_only, received.defer_exec) == ("GTD", True, False)
    parsed = signed_order_from_payload(received.order, chain_id=POLYGON_CHAIN_ID, neg_risk=True)
    assert parsed == signed
    assert verify_order_signature(parsed, chain_id=POLYGON_CHAIN_ID) == EOA


@pytest.mark.parametrize(
    "change",
    [{"token_id": "+12"}, {"maker_amount": "1_000"}, {"timestamp": "1.5"}, {"signature_type": 7}, {"metadata": "0x"}],
)
def test_malformed_payloads_are_protocol_errors(key: SigningKey, change: dict[str, object]) -> None:
    payload = msgspec.structs.replace(order_payload(sign_order(BASE, key, chain_id=137)), **change)
    with pytest.raises(MalformedMessageError):
        signed_order_from_payload(payload, chain_id=137, neg_risk=False)


def test_wire_rejects_unknown_side_and_order_type() -> None:
    good = msgspec.json.decode(P3_BODY, type=PostOrderBody)
    assert isinstance(good.order, OrderPayload)
    for bad in (P3_BODY.replace(b'"BUY"', b'"buy"'), P3_BODY.replace(b'"GTC"', b'"IOC"')):
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(bad, type=PostOrderBody)
