"""Grouped jobs: several runs trained in one process, every model of a seed evaluated in one."""

import json

import pandas as pd
import pytest
from helpers import write_toy

from miam.analysis.evaluation_jobs import evaluate_seed
from miam.runs.runlog import CONSOLE
from miam.runs.training import train_run, train_runs

MODEL = {"dim": 16, "depth": 1, "heads": 2, "ffn_dim": 32, "n_frequencies": 4}
TRAINING = {"epochs": 2, "batch_size": 64, "device": "cpu", "threads": 1}


def run(out_dir, **more):
    return {"out_dir": out_dir, "seed": 0, "model": MODEL, "training": TRAINING, **more}


def test_a_failed_run_does_not_stop_the_others_and_a_retry_trains_only_what_is_missing(
    tmp_path, caplog
):
    tokens, split = write_toy(tmp_path, n=240)
    runs = [
        run(tmp_path / "uniform", strategy={"kind": "uniform"}),
        run(tmp_path / "broken", strategy={"kind": "constant", "rate": 2.0}),  # not a probability
        run(tmp_path / "oracle", subset={"tab": "all"}),
    ]
    with pytest.raises(RuntimeError, match=r"1 of 3 runs failed: .*broken"):
        train_runs(tokens, split, runs)
    assert (tmp_path / "uniform" / "model.pt").exists()
    assert (tmp_path / "oracle" / "model.pt").exists()
    assert "rate must be in [0, 1]" in caplog.text  # the failing run's traceback is logged
    assert (tmp_path / "uniform" / "checkpoint.pt").exists()  # kept while a run fails

    # Snakemake removes the outputs of a failed job; the retry finds the finished runs'
    # checkpoints and only rewrites their outputs (no epoch is trained again).
    first = pd.read_csv(tmp_path / "uniform" / "history.csv")
    (tmp_path / "uniform" / "model.pt").unlink()
    runs[1]["strategy"] = {"kind": "constant", "rate": 0.5}
    results = train_runs(tokens, split, runs)
    assert len(results) == 3
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "uniform" / "history.csv"), first)
    # Every run finished: the resume files go, unless `keep_checkpoints`.
    assert not list(tmp_path.glob("*/checkpoint.pt"))


def test_keep_checkpoints_keeps_the_resume_files(tmp_path):
    tokens, split = write_toy(tmp_path, n=240)
    keep = TRAINING | {"epochs": 1, "keep_checkpoints": True}
    train_runs(tokens, split, [run(tmp_path / "oracle", subset={"tab": "all"}, training=keep)])
    assert (tmp_path / "oracle" / "checkpoint.pt").exists()


def test_grouped_training_gives_the_same_models_as_one_run_per_job(tmp_path):
    tokens, split = write_toy(tmp_path, n=240)
    alone = train_run(tokens, split, prepared=None, **run(tmp_path / "alone", subset={"ts": "all"}))
    grouped = train_runs(
        tokens,
        split,
        [
            run(tmp_path / "a", strategy={"kind": "miam"}),
            run(tmp_path / "b", subset={"ts": "all"}),
        ],
    )[1]
    for key in ["best_epoch", "best_val_top1", "selection_score"]:
        assert grouped[key] == alone[key]


def test_one_evaluation_job_writes_every_model_and_both_late_fusion_rows(tmp_path):
    tokens, split = write_toy(tmp_path, n=240)
    modalities = ["tab", "ts", "img"]
    train_runs(
        tokens,
        split,
        [run(tmp_path / "miam", strategy={"kind": "miam"})]
        + [run(tmp_path / m, subset={m: "all"}) for m in modalities],
    )
    every = {m: ("modalities", {m: "all"}) for m in modalities}
    evaluate_seed(
        "toy",
        0,
        tokens,
        split,
        [
            {
                "model": tmp_path / "miam" / "model.pt",
                "row": "miam",
                "subsets": every,
                "output": tmp_path / "miam.csv",
            },
            {
                "model": tmp_path / "tab" / "model.pt",
                "row": "oracle",
                "subsets": {"tab": ("named", {"tab": "all"})},
                "output": tmp_path / "oracle.csv",
            },
        ],
        {
            "models": [tmp_path / m / "model.pt" for m in modalities],
            "subsets": every,
            "combiner": tmp_path / "combiner.pt",
            "late_fusion": tmp_path / "late_fusion.csv",
            "late_fusion_learned": tmp_path / "late_fusion_learned.csv",
        },
        device="cpu",
    )
    for name, row, n_subsets in [
        ("miam", "miam", 3),
        ("oracle", "oracle", 1),
        ("late_fusion", "late_fusion", 3),
        ("late_fusion_learned", "late_fusion_learned", 3),
    ]:
        frame = pd.read_csv(tmp_path / f"{name}.csv")
        assert list(frame.columns[:3]) == ["dataset", "model", "seed"]
        assert set(frame["model"]) == {row}
        assert frame["subset"].nunique() == n_subsets
        assert set(frame["split"]) == {"val", "test"}
    assert json.loads((tmp_path / "miam" / "metrics.json").read_text())["selected_on"] == "subsets"


def test_a_short_run_shows_one_progress_line_on_the_console(tmp_path, caplog):
    """Every epoch is in the log; the console gets a line at most every CONSOLE_SECONDS, and
    the last epoch's."""
    tokens, split = write_toy(tmp_path, n=240)
    caplog.set_level("INFO", logger="miam.runs.training")
    train_run(tokens, split, **run(tmp_path / "miam", strategy={"kind": "miam"}))
    epochs = [r for r in caplog.records if " epoch " in r.getMessage()]
    console = [r.getMessage() for r in epochs if getattr(r, CONSOLE, False)]
    assert len(epochs) == TRAINING["epochs"] and len(console) == 1
    line = console[0]
    assert "miam epoch 2/2 loss " in line and " val top1 " in line and line.endswith(" s")
    assert len(line) < 300
