"""The venue's proto bundle, read safely: which files it holds, and whether it is the bundle expected.

The US exchange hands its protos out as a zip (venue notes: US exchange protos). A zip is hostile input:
:func:`read_zip_bundle` takes only ``.proto`` files, refuses any name that could leave the bundle (absolute
paths, ``..``, backslashes, drive letters, symbolic links), and stops reading at fixed limits on entries, on
each file and on the total, however small the zip claims its contents are (a zip bomb ends at the limit, not
in memory). The files are then rooted where ``polymarket/v1/marketdatasubscription.proto`` is, whatever
folder the zip wraps them in.

The digest of a zip is the sha256 of its bytes; :data:`KNOWN_BUNDLE_SHA256` is the bundle polyinfra knows.
A folder has no such published digest: its digest is the sha256 of a manifest of its ``.proto`` files (one
``<sha256>  <path>`` line each, sorted), and by default only the market-data file, the one whose contents
are public, is checked against :data:`KNOWN_MARKET_DATA_SHA256`.
"""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Final

from polyinfra.errors import ProtoBundleError, ProtoBundleHashError

__all__ = [
    "KNOWN_BUNDLE_SHA256",
    "KNOWN_MARKET_DATA_SHA256",
    "MARKET_DATA_PROTO",
    "check_sha256",
    "folder_digest",
    "read_zip_bundle",
    "rooted_bundle",
    "safe_member_name",
]

KNOWN_BUNDLE_SHA256: Final = "52236f65d71e38a8d2258d427a1df0c2599c591720d52fecc0600478fed91ad4"
KNOWN_MARKET_DATA_SHA256: Final = "de43bd1c904925c41931b9c8f2268d4e8f2affd05965729e8846f5155a238118"
MARKET_DATA_PROTO: Final = "polymarket/v1/marketdatasubscription.proto"
# The venue's zip is 61,786 bytes with a few dozen files; these leave room for growth and none for abuse.
MAX_BUNDLE_BYTES: Final = 16 * 1024 * 1024
MAX_ENTRIES: Final = 2000
MAX_FILE_BYTES: Final = 2 * 1024 * 1024
MAX_TOTAL_BYTES: Final = 32 * 1024 * 1024
_READ_CHUNK: Final = 64 * 1024


def safe_member_name(name: str) -> str | None:
    """``name`` as a relative POSIX path inside the bundle, or None when it could point outside it."""
    if not name or "\\" in name or "\0" in name or name.startswith("/") or ":" in name.split("/", 1)[0]:
        return None
    parts = PurePosixPath(name).parts
    if any(part in ("..", "") for part in parts):
        return None
    return "/".join(parts)


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, budget: int) -> bytes:
    limit = min(MAX_FILE_BYTES, budget)
    chunks: list[bytes] = []
    size = 0
    with archive.open(info) as member:
        while chunk := member.read(_READ_CHUNK):
            size += len(chunk)
            if size > limit:
                raise ProtoBundleError(
                    "a bundle file inflates past the limit (a zip bomb?)", file=info.filename[:200], limit_bytes=limit
                )
            chunks.append(chunk)
    return b"".join(chunks)


def read_zip_bundle(data: bytes) -> dict[str, bytes]:
    """The ``.proto`` files of a zip, by their path in it; :class:`ProtoBundleError` for anything unsafe."""
    if len(data) > MAX_BUNDLE_BYTES:
        raise ProtoBundleError("the bundle is larger than any proto bundle", size=len(data))
    files: dict[str, bytes] = {}
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > MAX_ENTRIES:
                raise ProtoBundleError("the bundle has too many entries", entries=len(entries))
            for info in entries:
                if info.is_dir():
                    continue
                name = safe_member_name(info.filename)
                if name is None:
                    raise ProtoBundleError("a bundle entry's path leaves the bundle", file=info.filename[:200])
                if stat.S_ISLNK(info.external_attr >> 16):
                    raise ProtoBundleError("a bundle entry is a symbolic link", file=name[:200])
                if not name.endswith(".proto"):
                    continue
                if info.flag_bits & 0x1:
                    raise ProtoBundleError("a bundle entry is encrypted", file=name[:200])
                content = _read_capped(archive, info, MAX_TOTAL_BYTES - total)
                total += len(content)
                if files.setdefault(name, content) is not content:
                    raise ProtoBundleError("the bundle holds two entries of one name", file=name[:200])
    # zipfile's own failures on hostile archives go beyond BadZipFile: an empty name is an IndexError, a
    # truncated record a struct.error, an encrypted or unsupported entry a RuntimeError / NotImplementedError.
    except (
        zipfile.BadZipFile,
        zlib.error,
        struct.error,
        EOFError,
        IndexError,
        KeyError,
        NotImplementedError,
        RuntimeError,
        ValueError,
        OSError,
    ) as exc:
        raise ProtoBundleError("the bundle is not a readable zip", cause=str(exc)[:300]) from None
    return files


def rooted_bundle(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """``files`` relative to the folder holding ``polymarket/``, as protoc must see them; others dropped."""
    roots = [name.removesuffix(MARKET_DATA_PROTO) for name in files if name.endswith(MARKET_DATA_PROTO)]
    roots = [root for root in roots if root == "" or root.endswith("/")]
    if len(roots) != 1:
        raise ProtoBundleError(f"the bundle must hold exactly one {MARKET_DATA_PROTO}", found=len(roots))
    (root,) = roots
    return {name.removeprefix(root): content for name, content in files.items() if name.startswith(root)}


def folder_digest(files: Mapping[str, bytes]) -> str:
    """The sha256 of a manifest of ``files``: ``<sha256 of the file>  <path>\\n`` per file, sorted by path."""
    manifest = "".join(f"{hashlib.sha256(files[name]).hexdigest()}  {name}\n" for name in sorted(files))
    return hashlib.sha256(manifest.encode()).hexdigest()


def check_sha256(actual: str, expected: str, *, what: str) -> None:
    """:class:`ProtoBundleHashError` naming both hashes when ``actual`` is not ``expected``."""
    if actual != expected.strip().lower():
        raise ProtoBundleHashError(
            f"{what} is not the one expected; if you trust it, pass its sha256 as the expected hash",
            expected_sha256=expected[:100],
            actual_sha256=actual,
        )
