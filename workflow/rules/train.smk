rule train_strategy:
    input:
        tokens="results/{dataset}/tokens",
        split="results/{dataset}/split.csv",
    output:
        model="results/{dataset}/train/{strategy}/seed{seed}/model.pt",
        history="results/{dataset}/train/{strategy}/seed{seed}/history.csv",
        metrics="results/{dataset}/train/{strategy}/seed{seed}/metrics.json",
    log:
        "results/{dataset}/logs/train/{strategy}/seed{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/train/{strategy}/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["resources"]["train_threads"]
    resources:
        gpu=config["resources"]["gpus_per_training_job"],
        mem_mb=lambda wildcards, attempt: config["resources"]["train_mem_mb"] * attempt,
        runtime=train_runtime,
    params:
        strategy=strategy_spec,
        subset=None,
        model=model_settings,
        training=training_settings,
    script:
        "../scripts/train.py"
