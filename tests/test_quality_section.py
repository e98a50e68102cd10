"""The data-quality record as a readable section of a dataset's summary page."""

import pandas as pd

from miam.analysis.quality_section import quality_markdown
from miam.analysis.tables import markdown_html
from miam.inputs.quality import QualityLog


def record() -> tuple[dict, pd.DataFrame]:
    quality = QualityLog()
    for i in range(3):
        quality.record("calls", "missing_file", f"P00{i}", f"/data/calls/P00{i}.*", "no file")
    quality.record("calls", "cropped", "P007", "/data/calls/P007.wav", "1.500 s: 2.0 s | 0.5 s")
    quality.record(
        "terrain", "out_of_range", "P001", "/data/dem.tif", "lon 9.1, lat 45.2 lies outside"
    )
    summary = {
        "n_issues": 5,
        "counts": quality.counts(),
        "adjusted": quality.adjustments(),
        "modalities": [
            {"modality": "calls", "presence": 0.9, "rejected": 0.0},
            {"modality": "terrain", "presence": 0.0, "rejected": 1.0},
        ],
        "notes": ["terrain: never arrived (let through by allow_absent)."],
    }
    return summary, quality.frame()


def test_counts_per_modality_and_reason_with_an_example_and_what_was_changed():
    section = quality_markdown(*record())
    heading, sentence = section.split("\n\n")[:2]
    assert heading == "**The data-quality record**"
    assert sentence.startswith("Data quality: 4 inputs could not be used")
    assert "| calls | 90% | 0% |" in section and "| terrain | 0% | 100% |" in section
    assert "| calls | `cropped` | 1 | used, changed | sample P007: `P007.wav`: 1.500 s" in section
    missing = "| calls | `missing_file` | 3 | token absent | sample P000: `P000.*`: no file |"
    assert missing in section
    assert "lies outside |" in section and "2.0 s / 0.5 s" in section  # no stray cell
    assert section.endswith("- terrain: never arrived (let through by allow_absent).")


def test_the_section_is_html_tables_on_the_page():
    page = markdown_html(quality_markdown(*record()))
    assert page.count("<table") == 2 and page.count("<tr>") == 3 + 4
    assert "<li>terrain: never arrived" in page


def test_a_clean_record_is_one_sentence():
    clean = {"n_issues": 0, "counts": {}, "adjusted": {}}
    assert quality_markdown(clean, QualityLog().frame()) == (
        "**The data-quality record**\n\nData quality: every input could be read."
    )
