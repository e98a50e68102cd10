"""Seeded spatial block split of the token set's samples (miam.core.split)."""

import pandas as pd

from miam.core.split import write_split
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
samples = pd.read_csv(f"{snakemake.input.tokens}/samples.csv", dtype={"sample_id": str})
write_split(samples, snakemake.output[0], **snakemake.params.split)
