"""Logging for workflow jobs: plain timestamped lines into the rule's log file, and the few
lines marked `extra={CONSOLE: True}` (a training run's progress) on stderr too, which Snakemake
shows on its console.

`log_to` also sends an uncaught exception, with its traceback, to that file before Python
prints it to stderr as usual, so a failed job's `{log}` (what stays on disk after a cluster job
ends) says why it failed. An `InputError` (the data or the config does not fit; its message says
what to do) is written to both as its message alone, once, without a traceback.
"""

import logging
import sys

from miam.core.console import CONSOLE
from miam.core.errors import InputError

log = logging.getLogger(__name__)


def log_to(path: str) -> None:
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(lambda record: getattr(record, CONSOLE, False))
    logging.getLogger().addHandler(console)
    logging.captureWarnings(True)
    sys.excepthook = log_uncaught


def log_uncaught(kind, error, traceback) -> None:
    """`sys.excepthook`: the exception and its traceback into the log, then Python's own hook;
    an InputError's message alone into both. The job exits with status 1 either way."""
    if issubclass(kind, InputError):
        log.error("the job stops: %s", error)
        print(f"Error: {error}", file=sys.stderr)
        return
    if not issubclass(kind, KeyboardInterrupt):
        log.critical("uncaught exception, the job fails", exc_info=(kind, error, traceback))
    sys.__excepthook__(kind, error, traceback)
