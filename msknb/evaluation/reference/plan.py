"""The cells of the reference experiment: which experiment, which subset draw, which seed.

Every cell trains a segmenter under one rule (:data:`TRAINING_RULE`: early stopping on the
kit val ids) at :data:`RESOLUTION` px on the kit's train ids (or a nested, cluster-grouped
fraction of them) and is scored on the kit's test ids. The order puts first what answers
the first question (is there room: Real vs 10 %), then the seeds, then the rest.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: training size of every cell (px)
RESOLUTION = 128
#: fractions of the kit's train ids (nested, grouped by near-duplicate cluster)
FRACTIONS = (0.1, 0.3, 0.5, 1.0)
#: subset draws per fraction (the 10 % subset is drawn twice; 100 % is one draw)
DRAWS = {0.1: 2, 0.3: 1, 0.5: 1, 1.0: 1}
SEEDS = (0, 1, 2)
#: how every cell is trained: Adam, StepLR, generalised Dice + BCE, the shipped augmentation,
#: at least 256 samples per epoch (a 35-image subset still gets 32 updates an epoch), stop when
#: the val Dice has not improved for ``patience`` epochs, at most ``epochs``
TRAINING_RULE: dict[str, Any] = {
    "image_size": RESOLUTION, "channels": (16, 32, 64, 128), "batch_size": 8, "lr": 3e-3, "lr_step": 20,
    "lr_gamma": 0.5, "loss": "generalized_dice_bce", "augment": True, "min_samples_per_epoch": 256,
    "epochs": 80, "patience": 12, "threshold": 0.5, "crop_fov": True,
}


@dataclass(frozen=True)
class Cell:
    """One trained model: ``experiment`` as in the paper ("Real", "10%", "10%+Gen", ...),
    ``fraction`` of the kit train ids (0..1), ``draw`` (which subset of that fraction),
    ``seed`` (training seed), ``gen_use`` (None, "mix", "pretrain" or "control"), ``labels``:
    what the synthetic set's generator learned from, "all" train pairs (the paper's setting)
    or only the "subset" the cell trains on (the scarce-label setting, :mod:`.scarce`)."""
    experiment: str
    fraction: float
    draw: int
    seed: int
    gen_use: str | None = None
    labels: str = "all"

    @property
    def name(self) -> str:
        """File-safe and unique: ``10pct-d0-s1`` or ``10pct+gen-mix-d0-s1``."""
        base = "real" if self.fraction >= 1.0 else f"{round(self.fraction * 100)}pct"
        gen = "gen" if self.labels == "all" else "scarcegen"
        if self.synthetic_only:
            base = gen
        elif self.gen_use:
            base += f"+{gen}-{self.gen_use}"
        return f"{base}-d{self.draw}-s{self.seed}"

    @property
    def synthetic_only(self) -> bool:
        """Trained on synthetic images alone ("Gen")."""
        return self.experiment.startswith("Gen")

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "name": self.name}


def fraction_name(fraction: float) -> str:
    """The paper's name of a real-data experiment: "Real" or "10%"."""
    return "Real" if fraction >= 1.0 else f"{round(fraction * 100)}%"


def real_cells(seeds=SEEDS, fractions=FRACTIONS) -> list[Cell]:
    """Real-data cells, ordered: seed 0 of Real and both 10 % draws first (the room), then
    the other seeds, then the 30 % and 50 % cells."""
    cells = []
    for seed in seeds:
        for f in sorted(fractions, key=lambda f: (f not in (0.1, 1.0), -f)):
            cells += [Cell(fraction_name(f), f, d, seed) for d in range(DRAWS.get(f, 1))]
    return sorted(cells, key=lambda c: (c.fraction not in (0.1, 1.0), c.seed))


def gen_cells(seeds=SEEDS, fractions=(0.1, 1.0)) -> list[Cell]:
    """Cells that use the synthetic set, and the budget-matched control of pretrain, ordered
    cheapest answer first per seed: the 10 % controls (a fine-tune), "Gen", the 10 % pretrain
    and mix cells, then "Real+Gen" (mix only: its pretrain and "Real twice" would add about 1.5
    CPU-hours for each seed, past the experiment's 10 CPU-hour budget)."""
    cells = []
    for seed in seeds:
        for f in sorted(fractions):
            draws = range(DRAWS.get(f, 1))
            name = f"{fraction_name(f)}+Gen"
            if f == min(fractions):
                cells += [Cell(name, f, d, seed, "control") for d in draws]
                cells.append(Cell("Gen", 0.0, 0, seed))
                cells += [Cell(name, f, d, seed, use) for use in ("pretrain", "mix") for d in draws]
            else:
                cells += [Cell(name, f, d, seed, "mix") for d in draws]
    return cells


#: the paper's names of the scarce-label experiments
SCARCE_NAMES = {"Gen": "Gen, 10 % labels", "10%+Gen": "10%+Gen, 10 % labels"}


def scarce_cells(seeds=(0,), draws=(0,)) -> list[Cell]:
    """The scarce-label setting for the 10 % subsets ``draws``: per seed and draw the mix
    cell, the Gen model of that subset's synthetic set, and the pretrain cell from it."""
    out = []
    for seed in seeds:
        for d in draws:
            out += [Cell(SCARCE_NAMES["10%+Gen"], 0.1, d, seed, "mix", "subset"),
                    Cell(SCARCE_NAMES["Gen"], 0.0, d, seed, None, "subset"),
                    Cell(SCARCE_NAMES["10%+Gen"], 0.1, d, seed, "pretrain", "subset")]
    return out


def keep_fractions(cells: list[Cell], fractions) -> list[Cell]:
    """The cells of ``cells`` that train on one of ``fractions`` of the train ids; the
    synthetic-only cells come along when a fraction below 100 % is kept (its pretrain cells
    start from them)."""
    return [c for c in cells if c.fraction in fractions or (c.fraction == 0.0 and min(fractions) < 1)]


def all_cells(seeds=SEEDS) -> list[Cell]:
    """Every cell: per seed the real 10 % and 100 % cells, then that seed's synthetic-data
    cells; the 30 % and 50 % cells last."""
    real = real_cells(seeds)
    first = [c for c in real if c.fraction in (0.1, 1.0)]
    rest = [c for c in real if c.fraction not in (0.1, 1.0)]
    return [c for s in seeds for c in [*(r for r in first if r.seed == s), *gen_cells((s,))]] + rest


def starts_from(cell: Cell) -> Cell | None:
    """The cell whose model ``cell`` continues from: the seed's "Gen" model for pretrain,
    the real model of the same subset and seed for the control; None otherwise."""
    if cell.gen_use == "pretrain" and cell.labels == "subset":
        return Cell(SCARCE_NAMES["Gen"], 0.0, cell.draw, cell.seed, None, "subset")
    if cell.gen_use == "pretrain":
        return Cell("Gen", 0.0, 0, cell.seed)
    if cell.gen_use == "control":
        return Cell(fraction_name(cell.fraction), cell.fraction, cell.draw, cell.seed)
    return None


def needs_synthetic(cell: Cell) -> bool:
    """Whether the cell trains on the synthetic set itself ("Gen" and mix cells)."""
    return cell.synthetic_only or cell.gen_use == "mix"


def uses_generator(cell: Cell) -> bool:
    """Whether the cell's model depends on the generator: it trains on the synthetic set or
    starts from a model that did (pretrain); the cells a redrawn set replaces."""
    return needs_synthetic(cell) or cell.gen_use == "pretrain"
