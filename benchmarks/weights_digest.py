"""Digests of the weights a few short training runs end with: did a speed change alter floats?

    python benchmarks/weights_digest.py [--configfile config/config.yaml] [--epochs 4] > before.json
    (change the code)
    python benchmarks/weights_digest.py ... > after.json && diff before.json after.json

Trains, on 1 thread and seed 1, the default config's model and training cut to `--epochs`
epochs: GeoPlant's `uniform`, `miam` (adaptive: it observes validation scores) and the oracle
of its first named subset; TaxaBench's `opm` and the oracle of one of its subsets that leaves
modalities unused. Prints, per run, a SHA-256 of its kept weights and of its history
(validation scores, the strategy's state; the seconds column left out). Equal digests on one
machine: the change keeps every float. Floats differ between CPUs, so compare digests of one
machine only. Needs the datasets' tokens and split (`snakemake --cores 2
results/<dataset>/split.csv`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

import pandas as pd
import torch
import yaml
from bench_default_run import prepared_data
from snakemake.utils import validate

from miam.runs.checkpoints import HISTORY, read_model
from miam.runs.training import train_run
from miam.workflow import pipeline

ROOT = Path(__file__).resolve().parents[1]
# (family, name) per dataset; None: the dataset's first named subset (an oracle's).
RUNS = {
    "synthetic-geoplant": [("train", "uniform"), ("train", "miam"), ("oracle", None)],
    "synthetic-taxabench": [("train", "opm"), ("oracle", "image+audio")],
}


def digest(run_dir: Path) -> dict[str, str]:
    weights = read_model(run_dir / "model.pt")["weights"]
    history = pd.read_csv(run_dir / HISTORY).drop(columns="seconds")
    return {
        "weights": hashlib.sha256(
            b"".join(weights[key].numpy().tobytes() for key in sorted(weights))
        ).hexdigest()[:16],
        "history": hashlib.sha256(history.to_csv(index=False).encode()).hexdigest()[:16],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--configfile", default="config/config.yaml")
    parser.add_argument("--epochs", type=int, default=4)
    args = parser.parse_args()
    config = yaml.safe_load((ROOT / args.configfile).read_text())
    validate(config, str(ROOT / "workflow" / "schemas" / "config.schema.yaml"))
    torch.set_num_threads(1)
    digests = {}
    with tempfile.TemporaryDirectory() as out:
        for dataset, runs in RUNS.items():
            folder = ROOT / "results" / dataset
            prepared = prepared_data(dataset)
            subsets = pipeline.named_subsets(config["datasets"][dataset])
            for family, name in runs:
                name = name or next(iter(subsets))
                run_dir = Path(out) / dataset / family / name
                train_run(
                    folder / "tokens",
                    folder / "split.csv",
                    run_dir,
                    seed=1,
                    strategy=(
                        pipeline.strategy_spec(config, dataset, name) if family == "train" else None
                    ),
                    subset=subsets[name] if family == "oracle" else None,
                    model=pipeline.run_settings(config, dataset, "model"),
                    training=pipeline.run_settings(config, dataset, "training")
                    | {"threads": 1, "epochs": args.epochs},
                    selection_subsets=subsets if family == "train" else None,
                    prepared=prepared,
                )
                digests[f"{dataset}/{family}/{name}"] = digest(run_dir)
    print(json.dumps(digests, indent=1))


if __name__ == "__main__":
    main()
