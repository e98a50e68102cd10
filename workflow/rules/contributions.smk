# Shapley contributions of modalities and of token groups (bands, patches, years, variables),
# for the strategy models of one seed; then the `contributions` notebook.
# Settings: the config's `contributions` block, overridden by datasets.<name>.contributions
# (see miam.contributions); `model_seed` picks the trained models (default: the first seed).
from miam import contributions

# rule all requests contribution_targets(DATASETS)
from miam.contributions import contribution_targets

CONTRIBUTION_SEED = config.get("contributions", {}).get("model_seed", SEEDS[0])


rule contributions:
    input:
        models=expand(
            "results/{{dataset}}/train/{strategy}/seed{seed}/model.pt",
            strategy=STRATEGIES,
            seed=CONTRIBUTION_SEED,
        ),
        tokens="results/{dataset}/tokens",
        split="results/{dataset}/split.csv",
    output:
        **{
            table: f"results/{{dataset}}/contributions/{table}.csv"
            for table in contributions.TABLES
        },
    log:
        "results/{dataset}/logs/contributions.log",
    benchmark:
        "results/{dataset}/benchmarks/contributions.tsv"
    conda:
        "../../envs/report.yaml"
    threads: config["resources"]["train_threads"]
    resources:
        gpu=config["resources"]["gpus_per_training_job"],
        mem_mb=lambda wildcards, attempt: config["resources"]["train_mem_mb"] * attempt,
        runtime=lambda wildcards, attempt: 60 * attempt,
    params:
        options=lambda wildcards: contributions.contribution_options(
            config, wildcards.dataset
        ),
        reader=lambda wildcards: dataset_config(wildcards)["reader"],
        strategies=STRATEGIES,
        seed=CONTRIBUTION_SEED,
        device=lambda wildcards: training_settings(wildcards).get("device", "auto"),
    script:
        "../scripts/contributions.py"


rule contributions_notebook:
    input:
        notebook="workflow/notebooks/contributions.ipynb",
        # notebook.py passes the folder of `tables` to the notebook as `tables_dir`.
        tables=rules.contributions.output,
        evaluations=[],
        histories=[],
    output:
        notebook="results/{dataset}/reports/contributions.ipynb",
        html=report(
            "results/{dataset}/reports/contributions.html",
            caption="../report/notebooks.rst",
            category="Notebooks",
            subcategory="{dataset}",
            labels={"notebook": "contributions"},
        ),
        figures=report(
            directory("results/{dataset}/reports/figures/contributions"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="Figures",
            subcategory="{dataset}",
            labels={"notebook": "contributions", "figure": "{name}"},
        ),
    log:
        "results/{dataset}/logs/notebooks/contributions.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    params:
        strategies=STRATEGIES,
        weak_subsets=[],
    script:
        "../scripts/notebook.py"
