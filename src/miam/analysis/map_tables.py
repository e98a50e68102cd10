"""Tables of the predicted maps, light enough for the summary and the maps page (pandas only):
file names, and the agreement of maps with a generator's planted truth."""

from __future__ import annotations

import numpy as np
import pandas as pd

from miam.core.predictions import SitePredictions


def site_cells(site_ids) -> np.ndarray:
    """The flat cell index of each grid site: a grid's sites are its cells, ids 1.. in
    row-major order."""
    return np.asarray(site_ids).astype(int) - 1


def raster_name(species: str) -> str:
    """A file name for a species' map (scientific names have spaces)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in species) + ".tif"


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation (average ranks for ties); NaN when either is constant."""
    ra, rb = pd.Series(a).rank().to_numpy(), pd.Series(b).rank().to_numpy()
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])


def agreement(predictions: SitePredictions, truth: pd.DataFrame) -> pd.DataFrame:
    """Per (model, scenario, species): rank correlation and mean absolute error of the seeds'
    mean probability against the planted `truth` (a column per species, rows by site id)."""
    p = predictions
    truth = truth.set_index(truth.columns[0])
    truth.index = truth.index.astype(str)
    sites = p.samples["sample_id"].astype(str)
    missing = sorted(set(p.species) - set(truth.columns))
    if missing:
        raise ValueError(f"the planted truth has no column for species {missing[:5]}")
    planted = truth.loc[sites, p.species].to_numpy(float)
    rows = []
    for i, model in enumerate(p.models):
        for j, scenario in enumerate(p.scenarios):
            for k, species in enumerate(p.species):
                predicted = p.mean[i, j, :, k].astype(float)
                rows.append(
                    {
                        "model": model,
                        "scenario": scenario,
                        "species": species,
                        "rank_correlation": rank_correlation(predicted, planted[:, k]),
                        "mae": float(np.abs(predicted - planted[:, k]).mean()),
                        "seed_spread": float(p.spread[i, j, :, k].mean()),
                    }
                )
    return pd.DataFrame(rows)


def agreement_summary(per_species: pd.DataFrame) -> pd.DataFrame:
    """Mean over species per (model, scenario), the order of `per_species` kept."""
    return (
        per_species.groupby(["model", "scenario"], sort=False)[
            ["rank_correlation", "mae", "seed_spread"]
        ]
        .mean()
        .reset_index()
    )


def scenario_losses(summary: pd.DataFrame, full_scenario: str) -> pd.DataFrame:
    """Per (model, other scenario): the rank correlation lost against `full_scenario`, and
    whether that scenario is the strongest loss (the one losing most on average over models:
    the modality whose absence hurts the maps most)."""
    full = summary[summary.scenario == full_scenario].set_index("model")["rank_correlation"]
    others = summary[summary.scenario != full_scenario].copy()
    others["full_rank_correlation"] = others["model"].map(full)
    others["loss"] = others["full_rank_correlation"] - others["rank_correlation"]
    strongest = others.groupby("scenario", sort=False)["loss"].mean().idxmax()
    others["strongest"] = others["scenario"] == strongest
    return others[
        ["model", "scenario", "full_rank_correlation", "rank_correlation", "loss", "strongest"]
    ].reset_index(drop=True)
