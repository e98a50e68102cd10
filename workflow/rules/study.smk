# The study of docs/study.md (the config's `study`; target `study`): per study, the tidy tables
# of its points (datasets trained and evaluated like any other) and a notebook.
#
# results/study/{study}/{scores,gaps,differences,dynamics,dynamics_summary}.csv, finding.md
# results/study/{study}/study.ipynb, study.html, figures/
rule study_tables:
    input:
        evaluations=study_files(model_evaluations),
        histories=study_files(training_histories),
    output:
        [study_file("{study}", f"{table}.csv") for table in STUDY_TABLES],
        study_file("{study}", "finding.md"),
    log:
        study_file("{study}", "logs/tables.log"),
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
        notebook=study_file("{study}", "study.ipynb"),
        html=study_file("{study}", "study.html"),
        figures=directory(study_file("{study}", "figures")),
    log:
        study_file("{study}", "logs/notebook.log"),
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
        [study_file(study, "study.html") for study in STUDIES],
        [
            table_file(point, "main.md")
            for points in STUDIES.values()
            for point in points
        ],
