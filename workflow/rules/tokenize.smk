rule tokenize:
    input:
        raw="results/{dataset}/raw",
    output:
        tokens=directory("results/{dataset}/tokens"),
        quality_csv="results/{dataset}/quality/issues.csv",
        quality_json=report(
            "results/{dataset}/quality/summary.json",
            caption="../report/quality.rst",
            category="Data quality",
            labels={"dataset": "{dataset}"},
        ),
    log:
        "results/{dataset}/logs/tokenize.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=lambda wildcards, attempt: config["resources"]["data_mem_mb"] * attempt,
        runtime=120,
    params:
        reader=lambda wildcards: dataset_config(wildcards)["reader"],
        options=lambda wildcards: dataset_config(wildcards)["reader_options"],
    script:
        "../scripts/tokenize.py"
