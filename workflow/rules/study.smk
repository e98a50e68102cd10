# The decisive study of docs/study.md (the config's `study`; target `study`): per study, the
# tidy tables of its points (datasets trained and evaluated like any other), its verdicts, by
# the config's preregistration, and a notebook.
#
# results/study/{study}/{scores,verdicts,dynamics,dynamics_summary}.csv
# results/study/{study}/finding.md, preregistration.md
# results/study/{study}/study.ipynb, study.html, figures/
rule study_tables:
    input:
        evaluations=study_files(model_evaluations),
        histories=study_files(training_histories),
    output:
        [study_file("{study}", f"{table}.csv") for table in STUDY_TABLES],
        [study_file("{study}", text) for text in STUDY_TEXTS],
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
        benchmarks=study_benchmarks,
        preregistration=study_preregistration,
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


# Each study's notebook. The points' own tables and notebooks are not built: the study reads
# the evaluation rows.
rule study:
    input:
        [study_file(study, "study.html") for study in STUDIES],
