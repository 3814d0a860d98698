"""Tests of msknb.data.phantom (and ``msknb phantom``): determinism, exact masks, true thickness, presets, the set writer."""
from __future__ import annotations

import csv
import time

import numpy as np
import pytest
from skimage.measure import label

from msknb.errors import ConfigError
from msknb.cli.phantom import register as register_cli
from msknb.data.phantom import (DEFAULTS, PRESETS, Phantom, curve_y, make_phantom, phantom_seed, resolve_params,
                                true_chords, write_phantom_set)

FLAT = {"tilt_deg": 0.0, "curvature": 0.0, "waviness_px": 0.0}


def _n_bands(mask: np.ndarray) -> int:
    return int(label(mask > 0, connectivity=1).max())


def _inner_edges(mask: np.ndarray, j: int) -> tuple[float, float]:
    """Continuous inner edges (rows, px) of the top two bands in column ``j``: the
    superficial band's last row + 0.5 and the deep band's first row - 0.5."""
    rows = np.flatnonzero(mask[:, j])
    breaks = np.flatnonzero(np.diff(rows) > 1)
    assert len(breaks) >= 1, f"column {j} does not cross two bands"
    return rows[breaks[0]] + 0.5, rows[breaks[0] + 1] - 0.5


def test_types_shapes_ranges():
    ph = make_phantom("TA", size=128, seed=0)
    assert isinstance(ph, Phantom)
    assert ph.image.shape == ph.mask.shape == (128, 128)
    assert ph.image.dtype == np.float32 and ph.mask.dtype == np.uint8
    assert 0.0 <= ph.image.min() and ph.image.max() <= 1.0
    assert set(np.unique(ph.mask)) == {0, 1}
    assert ph.spacing_mm == pytest.approx(40.0 / 128)
    assert ph.thickness_mm == pytest.approx(ph.thickness_px * ph.spacing_mm)
    # aponeuroses are bright, muscle darker
    band = ph.image[ph.mask > 0].mean()
    ys, yd = _inner_edges(ph.mask, 64)
    muscle = ph.image[int(ys) + 3:int(yd) - 3].mean()
    assert band > muscle + 0.25
    # the params are JSON-able
    import json

    json.dumps(ph.params)


def test_deterministic_per_seed():
    a = make_phantom("GCM", size=96, seed=7)
    b = make_phantom("GCM", size=96, seed=7)
    c = make_phantom("GCM", size=96, seed=8)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.mask, b.mask)
    assert a.thickness_px == b.thickness_px
    assert not np.array_equal(a.image, c.image)


def test_overriding_one_value_keeps_the_others():
    a = resolve_params("BB", 128, seed=3)
    b = resolve_params("BB", 128, seed=3, thickness_mm=21.0)
    assert b["thickness_mm_true"] == pytest.approx(21.0, abs=1e-6)
    assert a["pennation_deg"] == b["pennation_deg"] and a["tilt_deg"] == b["tilt_deg"]


@pytest.mark.parametrize("preset", list(PRESETS))
def test_two_bands_or_three(preset):
    for seed in range(3):
        ph = make_phantom(preset, size=64, seed=seed)
        assert _n_bands(ph.mask) == 2
    ph3 = make_phantom(preset, size=128, seed=1, third_band=True)
    assert _n_bands(ph3.mask) == 3
    # where it fits, the third band changes neither the two others nor the thickness
    # (where it does not, other random geometry is drawn, e.g. a thinner muscle)
    ph3 = make_phantom(preset, size=128, seed=1, third_band=True, thickness_mm=15.0)
    ph2 = make_phantom(preset, size=128, seed=1, thickness_mm=15.0)
    assert ph3.thickness_px == ph2.thickness_px
    assert np.array_equal(ph3.mask[: int(ph2.params["curves"]["deep_outer"]["y0"]) - 10],
                          ph2.mask[: int(ph2.params["curves"]["deep_outer"]["y0"]) - 10])


@pytest.mark.parametrize("preset,size,thickness", [("TA", 256, None), ("RF", 128, 21.3), ("GCM", 64, None),
                                                   ("BB", 200, 19.9)])
def test_flat_gap_equals_thickness(preset, size, thickness):
    ph = make_phantom(preset, size=size, seed=4, thickness_mm=thickness, **FLAT)
    if thickness is not None:
        assert ph.thickness_mm == pytest.approx(thickness, abs=1e-9)
    for j in range(size):
        ys, yd = _inner_edges(ph.mask, j)
        assert abs((yd - ys) - ph.thickness_px) <= 0.5 + 1e-9
    # flat: the chords are vertical and all equal the vertical gap
    lengths = ph.params["chord_lengths_px"]
    assert np.allclose(lengths, ph.thickness_px, atol=1e-9)
    for (y0, x0), (y1, x1) in true_chords(ph):
        assert x0 == pytest.approx(x1, abs=1e-9)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_true_chords_end_on_inner_mask_edges(preset):
    for seed, over in ((0, {}), (1, {"tilt_deg": (-6.0, 4.0), "curvature": (0.06, -0.04)}), (2, {})):
        ph = make_phantom(preset, size=256 if seed == 0 else 128, seed=seed, **over)
        chords = true_chords(ph)
        assert len(chords) == 5
        W = ph.mask.shape[1]
        for k, ((y0, x0), (y1, x1)) in enumerate(chords):
            assert x0 == pytest.approx(x1, abs=0.3 * ph.thickness_px)
            ys, _ = _inner_edges(ph.mask, int(round(x0)))
            _, yd = _inner_edges(ph.mask, int(round(x1)))
            assert abs(ys - y0) <= 1.0 and abs(yd - y1) <= 1.0
            # the chord's middle is on the centreline at 10 %..90 % of the width
            c = ph.params["curves"]
            xm = (0.1 + 0.2 * k) * (W - 1)
            ym = 0.5 * (curve_y(c["superficial_inner"], xm) + curve_y(c["deep_inner"], xm))
            t = np.array([(y1 - y0), (x1 - x0)]) / np.hypot(y1 - y0, x1 - x0)
            d = np.array([ym - y0, xm - x0])
            assert abs(t[0] * d[1] - t[1] * d[0]) < 1e-6  # (ym, xm) lies on the chord
        assert np.mean([np.hypot(b[0] - a[0], b[1] - a[1]) for a, b in chords]) == pytest.approx(ph.thickness_px)


def test_tilted_chords_are_perpendicular_to_centreline():
    ph = make_phantom("GCM", size=128, seed=5, tilt_deg=(8.0, 2.0), curvature=0.0, waviness_px=0.0)
    s = 0.5 * (np.tan(np.radians(8.0)) + np.tan(np.radians(2.0)))  # centreline slope: mean of the two
    for (y0, x0), (y1, x1) in true_chords(ph):
        assert (x1 - x0) + s * (y1 - y0) == pytest.approx(0.0, abs=1e-6)  # dot((dx, dy), (1, s)) = 0
    # shorter than the vertical gap
    c = ph.params["curves"]
    gap = curve_y(c["deep_inner"], 63.5) - curve_y(c["superficial_inner"], 63.5)
    assert ph.thickness_px < gap


def test_presets_thickness_ranges():
    means = []
    for name, pre in PRESETS.items():
        lo, hi = pre["thickness_mm"]
        ts = [make_phantom(name, size=64, seed=s).thickness_mm for s in range(8)]
        assert all(lo - 1e-6 <= t <= hi + 1e-6 for t in ts), (name, ts)
        assert max(ts) - min(ts) > 0.25 * (hi - lo)
        means.append(np.mean(ts))
        depth = 60.0 if name == "RF" else 40.0
        assert make_phantom(name, size=64, seed=0).spacing_mm == pytest.approx(depth / 64)
    assert 18.0 < np.mean(means) < 31.0  # paper: 24.50 ± 6.49 mm


def test_bad_parameters():
    with pytest.raises(ConfigError, match="pennation_angle") as e:
        make_phantom("TA", size=64, pennation_angle=12)
    assert e.value.path == "pennation_angle"
    with pytest.raises(ConfigError, match="XY"):
        make_phantom("XY", size=64)
    with pytest.raises(ConfigError, match="size"):
        make_phantom("TA", size=8)
    with pytest.raises(ConfigError, match="does not fit"):
        make_phantom("TA", size=64, thickness_mm=39.0)
    with pytest.raises(ConfigError, match="dynamic_range_db"):
        make_phantom("TA", size=64, dynamic_range_db=1.0)
    assert set(DEFAULTS) >= {"tilt_deg", "curvature", "apo_thickness_px", "pennation_deg", "thickness_mm",
                             "depth_mm", "dynamic_range_db", "third_band", "noise"}


def test_imaging_overrides():
    clean = make_phantom("TA", size=64, seed=2, speckle=False)
    speck = make_phantom("TA", size=64, seed=2)
    assert np.array_equal(clean.mask, speck.mask)
    assert clean.image[clean.mask > 0].std() < speck.image[speck.mask > 0].std()
    wide = make_phantom("TA", size=64, seed=2, dynamic_range_db=80.0)
    assert wide.image.mean() > speck.image.mean()  # a wider dynamic range lifts dark tissue
    ph = make_phantom("TA", size=128, seed=2, apo_thickness_px=(3.0, 6.0), pennation_deg=20.0)
    assert ph.params["apo_thickness_px"] == [3.0, 6.0]


def test_speed_256():
    make_phantom("TA", size=64, seed=0)  # imports
    t0 = time.perf_counter()
    make_phantom("RF", size=256, seed=1)
    assert time.perf_counter() - t0 < 3.0  # < 1 s on an idle core


def _tree(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_write_phantom_set_layout_and_bit_identity(tmp_path):
    pydicom = pytest.importorskip("pydicom")
    from PIL import Image

    a = write_phantom_set(tmp_path / "a", n_per_preset=1, size=64, seed=0, dicom=True)
    b = write_phantom_set(tmp_path / "b", n_per_preset=1, size=64, seed=0, dicom=True)
    ta, tb = _tree(a), _tree(b)
    ids = [f"{p}-000" for p in PRESETS]
    expected = {"manifest.csv"} | {f"{d}/{i}.{e}" for i in ids for d, e in
                                   (("images", "png"), ("masks", "png"), ("dicom", "dcm"))}
    assert set(ta) == expected
    assert ta == tb  # bit-identical on regeneration

    rows = list(csv.DictReader((a / "manifest.csv").open()))
    assert list(rows[0]) == ["id", "width", "height", "group", "subject", "spacing_row_mm", "spacing_col_mm",
                             "thickness_px", "thickness_mm", "seed"]
    assert [r["id"] for r in rows] == ids
    for r in rows:
        img = np.array(Image.open(a / "images" / f"{r['id']}.png"))
        msk = np.array(Image.open(a / "masks" / f"{r['id']}.png"))
        assert img.dtype == np.uint8 and img.shape == (64, 64)
        assert set(np.unique(msk)) == {0, 255}
        assert r["subject"] == r["id"] and r["group"] == r["id"].split("-")[0]
        ph = make_phantom(r["group"], size=int(r["width"]), seed=int(r["seed"]))
        assert int(r["seed"]) == phantom_seed(0, r["group"], 0)
        assert np.array_equal(msk > 0, ph.mask > 0)
        assert np.array_equal(img, np.rint(ph.image.astype(np.float64) * 255).astype(np.uint8))
        assert float(r["thickness_mm"]) == pytest.approx(ph.thickness_mm, abs=1e-5)
        ds = pydicom.dcmread(a / "dicom" / f"{r['id']}.dcm")
        assert np.array_equal(ds.pixel_array, img)
        assert float(ds.PixelSpacing[0]) == pytest.approx(float(r["spacing_row_mm"]))
    dss = [pydicom.dcmread(a / "dicom" / f"{i}.dcm") for i in ids]
    assert len({d.SOPInstanceUID for d in dss}) == len(ids)  # distinct, yet reproducible

    c = write_phantom_set(tmp_path / "c", n_per_preset=1, size=64, seed=1, dicom=False)
    assert not (c / "dicom").exists()
    assert _tree(c)["images/TA-000.png"] != ta["images/TA-000.png"]


def test_cli_defaults_regenerate_samples():
    import argparse

    from msknb.paths import PHANTOM_SAMPLES_DIR

    parser = argparse.ArgumentParser()
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["phantom"])
    assert (args.out, args.n_per_preset, args.size, args.seed, args.no_dicom) == (PHANTOM_SAMPLES_DIR, 6, 128, 0, False)


def test_committed_samples_match_generator():
    """data_samples/phantoms is what ``python -m msknb phantom`` writes (spot check)."""
    from PIL import Image

    from msknb.paths import PHANTOM_SAMPLES_DIR

    manifest = PHANTOM_SAMPLES_DIR / "manifest.csv"
    if not manifest.is_file():
        pytest.skip("data_samples/phantoms not generated")
    rows = list(csv.DictReader(manifest.open()))
    assert len(rows) == 6 * len(PRESETS)
    for r in rows[::7]:
        ph = make_phantom(r["group"], size=int(r["width"]), seed=int(r["seed"]))
        img = np.array(Image.open(PHANTOM_SAMPLES_DIR / "images" / f"{r['id']}.png"))
        assert np.array_equal(img, np.rint(ph.image.astype(np.float64) * 255).astype(np.uint8))
