# Evaluation: one job per dataset and seed evaluates every model of that seed on its subsets
# (strategies: every subset of every family; oracles: their own) and, unless the dataset turns
# late fusion off, fits and evaluates both late-fusion rows (miam.analysis.evaluation_jobs),
# loading the tokens once.
#
# results/{dataset}/eval/{train,oracle}/{name}/seed{seed}.csv       one model's tidy rows
# results/{dataset}/eval/late_fusion{,_learned}/seed{seed}.csv
# results/{dataset}/late_fusion_learned/seed{seed}/combiner.pt     the cross-fitted combiner
for dataset in DATASETS:
    runs = pipeline.model_runs(config, dataset)
    evaluated = [run for run in runs if run[0] != "unimodal"]
    late_fusion = config["datasets"][dataset]["late_fusion"]
    late_fusion_outputs = (
        {
            "late_fusion": evaluation_csv(dataset, "late_fusion"),
            "late_fusion_learned": evaluation_csv(dataset, "late_fusion_learned"),
            "combiner": combiner_file(dataset),
        }
        if late_fusion
        else {}
    )

    rule:
        name:
            rule_name("evaluate", dataset)
        input:
            models=run_outputs(dataset, runs, MODEL),
            tokens=tokens_folder(dataset),
            split=split_csv(dataset),
        output:
            **late_fusion_outputs,
            evaluations=[evaluation_csv(dataset, *run) for run in evaluated],
        log:
            f"results/{dataset}/logs/evaluate/seed{{seed}}.log",
        benchmark:
            f"results/{dataset}/benchmarks/evaluate/seed{{seed}}.tsv"
        conda:
            "../../envs/train.yaml"
        threads: 1
        resources:
            mem_mb=job_size("evaluate", "mem_mb"),
            runtime=job_size("evaluate", "runtime", len(evaluated) + 2 * late_fusion),
        params:
            models=evaluated_models(dataset, evaluated),
            late_fusion=late_fusion_models(dataset) if late_fusion else None,
            dataset=dataset,
            training=pipeline.run_settings(config, dataset, "training"),
        message:
            job_message(
                f"{rule_name('evaluate', dataset)}: seed {{wildcards.seed}} of {dataset}: "
                f"{len(evaluated)} models on their subsets"
                f"{', then late fusion' if late_fusion else ''} (log: {{log}})"
            )
        script:
            "../scripts/evaluate.py"


# The row of a strategy with list-valued parameters (a family): per seed, the rows of the variant
# with the best validation score on the named subsets (miam.analysis.selection; test scores
# never choose), renamed to the family, with the variant named in column `variant`.
rule select_variant:
    input:
        variants=lambda wildcards: expand(
            evaluation_csv(wildcards.dataset, "train", "{variant}"),
            variant=variant_families(wildcards)[wildcards.family],
            seed=wildcards.seed,
        ),
    output:
        evaluation_csv("{dataset}", "selected", "{family}"),
    log:
        "results/{dataset}/logs/select_variant/{family}/seed{seed}.log",
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        subsets=lambda wildcards: list(named_subsets(wildcards)),
    message:
        job_message(
            "select_variant: the {wildcards.family} variant best on validation, seed "
            "{wildcards.seed} of {wildcards.dataset} -> {output} (log: {log})"
        )
    script:
        "../scripts/select_variant.py"
