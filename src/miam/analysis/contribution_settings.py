"""Settings of the contribution analysis (analysis.contributions): what is analysed, how precisely.

Settings come from the config's top-level ``contributions`` block, overridden per dataset by
``datasets.<name>.contributions``; ``analyses`` there replaces the reader's defaults
(`DEFAULT_ANALYSES`; for the generic reader, one analysis per declared modality,
`miam.inputs.tokenize.generic_spec.default_analyses`). The workflow checks them at parse time, so
nothing here imports torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from miam.core.options import check_names
from miam.inputs.tokenize import generic_spec

GroupSpec = "str | list[str] | dict[str, list[str]]"

# Analyses per reader. They are optional: one whose tokens the tokenization lacks (band groups
# without per-band tokens) is skipped with a log line; analyses written in the config are required.
DEFAULT_ANALYSES = {
    "geoplant": {
        "bands": {"modality": "satellite", "groups": "{*}/*"},
        "patches": {"modality": "satellite", "groups": ["*/{*}", "{*}"], "plot": "map"},
        "climate_years": {
            "modality": "timeseries",
            "groups": "climate/{*}",
            "plot": "years",
            "context": True,
        },
        "landsat_years": {
            "modality": "timeseries",
            "groups": "landsat/{*}",
            "plot": "years",
            "context": True,
        },
        "variables": {"modality": "tabular", "groups": "{*}"},
        "variable_groups": {
            "modality": "tabular",
            "groups": {
                "bioclim": ["bio*"],
                "elevation": ["elevation"],
                "landcover": ["landcover/*"],
                "soil": ["soil/*"],
            },
        },
    },
    "taxabench": {
        "image_patches": {"modality": "image", "groups": "{*}", "plot": "map"},
        "satellite_patches": {"modality": "satellite", "groups": ["*/{*}", "{*}"], "plot": "map"},
        "audio_bands": {"modality": "audio", "groups": "t*{f*}"},
        "environment_variables": {"modality": "environment", "groups": "{*}"},
    },
}


# The notebook's figure kinds of an analysis.
PLOTS = ("bar", "years", "map")
# The tables the analysis writes (results/{dataset}/contributions/{table}.csv).
TABLES = ("modalities", "groups", "convergence", "context")


@dataclass
class Analysis:
    """One contribution analysis: token groups of one modality (see the module doc)."""

    name: str
    modality: str
    groups: GroupSpec
    # Tokens shown in every coalition (a subset spec, e.g. {"tabular": "all"}); default none, so
    # groups are valued by what they tell the model on their own modality.
    visible: dict = field(default_factory=dict)
    context: bool = False  # also the metric as groups become visible, the last (newest) first
    plot: str = "bar"  # the notebook's figure: bar | years | map
    required: bool = True  # False: skip, with a log line, when the groups match no token

    def __post_init__(self):
        if self.plot not in PLOTS:
            raise ValueError(f"analysis {self.name!r}: plot {self.plot!r}, not one of {PLOTS}")


@dataclass
class ContributionSettings:
    split: str = "test"
    samples: int | None = 1000  # evaluation samples drawn (seeded) from the split; None: all
    exact_max_groups: int = 12
    min_permutations: int = 16  # first round of sampled permutations (antithetic pairs x 2)
    max_permutations: int = 256
    tolerance: float = (
        0.005  # converged: no estimate moved more (metric units) in the last doubling
    )
    seed: int = 0  # sample choice and permutation draws (shared by all strategies)
    strategies: list[str] | None = None  # group analyses for these models; None: every model
    batch_size: int = 4096  # rows per forward pass
    max_scores: int = 20_000_000  # scores held at once: coalitions per pass x samples x outputs
    analyses: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict | None, reader: str) -> ContributionSettings:
        values = dict(values or {})
        check_names(values, [f.name for f in fields(cls)], "contributions", "contributions")
        if "analyses" not in values:
            values["analyses"] = {
                name: {**spec, "required": False}
                for name, spec in DEFAULT_ANALYSES.get(reader, {}).items()
            }
        settings = cls(**values)
        if settings.min_permutations < 4 or settings.min_permutations % 2:
            raise ValueError(
                "contributions.min_permutations: an even number >= 4 (antithetic pairs)"
            )
        if settings.max_permutations < settings.min_permutations:
            raise ValueError("contributions.max_permutations must be >= min_permutations")
        return settings

    def analysis_list(self) -> list[Analysis]:
        return [Analysis(name, **spec) for name, spec in self.analyses.items()]


def contribution_options(config: dict, dataset: str) -> dict:
    """The config's `contributions` block overridden by the dataset's, checked; `model_seed` (which
    trained models to analyse) is the workflow's business and is left out."""
    options = {
        **config.get("contributions", {}),
        **config["datasets"][dataset].get("contributions", {}),
    }
    options.pop("model_seed", None)
    settings = config["datasets"][dataset]
    if settings["reader"] == "generic" and "analyses" not in options:
        declared = generic_spec.parse_options(settings.get("reader_options", {}))
        options["analyses"] = {
            name: {**spec, "required": False}
            for name, spec in generic_spec.default_analyses(declared).items()
        }
    ContributionSettings.from_dict(options, settings["reader"])
    return options
