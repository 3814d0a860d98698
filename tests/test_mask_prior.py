"""The parametric aponeurosis-mask generator (msknb.ddpm.mask_prior)."""
from __future__ import annotations

import numpy as np
import pytest

from msknb.ddpm.mask_prior import PARAMS, fit_mask_prior, mask_parameters, render_mask, sample_masks
from msknb.errors import ConfigError, DataError
from msknb.masks.bands import find_bands

KNOWN = {"params": list(PARAMS),
         "mean": [0.12, 0.45, 0.03, 0.04, 0.05, 0.12, 0.05, 0.0, 0.02, 0.02, 0.98, 0.98, 0.0, 0.0],
         "std": [0.03, 0.06, 0.005, 0.008, 0.04, 0.05, 0.04, 0.05, 0.01, 0.01, 0.01, 0.01, 0.0, 0.0],
         "lo": [0.05, 0.3, 0.02, 0.02, -0.1, -0.1, -0.1, -0.15, 0.0, 0.0, 0.95, 0.95, 0.0, 0.0],
         "hi": [0.2, 0.6, 0.05, 0.06, 0.15, 0.25, 0.2, 0.15, 0.05, 0.05, 1.0, 1.0, 0.0, 0.0]}


def test_drawn_masks_hold_two_spanning_bands():
    masks = sample_masks(KNOWN, 40, 64, seed=0)
    assert masks.shape == (40, 64, 64) and masks.dtype == np.uint8 and set(np.unique(masks)) <= {0, 1}
    np.testing.assert_array_equal(masks, sample_masks(KNOWN, 40, 64, seed=0))
    assert not np.array_equal(masks, sample_masks(KNOWN, 40, 64, seed=1))
    for m in masks:
        bands = find_bands(m.astype(np.float32))[0]
        assert len(bands) == 2 and all(b.width >= 0.5 * 64 for b in bands)
        assert bands[0].centre.mean() < bands[1].centre.mean()


def test_fitted_parameters_come_back_close():
    prior = fit_mask_prior(sample_masks(KNOWN, 300, 128, seed=3))
    assert prior["n_masks"] == 300 and prior["n_skipped"] == 0
    got = dict(zip(PARAMS, prior["mean"]))
    want = dict(zip(PARAMS, KNOWN["mean"]))
    for key in ("depth_sup", "separation", "tilt_sup", "tilt_deep", "start_sup", "end_deep"):
        assert abs(got[key] - want[key]) < 0.015, key
    for key in ("thick_sup", "thick_deep"):
        assert abs(got[key] - want[key]) < 0.01, key
    for key in ("curv_sup", "curv_deep"):
        assert abs(got[key] - want[key]) < 0.03, key
    spread = dict(zip(PARAMS, prior["std"]))
    assert 0.6 < spread["separation"] / 0.06 < 1.4 and 0.6 < spread["depth_sup"] / 0.03 < 1.4


def test_gaps_and_single_mask_parameters():
    p = dict(zip(PARAMS, KNOWN["mean"]))
    p["gap_deep"] = 0.2
    m = render_mask(p, 64)
    got = mask_parameters(m)
    assert got is not None and abs(got["gap_deep"] - 0.2) < 0.05 and got["gap_sup"] == 0.0
    assert mask_parameters(np.zeros((32, 32))) is None


def test_bad_inputs():
    with pytest.raises(DataError, match="two aponeuroses"):
        fit_mask_prior(np.zeros((3, 32, 32)))
    with pytest.raises(ConfigError):
        sample_masks({"params": ["x"]}, 2, 32)
