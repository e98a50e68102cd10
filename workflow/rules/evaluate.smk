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
    threads: 1
    resources:
        mem_mb=job_size("evaluate", "mem_mb"),
        runtime=job_size("evaluate", "runtime"),
    params:
        subsets=evaluation_subsets,
        training=training_settings,
    script:
        "../scripts/evaluate.py"
