"""Exercises with self-checks for notebooks 00–07.

A notebook's exercise cell (tagged ``exercise``) has the student write one function and call
``ex.check_<name>(function)``; the solution cell below it (tagged ``solution``, collapsed in
JupyterLab) defines the function correctly and calls the same check. A check never raises:
see :mod:`msknb.exercises.check`. One module per notebook.
"""
from msknb.exercises.check import CheckResult
from msknb.exercises.data import check_choose_split, check_leak_count
from msknb.exercises.evaluation import check_fid_and_n, check_frechet_gaussian
from msknb.exercises.forward import (
    check_alphas_cumprod_and_snr,
    check_closed_form_sample,
    check_forward_step,
    check_residual_signal,
)
from msknb.exercises.reverse import check_ddpm_step, check_posterior_mean_variance, check_predict_x0
from msknb.exercises.sampling import check_ddim_sample, check_ddim_step, check_ddim_timesteps
from msknb.exercises.segmentation import check_choose_metric, check_overlap_metrics
from msknb.exercises.thickness import check_ccc, check_limits_of_agreement, check_typical_error
from msknb.exercises.training import check_diffusion_loss, check_eps_x0_from_v, toy_network

#: exercise name → notebook it belongs to (the README and the tests count them)
EXERCISES = {
    "leak_count": "00", "choose_split": "00",
    "forward_step": "01", "alphas_cumprod_and_snr": "01", "closed_form_sample": "01", "residual_signal": "01",
    "posterior_mean_variance": "02", "predict_x0": "02", "ddpm_step": "02",
    "diffusion_loss": "03", "eps_x0_from_v": "03",
    "ddim_step": "04", "ddim_timesteps": "04", "ddim_sample": "04",
    "overlap_metrics": "05", "choose_metric": "05",
    "limits_of_agreement": "06", "ccc": "06", "typical_error": "06",
    "frechet_gaussian": "07", "fid_and_n": "07",
}

__all__ = ["CheckResult", "EXERCISES", "toy_network"] + [f"check_{name}" for name in EXERCISES]
