"""Notebook 07: how close synthetic images are to real ones, and the report.

One idea per module: :mod:`~msknb.evaluation.stacks` (image stacks, resizing),
:mod:`~msknb.evaluation.intensity` (histograms, skewness, entropy),
:mod:`~msknb.evaluation.similarity` (PSNR/SSIM with real-vs-real baselines),
:mod:`~msknb.evaluation.features` (LPIPS, Inception, Fréchet distance, KID),
:mod:`~msknb.evaluation.fid` (the standard FID: torchmetrics on the FID Inception),
:mod:`~msknb.evaluation.weights` (pretrained weights: fetched once, checksummed, cached),
:mod:`~msknb.evaluation.metric_table` (the one table of 07's metrics, read by the summary, the verdict and the report),
:mod:`~msknb.evaluation.summary` (those metrics as one table), :mod:`~msknb.evaluation.texture` (contrast, sharpness),
:mod:`~msknb.evaluation.memorisation` (incl. the generator's own training images), :mod:`~msknb.evaluation.pca`,
:mod:`~msknb.evaluation.mt_readings` (06's MT-error readings), :mod:`~msknb.evaluation.verdict` (07's verdict),
:mod:`~msknb.evaluation.figures` (every figure), :mod:`~msknb.evaluation.report` (the HTML page),
:mod:`~msknb.evaluation.generator_screen` (a generator on the kit val masks), :mod:`~msknb.evaluation.reference`
(the stored reference experiment). Paired bootstrap CIs and readings: :mod:`msknb.readings`.
"""
