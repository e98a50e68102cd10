# Checks the config, then derives what the rules need: names, settings, job sizes and every path
# of the results tree that crosses rules. Imports no torch: every job parses the workflow again.
import os
import re
from types import SimpleNamespace

from snakemake.logging import logger
from snakemake.utils import validate

from miam.analysis.rows import LATE_FUSION_MODELS
from miam.workflow import pipeline
from miam.analysis.contribution_settings import TABLES as CONTRIBUTION_TABLES
from miam.analysis.contribution_settings import contribution_options
from miam.analysis.study import TABLES as STUDY_TABLES

validate(config, schema="../schemas/config.schema.yaml")
pipeline.check_config(config)
for name, settings in config["datasets"].items():
    for note in pipeline.comparison_notes(settings):
        logger.warning(f"datasets.{name}: {note}")

# Scripts import miam from this repository's src/, whatever environment runs them (the envs/
# files list only third-party packages); jobs inherit the variable, on SLURM too.
SOURCE = os.path.join(workflow.basedir, "src")
PYTHONPATH = os.environ.get("PYTHONPATH", "")
if SOURCE not in PYTHONPATH.split(os.pathsep):
    os.environ.update(PYTHONPATH=os.pathsep.join(filter(None, [SOURCE, PYTHONPATH])))

DATASETS = list(config["datasets"])
# Strategy runs: a strategy with list-valued parameters trains one variant per combination,
# named like `miam[lam=3,kappa=10]` (also its folder). Table rows add, per such family, the row
# named after it: per seed, the variant chosen on validation (rule select_variant). A dataset
# may train only some strategies (its `strategies`): see the per-dataset functions below.
STRATEGIES = list(pipeline.strategy_variants(config["strategies"]))
VARIANT_FAMILIES = [
    family for family in config["strategies"] if family not in STRATEGIES
]
SEEDS = config["seeds"]
NOTEBOOKS = ["comparison", "ablation", "dynamics"]
# Which seed's strategy models the contribution analysis reads (default: the first seed).
CONTRIBUTION_SEED = config["contributions"].get("model_seed", SEEDS[0])


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    strategy="|".join(map(re.escape, STRATEGIES)),
    family="|".join(map(re.escape, VARIANT_FAMILIES)),
    seed=r"\d+",
    study="|".join(map(re.escape, config["study"])),
    subset=r"[A-Za-z0-9_+.-]+",


# --- settings of one job, from its wildcards ---


def dataset_config(wildcards):
    return config["datasets"][wildcards.dataset]


def strategy_runs(wildcards):
    """The dataset's strategy runs (variants named one by one)."""
    return list(pipeline.strategy_runs(config, wildcards.dataset))


def strategy_rows(wildcards):
    """The dataset's strategy rows of the tables: selected families, variants, strategies."""
    return pipeline.strategy_rows(config, wildcards.dataset)


def variant_families(wildcards):
    return pipeline.variant_families(config, wildcards.dataset)


def reader_name(wildcards):
    return dataset_config(wildcards)["reader"]


def named_subsets(wildcards):
    return pipeline.named_subsets(dataset_config(wildcards))


def training_settings(wildcards):
    return pipeline.run_settings(config, wildcards.dataset, "training")


def split_settings(wildcards):
    return dataset_config(wildcards)["split"]


def weak_subsets(wildcards):
    return dataset_config(wildcards)["weak_subsets"]


def dataset_contribution_options(wildcards):
    return contribution_options(config, wildcards.dataset)


# --- model runs and the jobs that train them ---

RUN_FILES = ["model.pt", "history.csv", "metrics.json"]


def run_folder(dataset, family, name):
    """results/{dataset}/{train,oracle,unimodal}/{name}/seed{seed}: one model's outputs."""
    return f"results/{dataset}/{family}/{name}/seed{{seed}}"


def run_outputs(dataset, runs, file=None):
    """The files of `runs` ((family, name) pairs) with `{seed}` left as a wildcard."""
    files = [file] if file else RUN_FILES
    return [f"{run_folder(dataset, *run)}/{f}" for run in runs for f in files]


def run_arguments(dataset, runs):
    """Input function: the `miam.runs.training.train_run` keyword arguments of each run of a job."""
    settings = config["datasets"][dataset]
    subsets = pipeline.named_subsets(settings)

    def arguments(wildcards):
        common = {
            "seed": int(wildcards.seed),
            "model": pipeline.run_settings(config, dataset, "model"),
            "training": pipeline.run_settings(config, dataset, "training"),
        }
        return [
            common
            | {
                "out_dir": run_folder(dataset, family, name).format(
                    seed=wildcards.seed
                ),
                "strategy": (
                    pipeline.strategy_spec(config, dataset, name)
                    if family == "train"
                    else None
                ),
                "subset": {
                    "train": None,
                    "oracle": subsets.get(name),
                    "unimodal": {name: "all"},
                }[family],
                "selection_subsets": subsets if family == "train" else None,
            }
            for family, name in runs
        ]

    return arguments


def evaluation_csv(dataset, family, name=None):
    """results/{dataset}/eval/{family}[/{name}]/seed{seed}.csv: one model's tidy rows."""
    folder = f"{family}/{name}" if name else family
    return f"results/{dataset}/eval/{folder}/seed{{seed}}.csv"


def evaluated_models(dataset, runs):
    """Input function: what `miam.analysis.evaluation_jobs.evaluate_seed` evaluates for one seed."""
    settings = config["datasets"][dataset]
    every_subset = pipeline.evaluation_subsets(settings)
    named = pipeline.named_subsets(settings)

    def models(wildcards):
        return [
            {
                "model": f"{run_folder(dataset, family, name)}/model.pt".format(
                    **wildcards
                ),
                "row": name if family == "train" else "oracle",
                "subsets": (
                    every_subset
                    if family == "train"
                    else {name: ("named", named[name])}
                ),
                "output": evaluation_csv(dataset, family, name).format(**wildcards),
            }
            for family, name in runs
        ]

    return models


def late_fusion_models(dataset):
    """Input function: the unimodal models, subsets and outputs of late fusion for one seed."""
    settings = config["datasets"][dataset]

    def late_fusion(wildcards):
        return {
            "models": [
                f"{run_folder(dataset, *run)}/model.pt".format(**wildcards)
                for run in pipeline.unimodal_models(settings).values()
            ],
            "subsets": pipeline.evaluation_subsets(settings),
            "combiner": f"results/{dataset}/late_fusion_learned/seed{wildcards.seed}/combiner.pt",
            **{
                row: evaluation_csv(dataset, row).format(**wildcards)
                for row in LATE_FUSION_MODELS
            },
        }

    return late_fusion


def rule_name(*parts):
    """A rule name from dataset names and numbers (rule names are Python identifiers)."""
    return "_".join(re.sub(r"\W", "_", str(part)) for part in parts)


# --- job sizes ---


def job_size(kind, resource, factor=1):
    """`resource` (mem_mb or runtime) of a `kind` of job (the config's `resources`), times
    `factor`, times the attempt: every retry asks for more than the one before."""
    first = config["resources"][kind][resource] * factor
    return lambda wildcards, attempt: int(first * attempt)


# --- paths of results that cross rules ---


def strategy_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/train/{strategy}/seed{seed}.csv",
        strategy=strategy_runs(wildcards),
        seed=SEEDS,
    )


def oracle_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/oracle/{subset}/seed{seed}.csv",
        subset=pipeline.oracle_subsets(config["datasets"][wildcards.dataset]),
        seed=SEEDS,
    )


def late_fusion_evaluations(wildcards):
    return expand(
        "results/{{dataset}}/eval/{model}/seed{seed}.csv",
        model=LATE_FUSION_MODELS,
        seed=SEEDS,
    )


def selected_evaluations(wildcards):
    """The rows of each variant family: the variant chosen on validation, per seed."""
    return expand(
        "results/{{dataset}}/eval/selected/{family}/seed{seed}.csv",
        family=variant_families(wildcards),
        seed=SEEDS,
    )


def model_evaluations(wildcards):
    """Every evaluation CSV of the dataset; each `model` in them is a row of the tables."""
    return (
        strategy_evaluations(wildcards)
        + selected_evaluations(wildcards)
        + late_fusion_evaluations(wildcards)
        + oracle_evaluations(wildcards)
    )


def training_runs(wildcards, file):
    """`file` (history.csv, metrics.json) of every strategy model of the dataset."""
    return expand(
        "results/{{dataset}}/train/{strategy}/seed{seed}/{file}",
        strategy=strategy_runs(wildcards),
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
        strategy=strategy_runs(wildcards),
        seed=CONTRIBUTION_SEED,
    )


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


# --- the study (docs/study.md): points are datasets, each with its budget and data size ---

STUDIES = config["study"]


def study_points(wildcards):
    return STUDIES[wildcards.study]


def study_files(files):
    """Input function: `files` (a per-dataset input function) of every point of the study."""

    def paths(wildcards):
        return [
            path.format(dataset=dataset)
            for dataset in STUDIES[wildcards.study]
            for path in files(SimpleNamespace(dataset=dataset))
        ]

    return paths


def first_point(wildcards):
    """The first point's dataset settings: the study's subsets (every point shares them)."""
    return config["datasets"][next(iter(STUDIES[wildcards.study]))]
