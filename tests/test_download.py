"""Downloads against a local HTTP server serving the fixture archives in the real layouts."""

import hashlib
import json
import shutil
import urllib.request
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest
import rasterio
import yaml
from fixtures_real import (
    CONFIG_DIR,
    build_geoplant_fixture,
    build_taxabench_fixture,
    sound_frequency_hz,
)
from http_server import Faults, serve_directory

from miam.inputs.archive import EXTRACTED_MARKER
from miam.inputs.download import (
    FOLDER_MANIFEST,
    download_entry,
    entry_path,
    entry_target,
    file_url,
    load_dataset_config,
)
from miam.inputs.fetch import (
    ChecksumMismatchError,
    DownloadError,
    WebPageError,
    fetch,
    read_lock,
)

SENTINEL2 = "SatelliteData/Sentinel2Patches-tiff/PA-Train-Sentinel2Patches.zip"
NO_WAIT = dict(backoff_s=0.0, progress=False)


@pytest.fixture(scope="module")
def geoplant(tmp_path_factory):
    return build_geoplant_fixture(tmp_path_factory.mktemp("served") / "geoplant")


@pytest.fixture(scope="module")
def taxabench(tmp_path_factory):
    return build_taxabench_fixture(tmp_path_factory.mktemp("served") / "taxabench")


@pytest.fixture(scope="module")
def module_server(geoplant):
    with serve_directory(geoplant.root) as server:
        yield server


@pytest.fixture
def server(module_server):
    """The GeoPlant server, well-behaved and with an empty request log for each test."""
    module_server.faults = Faults()
    module_server.requests.clear()
    module_server.gets_seen = 0
    return module_server


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_server_serves_every_fixture_file_and_byte_ranges(server, geoplant):
    for relative, sha256 in geoplant.files.items():
        with urllib.request.urlopen(f"{server.url}/{relative}") as response:
            assert hashlib.sha256(response.read()).hexdigest() == sha256
    request = urllib.request.Request(f"{server.url}/{SENTINEL2}", headers={"Range": "bytes=10-"})
    with urllib.request.urlopen(request) as response:
        assert response.status == 206
        assert response.read() == (geoplant.root / SENTINEL2).read_bytes()[10:]


def test_fetch_downloads_and_verifies(server, geoplant, tmp_path):
    dest = tmp_path / "s2.zip"
    result = fetch(f"{server.url}/{SENTINEL2}", dest, sha256=geoplant.files[SENTINEL2], **NO_WAIT)
    assert result.path == dest and result.sha256 == geoplant.files[SENTINEL2] == _sha(dest)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s2.zip"]


def test_checksum_mismatch_names_file_and_both_hashes_and_leaves_nothing(
    server, geoplant, tmp_path
):
    dest = tmp_path / "PA-Train-Sentinel2Patches.zip"
    wrong = "0" * 64
    with pytest.raises(ChecksumMismatchError) as mismatch:
        fetch(f"{server.url}/{SENTINEL2}", dest, sha256=wrong, **NO_WAIT)
    message = str(mismatch.value)
    assert "PA-Train-Sentinel2Patches.zip" in message
    assert wrong in message and geoplant.files[SENTINEL2] in message
    assert list(tmp_path.iterdir()) == []


def test_interrupted_download_is_not_complete_and_the_next_run_resumes(server, geoplant, tmp_path):
    dest, part = tmp_path / "s2.zip", tmp_path / "s2.zip.part"
    server.faults.truncate_first, server.faults.truncate_at = 1, 1000
    with pytest.raises(DownloadError):
        fetch(f"{server.url}/{SENTINEL2}", dest, retries=0, **NO_WAIT)
    assert not dest.exists()
    assert part.stat().st_size == 1000

    result = fetch(f"{server.url}/{SENTINEL2}", dest, retries=0, **NO_WAIT)

    assert result.sha256 == geoplant.files[SENTINEL2] == _sha(dest)
    assert server.requests[-1] == (SENTINEL2, "bytes=1000-", 206)
    assert not part.exists()


def test_interruption_is_retried_by_resuming_within_one_call(server, geoplant, tmp_path):
    server.faults.truncate_first, server.faults.truncate_at = 2, 700
    fetch(f"{server.url}/{SENTINEL2}", tmp_path / "s2.zip", retries=3, **NO_WAIT)
    assert _sha(tmp_path / "s2.zip") == geoplant.files[SENTINEL2]
    assert [(r, status) for _, r, status in server.requests] == [
        (None, 200),
        ("bytes=700-", 206),
        ("bytes=1400-", 206),
    ]


def test_server_ignoring_ranges_means_starting_over(server, geoplant, tmp_path):
    (tmp_path / "s2.zip.part").write_bytes(b"half of something")
    server.faults.ignore_range = True
    fetch(f"{server.url}/{SENTINEL2}", tmp_path / "s2.zip", sha256=geoplant.files[SENTINEL2])
    assert _sha(tmp_path / "s2.zip") == geoplant.files[SENTINEL2]
    assert server.requests == [(SENTINEL2, "bytes=17-", 200)]


def test_stale_part_of_another_file_is_discarded_after_a_mismatch(server, geoplant, tmp_path):
    (tmp_path / "s2.zip.part").write_bytes(b"bytes of an older version")
    sha256 = geoplant.files[SENTINEL2]
    fetch(f"{server.url}/{SENTINEL2}", tmp_path / "s2.zip", sha256=sha256, **NO_WAIT)
    assert _sha(tmp_path / "s2.zip") == sha256
    assert [status for *_, status in server.requests] == [206, 200]


def test_503s_are_retried(server, geoplant, tmp_path):
    server.faults.unavailable_first = 2
    fetch(f"{server.url}/{SENTINEL2}", tmp_path / "s2.zip", retries=3, **NO_WAIT)
    assert _sha(tmp_path / "s2.zip") == geoplant.files[SENTINEL2]
    assert [status for *_, status in server.requests] == [503, 503, 200]


def test_persistent_503_fails_after_the_retries_with_no_file(server, tmp_path):
    server.faults.unavailable_first = 10
    with pytest.raises(DownloadError, match=r"s2\.zip.*failed after 3 attempts.*503") as failure:
        fetch(f"{server.url}/{SENTINEL2}", tmp_path / "s2.zip", retries=2, **NO_WAIT)
    assert failure.value.status == 503
    assert list(tmp_path.iterdir()) == []


def test_missing_file_is_not_retried(server, tmp_path):
    with pytest.raises(DownloadError, match="HTTP 404") as failure:
        fetch(f"{server.url}/no/such/file.csv", tmp_path / "file.csv", retries=3, **NO_WAIT)
    assert failure.value.status == 404
    assert len(server.requests) == 1


def test_lock_file_records_the_first_hash_then_enforces_it(tmp_path):
    served, data = tmp_path / "served", tmp_path / "data"
    served.mkdir()
    (served / "table.csv").write_text("a,b\n1,2\n")
    lock = data / "checksums.lock.json"
    with serve_directory(served) as local:
        first = fetch(f"{local.url}/table.csv", data / "table.csv", lock_file=lock, **NO_WAIT)
        assert read_lock(lock) == {"table.csv": first.sha256}

        (data / "table.csv").unlink()
        (served / "table.csv").write_text("a,b\n1,3\n")  # the publisher changed the file
        with pytest.raises(ChecksumMismatchError, match=first.sha256) as mismatch:
            fetch(f"{local.url}/table.csv", data / "table.csv", lock_file=lock, **NO_WAIT)
    assert _sha(served / "table.csv") in str(mismatch.value)
    assert sorted(p.name for p in data.iterdir()) == [
        "checksums.lock.json",
        "checksums.lock.json.flock",
    ]


def test_complete_file_is_not_downloaded_again(server, geoplant, tmp_path):
    dest = tmp_path / "s2.zip"
    fetch(f"{server.url}/{SENTINEL2}", dest, sha256=geoplant.files[SENTINEL2], **NO_WAIT)
    fetch(f"{server.url}/{SENTINEL2}", dest, sha256=geoplant.files[SENTINEL2], **NO_WAIT)
    assert len(server.requests) == 1


def test_urls_of_the_publishers_and_of_a_mirror():
    geoplant = load_dataset_config(CONFIG_DIR / "geoplant.yaml")
    taxabench = load_dataset_config(CONFIG_DIR / "taxabench.yaml")
    assert file_url(geoplant, "sentinel2") == (
        "https://lab.plantnet.org/seafile/d/59325675470447b38add/files/"
        "?p=/SatelliteData/Sentinel2Patches-tiff/PA-Train-Sentinel2Patches.zip&dl=1"
    )
    assert file_url(taxabench, "environment") == (
        "https://huggingface.co/datasets/MVRL/TaxaBench-8k/resolve/main/bioclim_elevation_scaled.npy"
    )
    assert file_url(geoplant, "climate", base_url="http://127.0.0.1:8000/mirror/") == (
        "http://127.0.0.1:8000/mirror/EnvironmentalValues/Climate/PA-train-bioclimatic.csv"
    )
    record = {"id": "7", "latitude": "-33.8", "longitude": "151.2"}
    assert file_url(taxabench, "satellite", record=record).endswith(
        "/resolve/main/sat_images/sentinel/7_-33.8_151.2.jpeg"
    )
    with pytest.raises(KeyError, match="known:"):
        file_url(geoplant, "landsat")


def test_every_geoplant_file_downloads_through_base_url(server, geoplant, tmp_path):
    cfg = load_dataset_config(CONFIG_DIR / "geoplant.yaml")
    data = tmp_path / "geoplant"
    for key in cfg["files"]:
        target = download_entry(cfg, key, data, base_url=server.url, progress=False)
        assert target == entry_target(cfg, key, data) and target.exists()

    downloaded = {entry_path(cfg, key): _sha(data / entry_path(cfg, key)) for key in cfg["files"]}
    assert downloaded == geoplant.files
    assert read_lock(data / "checksums.lock.json") == geoplant.files
    extracted = data / cfg["files"]["sentinel2"]["extract_to"]
    assert (extracted / EXTRACTED_MARKER).is_file()
    assert (extracted / "PA-train" / "07" / "15" / "1001507.tiff").is_file()
    assert (extracted / "PA-train" / "12" / "2" / "212.tiff").is_file()


def test_taxabench_per_record_folders_download_and_list_what_is_missing(taxabench, tmp_path):
    cfg = load_dataset_config(CONFIG_DIR / "taxabench.yaml")
    data = tmp_path / "taxabench"
    with serve_directory(taxabench.root) as local:
        for key in ["observations", "taxa_names", "environment", "ground_images", "sounds"]:
            download_entry(cfg, key, data, base_url=local.url, progress=False, workers=4)
        target = download_entry(cfg, "satellite", data, base_url=local.url, workers=4)

    assert target == data / "sat_images" / "sentinel" / FOLDER_MANIFEST
    downloaded = {
        p.relative_to(data).as_posix(): _sha(p)
        for p in data.rglob("*")
        if p.is_file() and not p.name.startswith((".", "checksums.lock"))
    }
    assert downloaded == taxabench.files
    (no_sound,) = taxabench.problems["missing_file"]["sounds"]
    manifest = json.loads((data / "taxabench_sound" / FOLDER_MANIFEST).read_text())
    assert manifest == {"fetched": 7, "missing": [f"taxabench_sound/{no_sound}.m4a"]}
    assert read_lock(data / "checksums.lock.json") == taxabench.files


def test_fixture_media_are_real_files_and_the_planted_faults_are_real(geoplant, taxabench):
    sound_id = taxabench.sample_ids[0]
    with av.open(str(taxabench.root / f"taxabench_sound/{sound_id}.m4a")) as container:
        assert container.streams.audio[0].codec_context.name == "aac"
        rate = container.streams.audio[0].rate
        samples = np.concatenate([f.to_ndarray()[0] for f in container.decode(audio=0)])
    peak_hz = np.argmax(np.abs(np.fft.rfft(samples))) * rate / len(samples)
    assert abs(peak_hz - sound_frequency_hz(sound_id)) < 5.0
    (truncated,) = taxabench.problems["corrupt_file"]["sounds"]
    with pytest.raises(av.FFmpegError):
        with av.open(str(taxabench.root / f"taxabench_sound/{truncated}.m4a")) as container:
            list(container.decode(audio=0))

    (broken_tiff,) = geoplant.problems["corrupt_file"]["sentinel2"]
    with zipfile.ZipFile(geoplant.root / SENTINEL2) as archive:
        tiffs = {Path(name).stem: archive.read(name) for name in archive.namelist()}
    with rasterio.MemoryFile(tiffs["1001507"]) as memory, memory.open() as tiff:
        assert (tiff.count, tiff.height, tiff.width, tiff.dtypes[0]) == (4, 64, 64, "int16")
        assert tiff.nodata == -1 and "Lambert Azimutal Equal Area" in tiff.crs.to_wkt()
    with pytest.raises(rasterio.RasterioIOError):
        with rasterio.MemoryFile(tiffs[str(broken_tiff)]) as memory, memory.open() as tiff:
            tiff.read()


def test_a_dataset_yaml_without_a_key_is_refused_naming_it(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "base_url": "u", "files": {}}))
    with pytest.raises(ValueError, match="url_template"):
        load_dataset_config(path)
    path.write_text(
        yaml.safe_dump({"name": "x", "base_url": "u", "url_template": "{path}", "files": {"a": {}}})
    )
    with pytest.raises(ValueError, match=r"files\.a needs one of path and path_template"):
        load_dataset_config(path)


@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/octet-stream"])
def test_a_web_page_is_never_stored_as_data(server, tmp_path, content_type):
    # By its Content-Type, or by its first bytes when the server labels it as binary.
    server.faults.web_page = content_type
    url = f"{server.url}/{SENTINEL2}"
    with pytest.raises(WebPageError, match="answered with a web page") as error:
        fetch(url, tmp_path / "tiles.zip", retries=2, **NO_WAIT)
    assert url in str(error.value) and "<!DOCTYPE html" in str(error.value)
    assert list(tmp_path.iterdir()) == []
    assert len(server.requests) == 1, "a web page is not worth retrying"


def test_a_share_answering_with_its_preview_page_is_resolved_as_the_publisher_does(
    server, geoplant, tmp_path
):
    # Seafile answers `&dl=1` with a page; its page names rawPath; rawPath?raw=1 is the file.
    server.faults.seafile = True
    cfg = load_dataset_config(CONFIG_DIR / "geoplant.yaml")
    cfg["base_url"] = server.url
    target = download_entry(cfg, "climate", tmp_path, progress=False)
    assert _sha(target) == geoplant.files[cfg["files"]["climate"]["path"]]
    assert [status for *_, status in server.requests] == [200, 200, 200]
    assert server.requests[-1][0] == cfg["files"]["climate"]["path"]


def test_taxabench_tiles_are_found_by_id_in_the_servers_listing(taxabench):
    # The CSV writes 38.627, the tile's name 38.62699890136719: rebuilt names would all 404.
    name = next((taxabench.root / "sat_images" / "sentinel").glob("10245871_*.jpeg")).name
    assert name != "10245871_38.627_-90.1994.jpeg"


def test_the_layouts_first_paths_are_where_the_download_puts_the_files():
    geoplant = load_dataset_config(CONFIG_DIR / "geoplant.yaml")
    names = {"split": "train", "Split": "Train"}
    for key, file_key in [("metadata", "pa_metadata"), ("bioclim_cubes", "bioclim_cubes")] + [
        (key, key) for key in ("climate", "elevation", "landcover", "soilgrids", "landsat_cubes")
    ]:
        assert geoplant["layout"][key][0].format(**names) == geoplant["files"][file_key]["path"]
    assert geoplant["layout"]["sentinel2"][0].format(**names) == SENTINEL2
    taxabench = load_dataset_config(CONFIG_DIR / "taxabench.yaml")
    for key, entry in taxabench["files"].items():
        if key in taxabench["layout"]:
            assert taxabench["layout"][key] == [entry.get("folder", entry.get("path"))]


def test_a_json_index_of_the_folder_names_the_tiles(taxabench, tmp_path):
    # As the Hugging Face API lists a folder: [{"type": "file", "path": ...}, ...].
    served = tmp_path / "served"
    shutil.copytree(taxabench.root, served)
    folder = served / "sat_images" / "sentinel"
    listing = [
        {"type": "file", "path": f"sat_images/sentinel/{p.name}"}
        for p in sorted(folder.iterdir())
        if p.is_file()
    ]
    (served / "tree.json").write_text(json.dumps(listing))
    cfg = load_dataset_config(CONFIG_DIR / "taxabench.yaml")
    data = tmp_path / "taxabench"
    with serve_directory(served) as local:
        cfg["base_url"] = local.url
        cfg["files"]["satellite"]["index_url"] = f"{local.url}/tree.json"
        download_entry(cfg, "observations", data, progress=False)
        manifest = download_entry(cfg, "satellite", data, progress=False, workers=2)
    assert json.loads(manifest.read_text()) == {"fetched": 8, "missing": []}
    assert sorted(p.name for p in (data / "sat_images" / "sentinel").glob("*.jpeg")) == sorted(
        item["path"].rsplit("/", 1)[1] for item in listing
    )
