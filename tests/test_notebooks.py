"""Report notebooks: executed with the parameters they declare, exported without their code."""

import asyncio
import json
import os

import pytest

from miam.workflow.notebooks import QuietKernelManager, kernel_socket_folder, render_notebook


def notebook(path, parameters: str, code: str) -> None:
    def cell(source, name, tags=()):
        return {
            "cell_type": "code",
            "id": name,
            "metadata": {"tags": list(tags)},
            "source": source,
            "outputs": [],
            "execution_count": None,
        }

    document = {
        "cells": [cell(parameters, "parameters", ["parameters"]), cell(code, "report")],
        "metadata": {
            "kernelspec": {"name": "python3", "language": "python", "display_name": "Python 3"}
        },
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(document))


def test_kernels_talk_over_sockets_of_their_own_job():
    manager = QuietKernelManager()
    assert manager.transport == "ipc"
    assert os.path.dirname(manager.ip) == kernel_socket_folder()


def test_a_kernel_shutting_down_is_not_interrupted():
    manager = QuietKernelManager()
    manager.shutting_down = True
    asyncio.run(manager._async_interrupt_kernel())  # no kernel runs: the interrupt would fail
    manager.shutting_down = False
    with pytest.raises(RuntimeError, match="No kernel is running"):
        asyncio.run(manager._async_interrupt_kernel())


def test_a_notebook_runs_with_its_declared_parameters_and_its_html_has_no_code(tmp_path):
    source = tmp_path / "report.ipynb"
    notebook(source, "dataset = None", "print(f'rows of {dataset}: 42')")
    render_notebook(
        source,
        tmp_path / "run.ipynb",
        tmp_path / "report.html",
        available={"dataset": "tiny", "unused": 1},
    )
    html = (tmp_path / "report.html").read_text()
    assert "rows of tiny: 42" in html and "print(" not in html


def test_a_declared_parameter_nobody_passes_is_an_error(tmp_path):
    source = tmp_path / "report.ipynb"
    notebook(source, "dataset = None\nseed = None", "print(dataset)")
    with pytest.raises(ValueError, match=r"nobody passes: \['seed'\]"):
        render_notebook(source, tmp_path / "run.ipynb", tmp_path / "report.html", {"dataset": 1})
