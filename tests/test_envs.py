"""The conda environments of the rules (envs/*.yaml) hold what their jobs import.

No conda channel is reachable where CI runs, so `--sdm conda` is not exercised; instead every
third-party module that a rule's script, the `miam` modules it reaches and (for notebook rules)
the notebooks import must be listed in the rule's environment file, and the files must not
point at paths, which break once Snakemake deploys its own copy of the file. Each rule's
environment and script come from Snakemake's own parse of the workflow (`helpers.workflow_rules`),
so the rules written in `for` loops (training, evaluation) are checked like the others.
"""

from __future__ import annotations

import ast
import importlib.metadata
import json
import re
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from helpers import REPO, static_imports, target_rules, workflow_rules

RULES = workflow_rules()
PACKAGE = REPO / "src"
# conda-forge names of packages whose PyPI name differs.
CONDA_NAMES = {"pysoundfile": "soundfile", "pytorch": "torch"}


def rule_environments() -> dict[Path, set[Path]]:
    """Environment file -> the scripts of the rules that use it."""
    found: dict[Path, set[Path]] = {}
    for name, (env, script) in RULES.items():
        if name in target_rules():  # they only gather others' outputs: nothing runs
            continue
        assert env and script, f"rule {name} lacks conda or script"
        found.setdefault(env, set()).add(script)
    return found


def module_path(name: str) -> Path | None:
    parts = PACKAGE.joinpath(*name.split("."))
    for path in (parts.with_suffix(".py"), parts / "__init__.py"):
        if path.is_file():
            return path
    return None


def imported_modules(tree: ast.AST, package: str) -> set[str]:
    """Every module `tree` imports, at any depth; a dynamic `import_module(f"miam.x.y_{...}")`
    counts as importing every miam module whose name starts with its constant part."""
    names = static_imports(tree, package)
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", "")) == "import_module"
            and isinstance(node.args[0], ast.JoinedStr)
            and isinstance(node.args[0].values[0], ast.Constant)
        ):
            prefix = node.args[0].values[0].value
            names |= {
                ".".join(p.relative_to(PACKAGE).with_suffix("").parts)
                for p in PACKAGE.joinpath("miam").rglob("*.py")
                if ".".join(p.relative_to(PACKAGE).with_suffix("").parts).startswith(prefix)
            }
    return names


def notebook_tree(path: Path) -> ast.Module:
    cells = json.loads(path.read_text())["cells"]
    code = [
        "\n".join(line for line in "".join(cell["source"]).splitlines() if line[:1] not in "%!")
        for cell in cells
        if cell["cell_type"] == "code"
    ]
    return ast.parse("\n".join(code))


def third_party_imports(scripts: set[Path]) -> set[str]:
    """Top-level names of the non-stdlib, non-miam modules the scripts reach."""
    trees = []
    for script in scripts:
        trees.append((ast.parse(script.read_text()), ""))
        if script.name == "notebook.py":  # papermill runs the notebooks in the same env
            trees += [
                (notebook_tree(nb), "") for nb in (REPO / "workflow" / "notebooks").glob("*.ipynb")
            ]
    seen, outside = set(), set()
    while trees:
        tree, package = trees.pop()
        for name in imported_modules(tree, package):
            top = name.split(".")[0]
            if top != "miam":
                if top not in sys.stdlib_module_names:
                    outside.add(top)
            elif name not in seen and (path := module_path(name)):
                seen.add(name)
                own_package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
                trees.append((ast.parse(path.read_text()), own_package))
    return outside


def listed_packages(env: Path) -> set[str]:
    """Normalised names of the conda and pip packages an environment file lists."""
    spec = yaml.safe_load(env.read_text())
    entries = []
    for item in spec["dependencies"]:
        entries += item["pip"] if isinstance(item, dict) else [item]
    names = {re.split(r"[<>=!~ \[;]", entry.strip(), maxsplit=1)[0].lower() for entry in entries}
    return {CONDA_NAMES.get(name, name).replace("_", "-") for name in names}


DISTRIBUTIONS = importlib.metadata.packages_distributions()


def missing_from(listed: set[str], scripts: set[Path]) -> list[str]:
    """The third-party modules the scripts reach that no entry of `listed` provides."""
    missing = []
    for module in sorted(third_party_imports(scripts)):
        candidates = {d.lower().replace("_", "-") for d in DISTRIBUTIONS.get(module, [module])}
        if not candidates & listed:
            missing.append(f"{module} ({', '.join(sorted(candidates))})")
    return missing


@pytest.mark.parametrize("env", sorted(rule_environments()), ids=lambda path: path.name)
def test_environment_lists_every_module_its_rules_import(env):
    missing = missing_from(listed_packages(env), rule_environments()[env])
    assert not missing, f"{env.name} lacks {missing}"


@pytest.mark.parametrize("kind", ["train", "evaluate"])
def test_a_planted_omission_in_a_looped_rule_environment_is_found(kind):
    """The rules written in `for` loops are seen: leaving any of their imports out of their
    environment fails the check."""
    rules = [name for name in RULES if name.startswith(f"{kind}_")]
    assert rules, f"no {kind}_<dataset> rule seen"
    env, script = RULES[rules[0]]
    reached = third_party_imports({script})
    assert "torch" in reached
    for module in reached:
        provided = {d.lower().replace("_", "-") for d in DISTRIBUTIONS.get(module, [module])}
        planted = listed_packages(env) - provided
        assert any(m.startswith(f"{module} ") for m in missing_from(planted, {script})), module


def test_the_extras_list_every_module_the_workflow_imports():
    """`pip install -e .[data,workflow]` runs every rule's script, as the environments do."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    extras = pyproject["optional-dependencies"]
    declared = pyproject["dependencies"] + extras["data"] + extras["workflow"]
    listed = {re.split(r"[<>=!~ \[;]", d, maxsplit=1)[0].lower() for d in declared}
    scripts = set().union(*rule_environments().values())
    missing = missing_from({name.replace("_", "-") for name in listed}, scripts)
    assert not missing, f"pyproject.toml's extras lack {missing}"


def test_the_lowest_torch_declared_is_the_one_tested():
    """pyproject's lower bound is the version CI installs (.ci/run) and the envs pin."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    bound = next(d for d in pyproject["dependencies"] if d.startswith("torch"))
    lowest = bound.split(">=")[1]
    assert f"torch=={lowest}" in (REPO / ".ci" / "run").read_text()
    for env in (REPO / "envs").glob("*.yaml"):
        pins = re.findall(r"torch([=<>!~]=?[\d.]+)", env.read_text())
        assert pins in ([], [f"=={lowest}"]), f"{env.name}: torch{pins}"


@pytest.mark.parametrize("env", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_environment_file_holds_no_path(env):
    """Snakemake builds the environment from a copy under .snakemake/conda/, so a relative
    path (`-e ../`, `-r requirements.txt`, `file:`) would point elsewhere."""
    for line in env.read_text().splitlines():
        entry = line.split("#")[0].strip().removeprefix("- ")
        assert not re.match(r"(-e|-r|--editable|--requirement)\b|\.{0,2}/|file:", entry), line


def test_snakefile_asks_for_the_snakemake_that_pyproject_installs():
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    bound = next(d for d in extras["workflow"] if d.startswith("snakemake>="))
    required = re.search(r'min_version\("([\d.]+)"\)', (REPO / "Snakefile").read_text())[1]
    assert bound.split(">=")[1] == required
    # The formatters CI runs in check mode are pinned: a new release must not fail CI.
    assert {d.split("==")[0] for d in extras["dev"] if "==" in d} >= {"ruff", "snakefmt"}
