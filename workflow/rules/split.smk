rule split:
    input:
        tokens="results/{dataset}/tokens",
    output:
        "results/{dataset}/split.csv",
    log:
        "results/{dataset}/logs/split.log",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    params:
        split=lambda wildcards: dataset_config(wildcards)["split"],
    script:
        "../scripts/split.py"
