"""What predicting sites gives (`miam.runs.prediction.predict_sites`), in a module of its own
so that writing maps, tables and submissions from it needs no torch."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass
class SitePredictions:
    """Seed-mean and seed-spread (standard deviation, 0 for one seed) probabilities.

    mean, spread: (models, scenarios, sites, species) float32.
    present: (sites, modalities) bool, which modalities each site had (before any scenario).
    """

    models: list[str]
    scenarios: list[str]
    samples: pd.DataFrame  # sample_id, lon, lat
    modalities: list[str]
    species: list[str]
    mean: np.ndarray
    spread: np.ndarray
    present: np.ndarray
    seeds: int | None  # seeds per model (None: read back from a table, which does not say)
