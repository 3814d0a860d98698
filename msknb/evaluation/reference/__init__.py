"""The reference experiment: the paper's segmentation grid (Table 6) at a scale that can
answer its question, run once for hours on a CPU and stored.

:mod:`.plan` lists the cells (experiment x subset draw x seed), :mod:`.cell` trains and
scores one cell (early stopping on the kit val ids, per-test-image Dice and MT),
:mod:`.run` runs the missing cells and writes each as it finishes (resumable),
:mod:`.store` is the folder's one reader and writer, :mod:`.summary` turns the cells into
the numbers the notebooks and the report show.
"""
