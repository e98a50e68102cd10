"""Train one model under one masking strategy (or an oracle on one subset), resumably.

One epoch: shuffle, draw p per sample from the strategy, turn p and the data's own missingness
into token visibility, step AdamW. After it: validation with all inputs and with each modality
alone (s_m), `strategy.observe(s)`, one log row, one checkpoint. Every random stream is seeded
from (seed, purpose, epoch), so a run killed after epoch k and resumed ends with the same
weights as one never stopped (on CPU; CUDA kernels are not bit-deterministic).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from miam.core.availability import modality_availability, target_availability
from miam.core.data import DeviceData, Normalizer, derive_seed, generator
from miam.core.masking import Strategy, make_strategy, token_visibility
from miam.core.metrics import PRIMARY_METRIC, chance_score, scored_classes
from miam.core.model import ModelConfig, MultimodalTransformer
from miam.core.optim import AdamW, lr_factor
from miam.core.split import split_indices
from miam.core.tokens import TokenSet
from miam.runs.evaluation import evaluate_subsets
from miam.runs.runtime import autocast, pick_device

log = logging.getLogger(__name__)

# Bumped whenever what a checkpoint holds changes, so an old one is never half-loaded.
CHECKPOINT_FORMAT = 2


@dataclass
class TrainConfig:
    epochs: int = 50
    batch_size: int = 256
    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05  # of all steps, linear warm-up, then cosine decay to 0
    grad_clip: float = 1.0
    eval_batch_size: int = 4096
    # Encode each batch in this many groups of similar visible length (less padding; same math).
    length_buckets: int = 4
    # Which epoch's weights are kept. "subsets": best mean validation score over the dataset's
    # named subsets (what the strategies are compared on); "full": best all-input score;
    # "last": the last epoch.
    select_on: str = "subsets"
    # For a run selected on the named subsets (a strategy), epochs before this share of
    # training are not candidates for the kept epoch, and the named subsets are not validated
    # there (only all inputs, for the curves): with a schedule decaying to 0 its kept epoch
    # lies late, and validating every subset is much of a small run's time. An oracle or a
    # unimodal model validates its one subset every epoch anyway, and may peak early: every
    # epoch is its candidate. 0: every epoch is a candidate.
    select_from: float = 0.0
    # Unimodal scores s_m (what adaptive strategies observe) per epoch, at evenly spaced steps;
    # between epochs they are measured on `score_samples` fixed validation samples (all: null).
    scores_per_epoch: int = 1
    score_samples: int | None = None
    # A checkpoint is written after an epoch once this many seconds have passed since the last
    # one, and after the last epoch: a kill loses at most this much work (0: every epoch).
    checkpoint_seconds: float = 60.0
    device: str = "auto"  # "auto": CUDA when available, else CPU
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default

    @classmethod
    def from_dict(cls, values: dict | None) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(values or {}) - known
        if unknown:
            raise ValueError(
                f"unknown training option(s) {sorted(unknown)}; known: {sorted(known)}"
            )
        config = cls(**(values or {}))
        if config.select_on not in SELECTION_RULES:
            raise ValueError(f"select_on {config.select_on!r} not in {SELECTION_RULES}")
        if not 0 <= config.select_from < 1:
            raise ValueError(f"select_from must be in [0, 1), got {config.select_from}")
        if config.scores_per_epoch < 1:
            raise ValueError(f"scores_per_epoch must be >= 1, got {config.scores_per_epoch}")
        return config


SELECTION_RULES = ("subsets", "full", "last")


def output_count(data: DeviceData) -> int:
    """Species (multilabel) or classes (multiclass): the model's outputs."""
    return data.targets.shape[1] if data.task == "multilabel" else int(data.targets.max()) + 1


def build_model(data: DeviceData, model_config: ModelConfig) -> MultimodalTransformer:
    return MultimodalTransformer(data.layout, output_count(data), model_config)


def build_strategy(spec: dict | None, data: DeviceData, train_index: np.ndarray) -> Strategy | None:
    """The masking strategy a config entry names; None for an oracle (no extra masking)."""
    if spec is None:
        return None
    params = dict(spec)
    kind = params.pop("kind")
    modality_names = [m.name for m in data.layout]
    if kind == "dirichlet":
        params.setdefault("tokens_per_modality", data.tokens_per_modality)
    if kind == "miam" and params.get("rho_s_from") == "above_chance":
        params.setdefault("chance", chance_score(data.task, output_count(data)))
    if kind == "deployment":
        # One definition of availability (miam.core.availability), on the training split.
        present = [p.cpu().numpy() for p in torch.split(data.present, data.tokens_per_modality, 1)]
        measured = dict(
            zip(modality_names, modality_availability(present, train_index), strict=True)
        )
        target = target_availability(params.get("availability", "measured"), measured)
        params["availability"] = list(target.values())
        params["data_availability"] = list(measured.values())
    return make_strategy(kind, len(modality_names), modality_names=modality_names, **params)


def loss_function(task: str, train_targets: torch.Tensor):
    """Weighted BCE as MaskSDM ('full weighted loss') for presence-absence; CE otherwise."""
    if task == "multiclass":
        return F.cross_entropy
    n = train_targets.shape[0]
    n_positive = train_targets.sum(dim=0).clamp(min=1)
    positive_weight = n / n_positive  # rare species weigh more
    negative_weight = n / (n - n_positive).clamp(min=1)  # = positive_weight / (positive_weight - 1)

    def weighted_bce(logits, targets):
        weight = targets * positive_weight + (1 - targets) * negative_weight
        return F.binary_cross_entropy_with_logits(logits, targets, weight=weight)

    return weighted_bce


def atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def data_fingerprint(tokens: str | Path, split: str | Path) -> str:
    digest = hashlib.sha256()
    for path in [*sorted(Path(tokens).iterdir()), Path(split)]:
        digest.update(path.name.encode())
        digest.update(path.read_bytes() if path.suffix in (".json", ".csv") else b"")
        digest.update(str(path.stat().st_size).encode())
    return digest.hexdigest()


def unimodal_subsets(data: DeviceData) -> dict[str, dict]:
    return {m.name: {m.name: "all"} for m in data.layout}


def score_points(steps_per_epoch: int, scores_per_epoch: int) -> set[int]:
    """Steps (1-based, within an epoch) after which unimodal scores are measured; the last
    step always is, so every epoch ends with an observation."""
    count = min(scores_per_epoch, steps_per_epoch)
    return {round(steps_per_epoch * (k + 1) / count) for k in range(count)}


def score_rows(val_index: np.ndarray, samples: int | None, seed: int) -> np.ndarray:
    """The fixed validation samples that unimodal scores are measured on between epochs."""
    if samples is None or samples >= len(val_index):
        return val_index
    rng = np.random.default_rng(derive_seed(seed, "score samples"))
    return np.sort(rng.choice(val_index, samples, replace=False))


@dataclass
class PreparedData:
    """A token set, its split and its device tensors: loaded once, shared by a job's runs."""

    tokens: TokenSet
    index: dict[str, np.ndarray]
    normalizer: Normalizer
    data: DeviceData
    fingerprint: str
    classes: np.ndarray | None
    device: torch.device


def prepare_data(tokens: str | Path, split: str | Path, device: torch.device) -> PreparedData:
    token_set = TokenSet.load(tokens)
    index = split_indices(split)
    normalizer = Normalizer.fit(token_set, index["train"])
    return PreparedData(
        token_set,
        index,
        normalizer,
        DeviceData(token_set, normalizer, device),
        data_fingerprint(tokens, split),
        scored_classes(token_set.targets, index),
        device,
    )


def train_runs(tokens: str | Path, split: str | Path, runs: list[dict]) -> list[dict]:
    """Train several runs in one process, sharing the loaded data; each writes its own folder.

    runs: keyword arguments of `train_run` (out_dir, seed, strategy, subset, model, training,
        selection_subsets). A failing run is logged with its traceback and the others still
        train; the error is raised at the end, naming every failed run. A run that finished
        before (its checkpoint holds the last epoch) only rewrites its outputs, so a retried
        job trains only what is missing.
    """
    prepared, results, failed = None, [], []
    for number, run in enumerate(runs, 1):
        log.info("run %d/%d: %s", number, len(runs), run["out_dir"])
        try:
            device = pick_device(TrainConfig.from_dict(run.get("training")).device)
            if prepared is None or prepared.device != device:
                prepared = prepare_data(tokens, split, device)
            results.append(train_run(tokens, split, prepared=prepared, **run))
        except Exception:
            log.exception("run %s failed", run["out_dir"])
            failed.append(str(run["out_dir"]))
    if failed:
        raise RuntimeError(f"{len(failed)} of {len(runs)} runs failed: {', '.join(failed)}")
    return results


def train_run(
    tokens: str | Path,
    split: str | Path,
    out_dir: str | Path,
    seed: int,
    strategy: dict | None = None,
    subset: dict | None = None,
    model: dict | None = None,
    training: dict | None = None,
    selection_subsets: dict[str, dict] | None = None,
    prepared: PreparedData | None = None,
) -> dict:
    """Train and write `out_dir`/{model.pt, history.csv, metrics.json}; resume from checkpoint.pt.

    strategy: {"kind": name, **params} from config; None for an oracle.
    subset: for an oracle, the subset spec its inputs are restricted to.
    selection_subsets: name -> spec of the dataset's named subsets, which `select_on:
        subsets` averages over (an oracle sees only its own subset: it selects on that).
    prepared: the data already loaded by `prepare_data` (`train_runs` shares it between runs).
    Returns the metrics dict written to metrics.json.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    train_config = TrainConfig.from_dict(training)
    model_config = ModelConfig(**(model or {}))
    if train_config.threads:
        torch.set_num_threads(train_config.threads)
    device = pick_device(train_config.device)

    if prepared is None or prepared.device != device:
        prepared = prepare_data(tokens, split, device)
    index, normalizer, data = prepared.index, prepared.normalizer, prepared.data
    if subset is not None:  # oracle: the other tokens do not exist for it
        data = data.restricted(subset)
    train_index = torch.as_tensor(index["train"], device=device)
    masking = build_strategy(strategy, data, index["train"])

    torch.manual_seed(derive_seed(seed, "init"))
    net = build_model(data, model_config).to(device)
    optimizer = AdamW(net.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
    steps_per_epoch = math.ceil(len(train_index) / train_config.batch_size)
    total_steps = steps_per_epoch * train_config.epochs

    def current_lr() -> float:
        return train_config.lr * lr_factor(
            optimizer.steps, total_steps, train_config.warmup_fraction
        )

    criterion = loss_function(data.task, data.targets[train_index])
    metric = PRIMARY_METRIC[data.task]
    classes = prepared.classes
    full_input = {m.name: "all" for m in data.layout}
    # Validated once per epoch on every validation sample: all inputs, and the selection
    # subsets in the epochs that are candidates (`select_from`).
    epoch_subsets = {"all": full_input}
    first_candidate = 0
    if subset is None and selection_subsets:
        epoch_subsets |= {f"named:{name}": spec for name, spec in selection_subsets.items()}
        first_candidate = int(train_config.select_from * train_config.epochs)
    observed = (
        {f"observed:{name}": spec for name, spec in unimodal_subsets(data).items()}
        if masking is not None
        else {}
    )
    observation_rows = score_rows(index["val"], train_config.score_samples, seed)
    # Every strategy logs s_m once per epoch, after its last step; only those that learn from
    # it (MIAM, OPM) have it measured between epochs too.
    learns_from_scores = masking is not None and type(masking).observe is not Strategy.observe
    observe_at = (
        score_points(steps_per_epoch, train_config.scores_per_epoch)
        if learns_from_scores
        else {steps_per_epoch}
    )
    # The epoch's last observation is on the weights the epoch ends with: when it is measured
    # on every validation sample, the epoch's validation pass measures it too.
    observe_with_validation = masking is not None and len(observation_rows) == len(index["val"])
    if observe_with_validation:
        epoch_subsets |= observed
        observe_at.discard(steps_per_epoch)

    def observe_unimodal_scores(frame=None) -> tuple[list[float], list[float]]:
        """s_m and its standard error on the observation samples, measured unless `frame`
        (the epoch's validation) holds them; passed to the strategy."""
        if frame is None:
            frame = evaluate_subsets(
                net,
                data,
                observation_rows,
                observed,
                train_config.eval_batch_size,
                classes,
                standard_errors=True,
            )
        frame = frame[frame.metric == metric].set_index("subset")
        scores = [float(frame.loc[f"observed:{m.name}", "value"]) for m in data.layout]
        errors = [float(frame.loc[f"observed:{m.name}", "standard_error"]) for m in data.layout]
        masking.observe(scores, errors)
        return scores, errors

    run_spec = {
        # A checkpoint is resumed only by the same run, on the same data, in the same format.
        "checkpoint_format": CHECKPOINT_FORMAT,
        "data": prepared.fingerprint,
        "strategy": masking.spec() if masking else None,
        "subset": subset,
        "model": model_config.to_dict(),
        # How often checkpoints are written does not change what is trained.
        "training": asdict(train_config) | {"checkpoint_seconds": None},
        "seed": seed,
    }
    checkpoint_path = out_dir / "checkpoint.pt"
    history: list[dict] = []
    best = {"epoch": -1, "score": -math.inf, "weights": None}
    first_epoch = 0
    if checkpoint_path.exists():
        checkpoint = torch.load(checkpoint_path, map_location=device, weights_only=True)
        if checkpoint["run_spec"] == json.loads(json.dumps(run_spec)):
            net.load_state_dict(checkpoint["weights"])
            optimizer.load_state_dict(checkpoint["optimizer"])
            if masking is not None:
                masking.load_state_dict(checkpoint["strategy_state"])
            history, best = checkpoint["history"], checkpoint["best"]
            first_epoch = checkpoint["epoch"] + 1
            log.info("resuming from %s after epoch %d", checkpoint_path, checkpoint["epoch"])
        else:
            log.info("ignoring %s: it was written for another configuration", checkpoint_path)

    started = last_checkpoint = time.perf_counter()
    for epoch in range(first_epoch, train_config.epochs):
        epoch_started = time.perf_counter()
        net.train()
        if masking is not None:
            masking.set_progress(epoch, train_config.epochs)
        torch.manual_seed(derive_seed(seed, "dropout", epoch))
        loader = generator(seed, "loader", epoch, device=device)
        mask_generator = generator(seed, "mask", epoch, device=device)
        order = train_index[torch.randperm(len(train_index), generator=loader, device=device)]
        batches = order.split(train_config.batch_size)
        total_loss = torch.zeros((), device=device)  # summed on the device: no sync per step
        observations = []
        for step, batch in enumerate(batches, 1):
            present = data.present[batch]
            if masking is None:
                visible = present
            else:
                p = masking.sample(len(batch), mask_generator)
                visible = token_visibility(p, data.tokens_per_modality, present, mask_generator)
            with autocast(device):
                logits = net(data.batch(batch), visible, train_config.length_buckets)
            loss = criterion(logits.float(), data.targets[batch])
            optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), train_config.grad_clip)
            optimizer.step(current_lr())
            total_loss += loss.detach() * len(batch)
            if masking is not None and step in observe_at:
                observations.append(observe_unimodal_scores())

        candidate = epoch >= first_candidate
        scores = evaluate_subsets(
            net,
            data,
            index["val"],
            {
                name: spec
                for name, spec in epoch_subsets.items()
                if candidate or not name.startswith("named:")
            },
            train_config.eval_batch_size,
            classes,
            standard_errors=observe_with_validation,
        )
        if observe_with_validation:
            observations.append(observe_unimodal_scores(scores))
        primary = scores[scores.metric == metric].set_index("subset")["value"]
        named = [float(v) for name, v in primary.items() if name.startswith("named:")]
        unimodal, errors = observations[-1] if observations else ([], [])
        row = {
            "epoch": epoch + 1,
            "loss": total_loss.item() / len(train_index),
            f"val_{metric}": float(primary["all"]),
            **({f"val_{metric}_named_mean": float(np.mean(named))} if named else {}),
            **{f"s.{m.name}": s for m, s in zip(data.layout, unimodal, strict=False)},
            **{f"s_se.{m.name}": e for m, e in zip(data.layout, errors, strict=False)},
            "observations": len(observations),
            **(masking.state() if masking else {}),
            "lr": current_lr(),
            "seconds": time.perf_counter() - epoch_started,
        }
        history.append(row)
        log.info(
            "epoch %d/%d loss %.4f val %s %.4f%s",
            epoch + 1,
            train_config.epochs,
            row["loss"],
            metric,
            row[f"val_{metric}"],
            "".join(f" s.{m.name} {s:.3f}" for m, s in zip(data.layout, unimodal, strict=False)),
        )
        selection = {
            "full": row[f"val_{metric}"],
            "subsets": float(np.mean(named)) if named else row[f"val_{metric}"],
            "last": float(epoch),
        }[train_config.select_on]
        row["selection_score"] = selection if candidate else math.nan
        if candidate and selection > best["score"]:
            best = {
                "epoch": epoch + 1,
                "score": selection,
                "weights": {k: v.detach().clone() for k, v in net.state_dict().items()},
            }
        due = time.perf_counter() - last_checkpoint >= train_config.checkpoint_seconds
        if not (due or epoch + 1 == train_config.epochs):
            continue
        last_checkpoint = time.perf_counter()
        atomic_save(
            {
                "run_spec": run_spec,
                "epoch": epoch,
                "weights": net.state_dict(),
                "optimizer": optimizer.state_dict(),
                "strategy_state": masking.state_dict() if masking else {},
                "history": history,
                "best": best,
            },
            checkpoint_path,
        )

    net.load_state_dict(best["weights"])
    atomic_save(
        {
            "weights": best["weights"],
            "normalizer": normalizer.state_dict(),
            "layout": [asdict(m) for m in data.layout],
            "n_outputs": net.head[-1].out_features,
            "task": data.task,
            **run_spec,
            "best_epoch": best["epoch"],
            "validation_score": best["score"],
        },
        out_dir / "model.pt",
    )
    pd.DataFrame(history).to_csv(out_dir / "history.csv", index=False)
    elapsed = time.perf_counter() - started
    kept = history[best["epoch"] - 1]
    metrics = {
        "best_epoch": best["epoch"],
        "selected_on": train_config.select_on,
        "selection_score": kept["selection_score"],
        f"best_val_{metric}": kept[f"val_{metric}"],
        "scored_classes": None if classes is None else len(classes),
        "epochs": train_config.epochs,
        "train_samples": len(train_index),
        "device": str(device),
        "seconds": elapsed,
        "train_samples_per_second": (
            len(train_index) * (train_config.epochs - first_epoch) / elapsed if elapsed else None
        ),
    }
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=1))
    return metrics
