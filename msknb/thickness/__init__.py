"""Notebook 06: muscle thickness (MT) from aponeurosis masks, and its agreement statistics.

One entry point, :func:`msknb.thickness.methods.measure_thickness` (method by name).
Modules, in the order a mask goes through them (mask files: :mod:`msknb.data.mask_files`;
the mask as a probability map and its bands: :mod:`msknb.masks`): :mod:`~msknb.thickness.pairing`
(which two are the muscle's aponeuroses), :mod:`~msknb.thickness.edges` (their inner edges),
:mod:`~msknb.thickness.aponeuroses` (the three together), the methods
:mod:`~msknb.thickness.chords` (the paper's) and :mod:`~msknb.thickness.dltrack`
(DL_Track_US's), :mod:`~msknb.thickness.quality` (ok / doubtful flags),
:mod:`~msknb.thickness.result` (``ThicknessResult``). Around them:
:mod:`~msknb.thickness.batch` (many masks), :mod:`~msknb.thickness.experts` (expert vs
predicted, notebook 06), :mod:`~msknb.thickness.phantom_check`,
:mod:`~msknb.thickness.agreement`, :mod:`~msknb.thickness.scans` and
:mod:`~msknb.thickness.pipeline` (``msknb measure``), :mod:`~msknb.thickness.figures`.
"""
