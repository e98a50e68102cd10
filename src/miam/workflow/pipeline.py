"""What the workflow derives from its config: subsets, strategy specs, checks, run settings.

Kept out of the Snakefile so that it is tested like the rest of the package. The Snakefile
imports it on every parse, once per SLURM job too, so it imports neither torch nor the model:
strategy parameters are checked against `STRATEGY_PARAMETERS`, a plain table that
tests/test_pipeline.py compares with the signatures of `miam.core.masking`'s classes.
"""

from __future__ import annotations

import itertools
import math
import string
from collections.abc import Iterable
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
    "uniform": {"per_batch": False},
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
        "rho_s_from": "score",
        "chance": None,
        "d_floor": "standard_error",
    },
    "fixed_imbalance": {
        "favoured": REQUIRED,
        "strength": 5.0,
        "kappa": 10.0,
        "corner_weights": "critical",
    },
    "curriculum": {"start_rate": 0.1, "end_rate": 0.75, "ramp_fraction": 0.8, "schedule": "linear"},
    "deployment": {"availability": REQUIRED, "data_availability": None, "token_rate": 0.0},
}

# The two late-fusion baselines, as named in evaluation rows and table rows.


# --- Strategy variants: list-valued parameters -----------------------------------------------


def swept_parameters(spec: dict) -> list[str]:
    """The parameters of a strategy entry given as lists: each value is a variant. Only a
    parameter that takes one number, string or boolean is swept (a list given to a
    per-modality parameter, such as dirichlet's `tokens_per_modality`, is its value)."""
    defaults = STRATEGY_PARAMETERS.get(spec["kind"], {})
    return [
        key
        for key, value in spec.items()
        if isinstance(value, list) and isinstance(defaults.get(key), bool | int | float | str)
    ]


def _value_text(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, int | float) else str(value)


def variant_name(family: str, values: dict) -> str:
    """'miam[lam=3,kappa=10]': the family and its swept values, in config order. Also the
    run's folder name (results/<dataset>/train/miam[lam=3,kappa=10]/seed0: quote it in a
    shell, where brackets are a glob)."""
    return f"{family}[{','.join(f'{key}={_value_text(v)}' for key, v in values.items())}]"


def strategy_variants(strategies: dict) -> dict[str, dict]:
    """Run name -> strategy spec with one value per parameter: every strategy of `strategies`
    (the config's block), and in place of one with list-valued parameters, a variant per
    combination of values (`variant_name`), in order."""
    variants = {}
    for family, spec in strategies.items():
        swept = swept_parameters(spec)
        if not swept:
            variants[family] = dict(spec)
            continue
        for key in swept:
            if not spec[key]:
                raise ValueError(f"strategies.{family}.{key}: an empty list of values")
        for values in itertools.product(*(spec[key] for key in swept)):
            chosen = dict(zip(swept, values, strict=True))
            variants[variant_name(family, chosen)] = spec | chosen
    return variants


def strategy_runs(config: dict, name: str) -> dict[str, dict]:
    """The strategy runs the dataset trains (run name -> spec): every variant of the config's
    strategies, or those its `strategies` names, each by its strategy's name (all of its
    variants) or its own (the study trains its costliest points on fewer)."""
    runs = strategy_variants(config["strategies"])
    chosen = config["datasets"][name].get("strategies")
    if chosen is None:
        return runs
    return {run: spec for run, spec in runs.items() if {run, family_of(run)} & set(chosen)}


def family_of(run: str) -> str:
    """The strategy a run belongs to: 'miam' for 'miam[lam=3]' (and for 'miam')."""
    return run.partition("[")[0]


def variant_families(config: dict, name: str) -> dict[str, list[str]]:
    """Family (a strategy with list-valued parameters) -> the run names of its variants that
    the dataset trains. Each family is also a table row: per seed, the variant chosen on
    validation (miam.analysis.selection)."""
    families: dict[str, list[str]] = {}
    for run in strategy_runs(config, name):
        if run != family_of(run):
            families.setdefault(family_of(run), []).append(run)
    return families


def strategy_rows(config: dict, name: str) -> list[str]:
    """The dataset's strategy rows of the tables, in config order: a family's selected row,
    then its variants; a strategy without variants is its own row."""
    rows = []
    for run in strategy_runs(config, name):
        if run != family_of(run) and family_of(run) not in rows:
            rows.append(family_of(run))
        rows.append(run)
    return rows


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


def all_inputs_subset(dataset: dict) -> str | None:
    """The named subset that shows every modality whole (GeoPlant's `all`, TaxaBench's
    five-modality combination), if there is one."""
    every = {m: "all" for m in modalities(dataset)}
    return next((name for name, spec in named_subsets(dataset).items() if spec == every), None)


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


def oracle_subsets(dataset: dict) -> list[str]:
    """The named subsets that get an oracle: all (`oracles: true`), none, or those listed."""
    oracles = dataset.get("oracles", True)
    if isinstance(oracles, list):
        return [name for name in named_subsets(dataset) if name in oracles]
    return list(named_subsets(dataset)) if oracles else []


def unimodal_models(dataset: dict) -> dict[str, tuple[str, str]]:
    """Modality -> (family, name) of the model late fusion uses for it, in model order.

    The oracle of a named subset that is exactly {m: "all"} when oracles are trained (no model is
    trained twice): ("oracle", subset); otherwise ("unimodal", m), trained for late fusion alone.
    """
    oracle_of = {}
    subsets = named_subsets(dataset)
    for name in oracle_subsets(dataset):
        spec = subsets[name]
        if len(spec) == 1 and list(spec.values()) == ["all"]:
            oracle_of.setdefault(next(iter(spec)), name)
    return {
        m: ("oracle", oracle_of[m]) if m in oracle_of else ("unimodal", m)
        for m in modalities(dataset)
    }


def model_runs(config: dict, name: str) -> list[tuple[str, str]]:
    """(family, name) of every model a dataset trains per seed, in training order: the
    strategies ("train"), the oracles ("oracle", one per named subset) and, unless the dataset
    turns late fusion off, the unimodal models late fusion needs where no single-modality
    oracle exists ("unimodal")."""
    dataset = config["datasets"][name]
    runs = [("train", run) for run in strategy_runs(config, name)]
    runs += [("oracle", subset) for subset in oracle_subsets(dataset)]
    if dataset.get("late_fusion", True):
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
    """The strategy's (or variant's) spec; `deployment` takes the dataset's profile and
    `fixed_imbalance` favours the dataset's pre-registered `weak_modalities`, unless the entry
    says otherwise."""
    spec = dict(strategy_variants(config["strategies"])[strategy])
    if spec["kind"] == "deployment" and "availability" not in spec:
        spec["availability"] = deployment_availability(config["datasets"][dataset])
    if spec["kind"] == "fixed_imbalance" and "favoured" not in spec:
        weak = config["datasets"][dataset].get("weak_modalities")
        if not weak:
            raise ValueError(
                f"datasets.{dataset}: strategy {strategy!r} favours the dataset's "
                "`weak_modalities`, which it does not name"
            )
        spec["favoured"] = list(weak)
    return spec


def run_settings(config: dict, dataset: str, key: str) -> dict:
    """`model` or `training` settings: the global ones, overridden by the dataset's."""
    return {**config.get(key, {}), **config["datasets"][dataset].get(key, {})}


SITE_KEYS = {"grid": ("resolution",), "split": ("split",), "table": ("table",)}


def predict_settings(config: dict, name: str) -> dict:
    """The dataset's `predict` block, defaults filled and checked: `models` as name ->
    (family, run name), `scenarios` as name -> dropped modalities."""
    dataset = config["datasets"][name]
    where = f"datasets.{name}.predict"
    block = dataset["predict"]
    names = modalities(dataset)
    strategies = list(strategy_runs(config, name))
    models = {}
    for model in block.get("models") or strategies:
        family, _, run = model.rpartition("/")
        known = oracle_subsets(dataset) if family == "oracle" else strategies
        if family not in ("", "oracle") or run not in known:
            raise ValueError(
                f"{where}.models: {model!r} is neither a strategy run ({strategies}) nor "
                f"oracle/<subset> of a trained oracle ({oracle_subsets(dataset)})"
            )
        models[model] = ("oracle" if family else "train", run)
    scenarios = block.get("scenarios") or {
        "all_inputs": {},
        **{f"without_{m}": {"drop": [m]} for m in names},
    }
    dropped = {s: list(spec.get("drop", [])) for s, spec in scenarios.items()}
    for scenario, drop in dropped.items():
        unknown = sorted(set(drop) - set(names))
        if unknown or set(drop) >= set(names):
            raise ValueError(
                f"{where}.scenarios.{scenario}: drop {drop} must name some, not all, of the "
                f"modalities {names}"
            )
    full = block.get("full_scenario", "all_inputs")
    if full not in dropped or dropped[full]:
        raise ValueError(f"{where}.full_scenario: {full!r} is no scenario that drops nothing")
    sites = {}
    for site, spec in block["sites"].items():
        sites[site] = {"bbox": None, "crs": "EPSG:4326", **spec}
        if "submission" in spec:
            submission = {"formats": ["geolifeclef"], "top_k": 25, **spec["submission"]}
            sites[site]["submission"] = submission
        for key in SITE_KEYS[spec["kind"]]:
            if key not in spec:
                raise ValueError(f"{where}.sites.{site}: a {spec['kind']} needs `{key}`")
        generated = dataset["source"]["kind"] == "synthetic"
        if spec["kind"] == "grid" and not (generated or dataset["reader"] == "generic"):
            raise ValueError(
                f"{where}.sites.{site}: a grid needs rasters to sample (the generic reader's "
                "raster modalities) or an embedded benchmark's generator; the "
                f"{dataset['reader']} reader reads per-site files only"
            )
        bbox = spec.get("bbox")
        if bbox and not (bbox[0] < bbox[2] and bbox[1] < bbox[3]):
            raise ValueError(f"{where}.sites.{site}.bbox: {bbox} is not west, south, east, north")
        if spec["kind"] == "split" and dataset["reader"] != "geoplant":
            raise ValueError(f"{where}.sites.{site}: only the geoplant reader reads splits")
        if spec["kind"] == "table" and dataset["reader"] != "generic":
            raise ValueError(f"{where}.sites.{site}: site tables are read by the generic reader")
    maps = block.get("maps", {})
    map_models = maps.get("models") or list(models)[:3]
    unknown = sorted(set(map_models) - set(models))
    if unknown:
        raise ValueError(f"{where}.maps.models: {unknown} are not predicting models")
    return {
        "models": models,
        "scenarios": dropped,
        "full_scenario": full,
        "chunk_sites": block.get("chunk_sites", 2048),
        "map_species": maps.get("species", 2),
        "map_models": map_models,
        "sites": sites,
    }


def check_config(config: dict) -> None:
    """Errors that the schema cannot see, each naming the offending key."""
    for name, dataset in config["datasets"].items():
        where = f"datasets.{name}"
        if "predict" in dataset:
            predict_settings(config, name)
        source = dataset["source"]
        if source["kind"] == "synthetic" and "generator" not in source:
            raise ValueError(f"{where}.source: a synthetic source needs `generator`")
        if source["kind"] == "download" and "dataset_config" not in source:
            raise ValueError(f"{where}.source: a download source needs `dataset_config`")
        if source["kind"] == "local" and "path" not in source:
            raise ValueError(f"{where}.source: a local source needs `path` (a file or a folder)")
        check_reader_options(dataset, where)
        check_sample_table(dataset, where)
        names = modalities(dataset)
        unknown_modalities = [m for m in dataset.get("weak_modalities", []) if m not in names]
        if unknown_modalities:
            raise ValueError(
                f"{where}.weak_modalities: {', '.join(map(repr, unknown_modalities))} "
                f"is not a modality; they are: {', '.join(names)}"
            )
        tokens = declared_tokens(dataset)
        subsets = named_subsets(dataset)
        if not subsets:
            raise ValueError(f"{where}: no subsets (give `subsets` or `modality_subsets: true`)")
        for subset, spec in subsets.items():
            check_subset_tokens(f"{where}.subsets.{subset}", spec, dataset, tokens)
        for key in ("weak_subsets", "oracles"):
            listed = dataset.get(key)
            for subset in listed if isinstance(listed, list) else []:
                if subset not in subsets:
                    raise ValueError(f"{where}.{key}: {subset!r} is not a subset")
        context = dataset.get("climate_context")
        if context:
            check_climate_context(f"{where}.climate_context", context, names, tokens)
        check_split(f"{where}.split", dataset)
        try:
            target_availability(deployment_availability(dataset), dict.fromkeys(names, 1.0))
        except ValueError as error:
            raise ValueError(f"{where}.deployment.availability: {error}") from error
        known = [*config["strategies"], *strategy_variants(config["strategies"])]
        unknown = [s for s in dataset.get("strategies", []) if s not in known]
        if unknown:
            raise ValueError(
                f"{where}.strategies: {', '.join(map(repr, unknown))} is neither a strategy "
                f"nor a variant of the config; they are: {', '.join(known)}"
            )
        for strategy in strategy_runs(config, name):
            check_strategy(strategy, strategy_spec(config, name, strategy))
        check_contributions(config, name)
    check_study(config)


def check_study(config: dict) -> None:
    """Each point of a study is a dataset of the config; the points of one benchmark share their
    subsets (the study pairs their models column by column and seed by seed)."""
    for study, settings in config.get("study", {}).items():
        points = settings["points"]
        unknown = [name for name in points if name not in config["datasets"]]
        if unknown:
            raise ValueError(
                f"study.{study}: {', '.join(map(repr, unknown))} is not a dataset of the config"
            )
        for benchmark in dict.fromkeys(points.values()):
            names = [name for name, b in points.items() if b == benchmark]
            columns = {name: list(named_subsets(config["datasets"][name])) for name in names}
            if len({tuple(c) for c in columns.values()}) > 1:
                raise ValueError(
                    f"study.{study}: the points of {benchmark!r} have different subsets: {columns}"
                )
        check_preregistration(config, study)


def check_preregistration(config: dict, study: str) -> None:
    """The preregistration names only models the study trains (or `oracle`), and columns every
    benchmark has: a typo fails before the run, not after it."""
    settings = config["study"][study]
    registered = settings["preregistration"]
    where = f"study.{study}.preregistration"
    models = {"oracle"} | {
        run
        for name in settings["points"]
        for run in [*strategy_runs(config, name), *strategy_rows(config, name)]
    }
    named = []
    for name in settings["points"]:
        dataset = config["datasets"][name]
        every = ["all inputs"] if all_inputs_subset(dataset) else []
        named.append({*named_subsets(dataset), "avg", "weak mean", *every})
    for k, comparison in enumerate(registered["comparisons"]):
        for side in ("a", "b"):
            if comparison[side] not in models:
                raise ValueError(
                    f"{where}.comparisons[{k}].{side}: {comparison[side]!r} is trained by no "
                    f"point of the study; they train: {', '.join(sorted(models))}"
                )
    if registered["primary"] not in models:
        raise ValueError(f"{where}.primary: {registered['primary']!r} is trained by no point")
    for column in [*registered["columns"], *registered["decision_columns"]]:
        if not all(column in subsets for subsets in named):
            raise ValueError(f"{where}: column {column!r} is not a subset of every point")
    missing = set(registered["decision_columns"]) - set(registered["columns"])
    if missing:
        raise ValueError(f"{where}.decision_columns: {sorted(missing)} not among `columns`")


def check_reader_options(dataset: dict, where: str) -> None:
    """The reader's options: the generic reader's against `generic_spec`, the others' names
    against `READER_OPTIONS`."""
    options = dataset.get("reader_options", {})
    reader = dataset["reader"]
    if reader == "generic":
        generic_spec.parse_options(options, f"{where}.reader_options")
        return
    check_names(options, READER_OPTIONS[reader], f"{where}.reader_options", f"the {reader} reader")


def check_sample_table(dataset: dict, where: str) -> None:
    """A local source read by the generic reader: the columns its options name, and the
    coordinates its modalities and split need, against the sample table's header (read here,
    header only, so that a mistake stops the run before any job); skipped while the table is
    not there (the checksum job then names the path)."""
    source = dataset["source"]
    if dataset["reader"] != "generic" or source["kind"] != "local":
        return
    # pandas, pyarrow or pyogrio: imported only for a local source of the generic reader
    from miam.inputs.tokenize.sample_table import read_header

    spec = generic_spec.parse_options(dataset.get("reader_options", {}))
    path = generic_spec.table_path(source["path"], spec["table"])
    if not path.is_file():
        return
    columns, geometry = read_header(path, spec["layer"])
    located = generic_spec.check_header(spec, path, columns, geometry, f"{where}.reader_options")
    if dataset.get("split", {}).get("kind", "spatial") == "spatial" and not located:
        raise ValueError(
            f"{where}.split.kind: a spatial split needs coordinates, and the sample table "
            f"{path} has none (no geometry, no lon/lat columns): use kind random or group, or "
            f"name them in {where}.reader_options.coordinates: {{x, y, crs}}"
        )


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
    runs = strategy_runs(config, name)
    unknown = [s for s in options.get("strategies") or [] if s not in runs]
    if unknown:
        raise ValueError(
            f"{where}.strategies: {', '.join(map(repr, unknown))} is not a strategy of the "
            f"config (a variant of a swept one by its full name); strategies: {', '.join(runs)}"
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


# A dataset's pages in the order to read them (the closing message lists them so).
PAGES = ("comparison", "ablation", "dynamics", "contributions")


def where_to_look(datasets: list[str], results: str, study_pages: Iterable[str] = ()) -> str:
    """What a finished run prints last: the pages, tables and report of each dataset, in the
    order to read them (PAGES), the study pages that exist, or that no page exists yet (a
    target short of the pages)."""
    lines = []
    for name in datasets:
        folder = Path(results) / name
        pages = sorted(
            (folder / "reports").glob("*.html"),
            key=lambda page: (PAGES.index(page.stem) if page.stem in PAGES else len(PAGES), page),
        )
        if pages:
            lines.append(f"  {name}: {', '.join(str(page) for page in pages)}")
        if (folder / "tables" / "main.md").exists():
            lines.append(f"    tables: {folder / 'tables'}/ (main.md, claims.md, ...)")
    studies = [
        f"  study: {page}; its finding into the README and docs/study.md: "
        f"python -m miam.analysis.study {Path(page).parent}"
        for page in study_pages
        if Path(page).exists()
    ]
    if not lines and not studies:
        return "Done. No page or table exists yet (a run without a target builds them)."
    if not lines:
        return "\n".join(["Done. Open the study's page in a browser:", *studies])
    lines = [
        "Done. Open the pages in a browser, in this order (the comparison page first):",
        *lines,
        *studies,
        "One page with every table and figure: snakemake --report report.html",
        "Refresh the README's results block and docs/results.md: python -m miam.analysis.summary",
    ]
    return "\n".join(lines)
