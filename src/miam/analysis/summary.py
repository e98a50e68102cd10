"""The results summary of a run: docs/results.md and the README's results block, from the tables.

    python -m miam.analysis.summary            # after `snakemake --cores 2`, on the same machine

reads every `results/<dataset>/tables/` the run wrote (main_long.csv, main.md, claims.csv) and
`results/<dataset>/deployment_profile.json`, then writes `docs/results.md` (per dataset: the
modality strengths the run measured, the summary columns of every model, the headline claims)
and rewrites the block between RESULTS_BEGIN and RESULTS_END in README.md (one compact table and
the verdict counts). Both name the date of the tables, the machine the summary ran on and what
decides its float results (torch's CPU capability, the BLAS builds, the library versions): float
results differ between CPUs and builds, so the digits are this machine's; the verdicts are what
should hold elsewhere, except those on the margin, which both count and docs/results.md names.
No figure in either file is typed by hand.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import platform
import re
import textwrap
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from miam.analysis import claims
from miam.analysis.map_tables import scenario_losses
from miam.analysis.rows import LATE_FUSION_MODELS
from miam.analysis.tables import METRIC_LABELS, ORACLE, format_cell, read_long
from miam.core.hardware import usable_cores
from miam.inputs.quality import ADJUSTMENTS

RESULTS_BEGIN = "<!-- results:begin -->"
RESULTS_END = "<!-- results:end -->"
SUMMARY_COLUMNS = ("avg", "deployment")
WIDTH = 100  # prose lines of the generated Markdown
NOT_MASKING = {ORACLE, *LATE_FUSION_MODELS}


def cell_of(cells: pd.DataFrame, model: str, column: str) -> tuple[float, float]:
    """(mean, std) of one long cell (model, subset, mean, std, ...); NaN where there is none."""
    hit = cells[(cells["model"] == model) & (cells["subset"] == column)]
    if hit.empty:
        return math.nan, math.nan
    return float(hit["mean"].iloc[0]), float(hit["std"].iloc[0])


@dataclass
class DatasetSummary:
    """What one dataset's tables say, in the form the summary prints."""

    name: str
    metric: str  # e.g. "AUC %"
    n_seeds: int
    n_subsets: int
    main: pd.DataFrame  # long cells: model, subset, mean, std, n_seeds
    models: list[str]  # table order
    strengths: dict[str, tuple[float, float]]  # modality -> oracle (mean, std), strongest first
    claims: pd.DataFrame  # claims.csv rows
    deployment_source: str  # "measured" or "config"
    quality: str  # quality_text of quality/summary.json
    tables_date: str
    maps: list[str] = field(default_factory=list)  # maps_text of each grid with a planted truth

    def cell(self, model: str, column: str) -> tuple[float, float]:
        return cell_of(self.main, model, column)

    def text(self, model: str, column: str = "avg") -> str:
        return format_cell(*self.cell(model, column))

    def best(self, models: list[str], column: str = "avg") -> str | None:
        means = {m: self.cell(m, column)[0] for m in models}
        finite = {m: v for m, v in means.items() if math.isfinite(v)}
        return max(finite, key=finite.get) if finite else None

    @property
    def masking(self) -> list[str]:
        return [m for m in self.models if m not in NOT_MASKING]

    def verdicts(self) -> dict[str, int]:
        counts = self.claims["verdict"].value_counts()
        return {v: int(counts.get(v, 0)) for v in claims.VERDICTS}

    def on_the_margin(self) -> pd.DataFrame:
        """The claims whose verdict another machine's digits could move (claims.on_the_margin)."""
        rows = self.claims
        close = [
            claims.on_the_margin(row.ci_low, row.ci_high, row.kind, row.margin)
            for row in rows.itertuples()
        ]
        return rows[close] if len(rows) else rows

    def claim(self, a: str, b: str, column: str = "avg"):
        rows = self.claims
        hit = rows[(rows["a"] == a) & (rows["b"] == b) & (rows["column"] == column)]
        return None if hit.empty else hit.iloc[0]


def metric_label(main_markdown: str) -> str:
    """The metric of a main.md, from its title line ('**AUC % on the test split, ...**')."""
    title = main_markdown.lstrip("*").split("\n", 1)[0]
    for label in METRIC_LABELS.values():
        if title.startswith(label):
            return label
    raise ValueError(f"no metric in the title {title!r}")


def load_dataset(folder: Path) -> DatasetSummary:
    """One dataset's summary from `results/<dataset>/` (tables/ and deployment_profile.json)."""
    tables_dir = folder / "tables"
    main = read_long(tables_dir / "main_long.csv")
    cells = main.cells.rename(columns={main.column_key: "subset"})
    profile = pd.read_json(folder / "deployment_profile.json", typ="series")
    modalities = list(profile["data"]["train"])
    # A subset named after a modality is that modality alone (miam.workflow.pipeline checks it).
    strengths = {m: cell_of(cells, ORACLE, m) for m in modalities}
    strengths = {m: cell for m, cell in strengths.items() if math.isfinite(cell[0])}
    strengths = dict(sorted(strengths.items(), key=lambda item: -item[1][0]))
    modified = dt.datetime.fromtimestamp((tables_dir / "main_long.csv").stat().st_mtime, dt.UTC)
    return DatasetSummary(
        name=folder.name,
        metric=metric_label((tables_dir / "main.md").read_text(encoding="utf-8")),
        n_seeds=int(cells["n_seeds"].max()),
        n_subsets=len([c for c in main.columns if c not in SUMMARY_COLUMNS]),
        main=cells,
        models=main.rows,
        strengths=strengths,
        claims=claims.read_claims(tables_dir / "claims.csv"),
        deployment_source=str(profile["source"]),
        quality=quality_text(json.loads((folder / "quality" / "summary.json").read_text())),
        tables_date=modified.strftime("%Y-%m-%d %H:%M UTC"),
        maps=[
            maps_text(path.parent.parent.name, pd.read_csv(path))
            for path in sorted(folder.glob("predictions/*/maps/agreement_summary.csv"))
        ],
    )


def maps_text(grid: str, agreement: pd.DataFrame, full: str = "all_inputs") -> str:
    """What a grid's maps show against the planted truth: the rank correlation with all inputs,
    and how much the masking strategies keep without the modality whose absence hurts most."""
    masking = agreement[~agreement["model"].isin(NOT_MASKING)]
    losses = scenario_losses(masking, full)
    strongest = losses[losses["strongest"]]
    best = strongest.loc[strongest["loss"].idxmin()]
    worst = strongest.loc[strongest["loss"].idxmax()]
    modality = best["scenario"].removeprefix("without_")
    kept = int((strongest["loss"] > 0).sum())
    return (
        f"maps on grid `{grid}` (rank correlation with the planted occurrence probability, "
        f"mean over species): with all inputs {strongest['full_rank_correlation'].min():.2f} to "
        f"{strongest['full_rank_correlation'].max():.2f} across the {len(strongest)} masking "
        f"strategies; without {modality}, the input whose absence hurts the maps most, "
        f"{kept} of them lose agreement, from {best['loss']:.2f} (`{best['model']}`) to "
        f"{worst['loss']:.2f} (`{worst['model']}`)"
    )


def machine() -> str:
    """CPU model, cores and OS of this machine, in one line."""
    model = platform.processor() or "unknown CPU"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo.read_text(), re.M)
        model = found.group(1).strip() if found else model
    return f"{model}, {usable_cores()} cores, {platform.system()} {platform.machine()}"


def measured_page_header(title: str, command: str) -> list[str]:
    """The first lines of a page of measured figures: its title, and the command, date and
    machine that wrote it (a benchmark's page, never typed)."""
    when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    return [
        f"# {title}",
        "",
        f"Written by `{command}` on {when}, {machine()}; do not edit by hand.",
        "",
    ]


def float_setup() -> str:
    """What decides this machine's float results beyond the CPU's name: the instruction set
    torch's kernels dispatch to (its CPU capability: AVX2, AVX512, ...), the BLAS and oneDNN
    builds torch and numpy compute with, and the library versions."""
    parts = []
    try:
        import torch
    except ImportError:  # the report environment may lack it
        torch = None
    if torch is not None:
        built = torch.__config__.show()
        blas = re.search(r"BLAS_INFO=(\w+)", built)
        mkl = re.search(r"Math Kernel Library Version ([\d.]+)", built)
        onednn = re.search(r"MKL-DNN (v[\d.]+)", built)
        libraries = [
            f"BLAS {blas.group(1) if blas else 'unknown'}" + (f" {mkl.group(1)}" if mkl else ""),
            *([f"oneDNN {onednn.group(1)}"] if onednn else []),
        ]
        parts.append(
            f"torch {torch.__version__} (CPU capability "
            f"{torch.backends.cpu.get_cpu_capability()}, {', '.join(libraries)})"
        )
    blas = numpy_blas()
    parts.append(f"numpy {np.__version__}" + (f" ({blas})" if blas else ""))
    parts.append(f"pandas {pd.__version__}")
    return ", ".join(parts)


def numpy_blas() -> str:
    """numpy's BLAS, name and version (e.g. 'scipy-openblas 0.3.31'); '' where numpy hides it."""
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    except (TypeError, KeyError):  # numpy < 1.26 prints its config instead
        return ""
    return f"{blas.get('name', '')} {blas.get('version', '')}".strip()


def disk_use(folders: list[Path]) -> str:
    """How much the datasets' `folders` hold, and how much of it is training checkpoints
    (resume files): the run's own, not whatever else lies beside them under results/."""
    total = checkpoints = 0
    for folder in folders:
        for path in folder.rglob("*"):
            if path.is_file() and not path.is_symlink():
                size = path.stat().st_size
                total += size
                checkpoints += size if path.name == "checkpoint.pt" else 0
    where = ", ".join(f"`{folder}/`" for folder in folders)
    return f"{total / 1e9:.2f} GB in {where} ({checkpoints / 1e6:.0f} MB of it checkpoint.pt)"


def quality_text(quality: dict) -> str:
    """A dataset's data-quality summary (`quality/summary.json`) in a sentence or two: the
    inputs that became absent tokens, then those used but changed (cropped, padded, resampled)."""
    absent = {
        modality: {r: n for r, n in reasons.items() if r not in ADJUSTMENTS}
        for modality, reasons in quality.get("counts", {}).items()
    }
    absent = {modality: reasons for modality, reasons in absent.items() if reasons}
    n_absent = sum(n for reasons in absent.values() for n in reasons.values())
    text = (
        "Data quality: every input could be read."
        if not n_absent
        else (
            f"Data quality: {n_absent} inputs could not be used and became absent tokens "
            "(each with its file in `quality/issues.csv`): "
            + "; ".join(
                f"{modality} " + ", ".join(f"{n} {reason}" for reason, n in reasons.items())
                for modality, reasons in absent.items()
            )
            + "."
        )
    )
    changed = [
        f"{modality} {change['count']} {how} ({change['seconds']:.0f} s)"
        for modality, kinds in quality.get("adjusted", {}).items()
        for how, change in kinds.items()
    ]
    if changed:
        text += " Used but changed to the configured length or rate: " + ", ".join(changed) + "."
    return text


def verdict_text(counts: dict[str, int]) -> str:
    return " / ".join(str(counts[v]) for v in claims.VERDICTS)


def strengths_text(summary: DatasetSummary) -> str:
    return ", ".join(f"{m} {mean:.1f}" for m, (mean, _) in summary.strengths.items()) or "–"


def readme_block(summaries: list[DatasetSummary], produced: str, disk: str) -> str:
    """The README's results block: one row per dataset (scores on `avg`), verdict counts."""
    lines = [
        RESULTS_BEGIN,
        "<!-- Generated by `python -m miam.analysis.summary` from the run's tables; "
        "do not edit by hand. -->",
        "",
        "| dataset (metric, test split) | `miam` | `uniform` | best masking strategy | "
        "late fusion | oracle | claims: reproduced / not / inconclusive (on the margin) |",
        "|---|---:|---:|---|---|---:|---:|",
    ]
    for s in summaries:
        best = s.best(s.masking)
        fusion = s.best([m for m in LATE_FUSION_MODELS if m in s.models])
        lines.append(
            f"| {s.name} ({s.metric}) | {s.text('miam')} | {s.text('uniform')} | "
            f"{best or '–'} {s.text(best) if best else ''} | "
            f"{fusion or '–'} {s.text(fusion) if fusion else ''} | {s.text(ORACLE)} | "
            f"{verdict_text(s.verdicts())} ({len(s.on_the_margin())}) |"
        )
    lines.append("")
    for s in summaries:
        headline = [s.claim("miam", "uniform"), s.claim(ORACLE, "miam")]
        described = [claims.describe(row) for row in headline if row is not None]
        if described:
            text = f"- {s.name}: " + "; ".join(described + s.maps) + "."
            wrapped = textwrap.fill(text, WIDTH, subsequent_indent="  ", break_on_hyphens=False)
            lines.append(wrapped)
    notes = (
        f"Scores: the mean over the named input subsets (`avg`), mean ± std over "
        f"{', '.join(sorted({str(s.n_seeds) for s in summaries}))} seeds. "
        "Modality strengths the run measured (each modality's oracle alone): "
        + "; ".join(f"{s.name}: {strengths_text(s)}" for s in summaries)
        + f". Disk: {disk}. Produced {produced}. Every model, subset and claim, and the claims "
        f"on the margin (an interval end within {claims.MARGIN_TOLERANCE:g} pp of 0 or of a "
        "margin: the verdicts such a move can change): [docs/results.md](docs/results.md)."
    )
    lines += ["", textwrap.fill(notes, WIDTH, break_on_hyphens=False), RESULTS_END]
    return "\n".join(lines)


def dataset_section(s: DatasetSummary) -> list[str]:
    columns = [c for c in SUMMARY_COLUMNS if not s.main[s.main["subset"] == c].empty]
    lines = [
        f"## {s.name}",
        "",
        f"{s.metric} on the test split, mean ± std over {s.n_seeds} seeds; tables written "
        f"{s.tables_date}. `avg` is the mean over the {s.n_subsets} named subsets.",
        "",
        "**Modality strengths measured by this run** (the oracle trained and tested on one "
        "modality, strongest first):",
        "",
        "| " + " | ".join(s.strengths) + " |",
        "|" + "---:|" * len(s.strengths),
        "| " + " | ".join(format_cell(*v) for v in s.strengths.values()) + " |",
        "",
        "**Every model on the summary columns** (bold: the best non-oracle model):",
        "",
        "| model | " + " | ".join(f"`{c}`" for c in columns) + " |",
        "|---|" + "---:|" * len(columns),
    ]
    leaders = {c: s.best([m for m in s.models if m != ORACLE], c) for c in columns}
    for model in s.models:
        cells = [
            f"**{s.text(model, c)}**" if leaders[c] == model else s.text(model, c) for c in columns
        ]
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    if s.deployment_source == "measured" and "deployment" in columns:
        lines += [
            "",
            "_`deployment` is the data's own availability here (measured), so it equals the "
            "score with every modality shown (the column of all modalities together)._",
        ]
    counts = s.verdicts()
    headline = [s.claim("miam", "uniform"), s.claim(ORACLE, "miam")]
    lines += [
        "",
        f"**Claims**: {len(s.claims)} tested, "
        + ", ".join(f"{n} {v}" for v, n in counts.items())
        + ". Headline:",
        "",
        *[f"- {claims.describe(row)}" for row in headline if row is not None],
        *[
            f"- {text[0].upper()}{text[1:]} (`results/{s.name}/reports/maps.html`)."
            for text in s.maps
        ],
        "",
        margin_text(s),
        "",
        s.quality,
        "",
        f"Every column: `results/{s.name}/tables/main.md`; every claim: "
        f"`results/{s.name}/tables/claims.md`; the pages: `results/{s.name}/reports/`.",
        "",
    ]
    return lines


def margin_text(s: DatasetSummary) -> str:
    """Which claims are on the margin: the verdicts this machine's digits decide."""
    close = s.on_the_margin()
    if close.empty:
        return (
            f"No verdict is on the margin (no interval end within {claims.MARGIN_TOLERANCE:g} pp "
            "of 0 or of a margin)."
        )
    listed = "; ".join(
        f"{row.a} − {row.b} on `{row.column}` ({row.verdict})" for row in close.itertuples()
    )
    return (
        f"**On the margin** ({len(close)} of {len(s.claims)}: an end of the interval within "
        f"{claims.MARGIN_TOLERANCE:g} pp of 0 or of a margin, so another machine's digits can "
        f"move the verdict): {listed}."
    )


def results_page(summaries: list[DatasetSummary], produced: str, disk: str) -> str:
    lines = [
        "# Results of the default run",
        "",
        f"Generated by `python -m miam.analysis.summary` from the run's tables. Produced "
        f"{produced}. Do not edit by hand: rerun the command after a run. Disk: {disk}.",
        "",
        "Float results differ between CPUs and torch builds (summation order in the kernels), "
        "so on another machine the digits below move by a few tenths (more on TaxaBench, whose "
        "top-1 on ~250 test observations moves by points between seeds). The verdicts are what "
        "should hold: they rest on paired intervals over seeds, not on a single digit (except "
        "those on the margin, named under each dataset). The "
        "demo is small (1,600 samples a dataset, a one-block model, 3 seeds), so read a verdict "
        "as what this scale can show, not as the paper's result.",
        "",
    ]
    for s in summaries:
        lines += dataset_section(s)
    return "\n".join(lines)


def replace_block(text: str, block: str, begin: str = RESULTS_BEGIN, end: str = RESULTS_END) -> str:
    """`text` with the part from `begin` to `end` replaced by `block` (which holds both)."""
    start, stop = text.find(begin), text.find(end)
    if start < 0 or stop < start:
        raise ValueError(f"no {begin} ... {end} block to replace")
    return text[:start] + block + text[stop + len(end) :]


def summarize_run(results: Path, readme: Path, page: Path) -> list[DatasetSummary]:
    """Write `page` and the results block of `readme` from every dataset under `results` (the
    study's block is miam.analysis.study's)."""
    folders = sorted(p.parent.parent for p in results.glob("*/tables/main_long.csv"))
    if not folders:
        raise ValueError(f"no tables under {results}: run the workflow first")
    summaries = [load_dataset(folder) for folder in folders]
    dates = sorted({s.tables_date for s in summaries})
    produced = (
        f"from tables of {' and '.join(dates)} on {machine()}. What decides its float results: "
        f"{float_setup()}; a machine that matches all of it repeats these digits, one that "
        "differs in any (CPU, capability, BLAS, a version) can move them by a few tenths"
    )
    disk = disk_use(folders)
    page.parent.mkdir(parents=True, exist_ok=True)
    page.write_text(results_page(summaries, produced, disk), encoding="utf-8")
    text = replace_block(
        readme.read_text(encoding="utf-8"), readme_block(summaries, produced, disk)
    )
    readme.write_text(text, encoding="utf-8")
    return summaries


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, default=Path("results"))
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--page", type=Path, default=Path("docs/results.md"))
    args = parser.parse_args(argv)
    summaries = summarize_run(args.results, args.readme, args.page)
    print(f"wrote {args.page} and the results block of {args.readme}: {len(summaries)} datasets")


if __name__ == "__main__":
    main()
