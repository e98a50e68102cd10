"""The generic reader: a dataset described in config, from the files an ecologist already has.

`tokenize_generic(root, **reader_options)` reads a sample table (any format of
`miam.inputs.tokenize.sample_table`) and builds each modality the options declare
(`miam.inputs.tokenize.generic_spec`, where every option and default is listed):

- ``columns``: one scalar token per numeric column (`miam.inputs.tokenize.tabular`'s rules: an empty
  cell is ``missing_value``, a non-finite number ``out_of_range``).
- ``categorical``: one token per column; its vector is one-hot over the column's levels, each
  column with its own block of positions, so the model's linear projection of the token is a
  learned vector per (column, level). Levels are the `max_levels` most frequent values in the
  whole table; rarer ones share an "other" position. An empty cell is ``missing_value``. The
  levels are kept with the tokens (`Modality.levels`): new sites are read with a trained
  model's (`levels`), so each level keeps its position; a level training never saw is
  "other" where training had one, else the token is absent (``out_of_range``).
- ``series``: one token per value of the pattern's field (``tmax_{year}`` -> ``2001``, ``2002``
  ...), in numeric order when the values are numbers; D = number of patterns. A step with any
  empty value or fill value (+-inf, |x| > 1e10) is absent (``nan_values``).
- ``raster``: the value of each band of each file at the sample's point (reprojected to the
  raster's CRS); tokens ``<file stem>`` (one band) or ``<file stem>/<band>`` (the band's
  description, else ``b<i>``). Nodata and NaN are ``nan_values``, a point off the raster
  ``out_of_range``; a raster that cannot be opened makes its tokens absent for every sample
  (``corrupt_file``).
- ``files`` of type ``tile`` (any band count, dtype and CRS: patch tokens ``r<i>c<j>`` of the
  centre window, raw values; a patch with a nodata or NaN pixel is absent, ``nan_values``; a
  tile with another band count or smaller than the window is ``wrong_shape``; a tile whose
  bounds do not hold the sample's point is ``out_of_range``), ``image`` (any size, resized,
  `miam.inputs.tokenize.image`) or ``audio`` (any sample rate, resampled; cropped or padded to
  `duration`: each recording so changed is counted in the report as ``resampled``, ``cropped``
  or ``padded`` with the seconds concerned, `miam.inputs.tokenize.audio`). A file that is not
  there is ``missing_file``, one that cannot be decoded (truncated, not what its name says)
  ``corrupt_file``.
- ``location``: one token ``latlon`` (`miam.inputs.tokenize.location`).

Samples: one per row (per id for a table with one row per sample and species), in table order;
`samples` holds sample_id, lon, lat (NaN without coordinates) and, with the `group` option,
`group`. A sample whose coordinates are empty or off the globe when the table has coordinates is
dropped (``out_of_range`` / ``missing_value`` under ``samples``): it cannot be placed in a
spatial block. Sharding as the other readers: the table is read whole (species, levels, series
steps and tile sizes come from all samples), the per-sample files of only shard k.
"""

from __future__ import annotations

import glob as globbing
import logging
import re
from fnmatch import fnmatchcase
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm import tqdm

from miam.core.errors import InputError
from miam.core.tokens import Modality, TokenSet, shard_rows
from miam.inputs.quality import QualityLog, fill_values
from miam.inputs.tokenize.generic_spec import (
    TASKS,
    modality_kinds,
    parse_options,
    pattern_field,
    pattern_regex,
    table_path,
)
from miam.inputs.tokenize.location import location_features, valid_coordinates
from miam.inputs.tokenize.sample_files import read_each_file
from miam.inputs.tokenize.sample_table import SampleTable, coordinates, read_sample_table
from miam.inputs.tokenize.tabular import tabular_tokens, warn_unterminated

log = logging.getLogger(__name__)

OTHER_LEVEL = "(other)"


def tokenize_generic(
    root: str | Path,
    table: str | None = None,
    layer: str | None = None,
    id: str | None = None,  # the option's name in the config
    coordinates: str | dict = "auto",
    group: str | None = None,
    label: dict | None = None,
    modalities: dict | None = None,
    shard: tuple[int, int] = (0, 1),
    progress: bool = True,
    species: list[str] | None = None,
    levels: dict[str, list[list[str]]] | None = None,
) -> tuple[TokenSet, QualityLog]:
    """Tokenize the dataset at `root` (a folder, or the sample table itself) as the options say
    (see the module doc and `miam.inputs.tokenize.generic_spec`).

    `species`: read the table label-free (sites to predict, no label column needed) with these
    class names (a trained model's): every row with an id is kept, a row without usable
    coordinates too (recorded; its located modalities are absent), and targets are 0.
    `levels`: categorical modality -> its tokens' levels (a trained model's `Modality.levels`),
    used instead of the levels of this table.
    """
    spec = parse_options(
        {
            "table": table,
            "layer": layer,
            "id": id,
            "coordinates": coordinates,
            "group": group,
            "label": label,
            "modalities": modalities,
        }
    )
    root = Path(root)
    folder = root if root.is_dir() else root.parent
    table_file = table_path(root, spec["table"])
    quality = QualityLog()
    # What the whole table decides is recorded once, by the first shard.
    table_quality = quality if shard[0] == 0 else QualityLog()
    samples_table = read_sample_table(table_file, spec["layer"])
    reader = _Reader(spec, folder, samples_table, table_quality, species, levels)
    if samples_table.unterminated and shard[0] == 0:
        rows = len(samples_table.frame)
        warn_unterminated(table_file, rows)
        detail = f"{rows} rows read; the last value may be cut short"
        quality.record("samples", "no_final_newline", f"row {rows - 1}", table_file, detail)
    rows = shard_rows(reader.n_samples, *shard)
    if shard != (0, 1):
        log.info("shard %d of %d: %d samples", shard[0] + 1, shard[1], rows.stop - rows.start)
    built = [
        reader.modality(name, m, rows, quality, progress) for name, m in spec["modalities"].items()
    ]
    kinds = modality_kinds(spec)
    token_set = TokenSet(
        task=TASKS[spec["label"]["kind"]],
        modalities=[
            Modality(name, kinds[name], values, present, names, levels=reader.levels.get(name))
            for name, (values, present, names) in zip(spec["modalities"], built, strict=True)
        ],
        targets=reader.targets[rows],
        samples=reader.samples.iloc[rows].reset_index(drop=True),
        class_names=reader.class_names,
    )
    return token_set, quality


def _natural_key(value: str):
    """Numbers in numeric order, then text."""
    try:
        return (0, float(value), "")
    except ValueError:
        return (1, 0.0, value)


def _as_id(value) -> str:
    """A sample id as text; 12.0 (an integer column read with empty cells) -> "12"."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


class _Reader:
    """The sample table turned into samples and targets; builds each modality."""

    def __init__(
        self,
        spec: dict,
        folder: Path,
        table: SampleTable,
        quality: QualityLog,
        species: list[str] | None = None,
        known_levels: dict[str, list[list[str]]] | None = None,
    ):
        self.spec, self.folder, self.table = spec, folder, table
        # categorical modality -> its tokens' levels: given (a trained model's) or found here
        self.known_levels = known_levels or {}
        self.levels: dict[str, list[list[str]]] = {}
        self.path = table.path
        frame = table.frame.reset_index(drop=True)
        id_column = spec["id"]
        self._require([c for c in (id_column, spec["group"]) if c], "id / group")
        ids = (
            frame[id_column].map(_as_id)
            if id_column
            else pd.Series(np.arange(len(frame)).astype(str))
        )
        empty_id = frame[id_column].isna().to_numpy() if id_column else np.zeros(len(frame), bool)
        for i in np.flatnonzero(empty_id):
            quality.record("samples", "missing_value", f"row {i}", self.path, f"empty {id_column}")
        frame, ids = frame[~empty_id].reset_index(drop=True), ids[~empty_id].reset_index(drop=True)
        frame.insert(0, "__sample_id", ids.to_numpy())

        located = coordinates(table, spec["coordinates"], "reader_options.coordinates")
        lon = lat = None
        if located is None:
            log.info(
                "%s: no coordinates (the spatial split and located modalities need them)", self.path
            )
        else:
            lon, lat, how = located
            lon, lat = lon[~empty_id], lat[~empty_id]
            log.info("%s: coordinates from %s", self.path, how)
            usable = valid_coordinates(lat, lon)
            # A site to predict needs no place in a spatial block: it is kept, unlocated.
            fate = "dropped" if species is None else "kept without coordinates"
            for i in np.flatnonzero(~usable):
                reason = "missing_value" if np.isnan([lon[i], lat[i]]).any() else "out_of_range"
                detail = f"lon {lon[i]}, lat {lat[i]}: {fate}"
                quality.record("samples", reason, ids.iloc[i], self.path, detail)
            if species is None:
                frame, lon, lat = frame[usable].reset_index(drop=True), lon[usable], lat[usable]
            else:
                lon, lat = np.where(usable, lon, np.nan), np.where(usable, lat, np.nan)

        label = spec["label"]
        long_format = label["kind"] == "presence" and label["species"] is not None
        first = ~frame["__sample_id"].duplicated().to_numpy()
        if not long_format and not first.all():
            repeated = frame.loc[~first, "__sample_id"].unique()[:5].tolist()
            raise InputError(
                f"the sample table {self.path}: the id column {id_column!r} repeats "
                f"{repeated}...; a table with one row per sample and species needs "
                "label: {kind: presence, species: <column>}"
            )
        self.rows = frame  # every row (several per sample in the long format)
        self.frame = frame[first].reset_index(drop=True)  # one row per sample
        self.sample_ids = self.frame["__sample_id"].to_numpy(str)
        if species is None:
            self.targets, self.class_names, keep = self._targets(label, quality)
        else:
            task = TASKS[label["kind"]]
            shape = (len(self.frame), len(species)) if task == "multilabel" else len(self.frame)
            self.targets = np.zeros(shape, np.uint8 if task == "multilabel" else np.int64)
            self.class_names, keep = list(species), np.ones(len(self.frame), bool)
        self.frame = self.frame[keep].reset_index(drop=True)
        self.sample_ids = self.sample_ids[keep]
        self.targets = self.targets[keep]
        n = len(self.frame)
        if n == 0:
            raise InputError(f"the sample table {self.path} leaves no sample with a label")
        samples = {
            "sample_id": self.sample_ids,
            "lon": lon[first][keep] if lon is not None else np.full(n, np.nan),
            "lat": lat[first][keep] if lat is not None else np.full(n, np.nan),
        }
        if spec["group"]:
            samples["group"] = self.frame[spec["group"]].map(_as_id).to_numpy(str)
        self.samples = pd.DataFrame(samples)
        log.info(
            "%s: %d samples, %d classes (%s)",
            self.path,
            n,
            len(self.class_names),
            TASKS[label["kind"]],
        )

    @property
    def n_samples(self) -> int:
        return len(self.frame)

    def _require(self, columns: list[str], what: str) -> None:
        missing = [c for c in columns if c not in self.table.frame.columns]
        if missing:
            raise InputError(
                f"the sample table {self.path} has no column {missing} ({what}); "
                f"it has {list(self.table.frame.columns)}"
            )

    def _columns(self, patterns: list[str], where: str) -> list[str]:
        """Table columns matching `patterns` (names or globs), in table order; a glob never
        matches the id, label, coordinate or group columns."""
        reserved = {self.spec["id"], self.spec["group"], "__sample_id"}
        label = self.spec["label"]
        reserved |= {label.get("column"), label.get("species")}
        if isinstance(self.spec["coordinates"], dict):
            reserved |= {self.spec["coordinates"]["x"], self.spec["coordinates"]["y"]}
        columns = [c for c in self.table.frame.columns if isinstance(c, str)]
        chosen = []
        for pattern in patterns:
            if pattern in columns:
                found = [pattern]
            else:
                found = [c for c in columns if fnmatchcase(c, pattern) and c not in reserved]
            if not found:
                raise InputError(
                    f"{where}: {pattern!r} matches no column of {self.path}; it has {columns[:20]}"
                )
            chosen += [c for c in found if c not in chosen]
        return chosen

    # --- labels ---

    def _targets(self, label: dict, quality: QualityLog):
        """(targets, class names, samples kept) from the label options."""
        kind, where = label["kind"], "reader_options.label"
        if kind == "classes":
            self._require([label["column"]], f"{where}.column")
            classes = self.frame[label["column"]]
            empty = classes.isna().to_numpy()
            for sample_id in self.sample_ids[empty]:
                quality.record("samples", "missing_value", sample_id, self.path, "no class")
            names = classes.map(_as_id).where(~empty)
            counts = names[~empty].value_counts()
            kept = self._kept(counts, label)
            keep = names.isin(kept).to_numpy()
            index = {c: i for i, c in enumerate(kept)}
            targets = names.map(index).fillna(-1).to_numpy(np.int64)
            return targets, kept, keep
        if kind == "species_columns":
            columns = self._columns(label["columns"], f"{where}.columns")
            values = self.frame[columns].apply(pd.to_numeric, errors="coerce")
            for i, j in zip(*np.nonzero(values.isna().to_numpy()), strict=True):
                quality.record(
                    "samples",
                    "missing_value",
                    self.sample_ids[i],
                    self.path,
                    f"{columns[j]} empty: counted absent",
                )
            presence = values.fillna(0).to_numpy() > 0
            matrix = pd.DataFrame(presence, columns=columns)
        elif label["species"] is None:  # one species' 0/1 column
            self._require([label["column"]], f"{where}.column")
            values = pd.to_numeric(self.frame[label["column"]], errors="coerce")
            empty = values.isna().to_numpy()
            for sample_id in self.sample_ids[empty]:
                quality.record(
                    "samples",
                    "missing_value",
                    sample_id,
                    self.path,
                    f"{label['column']} empty: dropped",
                )
            targets = (values.fillna(0).to_numpy() > 0).astype(np.uint8)[:, None]
            return targets, [label["column"]], ~empty
        else:  # one row per (sample, species)
            self._require([label["species"], *filter(None, [label["column"]])], where)
            rows = self.rows
            present = rows[label["species"]].notna().to_numpy()
            if label["column"]:
                flag = pd.to_numeric(rows[label["column"]], errors="coerce").fillna(0)
                present &= flag.to_numpy() > 0
            pairs = pd.DataFrame(
                {
                    "sample": rows["__sample_id"].to_numpy(str)[present],
                    "species": rows[label["species"]].map(_as_id).to_numpy(str)[present],
                }
            ).drop_duplicates()
            matrix = (
                pd.crosstab(pairs["sample"], pairs["species"]).reindex(
                    self.sample_ids, fill_value=0
                )
                > 0
            )
        counts = matrix.sum(axis=0)
        kept = self._kept(counts[counts > 0], label)
        targets = matrix[kept].to_numpy(np.uint8)
        return targets, kept, np.ones(len(self.frame), bool)

    def _kept(self, counts: pd.Series, label: dict) -> list[str]:
        """Classes with at least `min_occurrences`, the `max_species` most frequent, sorted."""
        counts = counts[counts >= label["min_occurrences"]]
        order = sorted(counts.index, key=lambda c: (-counts[c], _natural_key(str(c))))
        if label["max_species"] is not None:
            order = order[: label["max_species"]]
        if not order:
            raise InputError(
                f"no class of {self.path} has {label['min_occurrences']} or more occurrences "
                "(reader_options.label.min_occurrences)"
            )
        return sorted(map(str, order), key=_natural_key)

    # --- modalities ---

    def modality(self, name: str, m: dict, rows: slice, quality: QualityLog, progress: bool):
        """(values (N, T, D), present (N, T), token names) of one declared modality."""
        where = f"reader_options.modalities.{name}"
        build = {
            "columns": self._numeric,
            "categorical": self._categorical,
            "series": self._series,
            "raster": self._raster,
            "files": self._files,
            "location": self._location,
        }[m["from"]]
        values, present, names = build(name, m, rows, quality, where, progress)
        log.info("%s: %d tokens of %d values", name, values.shape[1], values.shape[2])
        return values, present, names

    def _numeric(self, name, m, rows, quality, where, progress):
        columns = self._columns(m["columns"], f"{where}.columns")
        for column in columns:  # the whole table: every shard decides alike
            text = self.frame[column].dropna()
            numbers = pd.to_numeric(text, errors="coerce")
            if len(text) and numbers.isna().mean() > 0.5:
                raise InputError(
                    f"{where}.columns: column {column!r} of {self.path} holds text "
                    f"(e.g. {text.iloc[0]!r}); list it in a modality `from: categorical`"
                )
        frame = self.frame.iloc[rows]
        return tabular_tokens(
            [(self.path, frame[["__sample_id", *columns]])],
            frame["__sample_id"].to_numpy(str),
            "__sample_id",
            str,
            quality,
            name,
        )

    def _categorical(self, name, m, rows, quality, where, progress):
        columns = self._columns(m["columns"], f"{where}.columns")
        known = self.known_levels.get(name)
        if known is not None and len(known) != len(columns):
            raise InputError(
                f"{where}.columns: {len(columns)} columns in {self.path}, the trained tokens "
                f"have {len(known)}"
            )
        blocks = []
        for t, column in enumerate(columns):
            text = self.frame[column].map(_as_id).where(self.frame[column].notna())
            if known is not None:
                blocks.append((column, text, list(known[t])))
                continue
            counts = text.value_counts()
            levels = sorted(counts.index, key=lambda v: (-counts[v], _natural_key(v)))
            kept = sorted(levels[: m["max_levels"]], key=_natural_key)
            other = len(levels) > len(kept)
            blocks.append((column, text, kept + ([OTHER_LEVEL] if other else [])))
            log.info(
                "%s: %s has %d levels%s",
                name,
                column,
                len(levels),
                f"; the {len(kept)} most frequent kept, the rest {OTHER_LEVEL}" if other else "",
            )
        self.levels[name] = [levels for _, _, levels in blocks]
        width = sum(len(levels) for _, _, levels in blocks)
        n = rows.stop - rows.start
        values = np.zeros((n, len(columns), width), np.float32)
        present = np.zeros((n, len(columns)), bool)
        offset = 0
        for t, (column, text, levels) in enumerate(blocks):
            position = {level: offset + i for i, level in enumerate(levels)}
            for i, value in enumerate(text.iloc[rows]):
                if pd.isna(value):
                    quality.record(
                        name, "missing_value", self.sample_ids[rows][i], self.path, column
                    )
                    continue
                at = position.get(value, position.get(OTHER_LEVEL))
                if at is None:  # a level the trained tokens do not have, nor "other"
                    sample = self.sample_ids[rows][i]
                    detail = f"{column}: {value!r} is no level of the trained tokens"
                    quality.record(name, "out_of_range", sample, self.path, detail)
                    continue
                values[i, t, at] = 1.0
                present[i, t] = True
            offset += len(levels)
        return values, present, columns

    def _series(self, name, m, rows, quality, where, progress):
        field = pattern_field(m["pattern"][0], f"{where}.pattern")
        steps: dict[str, dict[int, str]] = {}
        for p, pattern in enumerate(m["pattern"]):
            regex = pattern_regex(pattern, field)
            found = {
                match.group(1): column
                for column in self.table.frame.columns
                if isinstance(column, str) and (match := regex.match(column))
            }
            if not found:
                raise InputError(f"{where}.pattern: {pattern!r} matches no column of {self.path}")
            for step, column in found.items():
                steps.setdefault(step, {})[p] = column
        names = sorted(steps, key=_natural_key)
        frame = self.frame.iloc[rows]
        n = len(frame)
        values = np.full((n, len(names), len(m["pattern"])), np.nan, np.float64)
        for t, step in enumerate(names):
            for p, column in steps[step].items():
                values[:, t, p] = pd.to_numeric(frame[column], errors="coerce").to_numpy(float)
        values[fill_values(values)] = np.nan  # fill values stand for "no value"
        present = np.isfinite(values).all(axis=2)
        for i in np.flatnonzero(~present.all(axis=1)):
            missing = [names[t] for t in np.flatnonzero(~present[i])]
            quality.record(
                name,
                "nan_values",
                frame["__sample_id"].iloc[i],
                self.path,
                f"{field} {', '.join(missing)}",
            )
        return np.nan_to_num(values).astype(np.float32), present, names

    def _location(self, name, m, rows, quality, where, progress):
        samples = self.samples.iloc[rows]
        lat, lon = samples["lat"].to_numpy(float), samples["lon"].to_numpy(float)
        if np.isnan(lat).all() and len(lat):
            raise InputError(f"{where}: the sample table {self.path} gives no coordinates")
        values = location_features(np.nan_to_num(lat), np.nan_to_num(lon), m["frequencies"])
        present = valid_coordinates(lat, lon)
        return values[:, None, :], present[:, None], ["latlon"]

    def _raster(self, name, m, rows, quality, where, progress):
        from miam.inputs.tokenize.rasters import sample_rasters

        paths = []
        for pattern in m["files"]:
            found = sorted(globbing.glob(str(self.folder / pattern)))
            if not found:
                raise InputError(f"{where}.files: {pattern!r} matches no file under {self.folder}")
            paths += [Path(p) for p in found if Path(p) not in paths]
        samples = self.samples.iloc[rows]
        if np.isnan(samples["lat"].to_numpy(float)).all() and len(samples):
            raise InputError(f"{where}: the sample table {self.path} gives no coordinates")
        return sample_rasters(
            paths,
            m["bands"],
            samples["lon"].to_numpy(float),
            samples["lat"].to_numpy(float),
            samples["sample_id"].to_numpy(str),
            quality,
            name,
        )

    def _files(self, name, m, rows, quality, where, progress):
        from miam.inputs.tokenize.sample_files import SUFFIXES, SampleFiles

        files = SampleFiles(self.folder / m["folder"], SUFFIXES[m["type"]], m["name"])
        found = sum(sample_id in files.files for sample_id in self.sample_ids)
        log.info("%s: files for %d of %d samples", name, found, len(self.sample_ids))
        samples = self.samples.iloc[rows].reset_index(drop=True)
        read = {"tile": _tiles, "image": _images, "audio": _recordings}[m["type"]]
        return read(name, m, files, self.samples, samples, quality, progress)


def _tile_layout(m: dict, files, all_samples: pd.DataFrame, name: str):
    """(bands, size, patch) of a tile modality: the options, else the first readable tile in
    sample order (the same in every shard)."""
    from miam.inputs.tokenize.sample_files import TILE_DECODE_ERRORS, read_tile_array

    bands, size, patch = m["bands"], m["size"], m["patch"]
    if bands is None or size is None:
        for sample_id in all_samples["sample_id"]:
            path = files.get(sample_id)
            if path is None:
                continue
            try:
                tile = read_tile_array(path)
            except TILE_DECODE_ERRORS:
                continue
            channels, height, width = tile.values.shape
            bands = channels if bands is None else bands
            if size is None:
                side = min(height, width)
                patch = min(patch, side)
                size = side // patch * patch
            log.info(
                "%s: %s band(s), %d px window in %d px patches (from %s)",
                name,
                bands,
                size,
                patch,
                path,
            )
            break
        else:
            raise InputError(
                f"reader_options.modalities.{name}: no readable tile under {files.folder} "
                "to take the band count and size from; give `bands` and `size`"
            )
    band_index = list(range(1, bands + 1)) if isinstance(bands, int) else list(bands)
    return band_index, size, patch


def _tiles(name, m, files, all_samples, samples, quality, progress):
    from miam.inputs.tokenize.sample_files import TILE_DECODE_ERRORS, read_tile_array, tile_covers
    from miam.inputs.tokenize.satellite import patch_names, patch_tokens

    band_index, size, patch = _tile_layout(m, files, all_samples, name)
    n_bands, grid = len(band_index), size // patch
    n = len(samples)
    values = np.zeros((n, grid * grid, n_bands * patch * patch), np.float32)
    present = np.zeros((n, grid * grid), bool)
    band_names = tuple(f"b{b}" for b in band_index)
    rows = samples.itertuples()
    for i, sample in enumerate(tqdm(rows, total=n, desc=name, disable=not progress)):
        sample_id = sample.sample_id
        path = files.get(sample_id)
        if path is None:
            files.record_missing(sample_id, quality, name)
            continue
        try:
            tile = read_tile_array(path)
        except TILE_DECODE_ERRORS as error:
            quality.record(name, "corrupt_file", sample_id, path, error)
            continue
        channels, height, width = tile.values.shape
        if (
            (isinstance(m["bands"], list) and max(band_index) > channels)
            or (not isinstance(m["bands"], list) and channels != n_bands)
            or min(height, width) < size
        ):
            detail = f"shape {(channels, height, width)}; expected {n_bands} bands, >= {size} px"
            quality.record(name, "wrong_shape", sample_id, path, detail)
            continue
        if not tile_covers(tile, sample.lon, sample.lat):
            detail = f"the tile ({tile.crs}) does not hold lon {sample.lon}, lat {sample.lat}"
            quality.record(name, "out_of_range", sample_id, path, detail)
            continue
        top, left = (height - size) // 2, (width - size) // 2
        window = tile.values[[b - 1 for b in band_index], top : top + size, left : left + size]
        tokens, finite, _ = patch_tokens(window[None], np.ones(1, bool), patch, bands=band_names)
        if not finite.all():
            detail = f"nodata or NaN in {int((~finite).sum())} of {finite.size} patches"
            quality.record(name, "nan_values", sample_id, path, detail)
        values[i], present[i] = tokens[0], finite[0]
    return values, present, patch_names(grid)


def _images(name, m, files, all_samples, samples, quality, progress):
    from miam.inputs.tokenize.image import (
        IMAGE_DECODE_ERRORS,
        image_patch_tokens,
        patch_names,
        read_image,
    )

    grid = m["size"] // m["patch"]
    values = np.zeros((len(samples), grid * grid, m["patch"] ** 2 * 3), np.float32)

    def tokens(path, sample_id):
        return image_patch_tokens(read_image(path, m["size"]), m["patch"])

    present = read_each_file(
        name, samples["sample_id"], files, quality, progress, values, tokens, IMAGE_DECODE_ERRORS
    )
    return values, np.repeat(present[:, None], grid * grid, axis=1), patch_names(grid, grid)


def _recordings(name, m, files, all_samples, samples, quality, progress):
    from miam.inputs.tokenize.audio import AUDIO_DECODE_ERRORS, AudioConfig, audio_tokens

    config = AudioConfig(**{k: m[k] for k in AudioConfig.__dataclass_fields__})
    names = config.token_names
    values = np.zeros((len(samples), len(names), config.token_dim), np.float32)

    def tokens(path, sample_id):
        return audio_tokens(path, config, quality.adjusted(name, sample_id, path))

    present = read_each_file(
        name, samples["sample_id"], files, quality, progress, values, tokens, AUDIO_DECODE_ERRORS
    )
    return values, np.repeat(present[:, None], len(names), axis=1), names


def token_name(text: str) -> str:
    """A band description as a token name: spaces to _, no glob characters."""
    return re.sub(r"[\s*?\[\]]+", "_", text.strip())
