# Tokenization, scattered over datasets.<name>.shards jobs: shard k of n reads the dataset's
# tables whole (species are chosen from all samples) but the per-sample files (cubes, tiles,
# photos, recordings) of its own block of samples only; gather_tokens concatenates the blocks in
# order, so the tokens do not depend on the number of shards. The blocks are temporary: Snakemake
# deletes them once gather_tokens has succeeded (a gather that stops, at the health gate say,
# keeps them for the rerun), and a later run that needs them again tokenizes again.


rule tokenize_shard:
    input:
        reader_inputs,
    output:
        tokens=temp(directory(shard_file("{dataset}", "{shard}", "tokens"))),
        quality=temp(shard_file("{dataset}", "{shard}", "issues.csv")),
    log:
        "results/{dataset}/logs/tokenize/shard{shard}.log",
    benchmark:
        "results/{dataset}/benchmarks/tokenize/shard{shard}.tsv"
    wildcard_constraints:
        shard=r"\d+",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=job_size("data", "mem_mb"),
        runtime=job_size("data", "runtime"),
    params:
        reader=reader_name,
        root=reader_root,
        options=reader_options,
        shard=shard_of,
    message:
        job_message(
            "tokenize_shard: tokens of block {wildcards.shard} of {wildcards.dataset}'s samples "
            "(log: {log})"
        )
    script:
        "../scripts/tokenize.py"


rule gather_tokens:
    input:
        unpack(token_shards),
    output:
        tokens=directory(tokens_folder()),
        quality_csv=quality_file("{dataset}", "issues.csv"),
        # counted on the report's summary page (rule tables)
        quality_json=quality_file("{dataset}", "summary.json"),
    log:
        "results/{dataset}/logs/tokenize/gather.log",
        # every data-quality issue, written when the health gate stops the run (a failed
        # job's outputs are deleted, its logs kept)
        stopped_issues="results/{dataset}/logs/tokenize/issues.csv",
    benchmark:
        "results/{dataset}/benchmarks/tokenize/gather.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    # It holds every shard and their concatenation at once.
    resources:
        mem_mb=job_size("data", "mem_mb", factor=2),
        runtime=job_size("data", "runtime"),
    params:
        expected_classes=expected_classes,
        # the modality health gate (miam.inputs.health)
        allow_absent=lambda wildcards: dataset_config(wildcards)["allow_absent"],
        health_gate=config["health_gate"],
        # checked against the tokens before any model is trained
        subsets=lambda wildcards: {
            f"datasets.{wildcards.dataset}.subsets.{name}": spec
            for name, (family, spec) in pipeline.evaluation_subsets(
                dataset_config(wildcards)
            ).items()
        },
    message:
        job_message(
            "gather_tokens: {wildcards.dataset}'s token blocks joined -> {output.tokens}, "
            "data-quality report -> {output.quality_json} (log: {log[0]})"
        )
    script:
        "../scripts/gather_tokens.py"
