"""Model, training, resume and batched evaluation on small random token sets."""

import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import toy_tokens, write_toy
from sklearn.metrics import roc_auc_score

import miam.runs.checkpoints as checkpoints
import miam.runs.runtime as runtime
import miam.runs.training as training
from miam.core.data import DeviceData, Normalizer
from miam.core.metrics import macro_auroc, per_class_auroc, task_metrics, top_k_accuracy
from miam.core.optim import AdamW
from miam.core.split import spatial_block_split
from miam.core.subsets import modality_subsets
from miam.runs.evaluation import evaluate_subsets, length_passes, predict_subsets

SMALL_MODEL = {"dim": 32, "depth": 2, "heads": 4, "ffn_dim": 64, "n_frequencies": 8}


def test_auroc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.random((200, 5)) < 0.3
    scores = np.round(rng.normal(size=(200, 5)) + labels, 1)  # rounding makes ties
    expected = [roc_auc_score(labels[:, c], scores[:, c]) for c in range(5)]
    np.testing.assert_allclose(per_class_auroc(scores, labels), expected, rtol=1e-12)
    assert macro_auroc(np.zeros((200, 5)), labels) == 0.5  # a constant guess is chance


def test_metrics_ignore_the_last_bits_batching_moves():
    # Samples a model cannot tell apart tie; batching moves their float32 logits by ~1e-7,
    # which must not break the tie (nor move AUROC or top-1).
    rng = np.random.default_rng(0)
    labels = rng.random((300, 4)) < 0.3
    scores = np.round(rng.normal(size=(300, 4)) + labels, 1).astype(np.float32)
    moved = scores + rng.uniform(-3e-7, 3e-7, size=scores.shape).astype(np.float32)
    assert (moved != scores).any()
    metrics = task_metrics("multilabel", scores, labels)
    assert task_metrics("multilabel", moved, labels) == metrics
    assert macro_auroc(moved, labels) != metrics["auroc"]  # the raw scores' ranks do move
    classes = labels.argmax(axis=1)
    assert task_metrics("multiclass", moved, classes) == task_metrics("multiclass", scores, classes)


def test_auroc_skips_classes_without_positives():
    labels = np.array([[1, 0], [0, 0], [1, 0]])
    assert macro_auroc(np.array([[0.9, 0.1], [0.1, 0.2], [0.8, 0.3]]), labels) == 1.0


def test_top_k():
    scores = np.array([[0.1, 0.5, 0.4], [0.8, 0.1, 0.1]])
    assert top_k_accuracy(scores, np.array([2, 0]), 1) == 0.5
    assert top_k_accuracy(scores, np.array([2, 0]), 2) == 1.0


def test_spatial_split_keeps_blocks_together_and_is_seeded():
    rng = np.random.default_rng(1)
    lon, lat = rng.uniform(0, 20, 2000), rng.uniform(40, 60, 2000)
    split = spatial_block_split(lon, lat, block_size=2.0, seed=3)
    assert (split == spatial_block_split(lon, lat, block_size=2.0, seed=3)).all()
    block = np.floor(lon / 2.0) * 1000 + np.floor(lat / 2.0)
    for b in np.unique(block):
        assert len(set(split[block == b])) == 1
    for name, share in [("train", 0.7), ("val", 0.15), ("test", 0.15)]:
        assert abs((split == name).mean() - share) < 0.06


def tiny_model(tokens):
    data = DeviceData(
        tokens, Normalizer.fit(tokens, np.arange(tokens.n_samples)), torch.device("cpu")
    )
    torch.manual_seed(0)
    return training.build_model(data, training.ModelConfig(**SMALL_MODEL)), data


def test_batched_subset_evaluation_equals_one_pass_per_subset():
    tokens = toy_tokens(n=300)
    model, data = tiny_model(tokens)
    subsets = modality_subsets(["tab", "ts", "img"]) | {"v1 only": {"tab": ["v1"]}}
    index = torch.arange(300)
    selectors = torch.stack([data.selector(s) for s in subsets.values()])
    batched = predict_subsets(model, data, index, selectors, batch_size=97, sample_chunk=128)
    model.eval()
    with torch.no_grad():
        for s, selector in enumerate(selectors):
            one_pass = model(data.batch(index), data.present & selector)
            torch.testing.assert_close(batched[s], one_pass, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("pass_tokens", [30, 10**9])
def test_passes_of_any_token_budget_give_the_same_scores(pass_tokens):
    tokens = toy_tokens(n=90)
    model, data = tiny_model(tokens)
    subsets = modality_subsets(["tab", "ts", "img"]) | {"v1 only": {"tab": ["v1"]}}
    index = torch.arange(3, 90, 2)  # not every sample, not from the first
    selectors = torch.stack([data.selector(s) for s in subsets.values()])
    batched = predict_subsets(
        model, data, index, selectors, batch_size=16, sample_chunk=30, pass_tokens=pass_tokens
    )
    model.eval()
    with torch.no_grad():
        for s, selector in enumerate(selectors):
            one_pass = model(data.batch(index), data.present[index] & selector)
            torch.testing.assert_close(batched[s], one_pass, atol=1e-5, rtol=1e-5)


def test_length_passes_cover_rows_in_order_within_their_limits():
    rng = np.random.default_rng(0)
    lengths = torch.sort(torch.as_tensor(rng.choice([0, 1, 1, 4, 19, 20, 40, 86], 3000))).values
    for max_rows, max_tokens in [(4096, None), (500, None), (4096, 8192), (64, 300), (7, 1)]:
        passes = length_passes(lengths, max_rows, max_tokens, slack=0.1)
        assert passes[0][0] == 0 and passes[-1][1] == len(lengths)
        assert all(a[1] == b[0] for a, b in itertools.pairwise(passes))
        for first, last in passes:
            part = lengths[first:last] + 1  # with the summary token
            assert 0 < last - first <= max_rows
            padded = (last - first) * int(part.max())
            assert max_tokens is None or padded <= max_tokens or last - first == 1
            assert padded <= 1.1 * int(part.sum()) + 1e-9
        if max_tokens is None and max_rows == 4096:  # one pass per length but 19 & 20 merged
            assert len(passes) == 6


def test_dropping_masked_tokens_equals_never_having_them():
    """A sample's prediction depends only on its visible tokens, not on padding or neighbours."""
    tokens = toy_tokens(n=50)
    model, data = tiny_model(tokens)
    model.eval()
    visible = data.present.clone()
    visible[0, 4:] = False  # sample 0 shows only the tabular tokens
    with torch.no_grad():
        in_batch = model(data.batch(torch.arange(50)), visible)[0]
        values = data.batch(torch.tensor([0]))
        values[1] = torch.randn_like(values[1])  # hidden tokens may hold anything
        alone = model(values, visible[:1])[0]
    torch.testing.assert_close(in_batch, alone, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("length_buckets", [1, 3])
def test_padding_changes_neither_logits_nor_gradients(length_buckets):
    """Rows are padded to the longest of their length group: a batch of mixed lengths gives
    each sample its logits and gradients as if encoded alone."""
    tokens = toy_tokens(n=12)
    model, data = tiny_model(tokens)
    model.eval()
    values = data.batch(torch.arange(12))
    visible = data.present & (torch.rand(data.present.shape, generator=torch.manual_seed(2)) < 0.6)
    visible[0] = False  # the summary token alone
    visible[1] = data.present[1]  # every token
    parameters = list(model.parameters())
    batch_grads = torch.autograd.grad(
        model(values, visible, length_buckets).square().sum(), parameters
    )
    alone_grads = [torch.zeros_like(p) for p in parameters]
    for i in range(12):
        alone = model([v[i : i + 1] for v in values], visible[i : i + 1]).square().sum()
        for total, grad in zip(alone_grads, torch.autograd.grad(alone, parameters), strict=True):
            total += grad
    for batch_grad, alone_grad in zip(batch_grads, alone_grads, strict=True):
        torch.testing.assert_close(batch_grad, alone_grad, atol=1e-5, rtol=1e-4)


def test_evaluation_restores_training_mode():
    model, data = tiny_model(toy_tokens(n=60))
    model.train()
    evaluate_subsets(model, data, np.arange(60), {"all": {"tab": "all"}})
    assert model.training


@pytest.mark.parametrize("task", ["multiclass", "multilabel"])
def test_training_learns_above_chance(tmp_path, task):
    tokens_dir, split = write_toy(tmp_path, task=task)
    metrics = training.train_run(
        tokens_dir,
        split,
        tmp_path / "run",
        seed=0,
        strategy={"kind": "uniform"},
        model=SMALL_MODEL,
        training={"epochs": 6, "batch_size": 64, "lr": 3e-3},
    )
    chance = 0.25 if task == "multiclass" else 0.5
    assert metrics[f"best_val_{'top1' if task == 'multiclass' else 'auroc'}"] > chance + 0.2
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == 7 and "s.tab" in history[0] and "expected_p.tab" in history[0]


def test_resume_after_kill_gives_identical_weights(tmp_path, monkeypatch):
    tokens_dir, split = write_toy(tmp_path)
    args = dict(
        seed=1,
        strategy={"kind": "miam"},
        model=SMALL_MODEL,
        training={"epochs": 4, "batch_size": 64, "checkpoint_seconds": 0},
    )
    training.train_run(tokens_dir, split, tmp_path / "straight", **args)

    real_save, saves = checkpoints.atomic_save, []

    def killed_after_two_epochs(obj, path):
        real_save(obj, path)
        saves.append(path)
        if len(saves) == 2:
            raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(checkpoints, "atomic_save", killed_after_two_epochs)
    with pytest.raises(KeyboardInterrupt):
        training.train_run(tokens_dir, split, tmp_path / "killed", **args)
    assert not (tmp_path / "killed" / "model.pt").exists()
    monkeypatch.setattr(checkpoints, "atomic_save", real_save)
    training.train_run(tokens_dir, split, tmp_path / "killed", **args)

    straight = torch.load(tmp_path / "straight" / "model.pt", weights_only=True)
    resumed = torch.load(tmp_path / "killed" / "model.pt", weights_only=True)
    assert straight["best_epoch"] == resumed["best_epoch"]
    for name, weight in straight["weights"].items():
        assert torch.equal(weight, resumed["weights"][name]), name
    assert (tmp_path / "straight" / "history.csv").read_text() != ""


def test_checkpoints_are_written_at_most_every_checkpoint_seconds_and_after_the_last_epoch(
    tmp_path, monkeypatch
):
    tokens_dir, split = write_toy(tmp_path)
    real_save, saved = checkpoints.atomic_save, []

    def counted(obj, path):
        saved.append((Path(path).name, obj.get("epoch")))
        real_save(obj, path)

    monkeypatch.setattr(checkpoints, "atomic_save", counted)
    args = dict(seed=0, strategy={"kind": "uniform"}, model=SMALL_MODEL)
    hourly = {"epochs": 3, "batch_size": 64, "checkpoint_seconds": 3600}
    training.train_run(tokens_dir, split, tmp_path / "run", training=hourly, **args)
    assert saved == [("checkpoint.pt", 2), ("model.pt", None)]
    # The interval is not part of what a checkpoint is resumed by: nothing is retrained.
    saved.clear()
    every_epoch = hourly | {"checkpoint_seconds": 0}
    training.train_run(tokens_dir, split, tmp_path / "run", training=every_epoch, **args)
    assert saved == [("model.pt", None)]


def test_oracle_sees_only_its_subset(tmp_path):
    tokens_dir, split = write_toy(tmp_path)
    training.train_run(
        tokens_dir,
        split,
        tmp_path / "oracle",
        seed=0,
        subset={"img": "all"},
        model=SMALL_MODEL,
        training={"epochs": 2, "batch_size": 64},
    )
    _, _, checkpoint = runtime.load_model(tmp_path / "oracle" / "model.pt")
    assert checkpoint["subset"] == {"img": "all"} and checkpoint["strategy"] is None


def test_adamw_matches_torch():
    torch.manual_seed(0)
    reference, ours = torch.nn.Linear(5, 3), torch.nn.Linear(5, 3)
    ours.load_state_dict(reference.state_dict())
    torch_adamw = torch.optim.AdamW(reference.parameters(), lr=0.01, weight_decay=0.05)
    our_adamw = AdamW(ours.parameters(), lr=0.01, weight_decay=0.05)
    for _ in range(10):
        x = torch.randn(8, 5)
        for model, optimizer in ((reference, torch_adamw), (ours, our_adamw)):
            optimizer.zero_grad()
            model(x).pow(2).sum().backward()
            optimizer.step()
    for a, b in zip(reference.parameters(), ours.parameters(), strict=True):
        torch.testing.assert_close(a, b)


def test_embedding_only_the_visible_tokens_changes_nothing_they_feed():
    tokens = toy_tokens(n=40)
    model, data = tiny_model(tokens)
    model.eval()  # no dropout: both ways must give the same numbers
    values = data.batch(torch.arange(40))
    visible = data.present & (torch.rand(data.present.shape, generator=torch.manual_seed(1)) < 0.5)
    full, only_visible = model.embed(values), model.embed(values, visible)
    torch.testing.assert_close(only_visible[visible], full[visible], atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(model(values, visible), model.encode(full, visible))
