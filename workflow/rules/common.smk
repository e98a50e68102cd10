import json

from snakemake.utils import validate

from miam import late_fusion, pipeline

validate(config, schema="../schemas/config.schema.yaml")
pipeline.check_config(config)

DATASETS = list(config["datasets"])
STRATEGIES = list(config["strategies"])
SEEDS = config["seeds"]
NOTEBOOKS = ["comparison", "ablation", "dynamics"]


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    strategy="|".join(STRATEGIES),
    seed=r"\d+",
    subset=r"[A-Za-z0-9_+.-]+",


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def oracle_subsets(dataset):
    if not config["datasets"][dataset]["oracles"]:
        return []
    return list(pipeline.named_subsets(config["datasets"][dataset]))


def subset_spec(wildcards):
    return pipeline.named_subsets(config["datasets"][wildcards.dataset])[
        wildcards.subset
    ]


def strategy_spec(wildcards):
    return pipeline.strategy_spec(config, wildcards.dataset, wildcards.strategy)


def model_settings(wildcards):
    return pipeline.run_settings(config, wildcards.dataset, "model")


def training_settings(wildcards):
    return pipeline.run_settings(config, wildcards.dataset, "training")


def train_runtime(wildcards, attempt):
    """Minutes a training job may run; doubles on every retry (e.g. after a time-limit kill)."""
    return int(config["resources"]["train_runtime_min"] * 2 ** (attempt - 1))


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


def training_histories(wildcards):
    return expand(
        "results/{{dataset}}/train/{strategy}/seed{seed}/history.csv",
        strategy=STRATEGIES,
        seed=SEEDS,
    )


def all_targets():
    return expand("results/{dataset}/tables/main.md", dataset=DATASETS) + expand(
        "results/{dataset}/reports/{notebook}.html",
        dataset=DATASETS,
        notebook=NOTEBOOKS,
    )


def evaluation_subsets(wildcards):
    """A strategy model: every subset of every family; an oracle: only its own subset."""
    dataset = config["datasets"][wildcards.dataset]
    if wildcards.family == "oracle":
        return {
            wildcards.name: ("named", pipeline.named_subsets(dataset)[wildcards.name])
        }
    return pipeline.evaluation_subsets(dataset)


def late_fusion_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/{model}/seed{seed}.csv",
        model=late_fusion.MODELS,
        seed=SEEDS,
    )


def model_evaluations(wildcards):
    """Every evaluation CSV of the dataset; each `model` in them is a row of the tables."""
    return (
        strategy_evaluations(wildcards)
        + late_fusion_evaluations(wildcards)
        + oracle_evaluations(wildcards)
    )
