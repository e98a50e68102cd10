"""What the generic reader's options (`reader_options` of a `reader: generic` dataset) may say.

The workflow checks these options when it parses, before any job runs, so this module imports
nothing but the standard library (no pandas, rasterio or torch). `tokenize.generic` reads
the data they describe. The options, with their defaults (docs/own-data.md)::

    table: plots.gpkg        # the sample table, relative to the source folder (default: the
                             # source itself when it is a file)
    layer: null              # GeoPackage / multi-layer file: the layer (default: the first)
    id: plot_id              # the sample id column (default: the row number)
    coordinates: auto        # auto | none | {x: col, y: col, crs: "EPSG:4326"}
    group: null              # a column kept with the samples for `split: {kind: group}`
    label: {kind: presence, column: present}      # see LABEL_KINDS
    modalities:              # name -> where its tokens come from (`from`), in model order
      climate: {from: columns, columns: [bio1, "soil_*"]}
      ...

`auto` coordinates: the table's geometry (GeoPackage, GeoJSON, Shapefile, GeoParquet), else a
pair of columns named lon/lat, longitude/latitude or decimalLongitude/decimalLatitude (degrees),
else none. Coordinates in another CRS are reprojected to lon/lat.
"""

from __future__ import annotations

import re
import string
from fnmatch import fnmatchcase
from pathlib import Path

from miam.core.options import REQUIRED, did_you_mean, filled_options

# Column pairs taken for lon/lat (degrees, EPSG:4326) when `coordinates` is auto.
LON_LAT_NAMES = (("lon", "lat"), ("longitude", "latitude"), ("decimallongitude", "decimallatitude"))
LOCATION_FREQUENCIES = [1, 2, 4, 8, 16, 32]

TOP_LEVEL = {
    "table": None,
    "layer": None,
    "id": None,
    "coordinates": "auto",
    "group": None,
    "label": REQUIRED,
    "modalities": REQUIRED,
}

# How the table says what was observed (the task follows from it).
LABEL_KINDS = {
    # one class per sample (a species column): multiclass, top-1
    "classes": {"column": REQUIRED, "min_occurrences": 1, "max_species": None},
    # presence/absence, multilabel: `column` alone is one species' 0/1 column; with `species`,
    # one row per (sample, species), present unless `column` (0/1) says otherwise
    "presence": {"column": None, "species": None, "min_occurrences": 1, "max_species": None},
    # one 0/1 column per species (names or glob patterns): multilabel
    "species_columns": {"columns": REQUIRED, "min_occurrences": 1, "max_species": None},
}
TASKS = {"classes": "multiclass", "presence": "multilabel", "species_columns": "multilabel"}

# AudioConfig's fields (miam.inputs.tokenize.audio), checked against it by the tests.
AUDIO_OPTIONS = {
    "sample_rate": 16000,
    "duration": 3.0,
    "n_fft": 1024,
    "hop_length": 512,
    "n_mels": 32,
    "time_blocks": 4,
    "freq_bands": 4,
}
FILE_TYPES = {
    # a raster per sample (GeoTIFF of any band count, dtype and CRS; PNG/JPEG): centre window of
    # `size` px (default: the first readable tile's, cut to whole patches) in `patch` px patches
    "tile": {"size": None, "patch": 16, "bands": None},
    # a photo of any size, resized to `size` px square, RGB
    "image": {"size": 64, "patch": 16},
    # a recording at any sample rate, resampled to `sample_rate`
    "audio": dict(AUDIO_OPTIONS),
}
# Where a modality's tokens come from (`from`), its options, and the token kind it gives.
SOURCES = {
    # numeric columns (names or glob patterns): one scalar token per column
    "columns": ({"columns": REQUIRED}, "scalar"),
    # categorical columns: one token per column, a learned vector per level (the `max_levels`
    # most frequent levels of each column; rarer ones share one "other" level)
    "categorical": ({"columns": REQUIRED, "max_levels": 64}, "vector"),
    # columns named by a pattern with one {field} (e.g. tmax_{year}): one token per value of the
    # field, holding the columns of every pattern for it (D = number of patterns)
    "series": ({"pattern": REQUIRED}, "vector"),
    # rasters sampled at the sample's point: one scalar token per file and band
    "raster": ({"files": REQUIRED, "bands": None}, "scalar"),
    # a file per sample in `folder`, found by id (`name`: a template such as "{id}_rgb.tif";
    # default: any file whose name without its suffix is the id)
    "files": ({"folder": REQUIRED, "type": REQUIRED, "name": None}, "vector"),
    # sinusoidal features of lon/lat: one token `latlon`
    "location": ({"frequencies": LOCATION_FREQUENCIES}, "vector"),
}


def pattern_field(pattern: str, where: str) -> str:
    """The one `{field}` of a series pattern; ValueError naming `where` otherwise."""
    try:
        fields = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as error:
        raise ValueError(f"{where}: bad pattern {pattern!r}: {error}") from error
    if len(fields) != 1 or not re.fullmatch(r"[A-Za-z_]\w*", fields[0]):
        raise ValueError(
            f"{where}: the pattern {pattern!r} needs exactly one {{field}} (e.g. tmax_{{year}})"
        )
    return fields[0]


def pattern_regex(pattern: str, field: str) -> re.Pattern:
    """Regex matching the names `pattern` gives; group 1 is the field's value."""
    before, after = pattern.split("{" + field + "}")
    return re.compile(f"^{re.escape(before)}(.+?){re.escape(after)}$")


def _string_list(value, where: str) -> list[str]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or not all(isinstance(v, str) for v in values):
        raise ValueError(f"{where}: a name or a non-empty list of names, got {value!r}")
    return values


def parse_options(options: dict, where: str = "reader_options") -> dict:
    """The generic reader's options with every default filled in, checked.

    Raises ValueError naming the key (`where` is its path in the config) for anything unknown,
    missing or of the wrong shape.
    """
    spec = filled_options(options, TOP_LEVEL, where, "the generic reader")
    coordinates = spec["coordinates"]
    if coordinates is None or coordinates is False:
        spec["coordinates"] = "none"
    elif isinstance(coordinates, dict):
        given = filled_options(
            coordinates,
            {"x": None, "y": None, "crs": "EPSG:4326"},
            f"{where}.coordinates",
            "coordinates",
        )
        if (given["x"] is None) != (given["y"] is None):
            raise ValueError(f"{where}.coordinates: give both `x` and `y`, or neither")
        spec["coordinates"] = given
    elif coordinates not in ("auto", "none"):
        raise ValueError(
            f"{where}.coordinates: auto, none or {{x: <column>, y: <column>, crs: ...}}, "
            f"got {coordinates!r}"
        )
    label = spec["label"]
    if not isinstance(label, dict) or label.get("kind") not in LABEL_KINDS:
        kind = label.get("kind") if isinstance(label, dict) else label
        raise ValueError(f"{where}.label.kind: {kind!r} is not one of {', '.join(LABEL_KINDS)}")
    spec["label"] = {
        "kind": label["kind"],
        **filled_options(
            {k: v for k, v in label.items() if k != "kind"},
            LABEL_KINDS[label["kind"]],
            f"{where}.label",
            f"label kind {label['kind']!r}",
        ),
    }
    if label["kind"] == "presence" and not (spec["label"]["column"] or spec["label"]["species"]):
        raise ValueError(
            f"{where}.label: presence needs `column` (one species' 0/1 column) or `species` "
            "(one row per sample and species)"
        )
    if label["kind"] == "species_columns":
        spec["label"]["columns"] = _string_list(label["columns"], f"{where}.label.columns")
    modalities = spec["modalities"]
    if not isinstance(modalities, dict) or not modalities:
        raise ValueError(f"{where}.modalities: name -> {{from: ...}}, at least one")
    spec["modalities"] = {
        name: parse_modality(name, modality, f"{where}.modalities.{name}")
        for name, modality in modalities.items()
    }
    for name, modality in spec["modalities"].items():
        if spec["coordinates"] == "none" and modality["from"] in ("raster", "location"):
            raise ValueError(
                f"{where}.modalities.{name}: a {modality['from']} modality needs coordinates, "
                f"and {where}.coordinates is none"
            )
    return spec


def parse_modality(name: str, modality: dict, where: str) -> dict:
    """One modality's options, defaults filled in, checked."""
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", str(name)):
        raise ValueError(f"{where}: a modality name is letters, digits, _ and - (got {name!r})")
    if not isinstance(modality, dict) or modality.get("from") not in SOURCES:
        source = modality.get("from") if isinstance(modality, dict) else modality
        raise ValueError(f"{where}.from: {source!r} is not one of {', '.join(SOURCES)}")
    source = modality["from"]
    accepted = dict(SOURCES[source][0])
    if source == "files":
        kind = modality.get("type")
        if kind not in FILE_TYPES:
            raise ValueError(f"{where}.type: {kind!r} is not one of {', '.join(FILE_TYPES)}")
        accepted.update(FILE_TYPES[kind])
    given = {k: v for k, v in modality.items() if k != "from"}
    spec = {"from": source, **filled_options(given, accepted, where, f"a {source} modality")}
    if source in ("columns", "categorical"):
        spec["columns"] = _string_list(spec["columns"], f"{where}.columns")
    if source == "series":
        patterns = _string_list(spec["pattern"], f"{where}.pattern")
        fields = {pattern_field(p, f"{where}.pattern") for p in patterns}
        if len(fields) > 1:
            raise ValueError(f"{where}.pattern: every pattern needs the same field, got {fields}")
        spec["pattern"] = patterns
    if source == "raster":
        spec["files"] = _string_list(spec["files"], f"{where}.files")
    if source == "files":
        if spec["name"] is not None and pattern_field(spec["name"], f"{where}.name") != "id":
            raise ValueError(f"{where}.name: the file name template needs {{id}}")
        for key in ("size", "patch"):
            value = spec.get(key)
            if value is not None and (not isinstance(value, int) or value < 1):
                raise ValueError(f"{where}.{key}: a positive integer, got {value!r}")
        if spec["type"] in ("tile", "image") and spec["size"] and spec["size"] % spec["patch"]:
            raise ValueError(
                f"{where}: size {spec['size']} is not a whole number of {spec['patch']} px patches"
            )
        if spec["type"] == "audio" and spec["n_mels"] % spec["freq_bands"]:
            raise ValueError(f"{where}: n_mels is not a multiple of freq_bands")
    return spec


def modality_kinds(spec: dict) -> dict[str, str]:
    """Modality name -> token kind ("scalar" | "vector"), in model order."""
    return {name: SOURCES[m["from"]][1] for name, m in spec["modalities"].items()}


def _plain(names: list[str]) -> bool:
    return not any(c in name for name in names for c in "*?[")


def patch_names(grid: int) -> list[str]:
    return [f"r{r}c{c}" for r in range(grid) for c in range(grid)]


def declared_tokens(spec: dict) -> dict[str, list[str] | None]:
    """Modality -> its token names where the options alone fix them; None where they depend on
    the data (glob patterns, series values, raster bands, a tile size taken from the files)."""
    tokens: dict[str, list[str] | None] = {}
    for name, m in spec["modalities"].items():
        source = m["from"]
        names = None
        if source in ("columns", "categorical") and _plain(m["columns"]):
            names = list(m["columns"])
        elif source == "location":
            names = ["latlon"]
        elif source == "files" and m["type"] in ("tile", "image") and m["size"]:
            names = patch_names(m["size"] // m["patch"])
        elif source == "files" and m["type"] == "audio":
            names = [f"t{i}f{j}" for i in range(m["time_blocks"]) for j in range(m["freq_bands"])]
        tokens[name] = names
    return tokens


def default_analyses(spec: dict) -> dict[str, dict]:
    """Contribution analyses (miam.analysis.contribution_settings) of every declared modality: one
    group per token (variables, levels, steps), per patch (tiles, images: a map), per
    frequency band (audio); the steps of a series also as a context curve (bars, not the
    notebook's year plot: a series' steps need not be years)."""
    analyses = {}
    for name, m in spec["modalities"].items():
        source = m["from"]
        if source in ("columns", "categorical", "raster"):
            analyses[f"{name}_variables"] = {"modality": name, "groups": "{*}"}
        elif source == "series":
            analyses[f"{name}_steps"] = {
                "modality": name,
                "groups": "{*}",
                "context": True,
            }
        elif source == "files" and m["type"] in ("tile", "image"):
            analyses[f"{name}_patches"] = {"modality": name, "groups": "{*}", "plot": "map"}
        elif source == "files" and m["type"] == "audio":
            analyses[f"{name}_bands"] = {"modality": name, "groups": "t*{f*}"}
    return analyses


def matches_any(pattern: str, names: list[str]) -> bool:
    return any(fnmatchcase(n, pattern) for n in names)


def table_path(root: str | Path, table: str | None) -> Path:
    """The sample table: `table` in the source folder (or beside the source file), else the
    source itself when it is a file."""
    root = Path(root)
    if table is not None:
        return (root if root.is_dir() else root.parent) / table
    if root.is_dir():
        raise ValueError(
            f"reader_options.table: the source {root} is a folder; name the sample table in it"
        )
    return root


def check_header(spec: dict, path: Path, columns: list[str], geometry: bool, where: str) -> bool:
    """The columns the options name, against the sample table's header (`columns`; `geometry`:
    the table has a geometry), before any job reads the table. ValueError naming the option and
    the column meant; returns whether the table gives coordinates."""

    def missing(key: str, name: str, what: str = "column") -> ValueError:
        return ValueError(
            f"{where}.{key}: the sample table {path} has no {what} {name!r}"
            f"{did_you_mean(name, columns)}"
        )

    label = spec["label"]
    named = {"id": spec["id"], "group": spec["group"]}
    named |= {f"label.{k}": label.get(k) for k in ("column", "species")}
    located = spec["coordinates"] != "none"
    if isinstance(spec["coordinates"], dict) and spec["coordinates"]["x"] is not None:
        named |= {f"coordinates.{k}": spec["coordinates"][k] for k in ("x", "y")}
    elif located and not geometry:
        lower = {c.lower() for c in columns}
        located = any(lon in lower and lat in lower for lon, lat in LON_LAT_NAMES)
    for key, name in named.items():
        if name is not None and name not in columns:
            raise missing(key, name)
    patterns = {"label.columns": label.get("columns") or []}
    for name, m in spec["modalities"].items():
        if m["from"] in ("columns", "categorical"):
            patterns[f"modalities.{name}.columns"] = m["columns"]
        if m["from"] == "series":
            field = pattern_field(m["pattern"][0], f"{where}.modalities.{name}.pattern")
            for pattern in m["pattern"]:
                if not any(pattern_regex(pattern, field).fullmatch(c) for c in columns):
                    raise missing(f"modalities.{name}.pattern", pattern, "column matching")
        if m["from"] in ("raster", "location") and not located:
            raise ValueError(
                f"{where}.modalities.{name}: a {m['from']} modality needs coordinates, and the "
                f"sample table {path} has none (no geometry, no lon/lat columns; "
                f"{where}.coordinates: {{x, y, crs}} names them)"
            )
    for key, names in patterns.items():
        for pattern in names:
            if pattern not in columns and not matches_any(pattern, columns):
                raise missing(key, pattern, "column matching")
    return located
