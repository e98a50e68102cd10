"""Train one model under one masking strategy (or an oracle on one subset), resumably.

One epoch: shuffle, draw p per sample from the strategy, turn p and the data's own missingness
into token visibility, step AdamW. After it: validation with all inputs and with each modality
alone (s_m), `strategy.observe(s)`, one log row, one checkpoint. Every random stream is seeded
from (seed, purpose, epoch), so a run killed after epoch k and resumed ends with the same
weights as one never stopped (on CPU; CUDA kernels are not bit-deterministic).

`train_run` reads as its steps: `prepare_run` (model, optimiser, strategy, `plan_validation`),
`resume`, then per epoch `train_epoch`, `validate_epoch`, `keep_if_best`, `log_epoch` and
`save_checkpoint`, and at the end `write_outputs`. The files are `miam.runs.checkpoints`'.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from miam.core.availability import MEASURED, modality_availability, target_availability
from miam.core.console import CONSOLE
from miam.core.data import DeviceData, Normalizer, derive_seed, generator
from miam.core.masking import Strategy, make_strategy, token_visibility
from miam.core.metrics import PRIMARY_METRIC, chance_score, scored_classes
from miam.core.model import ModelConfig, MultimodalTransformer
from miam.core.optim import AdamW, lr_factor
from miam.core.options import check_names
from miam.core.split import split_indices
from miam.core.subsets import SubsetSpec
from miam.core.tokens import TokenSet
from miam.runs import checkpoints
from miam.runs.evaluation import evaluate_subsets
from miam.runs.runtime import autocast, pick_device

log = logging.getLogger(__name__)

# A run's epoch line goes to the console too (runlog.log_to) after its last epoch and after any
# epoch ending at least this long after the previous such line: a long run shows it is alive,
# many short runs do not flood the screen.
CONSOLE_SECONDS = 10.0


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
    # Checkpoints are removed once every run of a job has finished; True keeps them.
    keep_checkpoints: bool = False
    device: str = "auto"  # "auto": CUDA when available, else CPU
    threads: int = 0  # CPU threads for torch; 0 leaves torch's default

    @classmethod
    def from_dict(cls, values: dict | None) -> TrainConfig:
        values = values or {}
        check_names(values, [f.name for f in fields(cls)], "training", "training")
        config = cls(**values)
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
        target = target_availability(params.get("availability", MEASURED), measured)
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
        job trains only what is missing: the checkpoints stay until every run has finished
        (Snakemake deletes all outputs of a failed job), then go unless
        `training.keep_checkpoints`.
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
    for run in runs:
        if not TrainConfig.from_dict(run.get("training")).keep_checkpoints:
            checkpoints.remove_checkpoint(run["out_dir"])
    return results


@dataclass
class ValidationPlan:
    """What a run validates after each epoch, and when its strategy observes the unimodal
    scores s_m."""

    # name -> spec: "all" (every input), "named:<subset>" (the selection subsets, from
    # `first_candidate` on), "observed:<modality>" (s_m, when measured on every validation sample)
    epoch_subsets: dict[str, SubsetSpec]
    first_candidate: int  # the first epoch (0-based) whose weights may be kept
    observed: dict[str, SubsetSpec]  # "observed:<modality>" -> {modality: "all"}
    observation_rows: np.ndarray  # the validation samples s_m is measured on between epochs
    observe_at: set[int]  # steps (1-based) after which s_m is measured apart from validation
    observe_with_validation: bool  # the epoch's validation pass also measures s_m

    def subsets(self, candidate: bool) -> dict[str, SubsetSpec]:
        """The subsets validated after an epoch; the named ones only where it is a candidate."""
        return {
            name: spec
            for name, spec in self.epoch_subsets.items()
            if candidate or not name.startswith("named:")
        }


def plan_validation(
    config: TrainConfig,
    data: DeviceData,
    val_index: np.ndarray,
    masking: Strategy | None,
    selection_subsets: dict[str, SubsetSpec] | None,
    seed: int,
    steps_per_epoch: int,
) -> ValidationPlan:
    epoch_subsets = {"all": {m.name: "all" for m in data.layout}}
    first_candidate = 0
    if selection_subsets:
        epoch_subsets |= {f"named:{name}": spec for name, spec in selection_subsets.items()}
        first_candidate = int(config.select_from * config.epochs)
    observed = (
        {f"observed:{name}": spec for name, spec in unimodal_subsets(data).items()}
        if masking is not None
        else {}
    )
    observation_rows = score_rows(val_index, config.score_samples, seed)
    # Every strategy logs s_m once per epoch, after its last step; only those that learn from
    # it (MIAM, OPM) have it measured between epochs too.
    learns_from_scores = masking is not None and type(masking).observe is not Strategy.observe
    observe_at = (
        score_points(steps_per_epoch, config.scores_per_epoch)
        if learns_from_scores
        else {steps_per_epoch}
    )
    # The epoch's last observation is on the weights the epoch ends with: when it is measured
    # on every validation sample, the epoch's validation pass measures it too.
    observe_with_validation = masking is not None and len(observation_rows) == len(val_index)
    if observe_with_validation:
        epoch_subsets |= observed
        observe_at.discard(steps_per_epoch)
    return ValidationPlan(
        epoch_subsets,
        first_candidate,
        observed,
        observation_rows,
        observe_at,
        observe_with_validation,
    )


@dataclass
class Run:
    """One run's data, model, optimiser and strategy, fixed before its first epoch."""

    config: TrainConfig
    seed: int
    device: torch.device
    data: DeviceData
    index: dict[str, np.ndarray]
    train_index: torch.Tensor
    normalizer: Normalizer
    classes: np.ndarray | None
    net: MultimodalTransformer
    optimizer: AdamW
    masking: Strategy | None
    criterion: Callable
    metric: str
    steps_per_epoch: int
    validation: ValidationPlan
    # A checkpoint is resumed only by the same run, on the same data, in the same format.
    spec: dict

    def lr(self) -> float:
        """The learning rate of the next step: warm-up, then cosine decay to 0."""
        total_steps = self.steps_per_epoch * self.config.epochs
        return self.config.lr * lr_factor(
            self.optimizer.steps, total_steps, self.config.warmup_fraction
        )


def prepare_run(
    config: TrainConfig,
    seed: int,
    strategy: dict | None,
    subset: SubsetSpec | None,
    model: dict | None,
    selection_subsets: dict[str, SubsetSpec] | None,
    prepared: PreparedData,
) -> Run:
    """The run's model (seeded from `seed`), optimiser and strategy on `prepared` data."""
    model_config = ModelConfig(**(model or {}))
    data, index, device = prepared.data, prepared.index, prepared.device
    if subset is not None:  # oracle: the other tokens do not exist for it
        data = data.restricted(subset)
    train_index = torch.as_tensor(index["train"], device=device)
    masking = build_strategy(strategy, data, index["train"])
    torch.manual_seed(derive_seed(seed, "init"))
    net = build_model(data, model_config).to(device)
    steps_per_epoch = math.ceil(len(train_index) / config.batch_size)
    # An oracle sees only its own subset: it selects on that, not on the named subsets.
    selection = selection_subsets if subset is None else None
    return Run(
        config=config,
        seed=seed,
        device=device,
        data=data,
        index=index,
        train_index=train_index,
        normalizer=prepared.normalizer,
        classes=prepared.classes,
        net=net,
        optimizer=AdamW(net.parameters(), lr=config.lr, weight_decay=config.weight_decay),
        masking=masking,
        criterion=loss_function(data.task, data.targets[train_index]),
        metric=PRIMARY_METRIC[data.task],
        steps_per_epoch=steps_per_epoch,
        validation=plan_validation(
            config, data, index["val"], masking, selection, seed, steps_per_epoch
        ),
        spec={
            "checkpoint_format": checkpoints.CHECKPOINT_FORMAT,
            "data": prepared.fingerprint,
            "strategy": masking.spec() if masking else None,
            "subset": subset,
            "model": model_config.to_dict(),
            # How often checkpoints are written, and whether they are kept, does not change
            # what is trained.
            "training": asdict(config) | {"checkpoint_seconds": None, "keep_checkpoints": None},
            "seed": seed,
        },
    )


@dataclass
class Progress:
    """What a run has done: its history rows, the best epoch so far, where it goes on."""

    history: list[dict] = field(default_factory=list)
    best: dict = field(default_factory=lambda: {"epoch": -1, "score": -math.inf, "weights": None})
    first_epoch: int = 0


def resume(run: Run, out_dir: Path) -> Progress:
    """The run's state after the epoch its checkpoint holds, or a fresh start."""
    checkpoint = checkpoints.load_checkpoint(out_dir, run.spec, run.device)
    if checkpoint is None:
        return Progress()
    run.net.load_state_dict(checkpoint["weights"])
    run.optimizer.load_state_dict(checkpoint["optimizer"])
    if run.masking is not None:
        run.masking.load_state_dict(checkpoint["strategy_state"])
    return Progress(checkpoint["history"], checkpoint["best"], checkpoint["epoch"] + 1)


def observe_unimodal_scores(run: Run, frame=None) -> tuple[list[float], list[float]]:
    """s_m and its standard error on the observation samples, measured unless `frame` (the
    epoch's validation) holds them; passed to the strategy."""
    if frame is None:
        frame = evaluate_subsets(
            run.net,
            run.data,
            run.validation.observation_rows,
            run.validation.observed,
            run.config.eval_batch_size,
            run.classes,
            standard_errors=True,
        )
    frame = frame[frame.metric == run.metric].set_index("subset")
    scores = [float(frame.loc[f"observed:{m.name}", "value"]) for m in run.data.layout]
    errors = [float(frame.loc[f"observed:{m.name}", "standard_error"]) for m in run.data.layout]
    run.masking.observe(scores, errors)
    return scores, errors


def train_step(run: Run, batch: torch.Tensor, mask_generator: torch.Generator, lr: float):
    """One optimisation step on the samples `batch` with the strategy's masking. Returns the
    batch's mean loss, detached, on the device (no sync)."""
    return optimisation_step(run, batch, step_visibility(run, batch, mask_generator), lr)


def step_visibility(run: Run, batch: torch.Tensor, mask_generator: torch.Generator):
    """(B, T) tokens the model sees in a step on `batch`: the strategy's masking of what the
    samples have; an oracle's inputs as they are."""
    present = run.data.present[batch]
    if run.masking is None:
        return present
    p = run.masking.sample(len(batch), mask_generator)
    return token_visibility(p, run.data.tokens_per_modality, present, mask_generator)


def optimisation_step(run: Run, batch: torch.Tensor, visible: torch.Tensor, lr: float):
    """Forward on the `visible` tokens of `batch`, loss, backward, clipping and AdamW at `lr`.
    Returns the batch's mean loss, detached, on the device (no sync)."""
    data, config = run.data, run.config
    with autocast(run.device):
        logits = run.net(data.batch(batch), visible, config.length_buckets)
    loss = run.criterion(logits.float(), data.targets[batch])
    run.optimizer.zero_grad()
    loss.backward()
    run.optimizer.clip_grad_norm(config.grad_clip)
    run.optimizer.step(lr)
    return loss.detach()


def train_epoch(run: Run, epoch: int) -> tuple[float, list[tuple[list[float], list[float]]]]:
    """One pass over the training split: its mean loss, and the s_m observed during it."""
    net, masking, config, device = run.net, run.masking, run.config, run.device
    net.train()
    if masking is not None:
        masking.set_progress(epoch, config.epochs)
    torch.manual_seed(derive_seed(run.seed, "dropout", epoch))
    loader = generator(run.seed, "loader", epoch, device=device)
    mask_generator = generator(run.seed, "mask", epoch, device=device)
    order = run.train_index[torch.randperm(len(run.train_index), generator=loader, device=device)]
    total_loss = torch.zeros((), device=device)  # summed on the device: no sync per step
    observations = []
    for step, batch in enumerate(order.split(config.batch_size), 1):
        total_loss += train_step(run, batch, mask_generator, run.lr()) * len(batch)
        if masking is not None and step in run.validation.observe_at:
            observations.append(observe_unimodal_scores(run))
    return total_loss.item() / len(run.train_index), observations


def validate_epoch(run: Run, epoch: int, loss: float, observations: list, started: float) -> dict:
    """The epoch's history row: validation scores, the last s_m, the strategy's state, and
    `selection_score` (what the kept epoch is chosen on; NaN before `select_from`)."""
    plan, metric, layout = run.validation, run.metric, run.data.layout
    candidate = epoch >= plan.first_candidate
    scores = evaluate_subsets(
        run.net,
        run.data,
        run.index["val"],
        plan.subsets(candidate),
        run.config.eval_batch_size,
        run.classes,
        standard_errors=plan.observe_with_validation,
    )
    if plan.observe_with_validation:
        observations.append(observe_unimodal_scores(run, scores))
    primary = scores[scores.metric == metric].set_index("subset")["value"]
    named = [float(v) for name, v in primary.items() if name.startswith("named:")]
    unimodal, errors = observations[-1] if observations else ([], [])
    row = {
        "epoch": epoch + 1,
        "loss": loss,
        f"val_{metric}": float(primary["all"]),
        **({f"val_{metric}_named_mean": float(np.mean(named))} if named else {}),
        **{f"s.{m.name}": s for m, s in zip(layout, unimodal, strict=False)},
        **{f"s_se.{m.name}": e for m, e in zip(layout, errors, strict=False)},
        "observations": len(observations),
        **(run.masking.state() if run.masking else {}),
        "lr": run.lr(),
        "seconds": time.perf_counter() - started,
    }
    selection = {
        "full": row[f"val_{metric}"],
        "subsets": float(np.mean(named)) if named else row[f"val_{metric}"],
        "last": float(epoch),
    }[run.config.select_on]
    row["selection_score"] = selection if candidate else math.nan
    return row


def keep_if_best(run: Run, progress: Progress, row: dict) -> None:
    """The epoch's weights become the kept ones when its selection score beats the best so far
    (a NaN score, an epoch that is no candidate, never does)."""
    if row["selection_score"] > progress.best["score"]:
        progress.best = {
            "epoch": row["epoch"],
            "score": row["selection_score"],
            "weights": {k: v.detach().clone() for k, v in run.net.state_dict().items()},
        }


def log_epoch(run: Run, out_dir: Path, row: dict, console: bool) -> None:
    """One line per epoch in the job's log; on the console too when `console` (runlog.log_to)."""
    metric = run.metric
    unimodal = [
        f" s.{m.name} {row[f's.{m.name}']:.3f}" for m in run.data.layout if f"s.{m.name}" in row
    ]
    log.info(
        "%s epoch %d/%d loss %.4f val %s %.4f%s, %.1f s",
        out_dir,
        row["epoch"],
        run.config.epochs,
        row["loss"],
        metric,
        row[f"val_{metric}"],
        "".join(unimodal),
        row["seconds"],
        extra={CONSOLE: console},
    )


def save_checkpoint(run: Run, progress: Progress, epoch: int, out_dir: Path) -> None:
    state = {
        "run_spec": run.spec,
        "epoch": epoch,
        "weights": run.net.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "strategy_state": run.masking.state_dict() if run.masking else {},
        "history": progress.history,
        "best": progress.best,
    }
    checkpoints.save_checkpoint(out_dir, state)


def write_outputs(run: Run, progress: Progress, out_dir: Path, seconds: float) -> dict:
    """model.pt (the kept epoch's weights), history.csv and metrics.json; returns the metrics."""
    best, config, metric = progress.best, run.config, run.metric
    run.net.load_state_dict(best["weights"])
    model = {
        "weights": best["weights"],
        "normalizer": run.normalizer.state_dict(),
        "layout": [asdict(m) for m in run.data.layout],
        "n_outputs": run.net.head[-1].out_features,
        "task": run.data.task,
        **run.spec,
        "best_epoch": best["epoch"],
        "validation_score": best["score"],
    }
    checkpoints.write_model(out_dir, model)
    checkpoints.write_history(out_dir, progress.history)
    kept = progress.history[best["epoch"] - 1]
    trained = len(run.train_index) * (config.epochs - progress.first_epoch)
    metrics = {
        "best_epoch": best["epoch"],
        "selected_on": config.select_on,
        "selection_score": kept["selection_score"],
        f"best_val_{metric}": kept[f"val_{metric}"],
        "scored_classes": None if run.classes is None else len(run.classes),
        "epochs": config.epochs,
        "train_samples": len(run.train_index),
        "device": str(run.device),
        "seconds": seconds,
        "train_samples_per_second": trained / seconds if seconds else None,
    }
    checkpoints.write_metrics(out_dir, metrics)
    return metrics


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
    """Train and write `out_dir`'s run files (miam.runs.checkpoints); resume from its checkpoint.

    strategy: {"kind": name, **params} from config; None for an oracle.
    subset: for an oracle, the subset spec its inputs are restricted to.
    selection_subsets: name -> spec of the dataset's named subsets, which `select_on:
        subsets` averages over (an oracle sees only its own subset: it selects on that).
    prepared: the data already loaded by `prepare_data` (`train_runs` shares it between runs).
    Returns the metrics dict written to metrics.json.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    config = TrainConfig.from_dict(training)
    if config.threads:
        torch.set_num_threads(config.threads)
    device = pick_device(config.device)
    if prepared is None or prepared.device != device:
        prepared = prepare_data(tokens, split, device)
    run = prepare_run(config, seed, strategy, subset, model, selection_subsets, prepared)
    progress = resume(run, out_dir)
    started = last_checkpoint = last_console = time.perf_counter()
    for epoch in range(progress.first_epoch, config.epochs):
        epoch_started = time.perf_counter()
        loss, observations = train_epoch(run, epoch)
        row = validate_epoch(run, epoch, loss, observations, epoch_started)
        progress.history.append(row)
        keep_if_best(run, progress, row)
        last = epoch + 1 == config.epochs
        console = last or time.perf_counter() - last_console >= CONSOLE_SECONDS
        log_epoch(run, out_dir, row, console)
        if console:
            last_console = time.perf_counter()
        if last or time.perf_counter() - last_checkpoint >= config.checkpoint_seconds:
            save_checkpoint(run, progress, epoch, out_dir)
            last_checkpoint = time.perf_counter()
    return write_outputs(run, progress, out_dir, time.perf_counter() - started)
