"""Aponeurosis-mask primitives every stage uses (below the stages: they import nothing of
data, ddpm, segmentation, thickness or evaluation): :mod:`~msknb.masks.probability` (a mask
as a probability map), :mod:`~msknb.masks.bands` (the bands in a mask),
:mod:`~msknb.masks.augment` (geometric augmentation of image + mask pairs).
"""
