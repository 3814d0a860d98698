"""Lessons a practitioner needs (issue 15, item 4), each measured on the data:

* :mod:`msknb.ddpm.lessons.measures` -- the numbers: image sharpness (mean gradient
  magnitude), DDIM steps vs sharpness (04), raw vs EMA weights of one training checkpoint
  (03), the memorisation-vs-training-set-size benchmark's JSON (07), each with a sentence of
  conclusion computed from those numbers;
* :mod:`msknb.ddpm.lessons.objectives` -- the training-objective screening's JSON (03:
  ε vs Min-SNR-γ vs v + zero terminal SNR at the same budget) and its conclusion;
* :mod:`msknb.ddpm.lessons.figures` -- their figures (matplotlib).

The terminal-SNR lesson lives in notebooks 01 and 04 (``msknb.ddpm.figures``).
"""
