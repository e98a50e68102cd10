"""What the workflow derives from its config (miam.pipeline), and what it may import to do so."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from helpers import static_imports

from miam import pipeline

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "miam"
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_strategy_parameters_match_the_strategy_classes():
    from miam.masking.base import REGISTRY

    assert list(pipeline.STRATEGY_PARAMETERS) == list(REGISTRY)
    for kind, cls in REGISTRY.items():
        parameters = list(inspect.signature(cls.__init__).parameters.values())[2:]
        table = {p.name: p.default for p in parameters if p.name != "modality_names"}
        assert pipeline.STRATEGY_PARAMETERS[kind] == table, kind


def test_schema_lists_every_strategy_kind():
    kinds = SCHEMA["properties"]["strategies"]["additionalProperties"]["properties"]["kind"]
    assert kinds["enum"] == list(pipeline.STRATEGY_PARAMETERS)


@pytest.mark.parametrize(
    ("key", "module", "name"),
    [("model", "miam.model", "ModelConfig"), ("training", "miam.training", "TrainConfig")],
)
def test_schema_defaults_are_the_library_defaults(key, module, name):
    cls = getattr(importlib.import_module(module), name)
    defaults = {k: v["default"] for k, v in SCHEMA["properties"][key]["properties"].items()}
    assert defaults == {f.name: f.default for f in dataclasses.fields(cls)}
    # Every key with a default is one the block accepts, and the dataset blocks get none.
    assert set(defaults) == set(SCHEMA["$defs"][key]["properties"])
    assert all("default" not in v for v in SCHEMA["$defs"][key]["properties"].values())


def strategy_error(spec: dict) -> str:
    with pytest.raises(ValueError) as error:
        pipeline.check_strategy("s", spec)
    return str(error.value)


def test_strategy_check_names_the_offending_key():
    assert "'miamm'" in strategy_error({"kind": "miamm"})
    assert "kapa" in strategy_error({"kind": "miam", "kapa": 3.0})
    assert "accepted: kappa, lam" in strategy_error({"kind": "miam", "kapa": 3.0})
    assert "strategies.s.kappa" in strategy_error({"kind": "miam", "kappa": "ten"})
    assert "needs `availability`" in strategy_error({"kind": "deployment"})
    pipeline.check_strategy("s", {"kind": "miam", "kappa": 3, "corner_weights": "uniform"})


def test_unimodal_models_reuse_single_modality_oracles():
    dataset = {
        "reader": "geoplant",
        "subsets": {
            "tab only": {"tabular": "all"},
            "bio1": {"tabular": ["bio1"]},
            "pair": {"timeseries": "all", "satellite": "all"},
        },
    }
    assert pipeline.unimodal_models(dataset) == {
        "tabular": ("oracle", "tab only"),
        "timeseries": ("unimodal", "timeseries"),
        "satellite": ("unimodal", "satellite"),
    }
    without_oracles = pipeline.unimodal_models(dataset | {"oracles": False})
    assert set(without_oracles.values()) == {
        ("unimodal", m) for m in ["tabular", "timeseries", "satellite"]
    }


# --- What the Snakefile imports: no torch, and imports that run one way ---------------------


def workflow_imports() -> list[str]:
    """The import lines of miam modules in the Snakefile and its rule files (top level)."""
    found = []
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        found += re.findall(r"^(?:from miam\S* import .+|import miam\S*)$", path.read_text(), re.M)
    return found


def test_parsing_the_workflow_imports_no_torch():
    imports = workflow_imports()
    assert "from miam import pipeline" in imports
    code = "\n".join([*imports, "import sys", "print('torch' in sys.modules)"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", f"{imports} import torch"


def package_import_graph() -> dict[str, set[str]]:
    """miam module -> the miam modules it imports (at any depth of its code), from the source."""
    names = {
        ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__")
        for path in PACKAGE.rglob("*.py")
    }
    graph = {}
    for path in PACKAGE.rglob("*.py"):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module[:-9]
        module = module.removesuffix(".__init__")
        imported = static_imports(ast.parse(path.read_text()), package)
        graph[module] = {name for name in imported if name in names and name != module}
    return graph


def test_package_imports_have_no_cycle():
    graph = package_import_graph()
    assert "miam.runtime" in graph["miam.training"]
    done, on_path = set(), []

    def visit(module):
        if module in on_path:
            cycle = [*on_path[on_path.index(module) :], module]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        if module in done:
            return
        on_path.append(module)
        for imported in sorted(graph[module]):
            # A package imports its own modules (masking/__init__ registers its strategies).
            if not imported.startswith(module + "."):
                visit(imported)
        on_path.pop()
        done.add(module)

    for module in sorted(graph):
        visit(module)


def test_package_builds_no_results_path():
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.search(r"[\"'{/]results/", line), f"{path}:{number}: {line.strip()}"
