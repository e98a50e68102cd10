"""Screenshots of what a reader opens first, in a real browser, with the checks a reader makes.

    python tests/screenshot_pages.py report.html results/*/reports/comparison.html --out shots/

Opens the page `snakemake --report report.html` wrote in Chromium at 1400 x 900 and saves a PNG
of its landing page, then of every page the report holds (the claims, the summaries, the
paper's tables, the notebooks) as the report shows it, in its frame beside the menu, then of
each page given after the report. It checks what cost readers minutes: the landing page opens
at its first line (not scrolled into the middle of a table), its tables fit the window, and no
page needs sideways scrolling to show a table's `verdict` column. Exits 1 and prints each
problem when one is found.

Needs playwright (`pip install playwright`) and a Chromium: Debian's `apt-get install chromium`
(found on PATH, or named by MIAM_CHROMIUM); playwright's own download works as well. The browser
runs headless, without sandbox, GPU or network.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

VIEWPORT = {"width": 1400, "height": 900}
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--no-first-run",
]
SETTLE_MS = 600  # React renders the report's views after a click; let it finish

# In a page: how far it scrolls sideways, and where each `verdict` header ends.
PAGE_WIDTHS = """() => ({
    scroll: document.documentElement.scrollWidth,
    width: document.documentElement.clientWidth,
    verdicts: [...document.querySelectorAll('th')]
        .filter(th => th.textContent.trim() === 'verdict')
        .map(th => th.getBoundingClientRect().right),
})"""
# On the report's landing page: the description's first line and its tables.
LANDING = """() => {
    const text = document.querySelector('.prose');
    const pane = text.closest('.overflow-auto');
    return {
        top: text.getBoundingClientRect().top,
        scrolled: pane.scrollTop,
        width: window.innerWidth,
        tables: [...text.querySelectorAll('table')].map(t => t.getBoundingClientRect().right),
    };
}"""


@dataclass
class Shot:
    name: str
    png: Path
    problems: list[str] = field(default_factory=list)


def chromium() -> str | None:
    """The Chromium executable to drive: MIAM_CHROMIUM, else `chromium` on PATH (None: none)."""
    return shutil.which(os.environ.get("MIAM_CHROMIUM", "chromium"))


def browser_available() -> bool:
    """Whether playwright and a Chromium are installed (the checks need both)."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return chromium() is not None


def width_problems(name: str, widths: dict) -> list[str]:
    problems = []
    if widths["scroll"] > widths["width"]:
        problems.append(
            f"{name}: {widths['scroll']} px wide in a {widths['width']} px frame (scrolls sideways)"
        )
    problems += [
        f"{name}: the verdict column ends at {right:.0f} px, beyond the {widths['width']} px frame"
        for right in widths["verdicts"]
        if right > widths["width"]
    ]
    return problems


def landing_problems(landing: dict) -> list[str]:
    problems = []
    if landing["top"] < 0 or landing["scrolled"] > 0:
        problems.append(
            f"landing page: its first line is {-landing['top']:.0f} px above the window's top"
        )
    problems += [
        f"landing page: a table ends at {right:.0f} px, beyond the {landing['width']} px window"
        for right in landing["tables"]
        if right > landing["width"]
    ]
    return problems


def check_report(report: Path, pages: list[Path], out: Path) -> list[Shot]:
    """Screenshot `report`'s landing page and table pages, then each of `pages`, into `out`."""
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=chromium(), args=FLAGS)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(report.resolve().as_uri())
        page.wait_for_selector(".prose")
        page.wait_for_timeout(SETTLE_MS)
        shot = Shot("landing page", out / "report_landing.png")
        page.screenshot(path=shot.png)
        shot.problems = landing_problems(page.evaluate(LANDING))
        shots.append(shot)
        # Each page of the report as a click in its menu shows it: the page in a frame beside
        # the list of its category (`app.setView`, what the click calls).
        listed = page.evaluate("() => categories")
        for category, subcategories in sorted(listed.items()):
            for subcategory, paths in sorted(subcategories.items()):
                for path in sorted(p for p in paths if p.endswith(".html")):
                    page.evaluate(
                        "([category, subcategory, path]) => app.setView({navbarMode: "
                        "'subcategory', category: category, subcategory: subcategory, "
                        "content: 'html', contentPath: results[path].data_uri, resultPath: path})",
                        [category, subcategory, path],
                    )
                    page.wait_for_timeout(SETTLE_MS)
                    frame = page.wait_for_selector("iframe").content_frame()
                    frame.wait_for_load_state("load")
                    name = f"report: {path}"
                    png = out / ("report_" + path.replace("/", "_").replace(".html", ".png"))
                    page.screenshot(path=png)
                    shots.append(Shot(name, png, width_problems(name, frame.evaluate(PAGE_WIDTHS))))
        for path in pages:
            page.goto(path.resolve().as_uri())
            page.wait_for_load_state("load")
            name = str(path)
            shot = Shot(name, out / (str(path).replace("/", "_").replace(".html", ".png")))
            page.screenshot(path=shot.png)
            shot.problems = width_problems(name, page.evaluate(PAGE_WIDTHS))
            shots.append(shot)
        browser.close()
    return shots


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("report", type=Path, help="the page `snakemake --report` wrote")
    parser.add_argument("pages", type=Path, nargs="*", help="more pages, e.g. a notebook's")
    parser.add_argument("--out", type=Path, default=Path("screenshots"))
    args = parser.parse_args(argv)
    if not browser_available():
        print("needs playwright and Chromium (see this script's docstring)", file=sys.stderr)
        return 2
    shots = check_report(args.report, args.pages, args.out)
    problems = [problem for shot in shots for problem in shot.problems]
    print(f"{len(shots)} screenshots in {args.out}/")
    print("\n".join(problems) if problems else "no problem found")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
