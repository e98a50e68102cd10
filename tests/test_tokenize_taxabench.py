"""TaxaBench-8k tokenizers: shapes and names, faults masked and counted, m4a decoding, the
raster lookup convention, and the imbalance of synthetic-taxabench."""

import json
import shutil

import av
import numpy as np
import pandas as pd
import pytest
import soundfile
from threadpoolctl import threadpool_limits

from miam.inputs.datasets import synthetic_taxabench as stb
from miam.inputs.tokenize.audio import (
    AudioConfig,
    AudioDecodeError,
    audio_tokens,
    load_audio,
    log_mel,
    spectrogram_patch_tokens,
)
from miam.inputs.tokenize.image import image_patch_tokens
from miam.inputs.tokenize.location import location_features, raster_cell, valid_coordinates
from miam.inputs.tokenize.taxabench import select_species, tokenize_taxabench

SAMPLE_RATE = 16000


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return stb.generate(tmp_path_factory.mktemp("taxabench") / "tiny", scale="tiny", seed=0)


@pytest.fixture(scope="module")
def tokenized(tiny):
    with threadpool_limits(1):  # small matrices: BLAS threads only contend on a busy machine
        return tokenize_taxabench(tiny, min_occurrences=5, progress=False)


@pytest.fixture(scope="module")
def faults(tiny):
    return json.loads((tiny / "synthetic_corruptions.json").read_text())


def tone(frequency: float, seconds: float, rate: int = SAMPLE_RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * frequency * t)).astype(np.float32)


def write_m4a(path, signal: np.ndarray, rate: int = SAMPLE_RATE) -> None:
    """AAC in an MP4 container, as iNaturalist's recordings in TaxaBench-8k."""
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        stream.layout = "mono"
        for start in range(0, len(signal), 1024):
            frame = av.AudioFrame.from_ndarray(
                signal[None, start : start + 1024], format="flt", layout="mono"
            )
            frame.sample_rate = rate
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


# -- output layout ---------------------------------------------------------------------------


def test_modalities_shapes_and_names(tokenized, tiny):
    tokens, _ = tokenized
    n = tokens.n_samples
    assert tokens.task == "multiclass"
    assert tokens.modality_names == ["image", "satellite", "audio", "environment", "location"]
    shapes = {m.name: (m.kind, m.values.shape) for m in tokens.modalities}
    assert shapes == {
        "image": ("vector", (n, 16, 16 * 16 * 3)),
        "satellite": ("vector", (n, 16, 4 * 16 * 16)),
        "audio": ("vector", (n, 16, AudioConfig().token_dim)),
        "environment": ("scalar", (n, 20, 1)),
        "location": ("vector", (n, 1, 24)),
    }
    assert tokens.modality("image").token_names[:5] == ["r0c0", "r0c1", "r0c2", "r0c3", "r1c0"]
    assert tokens.modality("audio").token_names[:5] == ["t0f0", "t0f1", "t0f2", "t0f3", "t1f0"]
    assert tokens.modality("environment").token_names == ["elevation"] + [
        f"bio{i}" for i in range(1, 20)
    ]
    assert tokens.modality("location").token_names == ["latlon"]
    image = tokens.modality("image").values
    assert image.min() >= 0 and image.max() <= 1
    table = pd.read_csv(tiny / "test_df.csv", dtype={"id": str})
    assert list(tokens.samples.columns) == ["sample_id", "lon", "lat"]
    assert set(tokens.samples["sample_id"]) <= set(table["id"])
    assert tokens.targets.dtype == np.int64 and tokens.targets.max() < tokens.n_classes
    # The class of a sample is its species.
    names = table.set_index("id")["scientific_name"]
    first = tokens.samples["sample_id"].iloc[0]
    assert tokens.class_names[tokens.targets[0]] == names[first]


# -- data quality ----------------------------------------------------------------------------


def present_of(tokens, modality, sample_id):
    row = tokens.samples.index[tokens.samples["sample_id"] == str(sample_id)][0]
    return tokens.modality(modality).present[row]


def test_each_planted_fault_is_masked_and_counted(tokenized, faults):
    tokens, quality = tokenized
    issues = quality.frame()

    def reasons(sample_id):
        rows = issues[issues["sample_id"] == str(sample_id)]
        return set(zip(rows["modality"], rows["reason"], strict=True))

    assert ("audio", "corrupt_file") in reasons(faults["truncated_wav"])
    assert not present_of(tokens, "audio", faults["truncated_wav"]).any()
    assert reasons(faults["corrupt_image"]) >= {("image", "corrupt_file")}
    assert not present_of(tokens, "image", faults["corrupt_image"]).any()
    assert reasons(faults["truncated_tiff"]) >= {("satellite", "corrupt_file")}
    assert not present_of(tokens, "satellite", faults["truncated_tiff"]).any()
    for fault, reason in [
        ("out_of_range_coordinate", "out_of_range"),
        ("empty_csv_cell", "missing_value"),
    ]:
        sample_id = faults[fault]
        assert reasons(sample_id) >= {
            ("location", reason),
            ("environment", reason),
            ("satellite", reason),
        }
        for modality in ("location", "environment", "satellite"):
            assert not present_of(tokens, modality, sample_id).any()
        assert present_of(tokens, "image", sample_id).all()  # the rest of the sample is kept
        row = tokens.samples["sample_id"] == str(sample_id)
        assert tokens.samples.loc[row, ["lon", "lat"]].isna().all(axis=None)


def test_missing_recordings_are_counted_as_missing_files(tokenized, tiny):
    tokens, quality = tokenized
    recorded = {p.stem for p in (tiny / "taxabench_sound").glob("*.wav")}
    without = ~tokens.samples["sample_id"].isin(recorded)
    counts = quality.counts()["audio"]
    assert counts["missing_file"] == without.sum()
    assert counts["corrupt_file"] == 1
    present = tokens.modality("audio").present.all(axis=1)
    assert not present[without.to_numpy()].any()
    assert present.sum() == len(tokens.samples) - without.sum() - 1
    # Every absent token of every modality is explained by a recorded issue.
    for modality in tokens.modalities:
        absent = set(tokens.samples["sample_id"][~modality.present.all(axis=1)])
        logged = set(quality.frame().query("modality == @modality.name")["sample_id"])
        assert absent <= logged, modality.name


def test_species_filtering(tiny):
    table = pd.read_csv(tiny / "test_df.csv", dtype={"taxon_id": str})
    counts = table["taxon_id"].value_counts()
    threshold = int(counts.median())
    kept = select_species(table["taxon_id"], threshold, None)
    assert set(kept) == set(counts[counts >= threshold].index)
    assert kept == sorted(kept, key=int)
    top3 = select_species(table["taxon_id"], 1, 3)
    assert set(top3) == set(counts.sort_values(ascending=False, kind="stable").index[:3])


def test_max_species_limits_the_classes(tiny):
    with threadpool_limits(1):
        tokens, _ = tokenize_taxabench(tiny, min_occurrences=1, max_species=3, progress=False)
    assert tokens.n_classes == 3 and set(tokens.targets) == {0, 1, 2}


def test_unreadable_observation_table_stops_with_the_file_name(tmp_path):
    (tmp_path / "test_df.csv").write_bytes(b"")
    with pytest.raises(ValueError, match=r"test_df\.csv"):
        tokenize_taxabench(tmp_path, progress=False)
    (tmp_path / "test_df.csv").write_text("id,lat\n1,2\n")
    with pytest.raises(ValueError, match=r"lacks columns \['latitude', 'longitude', 'taxon_id'\]"):
        tokenize_taxabench(tmp_path, progress=False)


# -- audio -----------------------------------------------------------------------------------


def test_real_m4a_is_decoded(tmp_path):
    path = tmp_path / "call.m4a"
    write_m4a(path, tone(2000.0, 2.0))
    signal = load_audio(path, SAMPLE_RATE)
    assert signal.dtype == np.float32
    # AAC adds a frame or two of padding; the tone comes back at its frequency.
    assert abs(signal.size - 2 * SAMPLE_RATE) < 3 * 1024
    spectrum = np.abs(np.fft.rfft(signal))
    assert np.fft.rfftfreq(signal.size, 1 / SAMPLE_RATE)[spectrum.argmax()] == pytest.approx(
        2000, abs=5
    )


def test_m4a_and_wav_of_one_call_give_matching_tokens(tmp_path):
    signal = tone(1500.0, 3.0) + 0.01 * np.random.default_rng(0).standard_normal(48000).astype(
        np.float32
    )
    write_m4a(tmp_path / "call.m4a", signal)
    soundfile.write(tmp_path / "call.wav", signal, SAMPLE_RATE, "PCM_16")
    config = AudioConfig()
    from_m4a, from_wav = (
        audio_tokens(tmp_path / "call.m4a", config),
        audio_tokens(tmp_path / "call.wav", config),
    )
    assert from_m4a.shape == from_wav.shape == (16, config.token_dim)
    # Per token mean level in dB, (time blocks, frequency bands). The AAC encoder's priming
    # delay shifts the first block a little; the others match.
    level_m4a = from_m4a.mean(axis=1).reshape(config.time_blocks, config.freq_bands)
    level_wav = from_wav.mean(axis=1).reshape(config.time_blocks, config.freq_bands)
    assert level_m4a.mean(0).argmax() == level_wav.mean(0).argmax() == 1  # 1.5 kHz is in f1
    np.testing.assert_allclose(level_m4a[1:], level_wav[1:], atol=1.0)


def test_m4a_in_the_dataset_folder_is_read(tiny, tmp_path):
    root = tmp_path / "with_m4a"
    shutil.copytree(tiny, root)
    table = pd.read_csv(root / "test_df.csv")
    faults = json.loads((root / "synthetic_corruptions.json").read_text())
    wav_id = next(
        i for i in table.loc[table["sound_url"].notna(), "id"] if i not in faults.values()
    )
    wav = root / "taxabench_sound" / f"{wav_id}.wav"
    signal, rate = soundfile.read(wav, dtype="float32")
    write_m4a(root / "taxabench_sound" / f"{wav_id}.m4a", signal, rate)
    wav.unlink()
    truncated = root / "taxabench_sound" / f"{faults['truncated_wav']}.m4a"
    write_m4a(truncated, signal, rate)
    truncated.write_bytes(truncated.read_bytes()[:300])
    (root / "taxabench_sound" / f"{faults['truncated_wav']}.wav").unlink()
    with threadpool_limits(1):
        tokens, quality = tokenize_taxabench(root, min_occurrences=5, progress=False)
    assert present_of(tokens, "audio", wav_id).all()
    assert not present_of(tokens, "audio", faults["truncated_wav"]).any()
    issues = quality.frame().set_index("sample_id")
    assert issues.loc[str(faults["truncated_wav"]), "reason"] == "corrupt_file"
    assert issues.loc[str(faults["truncated_wav"]), "path"].endswith(".m4a")


def test_truncated_wav_is_detected(tmp_path):
    soundfile.write(tmp_path / "a.wav", tone(440, 2.0), SAMPLE_RATE, "PCM_16")
    data = (tmp_path / "a.wav").read_bytes()
    (tmp_path / "a.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioDecodeError, match="truncated WAV"):
        load_audio(tmp_path / "a.wav", SAMPLE_RATE)


def test_frequency_bands_are_named_low_to_high():
    config = AudioConfig()
    low = log_mel(tone(300.0, 3.0), config)
    tokens = spectrogram_patch_tokens(low, config)
    band = {name: tokens[i].mean() for i, name in enumerate(config.token_names)}
    assert band["t1f0"] > band["t1f3"] + 20  # dB


# -- images and location ---------------------------------------------------------------------


def test_image_patch_tokens_are_row_major():
    image = np.zeros((4, 4, 3), np.float32)
    image[0:2, 2:4] = 1.0  # top-right patch
    tokens = image_patch_tokens(image, patch=2)
    assert tokens.shape == (4, 12)
    assert tokens.sum(axis=1).tolist() == [0, 12, 0, 0]  # r0c0, r0c1, r1c0, r1c1


def test_raster_cell_matches_the_real_5_arcmin_convention():
    shape = (2160, 4320)
    lat = np.array([90.0, -90.0, 0.0, 48.85, -33.9])
    lon = np.array([-180.0, 180.0, 0.0, 2.35, 151.2])
    row, col = raster_cell(lat, lon, shape)
    assert row.tolist() == [0, 2159, 1080, int((90 - 48.85) * 12), int((90 + 33.9) * 12)]
    assert col.tolist() == [0, 4319, 2160, int((180 + 2.35) * 12), int((180 + 151.2) * 12)]


def test_location_features_and_validity():
    lat, lon = np.array([0.0, 45.0, 91.0, np.nan]), np.array([0.0, 90.0, 0.0, 0.0])
    assert valid_coordinates(lat, lon).tolist() == [True, True, False, False]
    features = location_features(lat[:2], lon[:2], frequencies=(1,))
    np.testing.assert_allclose(features, [[0, 1, 0, 1], [1, 0, 1, 0]], atol=1e-6)


# -- imbalance -------------------------------------------------------------------------------


def test_image_dominates_and_a_weak_modality_still_helps(tokenized):
    tokens, _ = tokenized
    with threadpool_limits(1):
        scores = stb.top1_scores(
            tokens, [["image"], ["audio"], ["satellite"], ["image", "audio"]], seed=0
        )
    n_test = round(0.3 * tokens.n_samples)
    # Two standard errors of an accuracy near 0.5 on this test split.
    margin = 2 * np.sqrt(0.25 / n_test)
    assert scores["image"] > max(scores["audio"], scores["satellite"]) + margin
    assert scores["satellite"] > 1 / tokens.n_classes  # weak, not empty
    assert scores["image+audio"] > scores["image"]
