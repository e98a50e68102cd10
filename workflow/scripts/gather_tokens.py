"""Concatenate the tokenize_shard outputs into one token set and report, then the modality
health gate (inputs.gather)."""

from miam.inputs.gather import gather_shards
from miam.runs.runlog import log_to

log_to(snakemake.log[0])
gather_shards(
    snakemake.input.tokens,
    snakemake.input.quality,
    snakemake.output.tokens,
    snakemake.output.quality_csv,
    snakemake.output.quality_json,
    dataset=snakemake.wildcards.dataset,
    allow_absent=snakemake.params.allow_absent,
    health_gate=snakemake.params.health_gate,
    stopped_issues_csv=snakemake.log.stopped_issues,
    subsets=snakemake.params.subsets,
    expected_classes=snakemake.params.expected_classes,
)
