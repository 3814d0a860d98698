"""Notebooks 01-04: the DDPM stage, one idea per module.

* maths: :mod:`~msknb.ddpm.schedules` (noise schedules, zero terminal SNR),
  :mod:`~msknb.ddpm.diffusion` (q, p, DDPM/DDIM steps and loops, prediction objectives
  eps/x0/v, Min-SNR weights, the loss),
  :mod:`~msknb.ddpm.unet` (the annotated-diffusion U-Net), :mod:`~msknb.ddpm.fold` (256 px at a 64 px
  network's cost);
* training: :mod:`~msknb.ddpm.config` (TrainConfig, build_model), :mod:`~msknb.ddpm.training_data`,
  :mod:`~msknb.ddpm.train` (train_ddpm), :mod:`~msknb.ddpm.runtime` (DDP, AMP, RNG),
  :mod:`~msknb.ddpm.ema`, :mod:`~msknb.ddpm.checkpoints`, :mod:`~msknb.ddpm.groups` (one model per muscle);
* sampling: :mod:`~msknb.ddpm.sample`, :mod:`~msknb.ddpm.autoguidance` (guiding with a weaker
  model), :mod:`~msknb.ddpm.export` (synthetic set, PNG/DICOM),
  :mod:`~msknb.ddpm.synthetic_set` (04's set and its generator record), :mod:`~msknb.ddpm.quality`
  (intensity statistics);
* provenance: :mod:`~msknb.ddpm.provenance` (the real ids a generator was trained on, in its checkpoint);
* mask-conditioned generation (``TrainConfig.condition = 'mask'``): the condition is appended
  to x_t in one place, ``diffusion.with_condition`` (training and sampling);
  :mod:`~msknb.ddpm.mask_prior` (parametric two-band aponeurosis masks fitted to real ones),
  :mod:`~msknb.ddpm.condition_masks` (augmented real masks, mask folders);
* display: :mod:`~msknb.ddpm.figures`, :mod:`~msknb.ddpm.widgets`.
Command line: ``msknb/cli/train.py``, ``msknb/cli/sample.py``.
"""
