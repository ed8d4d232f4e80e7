"""How many CLOB V2 orders per second polyinfra signs on one core, against two anchors.

Run: ``python bench/order_signing.py [--orders N] [--official-orders M] [--repeat R]``

All approaches sign the same random orders (venue notes: Order signing; EOA and POLY_PROXY, normal and
neg-risk exchanges on Polygon) with the official test key:

(a) floor, the anchor below which nothing can go: the bare cost of the crypto every standard
    signature needs, one keccak over the 384-byte encoded struct, one over the 66-byte EIP-712
    preimage and one libsecp256k1 recoverable ECDSA signature (coincurve), on precomputed bytes.
(b) polyinfra: ``sign_order`` from an ``UnsignedOrder`` to a ``SignedOrder`` (signature and
    order hash as hex), signer checks included. Target: >= 10,000 orders/s, close to (a).
(c) official: py-clob-client-v2 1.2.1 ``ExchangeOrderBuilderV2.build_signed_order`` plus its
    ``build_order_hash``, the test-only oracle, on a subset of the orders (it is slow).
(d) ``polyinfra order sign`` end to end, in-process: the same functions the command runs
    (``sign_order_lines`` into ``write_signed``) over JSON input lines, each decoded, validated,
    built (exact amounts, tick and size checks, a fresh salt), signed and encoded as the venue's
    ``order`` object, into an in-memory stdout. Reported as a fraction of (a)'s rate: 1.0 would
    mean reading, checking and writing an order cost nothing beyond its crypto. Target >= 0.5.

Each runs ``--repeat`` times; the best rate is reported (the least disturbed run on a shared
machine), with the median alongside.
"""

from __future__ import annotations

import argparse
import io
import json
import random
import secrets
import statistics
import time
from collections.abc import Callable, Sequence

from coincurve import PrivateKey

from polyinfra.cli.orders import sign_order_lines, write_signed
from polyinfra.core.eip712 import SigningKey, keccak256, to_checksum_address
from polyinfra.core.order_builder import OrderStamper
from polyinfra.core.order_signing import exchange_domain, sign_order
from polyinfra.model.numbers import Side
from polyinfra.model.orders import SignatureType, UnsignedOrder

# A fresh key each run: signing costs the same whatever the key, and no key lives in the repository.
TEST_PRIVATE_KEY = "0x" + secrets.token_hex(32)
CHAIN_ID = 137


def random_orders(count: int, eoa: str, seed: int = 5) -> list[UnsignedOrder]:
    rng = random.Random(seed)
    orders = []
    for _ in range(count):
        proxy = rng.random() < 0.5
        orders.append(
            UnsignedOrder(
                salt=rng.randrange(2**41),
                maker=to_checksum_address("0x" + rng.randbytes(20).hex()) if proxy else eoa,
                signer=eoa,
                token_id=rng.randrange(2**256),
                maker_amount=rng.randrange(1, 10**10),
                taker_amount=rng.randrange(1, 10**10),
                side=rng.choice((Side.BUY, Side.SELL)),
                signature_type=SignatureType.POLY_PROXY if proxy else SignatureType.EOA,
                timestamp_ms=rng.randrange(1_770_000_000_000, 1_780_000_000_000),
                neg_risk=rng.random() < 0.5,
            )
        )
    return orders


def order_sign_lines(count: int, seed: int = 7) -> list[bytes]:
    """Input lines as users write them: limit orders on 0.01 and 0.001 ticks, normal and neg-risk,
    prices and sizes as strings, 77-digit token ids; every line valid."""
    rng = random.Random(seed)
    lines = []
    for _ in range(count):
        tick = rng.choice(("0.01", "0.001"))
        price = f"0.{rng.randrange(1, 99):02d}" if tick == "0.01" else f"0.{rng.randrange(1, 999):03d}"
        fields = {
            "token_id": str(rng.randrange(10**76, 10**77)),
            "price": price,
            "size": f"{rng.randrange(5, 5000)}.{rng.randrange(100):02d}",
            "side": rng.choice(("BUY", "SELL")),
            "tick_size": tick,
            "neg_risk": rng.random() < 0.5,
        }
        lines.append(json.dumps(fields).encode() + b"\n")
    return lines


def measure(run: Callable[[], object], count: int, repeat: int) -> tuple[float, float]:
    """(best, median) orders per second over ``repeat`` runs of ``run`` signing ``count`` orders."""
    rates = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        rates.append(count / (time.perf_counter() - start))
    return max(rates), statistics.median(rates)


def floor_run(orders: Sequence[UnsignedOrder]) -> Callable[[], object]:
    private_key = PrivateKey(bytes.fromhex(TEST_PRIVATE_KEY[2:]))
    rng = random.Random(1)
    encoded_structs = [rng.randbytes(384) for _ in orders]
    separator = exchange_domain(CHAIN_ID, neg_risk=False).separator

    def run() -> object:
        signature = b""
        for encoded in encoded_structs:
            digest = keccak256(b"\x19\x01" + separator + keccak256(encoded))
            signature = private_key.sign_recoverable(digest, hasher=None)
        return signature

    return run


def polyinfra_run(orders: Sequence[UnsignedOrder], key: SigningKey) -> Callable[[], object]:
    def run() -> object:
        signed = None
        for order in orders:
            signed = sign_order(order, key, chain_id=CHAIN_ID)
        return signed

    return run


def order_sign_run(lines: Sequence[bytes], key: SigningKey) -> Callable[[], object]:
    stamper = OrderStamper(lambda: time.time_ns() // 1_000_000)

    def run() -> object:
        out = io.BytesIO()
        failures = write_signed(sign_order_lines(lines, key, stamper=stamper), write_out=out.write, write_error=print)
        if failures:
            raise SystemExit(f"{failures} bench lines failed to sign")
        return out

    return run


def official_run(orders: Sequence[UnsignedOrder]) -> Callable[[], object]:
    # Imported here: the official client is a test-only dependency, needed for this anchor only.
    from py_clob_client_v2.config import get_contract_config  # noqa: PLC0415
    from py_clob_client_v2.order_utils.exchange_order_builder_v2 import ExchangeOrderBuilderV2  # noqa: PLC0415
    from py_clob_client_v2.order_utils.model.order_data_v2 import OrderDataV2  # noqa: PLC0415
    from py_clob_client_v2.order_utils.model.side import Side as OfficialSide  # noqa: PLC0415
    from py_clob_client_v2.signer import Signer  # noqa: PLC0415

    config = get_contract_config(CHAIN_ID)
    signer = Signer(TEST_PRIVATE_KEY, CHAIN_ID)
    builders = {
        neg_risk: ExchangeOrderBuilderV2(
            config.neg_risk_exchange_v2 if neg_risk else config.exchange_v2, CHAIN_ID, signer
        )
        for neg_risk in (False, True)
    }
    inputs = [
        (
            builders[order.neg_risk],
            str(order.salt),
            OrderDataV2(
                maker=order.maker,
                tokenId=str(order.token_id),
                makerAmount=str(order.maker_amount),
                takerAmount=str(order.taker_amount),
                side=OfficialSide.BUY if order.side is Side.BUY else OfficialSide.SELL,
                signer=order.signer,
                signatureType=int(order.signature_type),
                timestamp=str(order.timestamp_ms),
            ),
        )
        for order in orders
    ]

    def run() -> object:
        order_hash = None
        for builder, salt, data in inputs:
            builder.generate_salt = lambda salt=salt: salt
            signed = builder.build_signed_order(data)
            order_hash = builder.build_order_hash(builder.build_order_typed_data(signed))
        return order_hash

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=20_000)
    parser.add_argument("--official-orders", type=int, default=1_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    key = SigningKey(TEST_PRIVATE_KEY)
    orders = random_orders(args.orders, key.address)
    official_orders = orders[: args.official_orders]

    floor_best, floor_median = measure(floor_run(orders), len(orders), args.repeat)
    ours_best, ours_median = measure(polyinfra_run(orders, key), len(orders), args.repeat)
    lines = order_sign_lines(len(orders))
    cli_best, cli_median = measure(order_sign_run(lines, key), len(lines), args.repeat)
    official_best, official_median = measure(official_run(official_orders), len(official_orders), args.repeat)

    print(f"orders: {len(orders)} (official: {len(official_orders)}), repeat {args.repeat}, one core")
    print(f"{'approach':<34}{'best orders/s':>16}{'median':>12}{'us/order':>11}")
    for name, best, median in (
        ("(a) floor: 2 keccak + 1 ECDSA", floor_best, floor_median),
        ("(b) polyinfra sign_order", ours_best, ours_median),
        ("(c) official py-clob-client-v2", official_best, official_median),
        ("(d) order sign, line to line", cli_best, cli_median),
    ):
        print(f"{name:<34}{best:>16,.0f}{median:>12,.0f}{1e6 / best:>11.1f}")
    print(f"polyinfra vs official: {ours_best / official_best:.1f}x faster")
    print(f"polyinfra vs floor:    {floor_best / ours_best:.2f}x the floor's cost per order")
    print(f"target >= 10,000 orders/s: {'met' if ours_best >= 10_000 else 'NOT met'}")
    cli_ratio = cli_best / floor_best
    verdict = "met" if cli_ratio >= 0.5 else "NOT met"
    print(f"order sign vs floor:   {cli_ratio:.2f}x the floor's rate (target >= 0.5: {verdict})")


if __name__ == "__main__":
    main()
