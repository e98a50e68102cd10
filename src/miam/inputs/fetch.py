"""The HTTP client of downloads: resumable, retried, checksum-verified, moved into place atomically.

`fetch` streams a URL into `<dest>.part`. If a `.part` is already there it asks the server for
the rest with an HTTP Range request (a 206 answer appends; a 200 answer means the server ignores
ranges, so it starts again from byte 0). Connection errors, 5xx/429 answers and bodies shorter
than their Content-Length are retried with exponential backoff; what arrived stays in `.part`
for the next attempt or the next run. Only a body whose sha256 matches is renamed to `dest`
(`os.replace`, atomic on one filesystem), so `dest` existing means "complete and verified".
A mismatch deletes the `.part` and raises `ChecksumMismatchError` naming the file, the expected
and the actual hash. An answer that is a web page (Content-Type text/html, or a body starting
like HTML) is never stored: `WebPageError` names the URL and what came back (the first download
of a file has no checksum to catch it).

Where the publisher gives no sha256 (`sha256: null` in the dataset YAML), the first download
records the hash it saw in a lock file (`<data_dir>/checksums.lock.json` by default), and later
downloads of that file are verified against it: trust on first use, then pinned. Delete an entry
(or the lock file) to accept a file the publisher has deliberately changed.

What to download (the dataset YAMLs and their file entries) is `miam.inputs.download`'s business.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import http.client
import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

log = logging.getLogger(__name__)

USER_AGENT = "miam-downloader/0.1 (Python urllib)"
CHUNK_BYTES = 1 << 20
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
LOCK_FILE_NAME = "checksums.lock.json"
HTML_TYPES = ("text/html", "application/xhtml+xml")


class DownloadError(RuntimeError):
    """A download failed for good. `status` is the HTTP status when the server gave one."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


class ChecksumMismatchError(DownloadError):
    """The bytes downloaded are not the bytes expected."""


class WebPageError(DownloadError):
    """The server answered with a web page (a preview, a login or an error page) where a data
    file was expected; never stored under the data file's name."""


class _IncompleteBody(Exception):
    """The transfer stopped early or the server's answer cannot be appended; retry."""


class Download(NamedTuple):
    path: Path
    sha256: str


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _normalise_hash(value: str | None) -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    return value.removeprefix("sha256:")


# ---------------------------------------------------------------------------- lock file


def lock_key(dest: str | Path, lock_file: str | Path) -> str:
    """How `dest` is named in `lock_file`: relative to the lock file's folder when inside it."""
    dest, root = Path(dest).absolute(), Path(lock_file).absolute().parent
    return dest.relative_to(root).as_posix() if dest.is_relative_to(root) else str(dest)


def read_lock(lock_file: str | Path | None) -> dict[str, str]:
    if lock_file is None or not Path(lock_file).is_file():
        return {}
    return json.loads(Path(lock_file).read_text())


@contextlib.contextmanager
def _exclusive(lock_file: Path) -> Iterator[None]:
    """Serialise read-modify-write of the lock file between parallel download jobs."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_file.with_name(lock_file.name + ".flock"), "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


def record_checksums(lock_file: str | Path, digests: dict[str, str]) -> None:
    """Add `{lock key: sha256}` entries to the lock file (atomically, under a file lock)."""
    lock_file = Path(lock_file)
    with _exclusive(lock_file):
        entries = read_lock(lock_file)
        entries.update(digests)
        staging = lock_file.with_name(lock_file.name + ".tmp")
        staging.write_text(json.dumps(dict(sorted(entries.items())), indent=1) + "\n")
        os.replace(staging, lock_file)


# ---------------------------------------------------------------------------- fetch


def fetch(
    url: str,
    dest: str | Path,
    sha256: str | None = None,
    retries: int = 3,
    lock_file: str | Path | None = None,
    progress: bool = True,
    timeout: float = 60.0,
    backoff_s: float = 1.0,
) -> Download:
    """Download `url` to `dest` (see the module docstring); returns the path and its sha256.

    `sha256` is the publisher's hash; without it, the hash recorded in `lock_file` (if any) is
    enforced, and a first download is recorded there. An existing `dest` that matches is kept
    without touching the network; one that does not match is downloaded again.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    key = lock_key(dest, lock_file) if lock_file is not None else None
    recorded = read_lock(lock_file).get(key) if key is not None else None
    expected = _normalise_hash(sha256) or recorded
    if sha256 and recorded and _normalise_hash(sha256) != recorded:
        log.warning("%s: the YAML's sha256 differs from %s; the YAML wins", dest.name, lock_file)

    if dest.exists():
        actual = sha256_file(dest)
        if expected is None or actual == expected:
            if lock_file is not None and recorded is None:
                record_checksums(lock_file, {key: actual})
            return Download(dest, actual)
        log.warning("%s exists but is not the expected file; downloading it again", dest)
        dest.unlink()

    dest.parent.mkdir(parents=True, exist_ok=True)
    resumed = part.exists() and part.stat().st_size > 0
    options = dict(retries=retries, timeout=timeout, progress=progress, backoff_s=backoff_s)
    actual = _download_with_retries(url, part, label=dest.name, **options)
    if expected is not None and actual != expected and resumed:
        # The old .part may belong to another version of the file: one clean try from byte 0.
        log.warning("%s: resumed download does not match; restarting from scratch", dest.name)
        part.unlink()
        actual = _download_with_retries(url, part, label=dest.name, **options)
    if expected is not None and actual != expected:
        part.unlink(missing_ok=True)
        raise ChecksumMismatchError(
            f"checksum mismatch for {dest.name} (from {url}): expected sha256 {expected}, "
            f"got {actual}; the download was deleted"
        )
    os.replace(part, dest)
    if lock_file is not None and expected is None:
        record_checksums(lock_file, {key: actual})
    log.info("%s: complete, sha256 %s", dest, actual)
    return Download(dest, actual)


def _download_with_retries(
    url: str, part: Path, label: str, retries: int, timeout: float, progress: bool, backoff_s: float
) -> str:
    """Fill `part` with the body of `url`, retrying transient failures; returns its sha256."""
    error: Exception | None = None
    for attempt in range(retries + 1):
        try:
            _download_once(url, part, label, timeout, progress)
            return sha256_file(part)
        except urllib.error.HTTPError as http_error:  # before URLError, its parent class
            if http_error.code not in RETRYABLE_STATUS:
                raise DownloadError(
                    f"{label}: HTTP {http_error.code} {http_error.reason} from {url}",
                    status=http_error.code,
                ) from http_error
            error = http_error
        except (OSError, http.client.HTTPException, _IncompleteBody) as transient:
            error = transient  # URLError, timeouts, resets, IncompleteRead, short bodies
        if attempt < retries:
            delay = backoff_s * 2**attempt
            log.warning(
                "%s: attempt %d failed (%s); retrying in %.1fs", label, attempt + 1, error, delay
            )
            time.sleep(delay)
    status = error.code if isinstance(error, urllib.error.HTTPError) else None
    raise DownloadError(
        f"{label}: download from {url} failed after {retries + 1} attempts: {error}", status=status
    ) from error


def _download_once(url: str, part: Path, label: str, timeout: float, progress: bool) -> None:
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": USER_AGENT}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as http_error:
        if http_error.code == 416 and offset:  # our .part does not fit the file: start over
            part.unlink()
            raise _IncompleteBody("server refused the resume range") from http_error
        raise
    with response:
        total = None
        if response.status == 206:
            start, total = _parse_content_range(response.headers.get("Content-Range", ""))
            if start != offset:
                part.unlink()
                raise _IncompleteBody(f"server resumed at byte {start}, not {offset}")
            mode = "ab"
            log.info("%s: resuming at byte %d", label, offset)
        else:
            if offset:
                log.info("%s: server ignores ranges; restarting from byte 0", label)
            offset, mode = 0, "wb"
        length = response.headers.get("Content-Length")
        expected_size = offset + int(length) if length is not None else total
        first = response.read(CHUNK_BYTES)
        if mode == "wb" and is_web_page(response.headers.get("Content-Type", ""), first):
            part.unlink(missing_ok=True)
            raise WebPageError(
                f"{label}: {url} answered with a web page, not the data file (HTTP "
                f"{response.status}, Content-Type {response.headers.get('Content-Type')!r}, "
                f"starting {first[:120]!r}); nothing was stored",
                status=response.status,
            )
        with open(part, mode) as handle, _progress(label, expected_size, offset, progress) as bar:
            chunk = first
            while chunk:
                handle.write(chunk)
                bar(len(chunk))
                chunk = response.read(CHUNK_BYTES)
    size = part.stat().st_size
    if expected_size is not None and size != expected_size:
        raise _IncompleteBody(f"received {size} of {expected_size} bytes")


def is_web_page(content_type: str, head: bytes) -> bool:
    """True for an HTML answer: its Content-Type, or its first bytes (a server that labels
    every answer application/octet-stream)."""
    start = head[:512].lstrip().lower()
    return content_type.split(";")[0].strip().lower() in HTML_TYPES or start.startswith(
        (b"<!doctype html", b"<html")
    )


def _parse_content_range(value: str) -> tuple[int, int | None]:
    """'bytes 100-199/1000' -> (100, 1000); the total may be '*'."""
    try:
        unit, spec = value.split(" ", 1)
        span, total = spec.split("/", 1)
        if unit != "bytes":
            raise ValueError(unit)
        return int(span.split("-", 1)[0]), None if total == "*" else int(total)
    except ValueError:
        raise _IncompleteBody(f"unreadable Content-Range {value!r}") from None


@contextlib.contextmanager
def _progress(label: str, total: int | None, initial: int, enabled: bool):
    """Yield `advance(n_bytes)`: a tqdm bar on a terminal, log lines every 10 % otherwise."""
    if enabled and sys.stderr.isatty():
        from tqdm import tqdm

        with tqdm(total=total, initial=initial, unit="B", unit_scale=True, desc=label) as bar:
            yield bar.update
        return
    done, next_report = initial, 0.1
    log.info(
        "%s: downloading %s bytes", label, total if total is not None else "an unknown number of"
    )

    def advance(n_bytes: int) -> None:
        nonlocal done, next_report
        done += n_bytes
        if enabled and total and done / total >= next_report:
            log.info("%s: %d%% (%d of %d bytes)", label, 100 * done // total, done, total)
            next_report = (done / total // 0.1 + 1) * 0.1

    yield advance
