# Shapley contributions of modalities and of token groups (bands, patches, years, variables),
# for the strategy models of one seed; then the `contributions` notebook.
# Settings: the config's `contributions` block, overridden by datasets.<name>.contributions
# (see miam.analysis.contribution_settings); `model_seed` picks the trained models (CONTRIBUTION_SEED).


rule contributions:
    input:
        models=contribution_models,
        tokens=tokens_folder(),
        split=split_csv(),
    output:
        **{table: contribution_csv("{dataset}", table) for table in CONTRIBUTION_TABLES},
    log:
        "results/{dataset}/logs/contributions.log",
    benchmark:
        "results/{dataset}/benchmarks/contributions.tsv"
    priority: PRIORITY["contributions"]
    conda:
        "../../envs/report.yaml"
    # CPUs, partition and GPU on a cluster: the slurm profile.
    threads: 1
    resources:
        mem_mb=job_size("contributions", "mem_mb"),
        runtime=job_size("contributions", "runtime"),
    params:
        options=dataset_contribution_options,
        reader=reader_name,
        strategies=strategy_runs,
        seed=CONTRIBUTION_SEED,
        training=training_settings,
    message:
        job_message(
            "contributions of {wildcards.dataset}: Shapley values of the strategy models "
            "-> results/{wildcards.dataset}/contributions/ (log: {log})"
        )
    script:
        "../scripts/contributions.py"


rule contributions_notebook:
    input:
        notebook="workflow/notebooks/contributions.ipynb",
        # notebook.py passes the folder of `tables` to the notebook as `tables_dir`.
        tables=rules.contributions.output,
        evaluations=[],
        histories=[],
    output:
        notebook=report_file("{dataset}", "contributions", ".ipynb"),
        html=report(
            report_file("{dataset}", "contributions", ".html"),
            caption="../report/notebooks.rst",
            category="Notebooks",
            subcategory="{dataset}",
            labels={"notebook": "contributions"},
        ),
        figures=report(
            directory(figures_folder("{dataset}", "contributions")),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            subcategory="{dataset}",
            labels={"notebook": "contributions", "figure": "{name}"},
        ),
    log:
        "results/{dataset}/logs/notebooks/contributions.log",
    benchmark:
        "results/{dataset}/benchmarks/notebooks/contributions.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        strategies=strategy_runs,
        weak_subsets=[],
    message:
        job_message(
            "page contributions of {wildcards.dataset} -> {output.html} (log: {log})"
        )
    script:
        "../scripts/notebook.py"
