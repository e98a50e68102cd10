"""Safe extraction of archives from the internet.

`safe_extract` checks every member of a zip or tar archive before writing anything and refuses
the whole archive, naming the member, if one has an absolute path, a `..` component, or is a
link out of the target (zip links are refused outright: `zipfile` would write them as plain
files, so they cannot mean what the archive says). It extracts into a hidden temporary folder
next to the target and renames it into place with a marker file inside, so a crash never leaves
a half-extracted folder that looks complete.
"""

from __future__ import annotations

import json
import logging
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

log = logging.getLogger(__name__)

# Written inside a target folder once everything is extracted; its presence means "complete".
EXTRACTED_MARKER = ".miam-extracted.json"


class UnsafeArchiveError(ValueError):
    """An archive member would land outside the extraction target."""


def _escape_reason(name: str) -> str | None:
    """Why the member path `name` could land outside the target, or None if it cannot."""
    if not name:
        return "empty member name"
    posix = name.replace("\\", "/")  # zips made on Windows may use backslashes
    if posix.startswith("/") or (len(posix) > 1 and posix[1] == ":"):
        return "absolute path"
    if ".." in PurePosixPath(posix).parts:
        return "'..' path component"
    return None


def _link_escapes(link_dir: PurePosixPath, link_target: str) -> bool:
    """True if `link_target`, read relative to `link_dir` inside the archive, leaves the root."""
    target = link_target.replace("\\", "/")
    if target.startswith("/"):
        return True
    depth = len(link_dir.parts)
    for part in PurePosixPath(target).parts:
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part != ".":
            depth += 1
    return False


def _check_zip(archive: zipfile.ZipFile) -> None:
    for info in archive.infolist():
        reason = _escape_reason(info.filename)
        if reason is None and stat.S_ISLNK(info.external_attr >> 16):
            reason = "symbolic link (links in zip archives are not extracted)"
        if reason:
            raise UnsafeArchiveError(f"refusing zip member {info.filename!r}: {reason}")


def _check_tar(archive: tarfile.TarFile) -> None:
    for member in archive.getmembers():
        reason = _escape_reason(member.name)
        if reason is None and member.issym():
            parent = PurePosixPath(member.name.replace("\\", "/")).parent
            if _link_escapes(parent, member.linkname):
                reason = f"symbolic link to {member.linkname!r} outside the target"
        if reason is None and member.islnk():
            # Hard link names are relative to the archive root, not to the member's folder.
            if _escape_reason(member.linkname) or _link_escapes(PurePosixPath(), member.linkname):
                reason = f"hard link to {member.linkname!r} outside the target"
        is_plain = member.isfile() or member.isdir() or member.issym() or member.islnk()
        if reason is None and not is_plain:
            reason = "device, FIFO or other special file"
        if reason:
            raise UnsafeArchiveError(f"refusing tar member {member.name!r}: {reason}")


def is_extracted(target: str | Path) -> bool:
    return (Path(target) / EXTRACTED_MARKER).is_file()


def safe_extract(archive: str | Path, target: str | Path) -> Path:
    """Extract a zip or tar(.gz/.bz2/.xz) archive into `target`, refusing unsafe members.

    Returns `target`. Does nothing if `target` already holds a completed extraction (marker
    present); a `target` without the marker is a leftover and is replaced.
    """
    archive, target = Path(archive), Path(target)
    if is_extracted(target):
        log.info("%s: already extracted to %s", archive.name, target)
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    for leftover in target.parent.glob(f".{target.name}.partial-*"):  # from a killed run
        shutil.rmtree(leftover, ignore_errors=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.partial-", dir=target.parent))
    try:
        n_members = _extract_checked(archive, staging)
        marker = {"archive": archive.name, "members": n_members}
        (staging / EXTRACTED_MARKER).write_text(json.dumps(marker) + "\n")
        if target.exists():
            log.warning("%s: replacing incomplete extraction at %s", archive.name, target)
            shutil.rmtree(target)
        staging.rename(target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    log.info("%s: extracted %d members to %s", archive.name, n_members, target)
    return target


def _extract_checked(archive: Path, destination: Path) -> int:
    """Check every member, then extract them all; returns the number of members."""
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            try:
                _check_zip(zf)
            except UnsafeArchiveError as error:
                raise UnsafeArchiveError(f"{archive}: {error}") from None
            zf.extractall(destination)
            return len(zf.infolist())
    if tarfile.is_tarfile(archive):
        with tarfile.open(archive) as tf:
            try:
                _check_tar(tf)
            except UnsafeArchiveError as error:
                raise UnsafeArchiveError(f"{archive}: {error}") from None
            # The "data" filter repeats the checks inside tarfile itself (defence in depth)
            # and drops permission bits that make no sense for data.
            tf.extractall(destination, filter="data")
            return len(tf.getmembers())
    raise ValueError(f"{archive}: neither a zip nor a tar archive")
