"""Per-sample files by sample id, in a zip archive (read member by member) or a folder."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

from miam.inputs.quality import QualityLog


class MemberStore:
    """Index of the files under `location` whose name `pattern` matches; group 1 is the id.

    `fetch` returns a file's bytes, or records ``missing_file`` / ``corrupt_file`` in the
    quality log and returns None, so one bad file never stops a run.
    """

    def __init__(self, location: str | Path, pattern: re.Pattern, expected_name):
        self.location = Path(location)
        self.expected_name = expected_name  # sample id -> the name a missing file would have
        self.archive: zipfile.ZipFile | None = None
        if self.location.is_file():
            self.archive = zipfile.ZipFile(self.location)
            names = self.archive.namelist()
        else:
            names = [p.relative_to(self.location).as_posix() for p in self.location.rglob("*")]
        self.members: dict[str, str] = {}
        for name in names:
            found = pattern.search(name)
            if found:
                self.members[str(int(found.group(1)))] = name

    def __contains__(self, sample_id) -> bool:
        return str(int(sample_id)) in self.members

    def fetch(self, sample_id, quality: QualityLog, modality: str) -> tuple[bytes, str] | None:
        """(bytes, label naming the file) of `sample_id`, or None with the problem recorded."""
        member = self.members.get(str(int(sample_id)))
        label = f"{self.location}:{member or self.expected_name(sample_id)}"
        if member is None:
            quality.record(modality, "missing_file", sample_id, label)
            return None
        try:
            if self.archive is None:
                return (self.location / member).read_bytes(), label
            return self.archive.read(member), label
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            quality.record(modality, "corrupt_file", sample_id, label, error)
            return None

    def close(self) -> None:
        if self.archive is not None:
            self.archive.close()
