"""Regenerate the Python code for the US exchange protos in src/polyinfra/wire/us/polymarket/v1/.

    python scripts/generate_us_protos.py          # rewrite the generated files
    python scripts/generate_us_protos.py --check  # exit 1 and name the stale files, writing nothing

protoc writes imports as ``from polymarket.v1 import x_pb2``, which only works with the protos at the
top of sys.path; the generated code lives inside polyinfra, so those imports are rewritten to the full
package path. Everything else is protoc's output byte for byte. The check compiles into a temporary
folder with the same grpcio-tools (pinned in the dev extra) and compares every file, so a .proto edited
without regenerating, or a generated file edited by hand, fails tests/unit/test_us_protos_generated.py.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from importlib import resources
from pathlib import Path

from grpc_tools import protoc

US_WIRE = Path(__file__).resolve().parents[1] / "src" / "polyinfra" / "wire" / "us"
PROTO_PACKAGE = Path("polymarket") / "v1"
GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py")
# Both the module import (`from polymarket.v1 import`) and the .pyi's `import polymarket.v1.x_pb2`.
PROTOC_IMPORT = re.compile(r"^(from|import) polymarket\.v1\b", re.MULTILINE)


def generate(source_root: Path, out_root: Path) -> list[Path]:
    """Compile every .proto under ``source_root`` into ``out_root`` (same relative layout); returns the files."""
    protos = sorted(str(p.relative_to(source_root)) for p in (source_root / PROTO_PACKAGE).glob("*.proto"))
    well_known = str(resources.files("grpc_tools") / "_proto")
    out_root.mkdir(parents=True, exist_ok=True)
    args = [
        "grpc_tools.protoc",
        f"--proto_path={source_root}",
        f"--proto_path={well_known}",
        f"--python_out={out_root}",
        f"--pyi_out={out_root}",
        f"--grpc_python_out={out_root}",
        *protos,
    ]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed (its message is above)")
    written = []
    for path in sorted(p for p in (out_root / PROTO_PACKAGE).iterdir() if p.name.endswith(GENERATED_SUFFIXES)):
        if path.name.endswith("_pb2_grpc.py") and "class " not in path.read_text(encoding="utf-8"):
            continue  # a .proto without services: protoc's stub module would hold only a version check
        written.append(path)
        text = path.read_text(encoding="utf-8")
        path.write_text(PROTOC_IMPORT.sub(r"\1 polyinfra.wire.us.polymarket.v1", text), encoding="utf-8")
    return written


def committed_files(source_root: Path) -> dict[str, bytes]:
    folder = source_root / PROTO_PACKAGE
    return {p.name: p.read_bytes() for p in folder.iterdir() if p.name.endswith(GENERATED_SUFFIXES)}


def stale_files(source_root: Path, scratch: Path) -> list[str]:
    """The generated files under ``source_root`` that differ from what its .proto files compile to now."""
    fresh = {p.name: p.read_bytes() for p in generate(source_root, scratch)}
    committed = committed_files(source_root)
    return sorted(name for name in fresh.keys() | committed.keys() if fresh.get(name) != committed.get(name))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the committed files; write nothing")
    check = parser.parse_args().check
    with tempfile.TemporaryDirectory() as scratch:
        if check:
            stale = stale_files(US_WIRE, Path(scratch))
            for name in stale:
                print(f"stale: {PROTO_PACKAGE / name} (run scripts/generate_us_protos.py)", file=sys.stderr)
            return 1 if stale else 0
        for old in committed_files(US_WIRE):
            (US_WIRE / PROTO_PACKAGE / old).unlink()
        for path in generate(US_WIRE, Path(scratch)):
            (US_WIRE / PROTO_PACKAGE / path.name).write_bytes(path.read_bytes())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
