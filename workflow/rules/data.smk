rule generate_dataset:
    output:
        directory("results/{dataset}/raw"),
    log:
        "results/{dataset}/logs/generate_dataset.log",
    conda:
        "../../envs/data.yaml"
    threads: 2
    resources:
        mem_mb=lambda wildcards, attempt: config["resources"]["data_mem_mb"] * attempt,
        runtime=60,
    params:
        source=lambda wildcards: dataset_config(wildcards)["source"],
    script:
        "../scripts/generate_dataset.py"
