"""Predictions at new sites: seed averaging, scenarios, chunked memory, the refusals, GeoPlant's
label-free test surveys into a submission, own-data sites by config, GeoTIFF maps."""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import rasterio
import torch
from fixtures_real import build_geoplant_fixture
from helpers import toy_tokens
from own_data import READER_OPTIONS, write_dataset

from miam.analysis import map_tables
from miam.analysis import predictions as outputs
from miam.analysis.summary import maps_text
from miam.core.data import Normalizer
from miam.core.model import ModalityLayout, ModelConfig, MultimodalTransformer
from miam.core.predictions import SitePredictions
from miam.core.split import write_split
from miam.core.tokens import TokenSet, check_same_tokens
from miam.inputs.sites import Grid, tokenize_sites, write_site_tokens
from miam.inputs.tokenize.generic import tokenize_generic
from miam.inputs.tokenize.geoplant import tokenize_geoplant
from miam.runs import evaluation, prediction
from miam.workflow import pipeline

SMALL = ModelConfig(dim=16, depth=1, heads=1, ffn_dim=16, dropout=0.0, n_frequencies=4)


def write_model(tokens: TokenSet, path: Path, seed: int) -> Path:
    """An untrained model of `tokens`' layout as `train_run` writes it (predictions need
    weights, not good ones)."""
    torch.manual_seed(seed)
    layout = [ModalityLayout(m.name, m.kind, m.n_tokens, m.token_dim) for m in tokens.modalities]
    net = MultimodalTransformer(layout, tokens.n_classes, SMALL)
    normalizer = Normalizer.fit(tokens, np.arange(tokens.n_samples))
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(
        {
            "weights": net.state_dict(),
            "normalizer": normalizer.state_dict(),
            "layout": [asdict(m) for m in layout],
            "n_outputs": tokens.n_classes,
            "task": tokens.task,
            "model": SMALL.to_dict(),
        },
        path,
    )
    return path


@pytest.fixture
def toy(tmp_path):
    tokens = toy_tokens(n=300, task="multilabel")
    models = [write_model(tokens, tmp_path / f"seed{s}" / "model.pt", s) for s in (0, 1)]
    return tokens, models


def test_seeds_give_mean_and_spread(toy):
    tokens, (first, second) = toy
    scenarios = {"all_inputs": {}}
    both = prediction.predict_sites({"m": [first, second]}, tokens, scenarios, device="cpu")
    one = [
        prediction.predict_sites({"m": [p]}, tokens, scenarios, device="cpu")
        for p in (first, second)
    ]
    a, b = one[0].mean[0, 0], one[1].mean[0, 0]
    assert both.mean.shape == (1, 1, tokens.n_samples, tokens.n_classes)
    np.testing.assert_allclose(both.mean[0, 0], (a + b) / 2, atol=1e-6)
    np.testing.assert_allclose(both.spread[0, 0], np.abs(a - b) / 2, atol=1e-5)
    assert (one[0].spread == 0).all() and ((0 <= both.mean) & (both.mean <= 1)).all()


def test_balanced_scores_become_probabilities():
    """A model at the optimum of the weighted loss says 0 (balanced odds) where it knows
    nothing; the shift turns that into the species' prevalence."""
    targets = np.zeros((200, 3), np.uint8)
    targets[:20, 0], targets[:100, 1], targets[:190, 2] = 1, 1, 1
    shift = prediction.weighted_loss_shift(targets)
    p = prediction.probabilities(torch.zeros(1, 3), "multilabel", shift)
    np.testing.assert_allclose(p[0].numpy(), [0.1, 0.5, 0.95], atol=1e-6)


def test_a_scenario_predicts_as_if_the_modality_were_missing(toy):
    tokens, (model, _) = toy
    scenarios = {"all_inputs": {}, "without_ts": {"drop": ["ts"]}}
    dropped = prediction.predict_sites({"m": [model]}, tokens, scenarios, device="cpu")
    missing = toy_tokens(n=300, task="multilabel")
    missing.modality("ts").present[:] = False
    absent = prediction.predict_sites({"m": [model]}, missing, {"all_inputs": {}}, device="cpu")
    np.testing.assert_allclose(dropped.mean[0, 1], absent.mean[0, 0], atol=1e-5)
    assert np.abs(dropped.mean[0, 0] - dropped.mean[0, 1]).max() > 1e-3
    assert dropped.present[:, 1].mean() > 0.99  # what the sites had, not what a scenario shows
    with pytest.raises(ValueError, match="drops every modality"):
        prediction.scenario_specs({"none": {"drop": ["tab", "ts", "img"]}}, ["tab", "ts", "img"])


def test_memory_is_bounded_by_chunks_whatever_the_number_of_sites(toy, monkeypatch):
    tokens, (model, _) = toy
    seen = []
    original = evaluation.predict_subsets

    def recording(net, data, index, selectors, batch_size):
        # What the model is handed: the samples held on the device and the rows of one call.
        seen.append((len(data), len(index), max(h.values.shape[0] for h in data.held)))
        return original(net, data, index, selectors, batch_size)

    monkeypatch.setattr(evaluation, "predict_subsets", recording)
    big = TokenSet.concat([tokens] * 20)  # 6,000 sites
    chunked = prediction.predict_sites(
        {"m": [model]}, big, {"all": {}}, chunk_sites=128, device="cpu"
    )
    held_big = max(max(s) for s in seen)
    seen.clear()
    prediction.predict_sites({"m": [model]}, tokens, {"all": {}}, chunk_sites=128, device="cpu")
    held_small = max(max(s) for s in seen)
    assert held_big == held_small == 128
    monkeypatch.setattr(evaluation, "predict_subsets", original)
    whole = prediction.predict_sites(
        {"m": [model]}, big, {"all": {}}, chunk_sites=10**6, device="cpu"
    )
    np.testing.assert_allclose(chunked.mean, whole.mean, atol=1e-5)


def test_a_model_of_other_tokens_is_refused_naming_both(toy, tmp_path):
    tokens, (model, _) = toy
    other = toy_tokens(n=50, task="multilabel", n_classes=5)
    with pytest.raises(ValueError, match=r"model .*seed0/model.pt was trained on other tokens"):
        prediction.predict_sites({"m": [model]}, other, {"all": {}}, device="cpu")
    renamed = toy_tokens(n=50, task="multilabel")
    renamed.class_names = ["c0", "c1", "c2", "x"]
    with pytest.raises(
        ValueError, match=r"trained on the tokens of train/tokens.*sites/tokens.*species"
    ):
        check_same_tokens(tokens, "train/tokens", renamed, "sites/tokens")


def geoplant_test_layout(root: Path, test: Path) -> None:
    """The fixture's surveys as GeoPlant publishes its test split: every path and archive member
    named `test` instead of `train`, and no speciesId in the metadata."""
    for path in root.rglob("*"):
        if path.is_dir():
            continue
        relative = str(path.relative_to(root)).replace("train", "test").replace("Train", "Test")
        target = test / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix == ".zip":
            with zipfile.ZipFile(path) as source, zipfile.ZipFile(target, "w") as copy:
                for member in source.namelist():
                    copy.writestr(member.replace("train", "test"), source.read(member))
        elif "metadata" in path.name:
            pd.read_csv(path).drop(columns="speciesId").to_csv(target, index=False)
        else:
            shutil.copyfile(path, target)


def test_geoplant_test_surveys_give_a_geolifeclef_submission(tmp_path):
    build_geoplant_fixture(tmp_path / "train")
    trained, _ = tokenize_geoplant(tmp_path / "train", min_occurrences=1, progress=False)
    geoplant_test_layout(tmp_path / "train", tmp_path / "data")
    assert "speciesId" not in pd.read_csv(next((tmp_path / "data").rglob("*metadata_test.csv")))
    sites, _ = tokenize_sites(
        "geoplant",
        tmp_path / "data",
        {"min_occurrences": 1},
        trained,
        {"kind": "split", "split": "test"},
        tmp_path / "unused",
    )
    check_same_tokens(trained, "train", sites, "test")
    model = write_model(trained, tmp_path / "model.pt", 0)
    predicted = prediction.predict_sites({"miam": [model]}, sites, {"all_inputs": {}}, device="cpu")
    k = 3
    frame = outputs.submission(predicted, "miam", "all_inputs", k)
    outputs.write_submission(frame, tmp_path / "geolifeclef.csv", "geolifeclef")
    written = pd.read_csv(tmp_path / "geolifeclef.csv", dtype=str)
    assert list(written.columns) == ["surveyId", "predictions"]
    assert sorted(written["surveyId"]) == sorted(trained.samples["sample_id"])
    for ids in written["predictions"].str.split(" "):
        assert len(ids) == k and len(set(ids)) == k and set(ids) <= set(trained.class_names)
    malpolon = outputs.submission(predicted, "miam", "all_inputs", k, "malpolon")
    outputs.write_submission(malpolon, tmp_path / "malpolon.csv", "malpolon")
    header = (tmp_path / "malpolon.csv").read_text().splitlines()[0]
    assert header == "observation_id;lon;lat;target_species_id;predictions;probas"
    probas = [list(map(float, p.split())) for p in malpolon["probas"]]
    assert all(len(p) == k and p == sorted(p, reverse=True) for p in probas)


def own_config(root: Path, sites: dict, modalities: list[str]) -> dict:
    options = READER_OPTIONS | {
        "modalities": {m: READER_OPTIONS["modalities"][m] for m in modalities}
    }
    dataset = {
        "source": {"kind": "local", "path": str(root)},
        "reader": "generic",
        "reader_options": options,
        "modality_subsets": True,
        "predict": {"sites": sites},
    }
    return {"datasets": {"own": dataset}, "strategies": {"uniform": {"kind": "uniform"}}}


def test_new_sites_keep_the_trained_positions_of_categorical_levels(tmp_path):
    """A new table numbers its categories otherwise (other levels, other counts): its sites are
    one-hot over the trained levels; a level training never saw is "other" where training had
    one, else absent and counted; tokens without recorded levels are refused."""
    root = write_dataset(tmp_path / "own", n=30, table="plots.csv")
    categories = {"from": "categorical", "columns": ["ecoregion", "site"], "max_levels": 3}
    config = own_config(root, {"new": {"kind": "table", "table": "new.csv"}}, ["climate"])
    options = config["datasets"]["own"]["reader_options"]
    options["modalities"] = options["modalities"] | {"categories": categories}
    options |= {
        "table": "plots.csv",
        "coordinates": {"x": "easting", "y": "northing", "crs": "EPSG:32632"},
    }
    trained, _ = tokenize_generic(root, progress=False, **options)
    trained.save(tmp_path / "trained")
    levels = trained.modality("categories").levels
    assert TokenSet.load(tmp_path / "trained").modality("categories").levels == levels
    ecoregions, sites = levels
    assert sites[-1] == "(other)" and "(other)" not in ecoregions
    new = pd.read_csv(root / "plots.csv").drop(columns=["species", "present"]).iloc[:4]
    new["plot_id"] = ["N0", "N1", "N2", "N3"]
    # Only the second trained ecoregion, then one training never saw; sites never seen.
    new["ecoregion"] = [ecoregions[1], ecoregions[1], ecoregions[1], "tundra"]
    new["site"] = ["far away"] * 4
    new.to_csv(root / "new.csv", index=False)
    tokens = write_site_tokens(
        "generic", root, options, config["datasets"]["own"]["predict"]["sites"]["new"],
        tmp_path / "raw", tmp_path / "trained", tmp_path / "tokens", tmp_path / "issues.csv",
    )  # fmt: skip
    m = tokens.modality("categories")
    assert m.levels == levels
    other_site = len(ecoregions) + len(sites) - 1  # the site token's block follows
    assert (m.values[:3, 0].argmax(axis=1) == 1).all() and m.present[:3, 0].all()
    assert not m.present[3, 0] and not m.values[3, 0].any()  # tundra: no level, no "other"
    assert (m.values[:, 1].argmax(axis=1) == other_site).all() and m.present[:, 1].all()
    issues = pd.read_csv(tmp_path / "issues.csv")
    tundra = issues[issues["modality"] == "categories"]
    assert tundra["sample_id"].tolist() == ["N3"] and set(tundra["reason"]) == {"out_of_range"}
    assert "tundra" in tundra["detail"].iloc[0]
    # and a model of the trained tokens predicts them, with and without the categories
    write_split(trained.samples, tmp_path / "split.csv", block_size=1.0, seed=0)
    predicted = outputs.predict_site_set(
        {"uniform": [write_model(trained, tmp_path / "model.pt", 0)]}, tmp_path / "tokens",
        tmp_path / "trained", tmp_path / "split.csv", pipeline.predict_settings(config, "own"),
        tmp_path / "sites.parquet", tmp_path / "summary.json", device="cpu",
    )  # fmt: skip
    assert np.isfinite(predicted.mean).all() and predicted.mean.shape[2] == 4
    assert predicted.scenarios == ["all_inputs", "without_climate", "without_categories"]
    # A token folder written before levels were kept: refused, saying what to do.
    meta = tmp_path / "trained" / "meta.json"
    meta.write_text(meta.read_text().replace('"levels"', '"levels_of_old"'))
    with pytest.raises(ValueError, match=r"do not record the levels .*categories.*again"):
        tokenize_sites(
            "generic", root, options, TokenSet.load(tmp_path / "trained"),
            config["datasets"]["own"]["predict"]["sites"]["new"], tmp_path / "raw",
        )  # fmt: skip


def test_own_data_sites_predict_by_config_alone(tmp_path):
    """A table of new sites without labels (one without coordinates: in the table, counted)
    and a grid over the raster's extent, both from the `predict` block alone."""
    root = write_dataset(tmp_path / "own", n=30, table="plots.csv")
    table = pd.read_csv(root / "plots.csv").drop(columns=["species", "present"]).iloc[:6]
    table["plot_id"] = [f"N{i}" for i in range(6)]
    table.loc[5, ["easting", "northing"]] = np.nan
    table.to_csv(root / "new_sites.csv", index=False)
    with rasterio.open(root / "dem.tif") as dem:
        west, south = dem.bounds.left, dem.bounds.bottom
    grid = {
        "kind": "grid",
        "bbox": [west, south, west + 40_000, south + 30_000],
        "resolution": 10_000,
        "crs": "EPSG:3035",
    }
    config = own_config(
        root,
        {"new": {"kind": "table", "table": "new_sites.csv"}, "grid": grid},
        ["climate", "terrain"],
    )
    config["datasets"]["own"]["reader_options"] |= {
        "table": "plots.csv",
        "coordinates": {"x": "easting", "y": "northing", "crs": "EPSG:32632"},
    }
    settings = pipeline.predict_settings(config, "own")
    assert list(settings["scenarios"]) == ["all_inputs", "without_climate", "without_terrain"]
    options = config["datasets"]["own"]["reader_options"]
    trained, _ = tokenize_generic(root, progress=False, **options)
    trained.save(tmp_path / "trained")
    write_split(trained.samples, tmp_path / "split.csv", block_size=1.0, seed=0)
    model = write_model(trained, tmp_path / "model.pt", 0)
    for name, site_set in settings["sites"].items():
        tokens = write_site_tokens(
            "generic", root, options, site_set, tmp_path / name / "raw",
            tmp_path / "trained", tmp_path / name / "tokens", tmp_path / name / "issues.csv",
        )  # fmt: skip
        predicted = outputs.predict_site_set(
            {"uniform": [model]}, tmp_path / name / "tokens", tmp_path / "trained",
            tmp_path / "split.csv", settings,
            tmp_path / name / "sites.parquet", tmp_path / name / "summary.json", device="cpu",
        )  # fmt: skip
        summary = outputs.site_summary(predicted)
        if name == "new":
            assert tokens.n_samples == 6 and summary["sites_without_coordinates"] == 1
            assert not predicted.present[5, 1]  # no coordinates: no terrain
        else:
            assert tokens.n_samples == 12 and summary["sites_with"]["terrain"] > 0
            outputs.write_maps(
                predicted,
                Grid.from_config(site_set),
                [trained.class_names[0]],
                "multiclass",
                tmp_path / "maps",
            )
    read_back = outputs.read_site_table(tmp_path / "new" / "sites.parquet")
    assert read_back.samples["sample_id"].tolist() == [f"N{i}" for i in range(6)]
    far = grid | {"bbox": [0, 0, 10_000, 10_000]}
    with pytest.raises(ValueError, match=r"covered by none of the rasters .*dem.tif"):
        tokenize_sites("generic", root, options, trained, far, tmp_path / "far")


def grid_predictions(grid: Grid) -> SitePredictions:
    rows, cols = grid.shape
    n = rows * cols - 1  # the last cell has no site: nodata
    x, y = grid.centres()
    rng = np.random.default_rng(0)
    return SitePredictions(
        models=["uniform", "miam"],
        scenarios=["all_inputs", "without_ts"],
        samples=pd.DataFrame(
            {"sample_id": np.arange(1, n + 1).astype(str), "lon": x[:n], "lat": y[:n]}
        ),
        modalities=["tab", "ts"],
        species=["12", "7"],
        mean=rng.uniform(0, 1, (2, 2, n, 2)).astype(np.float32),
        spread=np.zeros((2, 2, n, 2), np.float32),
        present=np.ones((n, 2), bool),
        seeds=1,
    )


def test_geotiffs_open_with_crs_nodata_bands_and_probabilities(tmp_path):
    grid = Grid((2.0, 44.0, 3.0, 44.5), 0.25)
    predicted = grid_predictions(grid)
    outputs.write_maps(predicted, grid, ["7"], "multilabel", tmp_path)
    with rasterio.open(tmp_path / "7.tif") as raster:
        assert raster.crs.to_epsg() == 4326 and raster.nodata == outputs.NODATA
        assert raster.descriptions == (
            "uniform / all_inputs",
            "uniform / without_ts",
            "miam / all_inputs",
            "miam / without_ts",
        )
        values = raster.read(masked=True)
        assert values.mask.sum() == 4 and values.min() >= 0 and values.max() <= 1
        assert values[2, 0, 1] == pytest.approx(predicted.mean[1, 0, 1, 1])
        assert raster.xy(0, 0) == pytest.approx((2.125, 44.375))
    with rasterio.open(tmp_path / "richness.tif") as raster:
        assert raster.read(1, masked=True)[0, 0] == pytest.approx(
            predicted.mean[0, 0, 0].sum(), rel=1e-5
        )


def test_agreement_with_the_planted_truth():
    grid = Grid((2.0, 44.0, 3.0, 44.5), 0.25)
    predicted = grid_predictions(grid)
    truth = predicted.samples[["sample_id", "lon", "lat"]].copy()
    truth["12"], truth["7"] = predicted.mean[1, 0, :, 0], predicted.mean[1, 0, :, 1]
    table = map_tables.agreement_summary(map_tables.agreement(predicted, truth)).set_index(
        ["model", "scenario"]
    )
    assert table.loc[("miam", "all_inputs"), "rank_correlation"] == pytest.approx(1.0)
    assert table.loc[("miam", "all_inputs"), "mae"] == pytest.approx(0.0, abs=1e-6)
    assert table.loc[("uniform", "without_ts"), "rank_correlation"] < 0.9
    losses = map_tables.scenario_losses(table.reset_index(), "all_inputs")
    assert losses.strongest.sum() == 2 and (losses.scenario == "without_ts").all()


def test_the_predict_block_is_checked():
    config = own_config(Path("unused"), {"grid": {"kind": "grid"}}, ["climate", "terrain"])
    with pytest.raises(ValueError, match="a grid needs `resolution`"):
        pipeline.predict_settings(config, "own")
    config["datasets"]["own"]["predict"] = {
        "sites": {"grid": {"kind": "grid", "resolution": 1.0}},
        "models": ["miam"],
    }
    with pytest.raises(ValueError, match="'miam' is neither a strategy run"):
        pipeline.predict_settings(config, "own")
    config["datasets"]["own"]["predict"] |= {
        "models": None,
        "scenarios": {"x": {"drop": ["climate", "terrain"]}},
    }
    with pytest.raises(ValueError, match="must name some, not all"):
        pipeline.predict_settings(config, "own")
    real = config["datasets"]["own"] | {"reader": "geoplant", "reader_options": {}}
    real["predict"] = {"sites": {"grid": {"kind": "grid", "resolution": 1.0}}}
    config["datasets"]["own"] = real
    with pytest.raises(ValueError, match="a grid needs rasters to sample"):
        pipeline.predict_settings(config, "own")


def test_the_summary_says_what_the_maps_show():
    rows = [
        ("uniform", "all_inputs", 0.8),
        ("uniform", "without_ts", 0.6),
        ("uniform", "without_img", 0.79),
        ("miam", "all_inputs", 0.82),
        ("miam", "without_ts", 0.7),
        ("miam", "without_img", 0.8),
        ("oracle", "all_inputs", 0.9),
        ("oracle", "without_ts", 0.1),
    ]
    summary = pd.DataFrame(rows, columns=["model", "scenario", "rank_correlation"])
    text = maps_text("grid", summary)
    assert "with all inputs 0.80 to 0.82 across the 2 masking strategies" in text
    assert "without ts" in text and "2 of them lose agreement, from 0.12 (`miam`)" in text
