rule split:
    input:
        tokens=tokens_folder(),
    output:
        split_csv(),
    log:
        "results/{dataset}/logs/split.log",
    benchmark:
        "results/{dataset}/benchmarks/split.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        split=split_settings,
    message:
        job_message(
            "split: train / val / test of {wildcards.dataset} -> {output} (log: {log})"
        )
    script:
        "../scripts/split.py"


# What share of each split's samples has each modality, and the deployment target
# (miam.core.availability); read by the tables' deployment column.
rule deployment_profile:
    input:
        tokens=tokens_folder(),
        split=split_csv(),
    output:
        deployment_profile_json(),
    log:
        "results/{dataset}/logs/deployment_profile.log",
    benchmark:
        "results/{dataset}/benchmarks/deployment_profile.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=job_size("data", "mem_mb"),
        runtime=job_size("data", "runtime"),
    params:
        dataset=dataset_config,
    message:
        job_message(
            "deployment_profile: each modality's availability in {wildcards.dataset} -> "
            "{output} (log: {log})"
        )
    script:
        "../scripts/deployment_profile.py"
