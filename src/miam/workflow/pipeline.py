"""What the workflow derives from its config: subsets, strategy specs, checks, run settings.

Kept out of the Snakefile so that it is tested like the rest of the package. The Snakefile
imports it on every parse, once per SLURM job too, so it imports neither torch nor the model:
strategy parameters are checked against `STRATEGY_PARAMETERS`, a plain table that
tests/test_pipeline.py compares with the signatures of `miam.core.masking`'s classes.
"""

from __future__ import annotations

import math
import string
from fnmatch import fnmatchcase
from pathlib import Path

from miam.analysis.contribution_settings import contribution_options
from miam.core.availability import deployment_availability, target_availability
from miam.core.options import REQUIRED, check_names, filled_options
from miam.core.subsets import SubsetSpec, modality_subsets
from miam.inputs.tokenize import generic_spec

# Modalities each reader produces, in model order (checked against subsets before any job runs).
# The generic reader's are the ones its options declare (`modalities`).
READER_MODALITIES = {
    "geoplant": ["tabular", "timeseries", "satellite"],
    "taxabench": ["image", "satellite", "audio", "environment", "location"],
}

# Keyword options of each reader with a fixed layout and their defaults (tests/test_own_data.py
# compares them with the signatures of the `tokenize_<reader>` functions, which import torch).
# The generic reader's options are `miam.inputs.tokenize.generic_spec`'s.
READER_OPTIONS: dict[str, dict[str, object]] = {
    "geoplant": {
        "split": "train",
        "min_occurrences": 21,
        "patch": 16,
        "per_band": False,
        "max_species": None,
        "layout": None,
    },
    "taxabench": {
        "min_occurrences": 5,
        "max_species": None,
        "image_size": 64,
        "image_patch": 16,
        "satellite_size": 64,
        "satellite_patch": 16,
        "satellite_bands": 4,
        "audio": None,
        "location_frequencies": (1, 2, 4, 8, 16, 32),
        "layout": None,
    },
}
GEOPLANT_TILE_SIZE = 64
GEOPLANT_BANDS = ("R", "G", "B", "NIR")


# Keyword parameters of each masking strategy (`kind`) and their defaults, in the order of
# miam.core.masking.STRATEGIES (REQUIRED: the config, or the workflow, gives it); `modality_names`
# is the trainer's, not the config's.
STRATEGY_PARAMETERS: dict[str, dict[str, object]] = {
    "constant": {"rate": 0.75},
    "uniform": {},
    "dirichlet": {"tokens_per_modality": None, "visible_fraction": None},
    "modality_dropout": {"rate": 0.1},
    "opm": {"q_base": 0.5, "lam": 0.5, "apply_prob": 0.7, "warmup_fraction": 0.06},
    "uniform_hypercube": {},
    "beta_hypercube": {"kappa": 10.0, "corner_weights": "critical"},
    "miam": {
        "kappa": 10.0,
        "lam": 1.0,
        "corner_weights": "critical",
        "d_smoothing": 0.5,
        "eps": 1e-4,
        "max_log_imbalance": math.log(5.0),
    },
    "curriculum": {"start_rate": 0.1, "end_rate": 0.75, "ramp_fraction": 0.8, "schedule": "linear"},
    "deployment": {"availability": REQUIRED, "data_availability": None, "token_rate": 0.0},
}

# The two late-fusion baselines, as named in evaluation rows and table rows.


def modalities(dataset: dict) -> list[str]:
    """The dataset's modalities in model order: its reader's, or those its generic reader's
    options declare."""
    if dataset["reader"] == "generic":
        return list(dataset.get("reader_options", {}).get("modalities", {}))
    return READER_MODALITIES[dataset["reader"]]


def _grid_names(grid: int, bands=None) -> list[str]:
    cells = [f"r{r}c{c}" for r in range(grid) for c in range(grid)]
    return cells if bands is None else [f"{b}/{cell}" for b in bands for cell in cells]


def declared_tokens(dataset: dict) -> dict[str, list[str] | None]:
    """Modality -> token names where the reader and its options fix them before any data is
    read; None where they depend on the data (tables' columns, series steps, raster bands)."""
    options = dataset.get("reader_options", {})
    reader = dataset["reader"]
    if reader == "generic":
        return generic_spec.declared_tokens(generic_spec.parse_options(options))
    given = {**READER_OPTIONS[reader], **options}
    if reader == "geoplant":
        grid = GEOPLANT_TILE_SIZE // given["patch"]
        return {
            "tabular": None,
            "timeseries": [f"climate/{y}" for y in range(2000, 2019)]
            + [f"landsat/{y}" for y in range(2000, 2021)],
            "satellite": _grid_names(grid, GEOPLANT_BANDS if given["per_band"] else None),
        }
    audio = given["audio"] or {}
    blocks, bands = audio.get("time_blocks", 4), audio.get("freq_bands", 4)
    return {
        "image": _grid_names(given["image_size"] // given["image_patch"]),
        "satellite": _grid_names(given["satellite_size"] // given["satellite_patch"]),
        "audio": [f"t{i}f{j}" for i in range(blocks) for j in range(bands)],
        "environment": ["elevation"] + [f"bio{i}" for i in range(1, 20)],
        "location": ["latlon"],
    }


def named_subsets(dataset: dict) -> dict[str, SubsetSpec]:
    """The dataset's table columns: its explicit subsets, then every modality combination."""
    subsets = dict(dataset.get("subsets", {}))
    if dataset.get("modality_subsets"):
        for name, spec in modality_subsets(modalities(dataset)).items():
            subsets.setdefault(name, spec)
    return subsets


def context_subsets(dataset: dict) -> dict[str, SubsetSpec]:
    """'context_k': only the k most recent years of the context modality, k = 1..n_years."""
    context = dataset.get("climate_context")
    if not context:
        return {}
    first, last = context["years"]
    years = list(range(last, first - 1, -1))
    return {
        f"context_{k}": {
            context["modality"]: [context["token_pattern"].format(year=y) for y in years[:k]]
        }
        for k in range(1, len(years) + 1)
    }


def evaluation_subsets(dataset: dict) -> dict[str, tuple[str, SubsetSpec]]:
    """Every subset a masked model is evaluated on, with its family.

    named: the table columns; modalities: all 2^M - 1 modality combinations (deployment score,
    Shapley values); context: the climate-context curve.
    """
    out = {name: ("named", spec) for name, spec in named_subsets(dataset).items()}
    for name, spec in modality_subsets(modalities(dataset)).items():
        if name in out and out[name][1] != spec:
            raise ValueError(f"subset {name!r} is a modality combination name with another spec")
        out.setdefault(name, ("modalities", spec))
    for name, spec in context_subsets(dataset).items():
        out[name] = ("context", spec)
    return out


def unimodal_models(dataset: dict) -> dict[str, tuple[str, str]]:
    """Modality -> (family, name) of the model late fusion uses for it, in model order.

    The oracle of a named subset that is exactly {m: "all"} when oracles are trained (no model is
    trained twice): ("oracle", subset); otherwise ("unimodal", m), trained for late fusion alone.
    """
    oracle_of = {}
    if dataset.get("oracles", True):
        for name, spec in named_subsets(dataset).items():
            if len(spec) == 1 and list(spec.values()) == ["all"]:
                oracle_of.setdefault(next(iter(spec)), name)
    return {
        m: ("oracle", oracle_of[m]) if m in oracle_of else ("unimodal", m)
        for m in modalities(dataset)
    }


def model_runs(config: dict, name: str) -> list[tuple[str, str]]:
    """(family, name) of every model a dataset trains per seed, in training order: the
    strategies ("train"), the oracles ("oracle", one per named subset) and the unimodal models
    late fusion needs where no single-modality oracle exists ("unimodal")."""
    dataset = config["datasets"][name]
    runs = [("train", strategy) for strategy in config["strategies"]]
    if dataset.get("oracles", True):
        runs += [("oracle", subset) for subset in named_subsets(dataset)]
    runs += [run for run in unimodal_models(dataset).values() if run[0] == "unimodal"]
    return runs


def run_jobs(config: dict, name: str) -> list[list[tuple[str, str]]]:
    """`model_runs` cut into training jobs of at most `jobs.runs_per_job` runs each.

    One run per job suits a cluster (each run may take hours on a GPU); many per job save a
    laptop the start-up of Python and torch in every job, and keep one small model from leaving
    a GPU idle.
    """
    runs = model_runs(config, name)
    size = config["jobs"]["runs_per_job"]
    return [runs[start : start + size] for start in range(0, len(runs), size)]


def strategy_spec(config: dict, dataset: str, strategy: str) -> dict:
    """The strategy's config entry; `deployment` takes the dataset's profile unless it has one."""
    spec = dict(config["strategies"][strategy])
    if spec["kind"] == "deployment" and "availability" not in spec:
        spec["availability"] = deployment_availability(config["datasets"][dataset])
    return spec


def run_settings(config: dict, dataset: str, key: str) -> dict:
    """`model` or `training` settings: the global ones, overridden by the dataset's."""
    return {**config.get(key, {}), **config["datasets"][dataset].get(key, {})}


def check_config(config: dict) -> None:
    """Errors that the schema cannot see, each naming the offending key."""
    for name, dataset in config["datasets"].items():
        where = f"datasets.{name}"
        source = dataset["source"]
        if source["kind"] == "synthetic" and "generator" not in source:
            raise ValueError(f"{where}.source: a synthetic source needs `generator`")
        if source["kind"] == "download" and "dataset_config" not in source:
            raise ValueError(f"{where}.source: a download source needs `dataset_config`")
        if source["kind"] == "local" and "path" not in source:
            raise ValueError(f"{where}.source: a local source needs `path` (a file or a folder)")
        check_reader_options(dataset, where)
        names = modalities(dataset)
        tokens = declared_tokens(dataset)
        subsets = named_subsets(dataset)
        if not subsets:
            raise ValueError(f"{where}: no subsets (give `subsets` or `modality_subsets: true`)")
        for subset, spec in subsets.items():
            check_subset_tokens(f"{where}.subsets.{subset}", spec, dataset, tokens)
        for subset in dataset.get("weak_subsets", []):
            if subset not in subsets:
                raise ValueError(f"{where}.weak_subsets: {subset!r} is not a subset")
        context = dataset.get("climate_context")
        if context:
            check_climate_context(f"{where}.climate_context", context, names, tokens)
        check_split(f"{where}.split", dataset)
        try:
            target_availability(deployment_availability(dataset), dict.fromkeys(names, 1.0))
        except ValueError as error:
            raise ValueError(f"{where}.deployment.availability: {error}") from error
        for strategy in config["strategies"]:
            check_strategy(strategy, strategy_spec(config, name, strategy))
        check_contributions(config, name)


def check_reader_options(dataset: dict, where: str) -> None:
    """The reader's options: the generic reader's against `generic_spec`, the others' names
    against `READER_OPTIONS`."""
    options = dataset.get("reader_options", {})
    reader = dataset["reader"]
    if reader == "generic":
        generic_spec.parse_options(options, f"{where}.reader_options")
        return
    check_names(options, READER_OPTIONS[reader], f"{where}.reader_options", f"the {reader} reader")


def check_subset_tokens(where: str, spec: SubsetSpec, dataset: dict, tokens: dict) -> None:
    """Each modality of a subset is the dataset's, and each glob matches a declared token
    (where the tokens are known before reading; the others are checked after tokenization)."""
    names = modalities(dataset)
    for modality, selection in spec.items():
        if modality not in names:
            raise ValueError(
                f"{where}: unknown modality {modality!r}; the {dataset['reader']} reader "
                f"gives {names}"
            )
        known = tokens.get(modality)
        if selection == "all" or known is None:
            continue
        for pattern in selection:
            if not any(fnmatchcase(token, pattern) for token in known):
                raise ValueError(
                    f"{where}.{modality}: {pattern!r} matches no token of {modality!r} "
                    f"(tokens: {', '.join(known[:12])}{'...' if len(known) > 12 else ''})"
                )


def check_climate_context(where: str, context: dict, names: list[str], tokens: dict) -> None:
    if context["modality"] not in names:
        raise ValueError(f"{where}.modality: unknown {context['modality']!r}; modalities: {names}")
    pattern = context["token_pattern"]
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as error:
        raise ValueError(f"{where}.token_pattern: {pattern!r}: {error}") from error
    if fields != ["year"]:
        raise ValueError(
            f"{where}.token_pattern: {pattern!r} needs exactly one {{year}} field "
            "(e.g. climate/{year})"
        )
    first, last = context["years"]
    if first > last:
        raise ValueError(f"{where}.years: [first, last], got [{first}, {last}]")
    known = tokens.get(context["modality"])
    if known is not None:
        absent = [
            pattern.format(year=y)
            for y in range(first, last + 1)
            if pattern.format(year=y) not in known
        ]
        if absent:
            raise ValueError(
                f"{where}: no token {', '.join(absent[:5])} in {context['modality']!r} "
                f"(tokens: {', '.join(known[:8])}...)"
            )


def check_split(where: str, dataset: dict) -> None:
    split = dataset.get("split", {})
    kind = split.get("kind", "spatial")
    options = dataset.get("reader_options", {})
    generic = dataset["reader"] == "generic"
    if kind == "spatial":
        if generic and "coordinates" in options and options["coordinates"] in ("none", None, False):
            raise ValueError(
                f"{where}.kind: a spatial split needs coordinates, and "
                f"reader_options.coordinates is none: use kind random or group"
            )
        if split.get("units", "degrees") == "degrees" and split.get("block_size", 5.0) > 360:
            raise ValueError(
                f"{where}.block_size: {split['block_size']} degrees is more than the globe; "
                "a block size in metres needs units: metres"
            )
    if kind == "group" and not (generic and options.get("group")):
        raise ValueError(
            f"{where}.kind: a group split needs each sample's group: the generic reader's "
            "reader_options.group (a column of the sample table)"
        )


def check_contributions(config: dict, name: str) -> None:
    """The contribution settings of a dataset: known options, analysed strategies that the
    config trains, analyses over the dataset's modalities."""
    where = f"datasets.{name}.contributions / contributions"
    try:
        options = contribution_options(config, name)
    except ValueError as error:
        raise ValueError(f"{where}: {error}") from error
    unknown = [s for s in options.get("strategies") or [] if s not in config["strategies"]]
    if unknown:
        raise ValueError(
            f"{where}.strategies: {', '.join(map(repr, unknown))} is not a strategy of the "
            f"config; strategies: {', '.join(config['strategies'])}"
        )
    names = modalities(config["datasets"][name])
    for analysis, spec in (options.get("analyses") or {}).items():
        if spec.get("modality") not in names:
            raise ValueError(
                f"{where}.analyses.{analysis}.modality: {spec.get('modality')!r} is not a "
                f"modality of the dataset ({', '.join(names)})"
            )


def check_strategy(name: str, spec: dict) -> None:
    """The strategy's kind, parameter names and value types, against `STRATEGY_PARAMETERS`.

    Ranges (a rate in [0, 1], kappa > 0) are the strategy's own checks, made when a job builds it.
    """
    kind = spec["kind"]
    if kind not in STRATEGY_PARAMETERS:
        raise ValueError(
            f"strategies.{name}.kind: unknown masking strategy {kind!r}; "
            f"known: {', '.join(STRATEGY_PARAMETERS)}"
        )
    accepted = STRATEGY_PARAMETERS[kind]
    given = {key: value for key, value in spec.items() if key != "kind"}
    filled_options(given, accepted, f"strategies.{name}", f"masking strategy {kind!r}")
    for key, default in accepted.items():
        if key in given and not _same_type(given[key], default):
            raise ValueError(
                f"strategies.{name}.{key}: {given[key]!r} is not a {type(default).__name__}"
            )


def _same_type(value, default) -> bool:
    """A number where the default is one, a string where it is one; anything else goes."""
    if isinstance(default, float):
        return isinstance(value, int | float) and not isinstance(value, bool)
    if isinstance(default, str):
        return isinstance(value, str)
    return True


# --- Degenerate comparisons -----------------------------------------------------------------


def _canonical(spec: SubsetSpec, tokens: dict) -> tuple:
    """A subset as the tokens it shows, where they are known (a glob list covering every
    declared token of a modality is "all")."""
    items = []
    for modality, selection in spec.items():
        known = tokens.get(modality)
        if selection != "all" and known is not None:
            shown = tuple(t for t in known if any(fnmatchcase(t, p) for p in selection))
            selection = "all" if shown == tuple(known) else shown
        elif selection != "all":
            selection = tuple(sorted(selection))
        items.append((modality, selection))
    return tuple(sorted(items))


def comparison_notes(dataset: dict) -> list[str]:
    """Why the dataset's comparison of strategies is degenerate, if it is: one modality (the
    modality-level strategies, late fusion and the oracle then coincide), or named subsets that
    show the same tokens (the same column twice)."""
    notes = []
    names = modalities(dataset)
    if len(names) == 1:
        notes.append(
            f"One modality ({names[0]}): modality dropout, both late-fusion rows and the oracle "
            "are the same model (a per-modality choice has nothing to choose between), and "
            "MIAM's and OPM's balancing of modalities does nothing; only token-level masking "
            "differs. Declare a second modality to compare strategies."
        )
    try:
        tokens = declared_tokens(dataset)
    except ValueError:
        tokens = {}
    seen: dict[tuple, str] = {}
    for subset, spec in named_subsets(dataset).items():
        key = _canonical(spec, tokens)
        if key in seen:
            notes.append(
                f"Subsets {seen[key]} and {subset} show the same tokens: their columns "
                "compare the same input twice."
            )
        else:
            seen[key] = subset
    return notes


def comparison_note(dataset: dict) -> str:
    """The notes of `comparison_notes` as one line for under the main table ('' if none)."""
    return " ".join(f"Degenerate comparison: {note}" for note in comparison_notes(dataset))


# The SLURM profile's placeholders: values the user must replace before anything is submitted.
SLURM_PROFILE = "slurm/config.yaml"
PLACEHOLDER_PREFIX = "my_"
SLURM_SETTINGS = ("slurm_account", "slurm_partition")


def slurm_placeholders(
    default_resources: dict[str, object], rule_resources: dict[str, dict[str, object]]
) -> list[str]:
    """Where the profile still holds a placeholder (`my_...`) for an account or partition.

    default_resources: the profile's `default-resources` (raw values, as Snakemake parsed them);
    rule_resources: its `set-resources`, rule -> resources. Returns one line per key, e.g.
    `default-resources: slurm_account = my_account`, rules grouped per placeholder value.
    Values typed as `my_...` are the profile's placeholders.
    """

    def placeholder(value) -> str | None:
        text = str(value).strip("'\" ")
        return text if text.startswith(PLACEHOLDER_PREFIX) else None

    found = [
        f"default-resources: {key} = {placeholder(default_resources[key])}"
        for key in SLURM_SETTINGS
        if key in default_resources and placeholder(default_resources[key])
    ]
    per_value: dict[tuple[str, str], list[str]] = {}
    for rule, resources in rule_resources.items():
        for key in SLURM_SETTINGS:
            value = placeholder(resources.get(key))
            if value:
                per_value.setdefault((key, value), []).append(rule)
    found += [
        f"set-resources ({rules[0]}"
        + (f" and {len(rules) - 1} more" if len(rules) > 1 else "")
        + f"): {key} = {value}"
        for (key, value), rules in per_value.items()
    ]
    return found


def slurm_placeholder_message(found: list[str]) -> str:
    lines = "\n".join(f"  {line}" for line in found)
    return (
        f"{SLURM_PROFILE} still holds placeholders:\n{lines}\n"
        f"Replace them (the lines marked EDIT in {SLURM_PROFILE}) with your cluster's account "
        "and partition names (`sacctmgr show assoc user=$USER`, `sinfo -s` list them)."
    )


def where_to_look(datasets: list[str], results: str) -> str:
    """What a finished run prints last: the pages, tables and report of each dataset it built."""
    lines = ["Done. Open the pages in a browser (the comparison page first):"]
    for name in datasets:
        folder = Path(results) / name
        pages = sorted((folder / "reports").glob("*.html"))
        if pages:
            lines.append(f"  {name}: {', '.join(str(page) for page in pages)}")
        if (folder / "tables" / "main.md").exists():
            lines.append(f"    tables: {folder / 'tables'}/ (main.md, claims.md, ...)")
    lines += [
        "One page with every table and figure: snakemake --report report.html",
        "Refresh the README's results block and docs/results.md: python -m miam.analysis.summary",
    ]
    return "\n".join(lines)
