"""msknb.data.cache: a prepared set and near-duplicate clusters are computed once and read back."""
from __future__ import annotations

import os

import numpy as np
import pytest
from PIL import Image

import msknb.data.folder as folder
from msknb.data import load_folder
from msknb.data import cache
from msknb.data.spacing import parse_spacing
from msknb.errors import ConfigError


def _folder(tmp_path, n=6, size=40):
    rng = np.random.default_rng(0)
    (tmp_path / "images").mkdir(parents=True)
    (tmp_path / "masks").mkdir()
    for i in range(n):
        Image.fromarray((rng.random((size, size)) * 255).astype(np.uint8)).save(tmp_path / "images" / f"im{i}.png")
        m = np.zeros((size, size), np.uint8)
        m[5 + i:10 + i, :] = 255
        Image.fromarray(m).save(tmp_path / "masks" / f"im{i}.png")
    return tmp_path


def _same(a, b):
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert a.ids == b.ids and a.paths == b.paths and a.groups == b.groups and a.subjects == b.subjects
    assert np.array_equal(a.spacing_mm, b.spacing_mm, equal_nan=True)
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.original_shapes, b.original_shapes)
    assert a.root == b.root


def test_load_folder_reads_the_cache_the_second_time(tmp_path, monkeypatch):
    root = _folder(tmp_path / "data")
    cdir = tmp_path / "cache"
    first = load_folder(root, image_size=16, max_images=5, seed=1, cache_dir=cdir)
    entries = list(cdir.glob("set-*.npz"))
    assert len(entries) == 1
    _same(first, load_folder(root, image_size=16, max_images=5, seed=1))  # cache or not: same set

    def no_reading(*args, **kwargs):
        raise AssertionError("the files were read again")

    monkeypatch.setattr(folder, "load_image", no_reading)
    monkeypatch.setattr(folder, "load_mask", no_reading)
    _same(first, load_folder(root, image_size=16, max_images=5, seed=1, cache_dir=cdir))

    # another setting, or a changed file, misses the cache
    with pytest.raises(AssertionError, match="read again"):
        load_folder(root, image_size=24, max_images=5, seed=1, cache_dir=cdir)
    monkeypatch.undo()
    img = first.paths[0]  # one of the files loaded
    os.utime(img, ns=(img.stat().st_atime_ns, img.stat().st_mtime_ns + 10**9))
    load_folder(root, image_size=16, max_images=5, seed=1, cache_dir=cdir)
    assert len(list(cdir.glob("set-*.npz"))) == 2


def test_unreadable_cache_entry_is_rebuilt(tmp_path):
    root = _folder(tmp_path / "data", n=3)
    cdir = tmp_path / "cache"
    first = load_folder(root, image_size=16, cache_dir=cdir)
    (entry,) = cdir.glob("set-*.npz")
    entry.write_bytes(b"garbage")
    _same(first, load_folder(root, image_size=16, cache_dir=cdir))
    assert np.load(entry, allow_pickle=False)["images"].shape == (3, 16, 16)


def test_cached_clusters(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    imgs = rng.random((6, 16, 16)).astype(np.float32)
    imgs[3] = imgs[0]
    labels = cache.cached_clusters(imgs, tmp_path)
    assert labels[3] == labels[0] and len(set(labels.tolist())) == 5
    monkeypatch.setattr(cache, "near_duplicate_clusters", lambda *a, **k: pytest.fail("recomputed"))
    assert np.array_equal(cache.cached_clusters(imgs, tmp_path), labels)
    with pytest.raises(pytest.fail.Exception):
        cache.cached_clusters(imgs, tmp_path, threshold=0.5)  # other settings: computed
    assert cache.default_cache_dir(tmp_path) == tmp_path / "cache"


def test_parse_spacing_is_the_one_spacing_reader():
    assert parse_spacing(None) is None and parse_spacing(float("nan")) is None
    assert parse_spacing((np.nan, np.nan)) is None
    assert parse_spacing(0.1) == (0.1, 0.1) and parse_spacing([0.1, 0.2]) == (0.1, 0.2)
    assert parse_spacing(np.array([0.3, 0.4])) == (0.3, 0.4)
    for bad in (-1.0, 0, (0.1, 0.2, 0.3), (0.1, np.inf), "x"):
        with pytest.raises(ConfigError):
            parse_spacing(bad)


def test_load_ids_uses_the_cache_through_its_links(tmp_path, monkeypatch):
    from msknb.data.subset import load_ids

    root = _folder(tmp_path / "data")
    first = load_ids(root, ["im1", "im4", "nope"], 16, cache_dir=tmp_path / "cache")
    assert first.ids == ["im1", "im4"] and first.root == root
    assert first.paths == [root / "images" / "im1.png", root / "images" / "im4.png"]
    monkeypatch.setattr(folder, "load_image", lambda *a, **k: pytest.fail("read again"))
    again = load_ids(root, ["im4", "im1"], 16, cache_dir=tmp_path / "cache")  # another temporary folder
    _same(first, again)
