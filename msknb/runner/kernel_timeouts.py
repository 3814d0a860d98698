"""How long a notebook is expected to run, and the per-cell timeout derived from it.

:data:`EXPECTED_SECONDS` holds, per profile and notebook, the slowest whole-notebook wall
time measured by the runner (``python -m msknb run``, its ``index.json``) on the 2 shared
CPU cores of the development machine, with the source of each number. A cell cannot run
longer than its whole notebook, so the per-cell timeout is

    ``cell_timeout_s = max(MIN_CELL_TIMEOUT_S, TIMEOUT_FACTOR x expected notebook seconds)``

5x covers the measured spread under load (load average 1.5-8 gave up to 2.5x between the
fastest and the slowest run of one notebook); the 180 s floor covers a kernel start plus
the torch imports on a busy machine (30-60 s seen). A notebook without a measured time gets
:data:`DEFAULT_CELL_TIMEOUT_S` of its profile; the ``paper`` profile (hours per cell on a GPU)
has no timeout. Used by :mod:`msknb.runner.series`; ``msknb run --cell-timeout S`` overrides it.
"""
from __future__ import annotations

from msknb.profiles import check_profile

#: floor of the per-cell timeout (s)
MIN_CELL_TIMEOUT_S = 180
#: per-cell timeout = this x the notebook's expected seconds
TIMEOUT_FACTOR = 5
#: per-cell timeout (s) of a notebook without a measured time (None: no timeout)
DEFAULT_CELL_TIMEOUT_S: dict[str, int | None] = {"smoke": 600, "quick": 1800, "paper": None}

_NB_CELL = "the notebook's 'How long it runs' cell (runner, 30 Nov-1 Dec 2026, shared cores)"

#: profile -> notebook -> (expected seconds = slowest measured run, source)
EXPECTED_SECONDS: dict[str, dict[str, tuple[float, str]]] = {
    "smoke": {
        "00_data": (20.3, "benchmarks/results/profile_smoke.json runner_wall_seconds.before"),
        "01_forward_diffusion": (21, _NB_CELL + ": 10-21 s"),
        "02_reverse_diffusion": (33, _NB_CELL),
        "03_train_ddpm": (53, _NB_CELL + ": 16-53 s"),
        "04_sampling": (149, _NB_CELL + ": 60-149 s"),
        "05_segmentation": (49, _NB_CELL),
        "06_muscle_thickness": (20, _NB_CELL),
        "07_evaluation": (29.2, "benchmarks/results/profile_smoke.json runner_wall_seconds.after_cold_cache"),
    },
    "quick": {
        "00_data": (24, _NB_CELL + " (profile_quick.json after_cold_cache: 18.1 s)"),
        "01_forward_diffusion": (17, _NB_CELL),
        "02_reverse_diffusion": (53, _NB_CELL + ": 22-53 s"),
        "03_train_ddpm": (96, _NB_CELL + ": 37-96 s"),
        "04_sampling": (310, _NB_CELL + ": 127-310 s"),
        "05_segmentation": (169, _NB_CELL),
        "06_muscle_thickness": (31, _NB_CELL),
        "07_evaluation": (38, _NB_CELL + " (profile_quick.json after_cold_cache: 22.1 s)"),
    },
    "paper": {},
}


def expected_seconds(notebook: str, profile: str) -> float | None:
    """The slowest measured wall time (s) of ``notebook`` (e.g. ``"00_data"``) at ``profile``,
    or None when it was never measured."""
    check_profile(profile)
    entry = EXPECTED_SECONDS.get(profile, {}).get(notebook)
    return None if entry is None else float(entry[0])


def cell_timeout_s(notebook: str, profile: str) -> int | None:
    """Seconds one cell of ``notebook`` may run at ``profile`` before the runner stops it
    (None: no limit, the ``paper`` profile): ``max(180, 5 x expected notebook seconds)``."""
    if profile == "paper":
        return None
    expected = expected_seconds(notebook, profile)
    if expected is None:
        return DEFAULT_CELL_TIMEOUT_S[profile]
    return int(max(MIN_CELL_TIMEOUT_S, TIMEOUT_FACTOR * expected))


def timeout_reason(notebook: str, profile: str) -> str:
    """How :func:`cell_timeout_s` was derived, for error messages, e.g.
    ``"180 s = max(180 s, 5 x 24 s expected for 00_data at quick)"``."""
    limit = cell_timeout_s(notebook, profile)
    if limit is None:
        return f"no timeout at {profile}"
    expected = expected_seconds(notebook, profile)
    if expected is None:
        return f"{limit} s (default at {profile}: {notebook} has no measured time)"
    return (f"{limit} s = max({MIN_CELL_TIMEOUT_S} s, {TIMEOUT_FACTOR} x {expected:g} s expected "
            f"for {notebook} at {profile})")
