# Where a dataset's files come from (datasets.<name>.source):
#   synthetic: generate_dataset writes results/{dataset}/raw in the real layout;
#   download:  one download_file job per file key of the dataset YAML into the data folder
#              (source.data_dir, default results/{dataset}/raw), then extract_archive for the
#              entries with `extract_to`. Checksums: miam.inputs.download (lock file in the data folder).
#   local:     files already on disk (source.path), read in place; checksum_source records
#              their sizes and sha256 (miam.inputs.local_source), redone when one of them is newer.
# Compute nodes without internet access: run `snakemake --until download_file extract_archive`
# on a login node first (or add `localrules: download_file` for your cluster).
# download_file and extract_archive match the exact paths in FETCHED and EXTRACTED only
# (workflow/rules/sources.smk), so they never compete with other rules.


rule generate_dataset:
    output:
        directory(raw_folder()),
    log:
        "results/{dataset}/logs/generate_dataset.log",
    benchmark:
        "results/{dataset}/benchmarks/generate_dataset.tsv"
    wildcard_constraints:
        dataset=exact_paths(filter(is_generated, DATASETS)),
    conda:
        "../../envs/data.yaml"
    # One thread, though the generators use more processes for their few seconds: on 2 cores a
    # 2-thread job waits for both to be free, and other datasets' 1-thread jobs kept the second
    # dataset's generation waiting for minutes.
    threads: 1
    resources:
        mem_mb=job_size("data", "mem_mb"),
        runtime=job_size("data", "runtime"),
    params:
        source=source_settings,
    message:
        job_message(
            "generate_dataset: {wildcards.dataset} in its real file layout -> {output} "
            "(log: {log})"
        )
    script:
        "../scripts/generate_dataset.py"


rule download_file:
    input:
        records=records_index,
    output:
        "{path}",
    log:
        "results/logs/download/{path}.log",
    wildcard_constraints:
        path=exact_paths(FETCHED),
    conda:
        "../../envs/data.yaml"
    # Network-bound: a per-observation folder is fetched by a pool of threads that wait on
    # the network, not on a core.
    threads: 1
    resources:
        mem_mb=job_size("download", "mem_mb"),
        runtime=job_size("download", "runtime"),
    params:
        entry=fetched_entry,
    message:
        job_message("download_file: {output}, checksum checked (log: {log})")
    script:
        "../scripts/download.py"


rule extract_archive:
    input:
        archive=extracted_archive,
    output:
        f"{{folder}}/{EXTRACTED_MARKER}",
    log:
        "results/logs/extract/{folder}.log",
    wildcard_constraints:
        folder=exact_paths(EXTRACTED),
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=job_size("download", "mem_mb"),
        runtime=job_size("download", "runtime"),
    message:
        job_message(
            "extract_archive: {input.archive} -> {wildcards.folder} (log: {log})"
        )
    script:
        "../scripts/extract_archive.py"


rule checksum_source:
    input:
        local_source_files,
    output:
        source_manifest("{dataset}"),
    log:
        "results/{dataset}/logs/checksum_source.log",
    wildcard_constraints:
        dataset=exact_paths(filter(is_local, DATASETS)),
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=job_size("download", "mem_mb"),
        runtime=job_size("download", "runtime"),
    params:
        path=reader_root,
    message:
        job_message(
            "checksum_source: sizes and sha256 of {wildcards.dataset}'s local files -> "
            "{output} (log: {log})"
        )
    script:
        "../scripts/checksum_source.py"
