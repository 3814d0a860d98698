"""Synthetic longitudinal B-mode ultrasound of a pennate muscle, with exact masks
and a known ("true") muscle thickness.

Image rows are depth (row 0 = skin, under the probe), columns run along the probe.
Pixels are square: ``spacing_mm = depth_mm / size`` mm per pixel in both directions.

Anatomy, top to bottom: a bright skin line and dermis; subcutaneous fat with a few
bright wavy septa; the **superficial aponeurosis** (a bright band); the muscle belly
(dark, with faint bright oblique fascicles at the pennation angle that insert into the
deep aponeurosis); the **deep aponeurosis** (a bright band); the tissue of a
neighbouring muscle below (optionally with a third aponeurosis band, ``third_band``).
Each aponeurosis has its own thickness (px), tilt (degrees), curvature and a small
waviness.

Image formation (a teaching-grade model, not a full acoustic simulation):

1. an echogenicity map ``E(z, x)`` (linear intensity, 1 = aponeurosis) on an axially
   oversampled grid (``os`` sub-rows per pixel, so the carrier is sampled ≥ ~5x per
   wavelength);
2. random point scatterers: Gaussian amplitudes scaled by ``sqrt(E)``, Bernoulli-thinned
   to ``scatterer_density`` per mm²;
3. convolution with a separable point-spread function: axial pulse = Gaussian envelope
   × cosine carrier at ``freq_mhz``, lateral beam = Gaussian (RF signal);
4. depth attenuation ``2·α·f·z`` dB (round trip), partly compensated by time-gain
   compensation (``tgc``), plus receiver noise (``noise``);
5. envelope detection: ``|hilbert(rf)|`` along depth, averaged (in intensity) over the
   sub-rows of each pixel;
6. log compression to ``dynamic_range_db`` → float32 image in [0, 1].

Masks and true thickness
------------------------
The mask (uint8 {0, 1}) holds the aponeurosis bands exactly: pixel (row ``i``, column
``j``) has its centre at ``(y, x) = (i, j)`` and is in a band when its centre lies between
the band's analytic outer and inner edge curves (``params["curves"]``, see
:func:`curve_y`). In a column, the continuous inner edge therefore lies between the last
band pixel and the first muscle pixel; for flat aponeuroses the superficial inner edge
is placed exactly on a pixel border (``k + 0.5``), so the number of muscle rows between
the two bands equals ``thickness_px`` within 0.5 px.

The **true muscle thickness** is defined as the kit measures it (Katakis et al. 2023):
the centreline ``m(x) = (y_sup(x) + y_deep(x)) / 2`` runs midway between the inner edges
of the superficial and deep aponeuroses; ``n_chords = 5`` points on it at columns
``x_k = x_min + f_k (x_max - x_min)``, ``f_k = 0.1, 0.3, 0.5, 0.7, 0.9`` (evenly spaced,
10 %-90 % inclusive; here ``[x_min, x_max] = [0, W - 1]`` since both bands span the
width, in pixel-centre coordinates); at each, the chord perpendicular to the centreline
between the two inner edges; MT = mean chord length. It is solved numerically on the
analytic curves (sub-pixel, ~1e-9 px). For flat parallel aponeuroses it equals the
vertical gap. :func:`true_chords` returns the chords.

Use :func:`make_phantom` for one image, :func:`write_phantom_set` for a DL_Track-layout
folder (``python -m msknb phantom``). Modules: ``presets`` (PRESETS, DEFAULTS), ``curves``
(analytic edges, chords), ``geometry`` (parameters and curves), ``render`` (the image),
``model`` (Phantom, make_phantom), ``writer`` (the set on disk).
"""
from msknb.data.phantom.curves import chord_fractions, chords_between, curve_dydx, curve_y
from msknb.data.phantom.geometry import resolve_params
from msknb.data.phantom.model import Phantom, make_phantom, true_chords
from msknb.data.phantom.presets import DEFAULTS, PRESETS, SPEED_OF_SOUND_MM_US
from msknb.data.phantom.writer import MANIFEST_COLUMNS, phantom_seed, write_phantom_set

__all__ = ["DEFAULTS", "MANIFEST_COLUMNS", "PRESETS", "SPEED_OF_SOUND_MM_US", "Phantom", "chord_fractions",
           "chords_between", "curve_dydx", "curve_y", "make_phantom", "phantom_seed", "resolve_params",
           "true_chords", "write_phantom_set"]
