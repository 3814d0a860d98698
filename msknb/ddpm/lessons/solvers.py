"""First- vs second-order samplers as a lab (notebook 04): how close does each get to the end
of the reverse ODE for the same number of network calls?

Deterministic DDIM (eta = 0) and DPM-Solver++(2M) both solve the same ODE from x_T to x_0; a
sampler with k steps only approximates its end. Started from the **same noise**, a sampler
with very many steps is (nearly) that end; the distance of a k-step image to it is that
sampler's error. DDIM assumes the clean-image estimate x̂_0 constant over a step (first
order), DPM-Solver++(2M) extrapolates it from the last two steps (second order,
:mod:`msknb.ddpm.dpm_solver`), so at equal k one expects a smaller error from the second. The
cell tests that expectation on the notebook's model, image by image.

* :func:`solver_errors` -- per-image RMSE (grey levels) of each sampler and k to the reference;
* :func:`solver_reading` -- a sentence computed from them (means, spread, paired per image).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from msknb.ddpm.sample import sample_images

#: the samplers of the lab, in words
SOLVER_NAMES = {"ddim": "DDIM", "dpm++2m": "DPM-Solver++(2M)"}


def solver_errors(model, schedule, n: int, steps: Sequence[int] = (5, 10, 25), reference_steps: int = 200,
                  seed: int = 0, batch_size: int = 8) -> dict[str, Any]:
    """Draw ``n`` images with DDIM and DPM-Solver++(2M) at each of ``steps`` and with DDIM at
    ``reference_steps`` (the reference end of the ODE), all from the same seeded noise at
    t = T - 1 (trailing spacing), no x̂_0 clipping (clipping leaves the ODE). Returns ``{"steps", "reference_steps", "n",
    "rmse": {method: {k: [per-image RMSE in grey levels [0, 1]]}}, "images": {name: (n, C, H, W)}}``."""
    kw = dict(seed=seed, batch_size=batch_size, progress=False, clip_x0=False, spacing="trailing")
    ref = sample_images(model, schedule, n, method="ddim", steps=int(reference_steps), **kw)
    rmse: dict[str, dict[int, list[float]]] = {}
    images = {f"ddim_{reference_steps}": ref}
    for method in SOLVER_NAMES:
        rmse[method] = {}
        for k in steps:
            x = sample_images(model, schedule, n, method=method, steps=int(k), **kw)
            images[f"{method}_{k}"] = x
            err = np.sqrt(((x - ref) ** 2).reshape(len(x), -1).mean(axis=1))
            rmse[method][int(k)] = [float(e) for e in err]
    return {"steps": [int(k) for k in steps], "reference_steps": int(reference_steps), "n": int(n),
            "rmse": rmse, "images": images}


def solver_reading(errors: dict[str, Any]) -> str:
    """Sentences computed from :func:`solver_errors`: at each k, mean RMSE of both samplers and
    on how many images the second-order one is closer (one image is one example)."""
    n, ref = errors["n"], errors["reference_steps"]
    parts = []
    for k in errors["steps"]:
        a, b = np.asarray(errors["rmse"]["ddim"][k]), np.asarray(errors["rmse"]["dpm++2m"][k])
        parts.append(f"{k} steps: DDIM {a.mean():.4f}, DPM-Solver++(2M) {b.mean():.4f} "
                     f"(closer on {int((b < a).sum())} of {n} image(s))")
    scope = "one example, not a trend" if n < 2 else f"over {n} images from one seed"
    return (f"Mean distance (RMSE, grey levels) to DDIM-{ref} from the same noise, {scope}: " + "; ".join(parts)
            + ". Fewer calls for the same error is what a higher-order solver buys; whether the images look "
              "more real is a separate question (notebook 07 screens the 256 px generator with both).")
