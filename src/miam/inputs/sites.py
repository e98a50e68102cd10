"""Sites to predict, read by the dataset's own reader label-free (`species` = the trained
models' class names), so they get exactly the tokens the models were trained on.

A site set (a `predict.sites` entry of a dataset's config) is one of:

- ``grid``: the cell centres of a regular grid (`Grid`: bounding box and resolution in `crs`).
  For an embedded benchmark its generator writes the grid's sites in the dataset's layout and
  the occurrence probability it planted there (the truth the maps are compared with); for the
  generic reader the grid is a table of points where its raster modalities are sampled and its
  location modality is the point; its other modalities (table columns, per-site files) are
  absent there, as a masked model expects of a missing input. A grid no raster covers stops.
- ``split``: a label-free split of the dataset's own files (GeoPlant's published test surveys,
  ``PA_metadata_test.csv`` without speciesId).
- ``table``: a table of new sites in the generic reader's format, without a label column.
"""

from __future__ import annotations

import glob as globbing
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from miam.core.tokens import Modality, TokenSet, check_same_tokens
from miam.inputs.datasets.landscape import DEFAULT_BBOX
from miam.inputs.quality import QualityLog
from miam.inputs.sources import generator_options, tokenize

log = logging.getLogger(__name__)

# The site table of a grid (generic reader): written under the site set's raw folder.
GRID_TABLE = "grid.csv"
# The split name the embedded GeoPlant generator writes a grid's surveys under.
GRID_SPLIT = "grid"


@dataclass(frozen=True)
class Grid:
    """A regular grid: `bbox` (west, south, east, north) in `crs`, square cells of
    `resolution` (in the CRS's units); sites are the cell centres, row 0 in the north."""

    bbox: tuple[float, float, float, float]
    resolution: float
    crs: str = "EPSG:4326"

    @property
    def shape(self) -> tuple[int, int]:
        west, south, east, north = self.bbox
        return (
            max(1, round((north - south) / self.resolution)),
            max(1, round((east - west) / self.resolution)),
        )

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) of every cell centre, row-major from the north-west corner."""
        rows, cols = self.shape
        west, _, _, north = self.bbox
        x = west + (np.arange(cols) + 0.5) * self.resolution
        y = north - (np.arange(rows) + 0.5) * self.resolution
        grid_y, grid_x = np.meshgrid(y, x, indexing="ij")
        return grid_x.ravel(), grid_y.ravel()

    @classmethod
    def from_config(cls, spec: dict) -> Grid:
        bbox = tuple(spec.get("bbox") or DEFAULT_BBOX)
        return cls(bbox, spec["resolution"], spec.get("crs", "EPSG:4326"))


def synthetic_sites(generator: str, source: dict, grid: Grid, root: Path) -> pd.DataFrame:
    """Write `grid`'s sites under `root` with an embedded benchmark's generator (its source
    settings); returns the truth it planted (site id, lon, lat, one column per species)."""
    if grid.crs != "EPSG:4326":
        raise ValueError(f"the {generator} generator places sites in EPSG:4326, not {grid.crs}")
    lon, lat = grid.centres()
    options = {"scale": source["scale"], "seed": source["seed"]}
    options |= generator_options(generator, source)
    if generator == "geoplant":
        from miam.inputs.datasets.synthetic_geoplant import generate_sites

        return generate_sites(root, lon, lat, split=GRID_SPLIT, **options)
    from miam.inputs.datasets.synthetic_taxabench import generate_sites

    return generate_sites(root, lon, lat, **options)


def grid_table(grid: Grid, raster_patterns: list[str], data_folder: Path, root: Path) -> Path:
    """Write `grid`'s sites as a table the generic reader reads (site_id, x, y in the grid's
    CRS); stop, naming the rasters and the region, where no raster covers the grid."""
    paths = sorted(
        {p for pattern in raster_patterns for p in globbing.glob(str(data_folder / pattern))}
    )
    if not paths:
        raise ValueError(
            f"grid {grid.bbox} ({grid.crs}): the dataset has no raster modality under "
            f"{data_folder} ({raster_patterns or 'none declared'}) to predict a grid from"
        )
    if not any(_overlaps(path, grid) for path in paths):
        raise ValueError(
            f"grid {grid.bbox} ({grid.crs}) is covered by none of the rasters {paths}: "
            "no site of it would have raster inputs; choose a region inside them"
        )
    x, y = grid.centres()
    root.mkdir(parents=True, exist_ok=True)
    table = root / GRID_TABLE
    pd.DataFrame({"site_id": np.arange(1, len(x) + 1), "x": x, "y": y}).to_csv(table, index=False)
    return table


def _overlaps(path: str, grid: Grid) -> bool:
    import rasterio
    from rasterio.warp import transform_bounds

    with rasterio.open(path) as raster:
        if raster.crs is None:
            return False
        west, south, east, north = transform_bounds(raster.crs, grid.crs, *raster.bounds)
    g_west, g_south, g_east, g_north = grid.bbox
    return west < g_east and g_west < east and south < g_north and g_south < north


def raster_patterns(reader_options: dict) -> list[str]:
    """The file patterns of the generic reader's raster modalities."""
    return [
        pattern
        for modality in (reader_options.get("modalities") or {}).values()
        if modality.get("from") == "raster"
        for pattern in modality["files"]
    ]


def tokenize_sites(
    reader: str,
    root: Path,
    options: dict,
    trained: TokenSet,
    site_set: dict,
    site_root: Path,
) -> tuple[TokenSet, QualityLog]:
    """The site set's tokens (label-free, the classes of the `trained` tokens) and its
    data-quality log.

    root, options: the dataset's folder and reader options; site_root: the site set's own
    folder (a generated grid, or where a grid's table is written).
    """
    species = list(trained.class_names)
    kind = site_set["kind"]
    if reader == "generic":  # sites are never split: no group column needed
        options = options | {"group": None, "modalities": trained_tile_layout(options, trained)}
    if kind == "split":
        return tokenize(
            reader, root, progress=False, species=species, split=site_set["split"], **options
        )
    if kind == "table":
        # Categorical tokens one-hot over the trained levels, not those of the new table.
        levels = {m.name: m.levels for m in trained.modalities if m.levels is not None}
        unknown = [
            name
            for name, m in (options.get("modalities") or {}).items()
            if m.get("from") == "categorical" and name not in levels
        ]
        if unknown:
            raise ValueError(
                f"site table {site_set['table']}: the training tokens do not record the levels "
                f"of the categorical modalities {unknown} (tokenized by an older version): "
                "tokenize the dataset again (delete its tokens folder) to predict new sites"
            )
        read = options | {"table": site_set["table"]} | ({"levels": levels} if levels else {})
        return tokenize(reader, root, progress=False, species=species, **read)
    if reader == "generic":
        return _generic_grid(root, options, trained, Grid.from_config(site_set), site_root)
    split = {"split": GRID_SPLIT} if reader == "geoplant" else {}
    return tokenize(reader, site_root, progress=False, species=species, **split, **options)


def trained_tile_layout(options: dict, trained: TokenSet) -> dict:
    """The generic reader's modalities with each tile modality's `size` and `bands` as in
    training: left unset, they come from the first readable tile of the table read, which new
    sites may not have (or have otherwise)."""
    modalities = {}
    for name, m in (options.get("modalities") or {}).items():
        if m.get("from") == "files" and m.get("type") == "tile":
            tokens = trained.modality(name)
            patch = m.get("patch", 16)
            side = round(tokens.n_tokens**0.5)
            if tokens.token_dim % patch**2 or side * side != tokens.n_tokens:
                raise ValueError(
                    f"modalities.{name}: the trained tiles ({tokens.n_tokens} tokens of "
                    f"{tokens.token_dim}) are not {patch} px patches; give `size` and `bands`"
                )
            m = m | {
                "size": m.get("size") or side * patch,
                "bands": m.get("bands") or tokens.token_dim // patch**2,
            }
        modalities[name] = m
    return modalities


# The generic reader's modalities a grid point has: rasters are sampled there, the location is
# the point; the others come from a site's row or files, which a grid point has none of.
GRID_SOURCES = ("raster", "location")


def _generic_grid(root, options, trained: TokenSet, grid: Grid, site_root: Path):
    """A grid's tokens for the generic reader: its raster and location modalities read at the
    cell centres, every other modality absent (with the trained tokens' names and sizes)."""
    table = grid_table(grid, raster_patterns(options), Path(root), site_root)
    located = {name: m for name, m in options["modalities"].items() if m["from"] in GRID_SOURCES}
    read = options | {
        "table": str(table.resolve()),
        "id": "site_id",
        "coordinates": {"x": "x", "y": "y", "crs": grid.crs},
        "modalities": located,
    }
    tokens, quality = tokenize(
        "generic", root, progress=False, species=list(trained.class_names), **read
    )
    n = tokens.n_samples
    modalities = [
        tokens.modality(m.name)
        if m.name in located
        else Modality(
            m.name,
            m.kind,
            np.zeros((n, m.n_tokens, m.token_dim), np.float32),
            np.zeros((n, m.n_tokens), bool),
            m.token_names,
            levels=m.levels,
        )
        for m in trained.modalities
    ]
    return TokenSet(
        tokens.task, modalities, tokens.targets, tokens.samples, tokens.class_names
    ), quality


def write_generated_grid(source: dict, site_set: dict, raw: str | Path, truth: str | Path):
    """A generated grid's inputs under `raw` and its planted truth as the CSV `truth`."""
    planted = synthetic_sites(source["generator"], source, Grid.from_config(site_set), Path(raw))
    planted.to_csv(truth, index=False, float_format="%.6g")


def write_site_tokens(
    reader: str,
    root: str | Path,
    options: dict,
    site_set: dict,
    site_root: str | Path,
    trained: str | Path,
    tokens_out: str | Path,
    quality_out: str | Path,
) -> TokenSet:
    """Read a site set label-free with the species of the training tokens `trained`; refuse
    sites with other tokens (`check_same_tokens`); write their tokens and data-quality log."""
    training = TokenSet.load(trained)
    tokens, quality = tokenize_sites(
        reader, Path(root), options, training, site_set, Path(site_root)
    )
    check_same_tokens(training, str(trained), tokens, str(tokens_out))
    tokens.save(tokens_out)
    quality.frame().to_csv(quality_out, index=False)
    return tokens
