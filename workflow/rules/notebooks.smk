rule notebook:
    input:
        notebook="workflow/notebooks/{notebook}.ipynb",
        tables=rules.tables.output,
        evaluations=model_evaluations,
        histories=training_histories,
        # Beside each history: the best epoch, which the dynamics plots mark.
        metrics=training_metrics,
    output:
        notebook=report_file("{dataset}", "{notebook}", ".ipynb"),
        html=report(
            report_file("{dataset}", "{notebook}", ".html"),
            caption="../report/notebooks.rst",
            category="Notebooks",
            subcategory="{dataset}",
            labels={"notebook": "{notebook}"},
        ),
        figures=report(
            directory(figures_folder("{dataset}", "{notebook}")),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            subcategory="{dataset}",
            labels={"notebook": "{notebook}", "figure": "{name}"},
        ),
    log:
        "results/{dataset}/logs/notebooks/{notebook}.log",
    benchmark:
        "results/{dataset}/benchmarks/notebooks/{notebook}.tsv"
    wildcard_constraints:
        notebook="|".join(NOTEBOOKS),
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        # Notebook parameters from the config; those from files come from input and output.
        strategies=strategy_rows,
        weak_subsets=weak_subsets,
    message:
        job_message(
            "page {wildcards.notebook} of {wildcards.dataset} -> {output.html} (log: {log})"
        )
    script:
        "../scripts/notebook.py"
