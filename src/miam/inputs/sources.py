"""Dispatch from config names to generators and readers.

A synthetic generator `<name>` is `miam.inputs.datasets.synthetic_<name>.generate`; a reader
`<name>` is `miam.inputs.tokenize.<name>.tokenize_<name>`, with its modalities listed in
`miam.workflow.pipeline.READER_MODALITIES` (the generic reader's are declared in its options). Most
new datasets need no reader: the generic one reads them as the config describes; a new layout is
one reader module plus those entries (docs/own-data.md, "A reader of your own").
"""

from __future__ import annotations

import importlib


def generate(
    generator: str,
    root,
    scale: str = "demo",
    seed: int = 0,
    samples: int | None = None,
    species_mix: str | None = None,
):
    """Write a synthetic benchmark under `root`; `samples` overrides the scale's sample count
    (GeoPlant's surveys; the TaxaBench generator has a fixed count per scale) and
    `species_mix` GeoPlant's species groups and response strengths (its SPECIES_MIXES)."""
    module = importlib.import_module(f"miam.inputs.datasets.synthetic_{generator}")
    given = generator_options(generator, {"samples": samples, "species_mix": species_mix})
    return module.generate(root, scale=scale, seed=seed, **given)


def generator_options(generator: str, source: dict) -> dict:
    """The keyword arguments a source's `samples` and `species_mix` give its generator (both
    GeoPlant's); ValueError for another generator given either."""
    options = {"n_surveys": source.get("samples"), "species_mix": source.get("species_mix")}
    given = {key: value for key, value in options.items() if value is not None}
    if given and generator != "geoplant":
        raise ValueError(
            f"source: the {generator} generator has no option {', '.join(given)} "
            "(samples and species_mix are GeoPlant's)"
        )
    return given


def tokenize(reader: str, root, progress: bool = True, **options):
    """(TokenSet, QualityLog) of the dataset folder `root`, read by the reader `reader`."""
    module = importlib.import_module(f"miam.inputs.tokenize.{reader}")
    return getattr(module, f"tokenize_{reader}")(root, progress=progress, **options)
