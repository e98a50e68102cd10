"""Dataset files: what a dataset YAML (`config/datasets/*.yaml`) lists, and fetching one entry.

Each file key of a YAML is a file (`path`), optionally an archive unpacked on download
(`extract_to`), or one file per record (`path_template`, filled from the rows of the table
`records_from` names, as on Hugging Face). `file_url` turns an entry into a URL, optionally for
a mirror (`base_url`); `entry_target` is what the workflow declares as a job's output; and
`download_entry` is what one workflow job runs for one file key, through `fetch` (the HTTP client:
 resume, retries, checksums, lock file).
"""

from __future__ import annotations

import json
import logging
import os
import string
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pandas as pd
import yaml

from miam.inputs.archive import EXTRACTED_MARKER, safe_extract
from miam.inputs.fetch import (
    LOCK_FILE_NAME,
    DownloadError,
    fetch,
    lock_key,
    read_lock,
    record_checksums,
)

log = logging.getLogger(__name__)

# Written in a per-record folder once every record was fetched or found missing.
FOLDER_MANIFEST = ".miam-download.json"


def load_dataset_config(path: str | Path) -> dict:
    """A dataset YAML, checked: ValueError naming the file and the key that is wrong."""
    cfg = yaml.safe_load(Path(path).read_text())
    for key in ("name", "base_url", "url_template", "files"):
        if key not in cfg:
            raise ValueError(f"{path}: the dataset YAML lacks {key!r}")
    for file_key, entry in cfg["files"].items():
        if ("path" in entry) == ("path_template" in entry):
            raise ValueError(f"{path}: files.{file_key} needs one of path and path_template")
    return cfg


def _entry(dataset_cfg: dict, file_key: str) -> dict:
    files = dataset_cfg["files"]
    if file_key not in files:
        raise KeyError(f"{dataset_cfg['name']}: no file {file_key!r}; known: {sorted(files)}")
    return files[file_key]


def file_url(
    dataset_cfg: dict, file_key: str, base_url: str | None = None, record: dict | None = None
) -> str:
    """The URL of a file entry (or of one `record` of a per-record entry).

    Without `base_url`: the publisher's URL, `url_template` filled with the YAML's `base_url`
    and the quoted path. With `base_url` (a mirror, a local server): `<base_url>/<path>`, i.e.
    the mirror serves the files under the same relative paths as the local data folder.
    """
    relative = entry_path(dataset_cfg, file_key, record)
    quoted = quote(relative, safe="/")
    if base_url:
        return f"{base_url.rstrip('/')}/{quoted}"
    template = dataset_cfg["url_template"]
    return template.format(base_url=dataset_cfg["base_url"].rstrip("/"), path=quoted)


def entry_path(dataset_cfg: dict, file_key: str, record: dict | None = None) -> str:
    """The relative path of a file entry, or of one record of a per-record entry."""
    entry = _entry(dataset_cfg, file_key)
    if "path" in entry:
        return entry["path"]
    if record is None:
        raise ValueError(f"files.{file_key} is one file per record: pass the record")
    return entry["path_template"].format(**record)


def entry_target(dataset_cfg: dict, file_key: str, data_dir: str | Path) -> Path:
    """What a workflow rule declares as output for one file key.

    The downloaded file; for an archive extracted on download, the marker inside the
    extracted folder; for a per-record folder, its download manifest.
    """
    entry, data_dir = _entry(dataset_cfg, file_key), Path(data_dir)
    if "path_template" in entry:
        return data_dir / entry["folder"] / FOLDER_MANIFEST
    if entry.get("extract_to"):
        return data_dir / entry["extract_to"] / EXTRACTED_MARKER
    return data_dir / entry["path"]


def download_entry(
    dataset_cfg: dict,
    file_key: str,
    data_dir: str | Path,
    base_url: str | None = None,
    lock_file: str | Path | None = None,
    retries: int = 3,
    progress: bool = True,
    workers: int = 8,
) -> Path:
    """Download one file key of a dataset YAML into `data_dir`; returns `entry_target`.

    Plain entries are fetched (and extracted safely if `extract_to` is set). Per-record entries
    (`path_template`, one file per observation, as on Hugging Face) read the record list from
    the already-downloaded `records_from` file, fetch every record's file, and list the ones the
    server does not have (HTTP 404) in the folder manifest, for the readers to report.
    """
    data_dir = Path(data_dir)
    lock_file = Path(lock_file) if lock_file is not None else data_dir / LOCK_FILE_NAME
    entry = _entry(dataset_cfg, file_key)
    if "path_template" in entry:
        return _download_records(
            dataset_cfg, file_key, data_dir, base_url, lock_file, retries, workers
        )
    dest = data_dir / entry["path"]
    fetch(
        file_url(dataset_cfg, file_key, base_url),
        dest,
        sha256=entry.get("sha256"),
        retries=retries,
        lock_file=lock_file,
        progress=progress,
    )
    if entry.get("extract_to"):
        safe_extract(dest, data_dir / entry["extract_to"])
    return entry_target(dataset_cfg, file_key, data_dir)


def _download_records(
    dataset_cfg: dict,
    file_key: str,
    data_dir: Path,
    base_url: str | None,
    lock_file: Path,
    retries: int,
    workers: int,
) -> Path:
    entry = _entry(dataset_cfg, file_key)
    source = entry["records_from"]
    index_path = data_dir / entry_path(dataset_cfg, source["file"])
    fields = [f for _, f, _, _ in string.Formatter().parse(entry["path_template"]) if f]
    # Read as text so that the template is filled with the values exactly as published.
    records = pd.read_csv(index_path, dtype=str, keep_default_na=False, usecols=fields)
    records = records.drop_duplicates().to_dict("records")
    recorded = read_lock(lock_file)

    def fetch_record(record: dict) -> tuple[str, str | None]:
        relative = entry_path(dataset_cfg, file_key, record)
        dest = data_dir / relative
        try:
            digest = fetch(
                file_url(dataset_cfg, file_key, base_url, record),
                dest,
                sha256=recorded.get(lock_key(dest, lock_file)),
                retries=retries,
                progress=False,
            ).sha256
        except DownloadError as error:
            if error.status != 404:
                raise
            return relative, None
        return relative, digest

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(fetch_record, records))
    digests = {lock_key(data_dir / rel, lock_file): d for rel, d in results if d is not None}
    record_checksums(lock_file, digests)
    missing = sorted(rel for rel, digest in results if digest is None)
    if missing:
        log.warning(
            "%s: %d of %d files are not on the server", file_key, len(missing), len(results)
        )
    manifest = data_dir / entry["folder"] / FOLDER_MANIFEST
    manifest.parent.mkdir(parents=True, exist_ok=True)
    staging = manifest.with_name(manifest.name + ".tmp")
    staging.write_text(
        json.dumps({"fetched": len(results) - len(missing), "missing": missing}, indent=1) + "\n"
    )
    os.replace(staging, manifest)
    return manifest
