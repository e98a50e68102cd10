"""Seeded spatial block split of the token set's samples (miam.split)."""

import pandas as pd

from miam.runlog import log_to
from miam.split import write_split

log_to(snakemake.log[0])
samples = pd.read_csv(f"{snakemake.input.tokens}/samples.csv", dtype={"sample_id": str})
write_split(samples, snakemake.output[0], **snakemake.params.split)
