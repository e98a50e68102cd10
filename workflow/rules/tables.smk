from miam.analysis.tables import FILE_SUFFIXES, TABLE_NAMES


rule tables:
    input:
        evaluations=model_evaluations,
        profile="results/{dataset}/deployment_profile.json",
    output:
        # The files miam.analysis.tables.write_table writes for each table.
        [
            report(
                f"results/{{dataset}}/tables/{name}{suffix}",
                caption=f"../report/table_{name}.rst",
                category="Tables",
                subcategory="{dataset}",
                labels={"table": name, "file": suffix.lstrip("_.")},
            )
            for name in TABLE_NAMES
            for suffix in FILE_SUFFIXES
        ],
        # The files miam.analysis.claims.write_claims writes: the paper's claims, tested on this run.
        claims=[
            report(
                f"results/{{dataset}}/tables/claims.{suffix}",
                caption="../report/table_claims.rst",
                category="Tables",
                subcategory="{dataset}",
                labels={"table": "claims", "file": suffix},
            )
            for suffix in ("csv", "md")
        ],
    log:
        "results/{dataset}/logs/tables.log",
    benchmark:
        "results/{dataset}/benchmarks/tables.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        strategies=strategy_rows,
        subsets=named_subsets,
        weak_subsets=lambda wildcards: dataset_config(wildcards)["weak_subsets"],
    script:
        "../scripts/tables.py"
