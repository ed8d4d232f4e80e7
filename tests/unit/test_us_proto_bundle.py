"""The venue's proto bundle, loaded safely: hashes checked, zip bombs and escaping paths refused, compiled at
run time. The bundles here are made from polyinfra's own .proto files (the venue's is not redistributable)."""

from __future__ import annotations

import hashlib
import io
import stat
import zipfile
from pathlib import Path

import pytest

from polyinfra.core.us_descriptors import diff_protos, static_protos
from polyinfra.core.us_proto_bundle import (
    KNOWN_BUNDLE_SHA256,
    KNOWN_MARKET_DATA_SHA256,
    folder_digest,
    read_zip_bundle,
    rooted_bundle,
)
from polyinfra.errors import ProtoBundleError, ProtoBundleHashError
from polyinfra.us.proto_bundle import load_bundle

OUR_PROTOS = Path(__file__).resolve().parents[2] / "src" / "polyinfra" / "wire" / "us" / "polymarket" / "v1"


def our_proto_files(prefix: str = "api/") -> dict[str, bytes]:
    return {f"{prefix}polymarket/v1/{path.name}": path.read_bytes() for path in sorted(OUR_PROTOS.glob("*.proto"))}


def zipped(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
        archive.writestr("api/README.md", b"not a proto")
    return buffer.getvalue()


@pytest.fixture
def bundle_zip(tmp_path: Path) -> Path:
    path = tmp_path / "Polymarket - Proto Files.zip"
    path.write_bytes(zipped(our_proto_files()))
    return path


def test_a_bundle_that_is_not_the_known_one_names_both_hashes(bundle_zip: Path) -> None:
    actual = hashlib.sha256(bundle_zip.read_bytes()).hexdigest()
    with pytest.raises(ProtoBundleHashError) as refused:
        load_bundle(bundle_zip)
    assert refused.value.context["expected_sha256"] == KNOWN_BUNDLE_SHA256
    assert refused.value.context["actual_sha256"] == actual
    with pytest.raises(ProtoBundleHashError):
        load_bundle(bundle_zip, expected_sha256="0" * 64)


def test_a_trusted_bundle_compiles_at_run_time_into_the_same_descriptors(bundle_zip: Path) -> None:
    loaded = load_bundle(bundle_zip, expected_sha256=hashlib.sha256(bundle_zip.read_bytes()).hexdigest().upper())
    assert loaded.source == "bundle Polymarket - Proto Files.zip"
    assert "polymarket/v1/marketdatasubscription.proto" in loaded.files
    assert diff_protos(static_protos(), loaded) == []
    assert (
        loaded.pool.FindMessageTypeByName("polymarket.v1.Order").fields_by_name["fractional_quantity_scale"].number
        == 49
    )


def test_a_folder_is_checked_by_its_market_data_file_or_by_its_manifest(tmp_path: Path) -> None:
    for name, content in our_proto_files(prefix="unzipped/api/").items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    folder = tmp_path / "unzipped"
    # Our market-data file is wire-identical to the venue's but not byte-identical (its comments are ours).
    with pytest.raises(ProtoBundleHashError) as refused:
        load_bundle(folder)
    assert refused.value.context["expected_sha256"] == KNOWN_MARKET_DATA_SHA256
    digest = folder_digest(rooted_bundle(our_proto_files()))
    assert diff_protos(static_protos(), load_bundle(folder, expected_sha256=digest)) == []


def test_a_folder_with_a_link_out_of_it_is_refused(tmp_path: Path) -> None:
    for name, content in our_proto_files(prefix="b/").items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(content)
    (tmp_path / "secret.proto").write_text("// not yours")
    (tmp_path / "b" / "polymarket" / "v1" / "leak.proto").symlink_to(tmp_path / "secret.proto")
    with pytest.raises(ProtoBundleError, match="link"):
        load_bundle(tmp_path / "b", expected_sha256="0" * 64)


@pytest.mark.parametrize(
    "name", ["../evil.proto", "/etc/evil.proto", "api\\evil.proto", "C:/evil.proto", "a/../../x.proto"]
)
def test_a_path_leaving_the_bundle_is_refused(name: str) -> None:
    with pytest.raises(ProtoBundleError, match="leaves the bundle"):
        read_zip_bundle(zipped(our_proto_files() | {name: b"syntax = 'proto3';"}))


def test_a_symbolic_link_entry_is_refused() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        link = zipfile.ZipInfo("api/polymarket/v1/link.proto")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
    with pytest.raises(ProtoBundleError, match="symbolic link"):
        read_zip_bundle(buffer.getvalue())


def test_a_zip_bomb_stops_at_the_limit() -> None:
    bomb = zipped({"api/polymarket/v1/bomb.proto": b"\0" * (3 * 1024 * 1024)})
    assert len(bomb) < 10_000
    with pytest.raises(ProtoBundleError, match="zip bomb"):
        read_zip_bundle(bomb)


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 not really", b"\x00" * 100])
def test_bytes_that_are_not_a_zip_are_refused(data: bytes) -> None:
    with pytest.raises(ProtoBundleError, match="not a readable zip"):
        read_zip_bundle(data)


def test_a_bundle_without_the_market_data_file_or_that_does_not_compile_is_refused(tmp_path: Path) -> None:
    files = our_proto_files()
    with pytest.raises(ProtoBundleError, match="exactly one"):
        rooted_bundle({name: content for name, content in files.items() if "marketdata" not in name})
    broken = files | {"api/polymarket/v1/refdata.proto": b"syntax = 'proto3'; message {"}
    path = tmp_path / "broken.zip"
    path.write_bytes(zipped(broken))
    with pytest.raises(ProtoBundleError, match="protoc refused"):
        load_bundle(path, expected_sha256=hashlib.sha256(path.read_bytes()).hexdigest())
