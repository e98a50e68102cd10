"""Download one file key of a dataset YAML (miam.inputs.download.download_entry).

Archives are only fetched here: unpacking them is the extract_archive rule's job.
"""

from miam.inputs.download import download_entry
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
job = snakemake.params.entry
files, key = job["files"], job["file_key"]
fetch_only = {name: value for name, value in files["files"][key].items() if name != "extract_to"}
download_entry(
    {**files, "files": {**files["files"], key: fetch_only}},
    key,
    job["data_dir"],
    base_url=job["base_url"],
    retries=job["retries"],
    progress=False,
)
