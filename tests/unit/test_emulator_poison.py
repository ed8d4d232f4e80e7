"""The emulator's poisoned messages: each class plants what it says, where it says, reproducibly."""

from __future__ import annotations

import random

import msgspec
import pytest

from polyinfra.emulator.faults import FaultConfig, FaultDice
from polyinfra.emulator.poison import HUGE_DIGITS, NESTING_DEPTH, PoisonClass, poison_document
from polyinfra.errors import InvalidValueError, MalformedMessageError
from polyinfra.wire.json_decoding import JsonDecoder

PRICE_CHANGE = msgspec.json.encode(
    {
        "event_type": "price_change",
        "market": "0xabc",
        "timestamp": "1733500000000",
        "price_changes": [{"asset_id": "7" * 77, "price": "0.52", "size": "100", "side": "BUY", "hash": "0xdef"}],
    }
)


def _differences(before: object, after: object, path: str = "") -> list[tuple[str, object, object]]:
    if type(before) is type(after) and isinstance(before, dict) and isinstance(after, dict):
        return [d for key in before for d in _differences(before[key], after[key], f"{path}.{key}")]
    if type(before) is type(after) and isinstance(before, list) and isinstance(after, list):
        pairs = enumerate(zip(before, after, strict=True))
        return [d for i, (b, a) in pairs for d in _differences(b, a, f"{path}[{i}]")]
    return [] if before == after else [(path, before, after)]


@pytest.mark.parametrize("seed", range(20))
def test_each_class_plants_one_hostile_value(seed: int) -> None:
    rng = random.Random(seed)
    original = msgspec.json.decode(PRICE_CHANGE)

    # Never handed to a bare msgspec decode: where a library raised the recursion limit (py_ecc
    # does), that overflows the C stack. The bounded decoder refuses it by a scan instead.
    nested = poison_document(PRICE_CHANGE, PoisonClass.DEEP_NESTING, rng.randrange)
    assert b"[" * NESTING_DEPTH + b"]" * NESTING_DEPTH in nested
    with pytest.raises(MalformedMessageError, match="nests deeper"):
        JsonDecoder(what="poisoned frame").decode(nested)
    with pytest.raises(msgspec.DecodeError, match="UTF-8"):
        msgspec.json.decode(poison_document(PRICE_CHANGE, PoisonClass.INVALID_UTF8, rng.randrange))

    # Huge numbers replace numbers (prices, sizes, timestamps), never the 77-digit token id.
    [(path, before, after)] = _differences(
        original, msgspec.json.decode(poison_document(PRICE_CHANGE, PoisonClass.HUGE_DIGITS, rng.randrange))
    )
    assert isinstance(before, str) and len(before) < 20 and after == "1" * HUGE_DIGITS, path
    [(path, before, after)] = _differences(
        original, msgspec.json.decode(poison_document(PRICE_CHANGE, PoisonClass.HUGE_EXPONENT, rng.randrange))
    )
    assert isinstance(before, str) and str(after).lower().replace("+", "").endswith("e999999"), (path, after)

    [(path, before, after)] = _differences(
        original, msgspec.json.decode(poison_document(PRICE_CHANGE, PoisonClass.WRONG_TYPE, rng.randrange))
    )
    assert type(before) is not type(after), path


def test_poison_is_reproducible_from_the_seed() -> None:
    def run() -> list[bytes]:
        config = FaultConfig(seed=11, poison_rate=0.5)
        dice = FaultDice(config, "market/1")
        frames = []
        for _ in range(50):
            poison = dice.message_fate().poison
            if poison is not None:
                frames.append(poison_document(PRICE_CHANGE, poison, dice.pick))
        return frames

    first = run()
    assert first and first == run()


def test_poison_classes_knob_is_validated() -> None:
    config = FaultConfig()
    config.poison_classes = ["wrong_type", "deep_nesting"]  # type: ignore[assignment]
    assert config.poison_classes == (PoisonClass.WRONG_TYPE, PoisonClass.DEEP_NESTING)
    assert config.as_dict()["poison_classes"] == ["wrong_type", "deep_nesting"]
    for bad in ([], ["nope"], "wrong_type", [1]):
        with pytest.raises(InvalidValueError):
            config.poison_classes = bad  # type: ignore[assignment]
