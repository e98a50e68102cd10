"""Files already on disk (`source: {kind: local, path: ...}`): listed and checksummed, not copied.

The reader reads the files where they are. What a run read is recorded as a manifest, like a
download's lock file: every file under the path (or the one file), with its size and sha256.
The first use is also recorded beside it (`recorded_manifest.json`, which the workflow does not
delete before rewriting the manifest); when files differ from that record later (changed,
new or gone: a table cut short by an interrupted copy reads as a table with fewer rows), the run
stops naming them, so that a result can always be traced to the bytes it came from. Deleting
the record accepts the files as they are now.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from miam.core.errors import InputError
from miam.inputs.fetch import sha256_file

log = logging.getLogger(__name__)


def local_files(path: str | Path) -> list[Path]:
    """Every file under `path` (recursively, sorted; hidden files and folders skipped), or
    [`path`] when it is a file. ValueError naming the path when there is nothing."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise InputError(f"source.path: {path} does not exist")
    files = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
        files += [Path(folder) / n for n in sorted(names) if not n.startswith(".")]
    if not files:
        raise InputError(f"source.path: {path} holds no file")
    return files


def write_manifest(path: str | Path, manifest: str | Path) -> dict:
    """Checksum every file of `path` into `manifest` (JSON); returns the manifest's content."""
    path, manifest = Path(path), Path(manifest)
    base = path if path.is_dir() else path.parent
    files = {
        f.relative_to(base).as_posix(): {"bytes": f.stat().st_size, "sha256": sha256_file(f)}
        for f in local_files(path)
    }
    content = {"path": str(path.resolve()), "files": files}
    record = manifest.with_name(f"recorded_{manifest.name}")
    if record.is_file():
        check_unchanged(path, json.loads(record.read_text()).get("files", {}), files, record)
    manifest.parent.mkdir(parents=True, exist_ok=True)
    staging = manifest.with_name(manifest.name + ".tmp")
    text = json.dumps(content, indent=1) + "\n"
    for target in (record, manifest):
        staging.write_text(text)
        os.replace(staging, target)
    log.info("%s: %d files checksummed", path, len(files))
    return content


def check_unchanged(path: Path, recorded: dict, files: dict, record: Path) -> None:
    """InputError naming the files under `path` that differ from `recorded` (changed, new or
    gone) and the way to accept them."""
    changed = sorted(k for k in files if k in recorded and recorded[k] != files[k])
    added, gone = sorted(set(files) - set(recorded)), sorted(set(recorded) - set(files))
    differences = "; ".join(
        f"{len(names)} {what}: {', '.join(names[:5])}{' ...' if len(names) > 5 else ''}"
        for what, names in [("changed", changed), ("new", added), ("gone", gone)]
        if names
    )
    if differences:
        raise InputError(
            f"source.path {path}: the files differ from those recorded on first use "
            f"({differences}; sizes and sha256 in {record}). Restore them, or delete {record} "
            "to accept the files as they are now."
        )
