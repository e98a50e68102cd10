"""What the Snakemake workflow derives from its config (runs, jobs, subsets, options)."""
