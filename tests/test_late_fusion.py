"""Late fusion: unimodal models combined per subset, and the learned combiner."""

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import write_toy

from miam.analysis.late_fusion import (
    COMBINER_FOLDS,
    MODELS,
    Combiner,
    CrossFitted,
    combiner_folds,
    evaluate_late_fusion,
    load_combiner,
    train_combiner,
    train_combiner_run,
    unimodal_logits,
)
from miam.core.data import DeviceData
from miam.core.metrics import task_metrics
from miam.core.split import split_indices
from miam.core.subsets import modality_subsets
from miam.core.tokens import TokenSet
from miam.runs.evaluation import evaluate_run
from miam.runs.runtime import load_model
from miam.runs.training import train_run

TINY_MODEL = {"dim": 32, "depth": 1, "heads": 2, "ffn_dim": 64, "n_frequencies": 8}
TINY_TRAINING = {"epochs": 2, "batch_size": 64, "device": "cpu"}
MODALITIES = ["tab", "ts", "img"]


@pytest.fixture(scope="module")
def unimodal(tmp_path_factory):
    """Toy tokens, split and one tiny model per modality: (tokens, split, model paths)."""
    folder = tmp_path_factory.mktemp("late_fusion")
    tokens, split = write_toy(folder, n=300)
    paths = []
    for modality in MODALITIES:
        out = folder / "unimodal" / modality
        train_run(
            tokens,
            split,
            out,
            seed=0,
            subset={modality: "all"},
            model=TINY_MODEL,
            training=TINY_TRAINING,
        )
        paths.append(out / "model.pt")
    return tokens, split, paths


@torch.no_grad()
def own_logits(path, tokens: TokenSet, index, visible_spec):
    """One model's logits, computed on its own: the inputs late fusion must reproduce."""
    model, normalizer, _ = load_model(path)
    data = DeviceData(tokens, normalizer, torch.device("cpu"))
    rows = torch.as_tensor(index)
    visible = data.present[rows] & data.selector(visible_spec)
    return model(data.batch(rows), visible)


def fused(paths, tokens, index, spec):
    logits = unimodal_logits(paths, tokens, index, {"subset": spec})
    return Combiner(len(paths), logits.logits[0].shape[-1])(*logits.subset(0)).detach()


def test_every_modality_visible_is_the_mean_of_the_unimodal_logits(unimodal):
    tokens_dir, split, paths = unimodal
    tokens = TokenSet.load(tokens_dir)
    index = split_indices(split)["test"]
    every = {m: "all" for m in MODALITIES}
    expected = torch.stack(
        [
            own_logits(path, tokens, index, {m: "all"})
            for path, m in zip(paths, MODALITIES, strict=True)
        ]
    ).mean(dim=0)
    # In the toy data every sample has some `ts` token: all three modalities are visible.
    assert tokens.modality("ts").present[index].any(axis=1).all()
    torch.testing.assert_close(fused(paths, tokens, index, every), expected, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize(
    ("modality", "spec"),
    [("tab", {"tab": "all"}), ("img", {"img": "all"}), ("tab", {"tab": ["v1"]})],
    ids=["tab", "img", "v1 only"],
)
def test_one_visible_modality_is_that_modality_model(unimodal, modality, spec):
    tokens_dir, split, paths = unimodal
    tokens = TokenSet.load(tokens_dir)
    index = split_indices(split)["test"]
    expected = own_logits(paths[MODALITIES.index(modality)], tokens, index, spec)
    torch.testing.assert_close(fused(paths, tokens, index, spec), expected, atol=1e-5, rtol=1e-5)


def test_a_sample_with_nothing_visible_gets_the_prior_of_the_subsets_modality(unimodal):
    tokens_dir, _, paths = unimodal
    tokens = TokenSet.load(tokens_dir)
    lacking = np.flatnonzero(~tokens.modality("ts").present[:, 0])  # no year/2000 token
    assert len(lacking) > 0
    nothing = {"ts": ["year/2000"]}
    priors = torch.stack([own_logits(path, tokens, lacking, nothing) for path in paths])
    assert torch.allclose(priors[:, :1], priors, atol=1e-5)  # a prior ignores the sample
    assert not torch.allclose(priors[0], priors[1], atol=1e-3)  # and differs between models
    torch.testing.assert_close(
        fused(paths, tokens, lacking, nothing), priors[MODALITIES.index("ts")], atol=0, rtol=0
    )


ONE_MODALITY = {
    "tab": {"tab": "all"},
    "ts": {"ts": "all"},
    "img": {"img": "all"},
    "v1": {"tab": ["v1"]},
    "year 2000": {"ts": ["year/2000"]},  # absent for 10 % of the samples
}


def test_late_fusion_is_its_model_on_every_one_modality_column(unimodal, tmp_path):
    # Late fusion evaluates its models on both splits at once, with subsets of every modality;
    # the model alone on its own columns: the same scores all the same, to the last bit.
    tokens_dir, split, paths = unimodal
    subsets = {name: ("named", spec) for name, spec in ONE_MODALITY.items()}
    subsets["all"] = ("named", {m: "all" for m in MODALITIES})
    combiner = tmp_path / "combiner.pt"
    train_combiner_run(paths, tokens_dir, split, combiner, seed=0)
    fusion = evaluate_late_fusion(paths, tokens_dir, split, subsets, combiner)["late_fusion"]
    for name, spec in ONE_MODALITY.items():
        (modality,) = spec
        alone = evaluate_run(
            paths[MODALITIES.index(modality)], tokens_dir, split, {name: subsets[name]}
        )
        fused_rows = fusion[fusion["subset"] == name].reset_index(drop=True)
        pd.testing.assert_frame_equal(fused_rows, alone, check_exact=True)


def toy_logits(task: str, n: int, seed: int):
    """Two modalities' logits: `good` carries the label, `noise` is loud noise; both available."""
    rng = np.random.default_rng(seed)
    n_classes = 4
    label = rng.integers(n_classes, size=n)
    onehot = np.eye(n_classes)[label]
    good = 2.0 * (2 * onehot - 1) + rng.normal(size=(n, n_classes))
    noise = 3.0 * rng.normal(size=(n, n_classes))
    logits = torch.as_tensor(np.stack([good, noise], axis=1), dtype=torch.float32)
    if task == "multiclass":
        return logits, torch.as_tensor(label), label
    return logits, torch.as_tensor(onehot, dtype=torch.float32), onehot


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_learned_combiner_is_deterministic_and_learns_to_ignore_noise(task):
    logits, targets, _ = toy_logits(task, 500, seed=0)
    available = torch.ones(500, 2, dtype=torch.bool)
    first = train_combiner(logits, available, targets, task, seed=3, steps=100)
    again = train_combiner(logits, available, targets, task, seed=3, steps=100)
    assert torch.equal(first.weight_logits, again.weight_logits)

    held_out, _, labels = toy_logits(task, 1000, seed=1)
    both = torch.ones(1000, 2, dtype=torch.bool)
    plain = Combiner(2, 4)
    with torch.no_grad():
        learned_score = task_metrics(task, first(held_out, both).numpy(), labels)
        plain_score = task_metrics(task, plain(held_out, both).numpy(), labels)
    primary = next(iter(learned_score))
    assert learned_score[primary] >= plain_score[primary]
    # The noise modality is down-weighted for every class.
    assert (first.weight_logits[0] > first.weight_logits[1]).all()


def test_combiner_weights_only_the_visible_modalities():
    combiner = Combiner(3, 2)
    with torch.no_grad():
        combiner.weight_logits.copy_(torch.tensor([[0.0, 1.0], [2.0, 0.0], [5.0, 5.0]]))
    logits = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    visible = torch.tensor([[True, True, False]])
    weights = torch.softmax(torch.tensor([[0.0, 1.0], [2.0, 0.0]]), dim=0)
    expected = (weights * logits[0, :2]).sum(dim=0, keepdim=True)
    torch.testing.assert_close(combiner(logits, visible), expected)


def test_late_fusion_run_evaluates_every_subset_on_both_splits(unimodal, tmp_path):
    tokens, split, paths = unimodal
    combiner = tmp_path / "combiner.pt"
    summary = train_combiner_run(paths, tokens, split, combiner, seed=0, device="cpu")
    assert set(summary) == set(MODELS)
    subsets = {name: ("modalities", spec) for name, spec in modality_subsets(MODALITIES).items()}
    subsets["v1 only"] = ("named", {"tab": ["v1"]})
    frames = evaluate_late_fusion(paths, tokens, split, subsets, combiner, device="cpu")
    assert set(frames) == set(MODELS)
    for frame in frames.values():
        assert list(frame.columns) == ["split", "family", "subset", "metric", "value"]
        assert len(frame) == 2 * len(subsets) * 2  # splits x subsets x (top1, top5)
        assert set(frame["subset"]) == set(subsets)
        assert frame.set_index("subset").loc["v1 only", "family"].eq("named").all()
        assert frame["value"].between(0, 1).all()
    # Plain late fusion on one modality is that modality's model: the same for both combiners.
    single = [f[f.subset == "img"].value.to_numpy() for f in frames.values()]
    np.testing.assert_allclose(single[0], single[1])


def test_learned_combiner_scores_each_validation_sample_out_of_fold(unimodal, tmp_path):
    tokens_dir, split, paths = unimodal
    train_combiner_run(paths, tokens_dir, split, tmp_path / "combiner.pt", seed=4, device="cpu")
    learned, _, fold_seed = load_combiner(tmp_path / "combiner.pt")
    assert fold_seed == 4 and len(learned.combiners) == COMBINER_FOLDS

    tokens = TokenSet.load(tokens_dir)
    val = split_indices(split)["val"]
    folds = torch.as_tensor(combiner_folds(len(val), 4))
    assert np.bincount(folds.numpy()).tolist() in (
        [len(val) // 2, len(val) - len(val) // 2],
        [len(val) - len(val) // 2, len(val) // 2],
    )
    logits, available = unimodal_logits(
        paths, tokens, val, {"all": {m: "all" for m in MODALITIES}}
    ).subset(0)
    targets = torch.as_tensor(tokens.targets[val])
    for k, combiner in enumerate(learned.combiners):
        # Fold k's combiner is exactly a fit on the other folds: it never saw fold k.
        refit = train_combiner(
            logits[folds != k], available[folds != k], targets[folds != k], tokens.task, seed=4
        )
        torch.testing.assert_close(combiner.weight_logits, refit.weight_logits)
        rows = folds == k
        torch.testing.assert_close(
            learned(logits, available, folds)[rows], combiner(logits[rows], available[rows])
        )
    # Test samples (no fold) get the mean of the fold combiners.
    mean = torch.stack([c(logits, available) for c in learned.combiners]).mean(dim=0)
    torch.testing.assert_close(learned(logits, available), mean)
    assert isinstance(learned, CrossFitted)
