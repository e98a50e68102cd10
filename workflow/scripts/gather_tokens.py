"""Concatenate the tokenize_shard outputs, in shard order, into one token set and report.

The config's subsets are checked against the tokens first. The report's issues are sorted (modality, reason, sample, path, detail), so that it is the same
file whatever the number of shards.
"""

import logging

import pandas as pd

from miam.quality import QualityLog
from miam.runlog import log_to
from miam.subsets import check_subset
from miam.tokens import TokenSet

log_to(snakemake.log[0])
tokens = TokenSet.concat([TokenSet.load(folder) for folder in snakemake.input.tokens])
# A subset glob that matches no token fails here, naming the subset, not in a training job.
for name, spec in snakemake.params.subsets.items():
    check_subset(name, spec, {m.name: m.token_names for m in tokens.modalities})
expected = snakemake.params.expected_classes
if expected is not None and tokens.n_classes != expected:
    logging.warning("%d classes kept; the paper had %d", tokens.n_classes, expected)
tokens.save(snakemake.output.tokens)
issues = pd.concat(
    [pd.read_csv(path, dtype=str, keep_default_na=False) for path in snakemake.input.quality]
)
quality = QualityLog()
for issue in issues.sort_values(list(issues.columns)).to_dict("records"):
    quality.record(**issue)
quality.write(snakemake.output.quality_csv, snakemake.output.quality_json)
