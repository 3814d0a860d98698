"""msknb.data (readers, fov, folder, manifest): real DL_Track set, field-of-view crop, layouts and bad inputs."""
from __future__ import annotations

import json
import warnings

import numpy as np
import pydicom
import pytest
from PIL import Image

from msknb.data import build_manifest, crop_fov, load_folder, load_image, load_mask, write_manifest_csv
from msknb.data.dicom import write_dicom
from msknb.errors import DataError, SpacingError


@pytest.fixture(scope="module")
def shared_set(shared_data):
    return load_folder(shared_data, image_size=64)


def test_shared_pairs_load(shared_set):
    ds = shared_set
    assert len(ds) == 463 and ds.images.shape == (463, 64, 64) and ds.masks.shape == (463, 64, 64)
    assert ds.images.dtype == np.float32 and 0 <= ds.images.min() and ds.images.max() <= 1
    assert ds.masks.dtype == np.uint8 and set(np.unique(ds.masks)) == {0, 1}
    assert np.isnan(ds.spacing_mm).all() and ds.groups == ["all"] * 463
    assert all(s.startswith("dup-") for s in ds.subjects)
    frac = np.mean([sum(s == t for t in ds.subjects) > 1 for s in ds.subjects])
    assert 0.25 <= frac <= 0.5
    x, m = ds.subset([0, 5]).to_tensor(masks=True)
    assert tuple(x.shape) == (2, 1, 64, 64) and x.min() >= -1 and x.max() <= 1
    assert set(m.unique().tolist()) <= {-1.0, 1.0}


def test_crop_keeps_mask(shared_set):
    """The field-of-view crop keeps >= 98 % of all aponeurosis pixels (and crops)."""
    kept = total = 0
    cropped = 0
    for path, box, shape in zip(shared_set.paths, shared_set.boxes, shared_set.original_shapes):
        mask = load_mask(path.parent.parent / "masks" / path.name)
        y0, y1, x0, x1 = box
        kept += int(mask[y0:y1, x0:x1].sum())
        total += int(mask.sum())
        cropped += (y1 - y0) * (x1 - x0) < 0.9 * shape[0] * shape[1]
    print(f"crop keeps {kept / total:.4f} of mask pixels; {cropped} of {len(shared_set)} images cropped")
    assert kept / total >= 0.98
    assert cropped > 100  # screen captures really are cropped


def test_crop_synthetic_screen_capture():
    rng = np.random.default_rng(0)
    img = np.full((200, 300), 0.2, np.float32)  # flat grey UI
    img[5:15, 10:200] = 0.9  # a bar of "text"
    img[40:180, 60:260] = rng.random((140, 200))  # speckle field of view
    y0, y1, x0, x1 = crop_fov(img)
    assert abs(y0 - 40) <= 4 and abs(y1 - 180) <= 4 and abs(x0 - 60) <= 4 and abs(x1 - 260) <= 4
    assert crop_fov(np.zeros((50, 50), np.float32)) == (0, 50, 0, 50)  # fallback: whole image


def _pair(root, stem="a", size=(40, 48), seed=0):
    rng = np.random.default_rng(seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(exist_ok=True)
    Image.fromarray((rng.random(size) * 255).astype(np.uint8)).save(root / "images" / f"{stem}.png")
    m = np.zeros(size, np.uint8)
    m[10:14, :] = 255
    Image.fromarray(m).save(root / "masks" / f"{stem}.png")


def test_image_formats(tmp_path):
    a16 = (np.arange(30 * 40).reshape(30, 40) * 50).astype(np.uint16)
    Image.fromarray(a16).save(tmp_path / "g16.png")
    assert np.allclose(load_image(tmp_path / "g16.png"), a16 / 65535, atol=1e-6)
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[..., 0] = 200
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    Image.fromarray(np.dstack([rgb, np.full((30, 40), 255, np.uint8)])).save(tmp_path / "rgba.png")
    for name in ("rgb.png", "rgba.png"):
        g = load_image(tmp_path / name)
        assert g.shape == (30, 40) and np.allclose(g, 0.299 * 200 / 255, atol=1e-3)
    Image.fromarray(rgb).save(tmp_path / "rgb.tif")
    assert load_image(tmp_path / "rgb.tif").shape == (30, 40)
    # masks: 0/255, 0/1, red RGB
    assert load_mask(tmp_path / "rgb.png").all()
    Image.fromarray(np.eye(30, 40, dtype=np.uint8)).save(tmp_path / "m01.png")
    assert load_mask(tmp_path / "m01.png").sum() == 30


def test_bad_image_files(tmp_path):
    (tmp_path / "garbage.png").write_bytes(b"\x00not an image at all" * 10)
    (tmp_path / "empty.png").write_bytes(b"")
    good = tmp_path / "good.png"
    Image.fromarray(np.zeros((50, 50), np.uint8) + 7).save(good)
    (tmp_path / "trunc.png").write_bytes(good.read_bytes()[:40])
    (tmp_path / "notes.txt").write_text("hello")
    for name, match in [("garbage.png", "unreadable"), ("empty.png", "empty"), ("trunc.png", "unreadable"),
                        ("notes.txt", "not an image"), ("missing.png", "does not exist")]:
        with pytest.raises(DataError, match=match) as e:
            load_image(tmp_path / name)
        assert name in str(e.value)


def test_bad_dicoms_in_folder(tmp_path):
    img = np.random.default_rng(0).random((40, 40))
    good = write_dicom(tmp_path / "d" / "good.dcm", img, 0.1)
    raw = good.read_bytes()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "trunc.dcm").write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataError, match="trunc.dcm"):
        load_folder(bad)
    (bad / "trunc.dcm").unlink()
    (bad / "garbage.dcm").write_bytes(b"garbage" * 100)
    with pytest.raises(DataError, match="garbage.dcm.*not a DICOM"):
        load_folder(bad)
    (bad / "garbage.dcm").unlink()
    ds = pydicom.dcmread(good)
    del ds.PixelData
    ds.save_as(bad / "nopix.dcm")
    with pytest.raises(DataError, match="nopix.dcm.*no pixel data"):
        load_folder(bad)


def test_dicom_folder_spacing(tmp_path):
    rng = np.random.default_rng(0)
    for i in range(3):
        write_dicom(tmp_path / f"im{i}.dcm", rng.random((40, 80)), (0.1, 0.2))
    ds = load_folder(tmp_path, image_size=20, crop_fov=False)
    assert ds.masks is None and len(ds) == 3
    assert np.allclose(ds.spacing_mm, [[0.1 * 40 / 20, 0.2 * 80 / 20]] * 3)
    # without spacing in the file: SpacingError from read_dicom, the argument fixes it
    d = pydicom.dcmread(tmp_path / "im0.dcm")
    del d.SequenceOfUltrasoundRegions, d.PixelSpacing
    d.save_as(tmp_path / "nosp.dcm")
    from msknb.data.dicom import read_dicom

    with pytest.raises(SpacingError, match="nosp.dcm"):
        read_dicom(tmp_path / "nosp.dcm")
    assert read_dicom(tmp_path / "nosp.dcm", spacing_mm=0.3).spacing_mm == (0.3, 0.3)
    ds = load_folder(tmp_path, crop_fov=False, spacing_mm=0.3)
    i = ds.ids.index("nosp")
    assert np.allclose(ds.spacing_mm[i], 0.3) and np.allclose(ds.spacing_mm[ds.ids.index("im0")], [0.1, 0.2])
    assert np.isnan(load_folder(tmp_path, crop_fov=False).spacing_mm[i]).all()


def test_layouts_manifest_and_skips(tmp_path):
    root = tmp_path / "set"
    for k in range(4):
        _pair(root, f"img_{k}", seed=k)
    (root / "images" / "notes.txt").write_text("x")
    (root / "images" / ".DS_Store").write_bytes(b"\x00\x01")
    write_manifest_csv(root / "manifest.csv", [
        {"id": f"img_{k}", "width": 48, "height": 40, "group": "GM" if k < 2 else "VL", "subject": f"s{k // 2}",
         "spacing_row_mm": 0.1, "spacing_col_mm": 0.2} for k in range(4)])
    with pytest.warns(UserWarning, match="notes.txt") as rec:
        ds = load_folder(root, image_size=20, crop_fov=False)
    assert ".DS_Store" in str(rec[0].message)
    assert ds.ids == [f"img_{k}" for k in range(4)] and ds.groups == ["GM", "GM", "VL", "VL"]
    assert ds.subjects == ["s0", "s0", "s1", "s1"]
    assert np.allclose(ds.spacing_mm, [[0.1 * 40 / 20, 0.2 * 48 / 20]] * 4)
    rows = build_manifest(ds)
    assert set(rows[0]) >= {"id", "path", "group", "subject", "spacing_row_mm", "spacing_col_mm", "height", "width"}
    write_manifest_csv(tmp_path / "out.csv", rows)
    assert (tmp_path / "out.csv").read_text().startswith("id,path,group,subject")
    # reproducible subset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        a = load_folder(root, image_size=20, max_images=2, seed=1).ids
        b = load_folder(root, image_size=20, max_images=2, seed=1).ids
    assert a == b and len(a) == 2
    # original DL_Track TIFF layout
    tif = tmp_path / "orig"
    (tif / "apo_images").mkdir(parents=True)
    (tif / "apo_masks").mkdir()
    for k in range(2):
        Image.fromarray(np.full((30, 30), 60 * k, np.uint8)).save(tif / "apo_images" / f"img_{k}.tif")
        Image.fromarray(np.eye(30, dtype=np.uint8) * 255).save(tif / "apo_masks" / f"img_{k}.tif")
    ds = load_folder(tif, crop_fov=False)
    assert len(ds) == 2 and ds.masks.sum() == 60
    # flat folder of images, no masks
    flat = tmp_path / "flat"
    flat.mkdir()
    for k in range(2):
        Image.fromarray(np.full((30, 30), 9, np.uint8)).save(flat / f"f{k}.jpg")
    assert load_folder(flat, crop_fov=False).masks is None


def test_folder_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist") as e:
        load_folder(tmp_path / "nope")
    assert "nope" in str(e.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no images") as e:
        load_folder(tmp_path / "empty")
    assert "empty" in str(e.value)
    root = tmp_path / "set"
    _pair(root, "a")
    _pair(root, "b")
    (root / "masks" / "b.png").unlink()
    with pytest.raises(DataError, match=r"b\.png.*no mask.*masks/b\.png"):
        load_folder(root)
    with pytest.warns(UserWarning, match="without a mask"):
        assert load_folder(root, allow_missing_masks=True).ids == ["a"]
    _pair(root, "b")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(root / "masks" / "b.png")
    with pytest.raises(DataError, match=r"masks/b\.png.*does not match.*images/b\.png"):
        load_folder(root)


def test_cli_info(tmp_path, capsys):
    from msknb.cli import main

    root = tmp_path / "set"
    for k in range(3):
        _pair(root, f"i{k}", seed=k)
    assert main(["data", "info", str(root), "--image-size", "16"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n_images"] == 3 and out["near_duplicates"]["n_images"] == 3
    assert main(["data", "info", str(tmp_path / "missing")]) == 2
    assert "missing" in capsys.readouterr().err


def _zip(tmp_path):
    import zipfile

    src = tmp_path / "DL_Track-abc"
    _pair(src, "img_00001")
    (src / "images").rename(src / "apo_images")  # original DL_Track layout
    (src / "masks").rename(src / "apo_masks")
    archive = tmp_path / "dl.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for p in sorted(src.rglob("*")):
            zf.write(p, p.relative_to(tmp_path))
    return archive


def test_fetch_dltrack_file_url(tmp_path, monkeypatch):
    """Never downloads: a local file:// zip; checksum ok, mismatch, cache hit."""
    from msknb.data import download

    archive = _zip(tmp_path)
    digest = download.sha256_file(archive)
    url = archive.as_uri()
    cache = tmp_path / "cache"
    root = download.fetch_dltrack(cache, url=url, sha256=digest, progress=False)
    assert (root / "apo_images" / "img_00001.png").is_file()
    assert len(load_folder(root, crop_fov=False)) == 1
    # cache hit: the URL is not opened again
    monkeypatch.setattr(download.urllib.request, "urlopen", lambda *a, **k: pytest.fail("downloaded again"))
    assert download.fetch_dltrack(cache, url=url, sha256=digest, progress=False) == root
    assert download.fetch_dltrack(cache, url=url, progress=False) == root  # recorded digest
    monkeypatch.undo()
    with pytest.raises(DataError, match="checksum mismatch") as e:
        download.fetch_dltrack(tmp_path / "cache2", url=url, sha256="0" * 64, progress=False)
    assert "dl.zip" in str(e.value)
    assert not (tmp_path / "cache2" / "archive.zip").exists()
    with pytest.raises(DataError, match="cannot download"):
        download.fetch_dltrack(tmp_path / "cache3", url=(tmp_path / "nope.zip").as_uri(), progress=False)
    monkeypatch.setenv("MSKNB_CACHE", str(tmp_path / "env"))
    assert download.default_cache_dir() == tmp_path / "env" / "dltrack"


def test_image_browser_draws_a_png_without_an_output_widget():
    import ipywidgets as widgets

    from msknb.viz import image_browser

    images = np.random.default_rng(0).random((3, 16, 16)).astype(np.float32)
    box = image_browser(images, (images > 0.8).astype(np.uint8), ids=["a", "b", "c"])
    slider, checkbox = box.children[0].children
    view = box.children[1]
    assert isinstance(view, widgets.Image) and bytes(view.value[:8]) == b"\x89PNG\r\n\x1a\n"
    first = bytes(view.value)
    slider.value = 2
    assert bytes(view.value) != first
    assert not any(isinstance(w, widgets.Output) for w in (*box.children, *box.children[0].children))
