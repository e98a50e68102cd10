"""Small random token sets with a planted signal, for fast tests of the core library."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import numpy as np
import pandas as pd

from miam.core.split import write_split
from miam.core.tokens import Modality, TokenSet

REPO = Path(__file__).resolve().parents[1]


def toy_tokens(
    n: int = 600, task: str = "multiclass", n_classes: int = 4, seed: int = 0
) -> TokenSet:
    """Three modalities: `tab` (4 scalars, strong signal), `ts` (5 vector tokens, weaker),
    `img` (2 vector tokens, noise); 10 % of `ts` tokens missing."""
    rng = np.random.default_rng(seed)
    label = rng.integers(n_classes, size=n)
    tab = rng.normal(size=(n, 4, 1)) + (label[:, None, None] == np.arange(4)[None, :, None]) * 2.0
    ts = rng.normal(size=(n, 5, 3)) + label[:, None, None] * 0.5
    img = rng.normal(size=(n, 2, 6))
    ts_present = rng.random((n, 5)) > 0.1
    if task == "multiclass":
        targets = label.astype(np.int64)
    else:
        targets = (label[:, None] == np.arange(n_classes)[None]).astype(np.uint8)
    return TokenSet(
        task=task,
        modalities=[
            Modality("tab", "scalar", tab, np.ones((n, 4), bool), ["v1", "v2", "v3", "v4"]),
            Modality("ts", "vector", ts, ts_present, [f"year/{y}" for y in range(2000, 2005)]),
            Modality("img", "vector", img, np.ones((n, 2), bool), ["r0c0", "r0c1"]),
        ],
        targets=targets,
        samples=pd.DataFrame(
            {
                "sample_id": [f"s{i}" for i in range(n)],
                "lon": rng.uniform(0, 10, n),
                "lat": rng.uniform(40, 50, n),
            }
        ),
        class_names=[f"c{c}" for c in range(n_classes)],
    )


def write_toy(folder, **kwargs):
    """Write a toy token set and its split; returns (tokens_dir, split_csv)."""
    tokens = toy_tokens(**kwargs)
    tokens.save(folder / "tokens")
    write_split(tokens.samples, folder / "split.csv", block_size=1.0, seed=0)
    return folder / "tokens", folder / "split.csv"


def static_imports(tree: ast.AST, package: str) -> set[str]:
    """Every module an `import` or `from ... import` statement of `tree` names, at any depth,
    relative imports resolved against `package`; `from a import b` also counts `a.b`."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parent, base] if base else parent)
            names |= {base} | {f"{base}.{alias.name}" for alias in node.names}
    return names


@functools.cache
def parsed_rules(configfile: str = "config/test.yaml") -> tuple:
    """The workflow's rule objects as Snakemake parses it with `configfile`: the rules written in
    `for` loops too, under their generated names."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    with SnakemakeApi(OutputSettings(quiet={"all"})) as api:
        # The workflow object, as `snakemake --list-rules` parses it (that only prints names).
        workflow = api.workflow(
            resource_settings=ResourceSettings(),
            config_settings=ConfigSettings(configfiles=[REPO / configfile]),
            snakefile=REPO / "Snakefile",
            workdir=REPO,
        )._workflow
        return tuple(workflow.rules)


def workflow_rules(configfile: str = "config/test.yaml") -> dict[str, tuple[Path | None, ...]]:
    """Rule name -> (its conda environment file, its script), for every rule."""

    def path(rule, relative) -> Path | None:
        return (Path(rule.basedir) / relative).resolve() if relative else None

    return {r.name: (path(r, r.conda_env), path(r, r.script)) for r in parsed_rules(configfile)}


def target_rules(configfile: str = "config/test.yaml") -> set[str]:
    """Rules that only gather other rules' outputs (`all`, `study`): they run nothing."""
    return {r.name for r in parsed_rules(configfile) if r.norun}
