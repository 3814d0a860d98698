"""msknb.thickness: the paper's chord method on analytic masks (exact answers), on
phantoms with a known thickness, on all shared real masks, and the command line."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from msknb.errors import ConfigError, ThicknessError
from msknb.thickness.batch import aponeurosis_pair_rate, measure_many
from msknb.thickness.figures import plot_chords
from msknb.thickness.methods import measure_thickness

H = W = 256


# ---------------------------------------------------------------------------------
# analytic masks: a pixel (row i, col j) is in a band when its centre (y, x) = (i, j)
# lies inside the band's analytic limits
# ---------------------------------------------------------------------------------
def _grid():
    return np.mgrid[0:H, 0:W].astype(np.float64)


def flat_mask(top=(20, 30), deep=(80, 90)) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    m[top[0]:top[1]] = 1
    m[deep[0]:deep[1]] = 1
    return m


def tilted_mask(angle_deg: float, gap: float, band: float = 8.0, y0: float = 60.3) -> np.ndarray:
    """Superficial band above the line y = y0 + m (x - W/2), deep band below the line
    shifted down by ``gap`` (vertically): perpendicular distance gap * cos(angle)."""
    y, x = _grid()
    k = math.tan(math.radians(angle_deg))
    sup = y0 + k * (x - W / 2)
    deep = sup + gap
    m = ((y < sup) & (y >= sup - band)) | ((y >= deep) & (y < deep + band))
    return m.astype(np.uint8)


def arc_mask(gap: float, radius: float = 740.0, band: float = 8.0) -> np.ndarray:
    """Concentric circular aponeuroses (centre far below the image): the centre line is
    a concentric circle, its normals are radii, so every chord is exactly ``gap`` long."""
    y, x = _grid()
    r = np.hypot(x - W / 2, y - (60.0 + radius))
    sup = (r >= radius) & (r < radius + band)
    deep = (r <= radius - gap) & (r > radius - gap - band)
    return (sup | deep).astype(np.uint8)


# ---------------------------------------------------------------------------------
# exact cases
# ---------------------------------------------------------------------------------
def test_flat_parallel_bands_give_the_gap_exactly():
    r = measure_thickness(flat_mask())
    assert r.mt_px == pytest.approx(50.0, abs=1e-9)
    assert r.n_chords == 5 and np.allclose(r.chord_lengths_px, 50.0)
    assert r.mt_mm is None and r.chord_lengths_mm is None
    # chord points: x = x_a + (x_b - x_a) * (0.1, 0.3, 0.5, 0.7, 0.9) over [0, W - 1]
    # (the same definition as msknb.data.phantom's true thickness)
    assert np.allclose(r.points[:, 1], (W - 1) * np.array([0.1, 0.3, 0.5, 0.7, 0.9]))
    for (y0, x0), (y1, x1) in r.chords:
        assert (y0, y1) == pytest.approx((29.5, 79.5)) and x0 == pytest.approx(x1)
    assert r.n_components == 2 and r.n_bands == 2 and r.notes == []


def test_input_encodings_agree():
    m = flat_mask()
    ref = measure_thickness(m).mt_px
    assert measure_thickness(m.astype(bool)).mt_px == ref
    assert measure_thickness(m * 255).mt_px == ref
    assert measure_thickness(m.astype(np.float32)).mt_px == ref
    assert measure_thickness(m[None]).mt_px == ref  # (1, H, W)


def test_probability_mask_sub_pixel():
    from scipy.ndimage import gaussian_filter

    prob = gaussian_filter(flat_mask().astype(np.float64), 1.2)
    assert prob.max() < 1.0
    assert measure_thickness(prob).mt_px == pytest.approx(50.0, abs=0.05)


@pytest.mark.parametrize("angle", [3.0, 8.0, 15.0, -10.0])
def test_tilted_bands_perpendicular_distance(angle):
    gap = 70.0
    r = measure_thickness(tilted_mask(angle, gap))
    expected = gap * math.cos(math.radians(angle))
    assert r.mt_px == pytest.approx(expected, abs=0.5)
    k = math.tan(math.radians(angle))
    for (y0, x0), (y1, x1) in r.chords:  # each chord is perpendicular to the bands
        dy, dx = y1 - y0, x1 - x0
        cos_to_band = abs(dx + k * dy) / (math.hypot(dx, dy) * math.hypot(1, k))
        assert cos_to_band < 0.02


def test_curved_concentric_bands():
    r = measure_thickness(arc_mask(gap=90.0))
    assert r.mt_px == pytest.approx(90.0, abs=0.5)
    assert np.ptp(r.chord_lengths_px) < 1.0


def test_spacing_isotropic_and_anisotropic():
    r = measure_thickness(flat_mask(), spacing_mm=0.1)
    assert r.mt_mm == pytest.approx(5.0) and r.spacing_mm == (0.1, 0.1)
    r = measure_thickness(flat_mask(), spacing_mm=(0.1, 0.2))  # (row, col): vertical chords
    assert r.mt_mm == pytest.approx(5.0) and r.mt_px == pytest.approx(50.0)
    # tilted and anisotropic: perpendicular in millimetres, not in pixels
    angle, gap, (sy, sx) = 10.0, 70.0, (0.1, 0.2)
    r = measure_thickness(tilted_mask(angle, gap), spacing_mm=(sy, sx))
    k_mm = math.tan(math.radians(angle)) * sy / sx
    assert r.mt_mm == pytest.approx(gap * sy / math.hypot(1.0, k_mm), abs=0.5 * sy)
    assert measure_thickness(flat_mask(), spacing_mm=float("nan")).mt_mm is None  # unknown
    with pytest.raises(ConfigError):
        measure_thickness(flat_mask(), spacing_mm=-1.0)


def test_n_chords():
    assert measure_thickness(flat_mask(), n_chords=1).n_chords == 1
    assert measure_thickness(tilted_mask(5.0, 60.0), n_chords=9).n_chords == 9
    with pytest.raises(ConfigError):
        measure_thickness(flat_mask(), n_chords=0)


# ---------------------------------------------------------------------------------
# messy masks
# ---------------------------------------------------------------------------------
def test_third_band_of_neighbouring_muscle_is_ignored():
    m = flat_mask()
    m[150:158, 20:230] = 1
    r = measure_thickness(m)
    assert r.mt_px == pytest.approx(50.0)
    assert r.n_bands == 3 and any("further band" in n for n in r.notes)
    assert set(np.unique(r.bands)) == {0, 1, 2, 3}
    # a tilted third band that comes close to the deep one
    m2 = tilted_mask(5.0, 70.0)
    y, x = _grid()
    m2[(y > 150 + 0.3 * x) & (y < 156 + 0.3 * x)] = 1
    assert measure_thickness(m2).mt_px == pytest.approx(measure_thickness(tilted_mask(5.0, 70.0)).mt_px)


def test_gap_in_a_band_is_bridged():
    m = flat_mask()
    m[20:30, 100:140] = 0  # superficial band broken in two
    r = measure_thickness(m)
    assert r.mt_px == pytest.approx(50.0) and r.n_components == 3 and r.n_bands == 2
    assert any("merged" in n for n in r.notes) and any("interpolated" in n for n in r.notes)
    t = tilted_mask(6.0, 70.0)
    ref = measure_thickness(t).mt_px
    t[:, 110:135] = np.where(np.arange(H)[:, None] < 100, 0, t[:, 110:135])  # gap in the upper band
    assert measure_thickness(t).mt_px == pytest.approx(ref, abs=0.3)


def test_specks_are_ignored():
    m = flat_mask()
    rng = np.random.default_rng(0)
    for y, x in zip(rng.integers(35, 250, 25), rng.integers(0, 250, 25)):
        if not (75 <= y <= 92):
            m[y:y + 2, x:x + 2] = 1
    r = measure_thickness(m)
    assert r.mt_px == pytest.approx(50.0)
    assert any("speck" in n for n in r.notes)


def test_fewer_than_two_bands_raise():
    one = np.zeros((H, W), np.uint8)
    one[40:50] = 1
    with pytest.raises(ThicknessError, match=r"found 1 aponeurosis band\(s\); need 2"):
        measure_thickness(one)
    one[120:121, 100:102] = 1  # a speck is not a second band
    with pytest.raises(ThicknessError, match="found 1"):
        measure_thickness(one)
    with pytest.raises(ThicknessError, match=r"found 0 aponeurosis band\(s\); need 2"):
        measure_thickness(np.zeros((H, W)))
    side_by_side = np.zeros((H, W), np.uint8)
    side_by_side[40:50, :100] = 1
    side_by_side[150:160, 150:] = 1
    with pytest.raises(ThicknessError, match="overlap"):
        measure_thickness(side_by_side)
    with pytest.raises(ThicknessError, match="2-D"):
        measure_thickness(np.zeros(10))


def test_measure_many_collects_errors():
    empty = np.zeros((H, W), np.uint8)
    mt, errors, results = measure_many([flat_mask(), empty], ids=["a", "b"], spacing_mm=[[0.1, 0.1], [np.nan, np.nan]])
    assert mt[0].tolist() == pytest.approx([50.0, 5.0]) and np.isnan(mt[1]).all()
    assert list(errors) == ["b"] and "found 0" in errors["b"] and results[1] is None


def test_aponeurosis_pair_rate_counts_spanning_pairs():
    short = np.zeros((H, W), np.uint8)
    short[20:28, :100] = 1     # two bands over 100 of 256 columns: measurable, not spanning
    short[80:88, :100] = 1
    masks = [flat_mask(), tilted_mask(10, 50), short, np.zeros((H, W), np.uint8)]
    r = aponeurosis_pair_rate(masks, min_span=0.5)
    assert (r["n"], r["measured"], r["spanning"]) == (4, 3, 2)
    assert r["spanning_rate"] == 0.5 and r["measured_rate"] == 0.75
    assert r["span_fraction"][0] == pytest.approx(1.0)
    assert r["span_fraction"][2] == pytest.approx(100 / W)
    assert math.isnan(r["span_fraction"][3]) and math.isnan(r["mt_px"][3])
    assert r["mt_px"][0] == pytest.approx(50, abs=0.5)
    assert aponeurosis_pair_rate(masks, min_span=0.3)["spanning"] == 3
    with pytest.raises(ConfigError, match="min_span"):
        aponeurosis_pair_rate(masks, min_span=2)


def test_plot_chords_draws(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    r = measure_thickness(tilted_mask(5.0, 70.0))
    ax = plot_chords(np.zeros((H, W)), r, true_px=70.0 * math.cos(math.radians(5)))
    assert "MT =" in ax.get_title() and len(ax.lines) >= 3 + 2 * r.n_chords
    plt.close("all")


# ---------------------------------------------------------------------------------
# phantoms with a known (analytic) thickness
# ---------------------------------------------------------------------------------
PHANTOM_CASES = {
    "flat": dict(tilt_deg=0.0, curvature=0.0, waviness_px=0.0),
    "tilted": dict(tilt_deg=7.0, curvature=0.0),
    "curved": dict(curvature=0.05),
    "fascicles": dict(pennation_deg=25.0),
    "converging": dict(tilt_deg=(-2.0, 3.0)),
    "third_band": dict(third_band=True),
}


@pytest.mark.parametrize("case", list(PHANTOM_CASES))
def test_phantom_thickness_within_half_a_pixel(case):
    phantom = pytest.importorskip("msknb.data.phantom")
    ph = phantom.make_phantom("TA", size=256, seed=3, speckle=False, **PHANTOM_CASES[case])
    r = measure_thickness(ph.mask, spacing_mm=ph.spacing_mm)
    assert abs(r.mt_px - ph.thickness_px) < 0.5, (case, r.mt_px, ph.thickness_px)
    assert r.mt_mm == pytest.approx(r.mt_px * ph.spacing_mm)
    # same chord positions (ends differ along a tilted edge where the estimated tangent
    # smooths the phantom's small waviness)
    for (a, b), (ta, tb) in zip(r.chords, phantom.true_chords(ph)):
        assert np.allclose(a, ta, atol=2.0) and np.allclose(b, tb, atol=2.0)


# ---------------------------------------------------------------------------------
# all real expert masks
# ---------------------------------------------------------------------------------
def test_all_shared_real_masks(shared_data):
    from PIL import Image

    paths = sorted((shared_data / "masks").glob("*.png"))
    assert len(paths) >= 400
    values, failed = {}, {}
    for p in paths:
        mask = np.asarray(Image.open(p).convert("L"))
        try:
            values[p.stem] = measure_thickness(mask).mt_px
        except ThicknessError as e:
            failed[p.stem] = e.problem
    v = np.array(list(values.values()))
    print(f"\nreal masks: {len(paths)}; measured {len(values)} (MT median {np.median(v):.1f} px, "
          f"range {v.min():.1f}-{v.max():.1f} px); ThicknessError {len(failed)}: {failed}")
    assert np.all(np.isfinite(v)) and np.all(v > 0)
    assert len(values) + len(failed) == len(paths)
    assert len(failed) <= 0.02 * len(paths)
    assert all("aponeurosis band" in msg for msg in failed.values())


# ---------------------------------------------------------------------------------
# command line
# ---------------------------------------------------------------------------------
def _write_png(path, mask):
    from PIL import Image

    Image.fromarray((np.asarray(mask) > 0).astype(np.uint8) * 255).save(path)
    return path


@pytest.fixture
def mask_dir(tmp_path):
    d = tmp_path / "masks"
    d.mkdir()
    _write_png(d / "a.png", flat_mask())
    _write_png(d / "b.png", flat_mask(deep=(100, 110)))
    return d


def _run(argv, capsys):
    from msknb.cli import main

    status = main(["thickness", *map(str, argv)])
    out = capsys.readouterr()
    return status, out.out, out.err


def test_cli_json_lines(mask_dir, capsys):
    status, out, _ = _run([mask_dir, "--spacing-mm", "0.1"], capsys)
    assert status == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["a", "b"]
    assert rows[0]["mt_px"] == pytest.approx(50.0) and rows[0]["mt_mm"] == pytest.approx(5.0)
    assert rows[1]["mt_px"] == pytest.approx(70.0) and rows[1]["n_chords"] == 5
    status, out, _ = _run([mask_dir / "a.png", "--n-chords", "3"], capsys)
    row = json.loads(out)
    assert status == 0 and row["mt_mm"] is None and row["n_chords"] == 3


def test_cli_csv(mask_dir, capsys):
    import csv
    import io

    status, out, _ = _run([mask_dir.parent, "--csv", "--spacing-mm", "0.1,0.2"], capsys)  # parent has masks/
    rows = list(csv.DictReader(io.StringIO(out)))
    assert status == 0 and [r["id"] for r in rows] == ["a", "b"]
    assert float(rows[0]["mt_mm"]) == pytest.approx(5.0) and rows[0]["error"] == ""


def test_cli_missing_path_is_usage_error(mask_dir, capsys):
    missing = mask_dir / "nope.png"
    status, out, err = _run([mask_dir / "a.png", missing], capsys)
    assert status == 2 and out == ""
    assert str(missing) in err and "Traceback" not in err


def test_cli_bad_masks_among_good_ones(mask_dir, capsys):
    (mask_dir / "c_broken.png").write_bytes(b"not a png at all")
    _write_png(mask_dir / "d_oneband.png", flat_mask(deep=(0, 0)))
    status, out, err = _run([mask_dir], capsys)
    rows = {r["id"]: r for r in map(json.loads, out.splitlines())}
    assert status == 1 and set(rows) == {"a", "b", "c_broken", "d_oneband"}
    assert rows["a"]["mt_px"] == pytest.approx(50.0)
    assert "c_broken.png" in rows["c_broken"]["error"]
    assert "d_oneband.png" in rows["d_oneband"]["error"] and "found 1" in rows["d_oneband"]["error"]
    assert "2 of 4" in err and "Traceback" not in err


def test_cli_dicom_mask_brings_its_spacing(tmp_path, capsys):
    dicom = pytest.importorskip("msknb.data.dicom")
    path = dicom.write_dicom(tmp_path / "m.dcm", flat_mask().astype(np.float32), spacing_mm=0.1)
    status, out, _ = _run([path], capsys)
    row = json.loads(out)
    assert status == 0 and row["mt_px"] == pytest.approx(50.0) and row["mt_mm"] == pytest.approx(5.0)


# ---------------------------------------------------------------------------------
# expert vs predicted (notebook 06 helpers)
# ---------------------------------------------------------------------------------
def test_compare_with_experts_on_a_tiny_set(tmp_path):
    from PIL import Image

    from msknb.thickness.agreement import agreement
    from msknb.data.loading import resize_mask
    from msknb.thickness.experts import compare_with_experts, find_segmentation_outputs

    data, out = tmp_path / "data", tmp_path / "out"
    (data / "images").mkdir(parents=True)
    (data / "masks").mkdir()
    ids = ["a", "b", "c"]
    seg = out / "segmentation"
    assert find_segmentation_outputs(out) is None  # nothing yet: the notebook falls back
    for name in ("Real+Gen", "Real"):
        (seg / name / "pred_masks").mkdir(parents=True)
    for k, i in enumerate(ids):
        m = np.zeros((80, 100), np.uint8)
        m[10:16] = 1
        m[40 + 4 * k:46 + 4 * k] = 1
        Image.fromarray(np.full((80, 100), 90, np.uint8)).save(data / "images" / f"{i}.png")
        _write_png(data / "masks" / f"{i}.png", m)
        _write_png(seg / "Real" / "pred_masks" / f"{i}.png", resize_mask(m, 64))
        if i != "c":
            _write_png(seg / "Real+Gen" / "pred_masks" / f"{i}.png", resize_mask(m, 64))
    (seg / "split.json").write_text(json.dumps({"train": [], "val": [], "test": ids, "image_size": 64,
                                                "crop_fov": False}))
    found = find_segmentation_outputs(out)
    assert list(found["experiments"]) == ["Real", "Real+Gen"] and found["image_size"] == 64
    cmp = compare_with_experts(data, found)
    assert cmp["unit"] == "px" and cmp["ids"] == ids
    # lengths in px of the stored 80 x 100 files: vertical gaps 24, 28, 32 rows (+-1 from resizing)
    assert cmp["expert"] == pytest.approx([24, 28, 32], abs=1.3)
    assert agreement(cmp["expert"], cmp["predicted"]["Real"])["rmse"] == pytest.approx(0.0, abs=1e-9)
    assert cmp["errors"]["Real+Gen"] == {"c": "no predicted mask"}
    assert np.isnan(cmp["predicted"]["Real+Gen"][2])


def test_phantom_check_small():
    pytest.importorskip("msknb.data.phantom")
    from msknb.thickness.phantom_check import phantom_check

    pc = phantom_check(n=4, size=96, seed=1)
    assert pc["n_failed"] == 0 and pc["abs_error_px"]["max"] < 0.5


# ---------------------------------------------------------------------------------
# method registry and DL_Track_US's method (issue 14)
# ---------------------------------------------------------------------------------
def test_methods_are_chosen_by_name():
    from msknb.thickness.methods import METHODS

    assert {"chords", "dltrack"} <= set(METHODS)
    assert measure_thickness(flat_mask()).method == "chords"
    with pytest.raises(ConfigError, match="unknown thickness method 'nope'"):
        measure_thickness(flat_mask(), method="nope")


def test_dltrack_and_chords_agree_on_parallel_bands():
    chords = measure_thickness(flat_mask(), spacing_mm=0.1)
    dl = measure_thickness(flat_mask(), spacing_mm=0.1, method="dltrack")
    assert dl.method == "dltrack" and dl.flag == "ok"
    assert dl.mt_px == pytest.approx(50.0, abs=1e-6) and chords.mt_px == pytest.approx(dl.mt_px, abs=1e-6)
    assert dl.mt_mm == pytest.approx(5.0, abs=1e-6)
    xs = np.array([x for (_, x), _ in dl.chords])  # every column of the central third
    assert xs.min() == pytest.approx((W - 1) / 3, abs=1) and xs.max() == pytest.approx(2 * (W - 1) / 3, abs=1)


@pytest.mark.parametrize("angle", [8.0, -12.0])
def test_dltrack_on_tilted_bands_is_the_perpendicular_distance(angle):
    gap = 70.0
    expected = gap * math.cos(math.radians(angle))
    dl = measure_thickness(tilted_mask(angle, gap), method="dltrack")
    assert dl.mt_px == pytest.approx(expected, abs=0.5)
    assert dl.mt_px == pytest.approx(measure_thickness(tilted_mask(angle, gap)).mt_px, abs=0.3)
    k = math.tan(math.radians(angle))
    # shortest segments are perpendicular to the bands (up to the edges' residual pixel waviness)
    cos = [(x1 - x0 + k * (y1 - y0)) / (math.hypot(x1 - x0, y1 - y0) * math.hypot(1, k))
           for (y0, x0), (y1, x1) in dl.chords]
    assert abs(np.mean(cos)) < 0.02 and np.max(np.abs(cos)) < 0.1
    # anisotropic spacing: the shortest distance in millimetres
    sy, sx = 0.1, 0.2
    k_mm = math.tan(math.radians(angle)) * sy / sx
    dl_mm = measure_thickness(tilted_mask(angle, gap), spacing_mm=(sy, sx), method="dltrack")
    assert dl_mm.mt_mm == pytest.approx(gap * sy / math.hypot(1.0, k_mm), abs=0.5 * sy)


def test_dltrack_on_converging_bands_takes_the_central_third():
    y, x = _grid()
    m = ((y >= 20) & (y < 28)) | ((y >= 80 + 0.2 * x) & (y < 88 + 0.2 * x))  # gap 52 + 0.2 x
    dl = measure_thickness(m.astype(np.uint8), method="dltrack")
    # central third x in [85, 170]: shortest distance from (x, 27.5) to the line y = 79.5 + 0.2 x
    xs = np.arange(85, 171)
    expected = np.mean((79.5 + 0.2 * xs - 27.5) / math.hypot(1, 0.2))
    assert dl.mt_px == pytest.approx(expected, abs=0.5)


# ---------------------------------------------------------------------------------
# band choice and quality flags (issue 14)
# ---------------------------------------------------------------------------------
def test_clean_mask_is_ok_with_its_quality_numbers():
    r = measure_thickness(flat_mask())
    assert r.flag == "ok" and r.ok and r.to_dict()["flag"] == "ok"
    assert r.quality["coverage"] == pytest.approx(1.0) and r.quality["confidence"] == pytest.approx(1.0)
    assert r.quality["chord_cv"] == pytest.approx(0.0, abs=1e-9)


def test_flag_bands_short():
    m = np.zeros((H, W), np.uint8)
    m[20:28, :80] = 1
    m[80:88, :80] = 1
    r = measure_thickness(m)
    assert r.mt_px == pytest.approx(52.0) and r.flag == "doubtful: bands short"


def test_flag_chords_disagree():
    y, x = _grid()
    m = ((y >= 20) & (y < 28)) | ((y >= 60 + 0.55 * x) & (y < 68 + 0.55 * x))  # strongly converging
    r = measure_thickness(m.astype(np.uint8))
    assert r.quality["chord_cv"] > 0.3 and "chords disagree" in r.flag


def test_flag_low_confidence():
    prob = flat_mask().astype(np.float64) * 0.6  # above the 0.5 threshold, but barely
    r = measure_thickness(prob)
    assert r.mt_px == pytest.approx(50.0, abs=1.0)  # sub-pixel edge at the 0.5 crossing of a 0.6 step
    assert r.quality["confidence"] == pytest.approx(0.6) and r.flag == "doubtful: low confidence"


def test_flag_third_band_close_below_the_deep_one():
    m = flat_mask()
    m[100:106] = 1  # 10 px under the deep band: it could be the deep aponeurosis
    r = measure_thickness(m)
    assert r.mt_px == pytest.approx(50.0) and r.flag == "doubtful: third band"
    far = flat_mask()
    far[200:206] = 1  # a neighbouring muscle's aponeurosis, far below: fine
    assert measure_thickness(far).flag == "ok"


def test_fragment_above_is_passed_over_and_flagged():
    m = flat_mask()
    m[5:9, :60] = 1  # a short band above the superficial aponeurosis
    r = measure_thickness(m)
    assert r.mt_px == pytest.approx(50.0)  # the old rule (uppermost band first) measured 11 px
    assert r.quality["skipped_superficial_pair"] and "third band" in r.flag
    assert set(np.unique(r.bands)) == {0, 1, 2, 3}


def test_flag_thickness_out_of_range():
    m = np.zeros((H, W), np.uint8)
    m[20:24] = 1
    m[27:31] = 1
    r = measure_thickness(m)
    assert r.mt_px == pytest.approx(3.0) and "thickness out of range" in r.flag


def test_cli_method_dltrack(mask_dir, capsys):
    status, out, _ = _run([mask_dir / "a.png", "--method", "dltrack"], capsys)
    row = json.loads(out)
    assert status == 0 and row["method"] == "dltrack" and row["flag"] == "ok"
    assert row["mt_px"] == pytest.approx(50.0)
