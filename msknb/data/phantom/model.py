"""One phantom: :class:`Phantom` and :func:`make_phantom`."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from msknb.data.phantom.curves import chords_between
from msknb.data.phantom.geometry import resolve
from msknb.data.phantom.render import render


@dataclass
class Phantom:
    """One synthetic image.

    - ``image``: float32 (H, W) in [0, 1] (log-compressed B-mode);
    - ``mask``: uint8 (H, W) in {0, 1}: the aponeurosis bands (2, or 3 with ``third_band``);
    - ``thickness_px`` / ``thickness_mm``: true muscle thickness (mean of 5 chords);
    - ``spacing_mm``: isotropic pixel spacing (mm per px);
    - ``params``: every resolved parameter (JSON-able), incl. ``curves`` (analytic edge
      curves in px, see :func:`~msknb.data.phantom.curves.curve_y`), ``chord_lengths_px``, ``x_range_px``.
    """

    image: np.ndarray
    mask: np.ndarray
    thickness_px: float
    thickness_mm: float
    spacing_mm: float
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.image.shape)  # type: ignore[return-value]


def true_chords(phantom: Phantom, n_chords: int = 5) -> list[tuple[tuple[float, float], tuple[float, float]]]:
    """The chords of the true muscle thickness: ``[((y0, x0), (y1, x1)), ...]`` in px
    (row, column; pixel-centre coordinates), (y0, x0) on the superficial inner edge."""
    c = phantom.params["curves"]
    chords, _ = chords_between(c["superficial_inner"], c["deep_inner"], tuple(phantom.params["x_range_px"]), n_chords)
    return chords


def make_phantom(preset: str = "TA", size: int = 256, seed: int = 0, **overrides: Any) -> Phantom:
    """A synthetic longitudinal B-mode image (``size`` × ``size`` px) of the muscle
    ``preset`` (one of :data:`PRESETS`: "TA", "RF", "GCM", "BB"), deterministic for ``seed``.

    Overrides (see :data:`DEFAULTS`; ``None`` = keep the preset/random value):
    ``thickness_mm`` (true MT), ``depth_mm``, ``superficial_depth_mm``, ``tilt_deg``,
    ``curvature``, ``apo_thickness_px`` (each a number or a (superficial, deep) pair),
    ``pennation_deg``, ``waviness_px``, ``third_band``, ``skin_mm``, ``freq_mhz``,
    ``pulse_sigma_mm``, ``beam_sigma_mm``, ``scatterer_density``,
    ``attenuation_db_cm_mhz``, ``tgc``, ``noise``, ``dynamic_range_db``, ``gain_db``,
    ``speckle``. An unknown name raises :class:`ConfigError` naming it; values that do not
    fit the field of view raise :class:`ConfigError` too.

    Flat parallel aponeuroses: ``tilt_deg=0, curvature=0, waviness_px=0``.
    """
    p, _, rng = resolve(preset, size, seed, overrides)
    image, mask = render(p, rng)
    return Phantom(image=image, mask=mask, thickness_px=float(p["thickness_px"]),
                   thickness_mm=float(p["thickness_mm_true"]), spacing_mm=float(p["spacing_mm"]), params=p)
