"""The results summary (miam.analysis.summary): README block and docs/results.md from tables."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest

from miam.analysis import claims, summary

MODELS = {  # model -> its avg (percent)
    "uniform": 70.0,
    "uniform_hypercube": 72.5,
    "miam": 71.5,
    "late_fusion": 75.0,
    "late_fusion_learned": 74.0,
    "oracle": 76.0,
}
STRENGTHS = {"tabular": 79.0, "timeseries": 86.0, "satellite": 62.0}  # the oracle alone


def write_dataset(results: Path, name: str, source: str = "config") -> None:
    tables_dir = results / name / "tables"
    tables_dir.mkdir(parents=True)
    cells = [
        {"model": m, "subset": c, "mean": avg + d, "std": 0.5, "n_seeds": 3}
        for m, avg in MODELS.items()
        for c, d in (("satellite", -10.0), ("avg", 0.0), ("deployment", 5.0))
    ]
    cells = [c for c in cells if not (c["model"] == "oracle" and c["subset"] == "satellite")]
    cells += [
        {"model": "oracle", "subset": m, "mean": v, "std": 0.2, "n_seeds": 3}
        for m, v in STRENGTHS.items()
    ]
    pd.DataFrame(cells).to_csv(tables_dir / "main_long.csv", index=False)
    (tables_dir / "main.md").write_text("**AUC % on the test split, mean ± std over seeds**\n")
    verdicts = [claims.REPRODUCED] * 2 + [claims.NOT_REPRODUCED] + [claims.INCONCLUSIVE] * 3
    rows = [
        {
            **dict.fromkeys(claims.COLUMNS, math.nan),
            "group": "baselines" if i else "oracle",
            "a": "miam" if i else "oracle",
            "b": "uniform" if i else "miam",
            "column": "avg" if i < 2 else "satellite",
            "kind": claims.BEATS if i else claims.BELOW_MARGIN,
            "margin": claims.EQUIVALENCE_MARGIN if i else claims.ORACLE_MARGIN,
            "n_seeds": 3,
            "seeds": "0 1 2",
            "difference": 1.5,
            "ci_low": 0.9,
            "ci_high": 2.1,
            "verdict": verdict,
            "note": "" if i else "interval below the margin",
        }
        for i, verdict in enumerate(verdicts)
    ]
    pd.DataFrame(rows, columns=claims.COLUMNS).to_csv(tables_dir / "claims.csv", index=False)
    availability = dict.fromkeys(STRENGTHS, 1.0)
    profile = {"source": source, "target": availability, "data": {"train": availability}}
    (results / name / "deployment_profile.json").write_text(json.dumps(profile))
    (results / name / "quality").mkdir()
    quality = {"n_issues": 3, "counts": {"satellite": {"missing_file": 2, "corrupt_file": 1}}}
    (results / name / "quality" / "summary.json").write_text(json.dumps(quality))


@pytest.fixture
def run(tmp_path):
    results = tmp_path / "results"
    write_dataset(results, "toy-a")
    write_dataset(results, "toy-b", source="measured")
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# Title\n\n{summary.RESULTS_BEGIN}\nold figures\n{summary.RESULTS_END}\n\nEnd.\n"
    )
    page = tmp_path / "docs" / "results.md"
    return results, readme, page


def test_readme_block_is_rewritten_from_the_tables(run):
    results, readme, page = run
    summaries = summary.summarize_run(results, readme, page)
    assert [s.name for s in summaries] == ["toy-a", "toy-b"]
    text = readme.read_text()
    prose = " ".join(text.split())  # the generated prose is wrapped at 100 characters
    assert "old figures" not in text and text.startswith("# Title") and text.endswith("End.\n")
    assert text.count(summary.RESULTS_BEGIN) == 1 and text.count(summary.RESULTS_END) == 1
    row = next(line for line in text.splitlines() if line.startswith("| toy-a"))
    # miam, uniform, the best masking strategy, the better late fusion, the oracle, verdicts
    assert row == (
        "| toy-a (AUC %) | 71.5 ± 0.5 | 70.0 ± 0.5 | uniform_hypercube 72.5 ± 0.5 | "
        "late_fusion 75.0 ± 0.5 | 76.0 ± 0.5 | 2 / 1 / 3 (1) |"
    )
    # the headline claims, as sentences
    assert "- toy-a: miam − uniform on `avg`: +1.5 pp [+0.9, +2.1] over 3 seeds" in prose
    # strengths: the oracle on each modality alone, strongest first
    assert "toy-a: timeseries 86.0, tabular 79.0, satellite 62.0" in prose
    assert summary.machine() in prose  # the machine the figures come from
    assert summary.float_setup() in prose and "CPU capability" in prose  # and its float setup
    assert "GB in `" in prose and "MB of it checkpoint.pt" in prose  # the run's disk use


def test_results_page_lists_every_model_and_the_headline_claims(run):
    results, readme, page = run
    summary.summarize_run(results, readme, page)
    text = page.read_text()
    assert text.count("| miam |") == 2 and "**75.0 ± 0.5**" in text  # late fusion leads avg
    assert "| 86.0 ± 0.2 | 79.0 ± 0.2 | 62.0 ± 0.2 |" in text
    assert "6 tested, 2 reproduced, 1 not reproduced, 3 inconclusive" in text
    assert "- miam − uniform on `avg`: +1.5 pp [+0.9, +2.1] over 3 seeds" in text
    # only the measured profile's deployment column is said to equal all inputs
    assert text.count("equals the score with every modality shown") == 1
    assert "differ between CPUs" in text
    # oracle − miam: [+0.9, +2.1] ends 0.1 pp above the 2 pp margin
    assert "**On the margin** (1 of 6" in " ".join(text.split())
    assert (
        "3 inputs could not be used" in text and "satellite 2 missing_file, 1 corrupt_file" in text
    )


def test_a_readme_without_the_block_is_refused(run):
    results, readme, page = run
    readme.write_text("# No block\n")
    with pytest.raises(ValueError, match="results:begin"):
        summary.summarize_run(results, readme, page)
    with pytest.raises(ValueError, match="no tables"):
        summary.summarize_run(results / "nothing", readme, page)


def test_readme_has_the_two_commands_ci_runs_and_one_results_block():
    repo = Path(__file__).resolve().parents[1]
    readme = (repo / "README.md").read_text()
    install = 'pip install torch==2.13.0 -e ".[dev]"'
    assert f"{install} && snakemake --cores 2" in readme
    assert f"{install} && python -m pytest -n 2" in readme
    assert "python -m pytest -n 2" in (repo / ".ci" / "run").read_text()
    assert readme.count(summary.RESULTS_BEGIN) == 1 and readme.count(summary.RESULTS_END) == 1


def test_quality_text_counts_changed_inputs_apart_from_absent_ones():
    quality = {
        "n_issues": 7,
        "counts": {"audio": {"cropped": 5, "missing_file": 2}},
        "adjusted": {"audio": {"cropped": {"count": 5, "seconds": 12.4}}},
    }
    text = summary.quality_text(quality)
    assert text.startswith("Data quality: 2 inputs could not be used")
    assert "audio 2 missing_file." in text and "cropped, " not in text
    assert "Used but changed to the configured length or rate: audio 5 cropped (12 s)." in text
    only_changed = {**quality, "counts": {"audio": {"cropped": 5}}}
    assert summary.quality_text(only_changed).startswith("Data quality: every input could be read.")


def test_verdicts_on_the_margin_are_counted_and_named(run):
    results, readme, page = run
    rows = claims.read_claims(results / "toy-a" / "tables" / "claims.csv")
    # miam − uniform on avg: [0.1, 2.1] ends 0.1 pp from 0, within the tolerance
    rows.loc[1, "ci_low"] = 0.1
    rows.to_csv(results / "toy-a" / "tables" / "claims.csv", index=False)
    summary.summarize_run(results, readme, page)
    assert "| 2 / 1 / 3 (2) |" in readme.read_text()  # and oracle − miam, 0.1 pp above 2 pp
    text = " ".join(page.read_text().split())
    assert "**On the margin** (2 of 6" in text and "miam − uniform on `avg` (reproduced)" in text
