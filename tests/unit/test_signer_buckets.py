"""The emulator's per-signer token buckets (venue notes: Rate limits), driven with explicit unix microseconds:
rates and bursts per tier, all-or-nothing batches, batches over the burst, after-the-fact debits
below zero on the tiers that allow it, the Reset the headers announce, warning mode and counters."""

from __future__ import annotations

from fractions import Fraction

import pytest

from polyinfra.emulator.rate_limits import (
    DEFAULT_SIGNER_TIER,
    SIGNER_TIERS,
    BucketLimits,
    SignerBucket,
    SignerBuckets,
    SignerDecision,
    TokenBucket,
    signer_route,
    signer_tier,
)
from polyinfra.errors import InvalidValueError

SIGNER = "0x" + "ab" * 20
OTHER = "0x" + "cd" * 20
T0 = 1_785_000_000 * 1_000_000  # a whole unix second, in microseconds
MS = 1_000
S = 1_000_000


def _drain(buckets: SignerBuckets, bucket: SignerBucket, count: int, now_us: int, signer: str = SIGNER) -> None:
    for _ in range(count):
        assert buckets.charge(signer, bucket, 1, now_us, enforce=True).passed


# --- the table ----------------------------------------------------------------------------------


def test_the_documented_tiers() -> None:
    table = {
        name: (t.orders.rate_per_s, t.orders.burst, t.cancels.rate_per_s, t.cancels.burst, t.negative_allowed)
        for name, t in SIGNER_TIERS.items()
    }
    assert table == {
        "standard": (40, 60, 80, 120, True),
        "copper": (60, 90, 120, 180, True),
        "bronze": (80, 120, 160, 240, True),
        "silver": (200, 300, 400, 600, True),
        "gold": (400, 600, 800, 1_200, True),
        "platinum": (450, 675, 900, 1_350, False),
        "diamond": (525, 787, 1_050, 1_575, False),
        "elite": (600, 900, 1_200, 1_800, False),
    }
    assert DEFAULT_SIGNER_TIER == "standard"
    with pytest.raises(InvalidValueError) as unknown:
        signer_tier("wood")
    assert unknown.value.context["field"] == "tier"


def test_which_requests_pay_which_bucket_and_how_much() -> None:
    assert signer_route("GET", "/book") is None
    assert signer_route("GET", "/data/orders") is None
    single = signer_route("POST", "/order")
    assert single is not None
    assert (single.bucket, single.cost(b"anything")) == (SignerBucket.ORDER, 1)
    batch = signer_route("POST", "/orders")
    assert batch is not None
    assert (batch.bucket, batch.cost(b'[{"order": {}}, {"order": {}}, {"order": {}}]')) == (SignerBucket.ORDER, 3)
    ids = signer_route("DELETE", "/orders")
    assert ids is not None
    assert (ids.bucket, ids.cost(b'["0x01", "0x02"]')) == (SignerBucket.CANCEL, 2)
    # Not a batch (the route answers 400) or an empty one: the attempt still costs one.
    assert ids.cost(b"{") == ids.cost(b"[]") == 1
    for path in ("/cancel-all", "/cancel-market-orders"):
        route = signer_route("DELETE", path)
        assert route is not None
        assert (route.bucket, route.cost(b""), route.debits_cancelled) == (SignerBucket.CANCEL, 1, True)
    assert signer_route("DELETE", "/order") is not None
    assert signer_route("DELETE", "/cancel-all").cancelled(b'{"canceled": ["a", "b"], "not_canceled": {}}') == 2  # type: ignore[union-attr]
    assert signer_route("DELETE", "/cancel-all").cancelled(b"<html>") == 0  # type: ignore[union-attr]


# --- one bucket ---------------------------------------------------------------------------------


def test_a_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket(Fraction(40), 60, T0)
    assert bucket.remaining(T0) == 60, "a new signer starts full"
    assert bucket.take(60, T0)
    assert not bucket.take(1, T0)
    assert bucket.remaining(T0 + 24_999) == 0  # 40/s: one token every 25 ms
    assert bucket.remaining(T0 + 25 * MS) == 1
    assert bucket.remaining(T0 + 1 * S) == 40
    assert bucket.remaining(T0 + 10 * S) == 60, "never above the burst"


def test_reset_is_when_the_bucket_holds_the_cost() -> None:
    bucket = TokenBucket(Fraction(40), 60, T0)
    assert bucket.ready_at_us(5, T0) == T0, "it holds them now"
    bucket.take(60, T0)
    assert bucket.ready_at_us(1, T0) == T0 + 25 * MS
    assert bucket.ready_at_us(15, T0) == T0 + 375 * MS
    assert bucket.ready_at_us(61, T0) is None, "over the burst: never"
    # Exactly at the announced time it fits, a microsecond earlier it does not.
    assert not bucket.take(15, T0 + 375 * MS - 1)
    assert bucket.take(15, T0 + 375 * MS)


def test_a_scaled_rate_stays_exact() -> None:
    # 40/s at scale 0.01 is 0.4 tokens/s: one token every 2.5 s, with no float drift.
    rate, burst = BucketLimits(40, 60).scaled(0.01)
    assert (rate, burst) == (Fraction(2, 5), 1)
    bucket = TokenBucket(rate, burst, T0)
    assert bucket.take(1, T0)
    assert bucket.ready_at_us(1, T0) == T0 + 2_500 * MS
    for step in range(1, 2_500):  # many small refills add up exactly
        assert bucket.remaining(T0 + step * MS) == 0
    assert bucket.remaining(T0 + 2_500 * MS) == 1


def test_after_the_fact_debits_go_below_zero_only_where_allowed() -> None:
    negative = TokenBucket(Fraction(80), 120, T0)
    negative.debit(200, T0, negative_allowed=True)
    assert negative.remaining(T0) == -80
    # 81 tokens to earn back before one fits: 81 / 80 s.
    assert negative.ready_at_us(1, T0) == T0 + 1_012_500
    floor = TokenBucket(Fraction(1_800), 1_800, T0)
    floor.debit(5_000, T0, negative_allowed=False)
    assert floor.remaining(T0) == 0


def test_resizing_keeps_the_tokens_held() -> None:
    bucket = TokenBucket(Fraction(600), 900, T0)
    bucket.take(850, T0)
    bucket.resize(Fraction(40), 60, T0)
    assert bucket.remaining(T0) == 50
    bucket.resize(Fraction(600), 900, T0)
    assert bucket.remaining(T0) == 50, "a bigger tier does not fill the bucket"
    with pytest.raises(InvalidValueError):
        TokenBucket(Fraction(0), 60, T0)


# --- every signer ---------------------------------------------------------------------------------


def test_orders_and_cancels_have_separate_buckets_per_signer() -> None:
    buckets = SignerBuckets()
    _drain(buckets, SignerBucket.ORDER, 60, T0)
    refused = buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0, enforce=True)
    assert (refused.passed, refused.over_limit, refused.remaining) == (False, True, 0)
    assert buckets.charge(SIGNER, SignerBucket.CANCEL, 1, T0, enforce=True).passed, "cancels have their own"
    assert buckets.charge(OTHER, SignerBucket.ORDER, 1, T0, enforce=True).passed, "so has every signer"
    assert buckets.charge(SIGNER.upper().replace("0X", "0x"), SignerBucket.ORDER, 1, T0, enforce=True).over_limit


@pytest.mark.parametrize("tier", list(SIGNER_TIERS))
def test_each_tier_lets_its_burst_through_then_its_rate(tier: str) -> None:
    buckets = SignerBuckets()
    buckets.set_tier(SIGNER, signer_tier(tier))
    limits = SIGNER_TIERS[tier]
    for bucket, allowed in ((SignerBucket.ORDER, limits.orders), (SignerBucket.CANCEL, limits.cancels)):
        _drain(buckets, bucket, allowed.burst, T0)
        assert not buckets.charge(SIGNER, bucket, 1, T0, enforce=True).passed
        _drain(buckets, bucket, allowed.rate_per_s, T0 + S)
        assert not buckets.charge(SIGNER, bucket, 1, T0 + S, enforce=True).passed
        first = buckets.charge(SIGNER, bucket, 1, T0 + S, enforce=True)
        assert first.headers()["Poly-RateLimit-Tier"] == tier


def test_a_batch_is_all_or_nothing_and_one_over_the_burst_never_passes() -> None:
    buckets = SignerBuckets()
    _drain(buckets, SignerBucket.ORDER, 50, T0)
    refused = buckets.charge(SIGNER, SignerBucket.ORDER, 15, T0, enforce=True)
    assert not refused.passed
    assert refused.remaining == 10, "nothing of a refused batch was taken"
    assert refused.reset_at_us == T0 + 125 * MS  # 5 more tokens at 40/s
    assert buckets.charge(SIGNER, SignerBucket.ORDER, 10, T0, enforce=True).passed
    # 61 orders cost more than the standard burst: even a full bucket refuses them, with no Reset.
    never = buckets.charge(OTHER, SignerBucket.ORDER, 61, T0, enforce=True)
    assert (never.passed, never.reset_at_us, never.retry_after_s(T0)) == (False, None, None)
    assert "Poly-RateLimit-Reset" not in never.headers()
    assert buckets.charge(OTHER, SignerBucket.ORDER, 60, T0, enforce=True).passed


def test_cancel_all_pays_one_up_front_and_its_cancels_after_the_fact() -> None:
    buckets = SignerBuckets()
    up_front = buckets.charge(SIGNER, SignerBucket.CANCEL, 1, T0, enforce=True)
    assert (up_front.passed, up_front.remaining) == (True, 119)
    after = buckets.debit_after(SIGNER, SignerBucket.CANCEL, 300, T0, up_front)
    assert after.remaining == -181, "standard may go negative"
    assert after.reset_at_us == T0 + 182 * S // 80  # back to one token at 80/s
    assert not buckets.charge(SIGNER, SignerBucket.CANCEL, 1, T0 + S, enforce=True).passed
    # Elite may not: the debit stops at zero.
    buckets.set_tier(OTHER, signer_tier("elite"))
    elite = buckets.charge(OTHER, SignerBucket.CANCEL, 1, T0, enforce=True)
    assert buckets.debit_after(OTHER, SignerBucket.CANCEL, 5_000, T0, elite).remaining == 0


def test_headers_say_what_is_left_when_to_come_back_and_the_tier() -> None:
    buckets = SignerBuckets()
    first = buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0 + 300 * MS, enforce=True)
    assert first.headers() == {
        "Poly-RateLimit-Remaining": "59",
        "Poly-RateLimit-Reset": str((T0 + 300 * MS) // S + 1),  # unix seconds, rounded up
        "Poly-RateLimit-Tier": "standard",
    }
    _drain(buckets, SignerBucket.ORDER, 59, T0 + 300 * MS)
    refused = buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0 + 300 * MS, enforce=True)
    assert refused.reset_at_us == T0 + 325 * MS
    assert refused.retry_after_s(T0 + 300 * MS) == 1, "whole seconds, at least one"
    assert refused.headers()["Poly-RateLimit-Remaining"] == "0"
    assert "Poly-RateLimit-Warning" not in refused.headers()


def test_warning_mode_lets_the_request_through_uncharged_and_flags_it() -> None:
    buckets = SignerBuckets()
    _drain(buckets, SignerBucket.ORDER, 60, T0)
    warned = buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0, enforce=False)
    assert (warned.passed, warned.over_limit, warned.remaining) == (True, True, 0)
    assert warned.headers()["Poly-RateLimit-Warning"] == "true"
    assert (
        buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0 + 25 * MS, enforce=False)
        .headers()
        .get("Poly-RateLimit-Warning")
        is None
    ), "the warned request took nothing: the next token is there on time"


def test_a_new_scale_or_tier_resizes_a_signers_buckets() -> None:
    buckets = SignerBuckets(scale=0.5)
    _drain(buckets, SignerBucket.ORDER, 30, T0)  # 60 * 0.5
    assert not buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0, enforce=True).passed
    buckets.scale = 1.0
    buckets.set_tier(SIGNER, signer_tier("gold"))
    still_empty = buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0, enforce=True)
    assert (still_empty.passed, still_empty.tier, still_empty.reset_at_us) == (False, "gold", T0 + 2_500)  # 400/s
    assert buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0 + 2_500, enforce=True).passed


def test_counters_per_signer_and_in_total() -> None:
    buckets = SignerBuckets()
    _drain(buckets, SignerBucket.ORDER, 60, T0)
    buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0, enforce=True)
    buckets.charge(SIGNER, SignerBucket.ORDER, 1, T0, enforce=False)
    buckets.set_tier(OTHER, signer_tier("gold"))
    buckets.charge(OTHER, SignerBucket.CANCEL, 1, T0, enforce=True)
    report = buckets.as_dict()
    assert {key: report[key] for key in ("requests", "over_limit", "rejected", "warned")} == {
        "requests": 63,
        "over_limit": 2,
        "rejected": 1,
        "warned": 1,
    }
    assert report["signers"] == {
        SIGNER: {"tier": "standard", "requests": 62, "over_limit": 2, "rejected": 1, "warned": 1},
        OTHER: {"tier": "gold", "requests": 1, "over_limit": 0, "rejected": 0, "warned": 0},
    }


def test_a_decision_is_plain_data() -> None:
    decision = SignerDecision(passed=True, over_limit=False, cost=1, remaining=-3, reset_at_us=T0, tier="silver")
    assert decision.headers()["Poly-RateLimit-Remaining"] == "-3"
    assert decision.headers()["Poly-RateLimit-Reset"] == str(T0 // S)
