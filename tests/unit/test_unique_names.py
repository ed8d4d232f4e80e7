"""The names tests give what they create on the shared PostgreSQL and NATS servers."""

from __future__ import annotations

import re

import pytest

from tests.unique_names import unique_name


def test_names_differ_and_carry_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")
    names = {unique_name("test-fleet") for _ in range(1_000)}
    assert len(names) == 1_000
    assert all(re.fullmatch(r"test-fleet-gw7-[0-9a-f]{12}", name) for name in names)
    monkeypatch.delenv("PYTEST_XDIST_WORKER")
    assert re.fullmatch(r"test-main-[0-9a-f]{12}", unique_name("test"))


def test_the_sql_form_needs_no_quoting() -> None:
    # An unquoted PostgreSQL identifier: a letter or '_', then letters, digits or '_', at most 63 bytes.
    name = unique_name("polyinfra_test", separator="_")
    assert re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name), name
