"""Running a model: training, evaluation passes, checkpoints and run files, job runtime and logs."""
