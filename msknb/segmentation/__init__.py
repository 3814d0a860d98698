"""Notebook 05: Attention-UNet segmentation of the aponeuroses.

Modules: :mod:`~msknb.segmentation.model` (config, the network, checkpoint file, bottleneck
features), :mod:`~msknb.segmentation.losses`, the augmentation of :mod:`msknb.masks.augment`,
:mod:`~msknb.segmentation.training` (``train_segmenter``), :mod:`~msknb.segmentation.metrics`
(Dice, IoU, ...), :mod:`~msknb.segmentation.predict` (at the training size and at any
image's own size), :mod:`~msknb.segmentation.experiments` (the paper's grid),
:mod:`~msknb.segmentation.figures` (tables and plots), :mod:`~msknb.segmentation.shipped`
(the segmenter msknb ships). Command line: :mod:`msknb.cli.segment`.
"""
