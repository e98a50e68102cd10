"""Write a dataset's deployment profile: availability per modality, configured or measured."""

import json
from pathlib import Path

from miam.deployment import deployment_profile
from miam.runlog import log_to

log_to(snakemake.log[0])
tokens = snakemake.input[0] if snakemake.input else None  # only a measured profile needs them
profile = deployment_profile(snakemake.params.dataset, snakemake.params.modalities, tokens)
Path(snakemake.output[0]).write_text(json.dumps(profile, indent=1))
