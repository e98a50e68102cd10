"""The Snakemake workflow's own parts: what it derives from its config (`pipeline`) and how it
renders its report notebooks (`notebooks`)."""
