"""The committed generated code is exactly what the committed .proto files compile to.

scripts/generate_us_protos.py regenerates it; a .proto edited without regenerating, or a generated file
edited by hand, must fail here rather than ship a schema that disagrees with its own source.
"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate_us_protos.py"


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("generate_us_protos", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_generated_code_is_fresh() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_check_names_the_files_an_edited_proto_makes_stale(tmp_path: Path) -> None:
    script = load_script()
    source = tmp_path / "us"
    shutil.copytree(script.US_WIRE / "polymarket", source / "polymarket")
    assert script.stale_files(source, tmp_path / "fresh-before") == []
    health = source / "polymarket" / "v1" / "health.proto"
    health.write_text(health.read_text().replace("string status = 1;", "string status = 1;\n  string detail = 2;"))
    assert script.stale_files(source, tmp_path / "fresh-after") == [
        "health_pb2.py",
        "health_pb2.pyi",
    ]


def test_the_check_notices_a_generated_file_edited_by_hand(tmp_path: Path) -> None:
    script = load_script()
    source = tmp_path / "us"
    shutil.copytree(script.US_WIRE / "polymarket", source / "polymarket")
    stub = source / "polymarket" / "v1" / "refdata_pb2_grpc.py"
    stub.write_text(stub.read_text() + "\n# edited\n")
    assert script.stale_files(source, tmp_path / "fresh") == ["refdata_pb2_grpc.py"]
