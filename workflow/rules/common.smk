# Checks the config, then derives what the rules need: names, settings, job sizes and every path
# of the results tree that crosses rules. Imports no torch: every job parses the workflow again.
import os
import re
import sys
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

from miam.analysis.rows import LATE_FUSION_MODELS
from miam.workflow import pipeline
from miam.workflow.config_errors import config_error
from miam.analysis.contribution_settings import TABLES as CONTRIBUTION_TABLES
from miam.analysis.contribution_settings import contribution_options
from miam.analysis.study import TABLES as STUDY_TABLES
from miam.analysis.study import TEXTS as STUDY_TEXTS
from miam.runs.checkpoints import HISTORY, METRICS, MODEL, RUN_FILES

# A config error is printed in a line naming the key (miam.workflow.config_errors), and the
# run ends there: raised, Snakemake would print the schema or our frames after it.
try:
    validate(config, schema="../schemas/config.schema.yaml")
    pipeline.check_config(config)
except (WorkflowError, ValueError) as error:
    logger.error(f"Config error: {config_error(error)}")
    sys.exit(1)


def raw_resources(resources):
    """A Snakemake resources mapping as the values typed in the profile."""
    return {
        name: getattr(value, "raw", value) for name, value in (resources or {}).items()
    }


# The SLURM profile ships with placeholder account and partitions: say so on every plan (a dry
# run too), and refuse to submit anything with them (onstart runs before the first job).
SLURM_PLACEHOLDERS = pipeline.slurm_placeholders(
    raw_resources(workflow.resource_settings.default_resources),
    {
        name: raw_resources(resources)
        for name, resources in workflow.resource_settings.overwrite_resources.items()
    },
)
if SLURM_PLACEHOLDERS:
    logger.warning(pipeline.slurm_placeholder_message(SLURM_PLACEHOLDERS))


onstart:
    executor = workflow.executor_plugin
    if SLURM_PLACEHOLDERS and executor is not None and executor.name == "slurm":
        raise WorkflowError(
            pipeline.slurm_placeholder_message(SLURM_PLACEHOLDERS)
            + "\nNothing was submitted."
        )


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


def dataset_seeds(dataset):
    """The dataset's own `seeds` (the decisive study's arms), else the global ones."""
    return config["datasets"][dataset].get("seeds", SEEDS)


NOTEBOOKS = ["comparison", "ablation", "dynamics"]
# Which seed's strategy models the contribution analysis reads (default: the first seed).
CONTRIBUTION_SEED = config["contributions"].get("model_seed", SEEDS[0])
# Job priorities, so that few cores stay busy to the end: training before every later stage;
# the seed the contributions read first of all, and its contributions (the longest job after
# training) next, beside the other seeds' training rather than alone after it.
PRIORITY = {"contribution seed training": 3, "contributions": 2, "training": 1}


def training_priority(wildcards):
    if int(wildcards.seed) == CONTRIBUTION_SEED:
        return PRIORITY["contribution seed training"]
    return PRIORITY["training"]


wildcard_constraints:
    dataset="|".join(map(re.escape, DATASETS)),
    strategy="|".join(map(re.escape, STRATEGIES)),
    family="|".join(map(re.escape, VARIANT_FAMILIES)),
    seed=r"\d+",
    study="|".join(map(re.escape, config["study"])),
    subset=r"[A-Za-z0-9_+.-]+",
    sites=r"[a-z][a-z0-9_]*",


# --- the results tree: every path that more than one rule or function uses, built here once
# (tests/test_pipeline.py checks that the rule files type none twice). Keys left out stay
# wildcards.


def raw_folder(dataset="{dataset}"):
    """A generated dataset, in its real layout (and a download's default folder)."""
    return f"results/{dataset}/raw"


def shard_file(dataset, shard, file):
    """`tokens` or `issues.csv` of one tokenize_shard job."""
    return f"results/{dataset}/shards/{shard}/{file}"


def tokens_folder(dataset="{dataset}"):
    return f"results/{dataset}/tokens"


def quality_file(dataset, file):
    """The data-quality report: `issues.csv` (one row per issue) and `summary.json`."""
    return f"results/{dataset}/quality/{file}"


def split_csv(dataset="{dataset}"):
    return f"results/{dataset}/split.csv"


def deployment_profile_json(dataset="{dataset}"):
    return f"results/{dataset}/deployment_profile.json"


def run_folder(dataset, family, name, seed="{seed}"):
    """results/{dataset}/{train,oracle,unimodal}/{name}/seed{seed}: one model's files, named
    by miam.runs.checkpoints."""
    return f"results/{dataset}/{family}/{name}/seed{seed}"


def run_file(dataset, family, name, file, seed="{seed}"):
    return f"{run_folder(dataset, family, name, seed)}/{file}"


def evaluation_csv(dataset, family, name=None, seed="{seed}"):
    """results/{dataset}/eval/{family}[/{name}]/seed{seed}.csv: one model's tidy rows."""
    folder = f"{family}/{name}" if name else family
    return f"results/{dataset}/eval/{folder}/seed{seed}.csv"


def combiner_file(dataset, seed="{seed}"):
    """The learned late fusion's cross-fitted combiner."""
    return f"results/{dataset}/late_fusion_learned/seed{seed}/combiner.pt"


def table_file(dataset, file):
    """results/{dataset}/tables/{file}: the paper's tables and the claims table."""
    return f"results/{dataset}/tables/{file}"


def report_file(dataset, notebook, suffix):
    """An executed notebook (suffix .ipynb) or its HTML (.html)."""
    return f"results/{dataset}/reports/{notebook}{suffix}"


def figures_folder(dataset, notebook):
    return f"results/{dataset}/reports/figures/{notebook}"


def contribution_csv(dataset, table):
    return f"results/{dataset}/contributions/{table}.csv"


def prediction_file(dataset, sites, file):
    """results/{dataset}/predictions/{sites}/{file}: one site set's inputs and predictions."""
    return f"results/{dataset}/predictions/{sites}/{file}"


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


def run_outputs(dataset, runs, file=None):
    """`file`, or all RUN_FILES, of `runs` ((family, name) pairs), `{seed}` left a wildcard."""
    files = [file] if file else RUN_FILES
    return [run_file(dataset, *run, f) for run in runs for f in files]


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
                "out_dir": run_folder(dataset, family, name, wildcards.seed),
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


def evaluated_models(dataset, runs):
    """Input function: what `miam.analysis.evaluation_jobs.evaluate_seed` evaluates for one seed."""
    settings = config["datasets"][dataset]
    every_subset = pipeline.evaluation_subsets(settings)
    named = pipeline.named_subsets(settings)

    def models(wildcards):
        return [
            {
                "model": run_file(dataset, family, name, MODEL, wildcards.seed),
                "row": name if family == "train" else "oracle",
                "subsets": (
                    every_subset
                    if family == "train"
                    else {name: ("named", named[name])}
                ),
                "output": evaluation_csv(dataset, family, name, wildcards.seed),
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
                run_file(dataset, *run, MODEL, wildcards.seed)
                for run in pipeline.unimodal_models(settings).values()
            ],
            "subsets": pipeline.evaluation_subsets(settings),
            "combiner": combiner_file(dataset, wildcards.seed),
            **{
                row: evaluation_csv(dataset, row, seed=wildcards.seed)
                for row in LATE_FUSION_MODELS
            },
        }

    return late_fusion


RUN_FAMILIES = {
    "train": ("strategy", "strategies"),
    "oracle": ("oracle", "oracles"),
    "unimodal": ("unimodal model", "unimodal models"),
}


def runs_text(runs):
    """'11 strategies, 12 oracles, 2 unimodal models': what a training job trains."""
    counts = {family: sum(run[0] == family for run in runs) for family in RUN_FAMILIES}
    return ", ".join(
        f"{n} {RUN_FAMILIES[family][n != 1]}" for family, n in counts.items() if n
    )


def job_message(text):
    """A job's console line, unless the config asks for Snakemake's full job details."""
    return None if config["jobs"]["print_details"] else text


def rule_name(*parts):
    """A rule name from dataset names and numbers (rule names are Python identifiers)."""
    return "_".join(re.sub(r"\W", "_", str(part)) for part in parts)


# --- job sizes ---


def job_size(kind, resource, factor=1):
    """`resource` (mem_mb or runtime) of a `kind` of job (the config's `resources`), times
    `factor`, times the attempt: every retry asks for more than the one before."""
    first = config["resources"][kind][resource] * factor
    return lambda wildcards, attempt: int(first * attempt)


# --- what the tables, notebooks and contributions read ---


def strategy_evaluations(wildcards):
    return [
        evaluation_csv(wildcards.dataset, "train", strategy, seed)
        for strategy in strategy_runs(wildcards)
        for seed in dataset_seeds(wildcards.dataset)
    ]


def oracle_evaluations(wildcards):
    return [
        evaluation_csv(wildcards.dataset, "oracle", subset, seed)
        for subset in pipeline.oracle_subsets(config["datasets"][wildcards.dataset])
        for seed in dataset_seeds(wildcards.dataset)
    ]


def late_fusion_evaluations(wildcards):
    if not dataset_config(wildcards)["late_fusion"]:
        return []
    return [
        evaluation_csv(wildcards.dataset, model, seed=seed)
        for model in LATE_FUSION_MODELS
        for seed in dataset_seeds(wildcards.dataset)
    ]


def selected_evaluations(wildcards):
    """The rows of each variant family: the variant chosen on validation, per seed."""
    return [
        evaluation_csv(wildcards.dataset, "selected", family, seed)
        for family in variant_families(wildcards)
        for seed in dataset_seeds(wildcards.dataset)
    ]


def model_evaluations(wildcards):
    """Every evaluation CSV of the dataset; each `model` in them is a row of the tables."""
    return (
        strategy_evaluations(wildcards)
        + selected_evaluations(wildcards)
        + late_fusion_evaluations(wildcards)
        + oracle_evaluations(wildcards)
    )


def training_runs(wildcards, file):
    """`file` (HISTORY, METRICS) of every strategy model of the dataset."""
    return [
        run_file(wildcards.dataset, "train", strategy, file, seed)
        for strategy in strategy_runs(wildcards)
        for seed in dataset_seeds(wildcards.dataset)
    ]


def training_histories(wildcards):
    return training_runs(wildcards, HISTORY)


def training_metrics(wildcards):
    return training_runs(wildcards, METRICS)


def contribution_models(wildcards):
    return [
        run_file(wildcards.dataset, "train", strategy, MODEL, CONTRIBUTION_SEED)
        for strategy in strategy_runs(wildcards)
    ]


# --- predictions (datasets.<name>.predict) ---

# Each predicting dataset's settings, resolved once per parse (every input function reads them).
PREDICT = {
    name: pipeline.predict_settings(config, name)
    for name in DATASETS
    if "predict" in config["datasets"][name]
}


def predict_settings(wildcards):
    return PREDICT[wildcards.dataset]


def site_set(wildcards):
    return predict_settings(wildcards)["sites"][wildcards.sites]


def prediction_models(wildcards):
    """model.pt of every predicting model and seed, grouped: model name -> one per seed."""
    return {
        model: [
            run_file(wildcards.dataset, *run, MODEL, seed)
            for seed in dataset_seeds(wildcards.dataset)
        ]
        for model, run in predict_settings(wildcards)["models"].items()
    }


def generated_grid(wildcards):
    """True for a grid of an embedded benchmark: its generator writes the sites' inputs."""
    return is_generated(wildcards.dataset) and site_set(wildcards)["kind"] == "grid"


def site_sources(wildcards):
    """What the sites are read from: a generated grid's folder, else the dataset's files."""
    if generated_grid(wildcards):
        return [prediction_file(wildcards.dataset, wildcards.sites, "raw")]
    return reader_inputs(wildcards)


def site_truth(wildcards):
    if generated_grid(wildcards):
        return [prediction_file(wildcards.dataset, wildcards.sites, "truth.csv")]
    return []


def site_tables(wildcards):
    return [
        prediction_file(wildcards.dataset, sites, "sites.parquet")
        for sites in predict_settings(wildcards)["sites"]
    ]


def site_maps_folders(wildcards):
    return [
        prediction_file(wildcards.dataset, sites, "maps")
        for sites, spec in predict_settings(wildcards)["sites"].items()
        if spec["kind"] == "grid"
    ]


def predict_targets():
    """Per predicting dataset: each site set's table, a grid's maps and agreement, a split's
    submission, and the maps page."""
    targets = []
    for dataset, settings in PREDICT.items():
        for sites, spec in settings["sites"].items():
            targets.append(prediction_file(dataset, sites, "sites.parquet"))
            if spec["kind"] == "grid":
                targets.append(prediction_file(dataset, sites, "maps"))
            if "submission" in spec:
                targets.append(prediction_file(dataset, sites, "submission"))
        targets.append(report_file(dataset, "maps", ".html"))
    return targets


def all_targets():
    """What `snakemake` builds without targets: per dataset its tables, notebooks and
    contribution tables, and the predictions its `predict` block asks for."""
    return [
        path
        for dataset in DATASETS
        for path in [
            table_file(dataset, "main.md"),
            *[
                report_file(dataset, nb, ".html")
                for nb in [*NOTEBOOKS, "contributions"]
            ],
            *[contribution_csv(dataset, table) for table in CONTRIBUTION_TABLES],
        ]
    ] + predict_targets()


# --- the study (docs/study.md): points are datasets, each in a benchmark ---

STUDIES = config["study"]


def study_file(study, file):
    """results/study/{study}/{file}: a study's tidy tables, verdicts, finding, notebook and
    figures."""
    return f"results/study/{study}/{file}"


def study_points(wildcards):
    """dataset -> benchmark."""
    return STUDIES[wildcards.study]["points"]


def study_preregistration(wildcards):
    return STUDIES[wildcards.study]["preregistration"]


def study_files(files):
    """Input function: `files` (a per-dataset input function) of every point of the study."""

    def paths(wildcards):
        return [
            path.format(dataset=dataset)
            for dataset in study_points(wildcards)
            for path in files(SimpleNamespace(dataset=dataset))
        ]

    return paths


def study_benchmarks(wildcards):
    """benchmark -> its named subsets, weak subsets and the subset of every input (its points
    share them)."""
    benchmarks = {}
    for dataset, benchmark in study_points(wildcards).items():
        settings = config["datasets"][dataset]
        benchmarks.setdefault(
            benchmark,
            {
                "subsets": list(pipeline.named_subsets(settings)),
                "weak_subsets": settings["weak_subsets"],
                "all_inputs": pipeline.all_inputs_subset(settings),
            },
        )
    return benchmarks
