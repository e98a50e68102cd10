"""Token folders: memory-mapped per-modality arrays, float16 where the error bound allows it,
streamed concatenation, and DeviceData holding only the rows and modalities a job needs."""

import json

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import toy_tokens

from miam.core.data import DeviceData, Normalizer
from miam.core.tokens import FLOAT16_TOLERANCE, Modality, TokenSet, read_rows, storage_error


def pixel_tokens(n: int = 300, seed: int = 0) -> TokenSet:
    """`pix`: 8-bit pixels in [0, 1] (float16 is finer than their quantisation); `offset`:
    values near 1,000 with a spread of 0.1 (float16 would lose them); `tab`: scalars."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(n, 4, 12)) / 255
    offset = 1000 + rng.normal(size=(n, 3, 5)) * 0.1
    present = rng.random((n, 4)) > 0.2
    return TokenSet(
        task="multiclass",
        modalities=[
            Modality(
                "tab", "scalar", rng.normal(size=(n, 2, 1)), np.ones((n, 2), bool), ["a", "b"]
            ),
            Modality("pix", "vector", pixels, present, ["p0", "p1", "p2", "p3"]),
            Modality("offset", "vector", offset, np.ones((n, 3), bool), ["o0", "o1", "o2"]),
        ],
        targets=rng.integers(3, size=n),
        samples=pd.DataFrame({"sample_id": [f"s{i}" for i in range(n)], "lon": 0.0, "lat": 0.0}),
        class_names=["x", "y", "z"],
    )


def test_float32_round_trip_is_exact_and_memory_mapped(tmp_path):
    tokens = toy_tokens(n=120)
    tokens.save(tmp_path / "t")
    loaded = TokenSet.load(tmp_path / "t")
    for want, got in zip(tokens.modalities, loaded.modalities, strict=True):
        assert isinstance(got.values, np.memmap) and got.values.dtype == np.float32
        np.testing.assert_array_equal(got.values, want.values)
        np.testing.assert_array_equal(got.present, want.present)
    np.testing.assert_array_equal(loaded.targets, tokens.targets)
    pd.testing.assert_frame_equal(loaded.samples, tokens.samples)
    assert not list((tmp_path / "t").glob("*.tmp"))


def test_auto_storage_picks_float16_only_within_the_bound(tmp_path):
    tokens = pixel_tokens()
    meta = tokens.save(tmp_path / "t", storage="auto")
    dtypes = {m["name"]: m["dtype"] for m in meta["modalities"]}
    assert dtypes == {"tab": "float32", "pix": "float16", "offset": "float32"}
    assert meta == json.loads((tmp_path / "t" / "meta.json").read_text())
    loaded = TokenSet.load(tmp_path / "t")
    pix, stored = tokens.modality("pix"), loaded.modality("pix")
    assert stored.values.dtype == np.float16
    # The recorded error is the measured one, and within the stated bound.
    errors = []
    for t in range(pix.n_tokens):  # per (token, feature), over the samples having the token
        present = pix.present[:, t]
        want = pix.values[present, t].astype(np.float64)
        got = stored.values[present, t].astype(np.float64)
        errors.append(np.abs(got - want).max(axis=0) / want.std(axis=0))
    error = np.stack(errors)
    recorded = meta["modalities"][1]["max_error_std"]
    assert error.max() == pytest.approx(recorded, rel=1e-3)
    assert recorded <= FLOAT16_TOLERANCE
    assert np.abs(stored.values.astype(np.float64) - pix.values).max() <= 2.0**-12
    assert storage_error([tokens.modality("offset")]) > FLOAT16_TOLERANCE
    np.testing.assert_array_equal(
        loaded.modality("offset").values, tokens.modality("offset").values
    )


def test_streamed_concatenation_equals_the_concatenation(tmp_path):
    tokens = pixel_tokens(n=100)
    parts = [tokens.take(np.arange(a, b)) for a, b in [(0, 30), (30, 30), (30, 100)]]
    for k, part in enumerate(parts):
        part.save(tmp_path / f"shard{k}")
    shards = [TokenSet.load(tmp_path / f"shard{k}") for k in range(3)]
    TokenSet.save_concatenated(shards, tmp_path / "gathered", storage="auto")
    tokens.save(tmp_path / "whole", storage="auto")
    gathered, whole = TokenSet.load(tmp_path / "gathered"), TokenSet.load(tmp_path / "whole")
    for want, got in zip(whole.modalities, gathered.modalities, strict=True):
        assert got.values.dtype == want.values.dtype
        np.testing.assert_array_equal(got.values, want.values)
        np.testing.assert_array_equal(got.present, want.present)
    np.testing.assert_array_equal(gathered.targets, whole.targets)
    pd.testing.assert_frame_equal(gathered.samples, whole.samples)
    in_memory = TokenSet.concat(shards)
    np.testing.assert_array_equal(in_memory.modality("pix").values, tokens.modality("pix").values)


def test_writing_to_loaded_tokens_changes_the_view_not_the_file(tmp_path):
    tokens = toy_tokens(n=40)
    tokens.save(tmp_path / "t")
    loaded = TokenSet.load(tmp_path / "t")
    loaded.modality("img").values[:] = 7.0
    assert (read_rows(loaded.modality("img").values, np.arange(5, 9)) == 7.0).all()
    again = TokenSet.load(tmp_path / "t")
    np.testing.assert_array_equal(again.modality("img").values, tokens.modality("img").values)


def test_device_data_of_some_rows_and_modalities_gives_the_same_batches(tmp_path):
    tokens = pixel_tokens()
    tokens.save(tmp_path / "t", storage="auto")
    loaded = TokenSet.load(tmp_path / "t")
    train = np.arange(0, 300, 3)
    normalizer = Normalizer.fit(loaded, train)
    everything = DeviceData(loaded, normalizer, torch.device("cpu"))
    rows = np.arange(1, 300, 2)
    some = DeviceData(loaded, normalizer, torch.device("cpu"), rows=rows, modalities=["pix"])
    index = torch.as_tensor(rows[[5, 0, 77, 3]])
    full_batch, some_batch = everything.batch(index), some.batch(index)
    torch.testing.assert_close(some_batch[1], full_batch[1], rtol=0, atol=0)
    assert some_batch[0] is None and some_batch[2] is None  # not held: nothing to embed
    assert not some.present[:, [0, 1, 6, 7, 8]].any()  # tokens of modalities not held
    torch.testing.assert_close(some.present[:, 2:6], everything.present[:, 2:6])
    with pytest.raises(IndexError):
        some.batch(torch.tensor([2]))  # a row not held
    # Normalised once: (stored value - mean) / std, 0 where absent, held in float32 on a CPU
    # within data.CPU_FLOAT32_HOLD_BYTES, and handed out as float32.
    pix = loaded.modality("pix")
    assert pix.values.dtype == np.float16
    exact = np.where(
        pix.present[..., None],
        (pix.values.astype(np.float32) - normalizer.means[1]) / normalizer.stds[1],
        0,
    ).astype(np.float32)[index.numpy()]
    assert full_batch[1].dtype == torch.float32
    np.testing.assert_allclose(full_batch[1].numpy(), exact, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(full_batch[1].numpy() == 0, exact == 0)


def test_device_data_holds_the_stored_precision_beyond_the_cpu_float32_bound(tmp_path, monkeypatch):
    """Past the bound, values stay float16 in memory (rounded: relative error at most 2^-11)
    and are still handed out as float32."""
    import miam.core.data

    tokens = pixel_tokens()
    tokens.save(tmp_path / "t", storage="auto")
    loaded = TokenSet.load(tmp_path / "t")
    normalizer = Normalizer.fit(loaded, np.arange(0, 300, 3))
    monkeypatch.setattr(miam.core.data, "CPU_FLOAT32_HOLD_BYTES", 0)
    data = DeviceData(loaded, normalizer, torch.device("cpu"))
    assert data.held[1].values.dtype == torch.float16
    index = torch.tensor([5, 0, 77, 3])
    pix = loaded.modality("pix")
    exact = np.where(
        pix.present[..., None],
        (pix.values.astype(np.float32) - normalizer.means[1]) / normalizer.stds[1],
        0,
    ).astype(np.float32)[index.numpy()]
    batch = data.batch(index)[1]
    assert batch.dtype == torch.float32
    np.testing.assert_allclose(batch.numpy(), exact, rtol=2.0**-11, atol=1e-7)


def test_normalizer_in_blocks_matches_the_direct_formula():
    tokens = toy_tokens(n=200)
    train = np.arange(0, 200, 2)
    fitted = Normalizer.fit(tokens, train)
    for m, mean, std in zip(tokens.modalities, fitted.means, fitted.stds, strict=True):
        values = m.values[train].astype(np.float64)
        weight = m.present[train][..., None].astype(np.float64)
        count = np.maximum(weight.sum(axis=0), 1.0)
        want_mean = (values * weight).sum(axis=0) / count
        var = (((values - want_mean) ** 2) * weight).sum(axis=0) / count
        np.testing.assert_allclose(mean, want_mean, rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(std, np.where(var > 1e-12, np.sqrt(var), 1.0), rtol=1e-6)


def test_a_restricted_view_hands_out_only_its_subsets_modalities():
    tokens = toy_tokens(n=60)
    data = DeviceData(tokens, Normalizer.fit(tokens, np.arange(60)), torch.device("cpu"))
    view = data.restricted({"tab": ["v1"], "img": "all"})
    index = torch.arange(10, 20)
    full, restricted = data.batch(index), view.batch(index)
    assert restricted[1] is None  # no `ts` token exists for the oracle: nothing to embed
    torch.testing.assert_close(restricted[0], full[0], rtol=0, atol=0)
    torch.testing.assert_close(restricted[2], full[2], rtol=0, atol=0)
    assert view.present[:, 0].all() and not view.present[:, 1:9].any() and view.present[:, 9:].all()
    assert data.present[:, 1:4].all()  # the original is not narrowed
