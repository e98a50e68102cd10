"""Trained models applied to new sites: probabilities per site and species, per model and
deployment scenario, averaged over seeds.

The sites are a token folder (`miam.core.tokens`) read label-free by the dataset's own reader,
so they have exactly the tokens the models were trained on, some absent where a site lacks
them. A scenario removes whole modalities at every site (``{"drop": ["satellite"]}``): the
model sees what remains, as it would at deployment. Prediction runs `chunk_sites` sites at a
time through `miam.runs.evaluation.predict_subsets` (every scenario of a chunk shares one
embedding), so memory holds one chunk of inputs whatever the number of sites; only the output,
(models, scenarios, sites, species) probabilities, grows with it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from miam.core.data import DeviceData
from miam.core.predictions import SitePredictions
from miam.core.tokens import TokenSet
from miam.runs import evaluation
from miam.runs.runtime import load_model, pick_device

# Sites per prediction chunk: their values, presence and embeddings are what memory holds.
CHUNK_SITES = 2048


def check_model(checkpoint: dict, model_path, tokens: TokenSet, tokens_name: str) -> None:
    """Refuse a model whose inputs or outputs differ from the token folder's, naming both."""
    layout = [[m.name, m.kind, m.n_tokens, m.token_dim] for m in tokens.modalities]
    trained = [[m["name"], m["kind"], m["n_tokens"], m["token_dim"]] for m in checkpoint["layout"]]
    if trained != layout or checkpoint["n_outputs"] != tokens.n_classes:
        raise ValueError(
            f"model {model_path} was trained on other tokens than those of {tokens_name}: "
            f"its modalities {trained} and {checkpoint['n_outputs']} outputs, theirs {layout} "
            f"and {tokens.n_classes} species"
        )


def scenario_specs(scenarios: dict[str, dict], modalities: list[str]) -> dict[str, dict]:
    """Scenario name -> the subset spec of the modalities it keeps."""
    specs = {}
    for name, scenario in scenarios.items():
        dropped = set(scenario.get("drop", []))
        unknown = dropped - set(modalities)
        if unknown:
            raise ValueError(f"scenario {name}: no modality {sorted(unknown)}; {modalities}")
        kept = [m for m in modalities if m not in dropped]
        if not kept:
            raise ValueError(f"scenario {name} drops every modality")
        specs[name] = {m: "all" for m in kept}
    return specs


def weighted_loss_shift(train_targets: np.ndarray) -> np.ndarray:
    """(C,) what to add to a presence-absence model's logits to turn them into probabilities.

    Such models train on a weighted cross-entropy (`miam.runs.training.loss_function`:
    presences weigh n / n_present, absences n / n_absent), whose optimum is the logit of the
    probability plus log(n_absent / n_present): a balanced score, not a probability. Adding
    log(n_present / n_absent), with the same counts, undoes it.
    """
    targets = np.asarray(train_targets, dtype=np.float64)
    n = len(targets)
    present = np.clip(targets.sum(axis=0), 1, None)
    absent = np.clip(n - present, 1, None)
    return np.log(present / absent).astype(np.float32)


def probabilities(logits: torch.Tensor, task: str, shift: np.ndarray | None = None) -> torch.Tensor:
    """Per-species probabilities (multilabel: after the weighted-loss `shift`) or the class
    distribution (multiclass)."""
    if task == "multiclass":
        return torch.softmax(logits, dim=-1)
    return torch.sigmoid(logits if shift is None else logits + torch.from_numpy(shift))


def predict_sites(
    models: dict[str, list[str | Path]],
    tokens: str | Path | TokenSet,
    scenarios: dict[str, dict],
    chunk_sites: int = CHUNK_SITES,
    batch_size: int = 4096,
    device: str = "auto",
    shift: np.ndarray | None = None,
) -> SitePredictions:
    """Probabilities of every site of `tokens` under each scenario, per model (its seeds'
    `model.pt` files; their mean and spread).

    models: name -> model.pt of each seed. scenarios: name -> {"drop": [modality, ...]}.
    shift: presence-absence models' logit correction (`weighted_loss_shift` of the training
    split's targets); None: their balanced scores, through a sigmoid.
    """
    device = pick_device(device)
    token_set = tokens if isinstance(tokens, TokenSet) else TokenSet.load(tokens)
    specs = scenario_specs(scenarios, token_set.modality_names)
    loaded = {}
    for name, paths in models.items():
        loaded[name] = []
        for path in paths:
            model, normalizer, checkpoint = load_model(path, device)
            check_model(checkpoint, path, token_set, str(tokens))
            loaded[name].append((model, normalizer))
    seeds = {len(paths) for paths in loaded.values()}
    n_sites, n_species = token_set.n_samples, token_set.n_classes
    shape = (len(models), len(specs), n_sites, n_species)
    total, squares = np.zeros(shape, np.float64), np.zeros(shape, np.float64)
    for start in range(0, n_sites, chunk_sites):
        rows = slice(start, min(start + chunk_sites, n_sites))
        chunk = token_set.take(
            np.arange(rows.start, rows.stop)
        )  # this chunk's values only, copied out of the memory map
        for i, seed_models in enumerate(loaded.values()):
            for model, normalizer in seed_models:
                data = DeviceData(chunk, normalizer, device)
                selectors = torch.stack([data.selector(spec, n) for n, spec in specs.items()])
                index = torch.arange(chunk.n_samples, device=device)
                logits = evaluation.predict_subsets(model, data, index, selectors, batch_size)
                p = probabilities(logits, token_set.task, shift).double().numpy()  # (S, b, C)
                total[i, :, rows] += p
                squares[i, :, rows] += np.square(p)
    counts = np.array([len(paths) for paths in loaded.values()], float)[:, None, None, None]
    mean = total / counts
    spread = np.sqrt(np.maximum(squares / counts - np.square(mean), 0.0))
    return SitePredictions(
        models=list(models),
        scenarios=list(specs),
        samples=token_set.samples[["sample_id", "lon", "lat"]].reset_index(drop=True),
        modalities=token_set.modality_names,
        species=[str(name) for name in token_set.class_names],
        mean=mean.astype(np.float32),
        spread=spread.astype(np.float32),
        present=np.stack([np.asarray(m.present).any(axis=1) for m in token_set.modalities], 1),
        seeds=min(seeds) if seeds else 0,
    )
