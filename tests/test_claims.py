"""The claims table: paired differences over seeds, t intervals and verdicts, by hand.

Scores are planted in percent so that every per-seed difference is a round number; the expected
means, standard deviations and intervals below are computed by hand from them, with
t(0.975, 2) = 4.302653 (3 seeds) and t(0.975, 1) = 12.706205 (2 seeds).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from miam.analysis import claims

SUBSETS = ["tab", "sat", "tab+sat"]
WEAK = ["sat"]
SEEDS = [0, 1, 2]
T2 = 4.302653  # t(0.975, 2)
T1 = 12.706205  # t(0.975, 1)
CONFIG = ["constant", "uniform", "dirichlet", "modality_dropout", "opm"]
LADDER = ["uniform_hypercube", "beta_hypercube", "miam", "miam_uniform_corners"]


def miam_score(subset: str, seed: int) -> float:
    """MIAM's planted test score in percent; seeds differ a lot (shared by every model)."""
    return {"tab": 80 + 2 * seed, "sat": 60 + 4 * seed, "tab+sat": 85 + 2 * seed}[subset]


# Per-seed difference MIAM - baseline on `sat`; 0 on the other subsets.
SAT_DIFFERENCE = {
    "uniform": [2, 3, 4],  # mean 3, sd 1: interval [0.52, 5.48] above 0
    "constant": [0.1, 0.2, 0.3],  # mean 0.2, sd 0.1: [-0.05, 0.45] inside ±0.5 pp
    "dirichlet": [-4, -3, -2],  # mean -3, sd 1: [-5.48, -0.52] below 0
    "modality_dropout": [-3, -2, -1],  # mean -2, sd 1: [-4.48, 0.48] contains 0
}
# Oracle - MIAM per subset.
ORACLE_GAP = {"tab": [1, 1.5, 2], "sat": [0.2, 0.4, 0.6], "tab+sat": [5, 6, 7]}


def rows(model: str, seed: int, scores: dict[str, float], split: str = "test") -> list[dict]:
    return [
        {
            "dataset": "toy",
            "model": model,
            "seed": seed,
            "split": split,
            "family": "named",
            "subset": subset,
            "metric": "auroc",
            "value": value / 100,
        }
        for subset, value in scores.items()
    ]


def planted(models=(*CONFIG, *LADDER), oracle: bool = True, seeds=SEEDS) -> pd.DataFrame:
    records = []
    for seed in seeds:
        miam = {s: miam_score(s, seed) for s in SUBSETS}
        for model in models:
            if model == "miam":
                scores = miam
            elif model in SAT_DIFFERENCE:
                scores = miam | {"sat": miam["sat"] - SAT_DIFFERENCE[model][seed]}
            elif model == "uniform_hypercube":
                scores = {s: v - 1.0 for s, v in miam.items()}
            elif model == "beta_hypercube":
                scores = {s: v - 0.75 for s, v in miam.items()}
            elif model == "miam_uniform_corners":
                if seed == 2:
                    continue  # only seeds 0 and 1: two pairs with miam
                scores = {s: v - (1 + seed) for s, v in miam.items()}
            else:  # opm: present, never better or worse
                scores = miam
            records += rows(model, seed, scores)
            records += rows(model, seed, {s: v + 2 for s, v in scores.items()}, split="val")
        if oracle:
            records += rows("oracle", seed, {s: miam[s] + ORACLE_GAP[s][seed] for s in SUBSETS})
    return pd.DataFrame(records)


def claim_row(table: claims.ClaimsTable, a: str, b: str, column: str) -> pd.Series:
    chosen = table.rows[
        (table.rows["a"] == a) & (table.rows["b"] == b) & (table.rows["column"] == column)
    ]
    assert len(chosen) == 1, (a, b, column)
    return chosen.iloc[0]


def assert_interval(row, mean: float, sd: float, t: float, n: int) -> None:
    half = t * sd / math.sqrt(n)
    assert row["n_seeds"] == n
    assert row["difference"] == pytest.approx(mean, abs=1e-9)
    assert row["sd"] == pytest.approx(sd, abs=1e-9)
    assert row["ci_low"] == pytest.approx(mean - half, abs=1e-5)
    assert row["ci_high"] == pytest.approx(mean + half, abs=1e-5)


@pytest.fixture(scope="module")
def table() -> claims.ClaimsTable:
    strategies = [*CONFIG, *LADDER]
    return claims.claims_table(planted(), strategies, SUBSETS, WEAK)


@pytest.mark.parametrize(
    ("df", "expected"),
    [(1, 12.706205), (2, 4.302653), (3, 3.182446), (4, 2.776445), (9, 2.262157), (30, 2.042272)],
)
def test_t_quantile_matches_the_tables(df, expected):
    assert claims.t_quantile(0.975, df) == pytest.approx(expected, abs=1e-5)


def test_t_quantile_matches_scipy_when_available():
    stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 5, 7, 12, 50, 200):
        for p in (0.9, 0.975, 0.995):
            assert claims.t_quantile(p, df) == pytest.approx(stats.t.ppf(p, df), rel=1e-8)


def test_paired_difference_pairs_seeds_and_uses_the_t_interval():
    a = pd.Series({0: 62.0, 1: 67.0, 2: 72.0, 5: 99.0})  # seed 5 has no partner
    b = pd.Series({0: 60.0, 1: 64.0, 2: 68.0, 7: 10.0})
    paired = claims.paired_difference(a, b)
    assert paired.seeds == [0, 1, 2]
    assert paired.differences == [2.0, 3.0, 4.0]
    assert paired.mean_a == pytest.approx(67.0) and paired.mean_b == pytest.approx(64.0)
    assert paired.mean == pytest.approx(3.0) and paired.sd == pytest.approx(1.0)
    assert (paired.low, paired.high) == pytest.approx(
        (3 - T2 / math.sqrt(3), 3 + T2 / math.sqrt(3))
    )
    # Unpaired, the seeds' spread (sd 5 and 4 here) would swamp the difference.
    assert paired.high - paired.low < a.loc[[0, 1, 2]].std()


def test_one_seed_gives_no_interval_and_an_inconclusive_verdict():
    paired = claims.paired_difference(pd.Series({0: 70.0}), pd.Series({0: 60.0}))
    assert paired.n == 1 and paired.mean == pytest.approx(10.0)
    assert math.isnan(paired.low) and math.isnan(paired.high) and math.isnan(paired.sd)
    assert claims.verdict(paired) == (claims.INCONCLUSIVE, "1 seed: no interval")
    empty = claims.paired_difference(pd.Series(dtype=float), pd.Series({0: 1.0}))
    assert claims.verdict(empty)[0] == claims.INCONCLUSIVE


@pytest.mark.parametrize(
    ("baseline", "mean", "verdict", "note"),
    [
        ("uniform", 3.0, claims.REPRODUCED, ""),
        ("constant", 0.2, claims.NOT_REPRODUCED, "equivalent: interval within ±0.5 pp"),
        ("dirichlet", -3.0, claims.NOT_REPRODUCED, "reversed: interval below 0"),
        ("modality_dropout", -2.0, claims.INCONCLUSIVE, "interval contains 0"),
    ],
)
def test_miam_against_each_baseline_on_a_weak_subset(table, baseline, mean, verdict, note):
    row = claim_row(table, "miam", baseline, "sat")
    assert row["group"] == "baselines"
    sd = 0.1 if baseline == "constant" else 1.0
    assert_interval(row, mean, sd, T2, 3)
    assert row["mean_a"] == pytest.approx(64.0)  # miam on sat: 60, 64, 68
    assert row["mean_b"] == pytest.approx(64.0 - mean)
    assert (row["verdict"], row["note"]) == (verdict, note)
    assert row["seeds"] == "0 1 2"


def test_average_claim_pairs_the_per_seed_means_over_named_subsets(table):
    # miam - uniform per seed on avg: (0 + d_sat + 0) / 3 = 2/3, 1, 4/3: mean 1, sd 1/3.
    row = claim_row(table, "miam", "uniform", "avg")
    assert_interval(row, 1.0, 1 / 3, T2, 3)
    assert row["verdict"] == claims.REPRODUCED
    assert row["mean_a"] == pytest.approx((82 + 64 + 87) / 3)


def test_every_baseline_is_tested_on_each_weak_subset_and_avg(table):
    baselines = table.rows[table.rows["group"] == "baselines"]
    expected = {("miam", b, c) for b in claims.BASELINES for c in ("sat", "avg")}
    assert set(zip(baselines["a"], baselines["b"], baselines["column"], strict=True)) == expected


def test_ladder_steps_on_avg_and_weak_mean(table):
    ladder = table.rows[table.rows["group"] == "ladder"]
    steps = [("uniform_hypercube", "uniform"), ("beta_hypercube", "uniform_hypercube")]
    steps.append(("miam", "beta_hypercube"))
    assert list(zip(ladder["a"], ladder["b"], ladder["column"], strict=True)) == [
        (a, b, c) for a, b in steps for c in ("avg", "weak mean")
    ]
    # uniform_hypercube = miam - 1 everywhere; uniform = miam - d on sat only (weak mean = sat)
    row = claim_row(table, "uniform_hypercube", "uniform", "weak mean")
    assert_interval(row, 3.0 - 1.0, 1.0, T2, 3)
    # beta_hypercube - uniform_hypercube = +0.25 at every seed: sd 0, zero-width interval
    row = claim_row(table, "beta_hypercube", "uniform_hypercube", "avg")
    assert_interval(row, 0.25, 0.0, T2, 3)
    assert row["verdict"] == claims.REPRODUCED
    assert row["note"] == "gain below the 0.5 pp margin"
    row = claim_row(table, "miam", "beta_hypercube", "weak mean")
    assert_interval(row, 0.75, 0.0, T2, 3)
    assert (row["verdict"], row["note"]) == (claims.REPRODUCED, "")


def test_corner_weights_pair_only_the_seeds_both_have(table):
    row = claim_row(table, "miam", "miam_uniform_corners", "avg")
    assert row["group"] == "corners"
    assert row["seeds"] == "0 1"
    assert_interval(row, 1.5, math.sqrt(0.5), T1, 2)  # differences 1, 2
    assert row["verdict"] == claims.INCONCLUSIVE


@pytest.mark.parametrize(
    ("column", "mean", "sd", "verdict"),
    [
        ("tab", 1.5, 0.5, claims.INCONCLUSIVE),  # [0.26, 2.74] contains 2
        ("sat", 0.4, 0.2, claims.REPRODUCED),  # [-0.10, 0.90] below 2
        ("tab+sat", 6.0, 1.0, claims.NOT_REPRODUCED),  # [3.52, 8.48] above 2
        ("avg", None, None, claims.INCONCLUSIVE),  # [1.23, 4.04] contains 2
    ],
)
def test_gap_to_the_oracle_is_oracle_minus_miam_against_the_margin(
    table, column, mean, sd, verdict
):
    row = claim_row(table, "oracle", "miam", column)
    assert row["group"] == "oracle" and row["kind"] == claims.BELOW_MARGIN
    assert row["margin"] == claims.ORACLE_MARGIN
    if column == "avg":
        # per seed (1 + 0.2 + 5) / 3, (1.5 + 0.4 + 6) / 3, (2 + 0.6 + 7) / 3
        gaps = [6.2 / 3, 7.9 / 3, 9.6 / 3]
        mean = sum(gaps) / 3
        sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / 2)
        assert sd == pytest.approx(1.7 / 3)
    assert_interval(row, mean, sd, T2, 3)
    assert row["verdict"] == verdict


def test_margins_are_parameters():
    table = claims.claims_table(
        planted(), [*CONFIG, *LADDER], SUBSETS, WEAK, equivalence_margin=0.1, oracle_margin=3.0
    )
    # constant: [-0.05, 0.45] no longer inside ±0.1 pp
    assert claim_row(table, "miam", "constant", "sat")["verdict"] == claims.INCONCLUSIVE
    row = claim_row(table, "oracle", "miam", "tab")
    assert row["verdict"] == claims.REPRODUCED and "3 pp" in row["claim"]


def test_a_config_without_some_strategies_skips_their_claims_with_a_note():
    models = ("uniform", "beta_hypercube", "miam")  # no constant, ..., no uniform_hypercube
    table = claims.claims_table(
        planted(models, oracle=False), ["uniform", "opm", "beta_hypercube", "miam"], SUBSETS, WEAK
    )
    assert set(table.rows["group"]) == {"baselines", "ladder"}
    assert set(table.rows.loc[table.rows["group"] == "baselines", "b"]) == {"uniform"}
    ladder = table.rows[table.rows["group"] == "ladder"]
    assert set(zip(ladder["a"], ladder["b"], strict=True)) == {("miam", "beta_hypercube")}
    skipped = "\n".join(table.skipped)
    assert "`opm` is in the config but has no evaluation rows" in skipped
    assert "MIAM vs constant" in skipped and "MIAM vs opm" in skipped
    assert "uniform → uniform_hypercube" in skipped
    assert "corner weights" in skipped and "oracle" in skipped
    markdown = claims.to_markdown(table)
    assert "Not tested in this run" in markdown and "MIAM vs dirichlet" in markdown


def test_without_miam_nothing_about_miam_is_claimed():
    listed = claims.paper_claims(["uniform", "uniform_hypercube", "oracle"], SUBSETS, WEAK)
    assert [(c.a, c.b) for c in listed.claims] == [("uniform_hypercube", "uniform")] * 2
    assert any("`miam` is not in the config" in s for s in listed.skipped)


def test_single_seed_run_is_inconclusive_everywhere():
    table = claims.claims_table(planted(seeds=[0]), [*CONFIG, *LADDER], SUBSETS, WEAK)
    assert set(table.rows["verdict"]) == {claims.INCONCLUSIVE}
    assert table.seeds == [0]
    assert "One seed: no interval" in claims.to_markdown(table)


def test_validation_split_on_request():
    table = claims.claims_table(planted(), [*CONFIG, *LADDER], SUBSETS, WEAK, split="val")
    row = claim_row(table, "miam", "uniform", "sat")
    assert row["mean_a"] == pytest.approx(66.0)  # val scores sit 2 pp above the test ones
    assert table.split == "val"


def test_written_files(tmp_path, table):
    csv, markdown, page = claims.write_claims(table, tmp_path)
    assert (csv.name, markdown.name, page.name) == ("claims.csv", "claims.md", "claims.html")
    back = claims.read_claims(csv)
    assert list(back.columns) == claims.COLUMNS
    assert len(back) == len(table.rows)
    assert back["note"].map(type).eq(str).all()
    assert back.loc[0, "seeds"] == "0 1 2"
    text = markdown.read_text()
    assert "3 seeds (0, 1, 2)" in text and "95 % t interval" in text
    line = (
        "| MIAM beats uniform on sat (weak) | miam − uniform | 64.0 | 61.0 | +3.0 | [+0.5, +5.5] |"
    )
    assert line + " 3 | **reproduced** |" in text
    counts = claims.verdict_counts(table)
    assert sum(counts.values()) == len(table.rows)
    assert f"{counts['reproduced']} reproduced" in text
    # The report shows the HTML page inline: the same claims, as HTML tables.
    shown = page.read_text()
    assert "<title>claims (toy)</title>" in shown and "<b>reproduced</b>" in shown
    assert shown.count("<table class='text'>") == text.count("| claim |")
    assert "<td>miam − uniform</td><td>64.0</td><td>61.0</td><td>+3.0</td>" in shown
    # Each group's title is bold, on the page too (not a literal `*title*`).
    assert f"<p><b>{claims.GROUPS['baselines']}</b></p>" in shown and "<p>*" not in shown


def test_an_interval_rounding_to_zero_is_not_negative_zero():
    assert claims.format_interval(-0.04, 0.96) == "[+0.0, +1.0]"
    assert claims.format_pp(-0.04) == "+0.0"
    assert claims.format_pp(-0.06) == "-0.1"


def test_a_claim_reads_as_a_sentence(table):
    row = claim_row(table, "miam", "uniform", "sat")
    assert claims.describe(row) == (
        "miam − uniform on `sat`: +3.0 pp [+0.5, +5.5] over 3 seeds, **reproduced**"
    )
    single = claims.claims_table(planted(seeds=[0]), [*CONFIG, *LADDER], SUBSETS, WEAK)
    row = claim_row(single, "miam", "uniform", "sat")
    assert claims.describe(row) == (
        "miam − uniform on `sat`: +2.0 pp over 1 seed, **inconclusive** (1 seed: no interval)"
    )


def test_identical_models_are_named_as_such():
    paired = claims.paired_difference(pd.Series({0: 60.0, 1: 61.0}), pd.Series({0: 60.0, 1: 61.0}))
    assert (paired.low, paired.high) == (0.0, 0.0)
    assert claims.verdict(paired) == (claims.NOT_REPRODUCED, "identical scores on every seed")


@pytest.mark.parametrize(
    ("low", "high", "kind", "close"),
    [
        (0.2, 3.0, claims.BEATS, True),  # 0.2 pp above 0
        (1.0, 3.0, claims.BEATS, False),
        (-0.4, 0.3, claims.BEATS, True),  # inside the equivalence margin, near its edges
        (2.2, 4.0, claims.BELOW_MARGIN, True),  # 0.2 pp above the oracle margin
        (2.5, 4.0, claims.BELOW_MARGIN, False),
        (math.nan, math.nan, claims.BEATS, False),  # one seed: no interval
        (0.0, 0.0, claims.BEATS, False),  # identical scores: the same on any machine
    ],
)
def test_a_verdict_is_on_the_margin_when_an_interval_end_is_near_a_boundary(low, high, kind, close):
    margin = claims.ORACLE_MARGIN if kind == claims.BELOW_MARGIN else claims.EQUIVALENCE_MARGIN
    assert claims.on_the_margin(low, high, kind, margin) == close
