"""Training the Attention-UNet segmenter: Adam, step-wise learning-rate decay
(``StepLR``: x``lr_gamma`` every ``lr_step`` epochs), batch 8, augmentation
(:mod:`msknb.masks.augment`), model selection on the validation Dice (the best
epoch's weights are kept), an optional time budget. Losses: :mod:`msknb.segmentation.losses`.
"""
from __future__ import annotations

import copy
import dataclasses
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from tqdm.auto import tqdm

from msknb.errors import ConfigError, DataError, TrainingError
from msknb.masks.augment import augment_batch
from msknb.segmentation.losses import make_loss
from msknb.segmentation.metrics import mean_dice
from msknb.segmentation.model import build_segmenter, full_config, load_segmenter, save_segmenter
from msknb.segmentation.predict import predict
from msknb.segmentation.training_state import load_state, restore, run_signature, save_state


@dataclasses.dataclass
class SegTrainResult:
    """Outcome of :func:`train_segmenter`: the model holds the best epoch's weights."""
    model: torch.nn.Module
    history: list[dict[str, float]]
    best_epoch: int
    best_val_dice: float
    seconds: float
    config: dict[str, Any] = dataclasses.field(default_factory=dict)


def check_pairs(images, masks, what: str) -> tuple[np.ndarray, np.ndarray]:
    """``images`` float32 (N, H, W) and ``masks`` as float32 {0, 1} of the same shape."""
    im = np.asarray(images, dtype=np.float32)
    if masks is None:
        raise DataError(f"{what} images have no masks", what)
    mk = (np.asarray(masks) > 0).astype(np.float32)
    if im.ndim != 3 or im.shape != mk.shape:
        raise DataError(f"{what} images {im.shape} and masks {mk.shape} must both be (N, H, W)", what)
    return im, mk


def epoch_samples(n: int, cfg: dict[str, Any]) -> int:
    """Training samples drawn per epoch from ``n`` images: ``samples_per_epoch`` when set
    (the same number of updates for every training-set size), else ``max(n, min_samples_per_epoch)``."""
    if cfg.get("samples_per_epoch"):
        return int(cfg["samples_per_epoch"])
    return max(n, int(cfg.get("min_samples_per_epoch") or 0))


def _cpu_before(history: list[dict], cfg: dict) -> float:
    """CPU seconds (all threads) spent by the epochs in ``history``; where an epoch predates the
    record, its wall seconds times the thread count stand in (an upper bound)."""
    if not history:
        return 0.0
    last = history[-1]
    if "cpu_seconds" in last:
        return float(last["cpu_seconds"])
    return float(last["seconds"]) * int(cfg.get("threads") or torch.get_num_threads())


def _train_epoch(model, opt, loss_fn: Callable, x_all: torch.Tensor, m_all: torch.Tensor, cfg: dict[str, Any],
                 gen: torch.Generator, epoch: int) -> float:
    """One epoch (:func:`epoch_samples` samples, reshuffled each pass); mean loss."""
    model.train()
    n, bs = len(x_all), int(cfg["batch_size"])
    per_epoch = epoch_samples(n, cfg)
    order = torch.cat([torch.randperm(n, generator=gen) for _ in range(-(-per_epoch // n))])[:per_epoch]
    losses = []
    for s in range(0, per_epoch, bs):
        idx = order[s:s + bs]
        xb, mb = x_all[idx], m_all[idx]
        if cfg["augment"]:
            xb, mb = augment_batch(xb, mb, gen, cfg["augment_params"])
        loss = loss_fn(model(2.0 * xb - 1.0), mb)
        if not torch.isfinite(loss):
            raise TrainingError(f"loss became {loss.item()} at epoch {epoch}; lower lr", "lr")
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        losses.append(float(loss.item()))
    return float(np.mean(losses))


def _init_name(init_from) -> str | None:
    """What a checkpoint records as its starting point: a file name, a model's ``desc``, or None."""
    if init_from is None or isinstance(init_from, (str, Path)):
        return None if init_from is None else Path(init_from).name
    return str(getattr(init_from, "msknb_desc", "a model in memory"))


def _checked_inputs(train_images, train_masks, val_images, val_masks, cfg):
    xi, xm = check_pairs(train_images, train_masks, "train")
    if len(xi) == 0:
        raise DataError("the training set is empty", "train")
    val = None
    if val_images is not None and len(val_images) > 0:
        val = check_pairs(val_images, val_masks, "val")
    div = int(np.prod(cfg["strides"]))
    if xi.shape[1] % div or xi.shape[2] % div:
        raise ConfigError(f"image size {xi.shape[1:]} must be divisible by {div} (product of strides)", "image_size")
    return xi, xm, val


def train_segmenter(train_images: np.ndarray, train_masks: np.ndarray, val_images: np.ndarray | None,
                    val_masks: np.ndarray | None, config: dict[str, Any] | None = None,
                    out_path: str | Path | None = None, seed: int = 0, progress: bool = True,
                    desc: str = "segmenter", init_from: str | Path | torch.nn.Module | None = None,
                    state_path: str | Path | None = None) -> SegTrainResult:
    """Train an Attention-UNet on ``train_images`` (N, H, W) in [0, 1] and ``train_masks``
    (N, H, W) {0, 1}; keep the weights of the epoch with the best mean validation Dice
    (last epoch when there is no validation set).

    ``config`` keys (see ``DEFAULT_CONFIG``): channels, strides, epochs, batch_size, lr,
    lr_step, lr_gamma, loss, augment, augment_params, min_samples_per_epoch (None = one
    pass over the training set per epoch, as in the paper; an int K = each epoch draws
    max(N, K) samples, reshuffling after each pass, so that with few epochs a small
    training set still gets enough updates), samples_per_epoch (None, or exactly K samples
    per epoch whatever N: every experiment of a grid gets the same number of updates),
    threshold, max_seconds (time budget of this call: stop after the epoch that passes it),
    patience (stop when the validation Dice has not improved for this many epochs; None = off).
    Deterministic on CPU for a given ``seed``. Writes a checkpoint to ``out_path`` if given.
    ``init_from``: a segmenter checkpoint (path) or model of the same architecture to
    continue from (fine-tuning; the model itself is not changed); its own validation Dice is
    epoch 0, so a run that never beats it returns it unchanged. ``state_path``: a file the
    run rewrites after every epoch and continues from when called again
    (:mod:`msknb.segmentation.training_state`); a finished run returns at once.
    """
    cfg = full_config(config)
    xi, xm, val = _checked_inputs(train_images, train_masks, val_images, val_masks, cfg)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = build_segmenter(cfg["channels"], cfg["strides"])
    if init_from is not None:
        start = init_from if isinstance(init_from, torch.nn.Module) else load_segmenter(init_from)
        model.load_state_dict(start.state_dict())
    opt = torch.optim.Adam(model.parameters(), lr=float(cfg["lr"]))
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=int(cfg["lr_step"]), gamma=float(cfg["lr_gamma"]))
    sig = run_signature(cfg, seed, len(xi), 0 if val is None else len(val[0]), _init_name(init_from))
    state = load_state(state_path, sig) if state_path is not None else None
    if state is not None:
        best, history = restore(state, model, opt, sched, gen)
    else:
        history, best = [], (-1.0, 0, copy.deepcopy(model.state_dict()))
        if init_from is not None and val:
            best = (mean_dice(predict(model, val[0], cfg["threshold"])[1], val[1]), 0, best[2])
    run = (model, opt, sched, gen, make_loss(cfg["loss"]))
    t0 = time.perf_counter()
    best = _epochs(run, cfg, xi, xm, val, best, history, desc, progress, (state_path, sig))
    model.load_state_dict(best[2])
    model.eval()
    model.msknb_desc = desc  # what a fine-tune from this model records as its init_from
    seconds = time.perf_counter() - t0
    best_val = best[0] if val else float("nan")
    if out_path is not None:
        save_segmenter(model, cfg, out_path, meta={"best_epoch": best[1], "best_val_dice": best_val,
                                                   "seconds": seconds, "seed": seed, "n_train": len(xi),
                                                   "history": history,
                                                   "init_from": _init_name(init_from)})
    return SegTrainResult(model, history, best[1], best_val, seconds, cfg)


def _epochs(run, cfg, xi, xm, val, best, history, desc, progress, saving) -> tuple[float, int, dict]:
    """The visible loop: train an epoch, score val, keep the best, write the state; returns
    the best ``(score, epoch, weights)``. ``history`` grows in place."""
    model, opt, sched, gen, loss_fn = run
    state_path, sig = saving
    x_all, m_all = torch.from_numpy(xi)[:, None], torch.from_numpy(xm)[:, None]
    t0, c0 = time.perf_counter(), time.process_time()
    done = len(history)
    if cfg.get("patience") and val and done and done - best[1] >= int(cfg["patience"]):
        return best  # stopped early in an earlier call
    bar = tqdm(range(done + 1, int(cfg["epochs"]) + 1), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        loss = _train_epoch(model, opt, loss_fn, x_all, m_all, cfg, gen, epoch)
        lr = opt.param_groups[0]["lr"]
        sched.step()
        v = mean_dice(predict(model, val[0], cfg["threshold"])[1], val[1]) if val else float("nan")
        score = v if val else float(epoch)
        if score > best[0]:
            best = (score, epoch, copy.deepcopy(model.state_dict()))
        prev = history[-1]["seconds"] if history else 0.0
        history.append({"epoch": epoch, "loss": loss, "val_dice": v, "lr": lr,
                        "seconds": prev + time.perf_counter() - t0,
                        "cpu_seconds": _cpu_before(history, cfg) + time.process_time() - c0})
        t0, c0 = time.perf_counter(), time.process_time()
        if state_path is not None:
            save_state(state_path, sig, model, opt, sched, gen, best, history)
        bar.set_postfix(loss=f"{loss:.3f}", val_dice=f"{v:.3f}")
        if cfg.get("patience") and val and epoch - best[1] >= int(cfg["patience"]):
            break  # val Dice stopped improving: keep the best epoch
        if cfg.get("max_seconds") and history[-1]["seconds"] - (history[done - 1]["seconds"] if done else 0.0) \
                > float(cfg["max_seconds"]):
            break  # time budget of this call spent: keep the best epoch so far
    return best
