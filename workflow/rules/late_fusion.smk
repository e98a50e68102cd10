# Late fusion (miam.late_fusion) and the deployment profile (miam.deployment).
#
# results/{dataset}/unimodal/{modality}/seed{seed}/          a model on one modality, where no
#                                                            single-modality oracle exists
# results/{dataset}/late_fusion_learned/seed{seed}/combiner.pt
# results/{dataset}/eval/late_fusion{,_learned}/seed{seed}.csv
# results/{dataset}/deployment_profile.json


rule train_unimodal:
    input:
        tokens="results/{dataset}/tokens",
        split="results/{dataset}/split.csv",
    output:
        model="results/{dataset}/unimodal/{modality}/seed{seed}/model.pt",
        history="results/{dataset}/unimodal/{modality}/seed{seed}/history.csv",
        metrics="results/{dataset}/unimodal/{modality}/seed{seed}/metrics.json",
    log:
        "results/{dataset}/logs/unimodal/{modality}/seed{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/unimodal/{modality}/seed{seed}.tsv"
    wildcard_constraints:
        modality=r"[a-z][a-z0-9_]*",
    conda:
        "../../envs/train.yaml"
    # CPUs, partition and GPU on a cluster: the slurm profile.
    threads: 1
    resources:
        mem_mb=job_size("train", "mem_mb"),
        runtime=job_size("train", "runtime"),
    params:
        strategy=None,
        subset=modality_subset,
        model=model_settings,
        training=training_settings,
    script:
        "../scripts/train.py"


rule train_late_fusion_combiner:
    input:
        models=unimodal_models,
        tokens="results/{dataset}/tokens",
        split="results/{dataset}/split.csv",
    output:
        "results/{dataset}/late_fusion_learned/seed{seed}/combiner.pt",
    log:
        "results/{dataset}/logs/late_fusion_learned/seed{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/late_fusion_learned/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=job_size("evaluate", "mem_mb"),
        runtime=job_size("evaluate", "runtime"),
    params:
        training=training_settings,
    script:
        "../scripts/train_late_fusion_combiner.py"


rule evaluate_late_fusion:
    input:
        models=unimodal_models,
        combiner="results/{dataset}/late_fusion_learned/seed{seed}/combiner.pt",
        tokens="results/{dataset}/tokens",
        split="results/{dataset}/split.csv",
    output:
        # Both models from one pass of the unimodal models over every subset.
        late_fusion="results/{dataset}/eval/late_fusion/seed{seed}.csv",
        late_fusion_learned="results/{dataset}/eval/late_fusion_learned/seed{seed}.csv",
    log:
        "results/{dataset}/logs/eval/late_fusion/seed{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/eval/late_fusion/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=job_size("evaluate", "mem_mb"),
        runtime=job_size("evaluate", "runtime"),
    params:
        subsets=evaluation_subsets,
        training=training_settings,
    script:
        "../scripts/late_fusion.py"


rule deployment_profile:
    input:
        tokens="results/{dataset}/tokens",
        split="results/{dataset}/split.csv",
    output:
        "results/{dataset}/deployment_profile.json",
    log:
        "results/{dataset}/logs/deployment_profile.log",
    conda:
        "../../envs/train.yaml"
    threads: 1
    resources:
        mem_mb=job_size("data", "mem_mb"),
        runtime=job_size("data", "runtime"),
    params:
        dataset=dataset_config,
    script:
        "../scripts/deployment_profile.py"
