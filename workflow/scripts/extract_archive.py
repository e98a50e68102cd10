"""Unpack one downloaded archive into its folder, refusing unsafe members (miam.inputs.archive)."""

from pathlib import Path

from miam.inputs.archive import safe_extract
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
folder = Path(snakemake.output[0]).parent
# Snakemake creates the output's folder before the job starts; safe_extract renames a complete
# staging folder into place and would otherwise take the empty one for a broken extraction.
if folder.is_dir() and not any(folder.iterdir()):
    folder.rmdir()
safe_extract(snakemake.input.archive, folder)
