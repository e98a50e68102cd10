"""What the workflow derives from its config: subsets, strategy specs, checks, run settings.

Kept out of the Snakefile so that it is tested like the rest of the package. The Snakefile
imports it on every parse, once per SLURM job too, so it imports neither torch nor the model:
strategy parameters are checked against `STRATEGY_PARAMETERS`, a plain table that
tests/test_pipeline.py compares with the signatures of `miam.masking`'s classes.
"""

from __future__ import annotations

import math
from inspect import Parameter

from .availability import target_availability
from .subsets import SubsetSpec, modality_subsets

# Modalities each reader produces, in model order (checked against subsets before any job runs).
READER_MODALITIES = {
    "geoplant": ["tabular", "timeseries", "satellite"],
    "taxabench": ["image", "satellite", "audio", "environment", "location"],
}


# Marks a strategy parameter without a default (the config, or the workflow, must give it).
REQUIRED = Parameter.empty

# Keyword parameters of each masking strategy (`kind`) and their defaults, in the order of
# miam.masking.STRATEGIES; `modality_names` is the trainer's, not the config's.
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
LATE_FUSION_MODELS = ("late_fusion", "late_fusion_learned")


def modalities(dataset: dict) -> list[str]:
    return READER_MODALITIES[dataset["reader"]]


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
        profile = config["datasets"][dataset].get("deployment", {})
        spec["availability"] = profile.get("availability", "measured")
    return spec


def run_settings(config: dict, dataset: str, key: str) -> dict:
    """`model` or `training` settings: the global ones, overridden by the dataset's."""
    return {**config.get(key, {}), **config["datasets"][dataset].get(key, {})}


def check_config(config: dict) -> None:
    """Errors that the schema cannot see, each naming the offending key."""
    for name, dataset in config["datasets"].items():
        where = f"datasets.{name}"
        names = modalities(dataset)
        source = dataset["source"]
        if source["kind"] == "synthetic" and "generator" not in source:
            raise ValueError(f"{where}.source: a synthetic source needs `generator`")
        if source["kind"] == "download" and "dataset_config" not in source:
            raise ValueError(f"{where}.source: a download source needs `dataset_config`")
        subsets = named_subsets(dataset)
        if not subsets:
            raise ValueError(f"{where}: no subsets (give `subsets` or `modality_subsets: true`)")
        for subset, spec in subsets.items():
            for modality in spec:
                if modality not in names:
                    raise ValueError(
                        f"{where}.subsets.{subset}: unknown modality {modality!r}; "
                        f"the {dataset['reader']} reader gives {names}"
                    )
        for subset in dataset.get("weak_subsets", []):
            if subset not in subsets:
                raise ValueError(f"{where}.weak_subsets: {subset!r} is not a subset")
        context = dataset.get("climate_context")
        if context and context["modality"] not in names:
            raise ValueError(f"{where}.climate_context.modality: unknown {context['modality']!r}")
        try:
            target_availability(
                dataset.get("deployment", {}).get("availability", "measured"),
                dict.fromkeys(names, 1.0),
            )
        except ValueError as error:
            raise ValueError(f"{where}.deployment.availability: {error}") from error
        for strategy in config["strategies"]:
            check_strategy(strategy, strategy_spec(config, name, strategy))


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
    unknown = sorted(set(given) - set(accepted))
    if unknown:
        raise ValueError(
            f"strategies.{name}: masking strategy {kind!r} got unknown parameter(s) "
            f"{', '.join(unknown)}; accepted: {', '.join(accepted) or 'none'}"
        )
    for key, default in accepted.items():
        if default is REQUIRED and key not in given:
            raise ValueError(f"strategies.{name}: masking strategy {kind!r} needs `{key}`")
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
