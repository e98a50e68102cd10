"""Shapley values of modalities and token groups: the groups, the settings, and a model that
recovers what a toy benchmark planted (the vegetation bands, the extreme year)."""

import math

import numpy as np
import pandas as pd
import pytest
import torch

import miam.analysis.contributions as contributions
from miam.analysis.contribution_settings import ContributionSettings, contribution_options
from miam.analysis.contributions import token_groups
from miam.analysis.shapley import all_coalitions
from miam.core.split import write_split
from miam.core.tokens import Modality, TokenSet
from miam.runs.training import train_run

# --- Groups from token names -------------------------------------------------------------------

PER_BAND = [f"{b}/r{i}c{j}" for b in ("R", "G", "B", "NIR") for i in range(2) for j in range(2)]


def test_templates_group_bands_patches_years_and_frequency_bands():
    bands = token_groups("{*}/*", PER_BAND)
    assert list(bands) == ["R", "G", "B", "NIR"] and bands["NIR"] == [12, 13, 14, 15]
    patches = ["*/{*}", "{*}"]
    assert token_groups(patches, PER_BAND)["r1c0"] == [2, 6, 10, 14]
    assert token_groups(patches, ["r0c0", "r0c1"]) == {"r0c0": [0], "r0c1": [1]}
    assert token_groups("{*}/*", ["r0c0", "r0c1"]) == {}  # tokens not per band: no band groups
    years = token_groups("climate/{*}", ["climate/2000", "climate/2001", "landsat/2000"])
    assert years == {"2000": [0], "2001": [1]}
    audio = token_groups("t*{f*}", [f"t{i}f{j}" for i in range(3) for j in range(2)])
    assert audio == {"f0": [0, 2, 4], "f1": [1, 3, 5]}


def test_explicit_groups_must_match_and_must_not_overlap():
    names = ["bio1", "bio2", "elevation", "soil/ph"]
    groups = token_groups({"bioclim": ["bio*"], "soil": ["soil/*"]}, names)
    assert groups == {"bioclim": [0, 1], "soil": [3]}
    with pytest.raises(ValueError, match="match no token"):
        token_groups({"landcover": ["landcover/*"]}, names)
    with pytest.raises(ValueError, match="overlap"):
        token_groups({"a": ["bio*"], "b": ["bio1"]}, names)
    with pytest.raises(ValueError, match="exactly one"):
        token_groups("climate/*", names)


def test_settings_take_reader_defaults_and_refuse_unknown_keys():
    settings = ContributionSettings.from_dict({"samples": 50}, "geoplant")
    assert "climate_years" in settings.analyses and settings.samples == 50
    with pytest.raises(ValueError, match=r"unknown option.* for contributions"):
        ContributionSettings.from_dict({"permutation": 8}, "geoplant")
    config = {
        "contributions": {"model_seed": 1, "samples": 10, "tolerance": 0.01},
        "datasets": {"d": {"reader": "taxabench", "contributions": {"samples": 20}}},
    }
    options = contribution_options(config, "d")
    assert options == {"samples": 20, "tolerance": 0.01}
    assert "audio_bands" in ContributionSettings.from_dict(options, "taxabench").analyses


# --- Ground truth: a model recovers the planted bands and year ---------------------------------

YEARS = range(2000, 2006)
EXTREME_YEAR = 2003
BANDS = ("R", "G", "B", "NIR")
PATCHES = ("r0c0", "r0c1", "r1c0", "r1c1")
VEGETATION_PATCH = "r1c1"


def planted_tokens(n: int = 900, seed: int = 0) -> TokenSet:
    """GeoPlant-like tokens with three planted species.

    `greenness` (half seen in red, half in NIR, in patch r1c1 only); `heat`, the extreme
    year's anomaly, only in climate/2003; `warmth` is only in bio1. Species 0 follows greenness,
    species 1 heat, species 2 warmth. Green and blue, other years, soil, elevation: noise.
    """
    rng = np.random.default_rng(seed)
    red_signal, nir_signal, heat, warmth = rng.normal(size=(4, n))
    greenness = (nir_signal + red_signal) / np.sqrt(2)
    tabular = rng.normal(size=(n, 5, 1))
    tabular[:, 0, 0] += warmth
    climate = rng.normal(size=(n, len(YEARS), 4))
    climate[:, YEARS.index(EXTREME_YEAR)] += heat[:, None]
    satellite = rng.normal(size=(n, len(BANDS), len(PATCHES), 4)) * 0.4
    strength = (np.array(PATCHES) == VEGETATION_PATCH)[None, :, None]
    # each band sees its own half of greenness, so the model needs both, as NDVI does. Same sign
    # in both: the tokens of a modality share one linear embedding, and a tiny model trained a
    # few epochs learnt a contrast (NIR - R) in one band only
    satellite[:, BANDS.index("R")] += red_signal[:, None, None] * strength
    satellite[:, BANDS.index("NIR")] += nir_signal[:, None, None] * strength
    drivers = np.stack([greenness, heat, warmth], axis=1)
    targets = (rng.random((n, 3)) < 1 / (1 + np.exp(-3 * drivers))).astype(np.uint8)

    def present(tokens):
        return np.ones((n, tokens), dtype=bool)

    return TokenSet(
        task="multilabel",
        modalities=[
            Modality(
                "tabular",
                "scalar",
                tabular,
                present(5),
                ["bio1", "bio2", "elevation", "soil/ph", "soil/clay"],
            ),
            Modality(
                "timeseries",
                "vector",
                climate,
                present(len(YEARS)),
                [f"climate/{y}" for y in YEARS],
            ),
            Modality(
                "satellite",
                "vector",
                satellite.reshape(n, 16, 4),
                present(16),
                [f"{b}/{p}" for b in BANDS for p in PATCHES],
            ),
        ],
        targets=targets,
        samples=pd.DataFrame(
            {
                "sample_id": [f"s{i}" for i in range(n)],
                "lon": rng.uniform(0, 12, n),
                "lat": rng.uniform(40, 52, n),
            }
        ),
        class_names=["greenness", "heat", "warmth"],
    )


@pytest.fixture(scope="module")
def planted_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("planted")
    tokens = planted_tokens()
    tokens.save(folder / "tokens")
    write_split(tokens.samples, folder / "split.csv", block_size=1.0, seed=0)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # on loaded cores, one thread is several times faster here
    train_run(
        folder / "tokens",
        folder / "split.csv",
        folder / "uniform",
        seed=0,
        strategy={"kind": "uniform"},
        model={"dim": 32, "depth": 1, "heads": 2, "ffn_dim": 64, "n_frequencies": 8},
        training={"epochs": 20, "batch_size": 64, "lr": 1e-2, "device": "cpu"},
    )
    settings = ContributionSettings.from_dict(
        # 6 years > 4: years and variables go through sampled permutations, bands exact. Scored
        # on the training samples: the test is about what the model uses, not how it generalises
        {
            "split": "train",
            "samples": None,
            "exact_max_groups": 4,
            "min_permutations": 8,
            "max_permutations": 64,
            "tolerance": 0.01,
        },
        "geoplant",
    )
    model_path = folder / "uniform" / "model.pt"
    tables = contributions.contributions_run(
        {"uniform": model_path}, folder / "tokens", folder / "split.csv", settings, device="cpu"
    )
    torch.set_num_threads(threads)
    return {"tables": tables, "settings": settings, "model": model_path}


def ranked(groups: pd.DataFrame, analysis: str) -> list[str]:
    rows = groups[groups.analysis == analysis]
    return rows.sort_values("shapley", ascending=False)["group"].tolist()


def test_planted_bands_patch_year_and_variable_rank_first(planted_run):
    groups = planted_run["tables"]["groups"]
    assert set(ranked(groups, "bands")[:2]) == {"R", "NIR"}
    assert ranked(groups, "patches")[0] == VEGETATION_PATCH
    assert ranked(groups, "climate_years")[0] == str(EXTREME_YEAR)
    assert ranked(groups, "variables")[0] == "bio1"
    assert ranked(groups, "variable_groups")[0] == "bioclim"
    # reader defaults whose tokens this tokenization lacks (Landsat years) are skipped
    assert set(groups.analysis) == {
        "bands",
        "patches",
        "climate_years",
        "variables",
        "variable_groups",
    }


def test_efficiency_holds_for_exact_and_sampled_values(planted_run):
    tables, settings = planted_run["tables"], planted_run["settings"]
    for analysis, rows in tables["groups"].groupby("analysis"):
        gap = rows["full"].iloc[0] - rows["empty"].iloc[0]
        assert math.isclose(rows["shapley"].sum(), gap, abs_tol=1e-9), analysis
        expected = "permutation" if len(rows) > settings.exact_max_groups else "exact"
        assert (rows["method"] == expected).all(), analysis
    years = tables["groups"].query("analysis == 'climate_years'")
    assert (years["se"] > 0).all() and years["permutations"].iloc[0] >= 8
    modalities = tables["modalities"]
    assert math.isclose(
        modalities["shapley"].sum(), modalities["full"][0] - modalities["empty"][0], abs_tol=1e-9
    )
    # the prior (summary token alone) is one constant score per species: AUROC exactly 0.5
    assert (modalities["empty"] == 0.5).all() and (modalities["full"] > 0.7).all()


def test_evaluations_are_coalitions_times_samples_and_tables_are_complete(planted_run):
    tables = planted_run["tables"]
    groups = tables["groups"]
    bands = groups[groups.analysis == "bands"]
    assert bands["coalitions"].iloc[0] == 16  # exact: all 2^4 coalitions, each once
    assert (groups["evaluations"] == groups["coalitions"] * groups["samples"]).all()
    assert tables["modalities"]["evaluations"].iloc[0] == 8 * groups["samples"].iloc[0]
    convergence = tables["convergence"].query("analysis == 'climate_years'")
    assert sorted(set(convergence["permutations"]))[0] == 8
    context = tables["context"]
    assert context["visible_groups"].tolist() == list(range(len(YEARS) + 1))
    assert context["oldest"].tolist()[1] == str(max(YEARS))
    # the curve jumps when the extreme year becomes visible
    jump = context["value"].diff().idxmax()
    assert context.loc[jump, "oldest"] == str(EXTREME_YEAR)
    table = contributions.modality_table(tables["modalities"])
    assert list(table.columns) == ["tabular", "timeseries", "satellite", "empty", "full"]


def test_model_game_evaluates_all_coalitions_in_one_batched_pass(planted_run, monkeypatch):
    from miam.core.data import DeviceData
    from miam.runs.runtime import load_model

    tokens = planted_tokens(n=120)
    model, normalizer, _ = load_model(planted_run["model"], "cpu")
    data = DeviceData(tokens, normalizer, torch.device("cpu"))
    passes = []
    real = contributions.predict_subsets

    def counted(model, data, index, selectors, batch_size):
        passes.append(len(selectors))
        return real(model, data, index, selectors, batch_size)

    monkeypatch.setattr(contributions, "predict_subsets", counted)
    selectors = np.stack([data.selector({m: "all"}).numpy() for m in data.modality_tokens])
    game = contributions.ModelGame(model, data, np.arange(120), selectors)
    values = game(all_coalitions(3))
    assert passes == [8] and game.evaluations == 8 * 120
    assert values[0] == 0.5
