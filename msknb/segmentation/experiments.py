"""The paper's experiment grid (Tables 4 and 6): Real / Gen / Real+Gen and fractions of
the real training split with and without the synthetic set, all evaluated on the same
real test split.

Files (layout in :mod:`msknb.artifacts`): ``segmentation/split.json``,
``segmentation/<experiment>/model.pt``, ``segmentation/<experiment>/pred_masks/<id>.png``.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from msknb import artifacts
from msknb.data import resize_image, resize_mask
from msknb.data.experiment_split import experiment_split, grouped_split
from msknb.errors import ConfigError, DataError
from msknb.paper import PAPER_EXPERIMENTS
from msknb.segmentation.metrics import segmentation_metrics, summarise
from msknb.segmentation.model import full_config, json_config
from msknb.segmentation.predict import predict
from msknb.segmentation.training import train_segmenter

JOINT = "joint generation"
PSEUDO = "pseudo-labels from Real model"


def parse_experiment(name: str) -> dict[str, Any]:
    """``"Real"`` -> real train split; ``"Gen"`` -> synthetic only; ``"Real+Gen"``;
    ``"30%"`` -> 30 % of the real train split (whole subjects/clusters); ``"30%+Gen"``.
    Returns ``{"name", "fraction" (0..1, 0 for Gen), "gen" (bool)}``."""
    text = str(name).strip()
    base, plus, rest = text.partition("+")
    gen = bool(plus)
    if gen and rest.strip().lower() != "gen":
        raise ConfigError(f"unknown experiment {name!r}; use Real, Gen, Real+Gen, N% or N%+Gen", "experiments")
    base = base.strip()
    if base.lower() == "gen" and not gen:
        return {"name": text, "fraction": 0.0, "gen": True}
    if base.lower() == "real":
        return {"name": text, "fraction": 1.0, "gen": gen}
    if base.endswith("%"):
        try:
            pct = float(base[:-1])
        except ValueError:
            pct = -1.0
        if 0 < pct <= 100:
            return {"name": text, "fraction": pct / 100.0, "gen": gen}
    raise ConfigError(f"unknown experiment {name!r}; use Real, Gen, Real+Gen, N% or N%+Gen (0 < N <= 100)",
                      "experiments")


def experiment_list(value: str | Iterable[str] | None, default: Iterable[str] = PAPER_EXPERIMENTS) -> list[str]:
    """Experiment names from a list, a comma-separated string (``"Real,10%,10%+Gen"``) or a
    JSON list string (as ``papermill -p experiments '["Real", "Gen"]'`` passes it);
    ``None`` -> ``default``. Each name is checked with :func:`parse_experiment`."""
    if value is None:
        names = list(default)
    elif isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            try:
                names = [str(v) for v in json.loads(text)]
            except ValueError as e:
                raise ConfigError(f"experiments is not a JSON list: {text!r}", "experiments") from e
        else:
            names = [v.strip() for v in text.split(",") if v.strip()]
    else:
        names = [str(v) for v in value]
    for n in names:
        parse_experiment(n)
    if not names:
        raise ConfigError("no experiments given", "experiments")
    return names


def fraction_subset(train_idx: np.ndarray, subjects: Sequence[str], fraction: float, seed: int = 0) -> np.ndarray:
    """Indices of about ``fraction`` of ``train_idx``, taking whole subjects (or
    near-duplicate clusters) in a seeded random order until the count reaches
    round(fraction * N) (at least one subject). Nested: for one seed, the 10 % subset is
    inside the 30 % one, which is inside the 50 % one. Sorted int64."""
    train_idx = np.asarray(train_idx, dtype=np.int64)
    if fraction >= 1.0 or len(train_idx) == 0:
        return np.sort(train_idx)
    subj = np.asarray([str(subjects[i]) for i in train_idx], dtype=object)
    uniq = sorted(set(subj.tolist()))
    order = np.random.default_rng(seed).permutation(len(uniq))
    target = max(1, int(round(fraction * len(train_idx))))
    picked: list[int] = []
    for k in order:
        picked.extend(train_idx[subj == uniq[k]].tolist())
        if len(picked) >= target:
            break
    return np.array(sorted(picked), dtype=np.int64)


def make_split(ds, fractions=(0.4, 0.2, 0.4), seed: int = 0) -> dict[str, Any]:
    """Grouped train/val/test split of ``ds`` by subject (near-duplicate cluster when
    subjects are unknown), stratified by ``ds.groups``, with leak statistics: see
    :func:`msknb.data.experiment_split.grouped_split`. The grid itself uses
    :func:`~msknb.data.experiment_split.experiment_split` (the kit split for DL_Track ids)."""
    return grouped_split(ds, fractions, seed=seed)


def without_ids(ds, split: dict[str, Any], ids: Iterable[str] | None,
                sides: Sequence[str] = ("train", "val")) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """``split`` with the images whose id is in ``ids`` taken out of ``sides`` (e.g. label
    pairs flagged by :mod:`msknb.data.label_qa`); returns (new split, ``{side: removed ids}``).
    The other keys are kept; ``sizes`` is updated."""
    drop = {str(i) for i in (ids or [])}
    out, removed = dict(split), {}
    for side in sides:
        idx = np.asarray(split[side], dtype=np.int64)
        gone = np.array([str(ds.ids[i]) in drop for i in idx], dtype=bool)
        out[side], removed[side] = idx[~gone], [str(ds.ids[i]) for i in idx[gone]]
    out["sizes"] = {k: int(len(out[k])) for k in ("train", "val", "test")}
    return out, removed


def ids_by_side(ds, split: dict[str, Any], ids: Iterable[str]) -> dict[str, list[str]]:
    """``{"train","val","test"}``: the ids of ``ids`` that fall in each side of ``split``
    (index arrays into ``ds``), in split order; ids outside ``ds`` are ignored."""
    want = {str(i) for i in ids}
    return {side: [str(ds.ids[i]) for i in split[side] if str(ds.ids[i]) in want] for side in ("train", "val", "test")}


def resize_set(images: np.ndarray, masks: np.ndarray | None, size: int) -> tuple[np.ndarray, np.ndarray | None]:
    """Images (N, H, W) and masks resized to ``size``² (bilinear / nearest); as is when already."""
    if images.shape[1:] == (size, size):
        return images, masks
    im = np.stack([resize_image(x, size) for x in images]) if len(images) else np.zeros((0, size, size), np.float32)
    mk = None if masks is None else (np.stack([resize_mask(m, size) for m in masks]) if len(masks)
                                     else np.zeros((0, size, size), np.uint8))
    return im, mk


def _plan(specs: list[dict[str, Any]], synthetic_ds, size: int, gen_refused: str | None = None,
          pretrain: bool = False) -> dict[str, Any]:
    """Which experiments run in which order, and where the synthetic masks come from. With
    ``pretrain`` a listed "Gen" runs before the first "x+Gen", which starts from its model."""
    plan: dict[str, Any] = {"syn_x": None, "syn_m": None, "source": None, "skipped": {}, "notes": []}
    if gen_refused:
        plan["skipped"] = {s["name"]: gen_refused for s in specs if s["gen"]}
        if plan["skipped"]:
            plan["notes"].append(f"skipped {', '.join(plan['skipped'])}: {gen_refused}")
    elif synthetic_ds is not None and len(synthetic_ds) > 0:
        plan["syn_x"], plan["syn_m"] = resize_set(synthetic_ds.images, synthetic_ds.masks, size)
        plan["source"] = JOINT if plan["syn_m"] is not None else PSEUDO
    else:
        plan["skipped"] = {s["name"]: "no synthetic set (run notebook 04 first)" for s in specs if s["gen"]}
        if plan["skipped"]:
            plan["notes"].append(f"no synthetic set: skipped {', '.join(plan['skipped'])}")
    run = [s for s in specs if s["name"] not in plan["skipped"]]
    if plan["source"] == PSEUDO and any(s["gen"] for s in run):
        real_first = [s for s in run if s["name"] == "Real"] or [parse_experiment("Real")]
        run = real_first + [s for s in run if s["name"] != "Real"]
        if not any(s["name"] == "Real" for s in specs):
            plan["notes"].append("'Real' trained as well: its predictions are the synthetic images' pseudo-labels")
    if pretrain:
        gen_only = [s for s in run if s["gen"] and s["fraction"] == 0]
        run = [s for s in run if s not in gen_only]
        first_plus = next((k for k, s in enumerate(run) if s["gen"]), len(run))
        run[first_plus:first_plus] = gen_only
    plan["run"] = run
    return plan


def _write_split(out_dir, real_ds, split, subsets, cfg, seed) -> None:
    ids = lambda idx: [real_ds.ids[i] for i in idx]  # noqa: E731
    artifacts.write_split(out_dir, {
        "seed": seed, "source": split.get("source", ""), "fractions": list(cfg["fractions"]),
        "train": ids(split["train"]), "val": ids(split["val"]),
        "test": ids(split["test"]), "subsets": {k: ids(v) for k, v in subsets.items()},
        "near_copies_test_in_train": split["near_copies_test_in_train"],
        "near_copies_val_in_train": split["near_copies_val_in_train"], "clusters": split["clusters"]})


def _run_one(spec, data, plan, cfg, out_dir, seed, progress) -> tuple[dict[str, Any], Any]:
    """Train and test one experiment; returns (its results row, the trained model)."""
    name, (images, masks, real_ds, split, subsets) = spec["name"], data
    tr, va, te = split["train"], split["val"], split["test"]
    parts_x, parts_m, n_real, n_gen = [], [], 0, 0
    if spec["fraction"] > 0:
        idx = subsets.get(name)
        if idx is None:  # "Real" added for pseudo-labels
            idx = fraction_subset(tr, real_ds.subjects, spec["fraction"], seed)
        parts_x.append(images[idx]); parts_m.append(masks[idx]); n_real = len(idx)
    pretrain = spec["gen"] and spec["fraction"] > 0 and cfg["gen_use"] == "pretrain"
    if spec["gen"]:
        n_gen = len(plan["syn_x"])
        if not pretrain:  # "mix": synthetic pairs join the real ones
            parts_x.append(plan["syn_x"]); parts_m.append(plan["syn_m"])
    init = _gen_model(plan, images[va], masks[va], cfg, seed, progress) if pretrain else None
    res = train_segmenter(np.concatenate(parts_x), np.concatenate(parts_m), images[va], masks[va], cfg,
                          out_path=None if out_dir is None else artifacts.segmenter_path(out_dir, name),
                          seed=seed, progress=progress, desc=name, init_from=init)
    _, pred = predict(res.model, images[te], cfg["threshold"])
    per = segmentation_metrics(pred, masks[te])
    if out_dir is not None:
        for k, i in enumerate(te):
            artifacts.write_prediction(out_dir, name, real_ds.ids[i], pred[k])
    row: dict[str, Any] = summarise(per)
    row.update({"n_train_real": n_real, "n_train_gen": n_gen, "n_test": int(len(te)),
                "best_epoch": res.best_epoch, "best_val_dice": res.best_val_dice,
                "seconds": round(res.seconds, 2), "dir": artifacts.experiment_dir_name(name),
                "gen_use": (cfg["gen_use"] if spec["fraction"] > 0 else "only") if spec["gen"] else "none",
                "test_dice_per_image": [round(d["dice"], 4) for d in per], "history": res.history})
    return row, res.model


def _gen_model(plan, val_x, val_m, cfg, seed, progress):
    """The segmenter trained on the synthetic set only (``gen_use="pretrain"``: the "x+Gen"
    experiments fine-tune it on their real part): the grid's "Gen" model when it ran, else
    trained here once (same config and seed) and kept in ``plan``."""
    if plan.get("gen_model") is None:
        plan["gen_model"] = train_segmenter(plan["syn_x"], plan["syn_m"], val_x, val_m, cfg, seed=seed,
                                            progress=progress, desc="Gen").model
    return plan["gen_model"]


def run_experiment_grid(real_ds, synthetic_ds=None, experiments: Iterable[str] = PAPER_EXPERIMENTS,
                        config: dict[str, Any] | None = None, out_dir: str | Path | None = None,
                        seed: int = 0, progress: bool = True, *, split: dict[str, Any] | None = None,
                        drop_ids: Iterable[str] | None = None, gen_refused: str | None = None) -> dict[str, Any]:
    """Train one Attention-UNet per experiment and evaluate all on the same real test split.

    ``real_ds``: ``UltrasoundSet`` with masks; ``synthetic_ds``: synthetic set or None.
    ``split``: the train/val/test split (index arrays into ``real_ds``, as
    :func:`~msknb.data.experiment_split.experiment_split` returns; default: that function,
    i.e. the kit split for DL_Track ids, else a grouped 40/20/40 split, seeded).
    ``drop_ids``: ids taken out of train and val (e.g. flagged label pairs); the test split
    is kept whole (report with and without them: :mod:`msknb.segmentation.grid_readings`).
    ``gen_refused``: a reason to skip every Gen experiment (e.g. the generator saw test images).
    "Gen" trains on the synthetic set only, "x%" on that fraction of the real train split
    (whole subjects), "+Gen" adds the synthetic set: ``config["gen_use"]`` "mix" (the paper:
    synthetic pairs join the real ones in one training set) or "pretrain" (the "Gen" model,
    trained on the synthetic set only, is fine-tuned on the real part with the same budget). Synthetic masks: the set's own
    masks (joint image+mask generation) when it has them, else pseudo-labels predicted by
    the "Real" model (trained first, even when not listed). Without a synthetic set the
    Gen experiments are skipped (listed in ``"skipped"``).

    Writes (when ``out_dir``) the split, each experiment's model and its test predictions
    (binary 0/255 PNG at the training resolution) through :mod:`msknb.artifacts`. Returns a
    JSON-friendly dict: ``experiments`` (one row per experiment, with ``test_dice_per_image``
    in the order of ``test_ids``), ``near_copies_test_in_train``, ``synthetic_mask_source``,
    ``split`` (sizes, ``source``, ``dropped_from_training``), ``test_ids``, ``skipped``,
    ``notes``, ``config``.
    """
    cfg = full_config(config)
    if real_ds.masks is None:
        raise DataError("the real data set has no masks; segmentation needs expert masks", real_ds.root)
    specs = [parse_experiment(e) for e in experiments]
    if not specs:
        raise ConfigError("no experiments given", "experiments")
    size = int(cfg["image_size"])
    images, masks = resize_set(real_ds.images, real_ds.masks, size)
    split = experiment_split(real_ds, seed=seed, fractions=cfg["fractions"]) if split is None else split
    split, dropped = without_ids(real_ds, split, drop_ids)
    if len(split["test"]) == 0 or len(split["train"]) == 0:
        raise DataError(f"too few images ({len(real_ds)}) for a train/val/test split", real_ds.root)
    subsets = {s["name"]: fraction_subset(split["train"], real_ds.subjects, s["fraction"], seed)
               for s in specs if s["fraction"] > 0}
    plan = _plan(specs, synthetic_ds, size, gen_refused, pretrain=cfg["gen_use"] == "pretrain")
    if out_dir is not None:
        _write_split(out_dir, real_ds, split, subsets, cfg, seed)
    data = (images, masks, real_ds, split, subsets)
    results: dict[str, Any] = {}
    for spec in plan["run"]:
        results[spec["name"]], model = _run_one(spec, data, plan, cfg, out_dir, seed, progress)
        if spec["gen"] and spec["fraction"] == 0:
            plan["gen_model"] = model  # the starting point of the "x+Gen" fine-tunes (gen_use="pretrain")
        if spec["name"] == "Real" and plan["source"] == PSEUDO:
            _, plan["syn_m"] = predict(model, plan["syn_x"], cfg["threshold"])
    out = _summary(results, split, subsets, plan, real_ds, cfg, seed)
    out["split"]["dropped_from_training"] = dropped
    return out


def _summary(results, split, subsets, plan, real_ds, cfg, seed) -> dict[str, Any]:
    return {"experiments": results, "near_copies_test_in_train": int(split["near_copies_test_in_train"]),
            "near_copies_val_in_train": int(split["near_copies_val_in_train"]),
            "synthetic_mask_source": plan["source"],
            "n_synthetic": 0 if plan["syn_x"] is None else int(len(plan["syn_x"])),
            "split": {**split["sizes"], "seed": seed, "source": split.get("source", ""),
                      "by": "subject / near-duplicate cluster",
                      "clusters": split["clusters"], "subsets": {k: int(len(v)) for k, v in subsets.items()}},
            "test_ids": [real_ds.ids[i] for i in split["test"]], "skipped": plan["skipped"],
            "notes": plan["notes"], "config": json_config(cfg)}
