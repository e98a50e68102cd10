"""What predictions are written as: the per-site table, submission files, GeoTIFF maps, and
their agreement with a generator's planted truth.

Per-site table (``sites.parquet``): one row per (site, model, scenario) with ``sample_id, lon,
lat, model, scenario, has:<modality>`` (what the site had, before any scenario), then per
species ``p:<species>`` (the seeds' mean probability) and ``sd:<species>`` (their standard
deviation, the per-site uncertainty), both float16: every species is kept (no top-k cut), at
about 1e-3 rounding, finer than any seed spread.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from miam.analysis.map_tables import agreement, agreement_summary, raster_name, site_cells
from miam.core.predictions import SitePredictions
from miam.core.split import split_indices
from miam.core.tokens import TokenSet, check_same_tokens
from miam.inputs.sites import Grid

# Submission formats: the GeoLifeCLEF Kaggle one and the GeoPlant team's (`malpolon`).
SUBMISSION_FORMATS = ("geolifeclef", "malpolon")
NODATA = -1.0


def site_table(predictions: SitePredictions) -> pd.DataFrame:
    """The per-site table (module doc), in (model, scenario, site) order."""
    p = predictions
    parts = []
    for i, model in enumerate(p.models):
        for j, scenario in enumerate(p.scenarios):
            frame = p.samples.copy()
            frame.insert(3, "model", model)
            frame.insert(4, "scenario", scenario)
            for k, modality in enumerate(p.modalities):
                frame[f"has:{modality}"] = p.present[:, k]
            means = pd.DataFrame(
                p.mean[i, j].astype(np.float16), columns=[f"p:{s}" for s in p.species]
            )
            spreads = pd.DataFrame(
                p.spread[i, j].astype(np.float16), columns=[f"sd:{s}" for s in p.species]
            )
            parts.append(pd.concat([frame, means, spreads], axis=1))
    return pd.concat(parts, ignore_index=True)


def site_summary(predictions: SitePredictions) -> dict:
    """Counts a reader checks: sites, those without coordinates (in the table, not on a map),
    sites per modality, models, seeds, scenarios."""
    p = predictions
    located = p.samples[["lon", "lat"]].notna().all(axis=1)
    return {
        "sites": len(p.samples),
        "sites_without_coordinates": int((~located).sum()),
        "sites_with": {m: int(p.present[:, k].sum()) for k, m in enumerate(p.modalities)},
        "models": p.models,
        "seeds": p.seeds,
        "scenarios": p.scenarios,
        "species": len(p.species),
    }


def read_site_table(path: str | Path) -> SitePredictions:
    """The predictions a per-site table holds (probabilities as stored, float16)."""
    frame = pd.read_parquet(path)
    frame["sample_id"] = frame["sample_id"].astype(str)
    models = list(dict.fromkeys(frame["model"]))
    scenarios = list(dict.fromkeys(frame["scenario"]))
    species = [c[2:] for c in frame.columns if c.startswith("p:")]
    modalities = [c[4:] for c in frame.columns if c.startswith("has:")]
    first = frame[(frame.model == models[0]) & (frame.scenario == scenarios[0])]
    shape = (len(models), len(scenarios), len(first), len(species))

    def block(prefix):
        return frame[[f"{prefix}:{s}" for s in species]].to_numpy(np.float32).reshape(shape)

    return SitePredictions(
        models=models,
        scenarios=scenarios,
        samples=first[["sample_id", "lon", "lat"]].reset_index(drop=True),
        modalities=modalities,
        species=species,
        mean=block("p"),
        spread=block("sd"),
        present=first[[f"has:{m}" for m in modalities]].to_numpy(bool),
        seeds=None,
    )


def write_site_outputs(predictions: SitePredictions, table: str | Path, summary: str | Path):
    site_table(predictions).to_parquet(table, index=False)
    Path(summary).write_text(json.dumps(site_summary(predictions), indent=1) + "\n")


def top_k(mean: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(sites, k) column indices of the k most probable species, most probable first, and
    their probabilities."""
    k = min(k, mean.shape[1])
    order = np.argsort(-mean, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(mean, order, axis=1)


def submission(
    predictions: SitePredictions, model: str, scenario: str, k: int, fmt: str = "geolifeclef"
) -> pd.DataFrame:
    """The top-`k` species of every site, as GeoLifeCLEF's Kaggle submission (``surveyId,
    predictions``: space-separated speciesId) or the GeoPlant team's malpolon format
    (``observation_id;lon;lat;target_species_id;predictions;probas``; no targets here)."""
    if fmt not in SUBMISSION_FORMATS:
        raise ValueError(f"submission format {fmt!r} not in {SUBMISSION_FORMATS}")
    p = predictions
    mean = p.mean[p.models.index(model), p.scenarios.index(scenario)]
    order, probability = top_k(mean, k)
    species = np.asarray(p.species)
    ids = [" ".join(species[row]) for row in order]
    if fmt == "geolifeclef":
        return pd.DataFrame({"surveyId": p.samples["sample_id"], "predictions": ids})
    return pd.DataFrame(
        {
            "observation_id": p.samples["sample_id"],
            "lon": p.samples["lon"],
            "lat": p.samples["lat"],
            "target_species_id": "",
            "predictions": ids,
            "probas": [" ".join(f"{v:.4f}" for v in row) for row in probability],
        }
    )


def write_submission(frame: pd.DataFrame, path: str | Path, fmt: str) -> None:
    frame.to_csv(path, index=False, sep=";" if fmt == "malpolon" else ",")


def grid_cells(predictions: SitePredictions, grid: Grid) -> tuple[np.ndarray, np.ndarray]:
    """(row, col) of each site in `grid` (map_tables.site_cells; a site the reader dropped
    leaves its cell nodata)."""
    return np.divmod(site_cells(predictions.samples["sample_id"]), grid.shape[1])


def band_names(predictions: SitePredictions) -> list[str]:
    return [
        f"{model} / {scenario}"
        for model in predictions.models
        for scenario in predictions.scenarios
    ]


def richness(predictions: SitePredictions, task: str) -> np.ndarray:
    """(models, scenarios, sites): the expected number of species present (sum of
    probabilities) for presence-absence data; for one species per observation (probabilities
    summing to 1) the effective number of species, exp(entropy)."""
    p = predictions.mean.astype(np.float64)
    if task == "multilabel":
        return p.sum(axis=-1)
    return np.exp(-(p * np.log(np.clip(p, 1e-12, 1.0))).sum(axis=-1))


def write_raster(
    path: str | Path, values: np.ndarray, predictions: SitePredictions, grid: Grid, title: str
) -> None:
    """A float32 GeoTIFF, one band per (model, scenario) of `values` (models, scenarios,
    sites), nodata `NODATA` where the grid has no site, band descriptions naming them."""
    import rasterio
    from rasterio.transform import from_origin

    rows, cols = grid_cells(predictions, grid)
    height, width = grid.shape
    bands = values.reshape(-1, values.shape[-1])
    image = np.full((len(bands), height, width), NODATA, np.float32)
    image[:, rows, cols] = bands
    west, _, _, north = grid.bbox
    profile = {
        "driver": "GTiff",
        "height": height,
        "width": width,
        "count": len(bands),
        "dtype": "float32",
        "crs": grid.crs,
        "transform": from_origin(west, north, grid.resolution, grid.resolution),
        "nodata": NODATA,
        "compress": "deflate",
    }
    with rasterio.open(path, "w", **profile) as raster:
        raster.write(image)
        raster.update_tags(title=title)
        for band, name in enumerate(band_names(predictions), start=1):
            raster.set_band_description(band, name)


def map_species(predictions: SitePredictions, selection) -> list[str]:
    """The species mapped: a list of names, or the count of the most prevalent on average."""
    if isinstance(selection, list):
        unknown = sorted(set(selection) - set(predictions.species))
        if unknown:
            raise ValueError(f"predict.maps.species: no species {unknown} in the models' classes")
        return selection
    prevalence = predictions.mean.mean(axis=(0, 1, 2))
    order = np.argsort(-prevalence, kind="stable")[:selection]
    return [predictions.species[k] for k in order]


def write_maps(
    predictions: SitePredictions, grid: Grid, species: list[str], task: str, folder: str | Path
) -> None:
    """`<species>.tif` per mapped species and `richness.tif`, each a band per model and
    scenario."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name in species:
        k = predictions.species.index(name)
        write_raster(
            folder / raster_name(name),
            predictions.mean[..., k],
            predictions,
            grid,
            f"probability of {name}",
        )
    write_raster(
        folder / "richness.tif",
        richness(predictions, task),
        predictions,
        grid,
        "species richness (sum of probabilities)"
        if task == "multilabel"
        else "effective number of species",
    )


def predict_site_set(
    models: dict[str, list[str]],
    tokens: str | Path,
    trained: str | Path,
    split: str | Path,
    settings: dict,
    table: str | Path,
    summary: str | Path,
    device: str = "auto",
) -> SitePredictions:
    """Predict a site set's tokens with every seed of `models` under the configured
    scenarios (`pipeline.predict_settings`); write the per-site table and its summary.
    Presence-absence probabilities are corrected for the weighted training loss with the
    training split's prevalences (`weighted_loss_shift`)."""
    from miam.runs.prediction import predict_sites, weighted_loss_shift  # torch: here only

    sites, training = TokenSet.load(tokens), TokenSet.load(trained)
    check_same_tokens(training, str(trained), sites, str(tokens))
    shift = None
    if training.task == "multilabel":
        shift = weighted_loss_shift(training.targets[split_indices(split)["train"]])
    scenarios = {name: {"drop": drop} for name, drop in settings["scenarios"].items()}
    predictions = predict_sites(
        models, sites, scenarios, settings["chunk_sites"], device=device, shift=shift
    )
    write_site_outputs(predictions, table, summary)
    return predictions


def write_site_maps(
    table: str | Path,
    trained: str | Path,
    truth: str | Path | None,
    site_set: dict,
    settings: dict,
    folder: str | Path,
) -> None:
    """A grid's GeoTIFFs (`write_maps`) and, where a generator planted the truth, the
    agreement with it: ``agreement.csv`` per species and ``agreement_summary.csv``."""
    predictions = read_site_table(table)
    task = json.loads((Path(trained) / "meta.json").read_text())["task"]
    species = map_species(predictions, settings["map_species"])
    write_maps(predictions, Grid.from_config(site_set), species, task, folder)
    if truth:
        per_species = agreement(predictions, pd.read_csv(truth))
        per_species.to_csv(Path(folder) / "agreement.csv", index=False)
        agreement_summary(per_species).to_csv(Path(folder) / "agreement_summary.csv", index=False)


def write_submissions(table: str | Path, spec: dict, settings: dict, folder: str | Path) -> None:
    """`<format>.csv` per submission format of a site set, the first predicting model (or
    `spec["model"]`) with all inputs."""
    predictions = read_site_table(table)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = spec.get("model") or predictions.models[0]
    for fmt in spec.get("formats", ["geolifeclef"]):
        frame = submission(
            predictions, model, settings["full_scenario"], spec.get("top_k", 25), fmt
        )
        write_submission(frame, folder / f"{fmt}.csv", fmt)
