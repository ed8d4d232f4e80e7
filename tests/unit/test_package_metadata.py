"""The installed package says what it is: open source under Apache-2.0, with the license text shipped."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_the_package_is_apache_2_licensed_and_ships_the_license_text() -> None:
    metadata = importlib.metadata.metadata("polyinfra")
    assert metadata["License-Expression"] == "Apache-2.0"
    assert metadata.get_all("License-File") == ["LICENSE"]
    license_text = (PROJECT_ROOT / "LICENSE").read_text(encoding="utf-8")
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    classifiers = metadata.get_all("Classifier") or []
    assert "Typing :: Typed" in classifiers
    assert not any(classifier.startswith("License ::") for classifier in classifiers), "the SPDX expression says it"
