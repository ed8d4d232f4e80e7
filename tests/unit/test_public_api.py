"""The curated public surface of ``polyinfra``."""

from __future__ import annotations

import subprocess
import sys

import pytest

import polyinfra


def test_every_public_name_resolves() -> None:
    for name in polyinfra.__all__:
        assert getattr(polyinfra, name) is not None, name


def test_importing_polyinfra_does_not_load_the_network_stacks() -> None:
    code = "import sys, polyinfra; print(sorted(m for m in ('aiohttp', 'httpx', 'websockets') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert loaded.strip() == "[]"


def test_lazy_names_are_the_real_classes() -> None:
    from polyinfra.emulator.runner import Emulator  # noqa: PLC0415 - imported late on purpose: it is lazy

    assert polyinfra.Emulator is Emulator


def test_unknown_attribute_is_an_attribute_error() -> None:
    with pytest.raises(AttributeError, match="NoSuchThing"):
        polyinfra.NoSuchThing  # noqa: B018
