"""Measured vs true MT on phantoms with a known (analytic) thickness (notebook 06)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from msknb.data.phantom import make_phantom, phantom_seed
from msknb.errors import ThicknessError
from msknb.thickness.methods import measure_thickness


def phantom_check(n: int = 20, size: int = 256, seed: int = 0, n_chords: int = 5,
                  presets: Sequence[str] = ("TA", "RF", "GCM", "BB"), method: str = "chords") -> dict[str, Any]:
    """Measured vs true MT on ``n`` phantoms (masks only, no speckle rendering needed for
    the mask), cycling through ``presets``; every third has a third band. Returns
    ``{"n", "size", "true_px", "measured_px", "spacing_mm", "presets", "abs_error_px":
    {"mean", "max"}, "rmse_px", "rmse_mm", "n_failed"}``."""
    true, meas, sps, names, failed = [], [], [], [], 0
    for k in range(n):
        preset = presets[k % len(presets)]
        ph = make_phantom(preset, size=size, seed=phantom_seed(seed, preset, k), speckle=False,
                          third_band=(k % 3 == 2))
        try:
            meas.append(measure_thickness(ph.mask, spacing_mm=ph.spacing_mm, n_chords=n_chords, method=method).mt_px)
        except ThicknessError:
            failed += 1
            meas.append(np.nan)
        true.append(ph.thickness_px)
        sps.append(ph.spacing_mm)
        names.append(preset)
    t, m, s = np.array(true), np.array(meas), np.array(sps)
    err = m - t
    ok = np.isfinite(err)
    return {"n": n, "size": size, "presets": names, "true_px": t, "measured_px": m, "spacing_mm": s,
            "abs_error_px": {"mean": float(np.mean(np.abs(err[ok]))) if ok.any() else float("nan"),
                             "max": float(np.max(np.abs(err[ok]))) if ok.any() else float("nan")},
            "rmse_px": float(np.sqrt(np.mean(err[ok] ** 2))) if ok.any() else float("nan"),
            "rmse_mm": float(np.sqrt(np.mean((err[ok] * s[ok]) ** 2))) if ok.any() else float("nan"),
            "n_failed": failed}
