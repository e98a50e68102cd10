"""Safe extraction of downloaded archives and safe loading of `.pt` files."""

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest
import torch
from fixtures_real import _Tamper, build_geoplant_fixture, dataset_config

from miam.inputs.archive import (
    EXTRACTED_MARKER,
    UnsafeArchiveError,
    is_extracted,
    safe_extract,
)
from miam.inputs.untrusted_tensors import UnsafeFileError, load_untrusted_tensors


def _zip_with(path: Path, name: str, data: bytes = b"payload", symlink: bool = False) -> Path:
    info = zipfile.ZipInfo(name)
    if symlink:
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("good/file.txt", b"fine")
        archive.writestr(info, data)
    return path


TAR_TYPES = {"file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE}


def _tar_with(path: Path, name: str, kind: str, link: str) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        good = tarfile.TarInfo("good/file.txt")
        good.size = 4
        archive.addfile(good, io.BytesIO(b"fine"))
        member = tarfile.TarInfo(name)
        member.type, member.linkname = TAR_TYPES.get(kind, tarfile.CHRTYPE), link
        data = b"payload" if kind == "file" else b""
        member.size = len(data)
        archive.addfile(member, io.BytesIO(data))
    return path


UNSAFE_MEMBERS = [  # (archive format, member name, member kind, link target)
    ("zip", "../evil.txt", "file", ""),
    ("zip", "good/../../evil.txt", "file", ""),
    ("zip", "/tmp/miam-evil-absolute.txt", "file", ""),
    ("zip", "..\\evil.txt", "file", ""),
    ("zip", "link", "symlink", "../../evil.txt"),
    ("tar", "../evil.txt", "file", ""),
    ("tar", "/tmp/miam-evil-absolute.txt", "file", ""),
    ("tar", "good/link", "symlink", "../../x"),
    ("tar", "link", "symlink", "/etc/passwd"),
    ("tar", "hard", "hardlink", "../evil.txt"),
    ("tar", "dev", "device", ""),
]


@pytest.mark.parametrize(("fmt", "member", "kind", "link"), UNSAFE_MEMBERS)
def test_unsafe_archive_is_refused_naming_the_member_and_nothing_is_written(
    tmp_path, fmt, member, kind, link
):
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    if fmt == "zip":
        archive = _zip_with(downloads / "a.zip", member, link.encode(), kind == "symlink")
    else:
        archive = _tar_with(downloads / "a.tar.gz", member, kind, link)
    target = tmp_path / "data" / "extracted"
    before = set(tmp_path.rglob("*"))

    with pytest.raises(UnsafeArchiveError) as refused:
        safe_extract(archive, target)

    assert repr(member) in str(refused.value)
    assert str(archive) in str(refused.value)
    # Nothing at all was written: no target, no staging folder, nothing beside the archive.
    assert set(tmp_path.rglob("*")) - before == {tmp_path / "data"}
    assert not Path("/tmp/miam-evil-absolute.txt").exists()


def test_safe_archive_is_extracted_with_marker_and_not_redone(tmp_path):
    archive = tmp_path / "ok.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        for name, data in {"a/b/c.txt": b"deep", "top.txt": b"top"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        inside = tarfile.TarInfo("a/link-to-top")
        inside.type, inside.linkname = tarfile.SYMTYPE, "../top.txt"  # stays inside: allowed
        tar.addfile(inside)
    target = tmp_path / "out"

    assert safe_extract(archive, target) == target
    assert (target / "a" / "b" / "c.txt").read_bytes() == b"deep"
    assert (target / "a" / "link-to-top").read_bytes() == b"top"
    assert is_extracted(target)

    (target / "top.txt").write_bytes(b"edited")  # a second call must not extract again
    safe_extract(archive, target)
    assert (target / "top.txt").read_bytes() == b"edited"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.tar.gz", "out"]


def test_leftover_folder_without_marker_is_replaced(tmp_path):
    archive = _zip_with(tmp_path / "a.zip", "data.txt", b"new")
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.txt").write_text("from a crashed run")
    (tmp_path / ".out.partial-killed").mkdir()  # staging folder of a run killed mid-extraction

    safe_extract(archive, target)

    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip", "out"]
    assert not (target / "stale.txt").exists()
    assert (target / "data.txt").read_bytes() == b"new"
    assert (target / EXTRACTED_MARKER).is_file()


def test_extraction_failing_midway_leaves_no_folder(tmp_path):
    archive = tmp_path / "broken.zip"
    with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("first.txt", b"A" * 1000)
        zf.writestr("second.txt", b"B" * 1000)
    raw = bytearray(archive.read_bytes())
    raw[raw.index(b"B" * 1000) + 10] ^= 0xFF  # the second member fails its CRC check
    archive.write_bytes(bytes(raw))

    with pytest.raises(zipfile.BadZipFile):
        safe_extract(archive, tmp_path / "out")

    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.zip"]


def test_plain_tensor_file_loads(tmp_path):
    path = tmp_path / "cube.pt"
    torch.save(torch.arange(6.0).reshape(2, 3), path)
    assert torch.equal(load_untrusted_tensors(path), torch.arange(6.0).reshape(2, 3))


def test_malicious_pickle_is_refused_and_its_payload_never_runs(tmp_path):
    marker = tmp_path / "PAYLOAD-RAN"
    path = tmp_path / "GLC25-PA-train-landsat-time-series_1_cube.pt"
    torch.save({"cube": _Tamper(marker)}, path)

    with pytest.raises(UnsafeFileError, match=r"GLC25-PA-train-landsat-time-series_1_cube\.pt"):
        load_untrusted_tensors(path)
    with pytest.raises(UnsafeFileError, match=r"posix\.system"):
        load_untrusted_tensors(path.read_bytes(), name="from-bytes.pt")

    assert not marker.exists()


def test_malicious_cube_inside_the_geoplant_fixture_zip_is_refused(tmp_path):
    fixture = build_geoplant_fixture(tmp_path / "geoplant")
    (bad_id,) = fixture.problems["corrupt_file"]["bioclim_cubes"]
    entry = dataset_config("geoplant")["files"]["bioclim_cubes"]
    member_name = entry["member_template"].format(surveyId=bad_id)
    with zipfile.ZipFile(tmp_path / "geoplant" / entry["path"]) as archive:
        (member,) = [n for n in archive.namelist() if n.endswith("/" + member_name)]
        with archive.open(member) as handle, pytest.raises(UnsafeFileError, match=member_name):
            load_untrusted_tensors(io.BytesIO(handle.read()), name=member_name)
        good = next(n for n in archive.namelist() if n != member)
        assert load_untrusted_tensors(archive.read(good), name=good).shape == (4, 19, 12)

    assert not fixture.tamper_marker.exists()
