"""What the workflow derives from its config (miam.workflow.pipeline), and what it may import."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from miam.workflow import pipeline

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "src" / "miam"
SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())


def test_strategy_parameters_match_the_strategy_classes():
    from miam.core.masking.base import REGISTRY

    assert list(pipeline.STRATEGY_PARAMETERS) == list(REGISTRY)
    for kind, cls in REGISTRY.items():
        parameters = list(inspect.signature(cls.__init__).parameters.values())[2:]
        table = {p.name: p.default for p in parameters if p.name != "modality_names"}
        assert pipeline.STRATEGY_PARAMETERS[kind] == table, kind


def test_schema_lists_every_strategy_kind():
    kinds = SCHEMA["properties"]["strategies"]["additionalProperties"]["properties"]["kind"]
    assert kinds["enum"] == list(pipeline.STRATEGY_PARAMETERS)


def library_defaults(cls) -> dict:
    """A settings dataclass's defaults, or a function's keyword defaults."""
    if dataclasses.is_dataclass(cls):
        return {f.name: f.default for f in dataclasses.fields(cls)}
    return {
        name: p.default
        for name, p in inspect.signature(cls).parameters.items()
        if p.default is not inspect.Parameter.empty
    }


@pytest.mark.parametrize(
    ("where", "module", "name", "without_default"),
    [
        ("model", "miam.core.model", "ModelConfig", ()),
        ("training", "miam.runs.training", "TrainConfig", ()),
        # model_seed picks the workflow's models; analyses default per reader.
        (
            "contributions",
            "miam.analysis.contribution_settings",
            "ContributionSettings",
            ("model_seed", "analyses"),
        ),
        ("datasets.*.split", "miam.core.split", "split_samples", ()),
    ],
)
def test_schema_defaults_are_the_library_defaults(where, module, name, without_default):
    block = SCHEMA
    for key in where.split("."):
        block = block["additionalProperties"] if key == "*" else block["properties"][key]
    library = library_defaults(getattr(importlib.import_module(module), name))
    if name == "ContributionSettings":
        del library["analyses"]  # a default_factory: the reader's analyses
    schema = {k: v["default"] for k, v in block["properties"].items() if "default" in v}
    assert schema == library
    assert set(block["properties"]) - set(schema) == set(without_default)
    if where in SCHEMA["$defs"]:
        # Every key with a default is one the block accepts, and the dataset blocks get none.
        assert set(schema) == set(SCHEMA["$defs"][where]["properties"])
        assert all("default" not in v for v in SCHEMA["$defs"][where]["properties"].values())


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


def test_a_dataset_without_late_fusion_trains_no_unimodal_model():
    config = {
        "strategies": {"uniform": {"kind": "uniform"}},
        "datasets": {
            "d": {"reader": "geoplant", "subsets": {"pair": {"tabular": "all", "satellite": "all"}}}
        },
    }
    assert ("unimodal", "tabular") in pipeline.model_runs(config, "d")
    config["datasets"]["d"]["late_fusion"] = False
    assert pipeline.model_runs(config, "d") == [("train", "uniform"), ("oracle", "pair")]


# --- What the Snakefile imports: no torch, and imports that run one way ---------------------


def workflow_imports() -> list[str]:
    """The import lines of miam modules in the Snakefile and its rule files (top level)."""
    found = []
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        found += re.findall(r"^(?:from miam\S* import .+|import miam\S*)$", path.read_text(), re.M)
    return found


def test_parsing_the_workflow_imports_no_torch():
    imports = workflow_imports()
    assert "from miam.workflow import pipeline" in imports
    code = "\n".join([*imports, "import sys", "print('torch' in sys.modules)"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False", f"{imports} import torch"


def test_package_layers_hold():
    """The import-linter contracts in pyproject.toml (layers; the core needs no data libraries)."""
    done = subprocess.run(["lint-imports"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:]


def test_package_builds_no_results_path():
    for path in PACKAGE.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            assert not re.search(r"[\"'{/]results/", line), f"{path}:{number}: {line.strip()}"


def test_slurm_profile_placeholders_are_named_until_edited():
    """The shipped profile's account and partitions are placeholders, each named with its key;
    the workflow refuses to submit with them (workflow/rules/common.smk, onstart)."""
    profile = yaml.safe_load((REPO / pipeline.SLURM_PROFILE).read_text())
    found = pipeline.slurm_placeholders(profile["default-resources"], profile["set-resources"])
    assert found == [
        "default-resources: slurm_account = my_account",
        "default-resources: slurm_partition = my_gpu_partition",
        f"set-resources (generate_dataset and {len(profile['set-resources']) - 1} more): "
        "slurm_partition = my_cpu_partition",
    ]
    message = pipeline.slurm_placeholder_message(found)
    assert pipeline.SLURM_PROFILE in message and "EDIT" in message
    edited = {"slurm_account": '"lab42"', "slurm_partition": "gpu", "gpu": 1}
    assert pipeline.slurm_placeholders(edited, {"tables": {"slurm_partition": "cpu"}}) == []


def typed_results_paths() -> dict[str, list[str]]:
    """Each results path typed as a string in the Snakefile or a rule file (placeholders as
    {}) -> where: file and line."""
    found: dict[str, list[str]] = {}
    for path in [REPO / "Snakefile", *sorted((REPO / "workflow" / "rules").glob("*.smk"))]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            for typed in re.findall(r"""["'](results/[^"'\s]*)["']""", line):
                pattern = re.sub(r"\{+[^{}]*\}+", "{}", typed)
                found.setdefault(pattern, []).append(f"{path.name}:{number}")
    return found


def test_no_results_path_is_typed_twice():
    """One helper per family of paths (common.smk) builds every path that rules share."""
    typed = typed_results_paths()
    assert "results/{}/tokens" in typed  # the search sees f-strings with placeholders
    twice = {pattern: where for pattern, where in typed.items() if len(where) > 1}
    assert not twice, twice
    folders = [(a, b) for a in typed for b in typed if b.startswith(a + "/")]
    assert not folders, f"a path typed inside another's folder: {folders}"


def test_closing_message_lists_the_pages_in_reading_order(tmp_path):
    assert pipeline.where_to_look(["d"], str(tmp_path)).startswith("Done. No page or table")
    reports = tmp_path / "d" / "reports"
    reports.mkdir(parents=True)
    for page in ["ablation", "comparison", "contributions", "dynamics"]:
        (reports / f"{page}.html").write_text("")
    message = pipeline.where_to_look(["d"], str(tmp_path))
    assert message.startswith("Done. Open the pages")
    listed = message.splitlines()[1].split(": ", 1)[1].split(", ")
    assert [Path(page).stem for page in listed] == list(pipeline.PAGES)


def test_closing_message_names_the_study_page_after_a_study(tmp_path):
    page = tmp_path / "study" / "decisive" / "study.html"
    assert pipeline.where_to_look(["d"], str(tmp_path), [str(page)]).startswith("Done. No page")
    page.parent.mkdir(parents=True)
    page.write_text("")
    message = pipeline.where_to_look(["d"], str(tmp_path), [str(page)])
    assert message.splitlines()[0] == "Done. Open the study's page in a browser:"
    assert f"python -m miam.analysis.study {page.parent}" in message
