"""Execute a report notebook with papermill, then export it to HTML without its code.

The reader sees the text, tables and figures the notebook prints, not the code that makes them
(the executed .ipynb beside the HTML keeps the code). The kernel talks to papermill over local
IPC sockets and is not interrupted on shutdown: see `QuietKernelManager`.
"""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import papermill
from jupyter_client.manager import AsyncKernelManager
from nbconvert import HTMLExporter


@functools.cache
def kernel_socket_folder() -> str:
    """A folder of this process's own for its kernels' sockets, removed when Python exits."""
    folder = tempfile.mkdtemp(prefix="miam-kernel-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return folder


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
        kwargs.setdefault("ip", os.path.join(kernel_socket_folder(), "kernel"))
        super().__init__(**kwargs)

    async def _async_interrupt_kernel(self):
        if self.shutting_down:
            return
        await super()._async_interrupt_kernel()


def render_notebook(
    notebook: str | Path, executed: str | Path, html: str | Path, available: dict
) -> None:
    """Run `notebook` into `executed` with the parameters it declares, taken from `available`
    (ValueError if one is not there), then write `html` without the code cells."""
    # Each notebook declares the parameters it reads (all None there); pass exactly those.
    declared = papermill.inspect_notebook(str(notebook))
    missing = sorted(set(declared) - set(available))
    if missing:
        raise ValueError(f"{notebook} declares parameters nobody passes: {missing}")
    papermill.execute_notebook(
        str(notebook),
        str(executed),
        parameters={k: v for k, v in available.items() if k in declared},
        kernel_name="python3",
        kernel_manager_class=QuietKernelManager,
        progress_bar=False,
        log_output=True,
        cwd=os.getcwd(),
    )
    page = nbformat.read(str(executed), as_version=4)
    # The page's title (browser tab, bookmarks) names the page and the dataset.
    subject = available.get("dataset") or available.get("study", "")
    page.metadata["title"] = f"{Path(notebook).stem}: {subject}"
    exporter = HTMLExporter(
        exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True
    )
    body, _ = exporter.from_notebook_node(page)
    Path(html).write_text(body, encoding="utf-8")
