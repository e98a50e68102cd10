# Predictions at new sites (datasets.<name>.predict; target `predict`): each site set is read
# label-free by the dataset's reader, predicted by every seed of the chosen models under each
# deployment scenario, then mapped (grids), submitted (GeoPlant's test surveys) and drawn on
# reports/maps.html beside the truth an embedded benchmark planted.
#
# results/{dataset}/predictions/{sites}/raw/, truth.csv  a generated grid's inputs and truth
# results/{dataset}/predictions/{sites}/tokens/          the sites' tokens, issues.csv
# results/{dataset}/predictions/{sites}/sites.parquet    probabilities per site (summary.json)
# results/{dataset}/predictions/{sites}/maps/            GeoTIFF per species, richness, agreement
# results/{dataset}/predictions/{sites}/submission/      geolifeclef.csv, malpolon.csv


rule site_inputs:
    output:
        raw=directory(prediction_file("{dataset}", "{sites}", "raw")),
        truth=prediction_file("{dataset}", "{sites}", "truth.csv"),
    log:
        "results/{dataset}/logs/predict/{sites}/inputs.log",
    benchmark:
        "results/{dataset}/benchmarks/predict/{sites}/inputs.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=job_size("data", "mem_mb"),
        runtime=job_size("data", "runtime"),
    params:
        source=lambda wildcards: dataset_config(wildcards)["source"],
        sites=site_set,
    message:
        job_message(
            "site_inputs: the generator's inputs and planted truth on grid {wildcards.sites} "
            "of {wildcards.dataset} (log: {log})"
        )
    script:
        "../scripts/site_inputs.py"


rule site_tokens:
    input:
        sources=site_sources,
        trained=tokens_folder(),
    output:
        tokens=directory(prediction_file("{dataset}", "{sites}", "tokens")),
        quality=prediction_file("{dataset}", "{sites}", "issues.csv"),
    log:
        "results/{dataset}/logs/predict/{sites}/tokens.log",
    benchmark:
        "results/{dataset}/benchmarks/predict/{sites}/tokens.tsv"
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
        sites=site_set,
        site_root=lambda wildcards: prediction_file(
            wildcards.dataset, wildcards.sites, "raw"
        ),
    message:
        job_message(
            "site_tokens: sites {wildcards.sites} of {wildcards.dataset} read label-free "
            "-> {output.tokens} (log: {log})"
        )
    script:
        "../scripts/site_tokens.py"


rule predict_sites:
    input:
        models=lambda wildcards: sum(prediction_models(wildcards).values(), []),
        tokens=prediction_file("{dataset}", "{sites}", "tokens"),
        trained=tokens_folder(),
        # the training split's prevalences calibrate presence-absence probabilities
        split=split_csv(),
    output:
        table=prediction_file("{dataset}", "{sites}", "sites.parquet"),
        summary=prediction_file("{dataset}", "{sites}", "summary.json"),
    log:
        "results/{dataset}/logs/predict/{sites}/predict.log",
    benchmark:
        "results/{dataset}/benchmarks/predict/{sites}/predict.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=job_size("evaluate", "mem_mb"),
        runtime=job_size("evaluate", "runtime"),
    params:
        models=prediction_models,
        settings=predict_settings,
        training=training_settings,
    message:
        job_message(
            "predict_sites: {wildcards.dataset}'s models on sites {wildcards.sites} under "
            "each scenario -> {output.table} (log: {log})"
        )
    script:
        "../scripts/predict.py"


rule site_maps:
    input:
        table=prediction_file("{dataset}", "{sites}", "sites.parquet"),
        trained=tokens_folder(),
        truth=site_truth,
    output:
        maps=directory(prediction_file("{dataset}", "{sites}", "maps")),
    log:
        "results/{dataset}/logs/predict/{sites}/maps.log",
    benchmark:
        "results/{dataset}/benchmarks/predict/{sites}/maps.tsv"
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        sites=site_set,
        settings=predict_settings,
    message:
        job_message(
            "site_maps: GeoTIFFs of grid {wildcards.sites} of {wildcards.dataset} "
            "-> {output.maps} (log: {log})"
        )
    script:
        "../scripts/site_maps.py"


rule submission:
    input:
        table=prediction_file("{dataset}", "{sites}", "sites.parquet"),
    output:
        submission=directory(prediction_file("{dataset}", "{sites}", "submission")),
    log:
        "results/{dataset}/logs/predict/{sites}/submission.log",
    conda:
        "../../envs/data.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        submission=lambda wildcards: site_set(wildcards)["submission"],
        settings=predict_settings,
    message:
        job_message(
            "submission: top species of sites {wildcards.sites} of {wildcards.dataset} "
            "-> {output.submission} (log: {log})"
        )
    script:
        "../scripts/submission.py"


rule maps_notebook:
    input:
        notebook="workflow/notebooks/maps.ipynb",
        tables=site_tables,
        maps=site_maps_folders,
    output:
        notebook=report_file("{dataset}", "maps", ".ipynb"),
        html=report(
            report_file("{dataset}", "maps", ".html"),
            caption="../report/notebooks.rst",
            category="Notebooks",
            subcategory="{dataset}",
            labels={"notebook": "maps"},
        ),
        figures=directory(figures_folder("{dataset}", "maps")),
    log:
        "results/{dataset}/logs/notebooks/maps.log",
    benchmark:
        "results/{dataset}/benchmarks/notebooks/maps.tsv"
    conda:
        "../../envs/report.yaml"
    threads: 1
    resources:
        mem_mb=job_size("report", "mem_mb"),
        runtime=job_size("report", "runtime"),
    params:
        settings=predict_settings,
    message:
        job_message("page maps of {wildcards.dataset} -> {output.html} (log: {log})")
    script:
        "../scripts/maps_notebook.py"


rule predict:
    input:
        predict_targets(),
    message:
        job_message(f"predict: the site sets of {len(PREDICT)} dataset(s)")
