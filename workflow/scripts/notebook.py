"""Execute one report notebook with papermill, then export it to HTML without its code.

The reader sees the text, tables and figures the notebook prints, not the code that makes them
(the executed .ipynb beside the HTML keeps the code). The kernel talks to papermill over local
IPC sockets and is not interrupted on shutdown: see `QuietKernelManager`.
"""

import os
import tempfile
from pathlib import Path

import nbformat
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
available = {
    "dataset": snakemake.wildcards.dataset,
    "tables_dir": str(Path(snakemake.input.tables[0]).parent),
    "evaluations": list(snakemake.input.evaluations),
    "histories": list(snakemake.input.histories),
    "figures_dir": snakemake.output.figures,
    "strategies": list(snakemake.params.strategies),
    "weak_subsets": list(snakemake.params.weak_subsets),
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
executed = nbformat.read(snakemake.output.notebook, as_version=4)
# The page's title (browser tab, bookmarks) names the page and the dataset.
executed.metadata["title"] = f"{Path(snakemake.input.notebook).stem}: {snakemake.wildcards.dataset}"
exporter = HTMLExporter(exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True)
html, _ = exporter.from_notebook_node(executed)
Path(snakemake.output.html).write_text(html, encoding="utf-8")
