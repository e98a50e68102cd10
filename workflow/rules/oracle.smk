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
    # CPUs, partition and GPU on a cluster: the slurm profile.
    threads: 1
    resources:
        mem_mb=job_size("train", "mem_mb"),
        runtime=job_size("train", "runtime"),
    params:
        strategy=None,
        subset=subset_spec,
        model=model_settings,
        training=training_settings,
    script:
        "../scripts/train.py"
