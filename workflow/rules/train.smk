# Training: every strategy, the oracle of every named subset and the unimodal models of late
# fusion, for each seed. One rule per dataset and group of `jobs.runs_per_job` runs, so a job
# trains several runs in one process (miam.runs.training.train_runs); each run keeps its own folder
# (run_folder) and checkpoint, so a killed or failed job resumes where its runs stopped.
for dataset in DATASETS:
    for job, runs in enumerate(pipeline.run_jobs(config, dataset)):

        rule:
            name:
                rule_name("train", dataset, job)
            input:
                tokens=tokens_folder(dataset),
                split=split_csv(dataset),
            output:
                run_outputs(dataset, runs),
            log:
                f"results/{dataset}/logs/train/job{job}/seed{{seed}}.log",
            benchmark:
                f"results/{dataset}/benchmarks/train/job{job}/seed{{seed}}.tsv"
            priority: training_priority
            conda:
                "../../envs/train.yaml"
            # Partition, GPU and CPUs per GPU on a cluster: the slurm profile.
            threads: 1
            resources:
                mem_mb=job_size("train", "mem_mb"),
                runtime=job_size("train", "runtime", len(runs)),
            params:
                runs=run_arguments(dataset, runs),
            # The console shows this line instead of the job's 60-130 output paths.
            message:
                job_message(
                    f"{rule_name('train', dataset, job)}: training job {job} of {dataset}, "
                    f"seed {{wildcards.seed}}: {runs_text(runs)}, one after another "
                    "(log: {log})"
                )
            script:
                "../scripts/train.py"
