# Checks the config, then derives what the rules need: names, settings, job sizes and every path
# of the results tree that crosses rules. Imports no torch: every job parses the workflow again.
import os
import re

from snakemake.utils import validate

from miam import pipeline
from miam.contribution_settings import TABLES as CONTRIBUTION_TABLES
from miam.contribution_settings import contribution_options

validate(config, schema="../schemas/config.schema.yaml")
pipeline.check_config(config)

# Scripts import miam from this repository's src/, whatever environment runs them (the envs/
# files list only third-party packages); jobs inherit the variable, on SLURM too.
SOURCE = os.path.join(workflow.basedir, "src")
PYTHONPATH = os.environ.get("PYTHONPATH", "")
if SOURCE not in PYTHONPATH.split(os.pathsep):
    os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SOURCE, PYTHONPATH])))

DATASETS = list(config["datasets"])
STRATEGIES = list(config["strategies"])
SEEDS = config["seeds"]
NOTEBOOKS = ["comparison", "ablation", "dynamics"]
# Which seed's strategy models the contribution analysis reads (default: the first seed).
CONTRIBUTION_SEED = config["contributions"].get("model_seed", SEEDS[0])


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    strategy="|".join(STRATEGIES),
    seed=r"\d+",
    subset=r"[A-Za-z0-9_+.-]+",


# --- settings of one job, from its wildcards ---


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def reader_name(wildcards):
    return dataset_config(wildcards)["reader"]


def named_subsets(wildcards):
    return pipeline.named_subsets(dataset_config(wildcards))


def subset_spec(wildcards):
    return named_subsets(wildcards)[wildcards.subset]


def strategy_spec(wildcards):
    return pipeline.strategy_spec(config, wildcards.dataset, wildcards.strategy)


def model_settings(wildcards):
    return pipeline.run_settings(config, wildcards.dataset, "model")


def training_settings(wildcards):
    return pipeline.run_settings(config, wildcards.dataset, "training")


def evaluation_subsets(wildcards):
    """An oracle: only its own subset; any other model (a strategy's, late fusion): every subset
    of every family."""
    if wildcards.get("family") == "oracle":
        return {wildcards.name: ("named", named_subsets(wildcards)[wildcards.name])}
    return pipeline.evaluation_subsets(dataset_config(wildcards))


def modality_subset(wildcards):
    """A unimodal model sees every token of its modality and nothing else."""
    return {wildcards.modality: "all"}


def split_settings(wildcards):
    return dataset_config(wildcards)["split"]


def weak_subsets(wildcards):
    return dataset_config(wildcards)["weak_subsets"]


def dataset_contribution_options(wildcards):
    return contribution_options(config, wildcards.dataset)


# --- job sizes ---


def job_size(kind, resource, factor=1):
    """`resource` (mem_mb or runtime) of a `kind` of job (the config's `resources`), times
    `factor`, times the attempt: every retry asks for more than the one before."""
    first = config["resources"][kind][resource] * factor
    return lambda wildcards, attempt: int(first * attempt)


# --- paths of results that cross rules ---


def oracle_subsets(dataset):
    if not config["datasets"][dataset]["oracles"]:
        return []
    return list(pipeline.named_subsets(config["datasets"][dataset]))


def strategy_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/train/{strategy}/seed{seed}.csv",
        strategy=STRATEGIES,
        seed=SEEDS,
    )


def oracle_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/oracle/{subset}/seed{seed}.csv",
        subset=oracle_subsets(wildcards.dataset),
        seed=SEEDS,
    )


def late_fusion_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/{model}/seed{seed}.csv",
        model=pipeline.LATE_FUSION_MODELS,
        seed=SEEDS,
    )


def model_evaluations(wildcards):
    """Every evaluation CSV of the dataset; each `model` in them is a row of the tables."""
    return (
        strategy_evaluations(wildcards)
        + late_fusion_evaluations(wildcards)
        + oracle_evaluations(wildcards)
    )


def training_runs(wildcards, file):
    """`file` (history.csv, metrics.json) of every strategy model of the dataset."""
    return expand(
        "results/{{dataset}}/train/{strategy}/seed{seed}/{file}",
        strategy=STRATEGIES,
        seed=SEEDS,
        file=file,
    )


def training_histories(wildcards):
    return training_runs(wildcards, "history.csv")


def training_metrics(wildcards):
    return training_runs(wildcards, "metrics.json")


def contribution_models(wildcards):
    return expand(
        "results/{{dataset}}/train/{strategy}/seed{seed}/model.pt",
        strategy=STRATEGIES,
        seed=CONTRIBUTION_SEED,
    )


def unimodal_models(wildcards):
    """The model.pt late fusion uses for each modality, in model order: a single-modality
    oracle where one is trained, else results/{dataset}/unimodal/{modality}/."""
    return [
        f"results/{wildcards.dataset}/{family}/{name}/seed{wildcards.seed}/model.pt"
        for family, name in pipeline.unimodal_models(dataset_config(wildcards)).values()
    ]


def all_targets():
    """What `snakemake` builds without targets: per dataset its tables, notebooks and
    contribution tables."""
    return (
        expand("results/{dataset}/tables/main.md", dataset=DATASETS)
        + expand(
            "results/{dataset}/reports/{notebook}.html",
            dataset=DATASETS,
            notebook=[*NOTEBOOKS, "contributions"],
        )
        + expand(
            "results/{dataset}/contributions/{table}.csv",
            dataset=DATASETS,
            table=CONTRIBUTION_TABLES,
        )
    )
