# The MIAM pipeline, stage by stage; each stage is one file in workflow/rules/.
#
# results/{dataset}/raw/                          generated or downloaded dataset, real layout
# results/{dataset}/shards/{shard}/               tokens of one block of samples (gathered below)
# results/{dataset}/tokens/, quality/, split.csv  tokens, data-quality report, spatial split
# results/{dataset}/train/{strategy}/seed{seed}/  model.pt, history.csv, metrics.json
# results/{dataset}/oracle/{subset}/seed{seed}/   the same, for one oracle per subset
# results/{dataset}/unimodal/{modality}/seed{seed}/  late fusion's model of a modality (no oracle)
# results/{dataset}/eval/                         tidy metrics per model and subset
# results/{dataset}/contributions/                Shapley values across and inside modalities
# results/{dataset}/predictions/{sites}/          new sites: probabilities, maps, submissions
# results/{dataset}/tables/, reports/             paper tables (csv, md, tex), notebooks (html)
# results/study/{study}/                          the study's tables and notebook (target `study`)
from snakemake.utils import min_version

min_version("9.20")

# The config comes from `--configfile` (profiles/default gives config/config.yaml), never from
# a `configfile:` directive: a directive would be merged with, not replaced by, the command
# line's file, leaking the demo datasets into every other config.


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/sources.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/tokenize.smk"
include: "workflow/rules/split.smk"
include: "workflow/rules/train.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/tables.smk"
include: "workflow/rules/notebooks.smk"
include: "workflow/rules/contributions.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/study.smk"


rule all:
    default_target: True
    input:
        all_targets(),
    message:
        job_message(
            f"all: every table, page and contribution table of {len(DATASETS)} dataset(s)"
        )


onsuccess:
    logger.info(
        pipeline.where_to_look(
            DATASETS,
            "results",
            [study_file(s, "study.html") for s in config.get("study", {})],
        )
    )
