"""What the workflow derives from its config: subsets, strategy specs, checks, run settings.

Kept out of the Snakefile so that it is tested like the rest of the package. Imports nothing
beyond the core's dependencies.
"""

from __future__ import annotations

from .availability import target_availability
from .masking import make_strategy
from .subsets import SubsetSpec, modality_subsets

# Modalities each reader produces, in model order (checked against subsets before any job runs).
READER_MODALITIES = {
    "geoplant": ["tabular", "timeseries", "satellite"],
    "taxabench": ["image", "satellite", "audio", "environment", "location"],
}


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
            spec = strategy_spec(config, name, strategy)
            params = {k: v for k, v in spec.items() if k != "kind"}
            if params.get("availability") == "measured":
                params["availability"] = [1.0] * len(names)  # measured at training time
            elif isinstance(params.get("availability"), dict):
                params["availability"] = [params["availability"].get(m, 1.0) for m in names]
            if spec["kind"] == "dirichlet":
                params.setdefault("tokens_per_modality", [1] * len(names))
            try:
                make_strategy(spec["kind"], len(names), modality_names=names, **params)
            except (TypeError, ValueError) as error:
                raise ValueError(f"strategies.{strategy}: {error}") from error
