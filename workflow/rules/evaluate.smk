rule evaluate_model:
    input:
        model="results/{dataset}/{family}/{name}/seed{seed}/model.pt",
        tokens="results/{dataset}/tokens",
        split="results/{dataset}/split.csv",
    output:
        "results/{dataset}/eval/{family}/{name}/seed{seed}.csv",
    log:
        "results/{dataset}/logs/eval/{family}/{name}/seed{seed}.log",
    benchmark:
        "results/{dataset}/benchmarks/eval/{family}/{name}/seed{seed}.tsv"
    wildcard_constraints:
        family="train|oracle",
    conda:
        "../../envs/train.yaml"
    threads: config["resources"]["train_threads"]
    resources:
        mem_mb=lambda wildcards, attempt: config["resources"]["train_mem_mb"] * attempt,
        runtime=30,
    params:
        subsets=evaluation_subsets,
        training=training_settings,
    script:
        "../scripts/evaluate.py"
