"""Write a dataset's deployment profile: target and per-split data availability per modality."""

import json
from pathlib import Path

from miam.analysis.deployment_score import deployment_profile
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
profile = deployment_profile(
    snakemake.params.dataset, snakemake.input.tokens, snakemake.input.split
)
Path(snakemake.output[0]).write_text(json.dumps(profile, indent=1))
