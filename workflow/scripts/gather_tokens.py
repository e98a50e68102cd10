"""Concatenate the tokenize_shard outputs, in shard order, into one token set and report.

The config's subsets are checked against the tokens first; the modality health gate
(miam.inputs.health) last, before any model is trained. The report's issues are sorted
(modality, reason, sample, path, detail), so that it is the same file whatever the number of
shards.
"""

import logging

import pandas as pd

from miam.core.subsets import check_subset
from miam.core.tokens import TokenSet
from miam.inputs.health import gate
from miam.inputs.quality import QualityLog
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
# Memory-mapped shards, streamed into one folder a block of rows at a time (never held whole);
# vector modalities stored in float16 where rounding stays within tokens.FLOAT16_TOLERANCE.
shards = [TokenSet.load(folder) for folder in snakemake.input.tokens]
tokens = shards[0]  # task, classes and modalities: every shard has the same
# A subset glob that matches no token fails here, naming the subset, not in a training job.
for name, spec in snakemake.params.subsets.items():
    check_subset(name, spec, {m.name: m.token_names for m in tokens.modalities})
expected = snakemake.params.expected_classes
if expected is not None and tokens.n_classes != expected:
    logging.warning("%d classes kept; the paper had %d", tokens.n_classes, expected)
meta = TokenSet.save_concatenated(shards, snakemake.output.tokens, storage="auto")
for stored in meta["modalities"]:
    logging.info(
        "%s: %s, max error %.2g sd", stored["name"], stored["dtype"], stored["max_error_std"]
    )
issues = pd.concat(
    [pd.read_csv(path, dtype=str, keep_default_na=False) for path in snakemake.input.quality]
)
quality = QualityLog()
for issue in issues.sort_values(list(issues.columns)).to_dict("records"):
    quality.record(**issue)
health = gate(
    TokenSet.load(snakemake.output.tokens),
    quality.frame(),
    snakemake.wildcards.dataset,
    snakemake.params.allow_absent,
    snakemake.params.health_gate,
)
quality.write(snakemake.output.quality_csv, snakemake.output.quality_json, health)
