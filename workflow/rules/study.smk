# The study of docs/study.md (the config's `study`; target `study`): per study, the tidy tables
# of its points (datasets trained and evaluated like any other) and a notebook.
#
# results/study/{study}/{scores,gaps,differences,dynamics,dynamics_summary}.csv, finding.md
# results/study/{study}/study.ipynb, study.html, figures/
from types import SimpleNamespace

from miam.analysis.study import TABLES as STUDY_TABLES

STUDIES = config["study"]


wildcard_constraints:
    study="|".join(map(re.escape, STUDIES)),


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


rule study_tables:
    input:
        evaluations=study_files(model_evaluations),
        histories=study_files(training_histories),
    output:
        [f"results/study/{{study}}/{table}.csv" for table in STUDY_TABLES],
        "results/study/{study}/finding.md",
    log:
        "results/study/{study}/logs/tables.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        points=study_points,
        subsets=lambda wildcards: list(pipeline.named_subsets(first_point(wildcards))),
        weak_subsets=lambda wildcards: first_point(wildcards)["weak_subsets"],
    script:
        "../scripts/study_tables.py"


rule study_notebook:
    input:
        notebook="workflow/notebooks/study.ipynb",
        tables=rules.study_tables.output,
    output:
        notebook="results/study/{study}/study.ipynb",
        html="results/study/{study}/study.html",
        figures=directory("results/study/{study}/figures"),
    log:
        "results/study/{study}/logs/notebook.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    script:
        "../scripts/notebook.py"


# Each study's notebook, and each point's own tables (claims included).
rule study:
    input:
        expand("results/study/{study}/study.html", study=STUDIES),
        expand(
            "results/{dataset}/tables/main.md",
            dataset=[point for points in STUDIES.values() for point in points],
        ),
