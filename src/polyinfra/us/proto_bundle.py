"""``load_bundle``: the venue's official proto bundle, checked and compiled when the client starts.

    protos = load_bundle("Polymarket - Proto Files.zip")      # or the folder it unzips to
    async with UsExchangeClient(protos=protos) as us: ...

The venue gives its bundle out on request and without a licence to redistribute it, so polyinfra cannot ship
it; with it, the client speaks the venue's real field numbers instead of its own guesses
(venue notes: US exchange protos). The bundle is read with the limits of :mod:`polyinfra.core.us_proto_bundle`, checked
against the known sha256 (or ``expected_sha256``, to trust a newer bundle), and compiled with grpcio-tools
(protoc as a library) into descriptors; nothing is imported or executed from it.
"""

from __future__ import annotations

import hashlib
import tempfile
from importlib import resources
from pathlib import Path
from typing import Final

from google.protobuf import descriptor_pb2
from grpc_tools import protoc

from polyinfra.core.us_descriptors import UsProtos, protos_from_files
from polyinfra.core.us_proto_bundle import (
    KNOWN_BUNDLE_SHA256,
    KNOWN_MARKET_DATA_SHA256,
    MARKET_DATA_PROTO,
    MAX_BUNDLE_BYTES,
    MAX_ENTRIES,
    MAX_FILE_BYTES,
    MAX_TOTAL_BYTES,
    check_sha256,
    folder_digest,
    read_zip_bundle,
    rooted_bundle,
    safe_member_name,
)
from polyinfra.errors import ProtoBundleError

__all__ = ["load_bundle"]

_DESCRIPTOR_SET: Final = "bundle.pb"


def load_bundle(path: str | Path, *, expected_sha256: str | None = None) -> UsProtos:
    """The descriptors of the bundle at ``path`` (a zip, or a folder).

    A zip must hash to ``expected_sha256`` (default: the known bundle's). A folder must hash to
    ``expected_sha256`` by its manifest digest when one is given; otherwise its market-data file must be the
    venue's published one. :class:`ProtoBundleHashError` names both hashes; :class:`ProtoBundleError` for
    an unreadable, unsafe or uncompilable bundle.
    """
    bundle = Path(path)
    if bundle.is_dir():
        files = rooted_bundle(_read_folder(bundle))
        if expected_sha256 is not None:
            check_sha256(folder_digest(files), expected_sha256, what=f"the bundle folder {bundle.name}")
        else:
            market_data = hashlib.sha256(files[MARKET_DATA_PROTO]).hexdigest()
            check_sha256(market_data, KNOWN_MARKET_DATA_SHA256, what=f"{MARKET_DATA_PROTO} in {bundle.name}")
    else:
        data = _read_file(bundle, MAX_BUNDLE_BYTES)
        check_sha256(hashlib.sha256(data).hexdigest(), expected_sha256 or KNOWN_BUNDLE_SHA256, what=bundle.name)
        files = rooted_bundle(read_zip_bundle(data))
    return _compile(files, source=f"bundle {bundle.name}")


def _read_file(path: Path, limit: int) -> bytes:
    try:
        with path.open("rb") as opened:
            data = opened.read(limit + 1)
    except OSError as exc:
        raise ProtoBundleError("cannot read the bundle", path=str(path), cause=exc.strerror) from None
    if len(data) > limit:
        raise ProtoBundleError("a bundle file is larger than the limit", path=str(path), limit_bytes=limit)
    return data


def _read_folder(folder: Path) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    root = folder.resolve()
    for count, path in enumerate(sorted(folder.rglob("*.proto"))):
        if count >= MAX_ENTRIES:
            raise ProtoBundleError("the bundle folder has too many .proto files", path=str(folder))
        # A symbolic link could pull in any file on the machine.
        if path.is_symlink() or not path.resolve().is_relative_to(root) or not path.is_file():
            raise ProtoBundleError("a bundle file is a link or leaves the folder", path=str(path))
        content = _read_file(path, min(MAX_FILE_BYTES, MAX_TOTAL_BYTES - total))
        total += len(content)
        files[path.relative_to(folder).as_posix()] = content
    return files


def _compile(files: dict[str, bytes], *, source: str) -> UsProtos:
    with tempfile.TemporaryDirectory() as scratch:
        root = Path(scratch) / "protos"
        for name, content in files.items():
            relative = safe_member_name(name)
            if relative is None:
                raise ProtoBundleError("a bundle path leaves the bundle", file=name[:200])
            target = root / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        descriptor_set = Path(scratch) / _DESCRIPTOR_SET
        venue_files = sorted(name for name in files if name.startswith("polymarket/"))
        status = protoc.main(
            [
                "grpc_tools.protoc",
                f"--proto_path={root}",
                f"--proto_path={resources.files('grpc_tools') / '_proto'}",
                "--include_imports",
                f"--descriptor_set_out={descriptor_set}",
                *venue_files,
            ]
        )
        if status != 0:
            raise ProtoBundleError("protoc refused the bundle (its message is on stderr)", source=source)
        compiled = descriptor_pb2.FileDescriptorSet.FromString(descriptor_set.read_bytes())
    return protos_from_files((file.SerializeToString() for file in compiled.file), source=source)
