"""Execute one report notebook with papermill, then export it to HTML without its code.

The reader sees the text, tables and figures the notebook prints, not the code that makes them
(the executed .ipynb beside the HTML keeps the code). The kernel talks to papermill over local
IPC sockets and is not interrupted on shutdown: see `QuietKernelManager`.
"""

import os
import tempfile
from pathlib import Path

import papermill
from jupyter_client.manager import AsyncKernelManager
from nbconvert import HTMLExporter

from miam.runs.runlog import log_to

# Removed when the job's Python exits.
KERNEL_SOCKETS = tempfile.TemporaryDirectory(prefix="miam-kernel-")


class QuietKernelManager(AsyncKernelManager):
    """The notebook kernel, without the two messages every render used to print.

    - IPC transport instead of TCP on localhost: no "Kernel is running over TCP without
      encryption" warning. The socket files go in a folder of this job's own: under the
      default name (`kernel-ipc-<n>` in the working directory) two notebooks started at the
      same moment picked the same files, and one failed with "Invalid Signature".
    - No SIGINT at shutdown: jupyter_client interrupts a kernel before asking it to shut down,
      and a kernel still inside a message handler logs "KeyboardInterrupt caught in kernel"
      although the notebook ran fine. The kernel is idle once papermill shuts it down.
    """

    def __init__(self, **kwargs):
        kwargs.setdefault("transport", "ipc")
        kwargs.setdefault("ip", os.path.join(KERNEL_SOCKETS.name, "kernel"))
        super().__init__(**kwargs)

    async def _async_interrupt_kernel(self):
        if getattr(self, "shutting_down", False):
            return
        await super()._async_interrupt_kernel()


log_to(snakemake.log[0])


def named(section, *names) -> dict:
    """The entries among `names` that the rule's `section` (wildcards, input, params) has."""
    return {name: getattr(section, name) for name in names if hasattr(section, name)}


# A report notebook's dataset, files, strategies and weak subsets; a study notebook's study.
available = {
    **named(snakemake.wildcards, "dataset", "study"),
    "tables_dir": str(Path(snakemake.input.tables[0]).parent),
    "figures_dir": snakemake.output.figures,
    **{k: list(v) for k, v in named(snakemake.input, "evaluations", "histories").items()},
    **{k: list(v) for k, v in named(snakemake.params, "strategies", "weak_subsets").items()},
}
# Each notebook declares the parameters it reads (all None there); pass exactly those.
declared = papermill.inspect_notebook(snakemake.input.notebook)
missing = sorted(set(declared) - set(available))
if missing:
    raise ValueError(f"{snakemake.input.notebook} declares parameters nobody passes: {missing}")
os.makedirs(snakemake.output.figures, exist_ok=True)
papermill.execute_notebook(
    snakemake.input.notebook,
    snakemake.output.notebook,
    parameters={k: v for k, v in available.items() if k in declared},
    kernel_name="python3",
    kernel_manager_class=QuietKernelManager,
    progress_bar=False,
    log_output=True,
    cwd=os.getcwd(),
)
exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
html, _ = exporter.from_filename(snakemake.output.notebook)
Path(snakemake.output.html).write_text(html, encoding="utf-8")
