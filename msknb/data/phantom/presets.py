"""The phantom's muscle presets (:data:`PRESETS`) and every parameter with its default
(:data:`DEFAULTS`). Units are in the names (mm, px, deg, MHz, dB)."""
from __future__ import annotations

from typing import Any

SPEED_OF_SOUND_MM_US = 1.54  # mm per microsecond → wavelength_mm = 1.54 / f_MHz

#: Muscle presets. Tuples are uniform sampling ranges ``(low, high)``; plain values fixed.
#: ``thickness_mm`` is the true muscle thickness (see module docstring); the paper's
#: manual MT is 24.50 ± 6.49 mm overall. Depth of field 40 mm (RF: 60 mm).
PRESETS: dict[str, dict[str, Any]] = {
    "TA": {  # tibialis anterior: fairly flat, bipennate-looking, thin fat layer
        "description": "tibialis anterior",
        "depth_mm": 40.0,
        "thickness_mm": (20.0, 30.0),
        "superficial_depth_mm": (2.5, 5.0),
        "tilt_deg": (-4.0, 4.0),            # tilt of the whole muscle (both aponeuroses)
        "convergence_deg": (-2.0, 2.0),     # deep minus superficial tilt
        "curvature": (-0.03, 0.03),
        "apo_thickness_mm": (0.9, 1.4),
        "pennation_deg": (9.0, 15.0),
        "freq_mhz": 10.0,
    },
    "RF": {  # rectus femoris: deeper, thicker fat layer, 6 cm field of view
        "description": "rectus femoris",
        "depth_mm": 60.0,
        "thickness_mm": (18.0, 28.0),
        "superficial_depth_mm": (5.0, 12.0),
        "tilt_deg": (-3.0, 3.0),
        "convergence_deg": (-3.0, 3.0),
        "curvature": (-0.04, 0.04),
        "apo_thickness_mm": (1.2, 1.9),
        "pennation_deg": (10.0, 18.0),
        "freq_mhz": 7.5,
    },
    "GCM": {  # gastrocnemius medialis: thin, clearly pennate, converging aponeuroses
        "description": "gastrocnemius medialis",
        "depth_mm": 40.0,
        "thickness_mm": (14.0, 22.0),
        "superficial_depth_mm": (3.0, 7.0),
        "tilt_deg": (-3.0, 3.0),
        "convergence_deg": (-5.0, 1.0),
        "curvature": (-0.03, 0.03),
        "apo_thickness_mm": (0.9, 1.4),
        "pennation_deg": (17.0, 26.0),
        "freq_mhz": 10.0,
    },
    "BB": {  # biceps brachii: near-parallel fibres, curved
        "description": "biceps brachii",
        "depth_mm": 40.0,
        "thickness_mm": (18.0, 30.0),
        "superficial_depth_mm": (2.5, 5.5),
        "tilt_deg": (-2.0, 2.0),
        "convergence_deg": (-2.0, 2.0),
        "curvature": (-0.05, 0.03),
        "apo_thickness_mm": (0.8, 1.3),
        "pennation_deg": (4.0, 10.0),
        "freq_mhz": 10.0,
    },
}

#: Parameters every phantom has (and that ``make_phantom(**overrides)`` accepts), with
#: their defaults; ``None`` = drawn at random from the preset. Units in the names.
DEFAULTS: dict[str, Any] = {
    # geometry
    "depth_mm": None,              # field depth = image height (mm); preset value
    "thickness_mm": None,          # true muscle thickness (mm)
    "superficial_depth_mm": None,  # depth of the superficial aponeurosis' outer edge at the centre (mm)
    "tilt_deg": None,              # float (both) or (superficial, deep); + = deeper to the right
    "curvature": None,             # float (both) or pair; sagitta / half-width (+ = ends deeper)
    "apo_thickness_px": None,      # float (both) or pair; band thickness in output pixels
    "pennation_deg": None,         # fascicle angle to the deep aponeurosis (degrees)
    "waviness_px": None,           # amplitude of the inner-edge waviness (px); 0 = smooth
    "third_band": False,           # add a third aponeurosis (neighbouring muscle) below
    "skin_mm": 1.2,                # skin (epidermis + dermis) thickness (mm)
    # imaging
    "freq_mhz": None,              # transmit centre frequency (MHz); preset value
    "pulse_sigma_mm": 0.18,        # axial Gaussian envelope sigma (mm)
    "beam_sigma_mm": 0.35,         # lateral Gaussian beam sigma (mm)
    "scatterer_density": 150.0,    # scatterers per mm²
    "attenuation_db_cm_mhz": 0.5,  # tissue attenuation (dB / cm / MHz), one way
    "tgc": 0.8,                    # fraction of the attenuation undone by time-gain compensation
    "noise": 0.002,                # receiver noise rms, relative to the aponeurosis echo
    "dynamic_range_db": 50.0,      # log-compression dynamic range (dB)
    "gain_db": -6.0,               # overall gain: the aponeurosis echo maps to 1 + gain/DR
    "speckle": True,               # False: noise-free echogenicity map (no scatterers)
}

PAIR_KEYS = ("tilt_deg", "curvature", "apo_thickness_px")
MAX_TRIES = 50

