# Late fusion (miam.late_fusion) and the deployment profile (miam.deployment).
#
# results/{dataset}/unimodal/{modality}/seed{seed}/          a model on one modality, where no
#                                                            single-modality oracle exists
# results/{dataset}/late_fusion_learned/seed{seed}/combiner.pt
# results/{dataset}/eval/late_fusion{,_learned}/seed{seed}.csv
# results/{dataset}/deployment_profile.json
from miam import late_fusion


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
    threads: config["resources"]["train_threads"]
    resources:
        gpu=config["resources"]["gpus_per_training_job"],
        mem_mb=lambda wildcards, attempt: config["resources"]["train_mem_mb"] * attempt,
        runtime=train_runtime,
    params:
        strategy=None,
        subset=lambda wildcards: {wildcards.modality: "all"},
        model=model_settings,
        training=training_settings,
    script:
        "../scripts/train.py"


rule train_late_fusion_combiner:
    input:
        models=lambda wildcards: late_fusion.unimodal_model_paths(
            wildcards.dataset, dataset_config(wildcards), wildcards.seed
        ),
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
    threads: config["resources"]["train_threads"]
    resources:
        gpu=config["resources"]["gpus_per_training_job"],
        mem_mb=lambda wildcards, attempt: config["resources"]["train_mem_mb"] * attempt,
        runtime=30,
    params:
        training=training_settings,
    script:
        "../scripts/train_late_fusion_combiner.py"


rule evaluate_late_fusion:
    input:
        models=lambda wildcards: late_fusion.unimodal_model_paths(
            wildcards.dataset, dataset_config(wildcards), wildcards.seed
        ),
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
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=lambda wildcards, attempt: config["resources"]["train_mem_mb"] * attempt,
        runtime=30,
    params:
        subsets=lambda wildcards: pipeline.evaluation_subsets(dataset_config(wildcards)),
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
        mem_mb=lambda wildcards, attempt: config["resources"]["data_mem_mb"] * attempt,
        runtime=10,
    params:
        dataset=dataset_config,
    script:
        "../scripts/deployment_profile.py"
