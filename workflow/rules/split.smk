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
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        split=split_settings,
    script:
        "../scripts/split.py"
