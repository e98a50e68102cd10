"""Workflow scripts log to their rule's `{log}`, their failures included."""

import ast
import subprocess
import sys
from pathlib import Path

SCRIPTS = sorted((Path(__file__).resolve().parents[1] / "workflow" / "scripts").glob("*.py"))


def test_an_uncaught_exception_lands_in_the_log_with_its_traceback(tmp_path):
    log = tmp_path / "job.log"
    code = (
        "from miam.runs.runlog import log_to\n"
        f"log_to({str(log)!r})\n"
        "def fail():\n"
        "    raise ValueError('no such modality: sound')\n"
        "fail()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    text = log.read_text()
    assert "CRITICAL" in text and "Traceback (most recent call last)" in text
    assert "in fail" in text and "ValueError: no such modality: sound" in text
    assert "ValueError: no such modality: sound" in done.stderr  # still on stderr as well


def test_an_input_error_is_its_message_once_without_a_traceback(tmp_path):
    log = tmp_path / "job.log"
    code = (
        "from miam.core.errors import InputError\n"
        "from miam.runs.runlog import log_to\n"
        f"log_to({str(log)!r})\n"
        "raise InputError('reader_options.label.column: plots.gpkg has no column speces')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 1
    message = "reader_options.label.column: plots.gpkg has no column speces"
    assert done.stderr.splitlines() == [f"Error: {message}"]
    text = log.read_text()
    assert f"ERROR miam.runs.runlog: the job stops: {message}" in text
    assert "Traceback" not in text


def test_every_script_logs_to_its_rule_log_first():
    for path in SCRIPTS:
        calls = [
            node
            for node in ast.parse(path.read_text()).body
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
        ]
        assert calls, f"{path.name} calls nothing"
        assert ast.unparse(calls[0]) == "log_to(snakemake.log[0])", path.name


def test_only_lines_marked_for_the_console_reach_stderr(tmp_path):
    log = tmp_path / "job.log"
    code = (
        "import logging\n"
        "from miam.runs.runlog import CONSOLE, log_to\n"
        f"log_to({str(log)!r})\n"
        "logging.getLogger('miam.x').info('detail')\n"
        "logging.getLogger('miam.x').info('progress', extra={CONSOLE: True})\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr == "progress\n"
    assert "detail" in log.read_text() and "progress" in log.read_text()
