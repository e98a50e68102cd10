"""The `extra` key of a log record that a workflow job also prints on the console.

`logging.getLogger(...).warning(..., extra={CONSOLE: True})`: the job's log file gets every
record, its console (Snakemake's) only these (`miam.runs.runlog.log_to`). Kept in the core so
that the readers, which may not import `miam.runs`, mark their few console lines the same way.
"""

CONSOLE = "console"
