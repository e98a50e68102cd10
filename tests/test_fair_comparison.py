"""What keeps the strategy table fair: one species set, the selection rule, the loss weights,
blind oracles and the noise floor MIAM is given. Expected values are worked out by hand."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from helpers import write_toy

from miam.core.data import DeviceData
from miam.core.metrics import (
    auroc_standard_error,
    comparable_scores,
    per_class_auroc,
    primary_standard_error,
    scored_classes,
)
from miam.core.split import split_indices
from miam.core.tokens import TokenSet
from miam.runs.evaluation import evaluate_run, predict_subsets
from miam.runs.runtime import load_model
from miam.runs.training import loss_function, score_points, train_run

TINY_MODEL = {"dim": 16, "depth": 1, "heads": 2, "ffn_dim": 32, "n_frequencies": 4}


def tiny_training(**more):
    return {"epochs": 3, "batch_size": 64, "device": "cpu", "threads": 1, **more}


def test_species_set_keeps_classes_with_positives_and_negatives_in_every_split():
    # class 0: positives everywhere; 1: none in test; 2: only positives in val; 3: fine.
    targets = np.array(
        [
            [1, 1, 0, 0],  # train
            [0, 0, 1, 1],  # train
            [1, 1, 1, 0],  # val
            [0, 1, 1, 1],  # val
            [1, 0, 0, 1],  # test
            [0, 0, 1, 0],  # test
        ]
    )
    splits = {"train": np.array([0, 1]), "val": np.array([2, 3]), "test": np.array([4, 5])}
    assert scored_classes(targets, splits).tolist() == [0, 3]
    assert scored_classes(np.array([0, 1, 2]), splits) is None  # multiclass: no class set


def test_validation_and_test_average_the_same_species(tmp_path):
    tokens_dir, split = write_toy(tmp_path, n=400, task="multilabel", n_classes=6)
    tokens = TokenSet.load(tokens_dir)
    index = split_indices(split)
    # Species 5 is seen in train and val only: averaging over the species each split has would
    # give validation and test different species sets.
    tokens.targets[:, 5] = 0
    tokens.targets[index["train"][:20], 5] = 1
    tokens.targets[index["val"][:10], 5] = 1
    tokens.save(tokens_dir)
    classes = scored_classes(tokens.targets, index)
    assert classes.tolist() == [0, 1, 2, 3, 4]

    train_run(
        tokens_dir,
        split,
        tmp_path / "run",
        0,
        {"kind": "uniform"},
        None,
        TINY_MODEL,
        tiny_training(),
    )
    every = {"tab": "all", "ts": "all", "img": "all"}
    evaluations = evaluate_run(
        tmp_path / "run" / "model.pt", tokens_dir, split, {"all": ("named", every)}, device="cpu"
    )
    model, normalizer, _ = load_model(tmp_path / "run" / "model.pt")
    data = DeviceData(tokens, normalizer, torch.device("cpu"))
    for split_name in ["val", "test"]:
        rows = index[split_name]
        logits = predict_subsets(model, data, torch.as_tensor(rows), data.selector(every)[None])
        # Every metric compares logits rounded to SCORE_DECIMALS (metrics.comparable_scores).
        scores = comparable_scores(logits[0].numpy())
        by_hand = np.nanmean(per_class_auroc(scores, tokens.targets[rows])[classes])
        value = evaluations.query("split == @split_name and metric == 'auroc'")["value"].item()
        assert value == pytest.approx(by_hand, abs=1e-9)


def test_auroc_and_accuracy_standard_errors_match_hand_values():
    # labels 1,1,0,0 and scores .9,.3,.5,.1: 3 of 4 pairs ordered, A = 0.75. Hanley-McNeil:
    # Q1 = .75/1.25 = .6, Q2 = 2 * .5625 / 1.75 = .642857,
    # var = (.1875 + (.6 - .5625) + (.642857 - .5625)) / 4 = .0763393, SE = .276296.
    labels = np.array([[1], [1], [0], [0]])
    scores = np.array([[0.9], [0.3], [0.5], [0.1]])
    assert auroc_standard_error(scores, labels) == pytest.approx(0.276296, abs=1e-6)
    # Two identical independent classes: the mean's SE is SE / sqrt(2).
    two = auroc_standard_error(np.hstack([scores, scores]), np.hstack([labels, labels]))
    assert two == pytest.approx(0.276296 / np.sqrt(2), abs=1e-6)
    # Accuracy 1/2 on 100 samples: sqrt(.25 / 100) = 0.05.
    logits = np.zeros((100, 3))
    logits[np.arange(100), np.r_[np.zeros(50, int), np.ones(50, int)]] = 1
    assert primary_standard_error("multiclass", logits, np.zeros(100, int)) == pytest.approx(0.05)


def test_weighted_bce_weights_match_the_full_weighted_loss_by_hand():
    # 4 samples: class 0 has 2 positives -> positive weight 4/2 = 2, negative 4/2 = 2;
    # class 1 has 1 positive -> positive weight 4, negative 4/3 (= 4 / (4 - 1)).
    targets = torch.tensor([[1.0, 0.0], [0.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    logits = torch.tensor([[0.3, -1.0], [0.2, 0.5], [-0.4, 2.0], [1.5, -0.1]])
    weights = torch.tensor([[2.0, 4 / 3], [2.0, 4 / 3], [2.0, 4.0], [2.0, 4 / 3]])
    per_entry = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    expected = (weights * per_entry).mean()
    assert loss_function("multilabel", targets)(logits, targets).item() == pytest.approx(
        expected.item(), rel=1e-6
    )


def test_an_oracle_is_blind_to_tokens_outside_its_subset(tmp_path):
    tokens_dir, split = write_toy(tmp_path / "a", n=300)
    other = TokenSet.load(tokens_dir)
    rng = np.random.default_rng(1)
    for name in ["ts", "img"]:  # outside the oracle's subset: replaced by noise
        modality = other.modality(name)
        modality.values[:] = rng.normal(size=modality.values.shape) * 10
    other.save(tmp_path / "b" / "tokens")
    runs = []
    for folder, tokens in [("a", tokens_dir), ("b", tmp_path / "b" / "tokens")]:
        train_run(
            tokens,
            split,
            tmp_path / folder / "run",
            0,
            None,
            {"tab": "all"},
            TINY_MODEL,
            tiny_training(),
        )
        subsets = {"tab": ("named", {"tab": "all"})}
        runs.append(
            evaluate_run(
                tmp_path / folder / "run" / "model.pt", tokens, split, subsets, device="cpu"
            )
        )
    pd.testing.assert_frame_equal(runs[0], runs[1])


@pytest.mark.parametrize("rule", ["subsets", "full", "last"])
def test_the_kept_epoch_follows_the_selection_rule_and_is_recorded(tmp_path, rule):
    tokens, split = write_toy(tmp_path, n=300)
    named = {
        "tab": {"tab": "all"},
        "ts": {"ts": "all"},
        "all": {m: "all" for m in ["tab", "ts", "img"]},
    }
    metrics = train_run(
        tokens,
        split,
        tmp_path / "run",
        0,
        {"kind": "uniform"},
        None,
        TINY_MODEL,
        tiny_training(select_on=rule, epochs=4),
        selection_subsets=named,
    )
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    column = {"subsets": "val_top1_named_mean", "full": "val_top1", "last": "epoch"}[rule]
    assert metrics["best_epoch"] == int(history.loc[history[column].idxmax(), "epoch"])
    assert metrics["selected_on"] == rule
    written = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert written["best_epoch"] == metrics["best_epoch"] and written["selected_on"] == rule


def test_select_from_restricts_the_strategies_kept_epoch_but_never_an_oracles(tmp_path):
    """An oracle validates its one subset every epoch and may peak early; a late-only choice
    would handicap the yardstick every strategy is measured against."""
    tokens, split = write_toy(tmp_path, n=300)
    named = {"tab": {"tab": "all"}, "ts": {"ts": "all"}}
    training = tiny_training(select_from=0.5, epochs=4)
    strategy = (tmp_path / "strategy", {"kind": "uniform"}, None, named)
    oracle = (tmp_path / "oracle", None, {"tab": "all"}, None)
    for folder, spec, subset, selection in [strategy, oracle]:
        train_run(tokens, split, folder, 0, spec, subset, TINY_MODEL, training, selection)
    strategy_history = pd.read_csv(tmp_path / "strategy" / "history.csv")
    assert strategy_history["selection_score"].isna().tolist() == [True, True, False, False]
    assert strategy_history["val_top1_named_mean"].isna().tolist() == [True, True, False, False]
    oracle_history = pd.read_csv(tmp_path / "oracle" / "history.csv")
    assert oracle_history["selection_score"].notna().all()
    kept = json.loads((tmp_path / "oracle" / "metrics.json").read_text())["best_epoch"]
    assert kept == int(oracle_history.loc[oracle_history["val_top1"].idxmax(), "epoch"])


def test_unimodal_scores_are_observed_several_times_per_epoch_with_their_noise(tmp_path):
    assert score_points(10, 3) == {3, 7, 10}
    assert score_points(2, 5) == {1, 2}
    tokens, split = write_toy(tmp_path, n=300)
    train_run(
        tokens,
        split,
        tmp_path / "run",
        0,
        {"kind": "miam"},
        None,
        TINY_MODEL,
        tiny_training(scores_per_epoch=2, score_samples=40),
    )
    history = pd.read_csv(tmp_path / "run" / "history.csv")
    assert (history["observations"] == 2).all()
    # Accuracy on 40 samples: its standard error is sqrt(s (1 - s) / 40), passed to MIAM.
    for m in ["tab", "ts", "img"]:
        s = history[f"s.{m}"]
        np.testing.assert_allclose(history[f"s_se.{m}"], np.sqrt(s * (1 - s) / 40), atol=1e-9)


def test_strategies_that_do_not_learn_from_scores_are_observed_once_per_epoch(tmp_path):
    """Uniform masking ignores s_m: it is measured at the end of each epoch for the log only,
    not at the epoch's other observation points (MIAM's above: two per epoch)."""
    tokens, split = write_toy(tmp_path, n=300)
    for training in [tiny_training(scores_per_epoch=3, score_samples=40), tiny_training()]:
        train_run(
            tokens, split, tmp_path / "run", 0, {"kind": "uniform"}, None, TINY_MODEL, training
        )
        history = pd.read_csv(tmp_path / "run" / "history.csv")
        assert (history["observations"] == 1).all()
        assert history["s.tab"].notna().all()
