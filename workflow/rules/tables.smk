from miam.analysis.claims import CLAIMS_FILES
from miam.analysis.tables import FILE_SUFFIXES, TABLE_NAMES


rule tables:
    input:
        evaluations=model_evaluations,
        profile=deployment_profile_json(),
        # the health gate's notes, said under the tables; the data-quality record, on the
        # summary page (miam.analysis.quality_section)
        quality=quality_file("{dataset}", "summary.json"),
        issues=quality_file("{dataset}", "issues.csv"),
    output:
        # The files miam.analysis.tables.write_table writes for each table; the report shows
        # the HTML page of each (a Markdown or CSV file would be a download there).
        [
            (
                report(
                    table_file("{dataset}", f"{name}{suffix}"),
                    caption=f"../report/table_{name}.rst",
                    category="Tables",
                    subcategory="{dataset}",
                    labels={"table": name},
                )
                if suffix == ".html"
                else table_file("{dataset}", f"{name}{suffix}")
            )
            for name in TABLE_NAMES
            for suffix in FILE_SUFFIXES
        ],
        # The files miam.analysis.claims.write_claims writes: the paper's claims, tested on this run.
        claims=[
            (
                report(
                    table_file("{dataset}", file),
                    caption="../report/table_claims.rst",
                    category="Tables",
                    subcategory="{dataset}",
                    labels={"table": "claims"},
                )
                if file.endswith(".html")
                else table_file("{dataset}", file)
            )
            for file in CLAIMS_FILES
        ],
        # The verdicts, headline claims and summary columns: the report's first page.
        summary=report(
            table_file("{dataset}", "summary.html"),
            caption="../report/summary.rst",
            category="Summary",
            labels={"dataset": "{dataset}"},
        ),
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
    message:
        job_message(
            "tables of {wildcards.dataset}: main, ablations, climate context and claims "
            "-> results/{wildcards.dataset}/tables/ (log: {log})"
        )
    script:
        "../scripts/tables.py"
