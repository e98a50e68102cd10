rule train_oracle:
    input:
        tokens="results/{dataset}/tokens",
        split="results/{dataset}/split.csv",
    output:
        model="results/{dataset}/oracle/{subset}/seed{seed}/model.pt",
        history="results/{dataset}/oracle/{subset}/seed{seed}/history.csv",
        metrics="results/{dataset}/oracle/{subset}/seed{seed}/metrics.json",
    log:
        "results/{dataset}/logs/oracle/{subset}/seed{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/oracle/{subset}/seed{seed}.tsv"
    conda:
        "../../envs/train.yaml"
    threads: config["resources"]["train_threads"]
    resources:
        gpu=config["resources"]["gpus_per_training_job"],
        mem_mb=lambda wildcards, attempt: config["resources"]["train_mem_mb"] * attempt,
        runtime=train_runtime,
    params:
        strategy=None,
        subset=subset_spec,
        model=model_settings,
        training=training_settings,
    script:
        "../scripts/train.py"
