"""Logging for workflow jobs: plain timestamped lines into the rule's log file."""

import logging


def log_to(path: str) -> None:
    logging.basicConfig(
        filename=path,
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)
