"""Tests of msknb.segmentation (model, losses, metrics, training, predict, experiments, augment) and
`msknb segment`: tiny networks, a few 32 px images, seconds."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from msknb import artifacts
from msknb.data import UltrasoundSet
from msknb.data.splits import near_duplicate_clusters
from msknb.errors import CheckpointError, ConfigError
from msknb.profiles import settings
from msknb.segmentation import experiments, metrics, model, predict, training
from msknb.masks.augment import augment_batch, augment_pair

TINY = {"image_size": 32, "channels": (4, 8), "epochs": 1, "batch_size": 4, "lr": 3e-3,
        "loss": "generalized_dice_bce", "augment": True}


def _toy_set(n: int = 12, size: int = 32, seed: int = 0, dup_every: int = 0):
    """UltrasoundSet of noisy images with two bright horizontal bands (= mask)."""
    rng = np.random.default_rng(seed)
    imgs, msks = [], []
    for i in range(n):
        m = np.zeros((size, size), np.uint8)
        a, b = rng.integers(3, size // 2 - 3), rng.integers(size // 2 + 2, size - 4)
        m[a:a + 2] = 1
        m[b:b + 3] = 1
        img = 0.25 * rng.random((size, size)) + 0.6 * m + 0.1 * np.linspace(0, 1, size)[None]
        if dup_every and i % dup_every == 1:  # near copy of the previous image
            img, m = imgs[-1] + 0.01 * rng.random((size, size)), msks[-1].copy()
        imgs.append(np.clip(img, 0, 1).astype(np.float32))
        msks.append(m)
    images = np.stack(imgs)
    labels = near_duplicate_clusters(images, size=size)
    return UltrasoundSet(images=images, masks=np.stack(msks), ids=[f"toy_{i:03d}" for i in range(n)],
                         paths=[Path(f"toy_{i:03d}.png") for i in range(n)], spacing_mm=np.full((n, 2), np.nan),
                         groups=["all"] * n, subjects=[f"dup-{k:04d}" for k in labels],
                         boxes=None, original_shapes=None, root=None)


def _write_png(path: Path, arr: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


# ------------------------------------------------------------------- model and features
def test_forward_backward_and_bottleneck():
    torch.manual_seed(0)
    net = model.build_segmenter((4, 8, 16))
    x = torch.rand(2, 1, 32, 32) * 2 - 1
    y = net(x)
    assert y.shape == (2, 1, 32, 32)
    y.mean().backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)
    feats = model.bottleneck_features(net, np.random.rand(3, 32, 32).astype(np.float32), batch_size=2)
    assert feats.shape == (3, 16) and feats.dtype == np.float32 and np.all(np.isfinite(feats))


# --------------------------------------------------------------------------- augmentation
def test_augmentation_keeps_image_and_mask_aligned_and_is_seeded():
    img = torch.zeros(1, 32, 32)
    img[0, 8:16, 10:20] = 1.0
    mask = (img > 0.5).float()
    no_erase = {"erase_p": 0.0}
    for seed in range(8):
        a, m = augment_pair(img, mask, torch.Generator().manual_seed(seed), no_erase)
        assert set(torch.unique(m).tolist()) <= {0.0, 1.0}  # nearest: still binary
        inside = a[m > 0.5]
        outside = a[m < 0.5]
        assert inside.numel() > 0 and inside.mean() > 0.8 and outside.mean() < 0.1  # moved together
    b1 = augment_batch(img[None].repeat(3, 1, 1, 1), mask[None].repeat(3, 1, 1, 1), torch.Generator().manual_seed(5))
    b2 = augment_batch(img[None].repeat(3, 1, 1, 1), mask[None].repeat(3, 1, 1, 1), torch.Generator().manual_seed(5))
    assert torch.equal(b1[0], b2[0]) and torch.equal(b1[1], b2[1])
    # erasing touches the image only
    flat = torch.full((1, 32, 32), 0.5)
    a, m = augment_pair(flat, mask, torch.Generator().manual_seed(0),
                        {"erase_p": 1.0, "rotation_deg": 0.0, "scale": (1.0, 1.0), "vflip_p": 0.0})
    assert (a == 0).any() and torch.equal(m, mask)
    with pytest.raises(ConfigError):
        augment_pair(img, mask, torch.Generator(), {"rotate": 3})


# -------------------------------------------------------------------------------- metrics
def test_metrics_known_masks():
    t = np.zeros((2, 4, 4), np.uint8)
    t[:, 0, :] = 1
    perfect = metrics.segmentation_metrics(t, t)
    assert all(d[k] == 1.0 for d in perfect for k in metrics.METRICS)
    half = t.copy()
    half[:, 0, 2:] = 0
    d = metrics.segmentation_metrics(half[0], t[0])[0]
    assert d["precision"] == 1.0 and d["recall"] == 0.5 and d["dice"] == pytest.approx(2 / 3) and d["iou"] == 0.5
    empty = np.zeros((4, 4), np.uint8)
    assert metrics.segmentation_metrics(empty, empty)[0] == {"precision": 1.0, "recall": 1.0, "dice": 1.0, "iou": 1.0}
    missed = metrics.segmentation_metrics(empty, t[0])[0]
    assert missed["dice"] == 0 and missed["recall"] == 0 and missed["precision"] == 1.0
    s = metrics.summarise(perfect + [missed])
    assert s["dice"]["mean"] == pytest.approx(2 / 3) and s["dice"]["std"] > 0


# ----------------------------------------------------------------------- train and reload
def test_train_checkpoint_reload_weights_only(tmp_path):
    ds = _toy_set(10)
    ck = tmp_path / "seg.pt"
    res = training.train_segmenter(ds.images[:6], ds.masks[:6], ds.images[6:], ds.masks[6:], TINY, out_path=ck,
                                  seed=0, progress=False)
    assert ck.is_file() and res.best_epoch == 1 and len(res.history) == 1 and 0 <= res.best_val_dice <= 1
    payload = torch.load(ck, weights_only=True)
    assert payload["format"] == model.CHECKPOINT_FORMAT and payload["config"]["channels"] == [4, 8]
    reloaded = model.load_segmenter(ck)
    p1, b1 = predict.predict(res.model, ds.images[6:])
    p2, b2 = predict.predict(reloaded, ds.images[6:])
    assert np.allclose(p1, p2, atol=1e-6) and b1.dtype == np.uint8 and b1.shape == (4, 32, 32)
    # same seed, same weights
    res2 = training.train_segmenter(ds.images[:6], ds.masks[:6], ds.images[6:], ds.masks[6:], TINY, seed=0,
                                   progress=False)
    assert all(torch.equal(a, b) for a, b in zip(res.model.state_dict().values(), res2.model.state_dict().values()))


def test_continue_from_weights_keeps_them_unless_an_epoch_beats_them(tmp_path):
    ds = _toy_set(10)
    ck = tmp_path / "seg.pt"
    first = training.train_segmenter(ds.images[:6], ds.masks[:6], ds.images[6:], ds.masks[6:], TINY, out_path=ck,
                                     seed=0, progress=False)
    frozen = training.train_segmenter(ds.images[:6], ds.masks[:6], ds.images[6:], ds.masks[6:], {**TINY, "lr": 0.0},
                                      seed=1, progress=False, init_from=ck, out_path=tmp_path / "again.pt")
    # lr 0: no epoch beats the starting weights (epoch 0), which come back unchanged
    assert frozen.best_epoch == 0 and frozen.best_val_dice == pytest.approx(first.best_val_dice)
    assert all(torch.equal(a, b) for a, b in zip(first.model.state_dict().values(), frozen.model.state_dict().values()))
    assert torch.load(tmp_path / "again.pt", weights_only=True)["meta"]["init_from"] == "seg.pt"


def test_bad_checkpoints(tmp_path):
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="garbage.pt"):
        model.load_segmenter(garbage)
    with pytest.raises(CheckpointError):
        model.load_segmenter(tmp_path / "missing.pt")
    other = tmp_path / "other.pt"
    net = model.build_segmenter((4, 8))
    model.save_segmenter(net, {"channels": (4, 8, 16)}, other)  # config says 3 levels, weights have 2
    with pytest.raises(CheckpointError, match="do not fit"):
        model.load_segmenter(other)
    foreign = tmp_path / "foreign.pt"
    torch.save({"state_dict": net.state_dict()}, foreign)
    with pytest.raises(CheckpointError, match="not an msknb"):
        model.load_segmenter(foreign)


# --------------------------------------------------------------------------- split, grid
def test_split_has_no_near_copies_across_train_test():
    ds = _toy_set(20, dup_every=2)  # every second image is a near copy of the one before
    assert len(set(ds.subjects)) < len(ds)
    sp = experiments.make_split(ds, seed=0)
    assert sp["near_copies_test_in_train"] == 0 and sp["near_copies_val_in_train"] == 0
    assert sum(sp["sizes"].values()) == len(ds)
    sub = experiments.fraction_subset(sp["train"], ds.subjects, 0.5, seed=0)
    assert 0 < len(sub) < len(sp["train"]) and set(sub) <= set(sp["train"])


def test_parse_experiments():
    assert experiments.parse_experiment("50%+Gen") == {"name": "50%+Gen", "fraction": 0.5, "gen": True}
    assert experiments.parse_experiment("Gen")["fraction"] == 0.0
    assert artifacts.experiment_dir_name("10%+Gen") == "10pct+Gen"
    with pytest.raises(ConfigError):
        experiments.parse_experiment("Fake")
    assert experiments.experiment_list('["Real", "10%+Gen"]') == ["Real", "10%+Gen"]  # as papermill -p passes it
    assert experiments.experiment_list("Real, Gen") == ["Real", "Gen"]
    assert experiments.experiment_list(None, default=("Real",)) == ["Real"]
    with pytest.raises(ConfigError):
        experiments.experiment_list("Real,200%")


def test_grid_without_and_with_synthetic_set(tmp_path):
    real = _toy_set(15, seed=1)
    cfg = dict(TINY, min_samples_per_epoch=8)
    r = experiments.run_experiment_grid(real, None, ("Real", "Gen", "50%+Gen", "50%"), cfg, tmp_path / "a",
                                    seed=0, progress=False)
    assert set(r["experiments"]) == {"Real", "50%"} and set(r["skipped"]) == {"Gen", "50%+Gen"}
    assert r["synthetic_mask_source"] is None and r["near_copies_test_in_train"] == 0
    real_row = r["experiments"]["Real"]
    assert {"precision", "recall", "dice", "iou"} <= set(real_row) and set(real_row["dice"]) == {"mean", "std"}
    assert real_row["n_test"] == r["split"]["test"] and r["experiments"]["50%"]["n_train_real"] < real_row["n_train_real"]
    seg = tmp_path / "a" / "segmentation"
    split = json.loads((seg / "split.json").read_text())
    assert not set(split["train"]) & set(split["test"])
    preds = sorted(p.stem for p in (seg / "50pct" / "pred_masks").glob("*.png"))
    assert preds == sorted(r["test_ids"])
    assert set(np.unique(artifacts.read_predictions(tmp_path / "a", "Real", r["test_ids"]))) <= {0, 1}
    model.load_segmenter(seg / "Real" / "model.pt")
    json.dumps(r)  # JSON-friendly

    # with a synthetic set that has masks (joint generation) ...
    syn = _toy_set(6, seed=7)
    r2 = experiments.run_experiment_grid(real, syn, ("Gen", "Real+Gen"), cfg, tmp_path / "b", seed=0, progress=False)
    assert r2["synthetic_mask_source"] == "joint generation"
    assert r2["experiments"]["Gen"]["n_train_real"] == 0 and r2["experiments"]["Gen"]["n_train_gen"] == 6
    assert r2["experiments"]["Real+Gen"]["n_train_gen"] == 6
    # ... and one without masks: pseudo-labels from the Real model, trained first
    syn.masks = None
    r3 = experiments.run_experiment_grid(real, syn, ("Gen",), cfg, None, seed=0, progress=False)
    assert r3["synthetic_mask_source"] == "pseudo-labels from Real model"
    assert list(r3["experiments"]) == ["Real", "Gen"] and r3["notes"]


def test_quick_profile_is_a_valid_config():
    cfg = model.full_config(settings("segment", "quick"))
    assert cfg["image_size"] % 2 ** len(cfg["strides"]) == 0
    for name in cfg["grid"]:
        experiments.parse_experiment(name)
    for profile in ("smoke", "quick", "paper"):  # notebook 05 prints it
        assert "samples_per_epoch" in settings("segment", profile)


def test_predict_runs_without_autograd_and_training_goes_on_after_it():
    net = model.build_segmenter((4, 8))
    x = np.random.default_rng(0).random((3, 32, 32)).astype(np.float32)
    prob, mask = predict.predict(net, x)
    assert prob.shape == mask.shape == (3, 32, 32) and set(np.unique(mask)) <= {0, 1}
    assert net.training and all(p.requires_grad for p in net.parameters())  # mode restored
    with torch.no_grad():
        ref = torch.sigmoid(net.eval()(model.model_input(x)))[:, 0].numpy()
    np.testing.assert_allclose(prob, ref, atol=1e-6)
    net.train()
    loss = net(model.model_input(x)).mean()  # a training step after predict still has gradients
    loss.backward()
    assert all(p.grad is not None for p in net.parameters() if p.requires_grad)


# ------------------------------------------------------------------------------------ CLI
def test_cli_predict_writes_masks_and_names_bad_image(tmp_path, capsys):
    from msknb.cli import main

    ds = _toy_set(6)
    ck = tmp_path / "m.pt"
    cfg = dict(TINY, crop_fov=False)
    training.train_segmenter(ds.images[:4], ds.masks[:4], ds.images[4:], ds.masks[4:], cfg, out_path=ck,
                            progress=False)
    imgs = tmp_path / "imgs"
    _write_png(imgs / "a.png", (ds.images[0] * 255).astype(np.uint8))
    _write_png(imgs / "b.png", np.zeros((40, 52), np.uint8))  # another size: mask comes back at 40 x 52
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG garbage")
    out = tmp_path / "masks"
    assert main(["segment", "predict", "--model", str(ck), str(imgs), "--out", str(out)]) == 0
    from PIL import Image

    assert sorted(p.name for p in out.iterdir()) == ["a.png", "b.png"]
    mb = np.asarray(Image.open(out / "b.png"))
    assert mb.shape == (40, 52) and set(np.unique(mb)) <= {0, 255}
    (out / "a.png").unlink()
    status = main(["segment", "predict", "--model", str(ck), str(imgs / "a.png"), str(bad), "--out", str(out)])
    err = capsys.readouterr().err
    assert status != 0 and "broken.png" in err
    assert (out / "a.png").is_file() and not (out / "broken.png").exists()
    assert not any(p.name.endswith(".tmp") for p in out.iterdir())


PHANTOMS = Path(__file__).resolve().parent.parent / "data_samples" / "phantoms"


def test_all_data_split_uses_the_kit_val_ids_and_leaves_out_its_test_ids(tmp_path, monkeypatch):
    from msknb.data import kit_split as kit_split_module
    from msknb.segmentation import shipped

    ds = _toy_set(12)
    kit = tmp_path / "split.json"
    kit.write_text(json.dumps({"train": ds.ids[:8], "val": ds.ids[8:10], "test": ds.ids[10:]}))
    monkeypatch.setattr(kit_split_module, "KIT_SPLIT_FILE", kit)
    sp = shipped.all_data_split(ds)
    assert sp["source"] == "kit split"
    assert sp["val"].tolist() == [8, 9] and sp["excluded"].tolist() == [10, 11]
    assert sp["train"].tolist() == list(range(8))
    # data that is not the DL_Track set: a grouped 90/10 split of all of it, nothing left out
    kit.write_text(json.dumps({"train": ["x"], "val": ["y"], "test": ["z"]}))
    sp = shipped.all_data_split(ds)
    assert sp["source"] == "grouped 90/10" and len(sp["excluded"]) == 0
    assert sorted(sp["train"].tolist() + sp["val"].tolist()) == list(range(12)) and len(sp["val"]) >= 1
    subjects = np.asarray(ds.subjects)
    assert not set(subjects[sp["train"]]) & set(subjects[sp["val"]])


@pytest.mark.timeout(300)
def test_cli_train_uses_all_data_by_default_and_the_paper_split_on_request(tmp_path, capsys):
    from msknb.cli import main

    args = ["segment", "train", "--data", str(PHANTOMS), "--profile", "smoke", "--image-size", "32",
            "--epochs", "1"]
    assert main(args + ["--out", str(tmp_path / "all.pt")]) == 0
    out = capsys.readouterr().out
    assert "all data (grouped 90/10" in out and (tmp_path / "all.pt").is_file()
    n_train, n_val, n_test = map(int, out.split("train/val/test ")[1].split(";")[0].split("/"))
    assert n_test == 0 and n_train > 3 * n_val > 0
    n_all = n_train + n_val
    assert main(args + ["--paper-split", "--out", str(tmp_path / "paper.pt")]) == 0
    out = capsys.readouterr().out
    assert "paper split 40/20/40" in out
    n_train, n_val, n_test = map(int, out.split("train/val/test ")[1].split(";")[0].split("/"))
    assert n_test > 0 and n_train + n_val + n_test == n_all and n_train < 0.6 * n_all


def test_cli_train_help_says_what_it_trains_on(capsys):
    from msknb.cli import main

    with pytest.raises(SystemExit):
        main(["segment", "train", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "test ids are left out of training" in text and "--paper-split" in text
