"""Files already on disk (`source: {kind: local, path: ...}`): listed and checksummed, not copied.

The reader reads the files where they are. What a run read is recorded as a manifest, like a
download's lock file: every file under the path (or the one file), with its size and sha256.
When a manifest from an earlier run is there, the files that changed, appeared or went are
logged (from a copy kept beside the manifest, which the workflow deletes before rewriting it),
so that a result can always be traced to the bytes it came from.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from miam.inputs.fetch import sha256_file

log = logging.getLogger(__name__)


def local_files(path: str | Path) -> list[Path]:
    """Every file under `path` (recursively, sorted; hidden files and folders skipped), or
    [`path`] when it is a file. ValueError naming the path when there is nothing."""
    path = Path(path)
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise ValueError(f"source.path: {path} does not exist")
    files = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
        files += [Path(folder) / n for n in sorted(names) if not n.startswith(".")]
    if not files:
        raise ValueError(f"source.path: {path} holds no file")
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
    kept = manifest.with_name(f"previous_{manifest.name}")
    if kept.is_file():
        previous = json.loads(kept.read_text()).get("files", {})
        changed = sorted(k for k in files if k in previous and previous[k] != files[k])
        added, gone = sorted(set(files) - set(previous)), sorted(set(previous) - set(files))
        for what, names in (("changed", changed), ("new", added), ("gone", gone)):
            if names:
                log.warning(
                    "%s: %d file(s) %s since the last run: %s",
                    path,
                    len(names),
                    what,
                    ", ".join(names[:10]),
                )
    manifest.parent.mkdir(parents=True, exist_ok=True)
    staging = manifest.with_name(manifest.name + ".tmp")
    text = json.dumps(content, indent=1) + "\n"
    for target in (kept, manifest):
        staging.write_text(text)
        os.replace(staging, target)
    log.info("%s: %d files checksummed", path, len(files))
    return content
