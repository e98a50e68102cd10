"""Dataset files: what a dataset YAML (`config/datasets/*.yaml`) lists, and fetching one entry.

Each file key of a YAML is a file (`path`), optionally an archive unpacked on download
(`extract_to`), or one file per record (`path_template`, filled from the rows of the table
`records_from` names, as on Hugging Face; with `match_prefix`, the file of the server's listing
of the folder whose name starts with the prefix filled from the record, for names that hold
text the table does not repeat exactly). `file_url` turns an entry into a URL, optionally for
a mirror (`base_url`); `entry_target` is what the workflow declares as a job's output; and
`download_entry` is what one workflow job runs for one file key, through `fetch` (the HTTP client:
 resume, retries, checksums, lock file, no web page stored as data). Where the share answers the
URL with a web page, the publisher's own resolution is the fallback (`publisher_url`: the file's
page, its `rawPath`, ``?raw=1``), for a YAML with a `page_template`.
"""

from __future__ import annotations

import bisect
import codecs
import http.client
import json
import logging
import os
import re
import string
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote, unquote, urljoin

import pandas as pd
import yaml

from miam.inputs.archive import EXTRACTED_MARKER, safe_extract
from miam.inputs.fetch import (
    LOCK_FILE_NAME,
    USER_AGENT,
    DownloadError,
    WebPageError,
    fetch,
    lock_key,
    read_lock,
    record_checksums,
)

log = logging.getLogger(__name__)

# How a Seafile page names the file's own address (what the publisher's downloader reads).
RAW_PATH = re.compile(r"rawPath\s*:\s*['\"]([^'\"]+)['\"]")
HREF = re.compile(r"href=[\"']([^\"'?#]+)[\"']", re.IGNORECASE)
NEXT_PAGE = re.compile(r"<([^>]+)>\s*;\s*rel=\"?next\"?")
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
    return relative_url(dataset_cfg, entry_path(dataset_cfg, file_key, record), base_url)


def relative_url(dataset_cfg: dict, relative: str, base_url: str | None = None) -> str:
    """The URL of the file at `relative` (see `file_url`)."""
    quoted = quote(relative, safe="/")
    if base_url:
        return f"{base_url.rstrip('/')}/{quoted}"
    template = dataset_cfg["url_template"]
    return template.format(base_url=dataset_cfg["base_url"].rstrip("/"), path=quoted)


def _listed_names(entry: dict, base_url: str | None, timeout: float = 60.0) -> list[str]:
    """Sorted file names of a per-record folder on the server: the entry's `index_url` (a JSON
    list of {"path": ...}, as the Hugging Face API answers, followed page by page through its
    `Link: <...>; rel="next"` header), or with a mirror its index page of the folder (links)."""
    url = f"{base_url.rstrip('/')}/{entry['folder']}/" if base_url else entry["index_url"]
    names = []
    while url:
        request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                text = response.read().decode("utf-8", errors="replace")
                following = NEXT_PAGE.search(response.headers.get("Link", ""))
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(f"cannot list {entry['folder']} at {url}: {error}") from error
        if text.lstrip().startswith("["):
            names += [Path(item["path"]).name for item in json.loads(text)]
        else:
            names += [Path(unquote(link)).name for link in HREF.findall(text)]
        url = urljoin(url, following.group(1)) if following else None
    log.info("%s: %d files listed on the server", entry["folder"], len(names))
    return sorted(set(names))


def _first_with_prefix(names: list[str], prefix: str) -> str | None:
    """The first of the sorted `names` that starts with `prefix`."""
    i = bisect.bisect_left(names, prefix)
    return names[i] if i < len(names) and names[i].startswith(prefix) else None


def publisher_url(dataset_cfg: dict, file_key: str, timeout: float = 60.0) -> str:
    """The URL the publisher's own downloader fetches (GeoPlant's `data_download.py`): the share's
    page of the file (`page_template`), its `rawPath`, plus ``?raw=1``."""
    relative = quote(entry_path(dataset_cfg, file_key), safe="/")
    page = dataset_cfg["page_template"].format(
        base_url=dataset_cfg["base_url"].rstrip("/"), path=relative
    )
    request = urllib.request.Request(page, headers={"User-Agent": USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            text = response.read().decode("utf-8", errors="replace")
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"{file_key}: cannot read the share's page {page}: {error}") from error
    found = RAW_PATH.search(text)
    if found is None:
        raise DownloadError(f"{file_key}: the share's page {page} names no rawPath")
    # The page writes it as a JavaScript string: \/ and \uXXXX escapes.
    raw = codecs.decode(found.group(1).replace("\\/", "/"), "unicode_escape")
    raw = urljoin(page, raw)
    return raw + ("&" if "?" in raw else "?") + "raw=1"


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
    options = dict(sha256=entry.get("sha256"), retries=retries, lock_file=lock_file)
    try:
        fetch(file_url(dataset_cfg, file_key, base_url), dest, progress=progress, **options)
    except WebPageError as error:
        if base_url or "page_template" not in dataset_cfg:
            raise
        raw = publisher_url(dataset_cfg, file_key)
        log.warning("%s; fetching %s, as the publisher's downloader does", error, raw)
        fetch(raw, dest, progress=progress, **options)
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
    listed = _listed_names(entry, base_url) if "match_prefix" in entry else None

    def fetch_record(record: dict) -> tuple[str, str | None]:
        relative = entry_path(dataset_cfg, file_key, record)
        if listed is not None:
            name = _first_with_prefix(listed, entry["match_prefix"].format(**record))
            if name is None:
                return relative, None  # not in the server's listing
            relative = f"{entry['folder']}/{name}"
        dest = data_dir / relative
        try:
            digest = fetch(
                relative_url(dataset_cfg, relative, base_url),
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
