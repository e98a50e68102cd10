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
    # CPUs, partition and GPU on a cluster: the slurm profile.
    threads: 1
    resources:
        mem_mb=job_size("train", "mem_mb"),
        runtime=job_size("train", "runtime"),
    params:
        strategy=strategy_spec,
        subset=None,
        model=model_settings,
        training=training_settings,
        selection_subsets=named_subsets,
    script:
        "../scripts/train.py"
